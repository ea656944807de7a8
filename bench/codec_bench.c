/* codec_bench.c - what one image costs each CPU stage of `detect`, on one
 * core, uncontended (best of 10 per step): the decode worker's read +
 * decode + letterbox, and the writer's draw + encode + write. detect's own
 * stage table shows these same steps under load (wall and thread CPU time);
 * this is the floor they approach, and the ratio that decides how detect
 * splits the cores between decode workers and writers (cli_detect.c).
 *
 *   make bench-tools
 *   build/codec_bench [--imgsz N] [--dets N] IMAGE.jpg...
 *
 * --imgsz: the letterbox target's longer side (default 1920: the experiment's
 * frames need no resize, only the pad to 1088); --dets: boxes drawn before
 * the encode (default 80, about what yolov5m-synth finds on these frames).
 * The encoded image goes to /dev/shm (or /tmp), replaced each time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/image/draw.h"
#include "core/image/image.h"
#include "core/image/letterbox.h"
#include "core/post/nms.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define REPS 10

/* Pseudo-random boxes with labels over a w x h image (deterministic). */
static void make_dets(y5_det *d, int n, int w, int h) {
    unsigned r = 7;
    for (int i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        const float x = (float)((r >> 8) % (unsigned)(w - 120)), y = (float)((r >> 4) % (unsigned)(h - 80));
        r = r * 1103515245u + 12345u;
        const float bw = 20.0f + (float)((r >> 9) % 300u), bh = 20.0f + (float)((r >> 5) % 200u);
        d[i].x1 = x;
        d[i].y1 = y;
        d[i].x2 = x + bw < (float)w ? x + bw : (float)w - 1;
        d[i].y2 = y + bh < (float)h ? y + bh : (float)h - 1;
        d[i].conf = 0.3f + (float)(i % 60) / 100.0f;
        d[i].cls = i % 80;
    }
}

int main(int argc, char **argv) {
    int imgsz = 1920, ndets = 80, first = 1;
    while (first + 1 < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "--imgsz")) imgsz = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--dets")) ndets = atoi(argv[first + 1]);
        else break;
        first += 2;
    }
    if (first >= argc || imgsz < 32 || ndets < 0 || ndets > 1000) {
        fprintf(stderr, "usage: codec_bench [--imgsz N] [--dets N] IMAGE.jpg...\n");
        return 2;
    }
    const char *out = fopen("/dev/shm/.y5probe", "w") ? "/dev/shm/codec_bench.jpg" : "/tmp/codec_bench.jpg";
    remove("/dev/shm/.y5probe");
    static char names[80][64];
    for (int i = 0; i < 80; i++) snprintf(names[i], sizeof names[i], "class%d", i);
    y5_det *dets = malloc(sizeof(y5_det) * (size_t)(ndets > 0 ? ndets : 1));
    if (!dets) return 1;
    printf("| image | size | read + decode ms | letterbox ms | decode worker ms | draw %d ms | encode + write ms | "
           "writer ms | writer / decode |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
           ndets);
    for (int a = first; a < argc; a++) {
        char err[512];
        y5_image im;
        if (y5_image_load(argv[a], &im, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        y5_letterbox_geom g;
        y5_letterbox_plan(im.w, im.h, imgsz, imgsz, 1, 32, &g);
        const size_t lb_bytes = (size_t)g.out_w * g.out_h * 3;
        uint8_t *lb = malloc(lb_bytes);
        void *scratch = malloc(y5_letterbox_scratch(&g) + 1);
        y5_image drawn = {im.w, im.h, malloc((size_t)im.w * im.h * 3)};
        if (!lb || !scratch || !drawn.px) return 1;
        make_dets(dets, ndets, im.w, im.h);
        double dec = 1e9, let = 1e9, draw = 1e9, enc = 1e9;
        for (int r = 0; r < REPS; r++) {
            y5_image t;
            double t0 = now();
            if (y5_image_load(argv[a], &t, err, sizeof err)) return 1;
            const double t1 = now();
            y5_letterbox_u8(&t, &g, lb, scratch);
            const double t2 = now();
            y5_image_free(&t);
            memcpy(drawn.px, im.px, (size_t)im.w * im.h * 3);
            const double t3 = now();
            y5_draw_detections(&drawn, dets, ndets, (const char(*)[64])names, 80);
            const double t4 = now();
            if (y5_image_write(out, &drawn, err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            const double t5 = now();
            dec = t1 - t0 < dec ? t1 - t0 : dec;
            let = t2 - t1 < let ? t2 - t1 : let;
            draw = t4 - t3 < draw ? t4 - t3 : draw;
            enc = t5 - t4 < enc ? t5 - t4 : enc;
        }
        const double wd = (dec + let) * 1e3, ww = (draw + enc) * 1e3;
        printf("| %s | %dx%d -> %dx%d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", argv[a], im.w, im.h,
               g.out_w, g.out_h, dec * 1e3, let * 1e3, wd, draw * 1e3, enc * 1e3, ww, ww / wd);
        free(lb);
        free(scratch);
        free(drawn.px);
        y5_image_free(&im);
    }
    remove(out);
    free(dets);
    return 0;
}
