/* make_inputs.c - deterministic benchmark inputs from a folder of JPEGs.
 *
 *   make_inputs SRC_DIR OUT_DIR COUNT [WIDTHxHEIGHT]
 *
 * Takes the *.jpg files of SRC_DIR in sorted order, cycles through them
 * COUNT times, resizes each to WIDTHxHEIGHT (default 1920x1080, aspect not
 * kept: a drone-camera frame size) with the project's OpenCV-exact bilinear
 * resize, and writes OUT_DIR/img_00000.jpg ... as JPEG quality 95 with the
 * project's encoder. The same inputs give the same bytes on every run.
 * Build: cc -O2 -Iinclude bench/make_inputs.c build/libyolov5c.a -lm -pthread */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yolov5c.h>
#include "core/image/letterbox.h"

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_jpg(const char *n) {
    size_t l = strlen(n);
    return n[0] != '.' && l > 4 && (!strcmp(n + l - 4, ".jpg") || !strcmp(n + l - 4, ".JPG"));
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: make_inputs SRC_DIR OUT_DIR COUNT [WIDTHxHEIGHT]\n");
        return 2;
    }
    int count = atoi(argv[3]), W = 1920, H = 1080;
    if (argc > 4 && sscanf(argv[4], "%dx%d", &W, &H) != 2) {
        fprintf(stderr, "make_inputs: bad size %s\n", argv[4]);
        return 2;
    }
    if (count < 1 || W < 1 || H < 1 || W > 16384 || H > 16384) {
        fprintf(stderr, "make_inputs: bad count or size\n");
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 1; }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_jpg(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **q = realloc(names, sizeof(char *) * (size_t)cap);
            if (!q) return 1;
            names = q;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!n) { fprintf(stderr, "make_inputs: no .jpg in %s\n", argv[1]); return 1; }
    qsort(names, (size_t)n, sizeof(char *), cmp);
    y5_image out = {W, H, malloc((size_t)W * H * 3)};
    if (!out.px) return 1;
    char err[1024], path[8192];
    for (int i = 0; i < count; i++) {
        y5_image img;
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i % n]);
        if (y5_image_load(path, &img, err, sizeof err)) { fprintf(stderr, "make_inputs: %s\n", err); return 1; }
        y5_resize_linear_u8(img.px, img.w, img.h, out.px, W, H);
        y5_image_free(&img);
        snprintf(path, sizeof path, "%s/img_%05d.jpg", argv[2], i);
        if (y5_image_write(path, &out, err, sizeof err)) { fprintf(stderr, "make_inputs: %s\n", err); return 1; }
    }
    free(out.px);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    printf("make_inputs: %d images of %dx%d in %s\n", count, W, H, argv[2]);
    return 0;
}
