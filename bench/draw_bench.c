/* draw_bench.c - the cost of drawing detections (boxes, label boxes, text)
 * on a 1920x1080 image: what the writers pay per annotated image, beside
 * the JPEG encode. 120 pseudo-random detections with labels, best of 30,
 * and an FNV-1a hash of the pixels so that two builds can be compared for
 * identical output.
 *
 *   make bench-tools
 *   build/draw_bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/image/draw.h"
#include "core/image/image.h"
#include "core/post/nms.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    enum { W = 1920, H = 1080, N = 120, REPS = 30 };
    y5_image img = {W, H, malloc((size_t)W * H * 3)};
    if (!img.px) return 1;
    y5_det d[N];
    unsigned r = 7;
    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        const float x = (float)((r >> 8) % 1800), y = (float)((r >> 4) % 1000);
        r = r * 1103515245u + 12345u;
        const float w = (float)(20 + (r >> 9) % 400), h = (float)(20 + (r >> 5) % 300);
        d[i].x1 = x;
        d[i].y1 = y;
        d[i].x2 = x + w;
        d[i].y2 = y + h;
        d[i].conf = 0.5f + (float)(i % 50) / 100.f;
        d[i].cls = i % 80;
    }
    static char names[80][64];
    for (int i = 0; i < 80; i++) snprintf(names[i], sizeof names[i], "class%d", i);
    double best = 1e9;
    for (int rep = 0; rep < REPS; rep++) {
        memset(img.px, 128, (size_t)W * H * 3);
        const double t = now();
        y5_draw_detections(&img, d, N, (const char(*)[64])names, 80);
        const double e = now() - t;
        if (e < best) best = e;
    }
    unsigned long h = 1469598103934665603ul;
    for (size_t i = 0; i < (size_t)W * H * 3; i++) {
        h ^= img.px[i];
        h *= 1099511628211ul;
    }
    printf("draw %d dets: best %.3f ms, hash %lx\n", N, best * 1e3, h);
    free(img.px);
    return 0;
}
