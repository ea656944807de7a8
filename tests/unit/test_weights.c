/* test_weights.c - the .y5w format: FP16 conversion, checksum, writer/reader
 * round trip, and damaged files (every one a clear one-line error). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>

#include "tests/t.h"
#include "weights/y5w.h"

/* ---- helpers ---------------------------------------------------------------- */

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd64(p) & 0xffffffffu; }

/* Recomputes the checksum of a file image in place (to craft files whose
 * structure, not their checksum, is wrong). */
static void fix_checksum(uint8_t *b, size_t n) {
    memset(b + 24, 0, 8);
    y5w_sum s;
    y5w_sum_init(&s);
    y5w_sum_update(&s, b, n);
    wr64(b + 24, y5w_sum_final(&s));
}

/* A small model description: 3 layers (Conv, Upsample, Detect-ish), mixed
 * F32 / F16 tensors of odd sizes. */
typedef struct {
    y5_model_desc d;
    y5_layer layers[3];
    y5_tensor tensors[4];
    char names[3][Y5W_NAME_MAX];
    float w0[2 * 3 * 3 * 3], b0[2];
    uint16_t w2[8 * 2], b2[8];
} small_model;

static void make_small(small_model *m) {
    memset(m, 0, sizeof *m);
    y5_layer *L = m->layers;
    L[0] = (y5_layer){.type = Y5_LAYER_CONV, .n_from = 1, .from = {-1}, .c_in = 3, .c_out = 2, .k = 3, .s = 2, .p = 1};
    L[1] = (y5_layer){.type = Y5_LAYER_UPSAMPLE, .n_from = 1, .from = {0}, .c_in = 2, .c_out = 2, .scale = 2};
    L[2] = (y5_layer){.type = Y5_LAYER_DETECT, .n_from = 1, .from = {1}, .c_in = 2, .c_out = 8};
    L[0].act = Y5_ACT_LEAKY;
    L[0].act_slope = 0.1f;
    for (int i = 0; i < 54; i++) m->w0[i] = (float)i * 0.25f - 3.0f;
    m->b0[0] = 1.5f;
    m->b0[1] = -2.25f;
    for (int i = 0; i < 16; i++) m->w2[i] = y5_float_to_half((float)i / 8.0f);
    for (int i = 0; i < 8; i++) m->b2[i] = y5_float_to_half(-(float)i);
    y5_tensor *t = m->tensors;
    t[0] = (y5_tensor){.layer = 0, .name = "conv.weight", .dtype = Y5_DTYPE_F32, .ndim = 4, .shape = {2, 3, 3, 3},
                       .data = m->w0, .nbytes = sizeof m->w0};
    t[1] = (y5_tensor){.layer = 0, .name = "conv.bias", .dtype = Y5_DTYPE_F32, .ndim = 1, .shape = {2},
                       .data = m->b0, .nbytes = sizeof m->b0};
    t[2] = (y5_tensor){.layer = 2, .name = "m.0.weight", .dtype = Y5_DTYPE_F16, .ndim = 4, .shape = {8, 2, 1, 1},
                       .data = m->w2, .nbytes = sizeof m->w2};
    t[3] = (y5_tensor){.layer = 2, .name = "m.0.bias", .dtype = Y5_DTYPE_F16, .ndim = 1, .shape = {8},
                       .data = m->b2, .nbytes = sizeof m->b2};
    snprintf(m->names[0], Y5W_NAME_MAX, "person");
    snprintf(m->names[1], Y5W_NAME_MAX, "traffic light");
    snprintf(m->names[2], Y5W_NAME_MAX, "caf\xc3\xa9");
    y5_model_desc *d = &m->d;
    d->n_layers = 3;
    d->layers = m->layers;
    d->n_tensors = 4;
    d->tensors = m->tensors;
    d->nc = 3;
    d->nl = 1;
    d->na = 1;
    d->anchors[0][0] = 10;
    d->anchors[0][1] = 13;
    d->strides[0] = 8;
    d->names = m->names;
    snprintf(d->source, sizeof d->source, "unit test");
    d->imgsz = 1280;
    snprintf(d->generation, sizeof d->generation, "v6.2+ (DetectionModel)");
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ---- FP16 ---------------------------------------------------------------------- */

T_TEST(half_roundtrip_all) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = y5_half_to_float((uint16_t)h);
        int is_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
        if (is_nan) {
            if (!isnan(f) || !isnan(y5_half_to_float(y5_float_to_half(f)))) bad++;
            continue;
        }
        if (y5_float_to_half(f) != h) {
            if (bad++ < 5) T_CHECK(0, "half 0x%04x -> %g -> 0x%04x", h, (double)f, y5_float_to_half(f));
        }
    }
    T_CHECK(bad == 0, "%d halves did not round-trip", bad);
}

T_TEST(half_values) {
    T_CHECK(y5_half_to_float(0x3c00) == 1.0f, "1.0");
    T_CHECK(y5_half_to_float(0xc000) == -2.0f, "-2");
    T_CHECK(y5_half_to_float(0x7bff) == 65504.0f, "max");
    T_CHECK(y5_half_to_float(0x0001) == ldexpf(1.0f, -24), "min subnormal");
    T_CHECK(y5_half_to_float(0x03ff) == ldexpf(1023.0f, -24), "max subnormal");
    T_CHECK(y5_half_to_float(0x0400) == ldexpf(1.0f, -14), "min normal");
    T_CHECK(isinf(y5_half_to_float(0x7c00)) && y5_half_to_float(0xfc00) < 0, "inf");
    T_CHECK(y5_half_to_float(0x8000) == 0.0f && signbit(y5_half_to_float(0x8000)), "-0");
    /* rounding */
    T_CHECK(y5_float_to_half(65504.0f) == 0x7bff, "65504");
    T_CHECK(y5_float_to_half(65519.99f) == 0x7bff, "65519.99 rounds down");
    T_CHECK(y5_float_to_half(65520.0f) == 0x7c00, "65520 -> inf (tie to even)");
    T_CHECK(y5_float_to_half(1e10f) == 0x7c00 && y5_float_to_half(-1e10f) == 0xfc00, "overflow");
    T_CHECK(y5_float_to_half(INFINITY) == 0x7c00, "inf");
    T_CHECK((y5_float_to_half(NAN) & 0x7c00) == 0x7c00 && (y5_float_to_half(NAN) & 0x3ff), "nan");
    T_CHECK(y5_float_to_half(1.0f + ldexpf(1, -11)) == 0x3c00, "1+2^-11 tie -> even (down)");
    T_CHECK(y5_float_to_half(1.0f + 3 * ldexpf(1, -11)) == 0x3c02, "1+3*2^-11 tie -> even (up)");
    T_CHECK(y5_float_to_half(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01, "above tie -> up");
    T_CHECK(y5_float_to_half(ldexpf(1, -25)) == 0x0000, "2^-25 tie -> 0");
    T_CHECK(y5_float_to_half(ldexpf(1, -25) * 1.0001f) == 0x0001, "just above 2^-25 -> min subnormal");
    T_CHECK(y5_float_to_half(ldexpf(3, -25)) == 0x0002, "3*2^-25 tie -> even 2");
    T_CHECK(y5_float_to_half(ldexpf(5, -25)) == 0x0002, "5*2^-25 tie -> even 2");
    T_CHECK(y5_float_to_half(ldexpf(1, -30)) == 0 && y5_float_to_half(-ldexpf(1, -30)) == 0x8000, "tiny -> +-0");
    T_CHECK(y5_float_to_half(ldexpf(2047, -25)) == 0x0400, "rounds up into the normal range");
    T_CHECK(y5_float_to_half(-0.0f) == 0x8000, "-0");
}

/* Every rounding case: for each pair of adjacent finite halves, the exact
 * midpoint and its float neighbours round as round-to-nearest-even says. */
T_TEST(half_rounding_midpoints) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float a = y5_half_to_float((uint16_t)h), b = y5_half_to_float((uint16_t)(h + 1));
        float mid = (a + b) / 2; /* exact in float */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        float below = u2f(f2u(mid) - 1), above = u2f(f2u(mid) + 1);
        if (mid == 0) continue;
        if (y5_float_to_half(mid) != even || y5_float_to_half(below) != h || y5_float_to_half(above) != h + 1 ||
            y5_float_to_half(-mid) != (even | 0x8000)) {
            if (bad++ < 5)
                T_CHECK(0, "h=0x%04x mid %a -> 0x%04x below -> 0x%04x above -> 0x%04x", h, (double)mid,
                        y5_float_to_half(mid), y5_float_to_half(below), y5_float_to_half(above));
        }
    }
    T_CHECK(bad == 0, "%d rounding cases wrong", bad);
#ifdef __FLT16_MAX__
    /* and against the compiler's own conversion over a sweep of all floats */
    int diff = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 4099) {
        float f = u2f((uint32_t)u);
        _Float16 r = (_Float16)f;
        uint16_t ref;
        memcpy(&ref, &r, 2);
        uint16_t mine = y5_float_to_half(f);
        if (isnan(f)) continue;
        if (mine != ref && diff++ < 5) T_CHECK(0, "float %a: mine 0x%04x compiler 0x%04x", (double)f, mine, ref);
    }
    T_CHECK(diff == 0, "%d differences against _Float16", diff);
#endif
}

/* ---- checksum --------------------------------------------------------------------- */

T_TEST(y5w_checksum_pieces_and_speed) {
    size_t n = (size_t)64 << 20;
    uint8_t *b = malloc(n);
    T_REQUIRE(b, "alloc");
    uint64_t x = 12345;
    for (size_t i = 0; i < n; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(b + i, &x, 8);
    }
    y5w_sum s;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    y5w_sum_init(&s);
    y5w_sum_update(&s, b, n);
    uint64_t whole = y5w_sum_final(&s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    /* in odd pieces */
    y5w_sum_init(&s);
    size_t at = 0, step = 1;
    while (at < n) {
        size_t k = step < n - at ? step : n - at;
        y5w_sum_update(&s, b + at, k);
        at += k;
        step = step * 3 + 1;
        if (step > 5000000) step = 3;
    }
    T_CHECK(y5w_sum_final(&s) == whole, "checksum depends on how the bytes are split");
    /* one flipped bit anywhere changes it */
    b[n / 3] ^= 0x10;
    y5w_sum_init(&s);
    y5w_sum_update(&s, b, n);
    T_CHECK(y5w_sum_final(&s) != whole, "flipped bit not seen");
    /* swapping two words of different lanes changes it */
    b[n / 3] ^= 0x10;
    uint8_t tmp[8];
    memcpy(tmp, b + 8, 8);
    memcpy(b + 8, b + 16, 8);
    memcpy(b + 16, tmp, 8);
    y5w_sum_init(&s);
    y5w_sum_update(&s, b, n);
    T_CHECK(y5w_sum_final(&s) != whole, "swapped words not seen");
    /* speed is printed, not asserted (shared machines are noisy) */
    printf("    checksum: 64 MB in %.1f ms (timing printed, not asserted)\n", ms);
    free(b);
}

/* ---- writer / reader ------------------------------------------------------------------ */

T_TEST(y5w_roundtrip_small) {
    small_model m;
    make_small(&m);
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/small.y5w", t_tmpdir());
    T_REQUIRE(y5w_write(path, &m.d, err, sizeof err) == 0, "write: %s", err);
    T_CHECK(count_dir_entries(t_tmpdir()) == 1, "temporary file left behind");
    y5w_file f;
    T_REQUIRE(y5w_open(path, &f, err, sizeof err) == 0, "open: %s", err);
    const y5_model_desc *d = &f.desc;
    size_t fsize_mod = f.map_size & 63;
    T_CHECK(fsize_mod == 0, "file size %zu", f.map_size);
    T_CHECK(d->n_layers == 3 && d->n_tensors == 4 && d->nc == 3 && d->nl == 1 && d->na == 1, "counts");
    T_CHECK(memcmp(d->layers, m.layers, sizeof m.layers) == 0, "layers differ");
    T_CHECK(d->anchors[0][0] == 10 && d->anchors[0][1] == 13 && d->anchors[0][2] == 0 && d->strides[0] == 8 &&
                d->strides[1] == 0, "anchors/strides");
    T_CHECK(strcmp(d->names[1], "traffic light") == 0 && strcmp(d->names[2], "caf\xc3\xa9") == 0, "names");
    T_CHECK(strcmp(d->source, "unit test") == 0, "source '%s'", d->source);
    for (int i = 0; i < 4; i++) {
        const y5_tensor *a = &m.tensors[i], *b = y5w_find(d, a->layer, a->name);
        T_REQUIRE(b, "tensor %s missing", a->name);
        T_CHECK(b->dtype == a->dtype && b->ndim == a->ndim && memcmp(b->shape, a->shape, sizeof a->shape) == 0 &&
                    b->nbytes == a->nbytes, "tensor %s header", a->name);
        T_CHECK(memcmp(b->data, a->data, a->nbytes) == 0, "tensor %s data", a->name);
        uintptr_t misalign = (uintptr_t)b->data & 63u;
        T_CHECK(misalign == 0, "tensor %s data not 64-byte aligned", a->name);
        T_CHECK(y5w_numel(b) == a->nbytes / y5w_dtype_size(a->dtype), "numel");
    }
    T_CHECK(y5w_find(d, 1, "conv.weight") == NULL && y5w_find(d, 0, "nope") == NULL, "find of absent tensors");
    T_CHECK(d->version == Y5W_VERSION && d->imgsz == 1280 && !strcmp(d->generation, "v6.2+ (DetectionModel)"),
            "version %u imgsz %u generation '%s'", d->version, d->imgsz, d->generation);
    T_CHECK(d->layers[0].act == Y5_ACT_LEAKY && d->layers[0].act_slope == 0.1f, "activation");
    float w[16];
    y5w_to_f32(y5w_find(d, 2, "m.0.weight"), w);
    T_CHECK(w[0] == 0 && w[9] == 9.0f / 8 && w[13] == 13.0f / 8, "to_f32 of F16");
    float c[54];
    y5w_to_f32(y5w_find(d, 0, "conv.weight"), c);
    T_CHECK(memcmp(c, m.w0, sizeof c) == 0, "to_f32 of F32");
    T_CHECK(strcmp(y5_layer_type_name(Y5_LAYER_C3), "C3") == 0 && strcmp(y5_layer_type_name(99), "unknown") == 0,
            "type names");
    y5w_close(&f);

    /* overwrite in place: atomic replace, no leftovers */
    m.d.nc = 2;
    m.layers[2].c_out = 7;
    T_REQUIRE(y5w_write(path, &m.d, err, sizeof err) == 0, "rewrite: %s", err);
    T_REQUIRE(y5w_open(path, &f, err, sizeof err) == 0, "reopen: %s", err);
    T_CHECK(f.desc.nc == 2, "rewritten file not seen");
    y5w_close(&f);
    T_CHECK(count_dir_entries(t_tmpdir()) == 1, "temporary file left behind after rewrite");
}

T_TEST(y5w_writer_rejects_bad_desc) {
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/bad.y5w", t_tmpdir());
    small_model m;
    make_small(&m);
    m.layers[1].from[0] = 1; /* reads itself */
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0 && strstr(err, "layer 1"), "forward from: '%s'", err);
    make_small(&m);
    m.tensors[1].nbytes = 4;
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0 && strstr(err, "conv.bias"), "nbytes: '%s'", err);
    make_small(&m);
    snprintf(m.tensors[3].name, Y5W_NAME_MAX, "m.0.weight");
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0 && strstr(err, "twice"), "duplicate: '%s'", err);
    make_small(&m);
    m.layers[0].p = 1000000;
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0 && strstr(err, "padding is 1000000"), "padding: '%s'", err);
    make_small(&m);
    m.d.anchors[0][1] = NAN;
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0 && strstr(err, "anchor"), "anchor: '%s'", err);
    make_small(&m);
    m.tensors[0].ndim = 5;
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0, "ndim 5 accepted");
    make_small(&m);
    memset(m.names[0], 'x', Y5W_NAME_MAX);
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0, "unterminated name accepted");
    T_CHECK(strncmp(err, path, strlen(path)) == 0, "message does not start with the path: '%s'", err);
    T_CHECK(count_dir_entries(t_tmpdir()) == 0, "a file was left behind");
    snprintf(path, sizeof path, "%s/no/such/dir/x.y5w", t_tmpdir());
    make_small(&m);
    T_CHECK(y5w_write(path, &m.d, err, sizeof err) != 0 && strstr(err, "x.y5w"), "unwritable dir: '%s'", err);
}

/* Writes the small model and returns its bytes. */
static uint8_t *small_image(size_t *n) {
    small_model m;
    make_small(&m);
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/img.y5w", t_tmpdir());
    if (y5w_write(path, &m.d, err, sizeof err) != 0) return NULL;
    return t_read_file(path, n);
}

/* Opens bytes b[0..n) from a file; returns the error text ("" = opened). */
static const char *open_bytes(const uint8_t *b, size_t n, const char *name) {
    static char err[600];
    char path[600];
    snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
    if (t_write_file(path, b, n) != 0) return "(could not write test file)";
    y5w_file f;
    err[0] = 0;
    if (y5w_open(path, &f, err, sizeof err) == 0) {
        y5w_close(&f);
        return "";
    }
    if (strncmp(err, path, strlen(path)) != 0 || strchr(err, '\n')) return "(message not 'PATH: problem')";
    return err + strlen(path) + 2;
}

T_TEST(y5w_damaged_files) {
    size_t n;
    uint8_t *good = small_image(&n);
    T_REQUIRE(good && n > 1024, "small image");
    uint8_t *b = malloc(n + 64);
    const char *e;

    T_CHECK(strcmp(open_bytes(good, n, "ok.y5w"), "") == 0, "good file rejected");

    e = open_bytes(good, 0, "empty.y5w");
    T_CHECK(strstr(e, "empty file"), "empty: '%s'", e);

    memcpy(b, good, n);
    memcpy(b, "Y5WEIGHX", 8);
    e = open_bytes(b, n, "magic.y5w");
    T_CHECK(strcmp(e, "not a yolov5c weight file (bad magic)") == 0, "magic: '%s'", e);
    e = open_bytes((const uint8_t *)"hello world, this is text\n", 26, "text.y5w");
    T_CHECK(strcmp(e, "not a yolov5c weight file (bad magic)") == 0, "text: '%s'", e);

    memcpy(b, good, n);
    wr32(b + 8, 7);
    e = open_bytes(b, n, "version.y5w");
    T_CHECK(strcmp(e, "unsupported version 7 (this build reads 1 and 2)") == 0, "version: '%s'", e);

    /* truncation at several points */
    size_t cuts[] = {1, 4, 8, 11, 12, 64, 127, 128, 500, 944, n / 2, n - 64, n - 8, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        e = open_bytes(good, cuts[k], "cut.y5w");
        T_CHECK(strstr(e, "truncated (file has "), "cut at %zu: '%s'", cuts[k], e);
        if (cuts[k] >= 128) {
            char want[128];
            snprintf(want, sizeof want, "truncated (file has %zu bytes, header says %zu)", cuts[k], n);
            T_CHECK(strcmp(e, want) == 0, "cut at %zu: '%s'", cuts[k], e);
        }
    }
    /* trailing bytes */
    memcpy(b, good, n);
    memset(b + n, 0, 64);
    e = open_bytes(b, n + 64, "long.y5w");
    T_CHECK(strstr(e, "trailing data"), "trailing: '%s'", e);

    /* one flipped byte anywhere (past magic/version/size) -> checksum */
    size_t flips[] = {12, 24, 31, 33, 130, 600, 1000, 1100, n / 2, n - 70, n - 1};
    for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
        memcpy(b, good, n);
        b[flips[k]] ^= 0x01;
        e = open_bytes(b, n, "flip.y5w");
        T_CHECK(strcmp(e, "checksum mismatch (file is damaged)") == 0, "flip at %zu: '%s'", flips[k], e);
    }
    free(b);
    free(good);
}

/* Structure errors behind a valid checksum: the reader still refuses them. */
T_TEST(y5w_corrupt_structure) {
    size_t n;
    uint8_t *good = small_image(&n);
    T_REQUIRE(good, "small image");
    uint8_t *b = malloc(n);
    const char *e;
    uint64_t layers_off = rd64(good + 48), tensors_off = rd64(good + 80), names_off = rd64(good + 64);

#define CORRUPT(label, stmt, want)                                                 \
    do {                                                                           \
        memcpy(b, good, n);                                                        \
        stmt;                                                                      \
        fix_checksum(b, n);                                                        \
        e = open_bytes(b, n, "c.y5w");                                             \
        T_CHECK(strstr(e, want) != NULL, "%s: got '%s', want '%s'", label, e, want); \
    } while (0)

    CORRUPT("layers off", wr64(b + 48, n - 8), "layer table");
    CORRUPT("layers count", wr32(b + 56, 0), "layers");
    CORRUPT("huge count", wr32(b + 56, 4000), "layer table");
    CORRUPT("record size", wr32(b + 60, 80), "corrupt header");
    CORRUPT("names off", wr64(b + 64, (uint64_t)1 << 62), "class names");
    CORRUPT("tensor count", wr32(b + 88, 1000000), "tensor table");
    CORRUPT("data misaligned", wr64(b + 96, rd64(good + 96) + 8), "data region");
    CORRUPT("data size", wr64(b + 104, n), "data region");
    CORRUPT("nc", wr32(b + 128, 5), "nc 5 but 3 class names");
    CORRUPT("nl", wr32(b + 132, 9), "nl 9");
    CORRUPT("layer type", wr32(b + layers_off, 42), "layer 0 (unknown type 42)");
    CORRUPT("layer from", wr32(b + layers_off + Y5W_LAYER_REC + 8, 5), "layer 1 (input 5 is not an earlier layer)");
    CORRUPT("n_from", wr32(b + layers_off + 4, 9), "layer 0 (9 inputs");
    CORRUPT("name", memset(b + names_off, 'a', 64), "class name 0");
    CORRUPT("tensor layer", wr32(b + tensors_off, 3), "layer 3 out of range");
    CORRUPT("tensor dtype", wr32(b + tensors_off + 4, 9), "unknown dtype 9");
    CORRUPT("tensor ndim", wr32(b + tensors_off + 8, 5), "ndim 5");
    CORRUPT("tensor dim", wr32(b + tensors_off + 16, 0), "dimension 0 is 0");
    CORRUPT("tensor huge dims", (wr32(b + tensors_off + 16, 0x7fffffff), wr32(b + tensors_off + 20, 0x7fffffff)),
            "too large");
    CORRUPT("tensor nbytes", wr64(b + tensors_off + 40, 4), "54 elements");
    /* every layer field for its type (issue 10 defect 2 / issue 14): a valid
     * checksum is no licence for absurd values */
    const uint64_t L0 = layers_off, L1 = layers_off + Y5W_LAYER_REC, L2 = layers_off + 2 * Y5W_LAYER_REC;
    const uint64_t meta = rd64(good + 32);
    CORRUPT("C3 n", (wr32(b + L0, Y5_LAYER_C3), wr32(b + L0 + 60, (uint32_t)-100000000)),
            "layer 0 (C3): repeat count n is -100000000 (expected 0..1024)");
    CORRUPT("C3 shortcut", (wr32(b + L0, Y5_LAYER_C3), wr32(b + L0 + 64, 7)), "layer 0 (C3): shortcut is 7");
    CORRUPT("padding", wr32(b + L0 + 56, 1000000), "layer 0 (Conv): padding is 1000000 (expected 0..2)");
    CORRUPT("kernel", wr32(b + L0 + 48, 0), "layer 0 (Conv): kernel is 0");
    CORRUPT("stride", wr32(b + L0 + 52, (uint32_t)-2), "layer 0 (Conv): stride is -2");
    CORRUPT("channels", wr32(b + L0 + 44, 0x7fffffff), "layer 0 (Conv): c_out is 2147483647");
    CORRUPT("activation", wr32(b + L0 + 72, 9), "layer 0 (Conv): activation is 9");
    CORRUPT("slope", wr32(b + L0 + 76, 0x7fc00000u), "layer 0 (Conv): activation slope is nan");
    CORRUPT("act on upsample", wr32(b + L1 + 72, Y5_ACT_SILU), "layer 1 (Upsample): activation is 1 (expected 0..0)");
    CORRUPT("scale", wr32(b + L1 + 68, 100000), "layer 1 (Upsample): scale is 100000 (expected 1..64)");
    CORRUPT("scale 0", wr32(b + L1 + 68, 0), "layer 1 (Upsample): scale is 0");
    CORRUPT("SPPF even", (wr32(b + L0, Y5_LAYER_SPPF), wr32(b + L0 + 48, 4)), "layer 0 (SPPF): pool kernel is 4");
    CORRUPT("SPP pools", (wr32(b + L0, Y5_LAYER_SPP), wr32(b + L0 + 60, 9)), "layer 0 (SPP): pool count n is 9");
    CORRUPT("SPP kernel", (wr32(b + L0, Y5_LAYER_SPP), wr32(b + L0 + 60, 1), wr32(b + L0 + 80, 1000)),
            "layer 0 (SPP): pool kernel is 1000");
    CORRUPT("anchor NaN", wr32(b + meta + 16, 0x7fc00000u), "layer 2 (Detect): anchor 0 of level 0 has width nan");
    CORRUPT("anchor negative", wr32(b + meta + 20, f2u(-13.0f)), "anchor 0 of level 0 has height -13");
    CORRUPT("anchor inf", wr32(b + meta + 16, 0x7f800000u), "has width inf");
    CORRUPT("stride 0", wr32(b + meta + 528, 0), "layer 2 (Detect): stride of level 0 is 0");
    CORRUPT("stride fraction", wr32(b + meta + 528, f2u(7.5f)), "stride of level 0 is 7.5");
    CORRUPT("levels", wr32(b + meta + 4, 2), "layer 2 (Detect): input count is 1 (expected 2..2)");
    CORRUPT("no anchors", wr32(b + meta + 8, 0), "layer 2 (Detect): anchor count na is 0");
    CORRUPT("head width", wr32(b + L2 + 44, 9), "layer 2 (Detect): c_out is 9 (expected 8..8)");
    CORRUPT("imgsz", wr32(b + meta + 816, 1u << 30), "training size");
    CORRUPT("generation", memset(b + meta + 824, 'g', Y5W_GEN_MAX), "generation text");
    CORRUPT("tensor offset", wr64(b + tensors_off + 32, rd64(good + tensors_off + 32) + 4), "aligned");
    CORRUPT("tensor offset far", wr64(b + tensors_off + 32, (uint64_t)1 << 63), "outside the data region");
    CORRUPT("tensor offset end", wr64(b + tensors_off + 32, n - 64), "outside the data region");
    CORRUPT("tensor name", memset(b + tensors_off + 48, 'x', 64), "bad name");
    CORRUPT("tensor dup", memcpy(b + tensors_off + 112 + 48, "conv.weight\0", 12), "appears twice");
#undef CORRUPT
    (void)rd32;
    free(b);
    free(good);
}

/* Random damage with the checksum recomputed: whatever the reader accepts
 * must be internally consistent; it must never crash. */
T_TEST(y5w_fuzz_structure) {
    size_t n;
    uint8_t *good = small_image(&n);
    T_REQUIRE(good, "small image");
    uint8_t *b = malloc(n);
    uint64_t r = 88172645463325252ull;
    int accepted = 0, iters = getenv("Y5_ASAN") ? 300 : 1500;
    char path[600], err[600];
    snprintf(path, sizeof path, "%s/fz.y5w", t_tmpdir());
    for (int it = 0; it < iters; it++) {
        memcpy(b, good, n);
        int k = 1 + it % 4;
        for (int j = 0; j < k; j++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            size_t at = 32 + (size_t)(r % (it % 2 ? 1200 : n - 32));
            b[at] = (uint8_t)(r >> 40);
        }
        fix_checksum(b, n);
        T_REQUIRE(t_write_file(path, b, n) == 0, "write");
        y5w_file f;
        if (y5w_open(path, &f, err, sizeof err) == 0) {
            accepted++;
            const y5_model_desc *d = &f.desc;
            for (uint32_t i = 0; i < d->n_tensors; i++) {
                const y5_tensor *t = &d->tensors[i];
                const uint8_t *p = t->data;
                T_CHECK(p >= (const uint8_t *)f.map && p + t->nbytes <= (const uint8_t *)f.map + f.map_size,
                        "tensor outside the mapping");
            }
            y5w_close(&f);
        } else {
            T_CHECK(err[0] && !strchr(err, '\n'), "bad message");
        }
    }
    printf("    %d of %d re-checksummed damaged files still valid\n", accepted, iters);
    free(b);
    free(good);
}

/* The same model in the version-1 layout (meta 816 bytes, layer records 72,
 * no activation): built from the v2 bytes, sections moved, checksum fixed. */
static uint8_t *as_v1(const uint8_t *g, size_t n, size_t *out_n) {
    uint64_t meta = rd64(g + 32), lay = rd64(g + 48), nam = rd64(g + 64), ten = rd64(g + 80), dat = rd64(g + 96);
    uint32_t nl = rd32(g + 56), nn = rd32(g + 72), nt = rd32(g + 88);
    uint64_t dsz = rd64(g + 104);
    uint64_t m1 = 128, l1 = m1 + 816, n1 = l1 + (uint64_t)nl * 72, t1 = n1 + (uint64_t)nn * 64;
    uint64_t d1 = (t1 + (uint64_t)nt * 112 + 63) / 64 * 64, size = d1 + dsz;
    uint8_t *b = calloc(1, (size_t)size);
    if (!b || dat + dsz > n) { free(b); return NULL; }
    memcpy(b, g, 128);
    memcpy(b + m1, g + meta, 816);
    for (uint32_t i = 0; i < nl; i++) memcpy(b + l1 + 72 * i, g + lay + (uint64_t)Y5W_LAYER_REC * i, 72);
    memcpy(b + n1, g + nam, (size_t)nn * 64);
    memcpy(b + t1, g + ten, (size_t)nt * 112);
    for (uint32_t i = 0; i < nt; i++) wr64(b + t1 + 112 * i + 32, rd64(g + ten + 112 * i + 32) - dat + d1);
    memcpy(b + d1, g + dat, (size_t)dsz);
    wr32(b + 8, 1);
    wr64(b + 16, size);
    wr64(b + 32, m1);
    wr32(b + 40, 816);
    wr64(b + 48, l1);
    wr32(b + 60, 72);
    wr64(b + 64, n1);
    wr64(b + 80, t1);
    wr64(b + 96, d1);
    fix_checksum(b, (size_t)size);
    *out_n = (size_t)size;
    return b;
}

/* A version-1 file (written before activations were stored) still loads,
 * with SiLU in every conv-bearing layer and nothing in the others. */
T_TEST(y5w_version1_loads_as_silu) {
    size_t n, n1;
    uint8_t *good = small_image(&n);
    T_REQUIRE(good, "small image");
    uint8_t *v1 = as_v1(good, n, &n1);
    T_REQUIRE(v1, "v1 image");
    char path[600], err[600];
    snprintf(path, sizeof path, "%s/v1.y5w", t_tmpdir());
    T_REQUIRE(t_write_file(path, v1, n1) == 0, "write");
    y5w_file f;
    T_REQUIRE(y5w_open(path, &f, err, sizeof err) == 0, "v1 refused: %s", err);
    const y5_model_desc *d = &f.desc;
    T_CHECK(d->version == 1 && d->n_layers == 3 && d->n_tensors == 4 && d->nc == 3, "counts");
    T_CHECK(d->layers[0].act == Y5_ACT_SILU && d->layers[0].act_slope == 0, "Conv act %u", d->layers[0].act);
    T_CHECK(d->layers[1].act == Y5_ACT_NONE && d->layers[2].act == Y5_ACT_NONE, "non-conv layers have an activation");
    T_CHECK(d->imgsz == 0 && d->generation[0] == 0, "v1 has no imgsz/generation");
    T_CHECK(d->layers[0].k == 3 && d->layers[0].p == 1 && d->layers[2].c_out == 8, "fields");
    const y5_tensor *t = y5w_find(d, 2, "m.0.bias");
    T_CHECK(t && t->nbytes == 16, "tensor");
    y5w_close(&f);
    /* the v1 layout read as v2 (or the reverse) is refused, not misread */
    wr32(v1 + 8, 2);
    fix_checksum(v1, n1);
    T_REQUIRE(t_write_file(path, v1, n1) == 0, "write");
    T_CHECK(y5w_open(path, &f, err, sizeof err) != 0 && strstr(err, "corrupt header"), "v1 bytes as v2: '%s'", err);
    free(v1);
    free(good);
}
