/* test_nms.c - IoU, NMS rules and scale_boxes; golden NMS on all five cases. */
#include "tests/t.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/post/nms.h"

static y5_det box(float x1, float y1, float x2, float y2) {
    y5_det d = {x1, y1, x2, y2, 0.f, 0};
    return d;
}

T_TEST(iou_edge_cases) {
    y5_det a = box(0, 0, 2, 2), b = box(1, 0, 3, 2);
    T_CHECK(fabsf(y5_iou(&a, &b) - 1.f / 3.f) < 1e-7f, "partial %g", (double)y5_iou(&a, &b));
    y5_det c = box(10, 10, 12, 12);
    T_CHECK(y5_iou(&a, &c) == 0.f, "disjoint %g", (double)y5_iou(&a, &c));
    T_CHECK(y5_iou(&a, &a) == 1.f, "identical %g", (double)y5_iou(&a, &a));
    y5_det t = box(2, 0, 4, 2); /* shares the edge x = 2 */
    T_CHECK(y5_iou(&a, &t) == 0.f, "touching %g", (double)y5_iou(&a, &t));
    y5_det corner = box(2, 2, 4, 4);
    T_CHECK(y5_iou(&a, &corner) == 0.f, "corner %g", (double)y5_iou(&a, &corner));
    y5_det z = box(1, 1, 1, 1); /* zero area inside a */
    T_CHECK(y5_iou(&a, &z) == 0.f, "zero-area vs box %g", (double)y5_iou(&a, &z));
    /* two zero-area boxes: 0 / 0, never above a threshold (torchvision keeps both) */
    float zz = y5_iou(&z, &z);
    T_CHECK(!(zz > 0.45f), "zero-area pair %g", (double)zz);
    y5_det in = box(0.5f, 0.5f, 1.5f, 1.5f); /* contained: 1 / 4 */
    T_CHECK(y5_iou(&a, &in) == 0.25f, "contained %g", (double)y5_iou(&a, &in));
    T_CHECK(y5_iou(&a, &b) == y5_iou(&b, &a), "symmetric");
}

#define NC 3
#define NO (5 + NC)

/* One prediction row from corners: cx cy w h obj cls0..2. */
static void row(float *p, float x1, float y1, float x2, float y2, float obj, float c0, float c1, float c2) {
    p[0] = (x1 + x2) / 2;
    p[1] = (y1 + y2) / 2;
    p[2] = x2 - x1;
    p[3] = y2 - y1;
    p[4] = obj;
    p[5] = c0;
    p[6] = c1;
    p[7] = c2;
}

T_TEST(nms_suppresses_strictly_above_threshold) {
    float pred[2 * NO];
    row(pred, 0, 0, 4, 4, 0.9f, 0.9f, 0, 0);       /* area 16 */
    row(pred + NO, 0, 0, 4, 8, 0.8f, 0.9f, 0, 0);  /* area 32, inter 16: IoU exactly 0.5 */
    y5_nms_opts o;
    y5_nms_defaults(&o);
    T_CHECK(o.conf_thres == 0.25f && o.iou_thres == 0.45f && o.max_det == 1000 && o.max_nms == 30000 &&
                !o.agnostic && !o.multi_label && !o.classes,
            "defaults");
    y5_nms_ws *ws = y5_nms_ws_create(2, NC, 0);
    T_REQUIRE(ws, "ws");
    y5_det out[4];
    o.iou_thres = 0.5f;
    T_CHECK(y5_nms(ws, pred, 2, NC, &o, out, 4) == 2, "IoU 0.5 is not > 0.5: both kept");
    o.iou_thres = 0.49f;
    int n = y5_nms(ws, pred, 2, NC, &o, out, 4);
    T_CHECK(n == 1 && out[0].conf == 0.9f * 0.9f, "IoU 0.5 > 0.49: one kept (n=%d)", n);
    T_CHECK(n >= 1 && out[0].x1 == 0 && out[0].y1 == 0 && out[0].x2 == 4 && out[0].y2 == 4, "box of the best");
    y5_nms_ws_destroy(ws);
}

T_TEST(nms_class_aware_vs_agnostic) {
    float pred[2 * NO];
    row(pred, 0, 0, 10, 10, 0.9f, 0.9f, 0.1f, 0);
    row(pred + NO, 1, 1, 10, 10, 0.8f, 0.1f, 0.9f, 0); /* heavy overlap, other class */
    y5_nms_opts o;
    y5_nms_defaults(&o);
    y5_det out[4];
    int n = y5_nms(NULL, pred, 2, NC, &o, out, 4); /* NULL workspace: temporary */
    T_CHECK(n == 2 && out[0].cls == 0 && out[1].cls == 1, "class-aware keeps both (n=%d)", n);
    o.agnostic = 1;
    n = y5_nms(NULL, pred, 2, NC, &o, out, 4);
    T_CHECK(n == 1 && out[0].cls == 0, "agnostic keeps one (n=%d)", n);
}

T_TEST(nms_thresholds_max_det_filter_order) {
    enum { R = 8 };
    float pred[R * NO];
    /* disjoint boxes, conf = obj * cls */
    const float obj[R] = {0.9f, 0.5f, 0.7f, 0.25f, 0.8f, 0.6f, 0.6f, 0.95f};
    const float cls[R] = {0.9f, 0.5f, 0.9f, 1.0f, 0.9f, 0.9f, 0.9f, 0.2f};
    for (int i = 0; i < R; i++) row(pred + i * NO, 20.f * i, 0, 20.f * i + 10, 10, obj[i], 0, cls[i], 0);
    /* row 2 -> class 2 instead, for the filter test */
    pred[2 * NO + 6] = 0.f;
    pred[2 * NO + 7] = 0.9f;
    y5_nms_opts o;
    y5_nms_defaults(&o);
    y5_nms_ws *ws = y5_nms_ws_create(R, NC, 0);
    y5_det out[R];
    int n = y5_nms(ws, pred, R, NC, &o, out, R);
    /* row 1: 0.25 exactly (not > 0.25); row 3: obj 0.25 (not > 0.25);
     * row 7: 0.19. Kept: 0 (.81), 4 (.72), 2 (.63), 5 (.54), 6 (.54) */
    T_CHECK(n == 5, "n=%d", n);
    const float want_x1[5] = {0, 80, 40, 100, 120};
    for (int i = 0; i < n && i < 5; i++)
        T_CHECK(out[i].x1 == want_x1[i], "order %d: x1 %g want %g (conf %g)", i, (double)out[i].x1,
                (double)want_x1[i], (double)out[i].conf);
    /* ties keep the row order (5 before 6) */
    o.max_det = 3;
    n = y5_nms(ws, pred, R, NC, &o, out, R);
    T_CHECK(n == 3 && out[2].x1 == 40, "max_det 3: n=%d", n);
    n = y5_nms(ws, pred, R, NC, &o, out, 2);
    T_CHECK(n == 2, "max_out 2: n=%d", n);
    o.max_det = 1000;
    int keep2 = 2;
    o.classes = &keep2;
    o.n_classes = 1;
    n = y5_nms(ws, pred, R, NC, &o, out, R);
    T_CHECK(n == 1 && out[0].cls == 2 && out[0].x1 == 40, "class filter: n=%d", n);
    o.classes = NULL;
    o.n_classes = 0;
    o.max_nms = 2;
    n = y5_nms(ws, pred, R, NC, &o, out, R);
    T_CHECK(n == 2 && out[0].x1 == 0 && out[1].x1 == 80, "max_nms 2: n=%d", n);
    o.max_nms = 30000;
    o.conf_thres = 0.6f;
    n = y5_nms(ws, pred, R, NC, &o, out, R);
    T_CHECK(n == 3, "conf 0.6: n=%d", n);
    y5_nms_ws_destroy(ws);
}

T_TEST(nms_multi_label) {
    float pred[2 * NO];
    row(pred, 0, 0, 10, 10, 0.9f, 0.8f, 0.5f, 0.1f);    /* classes 0 (.72) and 1 (.45) pass 0.25 */
    row(pred + NO, 50, 50, 60, 60, 0.9f, 0.2f, 0.3f, 0.6f); /* 1 (.27) and 2 (.54) */
    y5_nms_opts o;
    y5_nms_defaults(&o);
    y5_det out[8];
    int n = y5_nms(NULL, pred, 2, NC, &o, out, 8);
    T_CHECK(n == 2, "single label: n=%d", n);
    o.multi_label = 1;
    y5_nms_ws *ws = y5_nms_ws_create(1, NC, 1); /* too small on purpose: grows */
    n = y5_nms(ws, pred, 2, NC, &o, out, 8);
    T_CHECK(n == 4, "multi label: n=%d", n);
    const int want_cls[4] = {0, 2, 1, 1};
    for (int i = 0; i < n && i < 4; i++) T_CHECK(out[i].cls == want_cls[i], "det %d cls %d", i, out[i].cls);
    o.agnostic = 1; /* same box, two classes: agnostic keeps only the best */
    n = y5_nms(ws, pred, 2, NC, &o, out, 8);
    T_CHECK(n == 2, "multi label agnostic: n=%d", n);

    /* many candidates: growth beyond the initial capacity */
    enum { R = 500 };
    float *big = malloc(sizeof(float) * R * NO);
    T_REQUIRE(big, "oom");
    for (int i = 0; i < R; i++) row(big + i * NO, 20.f * (i % 25), 20.f * (i / 25), 20.f * (i % 25) + 10,
                                    20.f * (i / 25) + 10, 0.99f, 0.9f, 0.8f, 0.7f);
    o.agnostic = 0;
    o.max_det = 5000; /* 1500 candidates: the workspace (made for 1 row) grows */
    n = y5_nms(ws, big, R, NC, &o, out, 8);
    T_CHECK(n == 8, "n=%d", n);
    y5_det *all = malloc(sizeof(y5_det) * 3 * R);
    n = y5_nms(ws, big, R, NC, &o, all, 3 * R);
    T_CHECK(n == 3 * R, "all kept: n=%d", n);
    free(all);
    free(big);
    y5_nms_ws_destroy(ws);
}

T_TEST(scale_boxes_pads_and_clip) {
    /* 500x333 letterboxed into 640x448 (rect): gain 1.28, pad_y 10.88 */
    y5_det d[2] = {{0.f, 10.88f, 640.f, 437.12f, 0.5f, 0}, {-20.f, -5.f, 700.f, 500.f, 0.5f, 1}};
    y5_scale_boxes(d, 2, 448, 640, 333, 500);
    T_CHECK(fabsf(d[0].x1) < 1e-3f && fabsf(d[0].y1) < 1e-3f && fabsf(d[0].x2 - 500) < 1e-3f &&
                fabsf(d[0].y2 - 333) < 1e-3f,
            "full box -> %g %g %g %g", (double)d[0].x1, (double)d[0].y1, (double)d[0].x2, (double)d[0].y2);
    T_CHECK(d[1].x1 == 0 && d[1].y1 == 0 && d[1].x2 == 500 && d[1].y2 == 333, "clipped -> %g %g %g %g",
            (double)d[1].x1, (double)d[1].y1, (double)d[1].x2, (double)d[1].y2);
    /* odd total padding (640x427 in 640x448: 21 = 10 + 11): the computed
     * pad 10.5 is used, not the integer top 10 */
    y5_det e = {100.f, 10.5f, 200.f, 110.5f, 0.5f, 0};
    y5_scale_boxes(&e, 1, 448, 640, 427, 640);
    T_CHECK(e.y1 == 0.f && e.y2 == 100.f && e.x1 == 100.f, "odd pad -> %g %g", (double)e.y1, (double)e.y2);
}

/* ---- golden ---- */

typedef struct {
    int cls;
    double conf, b[4];
} gdet;

static int read_dets(const char *rel, gdet *g, int max) {
    char *txt = t_read_file(t_shared_path(rel), NULL);
    if (!txt) return -1;
    int n = 0;
    char *p = txt;
    while (n < max) {
        int c, used = 0;
        if (sscanf(p, "%d %lf %lf %lf %lf %lf%n", &c, &g[n].conf, &g[n].b[0], &g[n].b[1], &g[n].b[2], &g[n].b[3],
                   &used) != 6)
            break;
        g[n].cls = c;
        n++;
        p += used;
    }
    free(txt);
    return n;
}

static void golden_case(const char *name, int n_rows, int in_h, int in_w, int h0, int w0, y5_nms_ws *ws) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s_pred.f32", name);
    size_t len = 0;
    float *pred = t_read_file(t_shared_path(rel), &len);
    T_REQUIRE(pred, "cannot read %s", rel);
    T_REQUIRE(len == (size_t)n_rows * 85 * 4, "%s: %zu bytes, want %d rows", rel, len, n_rows);
    static gdet want[1000], wdet[1000];
    snprintf(rel, sizeof rel, "golden/%s_nms.txt", name);
    int nw = read_dets(rel, want, 1000);
    snprintf(rel, sizeof rel, "golden/%s_det.txt", name);
    int nd = read_dets(rel, wdet, 1000);
    T_REQUIRE(nw > 0 && nd == nw, "%s: golden counts %d / %d", name, nw, nd);
    y5_nms_opts o;
    y5_nms_defaults(&o);
    static y5_det out[1000];
    int n = y5_nms(ws, pred, n_rows, 80, &o, out, 1000);
    T_CHECK(n == nw, "%s: %d detections, golden %d", name, n, nw);
    double mc = 0, mb = 0, ms = 0;
    for (int i = 0; i < n && i < nw; i++) {
        T_CHECK(out[i].cls == want[i].cls, "%s det %d: class %d, golden %d", name, i, out[i].cls, want[i].cls);
        double dc = fabs(out[i].conf - want[i].conf);
        if (dc > mc) mc = dc;
        const float v[4] = {out[i].x1, out[i].y1, out[i].x2, out[i].y2};
        for (int k = 0; k < 4; k++) {
            double db = fabs(v[k] - want[i].b[k]);
            if (db > mb) mb = db;
        }
    }
    T_CHECK(mc <= 1e-6 && mb <= 1e-3, "%s NMS: max |dconf| %g, max |dbox| %g px", name, mc, mb);
    y5_scale_boxes(out, n, in_h, in_w, h0, w0);
    for (int i = 0; i < n && i < nd; i++) {
        const float v[4] = {out[i].x1, out[i].y1, out[i].x2, out[i].y2};
        for (int k = 0; k < 4; k++) {
            double db = fabs(v[k] - wdet[i].b[k]);
            if (db > ms) ms = db;
        }
    }
    T_CHECK(ms <= 1e-3, "%s scale_boxes: max |dbox| %g px", name, ms);
    printf("    %-26s %3d dets; conf %.1e, boxes %.1e px (nms) %.1e px (original)\n", name, n, mc, mb, ms);
    free(pred);
}

T_TEST(nms_golden_all_cases) {
    T_NEED_SHARED();
    /* one workspace for all (sized for the largest, reused) */
    y5_nms_ws *ws = y5_nms_ws_create(57960, 80, 0);
    T_REQUIRE(ws, "ws");
    for (int rep = 0; rep < 2; rep++) {
        golden_case("yolov5n_bus_640", 18900, 640, 480, 1080, 810, ws);
        golden_case("yolov5n_zidane_640", 15120, 384, 640, 720, 1280, ws);
        golden_case("yolov5n_zidane_1280", 57960, 736, 1280, 720, 1280, ws);
        golden_case("yolov5m-synth_bus_640", 18900, 640, 480, 1080, 810, ws);
        golden_case("yolov5m-synth_zidane_640", 15120, 384, 640, 720, 1280, ws);
    }
    y5_nms_ws_destroy(ws);
}
