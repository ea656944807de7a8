/* jpeg_scale_bench.c - how much a scaled JPEG decode (libjpeg-turbo's
 * scale_num / scale_denom: the IDCT outputs 1/2, 1/4 or 1/8 of the pixels)
 * would save on a giant image, the first half of issue 10's optional
 * `--jpeg-scale auto` (not built into detect: it changes pixels, so its
 * effect on detections needs measuring first).
 *
 * build: cc -O3 bench/jpeg_scale_bench.c -ljpeg -o build/jpeg_scale_bench
 * usage: build/jpeg_scale_bench IMAGE.jpg [REPEATS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jpeglib.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: jpeg_scale_bench IMAGE.jpg [REPEATS]\n"); return 2; }
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    printf("| scale | output | best of %d, s |\n| --- | --- | --- |\n", reps);
    for (int d = 1; d <= 8; d *= 2) {
        double best = 1e9;
        unsigned ow = 0, oh = 0;
        for (int r = 0; r < reps; r++) {
            struct jpeg_decompress_struct ci;
            struct jpeg_error_mgr jerr;
            ci.err = jpeg_std_error(&jerr);
            jpeg_create_decompress(&ci);
            jpeg_mem_src(&ci, b, (unsigned long)n);
            jpeg_read_header(&ci, TRUE);
            ci.out_color_space = JCS_RGB;
            ci.dct_method = JDCT_ISLOW; /* as image.c (cv2's settings) */
            ci.do_fancy_upsampling = TRUE;
            ci.scale_num = 1;
            ci.scale_denom = (unsigned)d;
            double t0 = now();
            jpeg_start_decompress(&ci);
            ow = ci.output_width;
            oh = ci.output_height;
            unsigned char *px = malloc((size_t)ow * oh * 3);
            while (ci.output_scanline < oh) {
                JSAMPROW row = px + (size_t)ci.output_scanline * ow * 3;
                jpeg_read_scanlines(&ci, &row, 1);
            }
            jpeg_finish_decompress(&ci);
            double t = now() - t0;
            if (t < best) best = t;
            free(px);
            jpeg_destroy_decompress(&ci);
        }
        printf("| 1/%d | %ux%u | %.3f |\n", d, ow, oh, best);
    }
    free(b);
    return 0;
}
