/* test_golden_net.c - the whole network against the PyTorch reference.
 *
 * For each golden case: the reference's letterboxed input (_input.u8)
 * through our network; the raw Detect output against _pred.f32 with the
 * golden README's tolerances (yolov5n: 1e-4 on obj/cls, 0.02 px on boxes;
 * yolov5m-synth: 1e-3, 0.5 px); then our NMS + scale_boxes against _det.txt
 * (same count, same classes, conf within the obj/cls tolerance, boxes within
 * 0.05 px / 1 px; order may differ only between detections whose confidences
 * are within the tolerance of each other). Max errors are printed so the note can quote them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/t.h"
#include "core/engine/engine.h"
#include "core/post/nms.h"

typedef struct {
    const char *model, *image;
    int size, in_h, in_w, w0, h0;
    float tol_cls, tol_box, tol_det_box;
} gcase;

static const gcase cases[] = {
    {"yolov5n", "bus", 640, 640, 480, 810, 1080, 1e-4f, 0.02f, 0.05f},
    {"yolov5n", "zidane", 640, 384, 640, 1280, 720, 1e-4f, 0.02f, 0.05f},
    {"yolov5n", "zidane", 1280, 736, 1280, 1280, 720, 1e-4f, 0.02f, 0.05f},
    {"yolov5m-synth", "bus", 640, 640, 480, 810, 1080, 1e-3f, 0.5f, 1.0f},
    {"yolov5m-synth", "zidane", 640, 384, 640, 1280, 720, 1e-3f, 0.5f, 1.0f},
    /* issue 14: P6 (4 levels, stride 64, 1280), v5.0 (Focus, SPP), custom
     * (nc 3, own anchors, LeakyReLU(0.1)); tolerances about 10 x the golden
     * README's FP32-vs-FP64 noise of each case (P6 at 1280: 2e-3, 2 px) */
    {"yolov5s6-synth", "bus", 1280, 1280, 960, 810, 1080, 2e-3f, 2.0f, 2.0f},
    {"yolov5s6-synth", "zidane", 1280, 768, 1280, 1280, 720, 2e-3f, 2.0f, 2.0f},
    {"yolov5s-v50-synth", "bus", 640, 640, 480, 810, 1080, 4e-4f, 0.15f, 0.3f},
    {"yolov5s-v50-synth", "zidane", 640, 384, 640, 1280, 720, 1.5e-4f, 0.03f, 0.1f},
    {"yolov5s-custom-synth", "bus", 640, 640, 480, 810, 1080, 2e-4f, 0.1f, 0.2f},
    {"yolov5s-custom-synth", "zidane", 640, 384, 640, 1280, 720, 1.5e-4f, 0.06f, 0.15f},
};

static void run_case(const gcase *c, int threads) {
    char rel[256], err[1024];
    const char *w = t_model_y5w(c->model);
    T_REQUIRE(w, "conversion of %s failed", c->model);
    y5_engine_opts eo = {"cpu", threads};
    y5_engine *e = y5_engine_open(w, &eo, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    T_REQUIRE(y5_engine_plan(e, 1, c->in_h, c->in_w, err, sizeof err) == 0, "%s", err);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_input.u8", c->model, c->image, c->size);
    size_t len;
    unsigned char *u8 = t_read_file(t_shared_path(rel), &len);
    T_REQUIRE(u8 && len == (size_t)c->in_h * c->in_w * 3, "%s: %zu bytes", rel, u8 ? len : 0);
    float *in = y5_engine_input(e);
    for (size_t i = 0; i < len; i++) in[i] = u8[i] / 255.0f;
    free(u8);
    T_REQUIRE(y5_engine_forward(e, err, sizeof err) == 0, "%s", err);
    int rows, no;
    const float *pred = y5_engine_pred(e, &rows, &no);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_pred.f32", c->model, c->image, c->size);
    float *ref = t_read_file(t_shared_path(rel), &len);
    T_REQUIRE(ref && len == (size_t)rows * no * 4, "%s: %zu bytes for %d rows", rel, ref ? len : 0, rows);
    double max_box = 0, max_cls = 0;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < no; k++) {
            double d = fabs((double)pred[(size_t)r * no + k] - ref[(size_t)r * no + k]);
            if (!(d == d)) d = INFINITY;
            if (k < 4) max_box = d > max_box ? d : max_box;
            else max_cls = d > max_cls ? d : max_cls;
        }
    printf("    %s %s %d (%d threads): pred max |d| boxes %.3g px (tol %g), obj/cls %.3g (tol %g)\n", c->model, c->image,
           c->size, threads, max_box, c->tol_box, max_cls, c->tol_cls);
    T_CHECK(max_box <= c->tol_box, "boxes off by %g px", max_box);
    T_CHECK(max_cls <= c->tol_cls, "obj/cls off by %g", max_cls);
    free(ref);

    y5_nms_opts o;
    y5_nms_defaults(&o);
    static y5_det got[1000], want[1000];
    int n = y5_engine_nms(e, 0, &o, c->w0, c->h0, got, 1000);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_det.txt", c->model, c->image, c->size);
    int m = t_read_dets(t_shared_path(rel), want, 1000);
    T_REQUIRE(m >= 0, "cannot read %s", rel);
    T_CHECK(n == m, "%d detections, reference has %d", n, m);
    /* Match in order; where two detections' confidences are within the
     * tolerance of each other their order is rounding noise, so a detection
     * may match any unused reference of the same class within tolerance. */
    double dconf = 0, dbox = 0;
    int unmatched = 0, reordered = 0;
    static char used[1000];
    memset(used, 0, sizeof used);
    for (int i = 0; i < n; i++) {
        int best = -1;
        double bc = 0, bb = 0;
        for (int j = 0; j < m && best < 0; j++) {
            if (used[j] || got[i].cls != want[j].cls) continue;
            double dc = fabs(got[i].conf - want[j].conf);
            double db = fmax(fmax(fabs(got[i].x1 - want[j].x1), fabs(got[i].y1 - want[j].y1)),
                             fmax(fabs(got[i].x2 - want[j].x2), fabs(got[i].y2 - want[j].y2)));
            if (dc <= c->tol_cls && db <= c->tol_det_box) { best = j; bc = dc; bb = db; }
        }
        if (best < 0) { unmatched++; continue; }
        used[best] = 1;
        reordered += best != i;
        dconf = bc > dconf ? bc : dconf;
        dbox = bb > dbox ? bb : dbox;
    }
    printf("    detections %d/%d, unmatched %d, swapped within tolerance %d, max |d| conf %.3g, box %.3g px (original pixels)\n",
           n, m, unmatched, reordered, dconf, dbox);
    T_CHECK(unmatched == 0, "%d detections have no reference of the same class within tolerance", unmatched);
    T_CHECK(dconf <= c->tol_cls, "conf off by %g", dconf);
    T_CHECK(dbox <= c->tol_det_box, "boxes off by %g px", dbox);
    y5_engine_close(e);
}

T_TEST(golden_net_yolov5n_bus_640) { T_NEED_SHARED(); run_case(&cases[0], 2); }
T_TEST(golden_net_yolov5n_zidane_640) { T_NEED_SHARED(); run_case(&cases[1], 2); }
T_TEST(golden_net_yolov5n_zidane_1280) { T_NEED_SHARED(); run_case(&cases[2], 2); }
T_TEST(golden_net_yolov5m_synth_bus_640) { T_NEED_SHARED(); run_case(&cases[3], 2); }
T_TEST(golden_net_yolov5m_synth_zidane_640) { T_NEED_SHARED(); run_case(&cases[4], 2); }
T_TEST(golden_net_yolov5s6_synth_bus_1280) { T_NEED_SHARED(); run_case(&cases[5], 2); }
T_TEST(golden_net_yolov5s6_synth_zidane_1280) { T_NEED_SHARED(); run_case(&cases[6], 2); }
T_TEST(golden_net_yolov5s_v50_synth_bus_640) { T_NEED_SHARED(); run_case(&cases[7], 2); }
T_TEST(golden_net_yolov5s_v50_synth_zidane_640) { T_NEED_SHARED(); run_case(&cases[8], 2); }
T_TEST(golden_net_yolov5s_custom_synth_bus_640) { T_NEED_SHARED(); run_case(&cases[9], 2); }
T_TEST(golden_net_yolov5s_custom_synth_zidane_640) { T_NEED_SHARED(); run_case(&cases[10], 2); }
/* The thread split must not change the result beyond rounding. */
T_TEST(golden_net_yolov5n_bus_640_one_thread) { T_NEED_SHARED(); run_case(&cases[0], 1); }

/* Planner: every Concat of YOLOv5 is free (producers write into slices). */
T_TEST(graph_concat_is_free) {
    T_NEED_SHARED();
    char err[1024];
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    y5_engine *e = y5_engine_open(w, NULL, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    T_REQUIRE(y5_engine_plan(e, 2, 256, 320, err, sizeof err) == 0, "%s", err);
    const y5_graph *g = y5_engine_graph(e);
    int copies = 0, convs = 0;
    for (int i = 0; i < g->n_ops; i++) {
        copies += g->ops[i].kind == Y5_OP_COPY;
        convs += g->ops[i].kind == Y5_OP_CONV;
    }
    T_CHECK(copies == 0, "%d copy ops", copies);
    /* yolov5n: 57 Conv modules + 3 Detect convs; cv1+cv2 share one GEMM in
     * the 5 C3s whose chain allows it (not the residual ones with n = 1, 3, 1) */
    T_CHECK(convs == 57 + 3 - 5, "%d conv ops", convs);
    int rows, no;
    T_CHECK(y5_engine_pred(e, &rows, &no) && rows == 3 * (32 * 40 + 16 * 20 + 8 * 10) && no == 85, "rows %d no %d", rows, no);
    double gf = y5_engine_flops(e, 640, 640) / 1e9;
    /* ultralytics reports 4.5 GFLOPs for yolov5n at 640 (fused) */
    T_CHECK(gf > 4.0 && gf < 4.8, "yolov5n GFLOPs at 640: %.2f", gf);
    T_CHECK(y5_engine_plan(e, 1, 100, 320, err, sizeof err) != 0, "a side not a multiple of 32 must fail");
    y5_engine_close(e);
}

/* End to end from the JPEG: libjpeg-turbo decode (the same pixels as
 * cv2.imread) + our letterbox (bit-exact, at the model's stride) + network +
 * NMS. The detections must be the reference's: same count, each matched to a
 * reference of the same class with IoU >= min_iou and conf within tol_conf
 * (yolov5n: 0.999 and the FP32 tolerance 1e-4; the synthetic models: IoU
 * 0.99 as the golden README says, conf within their case tolerance). */
static void jpeg_case_model(const char *model, const char *image, int size, int expect, double min_iou,
                            double tol_conf) {
    char rel[256], err[1024];
    const char *w = t_model_y5w(model);
    T_REQUIRE(w, "conversion of %s failed", model);
    y5_engine *e = y5_engine_open(w, NULL, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    snprintf(rel, sizeof rel, "images/%s.jpg", image);
    y5_image img;
    T_REQUIRE(y5_image_load(t_shared_path(rel), &img, err, sizeof err) == 0, "%s", err);
    y5_detect_opts o;
    y5_detect_defaults(&o);
    o.imgsz_h = o.imgsz_w = size;
    static y5_det got[1000], want[1000];
    int n = y5_detect(e, &img, &o, got, 1000, err, sizeof err);
    T_REQUIRE(n >= 0, "%s", err);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_det.txt", model, image, size);
    int m = t_read_dets(t_shared_path(rel), want, 1000);
    T_CHECK(n == m && m == expect, "%d detections, reference %d (expected %d)", n, m, expect);
    double worst_iou = 1, worst_conf = 0;
    for (int i = 0; i < m; i++) {
        double best = 0, dc = 1;
        for (int j = 0; j < n; j++) {
            if (got[j].cls != want[i].cls) continue;
            double iou = y5_iou(&got[j], &want[i]);
            if (iou > best) { best = iou; dc = fabs(got[j].conf - want[i].conf); }
        }
        worst_iou = best < worst_iou ? best : worst_iou;
        worst_conf = dc > worst_conf ? dc : worst_conf;
    }
    printf("    %s %s %d from the JPEG (input %dx%d): %d/%d detections, worst IoU to the reference %.6f, worst |d conf| "
           "%.3g\n", model, image, size, e->w, e->h, n, m, worst_iou, worst_conf);
    T_CHECK(worst_iou >= min_iou, "a detection moved: IoU %.5f", worst_iou);
    T_CHECK(worst_conf <= tol_conf, "a confidence moved by %.3g", worst_conf);
    y5_image_free(&img);
    y5_engine_close(e);
}

static void jpeg_case(const char *image, int size, int expect) { jpeg_case_model("yolov5n", image, size, expect, 0.999, 1e-4); }

T_TEST(golden_jpeg_yolov5n_bus_640) { T_NEED_SHARED(); jpeg_case("bus", 640, 5); }
T_TEST(golden_jpeg_yolov5n_zidane_640) { T_NEED_SHARED(); jpeg_case("zidane", 640, 3); }
T_TEST(golden_jpeg_yolov5n_zidane_1280) { T_NEED_SHARED(); jpeg_case("zidane", 1280, 5); }
/* P6 at 1280: zidane (1280x720) must letterbox to 768x1280 (stride 64), not 736 */
T_TEST(golden_jpeg_yolov5s6_synth_bus_1280) { T_NEED_SHARED(); jpeg_case_model("yolov5s6-synth", "bus", 1280, 195, 0.99, 2e-3); }
T_TEST(golden_jpeg_yolov5s6_synth_zidane_1280) { T_NEED_SHARED(); jpeg_case_model("yolov5s6-synth", "zidane", 1280, 15, 0.99, 2e-3); }
T_TEST(golden_jpeg_yolov5s_v50_synth_bus_640) { T_NEED_SHARED(); jpeg_case_model("yolov5s-v50-synth", "bus", 640, 259, 0.99, 4e-4); }
T_TEST(golden_jpeg_yolov5s_v50_synth_zidane_640) { T_NEED_SHARED(); jpeg_case_model("yolov5s-v50-synth", "zidane", 640, 20, 0.99, 1.5e-4); }
T_TEST(golden_jpeg_yolov5s_custom_synth_bus_640) { T_NEED_SHARED(); jpeg_case_model("yolov5s-custom-synth", "bus", 640, 112, 0.99, 2e-4); }
T_TEST(golden_jpeg_yolov5s_custom_synth_zidane_640) { T_NEED_SHARED(); jpeg_case_model("yolov5s-custom-synth", "zidane", 640, 29, 0.99, 1.5e-4); }

/* A shape the network cannot take is an error, never a silent result: a P6
 * model refuses a side that is a multiple of 32 but not of 64. */
T_TEST(golden_p6_refuses_non_multiple_of_64) {
    T_NEED_SHARED();
    char err[1024];
    const char *w = t_model_y5w("yolov5s6-synth");
    T_REQUIRE(w, "conversion failed");
    y5_engine *e = y5_engine_open(w, NULL, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    T_CHECK(y5_engine_stride(e) == 64, "stride %d", y5_engine_stride(e));
    int rc = y5_engine_plan(e, 1, 736, 1280, err, sizeof err);
    T_CHECK(rc != 0 && strstr(err, "multiples of 64"), "736x1280 accepted or wrong message: '%s'", rc ? err : "");
    T_CHECK(y5_engine_plan(e, 1, 768, 1280, err, sizeof err) == 0, "%s", err);
    int rows, no;
    T_CHECK(y5_engine_pred(e, &rows, &no) && rows == 3 * (96 * 160 + 48 * 80 + 24 * 40 + 12 * 20) && no == 85,
            "rows %d no %d", rows, no);
    y5_engine_close(e);
}

/* The general SPP layer (layers/spp.c: parallel pools, for kernels other
 * than (k, 2k-1, 3k-2)) against the SPPF the converter writes for v5.0's
 * SPP(5, 9, 13): the same layer as SPP with pools 5, 9, 13 must give the
 * same predictions bit for bit (max pools compose exactly). */
#include "convert/convert.h"
static const float *pred_of(const char *path, y5_engine **e, const unsigned char *u8, int h, int w) {
    char err[1024];
    *e = y5_engine_open(path, NULL, err, sizeof err);
    if (!*e || y5_engine_plan(*e, 1, h, w, err, sizeof err)) { printf("    %s\n", err); return NULL; }
    float *in = y5_engine_input(*e);
    for (size_t i = 0; i < (size_t)h * w * 3; i++) in[i] = u8[i] / 255.0f;
    if (y5_engine_forward(*e, err, sizeof err)) return NULL;
    int rows, no;
    return y5_engine_pred(*e, &rows, &no);
}

T_TEST(golden_spp_parallel_pools_equal_sppf) {
    T_NEED_SHARED();
    char err[1024], path[600];
    y5_model_desc d;
    T_REQUIRE(y5_convert_to_desc(t_shared_path("models/yolov5s-v50-synth.pt"), 0, &d, err, sizeof err) == 0, "%s", err);
    T_REQUIRE(d.layers[8].type == Y5_LAYER_SPPF && d.layers[8].k == 5, "layer 8 is not SPPF(5)");
    d.layers[8].type = Y5_LAYER_SPP;
    d.layers[8].k = 0;
    d.layers[8].n = 3;
    d.layers[8].pools[0] = 5;
    d.layers[8].pools[1] = 9;
    d.layers[8].pools[2] = 13;
    snprintf(path, sizeof path, "%s/spp.y5w", t_tmpdir());
    T_REQUIRE(y5w_write(path, &d, err, sizeof err) == 0, "%s", err);
    y5_convert_free_desc(&d);
    size_t len;
    unsigned char *u8 = t_read_file(t_shared_path("golden/yolov5s-v50-synth_bus_640_input.u8"), &len);
    T_REQUIRE(u8 && len == 640 * 480 * 3, "input");
    y5_engine *a = NULL, *b = NULL;
    const float *pa = pred_of(t_model_y5w("yolov5s-v50-synth"), &a, u8, 640, 480);
    const float *pb = pred_of(path, &b, u8, 640, 480);
    T_CHECK(pa && pb, "forward failed");
    if (pa && pb) {
        size_t n = (size_t)a->g.det.rows * a->g.det.no, diff = 0;
        for (size_t i = 0; i < n; i++) diff += pa[i] != pb[i];
        T_CHECK(diff == 0, "%zu of %zu values differ between SPP(5,9,13) and SPPF(5)", diff, n);
        int pools = 0;
        for (int i = 0; i < b->g.n_ops; i++) pools += b->g.ops[i].kind == Y5_OP_MAXPOOL && b->g.ops[i].layer == 8;
        T_CHECK(pools == 3, "%d pool ops in the SPP layer", pools);
    }
    y5_engine_close(a);
    y5_engine_close(b);
    free(u8);
}
