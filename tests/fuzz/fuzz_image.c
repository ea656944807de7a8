/* fuzz_image.c - libFuzzer harness: the image decoders (libjpeg-turbo for
 * JPEG with the EXIF orientation, stb_image for PNG, BMP, GIF, TGA, PSD,
 * HDR, PIC, PNM) through y5_image_load_mem, as detect and val call them.
 * Any input must decode or fail with a one-line message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int w, h;
    (void)y5_image_info_mem(data, size, &w, &h);
    (void)y5_jpeg_exif_orientation(data, size);
    y5_image img;
    char err[1024] = "";
    if (y5_image_load_mem(data, size, "fuzz", &img, err, sizeof err) == 0) {
        /* touch the first and last pixel: the buffer is as large as claimed */
        volatile uint8_t s = img.px[0];
        s ^= img.px[(size_t)img.w * img.h * 3 - 1];
        (void)s;
        y5_image_free(&img);
    } else if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "empty or multi-line message: '%s'\n", err);
        abort();
    }
    return 0;
}
