/* resize_area.h - cv2.resize(..., INTER_AREA) for shrinking RGB u8 images.
 *
 * val.py's dataloader (load_image) shrinks every image whose long side is
 * over --imgsz with INTER_AREA before the letterbox, so val needs it to see
 * the pixels val.py sees; detect.py never uses it (its letterbox is
 * INTER_LINEAR, letterbox.h). */
#ifndef Y5_RESIZE_AREA_H
#define Y5_RESIZE_AREA_H

#include <stdint.h>

/* src: sw x sh x 3, dst: dw x dh x 3 (dw <= sw, dh <= sh), both packed.
 * Integer factors average their blocks with rounding; other
 * factors weigh each source pixel by its overlap with the destination cell
 * in double: close to, not bit-exact with, OpenCV. Returns 0, or -1 when
 * out of memory (dst untouched). */
int y5_resize_area_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);

#endif
