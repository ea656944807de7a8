/* test_convert.c - .pt -> .y5w: the real checkpoints against the golden
 * structure (golden/pt_structure.txt), BN folding against a hand
 * computation, write/read round trips (FP32 and FP16), a tiny checkpoint
 * built here (strided / offset storages, Float/Double/Half/Long storages,
 * foreign classes) and every kind of bad input -> a one-line error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/t.h"
#include "convert/convert.h"
#include "convert/ptmodel.h"
#include "weights/y5w.h"

/* name inside this test's temporary folder (four buffers: a few can be live at once) */
static const char *tmp_path(const char *name) {
    static char bufs[4][700];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 700, "%s/%s", t_tmpdir(), name);
    return b;
}

/* Runs y5_convert on in; returns the message after "PATH: " ("" = success). */
static const char *convert_msg(const char *in, int fp16) {
    static char err[1024];
    char out[700];
    snprintf(out, sizeof out, "%s/out.y5w", t_tmpdir());
    err[0] = 0;
    if (y5_convert(in, out, fp16, err, sizeof err) == 0) return "";
    size_t n = strlen(in);
    if (strncmp(err, in, n) != 0 || strncmp(err + n, ": ", 2) != 0 || strchr(err, '\n'))
        return "(message is not one line 'PATH: problem')";
    return err + n + 2;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ---- golden structure ---------------------------------------------------------- */

typedef struct {
    char type[32];
    int n_from, from[8]; /* absolute */
    long long np;
} golden_layer;

/* Reads the "top-level layers" table of one model from pt_structure.txt. */
static int golden_layers(const char *model, golden_layer *g, int max) {
    size_t len;
    char *txt = t_read_file(t_shared_path("golden/pt_structure.txt"), &len);
    if (!txt) return -1;
    char head[128];
    snprintf(head, sizeof head, "\n%s  (", model);
    char *p = strstr(txt, head);
    p = p ? strstr(p, "top-level layers (model.model[i])") : NULL;
    int n = 0;
    if (p) p = strchr(p, '\n');
    while (p && n < max) {
        p++;
        int i, off = 0;
        char cls[128];
        if (sscanf(p, " %d %127s%n", &i, cls, &off) != 2 || i != n) break;
        char *f = strstr(p, "f="), *np = strstr(p, "np="), *eol = strchr(p, '\n');
        if (!f || !np || !eol || np > eol) break;
        /* from list: every integer between "f=" and "np=" */
        int k = 0;
        for (char *q = f + 2; q < np && k < 8;) {
            if (*q == '-' || (*q >= '0' && *q <= '9')) {
                long v = strtol(q, &q, 10);
                g[n].from[k++] = (int)(v < 0 ? n + v : v);
            } else {
                q++;
            }
        }
        g[n].n_from = k;
        if (n == 0 && k == 1 && g[0].from[0] == -1) g[0].from[0] = -1;
        char *q = np + 3;
        g[n].np = strtoll(q, &q, 10);
        while (*q == ' ') q++;
        int tl = 0;
        while (q < eol && *q != ' ' && tl < 31) g[n].type[tl++] = *q++;
        g[n].type[tl] = 0;
        n++;
        p = eol;
    }
    free(txt);
    return n;
}

/* Unfused parameter count of a converted layer: every conv weight, plus 2 x
 * cout for its BatchNorm (weight + bias), or cout for Detect's conv bias. */
static long long layer_np(const y5_model_desc *d, int layer) {
    long long np = 0;
    for (uint32_t i = 0; i < d->n_tensors; i++) {
        const y5_tensor *t = &d->tensors[i];
        if (t->layer != layer || t->ndim != 4) continue;
        np += (long long)y5w_numel(t) + (d->layers[layer].type == Y5_LAYER_DETECT ? 1 : 2) * t->shape[0];
    }
    return np;
}

static void check_against_golden(const char *model_rel, const y5_model_desc *d) {
    golden_layer g[64];
    int n = golden_layers(model_rel, g, 64);
    T_REQUIRE(n == 25, "golden table for %s has %d layers", model_rel, n);
    T_REQUIRE(d->n_layers == 25, "%s: %u layers", model_rel, d->n_layers);
    for (int i = 0; i < n; i++) {
        const y5_layer *L = &d->layers[i];
        T_CHECK(strcmp(y5_layer_type_name(L->type), g[i].type) == 0, "%s layer %d: type %s, golden %s", model_rel, i,
                y5_layer_type_name(L->type), g[i].type);
        T_CHECK((int)L->n_from == g[i].n_from, "%s layer %d: %u inputs, golden %d", model_rel, i, L->n_from,
                g[i].n_from);
        for (int k = 0; k < g[i].n_from && k < 8; k++)
            T_CHECK(L->from[k] == g[i].from[k], "%s layer %d: from[%d] %d, golden %d", model_rel, i, k, L->from[k],
                    g[i].from[k]);
        long long np = layer_np(d, i);
        T_CHECK(np == g[i].np, "%s layer %d (%s): %lld params, golden %lld", model_rel, i, g[i].type, np, g[i].np);
    }
}

static void check_meta(const y5_model_desc *d) {
    static const float anchors[3][6] = {{10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119}, {116, 90, 156, 198, 373, 326}};
    T_CHECK(d->nc == 80 && d->nl == 3 && d->na == 3, "nc %u nl %u na %u", d->nc, d->nl, d->na);
    T_CHECK(strcmp(d->names[0], "person") == 0 && strcmp(d->names[79], "toothbrush") == 0 &&
                strcmp(d->names[9], "traffic light") == 0, "names '%s' '%s'", d->names[0], d->names[79]);
    T_CHECK(d->strides[0] == 8 && d->strides[1] == 16 && d->strides[2] == 32 && d->strides[3] == 0, "strides");
    for (int l = 0; l < 3; l++)
        for (int a = 0; a < 6; a++)
            T_CHECK(d->anchors[l][a] == anchors[l][a], "anchor [%d][%d] = %g, want %g", l, a, (double)d->anchors[l][a],
                    (double)anchors[l][a]);
    T_CHECK(d->anchors[0][6] == 0 && d->anchors[3][0] == 0, "unused anchors zero");
    const y5_layer *det = &d->layers[24];
    T_CHECK(det->type == Y5_LAYER_DETECT && det->c_out == 255 && det->n_from == 3, "Detect record");
}

/* Folded conv `name` of `layer` against a hand computation from the raw
 * conv + bn tensors at `rel` ("" for a Conv layer). */
static void check_fold(y5_pt *pt, const y5_model_desc *d, int layer, const char *rel, const char *outname) {
    char p[128], err[512];
    float *w, *g, *b, *m, *v;
    uint64_t nw, nc;
    int nd;
    int64_t shape[8];
#define RAW(dst, cnt, suffix)                                                                    \
    snprintf(p, sizeof p, "%s%s%s", rel, *rel ? "." : "", suffix);                               \
    T_REQUIRE(y5_pt_raw_tensor(pt, layer, p, &dst, &cnt, &nd, shape, err, sizeof err) == 0, "%s", err)
    RAW(w, nw, "conv.weight");
    RAW(g, nc, "bn.weight");
    RAW(b, nc, "bn.bias");
    RAW(m, nc, "bn.running_mean");
    RAW(v, nc, "bn.running_var");
#undef RAW
    double eps;
    snprintf(p, sizeof p, "%s%sbn", rel, *rel ? "." : "");
    T_REQUIRE(y5_pt_module_number(pt, layer, p, "eps", &eps) && eps == 0.001, "eps");
    char nm[96];
    snprintf(nm, sizeof nm, "%s.weight", outname);
    const y5_tensor *fw = y5w_find(d, layer, nm);
    snprintf(nm, sizeof nm, "%s.bias", outname);
    const y5_tensor *fb = y5w_find(d, layer, nm);
    T_REQUIRE(fw && fb && fw->dtype == Y5_DTYPE_F32 && y5w_numel(fw) == nw && y5w_numel(fb) == nc, "folded %s", outname);
    const float *FW = fw->data, *FB = fb->data;
    size_t per = (size_t)(nw / nc);
    int bad = 0;
    for (uint64_t o = 0; o < nc; o++) {
        /* fuse_conv_and_bn in FP32, written out by hand */
        float sd = sqrtf(v[o] + (float)eps);
        float want_b = b[o] - g[o] * m[o] / sd;
        double ref_b = (double)b[o] - (double)g[o] * m[o] / sqrt((double)v[o] + eps);
        if (FB[o] != want_b || fabs(FB[o] - ref_b) > 1e-5 * (1 + fabs(ref_b))) bad++;
        for (size_t j = 0; j < per; j += 7) {
            float want = (g[o] / sd) * w[o * per + j];
            double ref = (double)g[o] / sqrt((double)v[o] + eps) * w[o * per + j];
            if (FW[o * per + j] != want || fabs(FW[o * per + j] - ref) > 1e-5 * (1e-3 + fabs(ref))) bad++;
        }
    }
    T_CHECK(bad == 0, "layer %d %s: %d folded values differ from the hand computation", layer, outname, bad);
    free(w);
    free(g);
    free(b);
    free(m);
    free(v);
}

static void convert_real(const char *rel, int is_n) {
    T_NEED_SHARED();
    const char *pt_path = t_shared_path(rel);
    char err[1024];
    y5_model_desc d;
    double t0 = now_ms();
    T_REQUIRE(y5_convert_to_desc(pt_path, 0, &d, err, sizeof err) == 0, "%s", err);
    double ms = now_ms() - t0;
    printf("    %s -> desc in %.0f ms (%u tensors)\n", rel, ms, d.n_tensors);
    check_against_golden(rel, &d);
    check_meta(&d);
    /* shortcuts: backbone C3s add, head C3s do not */
    for (int i = 0; i < 25; i++) {
        const y5_layer *L = &d.layers[i];
        if (L->type != Y5_LAYER_C3) continue;
        T_CHECK(L->shortcut == (i <= 8), "layer %d shortcut %d", i, L->shortcut);
    }
    const y5_layer *L0 = &d.layers[0];
    T_CHECK(L0->from[0] == -1 && L0->c_in == 3 && L0->k == 6 && L0->s == 2 && L0->p == 2, "layer 0 conv 6x6 s2 p2");
    T_CHECK(d.layers[9].type == Y5_LAYER_SPPF && d.layers[9].k == 5, "SPPF k");
    T_CHECK(d.layers[11].scale == 2 && d.layers[12].c_in == d.layers[11].c_out + d.layers[6].c_out, "upsample/concat");
    T_CHECK(d.layers[2].n == (is_n ? 1 : 2) && d.layers[8].n == (is_n ? 1 : 2) && d.layers[6].n == (is_n ? 3 : 6),
            "C3 depths");
    y5_pt *pt;
    T_REQUIRE(y5_pt_open(pt_path, &pt, err, sizeof err) == 0, "%s", err);
    check_fold(pt, &d, 0, "", "conv");
    check_fold(pt, &d, 1, "", "conv");
    check_fold(pt, &d, 2, "cv1", "cv1");
    check_fold(pt, &d, 6, "m.2.cv2", "m.2.cv2");
    check_fold(pt, &d, 9, "cv2", "cv2");
    check_fold(pt, &d, 23, "cv3", "cv3");
    /* Detect's convs are copied (no BN) */
    for (int l = 0; l < 3; l++) {
        char p[32];
        float *raw;
        uint64_t n;
        int nd;
        int64_t shape[8];
        snprintf(p, sizeof p, "m.%d.bias", l);
        T_REQUIRE(y5_pt_raw_tensor(pt, 24, p, &raw, &n, &nd, shape, err, sizeof err) == 0, "%s", err);
        const y5_tensor *t = y5w_find(&d, 24, p);
        T_CHECK(t && y5w_numel(t) == n && memcmp(t->data, raw, n * 4) == 0, "Detect %s copied", p);
        free(raw);
    }
    y5_pt_close(pt);

    /* write -> open -> compare */
    const char *out = tmp_path("model.y5w");
    t0 = now_ms();
    T_REQUIRE(y5_convert(pt_path, out, 0, err, sizeof err) == 0, "%s", err);
    ms = now_ms() - t0;
    printf("    %s -> %s in %.0f ms\n", rel, "model.y5w", ms);
    /* the time is printed above, not asserted: shared machines are noisy */
    y5w_file f;
    T_REQUIRE(y5w_open(out, &f, err, sizeof err) == 0, "%s", err);
    const y5_model_desc *r = &f.desc;
    T_CHECK(r->n_layers == d.n_layers && memcmp(r->layers, d.layers, d.n_layers * sizeof *d.layers) == 0, "layers");
    T_CHECK(r->nc == d.nc && memcmp(r->names, d.names, d.nc * sizeof *d.names) == 0, "names");
    T_CHECK(memcmp(r->anchors, d.anchors, sizeof d.anchors) == 0 && memcmp(r->strides, d.strides, sizeof d.strides) == 0,
            "anchors/strides");
    T_CHECK(strcmp(r->source, d.source) == 0 && strstr(r->source, is_n ? "yolov5n.pt" : "yolov5m-synth.pt"), "source '%s'",
            r->source);
    T_CHECK(r->n_tensors == d.n_tensors, "tensor count");
    int bad = 0;
    for (uint32_t i = 0; i < d.n_tensors; i++) {
        const y5_tensor *a = &d.tensors[i], *b = y5w_find(r, a->layer, a->name);
        if (!b || b->nbytes != a->nbytes || memcmp(b->shape, a->shape, sizeof a->shape) || memcmp(a->data, b->data, a->nbytes))
            bad++;
    }
    T_CHECK(bad == 0, "%d tensors differ after the round trip", bad);
    size_t size32 = f.map_size;
    y5w_close(&f);

    /* FP16 */
    T_REQUIRE(y5_convert(pt_path, out, 1, err, sizeof err) == 0, "fp16: %s", err);
    T_REQUIRE(y5w_open(out, &f, err, sizeof err) == 0, "fp16 open: %s", err);
    bad = 0;
    for (uint32_t i = 0; i < d.n_tensors; i++) {
        const y5_tensor *a = &d.tensors[i], *b = y5w_find(&f.desc, a->layer, a->name);
        if (!b || b->dtype != Y5_DTYPE_F16 || y5w_numel(b) != y5w_numel(a)) {
            bad++;
            continue;
        }
        const float *fa = a->data;
        const uint16_t *hb = b->data;
        for (uint64_t k = 0; k < y5w_numel(a); k++)
            if (hb[k] != y5_float_to_half(fa[k])) {
                bad++;
                break;
            }
    }
    T_CHECK(bad == 0, "%d FP16 tensors are not the rounded FP32 ones", bad);
    T_CHECK((double)f.map_size < 0.6 * (double)size32, "FP16 file %zu bytes, FP32 %zu", f.map_size, size32);
    y5w_close(&f);
    y5_convert_free_desc(&d);
}

T_TEST(convert_yolov5n) { convert_real("models/yolov5n.pt", 1); }
T_TEST(convert_yolov5m_synth) { convert_real("models/yolov5m-synth.pt", 0); }

/* issue 14: the three new generations. v5.0: Focus rewritten as the 6x6 s2
 * p2 stem with W6[o, ch, 2ky+dy, 2kx+dx] = W3[o, (dy+2dx)c + ch, ky, kx]
 * (checked value by value against the folded raw Focus conv), SPP(5, 9, 13)
 * as SPPF(5); P6: 4 levels at strides 8..64 fed by 23, 26, 29, 32; custom:
 * LeakyReLU(0.1) in every conv layer, nc 3, anchors from the Detect buffer
 * (0.7 x the defaults, not the yaml's). */
static y5_model_desc *convert_shared(const char *rel, y5_model_desc *d) {
    char err[1024];
    if (y5_convert_to_desc(t_shared_path(rel), 0, d, err, sizeof err) != 0) {
        T_CHECK(0, "%s", err);
        return NULL;
    }
    return d;
}

T_TEST(convert_new_generations) {
    T_NEED_SHARED();
    y5_model_desc d;
    char err[1024];
    /* v5.0 */
    T_REQUIRE(convert_shared("models/yolov5s-v50-synth.pt", &d), "v5.0");
    const y5_layer *L0 = &d.layers[0];
    T_CHECK(L0->type == Y5_LAYER_CONV && L0->c_in == 3 && L0->c_out == 32 && L0->k == 6 && L0->s == 2 && L0->p == 2,
            "Focus -> conv 6x6 s2 p2 (k%d s%d p%d c_in %d)", L0->k, L0->s, L0->p, L0->c_in);
    T_CHECK(d.layers[8].type == Y5_LAYER_SPPF && d.layers[8].k == 5, "SPP(5,9,13) -> SPPF(5)");
    T_CHECK(!strcmp(d.generation, "v4.0-v5.0 (Model, Focus, SPP)"), "generation '%s'", d.generation);
    for (uint32_t i = 0; i < 24; i++)
        T_CHECK(d.layers[i].act == (d.layers[i].type <= Y5_LAYER_SPPF ? Y5_ACT_SILU : Y5_ACT_NONE), "layer %u act %u", i,
                d.layers[i].act);
    y5_pt *pt;
    T_REQUIRE(y5_pt_open(t_shared_path("models/yolov5s-v50-synth.pt"), &pt, err, sizeof err) == 0, "%s", err);
    float *w3 = NULL, *g = NULL, *var = NULL;
    uint64_t n;
    int nd;
    int64_t sh[8];
    double eps = 0;
    T_REQUIRE(!y5_pt_raw_tensor(pt, 0, "conv.conv.weight", &w3, &n, &nd, sh, err, sizeof err) && nd == 4 &&
                  sh[0] == 32 && sh[1] == 12 && sh[2] == 3,
              "%s", err);
    T_REQUIRE(!y5_pt_raw_tensor(pt, 0, "conv.bn.weight", &g, &n, &nd, sh, err, sizeof err) &&
                  !y5_pt_raw_tensor(pt, 0, "conv.bn.running_var", &var, &n, &nd, sh, err, sizeof err) &&
                  y5_pt_module_number(pt, 0, "conv.bn", "eps", &eps),
              "%s", err);
    const y5_tensor *w6t = y5w_find(&d, 0, "conv.weight");
    T_REQUIRE(w6t && w6t->shape[1] == 3 && w6t->shape[2] == 6 && w6t->shape[3] == 6, "stem weight shape");
    const float *w6 = w6t->data;
    int bad = 0;
    for (int o = 0; o < 32; o++) {
        float scale = g[o] / sqrtf(var[o] + (float)eps);
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int dy = b % 2, dx = b / 2;
                        float want = scale * w3[((o * 12 + b * 3 + c) * 3 + ky) * 3 + kx];
                        if (w6[((o * 3 + c) * 6 + 2 * ky + dy) * 6 + 2 * kx + dx] != want) bad++;
                    }
    }
    T_CHECK(bad == 0, "%d Focus weights misplaced", bad);
    free(w3);
    free(g);
    free(var);
    y5_pt_close(pt);
    y5_convert_free_desc(&d);
    /* P6 */
    T_REQUIRE(convert_shared("models/yolov5s6-synth.pt", &d), "P6");
    const y5_layer *det = &d.layers[33];
    T_CHECK(d.n_layers == 34 && det->type == Y5_LAYER_DETECT && det->n_from == 4 && det->from[0] == 23 &&
                det->from[3] == 32, "P6 Detect");
    T_CHECK(d.nl == 4 && d.strides[0] == 8 && d.strides[3] == 64 && d.anchors[3][4] == 925 && d.anchors[3][5] == 792,
            "P6 strides/anchors");
    T_CHECK(!strcmp(d.generation, "v6.2+ (DetectionModel)") && d.imgsz == 0, "generation '%s' imgsz %u", d.generation,
            d.imgsz);
    y5_convert_free_desc(&d);
    /* custom */
    T_REQUIRE(convert_shared("models/yolov5s-custom-synth.pt", &d), "custom");
    T_CHECK(d.nc == 3 && !strcmp(d.names[2], "blue") && d.layers[24].c_out == 24, "custom nc/names");
    T_CHECK(d.anchors[0][0] == 7 && d.anchors[0][1] == 9.1015625f && d.anchors[2][5] == 228.25f, "anchors from the buffer");
    int leaky = 0;
    for (uint32_t i = 0; i < 24; i++)
        if (d.layers[i].type == Y5_LAYER_CONV || d.layers[i].type == Y5_LAYER_C3 || d.layers[i].type == Y5_LAYER_SPPF)
            leaky += d.layers[i].act == Y5_ACT_LEAKY && d.layers[i].act_slope == 0.1f;
    T_CHECK(leaky == 18, "%d conv layers with LeakyReLU(0.1), want 18", leaky);
    y5_convert_free_desc(&d);
}

/* ---- bad inputs derived from the real file ------------------------------------------ */

T_TEST(convert_truncated_and_damaged_pt) {
    T_NEED_SHARED();
    size_t n;
    uint8_t *pt = t_read_file(t_shared_path("models/yolov5n.pt"), &n);
    T_REQUIRE(pt && n > 100000, "read");
    const char *in = tmp_path("cut.pt");
    size_t cuts[] = {0, 1, 3, 100, 30000, n / 2, n - 200, n - 23, n - 22, n - 21, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        T_REQUIRE(t_write_file(in, pt, cuts[k]) == 0, "write");
        const char *e = convert_msg(in, 0);
        T_CHECK(e[0] != 0, "cut at %zu converted", cuts[k]);
        if (cuts[k] == 0) T_CHECK(strcmp(e, "empty file (0 bytes)") == 0, "empty: '%s'", e);
        else if (cuts[k] >= 4) T_CHECK(strstr(e, "truncated or damaged zip archive"), "cut at %zu: '%s'", cuts[k], e);
    }
    /* a byte of the pickle damaged: the CRC catches it */
    uint8_t *c = malloc(n);
    memcpy(c, pt, n);
    c[200] ^= 0x20;
    T_REQUIRE(t_write_file(in, c, n) == 0, "write");
    const char *e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "archive/data.pkl: CRC mismatch (file is damaged)") == 0, "flipped pickle byte: '%s'", e);
    /* random bytes */
    uint64_t r = 7;
    for (size_t i = 0; i < 5000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        c[i] = (uint8_t)(r >> 56);
    }
    T_REQUIRE(t_write_file(in, c, 5000) == 0, "write");
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "not a zip archive (legacy torch.save format is not supported; re-save with torch>=1.6)") == 0,
            "random bytes: '%s'", e);
    /* the legacy (pre-1.6) format starts with a pickled magic number */
    static const char legacy[] = "\x80\x02\x8a\x0al\xfc\x9c" "F\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.";
    T_REQUIRE(t_write_file(in, legacy, sizeof legacy - 1) == 0, "write");
    e = convert_msg(in, 0);
    T_CHECK(strstr(e, "not a zip archive (legacy torch.save format is not supported"), "legacy: '%s'", e);
    e = convert_msg(tmp_path("does-not-exist.pt"), 0);
    T_CHECK(strstr(e, "cannot open"), "missing file: '%s'", e);
    free(c);
    free(pt);
}

/* ---- a tiny checkpoint built by hand ------------------------------------------------------ */

typedef struct {
    char *b;
    size_t n, cap;
} pw;

static void pw_raw(pw *p, const void *s, size_t n) {
    if (p->n + n > p->cap) {
        size_t c = p->cap ? p->cap * 2 : 4096;
        while (c < p->n + n) c *= 2;
        p->b = realloc(p->b, c);
        p->cap = c;
    }
    memcpy(p->b + p->n, s, n);
    p->n += n;
}
static void pw_op(pw *p, int c) {
    char ch = (char)c;
    pw_raw(p, &ch, 1);
}
static void pw_int(pw *p, int64_t v) {
    pw_op(p, 'J');
    for (int i = 0; i < 4; i++) pw_op(p, (int)((uint64_t)v >> (8 * i)) & 0xff);
}
static void pw_float(pw *p, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    pw_op(p, 'G');
    for (int i = 7; i >= 0; i--) pw_op(p, (int)(u >> (8 * i)) & 0xff);
}
static void pw_str(pw *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    pw_op(p, 'X');
    for (int i = 0; i < 4; i++) pw_op(p, (int)(n >> (8 * i)) & 0xff);
    pw_raw(p, s, n);
}
static void pw_global(pw *p, const char *mod, const char *name) {
    pw_op(p, 'c');
    pw_raw(p, mod, strlen(mod));
    pw_op(p, '\n');
    pw_raw(p, name, strlen(name));
    pw_op(p, '\n');
}
static void pw_ints(pw *p, int n, const int64_t *v) { /* a tuple */
    pw_op(p, '(');
    for (int i = 0; i < n; i++) pw_int(p, v[i]);
    pw_op(p, 't');
}
static void pw_pair(pw *p, int a) {
    int64_t v[2] = {a, a};
    pw_ints(p, 2, v);
}
static void od_begin(pw *p) {
    pw_global(p, "collections", "OrderedDict");
    pw_raw(p, ")R(", 3);
}
static void od_end(pw *p) { pw_op(p, 'u'); }
static void mod_begin(pw *p, const char *mod, const char *cls) {
    pw_global(p, mod, cls);
    pw_raw(p, ")\x81}(", 4);
}
static void mod_end(pw *p) { pw_raw(p, "ub", 2); }

typedef struct {
    pw p;
    t_zip_item items[64];
    char names[64][32];
    void *datas[64];
    int n_items;
    /* fault injection */
    const char *layer0_cls;
    const char *model_cls;
    int omit_conv_weight, groups, concat_d, names_dict, names_count, drop_storage, short_storage;
    int under_ema;       /* the network under 'ema', 'model' None */
    int expand_weight;   /* conv0's weight a stride-0 (expanded) view of a 1-element storage */
    float gamma_scale;   /* multiplies BN gamma (FP16 overflow) */
    const char *up_mode;
    const char *act_cls; /* layer 0's activation class (default SiLU) */
    double act_slope;    /* > 0: its negative_slope attribute */
} tiny;

/* Registers a storage; returns its key. */
static int tiny_storage(tiny *t, const void *data, size_t nbytes) {
    int k = t->n_items;
    snprintf(t->names[k], sizeof t->names[k], "tiny/data/%d", k - 1);
    t->datas[k] = malloc(nbytes ? nbytes : 1);
    memcpy(t->datas[k], data, nbytes);
    t->items[k] = (t_zip_item){t->names[k], t->datas[k], nbytes, 0};
    t->n_items++;
    return k - 1;
}

/* A tensor over storage `key`. */
static void pw_tensor(pw *p, int key, const char *stype, int64_t numel, int64_t off, int nd, const int64_t *shape,
                      const int64_t *stride, int param) {
    char ks[16];
    snprintf(ks, sizeof ks, "%d", key);
    if (param) {
        pw_global(p, "torch._utils", "_rebuild_parameter");
        pw_op(p, '(');
    }
    pw_global(p, "torch._utils", "_rebuild_tensor_v2");
    pw_raw(p, "((", 2);
    pw_str(p, "storage");
    pw_global(p, "torch", stype);
    pw_str(p, ks);
    pw_str(p, "cpu");
    pw_int(p, numel);
    pw_raw(p, "tQ", 2);
    pw_int(p, off);
    pw_ints(p, nd, shape);
    pw_ints(p, nd, stride);
    pw_op(p, 0x89);
    od_begin(p);
    od_end(p);
    pw_raw(p, "tR", 2);
    if (param) {
        pw_op(p, 0x89);
        od_begin(p);
        od_end(p);
        pw_raw(p, "tR", 2);
    }
}

/* Contiguous tensor of floats stored as `stype` (Float/Double/Half). */
static void tiny_tensor(tiny *t, const char *stype, int nd, const int64_t *shape, const float *v, int param) {
    int64_t n = 1, stride[8];
    for (int d = nd - 1; d >= 0; d--) {
        stride[d] = n;
        n *= shape[d];
    }
    size_t es = !strcmp(stype, "DoubleStorage") ? 8 : !strcmp(stype, "HalfStorage") ? 2 : 4;
    uint8_t *buf = malloc((size_t)n * es);
    for (int64_t i = 0; i < n; i++) {
        if (es == 8) {
            double d = v[i];
            memcpy(buf + 8 * i, &d, 8);
        } else if (es == 2) {
            uint16_t h = y5_float_to_half(v[i]);
            memcpy(buf + 2 * i, &h, 2);
        } else {
            memcpy(buf + 4 * i, &v[i], 4);
        }
    }
    int key = tiny_storage(t, buf, (size_t)n * es);
    free(buf);
    pw_tensor(&t->p, key, stype, n, 0, nd, shape, stride, param);
}

/* Conv0: 3 -> 4, 3x3 stride 2 padding 1. Its weight lives in a FloatStorage
 * at offset 5, laid out as HWIO (strides 1, 4, 12, 36 for O, I, H, W). */
static float w0(int o, int i, int y, int x) { return (float)(o * 27 + i * 9 + y * 3 + x) * 0.01f - 0.3f; }
static const float G0[4] = {1, 2, 0.5f, 1.5f}, B0[4] = {0.1f, -0.1f, 0, 0.2f}, M0[4] = {0.5f, 0, -0.5f, 1},
                   V0[4] = {1, 4, 0.25f, 2};

static void tiny_conv2d(tiny *t, int cin, int cout, int k, int s, int pad, int with_bias) {
    pw *p = &t->p;
    mod_begin(p, "torch.nn.modules.conv", "Conv2d");
    pw_str(p, "training");
    pw_op(p, 0x89);
    pw_str(p, "_parameters");
    od_begin(p);
    if (cin == 3) {
        if (t->expand_weight) { /* issue 10 #4: 108 elements read from a storage of 1 */
            pw_str(p, "weight");
            float one = 0.5f;
            int key = tiny_storage(t, &one, 4);
            int64_t shape[4] = {4, 3, 3, 3}, stride[4] = {0, 0, 0, 0};
            pw_tensor(p, key, "FloatStorage", 1, 0, 4, shape, stride, 1);
        } else if (!t->omit_conv_weight) {
            pw_str(p, "weight");
            float st[5 + 108];
            for (int j = 0; j < 5; j++) st[j] = 99.0f;
            for (int o = 0; o < 4; o++)
                for (int i = 0; i < 3; i++)
                    for (int y = 0; y < 3; y++)
                        for (int x = 0; x < 3; x++) st[5 + o + 4 * i + 12 * y + 36 * x] = w0(o, i, y, x);
            int key = tiny_storage(t, st, t->short_storage ? 4 * 50 : sizeof st);
            int64_t shape[4] = {4, 3, 3, 3}, stride[4] = {1, 4, 12, 36};
            pw_tensor(p, key, "FloatStorage", 113, 5, 4, shape, stride, 1);
        }
    } else {
        float wv[8 * 7];
        for (int j = 0; j < cin * cout; j++) wv[j] = (float)(j % 13) * 0.125f - 0.5f;
        int64_t shape[4] = {cout, cin, 1, 1};
        pw_str(p, "weight");
        tiny_tensor(t, "HalfStorage", 4, shape, wv, 1);
    }
    pw_str(p, "bias");
    if (with_bias) {
        float bv[7] = {0.5f, -1, 2, -2.5f, 0.25f, 1, -0.125f};
        int64_t shape[1] = {cout};
        tiny_tensor(t, "HalfStorage", 1, shape, bv, 1);
    } else {
        pw_op(p, 'N');
    }
    od_end(p);
    pw_str(p, "_buffers");
    od_begin(p);
    od_end(p);
    pw_str(p, "_modules");
    od_begin(p);
    od_end(p);
    pw_str(p, "in_channels");
    pw_int(p, cin);
    pw_str(p, "out_channels");
    pw_int(p, cout);
    pw_str(p, "kernel_size");
    pw_pair(p, k);
    pw_str(p, "stride");
    pw_pair(p, s);
    pw_str(p, "padding");
    pw_pair(p, pad);
    pw_str(p, "dilation");
    pw_pair(p, 1);
    pw_str(p, "groups");
    pw_int(p, cin == 3 && t->groups ? t->groups : 1);
    pw_str(p, "padding_mode");
    pw_str(p, "zeros");
    pw_str(p, "transposed");
    pw_op(p, 0x89);
    mod_end(p);
}

static void tiny_layer_attrs(pw *p, int i, int nf, const int64_t *f, const char *type) {
    pw_str(p, "f");
    if (nf == 1 && f[0] == -1) {
        pw_int(p, -1);
    } else {
        pw_raw(p, "](", 2);
        for (int k = 0; k < nf; k++) pw_int(p, f[k]);
        pw_op(p, 'e');
    }
    pw_str(p, "i");
    pw_int(p, i);
    pw_str(p, "type");
    pw_str(p, type);
}

static void tiny_build(tiny *t, const char *path) {
    pw *p = &t->p;
    t->n_items = 1; /* item 0 = data.pkl, filled last */
    pw_raw(p, "\x80\x02}(", 4);
    pw_str(p, "epoch");
    pw_int(p, -1);
    pw_str(p, "opt"); /* a foreign class: must load as an opaque object */
    pw_global(p, "pathlib", "PosixPath");
    pw_op(p, '(');
    pw_str(p, "runs");
    pw_str(p, "train");
    pw_raw(p, "tR", 2);
    pw_str(p, t->under_ema ? "model" : "ema");
    pw_op(p, 'N');
    pw_str(p, t->under_ema ? "ema" : "model");
    mod_begin(p, "models.yolo", t->model_cls ? t->model_cls : "DetectionModel");
    pw_str(p, "_modules");
    od_begin(p);
    pw_str(p, "model");
    mod_begin(p, "torch.nn.modules.container", "Sequential");
    pw_str(p, "_modules");
    od_begin(p);

    /* 0: Conv */
    pw_str(p, "0");
    mod_begin(p, "models.common", t->layer0_cls ? t->layer0_cls : "Conv");
    pw_str(p, "_parameters");
    od_begin(p);
    od_end(p);
    pw_str(p, "_modules");
    od_begin(p);
    pw_str(p, "conv");
    tiny_conv2d(t, 3, 4, 3, 2, 1, 0);
    pw_str(p, "bn");
    mod_begin(p, "torch.nn.modules.batchnorm", "BatchNorm2d");
    pw_str(p, "_parameters");
    od_begin(p);
    int64_t s4[1] = {4};
    pw_str(p, "weight");
    {
        float g[4];
        for (int j = 0; j < 4; j++) g[j] = G0[j] * (t->gamma_scale ? t->gamma_scale : 1.0f);
        tiny_tensor(t, "DoubleStorage", 1, s4, g, 1);
    }
    pw_str(p, "bias");
    tiny_tensor(t, "DoubleStorage", 1, s4, B0, 1);
    od_end(p);
    pw_str(p, "_buffers");
    od_begin(p);
    pw_str(p, "running_mean");
    tiny_tensor(t, "FloatStorage", 1, s4, M0, 0);
    pw_str(p, "running_var");
    tiny_tensor(t, "FloatStorage", 1, s4, V0, 0);
    pw_str(p, "num_batches_tracked");
    {
        int64_t v = 1234;
        int key = tiny_storage(t, &v, 8);
        pw_tensor(p, key, "LongStorage", 1, 0, 0, NULL, NULL, 0);
    }
    od_end(p);
    pw_str(p, "eps");
    pw_float(p, 0.001);
    mod_end(p);
    pw_str(p, "act");
    mod_begin(p, "torch.nn.modules.activation", t->act_cls ? t->act_cls : "SiLU");
    if (t->act_slope > 0) {
        pw_str(p, "negative_slope");
        pw_float(p, t->act_slope);
    }
    mod_end(p);
    od_end(p);
    int64_t fm1[1] = {-1};
    tiny_layer_attrs(p, 0, 1, fm1, "models.common.Conv");
    mod_end(p);

    /* 1: Upsample */
    pw_str(p, "1");
    mod_begin(p, "torch.nn.modules.upsampling", "Upsample");
    pw_str(p, "scale_factor");
    pw_float(p, 2.0);
    pw_str(p, "mode");
    pw_str(p, t->up_mode ? t->up_mode : "nearest");
    tiny_layer_attrs(p, 1, 1, fm1, "torch.nn.modules.upsampling.Upsample");
    mod_end(p);

    /* 2: Concat of layer 1 and layer 0 (written -2, Python's negative index) */
    pw_str(p, "2");
    mod_begin(p, "models.common", "Concat");
    pw_str(p, "d");
    pw_int(p, t->concat_d ? t->concat_d : 1);
    int64_t f2[2] = {-1, -2};
    tiny_layer_attrs(p, 2, 2, f2, "models.common.Concat");
    mod_end(p);

    /* 3: Detect, nl 1, na 1, nc 2 */
    pw_str(p, "3");
    mod_begin(p, "models.yolo", "Detect");
    pw_str(p, "_buffers");
    od_begin(p);
    pw_str(p, "anchors");
    {
        int64_t sh[3] = {1, 1, 2};
        float an[2] = {1.25f, 1.625f};
        tiny_tensor(t, "HalfStorage", 3, sh, an, 0);
    }
    od_end(p);
    pw_str(p, "_modules");
    od_begin(p);
    pw_str(p, "m");
    mod_begin(p, "torch.nn.modules.container", "ModuleList");
    pw_str(p, "_modules");
    od_begin(p);
    pw_str(p, "0");
    tiny_conv2d(t, 8, 7, 1, 1, 0, 1);
    od_end(p);
    mod_end(p);
    od_end(p);
    pw_str(p, "nc");
    pw_int(p, 2);
    pw_str(p, "no");
    pw_int(p, 7);
    pw_str(p, "nl");
    pw_int(p, 1);
    pw_str(p, "na");
    pw_int(p, 1);
    pw_str(p, "stride");
    {
        int64_t sh[1] = {1};
        float st[1] = {8};
        tiny_tensor(t, "FloatStorage", 1, sh, st, 0);
    }
    int64_t f3[1] = {2};
    tiny_layer_attrs(p, 3, 1, f3, "models.yolo.Detect");
    mod_end(p);

    od_end(p); /* Sequential._modules */
    mod_end(p);
    od_end(p); /* model._modules */
    pw_str(p, "names");
    int nn = t->names_count ? t->names_count : 2;
    const char *nm[3] = {"cat", "dog", "emu"};
    if (t->names_dict) {
        pw_raw(p, "}(", 2);
        for (int j = 0; j < nn; j++) {
            pw_int(p, j);
            pw_str(p, nm[j]);
        }
        pw_op(p, 'u');
    } else {
        pw_raw(p, "](", 2);
        for (int j = 0; j < nn; j++) pw_str(p, nm[j]);
        pw_op(p, 'e');
    }
    pw_str(p, "nc");
    pw_int(p, 2);
    mod_end(p); /* model */
    pw_str(p, "date");
    pw_str(p, "2024-01-01");
    pw_raw(p, "u.", 2);

    t->items[0] = (t_zip_item){"tiny/data.pkl", p->b, p->n, 0};
    int n_items = t->n_items;
    if (t->drop_storage) { /* remove storage "0" (conv0's weight) */
        memmove(&t->items[1], &t->items[2], (size_t)(n_items - 2) * sizeof t->items[0]);
        n_items--;
    }
    size_t zl;
    uint8_t *z = t_zip_build(t->items, n_items, 1, &zl);
    t_write_file(path, z, zl);
    free(z);
    for (int k = 1; k < t->n_items; k++) free(t->datas[k]);
    free(p->b);
}

static const char *tiny_convert(tiny *t, y5_model_desc *d, char *err, size_t errlen) {
    const char *path = tmp_path("tiny.pt");
    tiny_build(t, path);
    err[0] = 0;
    if (y5_convert_to_desc(path, 0, d, err, errlen) == 0) return "";
    size_t n = strlen(path);
    return strncmp(err, path, n) == 0 && err[n] == ':' ? err + n + 2 : err;
}

T_TEST(convert_tiny_checkpoint) {
    tiny t;
    memset(&t, 0, sizeof t);
    y5_model_desc d;
    char err[1024];
    const char *e = tiny_convert(&t, &d, err, sizeof err);
    T_REQUIRE(e[0] == 0, "tiny: %s", err);
    T_CHECK(d.n_layers == 4 && d.nc == 2 && d.nl == 1 && d.na == 1, "counts");
    const y5_layer *L = d.layers;
    T_CHECK(L[0].type == Y5_LAYER_CONV && L[0].from[0] == -1 && L[0].c_in == 3 && L[0].c_out == 4 && L[0].k == 3 &&
                L[0].s == 2 && L[0].p == 1, "conv record");
    T_CHECK(L[1].type == Y5_LAYER_UPSAMPLE && L[1].scale == 2 && L[1].c_out == 4, "upsample record");
    T_CHECK(L[2].type == Y5_LAYER_CONCAT && L[2].n_from == 2 && L[2].from[0] == 1 && L[2].from[1] == 0 &&
                L[2].c_in == 8 && L[2].c_out == 8, "concat record (negative index -2 -> layer 0)");
    T_CHECK(L[3].type == Y5_LAYER_DETECT && L[3].from[0] == 2 && L[3].c_in == 8 && L[3].c_out == 7, "detect record");
    T_CHECK(d.anchors[0][0] == 10 && d.anchors[0][1] == 13 && d.strides[0] == 8, "anchors in pixels");
    T_CHECK(strcmp(d.names[0], "cat") == 0 && strcmp(d.names[1], "dog") == 0, "names");
    T_CHECK(strstr(d.source, "tiny.pt") && strstr(d.source, "2024-01-01"), "source '%s'", d.source);
    /* folding of a strided, offset FloatStorage weight with Double BN params */
    const y5_tensor *fw = y5w_find(&d, 0, "conv.weight"), *fb = y5w_find(&d, 0, "conv.bias");
    T_REQUIRE(fw && fb && fw->ndim == 4 && fw->shape[0] == 4 && fw->shape[1] == 3 && fw->shape[3] == 3, "folded conv");
    const float *W = fw->data, *B = fb->data;
    int bad = 0;
    for (int o = 0; o < 4; o++) {
        float sd = sqrtf(V0[o] + 0.001f);
        if (B[o] != B0[o] - G0[o] * M0[o] / sd) bad++;
        for (int i = 0; i < 3; i++)
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 3; x++)
                    if (W[((o * 3 + i) * 3 + y) * 3 + x] != (G0[o] / sd) * w0(o, i, y, x)) bad++;
    }
    T_CHECK(bad == 0, "%d folded values wrong", bad);
    const y5_tensor *db = y5w_find(&d, 3, "m.0.bias");
    T_CHECK(db && ((const float *)db->data)[3] == -2.5f, "Detect bias");
    T_CHECK(d.n_tensors == 4, "%u tensors", d.n_tensors);
    y5_convert_free_desc(&d);

    /* the network under 'ema' ('model' None) */
    memset(&t, 0, sizeof t);
    t.under_ema = 1;
    e = tiny_convert(&t, &d, err, sizeof err);
    T_CHECK(e[0] == 0 && d.n_layers == 4, "under ema: %s", err);
    if (!e[0]) y5_convert_free_desc(&d);
    /* a folded weight too large for FP16: FP32 is fine, --fp16 refuses */
    memset(&t, 0, sizeof t);
    t.gamma_scale = 1e6f;
    tiny_build(&t, tmp_path("big.pt"));
    T_CHECK(y5_convert(tmp_path("big.pt"), tmp_path("big.y5w"), 0, err, sizeof err) == 0, "fp32: %s", err);
    T_CHECK(y5_convert(tmp_path("big.pt"), tmp_path("big16.y5w"), 1, err, sizeof err) != 0 &&
                strstr(err, "layer 0 (Conv): conv.weight: value") && strstr(err, "overflows FP16 (convert without --fp16)"),
            "fp16 overflow: '%s'", err);
    /* names as a {int: str} dict */
    memset(&t, 0, sizeof t);
    t.names_dict = 1;
    e = tiny_convert(&t, &d, err, sizeof err);
    T_CHECK(e[0] == 0 && strcmp(d.names[1], "dog") == 0, "names dict: %s", err);
    if (!e[0]) y5_convert_free_desc(&d);
    /* FP16 of the same */
    memset(&t, 0, sizeof t);
    tiny_build(&t, tmp_path("tiny.pt"));
    T_CHECK(y5_convert(tmp_path("tiny.pt"), tmp_path("tiny.y5w"), 1, err, sizeof err) == 0, "fp16: %s", err);
    y5w_file f;
    T_REQUIRE(y5w_open(tmp_path("tiny.y5w"), &f, err, sizeof err) == 0, "%s", err);
    const y5_tensor *h = y5w_find(&f.desc, 3, "m.0.bias");
    float hb[7];
    T_REQUIRE(h && h->dtype == Y5_DTYPE_F16, "fp16 tensor");
    y5w_to_f32(h, hb);
    T_CHECK(hb[0] == 0.5f && hb[3] == -2.5f && hb[6] == -0.125f, "fp16 values");
    T_CHECK(f.desc.layers[0].act == Y5_ACT_SILU && f.desc.layers[1].act == Y5_ACT_NONE, "activations");
    y5w_close(&f);
    /* LeakyReLU(0.2): kind and slope (FP32 of the pickled double) recorded */
    memset(&t, 0, sizeof t);
    t.act_cls = "LeakyReLU";
    t.act_slope = 0.2;
    e = tiny_convert(&t, &d, err, sizeof err);
    T_CHECK(e[0] == 0 && d.layers[0].act == Y5_ACT_LEAKY && d.layers[0].act_slope == 0.2f, "leaky: %s", err);
    if (!e[0]) y5_convert_free_desc(&d);
}

T_TEST(convert_tiny_errors) {
    static const struct {
        const char *label, *want;
        int which;
    } cases[] = {
        {"unknown layer", "layer 0: unknown module type models.common.BottleneckCSP", 1},
        {"activation", "layer 0 (Conv): act is torch.nn.modules.activation.ReLU6; supported activations: SiLU, ReLU, "
                       "LeakyReLU, Hardswish, Identity", 10},
        {"missing tensor", "layer 0 (Conv): missing tensor conv.weight", 2},
        {"groups", "layer 0 (Conv): conv: groups=2 is not supported (only 1)", 3},
        {"upsample mode", "layer 1 (Upsample): mode bilinear is not supported (only nearest)", 4},
        {"concat dim", "layer 2 (Concat): concatenation along dimension 2 is not supported", 5},
        {"model class", "model class models.yolo.SegmentationModel is not supported", 6},
        {"names count", "model.names has 3 entries but Detect has nc = 2", 7},
        {"storage missing", "layer 0 (Conv): tensor conv.weight has its storage 'tiny/data/0' missing from the archive", 8},
        {"storage short", "layer 0 (Conv): tensor conv.weight needs elements 5..112 of storage 'tiny/data/0', which holds 50", 9},
        {"expanded view", "layer 0 (Conv): tensor conv.weight has 108 elements but its storage 'tiny/data/0' holds 1", 11},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tiny t;
        memset(&t, 0, sizeof t);
        switch (cases[k].which) {
        case 1: t.layer0_cls = "BottleneckCSP"; break; /* v3.x: not supported */
        case 10: t.act_cls = "ReLU6"; break;
        case 2: t.omit_conv_weight = 1; break;
        case 3: t.groups = 2; break;
        case 4: t.up_mode = "bilinear"; break;
        case 5: t.concat_d = 2; break;
        case 6: t.model_cls = "SegmentationModel"; break;
        case 7: t.names_count = 3; break;
        case 8: t.drop_storage = 1; break;
        case 9: t.short_storage = 1; break;
        case 11: t.expand_weight = 1; break;
        }
        y5_model_desc d;
        char err[1024];
        const char *e = tiny_convert(&t, &d, err, sizeof err);
        T_CHECK(e[0] != 0, "%s: converted", cases[k].label);
        if (!e[0]) {
            y5_convert_free_desc(&d);
            continue;
        }
        T_CHECK(strstr(e, cases[k].want) == e, "%s: '%s' (want '%s')", cases[k].label, err, cases[k].want);
        T_CHECK(!strchr(err, '\n'), "multi-line message");
    }
}

/* Archives that are zips but not yolov5 checkpoints. */
T_TEST(convert_not_a_checkpoint) {
    const char *in = tmp_path("x.pt");
    size_t n;
    uint8_t *z;
    const char *e;
    /* a zip of some other file */
    t_zip_item txt[1] = {{"readme.txt", "hello", 5, 0}};
    z = t_zip_build(txt, 1, 0, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "not a PyTorch checkpoint (no data.pkl in the zip archive)") == 0, "non-pytorch zip: '%s'", e);
    /* data.pkl compressed */
    t_zip_item comp[1] = {{"archive/data.pkl", "\x78\x9c\x03\x00", 4, 8}};
    z = t_zip_build(comp, 1, 1, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "entry 'archive/data.pkl' is compressed (method 8); only stored entries are supported") == 0,
            "compressed: '%s'", e);
    /* a state_dict: {'model.0.conv.weight': tensor} */
    static const char sd[] = "\x80\x02}(X\x13\x00\x00\x00model.0.conv.weight"
                             "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                             "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQK\x00(K\x02K\x02t(K\x02K\x01t\x89"
                             "ccollections\nOrderedDict\n)RtRu.";
    float four[4] = {1, 2, 3, 4};
    t_zip_item sdi[2] = {{"archive/data.pkl", sd, sizeof sd - 1, 0}, {"archive/data/0", four, 16, 0}};
    z = t_zip_build(sdi, 2, 1, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "this is a state_dict, not a yolov5 checkpoint (no 'model' object)") == 0, "state_dict: '%s'", e);
    /* {'model': state_dict} */
    static const char sd2[] = "\x80\x02}X\x05\x00\x00\x00model}X\x01\x00\x00\x00w"
                              "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                              "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQK\x00(K\x04t(K\x01t\x89"
                              "ccollections\nOrderedDict\n)RtRss.";
    t_zip_item sdi2[2] = {{"archive/data.pkl", sd2, sizeof sd2 - 1, 0}, {"archive/data/0", four, 16, 0}};
    z = t_zip_build(sdi2, 2, 1, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "this is a state_dict, not a yolov5 checkpoint (no 'model' object)") == 0, "nested state_dict: '%s'",
            e);
    /* a dict without any model */
    static const char nomodel[] = "\x80\x02}X\x05\x00\x00\x00" "epochK\x01s.";
    t_zip_item nm[1] = {{"archive/data.pkl", nomodel, sizeof nomodel - 1, 0}};
    z = t_zip_build(nm, 1, 1, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "not a yolov5 checkpoint (no 'model' object)") == 0, "no model: '%s'", e);
    /* 'model' is no model object (issue 10 #1: the message read the freed
     * pickle arena; ASan reports it as a heap-use-after-free) */
    static const char nonemodel[] = "\x80\x02}X\x05\x00\x00\x00modelNs.";
    t_zip_item nn[1] = {{"archive/data.pkl", nonemodel, sizeof nonemodel - 1, 0}};
    z = t_zip_build(nn, 1, 1, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "not a yolov5 checkpoint ('model' is a NoneType, not a model object)") == 0, "model None: '%s'", e);
    /* a broken pickle */
    static const char broken[] = "\x80\x02}X\x05\x00\x00\x00" "epochK\x01\xff.";
    t_zip_item br[1] = {{"archive/data.pkl", broken, sizeof broken - 1, 0}};
    z = t_zip_build(br, 1, 1, &n);
    T_REQUIRE(t_write_file(in, z, n) == 0, "write");
    free(z);
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "archive/data.pkl: pickle: unknown opcode 0xff at offset 15") == 0, "broken pickle: '%s'", e);
    /* an empty file */
    T_REQUIRE(t_write_file(in, "", 0) == 0, "write");
    e = convert_msg(in, 0);
    T_CHECK(strcmp(e, "empty file (0 bytes)") == 0, "empty: '%s'", e);
}
