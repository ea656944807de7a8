/* image.h - decoded images (RGB u8, HWC), decode/encode through stb. */
#ifndef Y5_IMAGE_H
#define Y5_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <yolov5c.h> /* y5_image, y5_image_load/free/write */


/* Decodes any format stb_image reads into RGB. Returns 0, or -1 with
 * "PATH: problem" in err (missing, unreadable, not an image, truncated). */
int y5_image_load(const char *path, y5_image *img, char *err, size_t errlen);
int y5_image_load_mem(const uint8_t *bytes, size_t len, const char *name, y5_image *img, char *err, size_t errlen);
void y5_image_free(y5_image *img);

/* Encodes by the extension of path (.jpg/.jpeg quality 95, .png, .bmp; any
 * other extension is written as JPEG). Atomic: temp file + rename. */
int y5_image_write(const char *path, const y5_image *img, char *err, size_t errlen);

/* The EXIF orientation (1..8) of JPEG bytes, 1 when absent. y5_image_load
 * applies it as cv2.imread does (flip/transpose), so callers need not. */
int y5_jpeg_exif_orientation(const uint8_t *bytes, size_t len);

#endif
