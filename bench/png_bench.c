/* png_bench.c - PNG encoders on one image: time, size, and a decode back
 * to the same pixels (issue 10: PNG output of a 13400x9528 image).
 *
 * Candidates: stb_image_write as the project used it (level 8, all five
 * filters tried per row), yolov5c's streaming encoder (core/image/png_write.c)
 * with each filter, and Debian's libpng + zlib at levels 1 and 6 (what
 * cv2.imwrite uses: level 1 by default) with the Sub and Paeth filters.
 *
 * build (after make): cc -O3 -I. -Iinclude -I/usr/include/stb bench/png_bench.c \
 *   build/libyolov5c.a -ljpeg -lpng -lz -lm -pthread -o build/png_bench
 * usage: build/png_bench IMAGE [OUTDIR]   (writes OUTDIR/<variant>.png, default /tmp) */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image_write.h>

#include "core/base/clock.h"
#include "core/image/image.h"
#include "core/image/png_write.h"

static int file_sink(void *ctx, const void *b, size_t n) { return fwrite(b, 1, n, ctx) == n ? 0 : -1; }

static void stb_put(void *ctx, void *data, int size) { fwrite(data, 1, (size_t)size, ctx); }

static int write_libpng(const y5_image *img, const char *path, int level, int filter) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) { png_destroy_write_struct(&p, &info); fclose(f); return -1; }
    png_init_io(p, f);
    png_set_compression_level(p, level);
    png_set_filter(p, PNG_FILTER_TYPE_BASE, filter);
    png_set_IHDR(p, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    png_write_info(p, info);
    for (int y = 0; y < img->h; y++) png_write_row(p, img->px + (size_t)y * img->w * 3);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    return fclose(f);
}

static void report(const char *name, const char *path, double s, const y5_image *ref) {
    y5_image b = {0};
    char err[1024];
    double t0 = y5_now_s();
    int ok = y5_image_load(path, &b, err, sizeof err) == 0 && b.w == ref->w && b.h == ref->h &&
             !memcmp(b.px, ref->px, (size_t)ref->w * ref->h * 3);
    double td = y5_now_s() - t0;
    FILE *f = fopen(path, "rb");
    long sz = 0;
    if (f) { fseek(f, 0, SEEK_END); sz = ftell(f); fclose(f); }
    printf("| %-26s | %7.2f | %8.1f | %5.1f%% | %s (stb decode %.1f s) |\n", name, s, sz / 1048576.0,
           100.0 * sz / ((double)ref->w * ref->h * 3), ok ? "same pixels" : "DIFFERENT", td);
    fflush(stdout);
    y5_image_free(&b);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: png_bench IMAGE [OUTDIR]\n"); return 2; }
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    const char *only = getenv("PNG_BENCH_ONLY"); /* a substring of the variant names */
    y5_image img;
    char err[1024], path[4096];
    if (y5_image_load(argv[1], &img, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("%s: %dx%d (%.1f MB of RGB)\n\n", argv[1], img.w, img.h, img.w * 3.0 * img.h / 1048576.0);
    printf("| encoder | seconds | MB | of raw | decoded |\n| --- | --- | --- | --- | --- |\n");
    static const char *fname[] = {"none", "sub", "up", "avg", "paeth"};
    for (int f = 0; f <= 4; f++) {
        char name[64];
        snprintf(name, sizeof name, "yolov5c %s", fname[f]);
        if (only && !strstr(name, only)) continue;
        snprintf(path, sizeof path, "%s/y5_%s.png", dir, fname[f]);
        FILE *o = fopen(path, "wb");
        double t0 = y5_now_s();
        int rc = y5_png_write(&img, f, file_sink, o);
        fclose(o);
        if (rc) { fprintf(stderr, "y5_png_write failed\n"); return 1; }
        report(name, path, y5_now_s() - t0, &img);
    }
    static const struct { int level, filter; const char *name; } lp[] = {
        {1, PNG_FILTER_SUB, "libpng+zlib 1 sub"},     {1, PNG_FILTER_PAETH, "libpng+zlib 1 paeth"},
        {1, PNG_ALL_FILTERS, "libpng+zlib 1 adaptive"}, {6, PNG_FILTER_PAETH, "libpng+zlib 6 paeth"}};
    for (size_t k = 0; k < sizeof lp / sizeof lp[0]; k++) {
        if (only && !strstr(lp[k].name, only)) continue;
        snprintf(path, sizeof path, "%s/libpng_%zu.png", dir, k);
        double t0 = y5_now_s();
        if (write_libpng(&img, path, lp[k].level, lp[k].filter)) { fprintf(stderr, "libpng failed\n"); return 1; }
        report(lp[k].name, path, y5_now_s() - t0, &img);
    }
    if (!only || strstr("stb level 8 adaptive", only)) {
        snprintf(path, sizeof path, "%s/stb.png", dir);
        FILE *o = fopen(path, "wb");
        double t0 = y5_now_s();
        int ok = stbi_write_png_to_func(stb_put, o, img.w, img.h, 3, img.px, img.w * 3);
        fclose(o);
        if (!ok) { fprintf(stderr, "stb failed\n"); return 1; }
        report("stb level 8 adaptive", path, y5_now_s() - t0, &img);
    }
    y5_image_free(&img);
    return 0;
}
