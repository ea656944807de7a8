/* test_tiles.c - giant-image support on small synthetic inputs: the tile
 * grid and the merge NMS (in process), --tile end to end (a tile the size of
 * the image changes nothing; an object in the second tile comes back at its
 * place in the image), --max-memory (a budget smaller than any image still
 * runs every image, alone, with the same outputs, batched or not), and the
 * options' messages. imgsz 320 and images of at most 1280x640, so the file
 * runs in seconds (no giant image here: bench/giant.sh measures those). */
#include "tests/t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/tiles.h"
#include "core/image/image.h"
#include "core/post/nms.h"

static int detect(const char *args, char **log) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --imgsz 320 --threads 2 %s", t_bin(), t_model_y5w("yolov5n"), args);
    return t_run(cmd, log);
}

/* The boxes of detections.jsonl's first line: class and x1 y1 x2 y2 each. */
static int read_boxes(const char *jsonl, int *cls, float (*box)[4], int cap) {
    size_t len;
    char *s = t_read_file(jsonl, &len);
    if (!s) return -1;
    int n = 0;
    for (char *p = s; (p = strstr(p, "\"class\": ")) && n < cap; p++) {
        cls[n] = atoi(p + 9);
        char *b = strstr(p, "\"box\": [");
        if (!b || sscanf(b + 8, "%f, %f, %f, %f", &box[n][0], &box[n][1], &box[n][2], &box[n][3]) != 4) break;
        n++;
    }
    free(s);
    return n;
}

T_TEST(tiles_grid) {
    int o[64];
    T_CHECK(y5_tile_origins(640, 640, 0.2, o) == 1 && o[0] == 0, "a side equal to the tile: one tile");
    T_CHECK(y5_tile_origins(300, 640, 0.2, o) == 1 && o[0] == 0, "a shorter side: one tile");
    T_CHECK(y5_tile_origins(1280, 640, 0, o) == 2 && o[0] == 0 && o[1] == 640, "1280 / 640, no overlap: %d %d", o[0], o[1]);
    T_CHECK(y5_tile_origins(1000, 640, 0.2, o) == 2 && o[0] == 0 && o[1] == 360, "1000 / 640: %d %d", o[0], o[1]);
    int n = y5_tile_origins(13400, 640, 0.2, NULL);
    T_REQUIRE(n > 0 && n <= 64 && y5_tile_origins(13400, 640, 0.2, o) == n, "13400: %d", n);
    T_CHECK(n == 26 && o[0] == 0 && o[n - 1] == 13400 - 640, "13400 / 640 at 0.2: %d tiles, last at %d", n, o[n - 1]);
    for (int k = 1; k < n; k++) T_CHECK(o[k] - o[k - 1] <= 512, "step %d > 512 (overlap under 0.2)", o[k] - o[k - 1]);
}

T_TEST(tiles_merge_nms) {
    y5_det d[] = {
        {100, 100, 200, 200, 0.5f, 0},    /* overlapped by a better box of its class: dropped */
        {102, 101, 201, 203, 0.9f, 0},    /* the best */
        {100, 100, 200, 200, 0.8f, 1},    /* another class: kept */
        {9000, 100, 9100, 200, 0.7f, 0},  /* far right of a wide image (beyond y5_nms's 7680 class offset) */
        {9000, 100, 9100, 200, 0.6f, 2},  /* same place, another class: kept */
    };
    y5_det a[5];
    memcpy(a, d, sizeof d);
    int n = y5_nms_merge(a, NULL, 5, 0.45f, 0.5f, 0, 1000);
    T_CHECK(n == 4 && a[0].conf == 0.9f && a[1].conf == 0.8f && a[2].conf == 0.7f && a[3].conf == 0.6f,
            "class-aware: %d kept", n);
    memcpy(a, d, sizeof d);
    n = y5_nms_merge(a, NULL, 5, 0.45f, 0.5f, 1, 1000);
    T_CHECK(n == 2 && a[0].conf == 0.9f && a[1].conf == 0.7f, "agnostic: %d kept", n);
    memcpy(a, d, sizeof d);
    T_CHECK(y5_nms_merge(a, NULL, 5, 0.45f, 0.5f, 0, 2) == 2 && a[1].conf == 0.8f, "max_det");
}

/* Fragments (boxes on an inner tile side) merge with the box of their
 * whole object, by intersection over the smaller box, only when that box
 * continues past the fragment's cut side; whole boxes never merge so. */
T_TEST(tiles_merge_fragments) {
    const y5_det W = {100, 100, 400, 200, 0.9f, 0}; /* an object seen whole (a neighbouring tile) */
    y5_det a[3];
    unsigned char cut[3];
    /* its fragment, cut on the right by a tile side at x 300: merged away */
    a[0] = W;
    a[1] = (y5_det){100, 100, 300, 200, 0.6f, 0};
    cut[0] = 0, cut[1] = Y5_CUT_RIGHT;
    int n = y5_nms_merge(a, cut, 2, 0.45f, 0.5f, 0, 100);
    T_CHECK(n == 1 && a[0].x1 == 100 && a[0].x2 == 400, "whole + fragment: %d boxes, first %g..%g", n, a[0].x1, a[0].x2);
    /* without the flag (or with IoS below the threshold) both stay: IoU 0.67 > 0.45 would drop it anyway, so
     * use a thinner fragment: IoU 0.33 */
    a[0] = W;
    a[1] = (y5_det){300, 100, 400, 200, 0.6f, 0};
    cut[0] = 0, cut[1] = 0;
    T_CHECK(y5_nms_merge(a, cut, 2, 0.45f, 0.5f, 0, 100) == 2, "two whole boxes (a crowd) never merge by IoS");
    a[0] = W;
    a[1] = (y5_det){300, 100, 400, 200, 0.6f, 0};
    cut[0] = 0, cut[1] = Y5_CUT_LEFT; /* cut at x 300, W continues to its left */
    T_CHECK(y5_nms_merge(a, cut, 2, 0.45f, 0.5f, 0, 100) == 1, "a fragment inside its whole box merges");
    /* a neighbour: the fragment is cut on the right at 300, the whole box
     * beside it ends at 290 (IoS 0.8, IoU 0.4): different objects */
    a[0] = (y5_det){200, 100, 290, 200, 0.9f, 0};
    a[1] = (y5_det){250, 100, 300, 200, 0.6f, 0};
    cut[0] = 0, cut[1] = Y5_CUT_RIGHT;
    T_CHECK(y5_ios(&a[0], &a[1]) > 0.79f && y5_iou(&a[0], &a[1]) < 0.45f, "the neighbour case's geometry");
    T_CHECK(y5_nms_merge(a, cut, 2, 0.45f, 0.5f, 0, 100) == 2, "a neighbour that does not continue the cut");
    /* two halves of one object from two tiles overlapping by 128 px
     * (172..300): their union, no longer cut; another class stays */
    a[0] = (y5_det){100, 100, 300, 200, 0.8f, 0};
    a[1] = (y5_det){172, 100, 420, 200, 0.7f, 0};
    a[2] = (y5_det){172, 100, 420, 200, 0.5f, 3};
    cut[0] = Y5_CUT_RIGHT, cut[1] = Y5_CUT_LEFT, cut[2] = Y5_CUT_LEFT;
    n = y5_nms_merge(a, cut, 3, 0.45f, 0.5f, 0, 100);
    T_CHECK(n == 2 && a[0].x1 == 100 && a[0].x2 == 420 && a[0].conf == 0.8f && a[1].cls == 3,
            "two halves: %d boxes, first %g..%g conf %g", n, a[0].x1, a[0].x2, a[0].conf);
    /* a duplicate (IoU 0.77 with its own object's box) never grows a
     * neighbour it also overlaps by IoS: suppression comes first */
    a[0] = (y5_det){170, 110, 450, 260, 0.9f, 0};
    a[1] = (y5_det){100, 100, 360, 200, 0.8f, 0};
    a[2] = (y5_det){100, 100, 300, 200, 0.7f, 0};
    cut[0] = 0, cut[1] = 0, cut[2] = Y5_CUT_RIGHT;
    n = y5_nms_merge(a, cut, 3, 0.45f, 0.5f, 0, 100);
    T_CHECK(n == 2 && a[0].x1 == 170 && a[0].y1 == 110 && a[1].x1 == 100 && a[1].x2 == 360,
            "duplicate + neighbour: %d boxes, first %g,%g..%g", n, a[0].x1, a[0].y1, a[0].x2);
    /* y5_ios: over the smaller box; 0 apart */
    const y5_det p = {0, 0, 10, 10, 1, 0}, q = {5, 0, 25, 10, 1, 0}, r = {20, 20, 30, 30, 1, 0};
    T_CHECK(y5_ios(&p, &q) == 0.5f && y5_ios(&q, &p) == 0.5f && y5_ios(&p, &r) == 0.0f, "ios %g %g", y5_ios(&p, &q),
            y5_ios(&p, &r));
}

/* Which sides of a tile cut a box: only sides inside the image, within eps. */
T_TEST(tiles_cut_sides) {
    const float eps = 2.0f;
    const float all[4] = {0, 1, 640, 639}, mid[4] = {50, 50, 600, 600}, near[4] = {1.5f, 3, 638.5f, 600};
    /* a tile in the middle of a 2000 x 2000 image: every side is inside */
    T_CHECK(y5_tile_cut_sides(all, 512, 512, 640, 640, 2000, 2000, eps) == 15u, "middle tile, edge box");
    T_CHECK(y5_tile_cut_sides(mid, 512, 512, 640, 640, 2000, 2000, eps) == 0u, "middle tile, inner box");
    T_CHECK(y5_tile_cut_sides(near, 512, 512, 640, 640, 2000, 2000, eps) == (Y5_CUT_LEFT | Y5_CUT_RIGHT),
            "within eps of left and right only: %u", y5_tile_cut_sides(near, 512, 512, 640, 640, 2000, 2000, eps));
    /* the top-left tile: its left and top sides are the image's */
    T_CHECK(y5_tile_cut_sides(all, 0, 0, 640, 640, 2000, 2000, eps) == (Y5_CUT_RIGHT | Y5_CUT_BOTTOM), "top-left tile");
    /* the bottom-right tile (origin W - T, H - T): only left and top */
    T_CHECK(y5_tile_cut_sides(all, 1360, 1360, 640, 640, 2000, 2000, eps) == (Y5_CUT_LEFT | Y5_CUT_TOP),
            "bottom-right tile");
    /* a side shorter than the tile (one tile across): never cut there */
    T_CHECK(y5_tile_cut_sides(all, 0, 512, 500, 640, 500, 2000, eps) == (Y5_CUT_TOP | Y5_CUT_BOTTOM), "narrow image");
}

T_TEST(tiles_option_errors) {
    T_NEED_SHARED();
    T_REQUIRE(t_model_y5w("yolov5n"), "conversion failed");
    struct { const char *args, *expect; } cases[] = {
        {"--tile 8", "--tile: '8' is not an integer in [32, 16384]"},
        {"--tile 640 --tile-overlap 0.95", "--tile-overlap: '0.95' is not a number in [0, 0.9]"},
        {"--tile 640 --tile-overlap x", "--tile-overlap"},
        {"--tile-overlap 0.3", "--tile-overlap needs --tile SIZE"},
        {"--no-tile-full", "--no-tile-full needs --tile SIZE"},
        {"--max-memory 2X", "--max-memory: '2X' is not a size like 2G, 512M or 0"},
        {"--max-memory -1G", "--max-memory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args, "--source %s --out %s/o %s", t_shared_path("images/zidane.jpg"), t_tmpdir(),
                 cases[i].args);
        char *log = NULL;
        int rc = detect(args, &log);
        T_CHECK(rc == 2 && log && strstr(log, cases[i].expect), "'%s': exit %d, want 2 and '%s': %s", cases[i].args, rc,
                cases[i].expect, log ? log : "");
        free(log);
    }
}

/* in/crop.png: 640x640 of bus.jpg; in/wide.png: 1280x640, grey 114 on the
 * left, the same crop on the right. */
static int make_tile_inputs(const char *d) {
    y5_image bus, crop = {640, 640, NULL}, wide = {1280, 640, NULL};
    char err[512], p[1024];
    if (y5_image_load(t_shared_path("images/bus.jpg"), &bus, err, sizeof err)) return -1;
    crop.px = malloc(640 * 640 * 3);
    wide.px = malloc(1280 * 640 * 3);
    int rc = -1;
    if (crop.px && wide.px && !t_sh("mkdir -p '%s/in' '%s/one'", d, d)) {
        memset(wide.px, 114, 1280 * 640 * 3);
        for (int y = 0; y < 640; y++) {
            memcpy(crop.px + (size_t)y * 640 * 3, bus.px + ((size_t)(y + 200) * bus.w + 100) * 3, 640 * 3);
            memcpy(wide.px + ((size_t)y * 1280 + 640) * 3, crop.px + (size_t)y * 640 * 3, 640 * 3);
        }
        snprintf(p, sizeof p, "%s/one/crop.png", d);
        rc = y5_image_write(p, &crop, err, sizeof err);
        snprintf(p, sizeof p, "%s/in/wide.png", d);
        rc |= y5_image_write(p, &wide, err, sizeof err);
    }
    free(crop.px);
    free(wide.px);
    y5_image_free(&bus);
    return rc;
}

T_TEST(tiles_map_back_to_image_coordinates) {
    T_NEED_SHARED();
    T_REQUIRE(t_model_y5w("yolov5n"), "conversion failed");
    const char *d = t_tmpdir();
    T_REQUIRE(make_tile_inputs(d) == 0, "could not make the inputs");
    char args[4096], *log = NULL, p[1200];
    /* a tile the size of the image: one tile, the untiled result exactly */
    snprintf(args, sizeof args, "--source %s/one --out %s/plain", d, d);
    T_REQUIRE(detect(args, &log) == 0, "untiled crop: %s", log ? log : "");
    free(log);
    snprintf(args, sizeof args, "--source %s/one --out %s/same --tile 640", d, d);
    T_REQUIRE(detect(args, &log) == 0, "--tile 640 on a 640x640 image: %s", log ? log : "");
    free(log);
    int same = t_sh("cmp -s %s/plain/detections.jsonl %s/same/detections.jsonl && diff -r %s/plain/labels "
                  "%s/same/labels >/dev/null && cmp -s %s/plain/crop.png %s/same/crop.png", d, d, d, d, d, d) == 0;
    T_CHECK(same, "--tile equal to the image changed the outputs");

    /* 1280x640 in two 640 tiles without overlap or full pass: the right
     * tile is the crop, so its boxes come back moved by 640 in x */
    snprintf(args, sizeof args, "--source %s/in --out %s/tiled --tile 640 --tile-overlap 0 --no-tile-full --batch 2", d, d);
    T_REQUIRE(detect(args, &log) == 0, "tiled run: %s", log ? log : "");
    free(log);
    int ca[64], cb[64];
    float ba[64][4], bb[64][4];
    snprintf(p, sizeof p, "%s/plain/detections.jsonl", d);
    int na = read_boxes(p, ca, ba, 64);
    snprintf(p, sizeof p, "%s/tiled/detections.jsonl", d);
    int nb = read_boxes(p, cb, bb, 64);
    T_REQUIRE(na > 0, "no detections in the crop");
    T_CHECK(nb == na, "%d boxes tiled, %d in the crop alone", nb, na);
    for (int i = 0; i < na && i < nb; i++)
        T_CHECK(ca[i] == cb[i] && bb[i][0] - ba[i][0] > 639.99f && bb[i][0] - ba[i][0] < 640.01f &&
                    bb[i][2] - ba[i][2] > 639.99f && bb[i][2] - ba[i][2] < 640.01f && bb[i][1] == ba[i][1] &&
                    bb[i][3] == ba[i][3],
                "box %d: class %d [%g %g %g %g], want class %d [%g+640 %g %g+640 %g]", i, cb[i], bb[i][0], bb[i][1],
                bb[i][2], bb[i][3], ca[i], ba[i][0], ba[i][1], ba[i][2], ba[i][3]);
    snprintf(p, sizeof p, "%s/tiled/wide.png", d);
    y5_image out;
    char err[512];
    T_CHECK(y5_image_load(p, &out, err, sizeof err) == 0 && out.w == 1280 && out.h == 640, "annotated image: %s", err);
    y5_image_free(&out);
    /* with the full-image pass (the default) every tile box is still there */
    snprintf(args, sizeof args, "--source %s/in --out %s/full --tile 640 --tile-overlap 0.25 --no-save", d, d);
    T_REQUIRE(detect(args, &log) == 0, "tiled + full run: %s", log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/full/detections.jsonl", d);
    T_CHECK(read_boxes(p, cb, bb, 64) >= na, "fewer boxes with the full pass");
}

T_TEST(tiles_max_memory_below_one_image) {
    T_NEED_SHARED();
    T_REQUIRE(t_model_y5w("yolov5n"), "conversion failed");
    const char *d = t_tmpdir();
    int made = t_sh("mkdir -p '%s/in' && cp '%s' '%s' '%s' '%s/in/'", d, t_shared_path("images/bus.jpg"),
                  t_shared_path("images/zidane.jpg"), t_shared_path("data/coco64/images/000000000009.jpg"), d) == 0;
    T_REQUIRE(made, "inputs");
    char args[4096], *log = NULL;
    snprintf(args, sizeof args, "--source %s/in --out %s/ref --max-memory 0", d, d);
    T_REQUIRE(detect(args, &log) == 0, "reference: %s", log ? log : "");
    free(log);
    /* 1K: every image is over the budget, so each runs alone; with --batch 2
     * and a flush that never fires, the engine must not wait for a second
     * image that waits for memory */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "Y5_PIPE_FLUSH_MS=100000 timeout 60 %s detect --weights %s --imgsz 320 --threads 2 "
             "--source %s/in --out %s/small --max-memory 1K --batch 2 --workers 2", t_bin(), t_model_y5w("yolov5n"), d, d);
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "--max-memory 1K: exit %d: %s", rc, log ? log : "");
    free(log);
    int same = t_sh("diff -r %s/ref %s/small >/dev/null", d, d) == 0;
    T_CHECK(same, "--max-memory changed the outputs");
}

/* --tile shapes the results, so --resume refuses a run with other tile
 * options (core/app/outdir.c), and an untiled folder resumed untiled still
 * works (its record has no tile lines). */
T_TEST(tiles_resume_checks_tile_options) {
    T_NEED_SHARED();
    T_REQUIRE(t_model_y5w("yolov5n"), "conversion failed");
    const char *d = t_tmpdir();
    char args[4096], *log = NULL;
    snprintf(args, sizeof args, "--source %s --out %s/o --tile 640 --no-save", t_shared_path("images/zidane.jpg"), d);
    T_REQUIRE(detect(args, &log) == 0, "tiled run: %s", log ? log : "");
    free(log);
    snprintf(args, sizeof args, "--source %s --out %s/o --no-save --resume", t_shared_path("images/zidane.jpg"), d);
    int rc = detect(args, &log);
    T_CHECK(rc == 2 && log && strstr(log, "--tile 0, but the earlier run used --tile 640"), "untiled resume: exit %d: %s",
            rc, log ? log : "");
    free(log);
    snprintf(args, sizeof args, "--source %s --out %s/o --no-save --resume --tile 640 --tile-overlap 0.5",
             t_shared_path("images/zidane.jpg"), d);
    rc = detect(args, &log);
    T_CHECK(rc == 2 && log && strstr(log, "--tile-overlap 0.5"), "other overlap: exit %d: %s", rc, log ? log : "");
    free(log);
    snprintf(args, sizeof args, "--source %s --out %s/u --no-save", t_shared_path("images/zidane.jpg"), d);
    T_REQUIRE(detect(args, &log) == 0, "untiled run: %s", log ? log : "");
    free(log);
    snprintf(args, sizeof args, "--source %s --out %s/u --no-save --resume", t_shared_path("images/zidane.jpg"), d);
    rc = detect(args, &log);
    T_CHECK(rc == 0 && log && strstr(log, "1 of 1 images already complete"), "untiled resume: exit %d: %s", rc,
            log ? log : "");
    free(log);
}
