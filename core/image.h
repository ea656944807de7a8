/* image.h - decoded images (RGB u8, HWC), decode/encode through stb. */
#ifndef Y5_IMAGE_H
#define Y5_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;       /* pixels */
    uint8_t *px;    /* h x w x 3, RGB, row-major; malloc'd */
} y5_image;

/* Decodes any format stb_image reads into RGB. Returns 0, or -1 with
 * "PATH: problem" in err (missing, unreadable, not an image, truncated). */
int y5_image_load(const char *path, y5_image *img, char *err, size_t errlen);
int y5_image_load_mem(const uint8_t *bytes, size_t len, const char *name, y5_image *img, char *err, size_t errlen);
void y5_image_free(y5_image *img);

/* Encodes by the extension of path (.jpg/.jpeg quality 95, .png, .bmp; any
 * other extension is written as JPEG). Atomic: temp file + rename. */
int y5_image_write(const char *path, const y5_image *img, char *err, size_t errlen);

#endif
