/* y5w_read.c - maps a .y5w file and validates every byte of structure before
 * handing out pointers into it (layout: weights/FORMAT.md). Also the checksum
 * (shared with the writer) and the small tensor helpers. */
#include "core/base/errmsg.h"
#include "weights/y5w.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif

/* ---- checksum ---------------------------------------------------------- */

#define SUM_P 0x00000100000001B3ull
#define SUM_BASIS 0xCBF29CE484222325ull

static inline uint64_t ld64le(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

void y5w_sum_init(y5w_sum *s) {
    memset(s, 0, sizeof *s);
    for (int j = 0; j < 4; j++) s->h[j] = SUM_BASIS + (uint64_t)j;
}

static inline void sum_word(y5w_sum *s, uint64_t w) {
    unsigned j = (unsigned)(s->nwords & 3u);
    s->h[j] = (s->h[j] ^ w) * SUM_P;
    s->nwords++;
}

void y5w_sum_update(y5w_sum *s, const void *data, size_t n) {
    const uint8_t *p = data;
    if (s->ncarry) {
        size_t take = 8u - s->ncarry;
        if (take > n) take = n;
        memcpy(s->carry + s->ncarry, p, take);
        s->ncarry += (uint32_t)take;
        p += take;
        n -= take;
        if (s->ncarry < 8) return;
        sum_word(s, ld64le(s->carry));
        s->ncarry = 0;
    }
    while (n >= 8 && (s->nwords & 3u)) {
        sum_word(s, ld64le(p));
        p += 8;
        n -= 8;
    }
    if (n >= 32) {
        uint64_t h0 = s->h[0], h1 = s->h[1], h2 = s->h[2], h3 = s->h[3];
        size_t blocks = n / 32;
        for (size_t b = 0; b < blocks; b++, p += 32) {
            h0 = (h0 ^ ld64le(p)) * SUM_P;
            h1 = (h1 ^ ld64le(p + 8)) * SUM_P;
            h2 = (h2 ^ ld64le(p + 16)) * SUM_P;
            h3 = (h3 ^ ld64le(p + 24)) * SUM_P;
        }
        s->h[0] = h0;
        s->h[1] = h1;
        s->h[2] = h2;
        s->h[3] = h3;
        s->nwords += 4u * (uint64_t)blocks;
        n -= blocks * 32;
    }
    while (n >= 8) {
        sum_word(s, ld64le(p));
        p += 8;
        n -= 8;
    }
    if (n) {
        memcpy(s->carry, p, n);
        s->ncarry = (uint32_t)n;
    }
}

uint64_t y5w_sum_final(y5w_sum *s) {
    if (s->ncarry) {
        memset(s->carry + s->ncarry, 0, 8u - s->ncarry);
        sum_word(s, ld64le(s->carry));
        s->ncarry = 0;
    }
    uint64_t r = SUM_BASIS;
    for (int j = 0; j < 4; j++) r = (r ^ s->h[j]) * SUM_P;
    r ^= r >> 29;
    r *= 0xBF58476D1CE4E5B9ull;
    r ^= r >> 32;
    return r;
}

/* ---- small helpers ------------------------------------------------------ */

size_t y5w_dtype_size(uint32_t dtype) {
    switch (dtype) {
    case Y5_DTYPE_F32: return 4;
    case Y5_DTYPE_F16: return 2;
    default: return 0;
    }
}

uint64_t y5w_numel(const y5_tensor *t) {
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->ndim && i < 4; i++) n *= (uint64_t)(t->shape[i] > 0 ? t->shape[i] : 0);
    return n;
}

const char *y5_layer_type_name(uint32_t type) {
    switch (type) {
    case Y5_LAYER_CONV: return "Conv";
    case Y5_LAYER_C3: return "C3";
    case Y5_LAYER_SPPF: return "SPPF";
    case Y5_LAYER_UPSAMPLE: return "Upsample";
    case Y5_LAYER_CONCAT: return "Concat";
    case Y5_LAYER_DETECT: return "Detect";
    case Y5_LAYER_SPP: return "SPP";
    default: return "unknown";
    }
}

const y5_tensor *y5w_find(const y5_model_desc *d, int layer, const char *name) {
    if (!d || !name) return NULL;
    for (uint32_t i = 0; i < d->n_tensors; i++) {
        const y5_tensor *t = &d->tensors[i];
        if (t->layer == layer && strcmp(t->name, name) == 0) return t;
    }
    return NULL;
}

void y5w_to_f32(const y5_tensor *t, float *dst) {
    uint64_t n = y5w_numel(t);
    const uint8_t *src = t->data;
    if (t->dtype == Y5_DTYPE_F32) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        for (uint64_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, src + 4 * i, 4);
            v = __builtin_bswap32(v);
            memcpy(&dst[i], &v, 4);
        }
#else
        memcpy(dst, src, (size_t)n * 4);
#endif
    } else if (t->dtype == Y5_DTYPE_F16) {
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            dst[i] = y5_half_to_float(h);
        }
    } else {
        memset(dst, 0, (size_t)n * sizeof(float));
    }
}

/* ---- layer fields ------------------------------------------------------ */

/* Bounds of the layer fields. Generous against every YOLOv5 (the largest,
 * yolov5x6, has 1280 channels, C3 n = 12, Detect strides up to 64), tight
 * enough that no value can make the planner overflow or allocate absurdly:
 * what a crafted file with a valid checksum could otherwise do. */
#define MAX_CH (1 << 20)
#define MAX_K 32        /* conv kernel (a Focus stem rewritten: 2 x its kernel) */
#define MAX_POOL_K 127  /* max-pool kernel (SPP(5, 9, 13): 13) */
#define MAX_REPEAT 1024 /* C3 Bottlenecks */
#define MAX_SCALE 64    /* Upsample factor */
#define MAX_STRIDE 1024 /* Detect level stride */

static int field_bad(char *why, size_t n, uint32_t i, const y5_layer *L, const char *field, long long v,
                     const char *expect) {
    snprintf(why, n, "layer %u (%s): %s is %lld (expected %s)", i, y5_layer_type_name(L->type), field, v, expect);
    return -1;
}

#define RANGE(field, v, lo, hi)                                                          \
    do {                                                                                 \
        long long v_ = (v);                                                              \
        if (v_ < (lo) || v_ > (hi)) {                                                    \
            char e_[64];                                                                 \
            snprintf(e_, sizeof e_, "%lld..%lld", (long long)(lo), (long long)(hi));     \
            return field_bad(why, whylen, i, L, field, v_, e_);                          \
        }                                                                                \
    } while (0)

static int uses_convs(uint32_t type) {
    return type == Y5_LAYER_CONV || type == Y5_LAYER_C3 || type == Y5_LAYER_SPPF || type == Y5_LAYER_SPP;
}

int y5w_check_layer(const y5_model_desc *d, uint32_t i, char *why, size_t whylen) {
    const y5_layer *L = &d->layers[i];
    if (L->type < Y5_LAYER_CONV || L->type > Y5_LAYER_TYPE_MAX) {
        snprintf(why, whylen, "layer %u (unknown type %u)", i, L->type);
        return -1;
    }
    RANGE("input count", L->n_from, 1, Y5W_MAX_FROM);
    for (uint32_t j = 0; j < L->n_from; j++) {
        if (L->from[j] < -1 || L->from[j] >= (int32_t)i) {
            snprintf(why, whylen, "layer %u (input %d is not an earlier layer)", i, L->from[j]);
            return -1;
        }
    }
    RANGE("c_in", L->c_in, 1, MAX_CH);
    RANGE("c_out", L->c_out, 1, MAX_CH);
    if (uses_convs(L->type)) {
        RANGE("activation", L->act, 0, Y5_ACT_COUNT - 1);
        if (!isfinite(L->act_slope)) {
            snprintf(why, whylen, "layer %u (%s): activation slope is %g (expected a finite number)", i,
                     y5_layer_type_name(L->type), (double)L->act_slope);
            return -1;
        }
    } else {
        RANGE("activation", L->act, 0, 0);
    }
    if (L->type != Y5_LAYER_CONCAT && L->type != Y5_LAYER_DETECT) RANGE("input count", L->n_from, 1, 1);
    switch (L->type) {
    case Y5_LAYER_CONV:
        RANGE("kernel", L->k, 1, MAX_K);
        RANGE("stride", L->s, 1, MAX_K);
        RANGE("padding", L->p, 0, L->k - 1);
        break;
    case Y5_LAYER_C3:
        RANGE("repeat count n", L->n, 0, MAX_REPEAT);
        RANGE("shortcut", L->shortcut, 0, 1);
        break;
    case Y5_LAYER_SPPF:
        RANGE("pool kernel", L->k, 1, MAX_POOL_K);
        if (L->k % 2 == 0) return field_bad(why, whylen, i, L, "pool kernel", L->k, "an odd size");
        break;
    case Y5_LAYER_SPP:
        RANGE("pool count n", L->n, 1, Y5W_MAX_POOLS);
        for (int j = 0; j < L->n; j++) {
            RANGE("pool kernel", L->pools[j], 1, MAX_POOL_K);
            if (L->pools[j] % 2 == 0) return field_bad(why, whylen, i, L, "pool kernel", L->pools[j], "an odd size");
        }
        break;
    case Y5_LAYER_UPSAMPLE:
        RANGE("scale", L->scale, 1, MAX_SCALE);
        RANGE("c_out", L->c_out, L->c_in, L->c_in);
        break;
    case Y5_LAYER_CONCAT:
        RANGE("c_out", L->c_out, L->c_in, L->c_in);
        break;
    case Y5_LAYER_DETECT: {
        RANGE("level count nl", d->nl, 1, 8);
        RANGE("anchor count na", d->na, 1, 8);
        RANGE("input count", L->n_from, d->nl, d->nl);
        RANGE("c_out", L->c_out, (long long)d->na * (d->nc + 5), (long long)d->na * (d->nc + 5));
        for (uint32_t l = 0; l < d->nl; l++) {
            float st = d->strides[l];
            if (!(st >= 1 && st <= MAX_STRIDE) || st != floorf(st)) {
                snprintf(why, whylen, "layer %u (Detect): stride of level %u is %g (expected an integer 1..%d)", i, l,
                         (double)st, MAX_STRIDE);
                return -1;
            }
            for (uint32_t a = 0; a < 2 * d->na; a++) {
                float v = d->anchors[l][a];
                if (!(isfinite(v) && v > 0)) {
                    snprintf(why, whylen, "layer %u (Detect): anchor %u of level %u has %s %g (expected finite, > 0)",
                             i, a / 2, l, a % 2 ? "height" : "width", (double)v);
                    return -1;
                }
            }
        }
        break;
    }
    default: break;
    }
    return 0;
}
#undef RANGE

int y5w_max_stride(const y5_model_desc *d) {
    int m = 0;
    for (uint32_t l = 0; l < d->nl && l < 8; l++)
        if (d->strides[l] > m && d->strides[l] <= MAX_STRIDE) m = (int)d->strides[l];
    return m > 0 ? m : 32;
}

int y5w_imgsz(const y5_model_desc *d) {
    const int st = y5w_max_stride(d), s = d->imgsz ? (int)d->imgsz : 640;
    return (s + st - 1) / st * st;
}

/* ---- reader ------------------------------------------------------------- */

#define MAX_LAYERS 4096u
#define MAX_TENSORS 1048576u
#define MAX_NC 65536u

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static int32_t rdi32(const uint8_t *p) { return (int32_t)rd32(p); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }
static float rdf32(const uint8_t *p) {
    uint32_t v = rd32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}


/* The section [off, off + count*rec) lies inside the file after the header. */
static int section_ok(uint64_t off, uint64_t count, uint64_t rec, uint64_t size) {
    if (off < Y5W_HEADER_SIZE || off > size) return 0;
    if (count && rec > (UINT64_MAX / count)) return 0;
    return count * rec <= size - off;
}

static int has_nul(const uint8_t *p, size_t n) { return memchr(p, 0, n) != NULL; }

typedef struct {
    int32_t layer;
    const char *name;
    uint32_t idx;
} tkey;

static int tkey_cmp(const void *a, const void *b) {
    const tkey *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int parse(const uint8_t *m, uint64_t size, const char *path, y5_model_desc *d, char *err,
                 size_t errlen) {
    static const char magic[8] = Y5W_MAGIC; /* the 8 bytes, no terminator */
    if (size == 0) return y5_fail_path(err, errlen, path, "empty file (0 bytes)");
    if (size < 8) {
        if (memcmp(m, magic, (size_t)size) == 0)
            return y5_fail_path(err, errlen, path, "truncated (file has %llu bytes, a header needs %u)",
                        (unsigned long long)size, Y5W_HEADER_SIZE);
        return y5_fail_path(err, errlen, path, "not a yolov5c weight file (bad magic)");
    }
    if (memcmp(m, magic, 8) != 0) return y5_fail_path(err, errlen, path, "not a yolov5c weight file (bad magic)");
    if (size < 12)
        return y5_fail_path(err, errlen, path, "truncated (file has %llu bytes, a header needs %u)",
                    (unsigned long long)size, Y5W_HEADER_SIZE);
    uint32_t version = rd32(m + 8);
    if (version != 1 && version != Y5W_VERSION)
        return y5_fail_path(err, errlen, path, "unsupported version %u (this build reads 1 and %u)", version,
                            Y5W_VERSION);
    /* version 1: no activation, pools, imgsz or generation (SiLU everywhere) */
    const uint32_t META = version == 1 ? Y5W_META_SIZE_V1 : Y5W_META_SIZE;
    const uint32_t LREC = version == 1 ? Y5W_LAYER_REC_V1 : Y5W_LAYER_REC;
    d->version = version;
    if (size < Y5W_HEADER_SIZE)
        return y5_fail_path(err, errlen, path, "truncated (file has %llu bytes, a header needs %u)",
                    (unsigned long long)size, Y5W_HEADER_SIZE);

    uint32_t header_size = rd32(m + 12);
    uint64_t file_size = rd64(m + 16);
    uint64_t checksum = rd64(m + 24);
    uint64_t meta_off = rd64(m + 32);
    uint32_t meta_size = rd32(m + 40);
    uint64_t layers_off = rd64(m + 48);
    uint32_t n_layers = rd32(m + 56);
    uint32_t layer_rec = rd32(m + 60);
    uint64_t names_off = rd64(m + 64);
    uint32_t n_names = rd32(m + 72);
    uint32_t name_rec = rd32(m + 76);
    uint64_t tensors_off = rd64(m + 80);
    uint32_t n_tensors = rd32(m + 88);
    uint32_t tensor_rec = rd32(m + 92);
    uint64_t data_off = rd64(m + 96);
    uint64_t data_size = rd64(m + 104);

    if (file_size != size) {
        if (size < file_size)
            return y5_fail_path(err, errlen, path, "truncated (file has %llu bytes, header says %llu)",
                        (unsigned long long)size, (unsigned long long)file_size);
        return y5_fail_path(err, errlen, path, "file has %llu bytes, header says %llu (trailing data)",
                    (unsigned long long)size, (unsigned long long)file_size);
    }

    /* checksum over the whole file with the checksum field as zero */
    {
        uint8_t hdr[Y5W_HEADER_SIZE];
        memcpy(hdr, m, Y5W_HEADER_SIZE);
        memset(hdr + 24, 0, 8);
        y5w_sum s;
        y5w_sum_init(&s);
        y5w_sum_update(&s, hdr, Y5W_HEADER_SIZE);
        y5w_sum_update(&s, m + Y5W_HEADER_SIZE, (size_t)(size - Y5W_HEADER_SIZE));
        if (y5w_sum_final(&s) != checksum) return y5_fail_path(err, errlen, path, "checksum mismatch (file is damaged)");
    }

    if (header_size != Y5W_HEADER_SIZE || meta_size != META || layer_rec != LREC || name_rec != Y5W_NAME_REC ||
        tensor_rec != Y5W_TENSOR_REC)
        return y5_fail_path(err, errlen, path, "corrupt header (record sizes %u/%u/%u/%u/%u, expected %u/%u/%u/%u/%u)",
                    header_size, meta_size, layer_rec, name_rec, tensor_rec, Y5W_HEADER_SIZE, META, LREC,
                    Y5W_NAME_REC, Y5W_TENSOR_REC);
    if (file_size % 8 != 0)
        return y5_fail_path(err, errlen, path, "corrupt header (file size %llu is not a multiple of 8)",
                    (unsigned long long)file_size);

    /* sections */
    if (!section_ok(meta_off, 1, META, size))
        return y5_fail_path(err, errlen, path, "corrupt header (meta section at %llu outside the file)",
                    (unsigned long long)meta_off);
    if (n_layers < 1 || n_layers > MAX_LAYERS)
        return y5_fail_path(err, errlen, path, "corrupt header (%u layers; expected 1..%u)", n_layers, MAX_LAYERS);
    if (!section_ok(layers_off, n_layers, LREC, size))
        return y5_fail_path(err, errlen, path, "corrupt header (layer table at %llu, %u records, outside the file)",
                    (unsigned long long)layers_off, n_layers);
    if (n_names < 1 || n_names > MAX_NC)
        return y5_fail_path(err, errlen, path, "corrupt header (%u class names; expected 1..%u)", n_names, MAX_NC);
    if (!section_ok(names_off, n_names, Y5W_NAME_REC, size))
        return y5_fail_path(err, errlen, path, "corrupt header (class names at %llu, %u records, outside the file)",
                    (unsigned long long)names_off, n_names);
    if (n_tensors > MAX_TENSORS)
        return y5_fail_path(err, errlen, path, "corrupt header (%u tensors; at most %u)", n_tensors, MAX_TENSORS);
    if (!section_ok(tensors_off, n_tensors, Y5W_TENSOR_REC, size))
        return y5_fail_path(err, errlen, path, "corrupt header (tensor table at %llu, %u records, outside the file)",
                    (unsigned long long)tensors_off, n_tensors);
    if (data_off % Y5W_ALIGN != 0 || !section_ok(data_off, 1, data_size, size))
        return y5_fail_path(err, errlen, path, "corrupt header (data region %llu+%llu outside the file or misaligned)",
                    (unsigned long long)data_off, (unsigned long long)data_size);

    /* meta */
    const uint8_t *mt = m + meta_off;
    uint32_t nc = rd32(mt), nl = rd32(mt + 4), na = rd32(mt + 8);
    if (nc != n_names)
        return y5_fail_path(err, errlen, path, "corrupt meta (nc %u but %u class names)", nc, n_names);
    if (nl > 8 || na > 8) return y5_fail_path(err, errlen, path, "corrupt meta (nl %u, na %u; at most 8 each)", nl, na);
    if (!has_nul(mt + 560, 256)) return y5_fail_path(err, errlen, path, "corrupt meta (source text not terminated)");
    d->nc = nc;
    d->nl = nl;
    d->na = na;
    for (int l = 0; l < 8; l++)
        for (int a = 0; a < 16; a++) d->anchors[l][a] = rdf32(mt + 16 + 4 * (16 * l + a));
    for (int l = 0; l < 8; l++) d->strides[l] = rdf32(mt + 528 + 4 * l);
    memcpy(d->source, mt + 560, 256);
    if (version >= 2) {
        d->imgsz = rd32(mt + 816);
        if (d->imgsz > 16384)
            return y5_fail_path(err, errlen, path, "corrupt meta (training size %u; at most 16384)", d->imgsz);
        if (!has_nul(mt + 824, Y5W_GEN_MAX))
            return y5_fail_path(err, errlen, path, "corrupt meta (generation text not terminated)");
        memcpy(d->generation, mt + 824, Y5W_GEN_MAX);
    }

    /* layers */
    d->layers = calloc(n_layers, sizeof *d->layers);
    if (!d->layers) return y5_fail_path(err, errlen, path, "out of memory");
    d->n_layers = n_layers;
    for (uint32_t i = 0; i < n_layers; i++) {
        const uint8_t *r = m + layers_off + (uint64_t)i * LREC;
        y5_layer *L = &d->layers[i];
        L->type = rd32(r);
        L->n_from = rd32(r + 4);
        for (int j = 0; j < Y5W_MAX_FROM; j++) L->from[j] = rdi32(r + 8 + 4 * j);
        L->c_in = rdi32(r + 40);
        L->c_out = rdi32(r + 44);
        L->k = rdi32(r + 48);
        L->s = rdi32(r + 52);
        L->p = rdi32(r + 56);
        L->n = rdi32(r + 60);
        L->shortcut = rdi32(r + 64);
        L->scale = rdi32(r + 68);
        if (version >= 2) {
            L->act = rd32(r + 72);
            L->act_slope = rdf32(r + 76);
            for (int j = 0; j < Y5W_MAX_POOLS; j++) L->pools[j] = rdi32(r + 80 + 4 * j);
        } else if (L->type == Y5_LAYER_CONV || L->type == Y5_LAYER_C3 || L->type == Y5_LAYER_SPPF) {
            L->act = Y5_ACT_SILU; /* the only activation version 1 knew */
        }
        if (L->type < Y5_LAYER_CONV || L->type > Y5_LAYER_TYPE_MAX || (version == 1 && L->type == Y5_LAYER_SPP))
            return y5_fail_path(err, errlen, path, "corrupt layer %u (unknown type %u)", i, L->type);
        if (L->n_from < 1 || L->n_from > Y5W_MAX_FROM)
            return y5_fail_path(err, errlen, path, "corrupt layer %u (%u inputs; expected 1..%d)", i, L->n_from,
                        Y5W_MAX_FROM);
        for (uint32_t j = 0; j < L->n_from; j++)
            if (L->from[j] < -1 || L->from[j] >= (int32_t)i)
                return y5_fail_path(err, errlen, path, "corrupt layer %u (input %d is not an earlier layer)", i,
                            L->from[j]);
        /* every field of the layer for its type: a crafted file with a valid
         * checksum (a C3 of n = -100000000, a padding of a million, NaN
         * anchors) stops here, not in the planner */
        char why[256];
        if (y5w_check_layer(d, i, why, sizeof why) != 0) return y5_fail_path(err, errlen, path, "%s", why);
    }

    /* names */
    d->names = calloc(n_names, sizeof *d->names);
    if (!d->names) return y5_fail_path(err, errlen, path, "out of memory");
    for (uint32_t j = 0; j < n_names; j++) {
        const uint8_t *r = m + names_off + (uint64_t)j * Y5W_NAME_REC;
        if (!has_nul(r, Y5W_NAME_REC))
            return y5_fail_path(err, errlen, path, "corrupt class name %u (not terminated)", j);
        memcpy(d->names[j], r, Y5W_NAME_REC);
    }

    /* tensors */
    if (n_tensors) {
        d->tensors = calloc(n_tensors, sizeof *d->tensors);
        if (!d->tensors) return y5_fail_path(err, errlen, path, "out of memory");
    }
    d->n_tensors = n_tensors;
    for (uint32_t i = 0; i < n_tensors; i++) {
        const uint8_t *r = m + tensors_off + (uint64_t)i * Y5W_TENSOR_REC;
        y5_tensor *t = &d->tensors[i];
        t->layer = rdi32(r);
        t->dtype = rd32(r + 4);
        t->ndim = rd32(r + 8);
        for (int k = 0; k < 4; k++) t->shape[k] = rdi32(r + 16 + 4 * k);
        uint64_t off = rd64(r + 32);
        t->nbytes = rd64(r + 40);
        if (!has_nul(r + 48, Y5W_NAME_MAX) || r[48] == 0)
            return y5_fail_path(err, errlen, path, "corrupt tensor %u (bad name)", i);
        memcpy(t->name, r + 48, Y5W_NAME_MAX);
        if (t->layer < 0 || (uint32_t)t->layer >= n_layers)
            return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (layer %d out of range)", i, t->name, t->layer);
        size_t es = y5w_dtype_size(t->dtype);
        if (!es) return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (unknown dtype %u)", i, t->name, t->dtype);
        if (t->ndim < 1 || t->ndim > 4)
            return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (ndim %u)", i, t->name, t->ndim);
        uint64_t numel = 1;
        for (uint32_t k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 1)
                return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (dimension %u is %d)", i, t->name, k,
                            t->shape[k]);
            if (numel > size / (uint64_t)t->shape[k])
                return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (too large)", i, t->name);
            numel *= (uint64_t)t->shape[k];
        }
        if (numel * es != t->nbytes)
            return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (%llu bytes for %llu elements)", i, t->name,
                        (unsigned long long)t->nbytes, (unsigned long long)numel);
        if (off % Y5W_ALIGN != 0)
            return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (offset %llu not %u-byte aligned)", i, t->name,
                        (unsigned long long)off, Y5W_ALIGN);
        if (off < data_off || off - data_off > data_size || t->nbytes > data_size - (off - data_off))
            return y5_fail_path(err, errlen, path, "corrupt tensor %u '%s' (data %llu+%llu outside the data region)", i,
                        t->name, (unsigned long long)off, (unsigned long long)t->nbytes);
        t->data = m + off;
    }
    if (n_tensors > 1) {
        tkey *keys = malloc((size_t)n_tensors * sizeof *keys);
        if (!keys) return y5_fail_path(err, errlen, path, "out of memory");
        for (uint32_t i = 0; i < n_tensors; i++) {
            keys[i].layer = d->tensors[i].layer;
            keys[i].name = d->tensors[i].name;
            keys[i].idx = i;
        }
        qsort(keys, n_tensors, sizeof *keys, tkey_cmp);
        for (uint32_t i = 1; i < n_tensors; i++) {
            if (tkey_cmp(&keys[i - 1], &keys[i]) == 0) {
                int rc = y5_fail_path(err, errlen, path, "corrupt tensor table (layer %d '%s' appears twice)",
                              keys[i].layer, keys[i].name);
                free(keys);
                return rc;
            }
        }
        free(keys);
    }
    return 0;
}

int y5w_open(const char *path, y5w_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return y5_fail_path(err, errlen, path, "cannot open (%s)", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return y5_fail_path(err, errlen, path, "cannot stat (%s)", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return y5_fail_path(err, errlen, path, "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return y5_fail_path(err, errlen, path, "empty file (0 bytes)");
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return y5_fail_path(err, errlen, path, "cannot map (%s)", strerror(e));
    f->map = map;
    f->map_size = size;
    if (parse(map, size, path, &f->desc, err, errlen) != 0) {
        y5w_close(f);
        return -1;
    }
    return 0;
}

void y5w_close(y5w_file *f) {
    if (!f) return;
    free(f->desc.layers);
    free(f->desc.tensors);
    free(f->desc.names);
    if (f->map && f->map_size) munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}
