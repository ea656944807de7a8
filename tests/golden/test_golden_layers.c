/* test_golden_layers.c - every top-level layer's output against the
 * reference's per-layer statistics (golden <case>_layers.json): mean, std,
 * min, max and the first 8 channels of pixel (0,0), each within 10 x the
 * layer's measured FP32-vs-FP64 noise (+1e-6), as the golden README
 * suggests. When the network drifts, this names the first layer that does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/t.h"
#include "core/engine/engine.h"

/* The number after "key": inside [from, to). */
static int json_num(const char *from, const char *to, const char *key, double *v) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(from, k);
    if (!p || p >= to) return -1;
    *v = strtod(p + strlen(k), NULL);
    return 0;
}

static int json_arr(const char *from, const char *to, const char *key, double *v, int n) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(from, k);
    if (!p || p >= to || !(p = strchr(p, '['))) return -1;
    p++;
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p) return -1;
        p = end + strspn(end, " ,\n");
    }
    return 0;
}

static void layers_case(const char *model, const char *image, int size, int h, int w) {
    char rel[256], err[1024];
    const char *wp = t_model_y5w(model);
    T_REQUIRE(wp, "conversion failed");
    y5_engine *e = y5_engine_open(wp, NULL, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    e->g.keep_all = 1; /* every layer output stays readable after the forward */
    T_REQUIRE(y5_engine_plan(e, 1, h, w, err, sizeof err) == 0, "%s", err);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_input.u8", model, image, size);
    size_t len;
    unsigned char *u8 = t_read_file(t_shared_path(rel), &len);
    T_REQUIRE(u8 && len == (size_t)h * w * 3, "%s", rel);
    float *in = y5_engine_input(e);
    for (size_t i = 0; i < len; i++) in[i] = u8[i] / 255.0f;
    free(u8);
    T_REQUIRE(y5_engine_forward(e, err, sizeof err) == 0, "%s", err);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_layers.json", model, image, size);
    char *js = t_read_file(t_shared_path(rel), NULL);
    T_REQUIRE(js, "%s", rel);
    const y5_graph *g = y5_engine_graph(e);
    int nl = (int)y5_engine_desc(e)->n_layers, checked = 0;
    double worst = 0;
    int worst_layer = -1;
    const char *p = js;
    for (int l = 0; l < nl - 1; l++) { /* Detect (last) is covered by the pred test */
        char key[32];
        snprintf(key, sizeof key, "\"i\": %d,", l);
        const char *a = strstr(p, key), *b = a ? strstr(a + 1, "\"i\": ") : NULL;
        T_REQUIRE(a, "layer %d missing in %s", l, rel);
        if (!b) b = js + strlen(js);
        double mean, sd, mn, mx, noise, f8[8];
        T_REQUIRE(!json_num(a, b, "mean", &mean) && !json_num(a, b, "std", &sd) && !json_num(a, b, "min", &mn) &&
                      !json_num(a, b, "max", &mx) && !json_num(a, b, "fp64_max_abs_diff", &noise) &&
                      !json_arr(a, b, "first8_nhwc", f8, 8),
                  "layer %d: fields missing", l);
        double tol = 10 * noise + 1e-6;
        const y5_slice *s = &g->layer_out[l];
        const y5_buffer *bf = &g->bufs[s->buf];
        /* the CPU backend's input_host is a plain arena address: read any view through it */
        const float *o = e->be->ops->input_host(e->be, &(y5_view){bf->off + (size_t)s->c_off, 1, bf->h, bf->w, s->c, bf->ld});
        double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
        size_t cnt = (size_t)bf->h * bf->w * s->c;
        for (size_t px = 0; px < (size_t)bf->h * bf->w; px++)
            for (int c = 0; c < s->c; c++) {
                double v = o[px * bf->ld + c];
                sum += v;
                sq += v * v;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        double m = sum / cnt, sdev = sqrt(fmax(sq / cnt - m * m, 0));
        double d = fmax(fmax(fabs(m - mean), fabs(sdev - sd)), fmax(fabs(lo - mn), fabs(hi - mx)));
        for (int c = 0; c < 8 && c < s->c; c++) d = fmax(d, fabs(o[c] - f8[c]));
        if (d / tol > worst) { worst = d / tol; worst_layer = l; }
        T_CHECK(d <= tol, "layer %d (%s): off by %.3g, tolerance %.3g", l,
                y5_layer_type_name(y5_engine_desc(e)->layers[l].type), d, tol);
        checked++;
        p = a;
    }
    printf("    %s %s %d: %d layers within 10x FP64 noise; closest to its bound: layer %d at %.2f of it\n", model, image,
           size, checked, worst_layer, worst);
    free(js);
    y5_engine_close(e);
}

T_TEST(golden_layers_yolov5n_bus_640) { T_NEED_SHARED(); layers_case("yolov5n", "bus", 640, 640, 480); }
T_TEST(golden_layers_yolov5m_synth_zidane_640) { T_NEED_SHARED(); layers_case("yolov5m-synth", "zidane", 640, 384, 640); }
/* issue 14: every layer of the new generations (Focus rewritten as a 6x6
 * conv and SPP as SPPF must reproduce the reference's layer 0 and 8; the P6
 * model's 34 layers; LeakyReLU's epilogue) */
T_TEST(golden_layers_yolov5s6_synth_zidane_1280) { T_NEED_SHARED(); layers_case("yolov5s6-synth", "zidane", 1280, 768, 1280); }
T_TEST(golden_layers_yolov5s_v50_synth_bus_640) { T_NEED_SHARED(); layers_case("yolov5s-v50-synth", "bus", 640, 640, 480); }
T_TEST(golden_layers_yolov5s_custom_synth_zidane_640) { T_NEED_SHARED(); layers_case("yolov5s-custom-synth", "zidane", 640, 384, 640); }
