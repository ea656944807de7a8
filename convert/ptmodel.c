/* ptmodel.c - yolov5 checkpoint -> y5_model_desc (see ptmodel.h).
 *
 * The checkpoint is a dict whose 'model' (or 'ema') is a pickled nn.Module
 * tree: every module is an object whose BUILD state holds '_modules',
 * '_parameters' and '_buffers' ordered dicts plus its plain attributes.
 * model._modules['model'] is the Sequential of top-level layers; each layer
 * carries 'f' (from), 'i' (index) and 'type'. Tensors are persistent-id
 * storages in the archive's data/<key> entries, rebuilt with an offset and
 * strides, which are honoured here. */
#include "core/base/errmsg.h"
#include "convert/ptmodel.h"

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

#include "convert/pickle.h"

#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif
#include "convert/zip.h"

struct y5_pt {
    char *path;
    void *map;
    size_t map_size;
    y5_zip zip;
    char prefix[256];
    int swap;          /* storages are big-endian */
    pkl_doc *doc;
    pkl_obj *root;
    pkl_obj *ckpt;     /* root dict (NULL when the root is the model itself) */
    pkl_obj *model;
    pkl_obj *layers;   /* the Sequential's _modules dict */
    float *half_tab;   /* all 65536 halves as floats (bulk conversion) */
    uint64_t elems_read; /* elements converted by this build (tensor_f32's budget) */
};

/* One tensor holds at most this many elements (1 GiB as FP32; yolov5x's
 * largest has under 2^24). */
#define Y5_PT_MAX_TENSOR_ELEMS ((uint64_t)1 << 28)

/* ---- errors ---------------------------------------------------------------- */


/* Per-layer context: messages read "PATH: layer N (Type): ...". */
typedef struct {
    y5_pt *pt;
    char *err;
    size_t errlen;
    int layer;
    const char *ltype;
    /* output */
    y5_tensor *t;
    uint32_t nt, cap;
    int fp16;
    /* the layer's activation, from its first Conv; every other Conv of the
     * layer must agree (the .y5w stores one per layer) */
    int act_seen;
    uint32_t act;
    float act_slope;
    char act_where[128];
    /* add_conv: the Conv is a Focus's: rewrite it as a conv on the image */
    int focus;
    /* what the walk saw, for the generation text */
    int saw_focus, saw_spp;
} ctx;

static int cfail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(ctx *c, const char *fmt, ...) {
    if (c->err && c->errlen) {
        int k;
        if (c->layer >= 0 && c->ltype)
            k = snprintf(c->err, c->errlen, "%s: layer %d (%s): ", c->pt->path, c->layer, c->ltype);
        else if (c->layer >= 0)
            k = snprintf(c->err, c->errlen, "%s: layer %d: ", c->pt->path, c->layer);
        else
            k = snprintf(c->err, c->errlen, "%s: ", c->pt->path);
        if (k < 0) k = 0;
        if ((size_t)k < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* "a.b" joined; "" parts are skipped. */
static const char *join(char *buf, size_t n, const char *a, const char *b) {
    if (!a || !*a) snprintf(buf, n, "%s", b);
    else if (!b || !*b) snprintf(buf, n, "%s", a);
    else snprintf(buf, n, "%s.%s", a, b);
    return buf;
}

/* ---- module tree ----------------------------------------------------------- */

static pkl_obj *submodule(const pkl_obj *mod, const char *name) {
    return pkl_dict_get(pkl_attr(mod, "_modules"), name);
}

/* Resolves a dotted module path ("" = mod itself). */
static pkl_obj *module_at(pkl_obj *mod, const char *path) {
    char part[128];
    const char *p = path;
    while (mod && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        mod = submodule(mod, part);
        p += n + (dot ? 1 : 0);
    }
    return mod;
}

/* A parameter or buffer of a module (may be a PKL_NONE for e.g. bias=None). */
static pkl_obj *module_tensor(const pkl_obj *mod, const char *name) {
    pkl_obj *t = pkl_dict_get(pkl_attr(mod, "_parameters"), name);
    if (!t) t = pkl_dict_get(pkl_attr(mod, "_buffers"), name);
    return t;
}

static int is_class(const pkl_obj *o, const char *module, const char *name) { return pkl_is_class(o, module, name); }

/* An int attribute, or a 1/2-element tuple of equal ints (kernel_size...). */
static int attr_int_pair(const pkl_obj *mod, const char *name, int v[2]) {
    const pkl_obj *a = pkl_attr(mod, name);
    int64_t x, y;
    if (pkl_as_int(a, &x)) {
        v[0] = v[1] = (int)x;
        return x >= -1000000 && x <= 1000000;
    }
    if (a && (a->type == PKL_TUPLE || a->type == PKL_LIST) && a->u.seq.n >= 1 && a->u.seq.n <= 2 &&
        pkl_as_int(a->u.seq.v[0], &x) && pkl_as_int(a->u.seq.v[a->u.seq.n - 1], &y)) {
        if (x < -1000000 || x > 1000000 || y < -1000000 || y > 1000000) return 0;
        v[0] = (int)x;
        v[1] = (int)y;
        return 1;
    }
    return 0;
}

/* ---- tensors ---------------------------------------------------------------- */

enum { K_HALF, K_FLOAT, K_DOUBLE, K_BF16, K_LONG, K_INT, K_SHORT, K_BYTE, K_CHAR, K_BOOL, K_UNKNOWN };

static int storage_kind(const char *dtype, size_t *es) {
    static const struct {
        const char *name;
        int kind;
        size_t es;
    } tab[] = {
        {"HalfStorage", K_HALF, 2},   {"FloatStorage", K_FLOAT, 4}, {"DoubleStorage", K_DOUBLE, 8},
        {"BFloat16Storage", K_BF16, 2}, {"LongStorage", K_LONG, 8}, {"IntStorage", K_INT, 4},
        {"ShortStorage", K_SHORT, 2}, {"ByteStorage", K_BYTE, 1},   {"CharStorage", K_CHAR, 1},
        {"BoolStorage", K_BOOL, 1},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(dtype, tab[i].name) == 0) {
            *es = tab[i].es;
            return tab[i].kind;
        }
    }
    *es = 0;
    return K_UNKNOWN;
}

static float elem_to_f32(const uint8_t *p, int kind, int swap) {
    uint8_t b[8];
    size_t es = kind == K_HALF || kind == K_BF16 ? 2 : kind == K_FLOAT ? 4 : 8;
    for (size_t i = 0; i < es; i++) b[i] = swap ? p[es - 1 - i] : p[i];
    switch (kind) {
    case K_HALF: return y5_half_to_float((uint16_t)(b[0] | (b[1] << 8)));
    case K_BF16: {
        uint32_t v = ((uint32_t)b[0] << 16) | ((uint32_t)b[1] << 24);
        float f;
        memcpy(&f, &v, 4);
        return f;
    }
    case K_FLOAT: {
        uint32_t v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
        float f;
        memcpy(&f, &v, 4);
        return f;
    }
    default: {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
        double d;
        memcpy(&d, &v, 8);
        return (float)d;
    }
    }
}

/* Converts a rebuilt tensor to a malloc'd FP32 row-major array. Returns 0, or
 * -1 with the reason in why. */
static int tensor_f32(y5_pt *pt, const pkl_obj *t, float **out, uint64_t *numel_out, char *why, size_t whylen) {
    *out = NULL;
    if (!t || t->type != PKL_TENSOR) {
        snprintf(why, whylen, "is a %s, not a tensor", t ? pkl_type_name(t->type) : "nothing");
        return -1;
    }
    const pkl_obj *st = t->u.tensor.storage;
    size_t es;
    int kind = storage_kind(st->u.storage.dtype, &es);
    if (kind != K_HALF && kind != K_FLOAT && kind != K_DOUBLE && kind != K_BF16) {
        snprintf(why, whylen, "has unsupported storage type %s", st->u.storage.dtype);
        return -1;
    }
    int nd = t->u.tensor.ndim;
    uint64_t numel = 1, extent = 1; /* extent: 1 + highest element index used */
    for (int d = 0; d < nd; d++) {
        uint64_t s = (uint64_t)t->u.tensor.shape[d];
        if (s && numel > ((uint64_t)1 << 40) / s) {
            snprintf(why, whylen, "is too large");
            return -1;
        }
        numel *= s;
    }
    if (numel == 0) {
        snprintf(why, whylen, "is empty");
        return -1;
    }
    for (int d = 0; d < nd; d++) {
        uint64_t s = (uint64_t)t->u.tensor.shape[d], str = (uint64_t)t->u.tensor.stride[d];
        if (str > ((uint64_t)1 << 40) || (s - 1) > ((uint64_t)1 << 40)) {
            snprintf(why, whylen, "has an impossible stride");
            return -1;
        }
        extent += (s - 1) * str;
    }
    uint64_t off = (uint64_t)t->u.tensor.offset;
    char name[300];
    snprintf(name, sizeof name, "%sdata/%s", pt->prefix, st->u.storage.key);
    const y5_zip_entry *e = y5_zip_find(&pt->zip, name);
    if (!e) {
        snprintf(why, whylen, "has its storage '%s' missing from the archive", name);
        return -1;
    }
    const uint8_t *data;
    uint64_t size;
    char zerr[200];
    if (y5_zip_data(&pt->zip, e, &data, &size, zerr, sizeof zerr) != 0) {
        snprintf(why, whylen, "cannot be read: %s", zerr);
        return -1;
    }
    if (off > ((uint64_t)1 << 40) || (off + extent) > size / es) {
        snprintf(why, whylen, "needs elements %llu..%llu of storage '%s', which holds %llu",
                 (unsigned long long)off, (unsigned long long)(off + extent - 1), name,
                 (unsigned long long)(size / es));
        return -1;
    }
    /* What the storage can back: a tensor whose views do not overlap has at
     * most as many elements as its storage; one with more (a stride-0
     * "expanded" view, overlapping strides) would let a small file ask for
     * any amount of memory. Across the build, elements read are bounded by
     * the file's bytes (each stored element takes 2 bytes or more), so
     * storages shared by many tensors cannot multiply it either. */
    if (numel > size / es) {
        snprintf(why, whylen, "has %llu elements but its storage '%s' holds %llu (overlapping or expanded views are "
                 "not supported)", (unsigned long long)numel, name, (unsigned long long)(size / es));
        return -1;
    }
    if (numel > Y5_PT_MAX_TENSOR_ELEMS) {
        snprintf(why, whylen, "is too large (%llu elements)", (unsigned long long)numel);
        return -1;
    }
    if (numel > pt->map_size || pt->elems_read > pt->map_size - numel) {
        snprintf(why, whylen, "takes the elements read from the file past its size (%zu bytes): storages shared by "
                 "many tensors are not supported", pt->map_size);
        return -1;
    }
    pt->elems_read += numel;
    float *o = malloc((size_t)numel * sizeof *o);
    if (!o) {
        snprintf(why, whylen, "is too large (out of memory)");
        return -1;
    }
    /* contiguous? */
    int contig = 1;
    uint64_t want = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (t->u.tensor.shape[d] != 1 && (uint64_t)t->u.tensor.stride[d] != want) contig = 0;
        want *= (uint64_t)t->u.tensor.shape[d];
    }
    const uint8_t *base = data + off * es;
    if (contig) {
        if (kind == K_HALF && !pt->swap && pt->half_tab) {
            const float *tab = pt->half_tab;
            for (uint64_t i = 0; i < numel; i++) o[i] = tab[base[2 * i] | (base[2 * i + 1] << 8)];
        } else if (kind == K_FLOAT && !pt->swap) {
            memcpy(o, base, (size_t)numel * 4);
        } else {
            for (uint64_t i = 0; i < numel; i++) o[i] = elem_to_f32(base + i * es, kind, pt->swap);
        }
    } else {
        int64_t idx[PKL_MAX_DIMS] = {0};
        for (uint64_t i = 0; i < numel; i++) {
            uint64_t src = 0;
            for (int d = 0; d < nd; d++) src += (uint64_t)idx[d] * (uint64_t)t->u.tensor.stride[d];
            o[i] = elem_to_f32(base + src * es, kind, pt->swap);
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < t->u.tensor.shape[d]) break;
                idx[d] = 0;
            }
        }
    }
    *out = o;
    if (numel_out) *numel_out = numel;
    return 0;
}

/* Fetches module.<name> as FP32 with the expected shape (ndim dims in
 * `shape`; -1 = any). `what` is the state_dict path for messages. */
static int get_f32(ctx *c, const pkl_obj *mod, const char *name, const char *what, int ndim, const int64_t *shape,
                   float **out) {
    *out = NULL;
    const pkl_obj *t = module_tensor(mod, name);
    if (!t || t->type == PKL_NONE) return cfail(c, "missing tensor %s", what);
    if (t->type != PKL_TENSOR) return cfail(c, "%s is a %s, not a tensor", what, pkl_type_name(t->type));
    if (t->u.tensor.ndim != ndim) return cfail(c, "tensor %s has %d dims, expected %d", what, t->u.tensor.ndim, ndim);
    for (int d = 0; d < ndim; d++)
        if (shape[d] >= 0 && t->u.tensor.shape[d] != shape[d])
            return cfail(c, "tensor %s has dim %d = %lld, expected %lld", what, d, (long long)t->u.tensor.shape[d],
                         (long long)shape[d]);
    char why[400];
    if (tensor_f32(c->pt, t, out, NULL, why, sizeof why) != 0) return cfail(c, "tensor %s %s", what, why);
    return 0;
}

/* ---- output tensors -------------------------------------------------------- */

/* Adds a tensor (takes ownership of the FP32 data, converting it to FP16 when
 * asked). */
static int emit(ctx *c, const char *name, float *data, int ndim, const int32_t *shape) {
    if (strlen(name) >= Y5W_NAME_MAX) {
        free(data);
        return cfail(c, "tensor name %s too long", name);
    }
    if (c->nt == c->cap) {
        uint32_t nc = c->cap ? c->cap * 2 : 64;
        y5_tensor *nt = realloc(c->t, nc * sizeof *nt);
        if (!nt) {
            free(data);
            return cfail(c, "out of memory");
        }
        c->t = nt;
        c->cap = nc;
    }
    y5_tensor *t = &c->t[c->nt];
    memset(t, 0, sizeof *t);
    t->layer = c->layer;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = (uint32_t)ndim;
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        n *= (uint64_t)shape[d];
    }
    if (c->fp16) {
        uint16_t *h = malloc((size_t)n * 2);
        if (!h) {
            free(data);
            return cfail(c, "out of memory");
        }
        for (uint64_t i = 0; i < n; i++) {
            h[i] = y5_float_to_half(data[i]);
            if (isfinite(data[i]) && (h[i] & 0x7c00u) == 0x7c00u) {
                double v = data[i];
                free(h);
                free(data);
                return cfail(c, "%s: value %g overflows FP16 (convert without --fp16)", name, v);
            }
        }
        free(data);
        t->dtype = Y5_DTYPE_F16;
        t->nbytes = n * 2;
        t->data = h;
    } else {
        t->dtype = Y5_DTYPE_F32;
        t->nbytes = n * 4;
        t->data = data;
    }
    c->nt++;
    return 0;
}

typedef struct {
    int cin, cout, k, s, p;
} convinfo;

/* Conv2d attributes and checks common to every conv. */
static int conv2d_info(ctx *c, const pkl_obj *conv, const char *where, convinfo *ci) {
    if (!is_class(conv, "torch.nn.modules.conv", "Conv2d")) {
        char d[160];
        return cfail(c, "%s is %s, expected torch.nn.modules.conv.Conv2d", where, pkl_describe(conv, d, sizeof d));
    }
    int64_t cin, cout, groups = 1;
    int ks[2], st[2], pd[2], dl[2] = {1, 1};
    if (!pkl_as_int(pkl_attr(conv, "in_channels"), &cin) || !pkl_as_int(pkl_attr(conv, "out_channels"), &cout) ||
        cin < 1 || cout < 1 || cin > 1000000 || cout > 1000000)
        return cfail(c, "%s: bad in_channels/out_channels", where);
    if (!attr_int_pair(conv, "kernel_size", ks) || !attr_int_pair(conv, "stride", st))
        return cfail(c, "%s: bad kernel_size/stride", where);
    if (!attr_int_pair(conv, "padding", pd))
        return cfail(c, "%s: padding must be integers (string padding modes are not supported)", where);
    if (pkl_attr(conv, "dilation") && !attr_int_pair(conv, "dilation", dl))
        return cfail(c, "%s: bad dilation", where);
    if (pkl_attr(conv, "groups") && !pkl_as_int(pkl_attr(conv, "groups"), &groups))
        return cfail(c, "%s: bad groups", where);
    if (groups != 1) return cfail(c, "%s: groups=%lld is not supported (only 1)", where, (long long)groups);
    if (dl[0] != 1 || dl[1] != 1) return cfail(c, "%s: dilation %dx%d is not supported (only 1)", where, dl[0], dl[1]);
    if (ks[0] != ks[1] || st[0] != st[1] || pd[0] != pd[1])
        return cfail(c, "%s: non-square kernel/stride/padding (%dx%d, %dx%d, %dx%d) is not supported", where, ks[0],
                     ks[1], st[0], st[1], pd[0], pd[1]);
    if (ks[0] < 1 || st[0] < 1 || pd[0] < 0) return cfail(c, "%s: bad kernel %d / stride %d / padding %d", where, ks[0], st[0], pd[0]);
    const pkl_obj *tr = pkl_attr(conv, "transposed");
    if (tr && tr->type == PKL_BOOL && tr->u.b) return cfail(c, "%s: transposed convs are not supported", where);
    const pkl_obj *pm = pkl_attr(conv, "padding_mode");
    if (pm && pm->type == PKL_STR && !pkl_str_eq(pm, "zeros"))
        return cfail(c, "%s: padding_mode '%s' is not supported (only zeros)", where, pm->u.str.s);
    ci->cin = (int)cin;
    ci->cout = (int)cout;
    ci->k = ks[0];
    ci->s = st[0];
    ci->p = pd[0];
    return 0;
}

/* The activation module of a Conv -> y5_act_kind (+ LeakyReLU's slope).
 * torch.nn's classes, and the export copies in yolov5's utils.activations
 * (same arithmetic). */
static int act_kind(ctx *c, const pkl_obj *act, const char *where, uint32_t *kind, float *slope) {
    char d[160];
    *slope = 0.0f;
    if (is_class(act, "torch.nn.modules.activation", "SiLU") || is_class(act, "utils.activations", "SiLU")) {
        *kind = Y5_ACT_SILU;
    } else if (is_class(act, "torch.nn.modules.activation", "ReLU")) {
        *kind = Y5_ACT_RELU;
    } else if (is_class(act, "torch.nn.modules.activation", "Hardswish") ||
               is_class(act, "utils.activations", "Hardswish")) {
        *kind = Y5_ACT_HARDSWISH;
    } else if (is_class(act, "torch.nn.modules.linear", "Identity")) {
        *kind = Y5_ACT_NONE;
    } else if (is_class(act, "torch.nn.modules.activation", "LeakyReLU")) {
        /* negative_slope: a Python float in the module's __dict__ (PyTorch's
         * default 0.01 when absent); FP32 as PyTorch computes with it */
        double v = 0.01;
        const pkl_obj *ns = pkl_attr(act, "negative_slope");
        if (ns && !pkl_as_float(ns, &v)) return cfail(c, "%s: negative_slope is not a number", where);
        if (!isfinite(v) || fabs(v) > 1e6) return cfail(c, "%s: negative_slope %g is not usable", where, v);
        *kind = Y5_ACT_LEAKY;
        *slope = (float)v;
    } else {
        return cfail(c, "%s is %s; supported activations: SiLU, ReLU, LeakyReLU, Hardswish, Identity", where,
                     pkl_describe(act, d, sizeof d));
    }
    return 0;
}

/* Focus (YOLOv5 up to v5.0): conv(cat(x[::2, ::2], x[1::2, ::2], x[::2, 1::2],
 * x[1::2, 1::2])) on channels, i.e. block b = dy + 2 dx of the pixel offset
 * (dy, dx) (rows vary first), the image's c channels inside each block.
 * A k x k stride-s padding-p conv on that half-size image reads pixel
 * (2 (s oy - p + ky) + dy, ...) of x: it is exactly a 2k x 2k conv of stride
 * 2s and padding 2p on x with
 *   W6[o, ch, 2 ky + dy, 2 kx + dx] = W3[o, (dy + 2 dx) c + ch, ky, kx]
 * (the image sides are even, as every multiple-of-32 input is, so the
 * padding matches too). w3: cout x 4c x k x k; w6: cout x c x 2k x 2k. */
static void focus_weights(const float *w3, int cout, int c, int k, float *w6) {
    const int k2 = 2 * k;
    for (int o = 0; o < cout; o++)
        for (int b = 0; b < 4; b++) {
            const int dy = b % 2, dx = b / 2;
            for (int ch = 0; ch < c; ch++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        w6[(((size_t)o * c + ch) * k2 + 2 * ky + dy) * k2 + 2 * kx + dx] =
                            w3[(((size_t)o * 4 * c + (size_t)b * c + ch) * k + ky) * k + kx];
        }
}

/* A models.common.Conv at `rel` (path inside the layer, "" for the layer
 * itself): folds conv + bn into outname.weight / outname.bias. */
static int add_conv(ctx *c, const pkl_obj *mod, const char *rel, const char *outname, convinfo *ci) {
    char where[160], what[200], d[160];
    snprintf(where, sizeof where, "%s", *rel ? rel : "the layer");
    if (!mod) return cfail(c, "missing module %s", rel);
    if (!is_class(mod, "models.common", "Conv"))
        return cfail(c, "%s is %s, expected models.common.Conv", where, pkl_describe(mod, d, sizeof d));
    char p_conv[128], p_bn[128], p_act[128];
    join(p_conv, sizeof p_conv, rel, "conv");
    join(p_bn, sizeof p_bn, rel, "bn");
    join(p_act, sizeof p_act, rel, "act");
    const pkl_obj *conv = submodule(mod, "conv"), *bn = submodule(mod, "bn"), *act = submodule(mod, "act");
    if (!conv) return cfail(c, "missing module %s", p_conv);
    if (!act) return cfail(c, "missing module %s", p_act);
    uint32_t ak = Y5_ACT_NONE;
    float aslope = 0.0f;
    if (act_kind(c, act, p_act, &ak, &aslope) != 0) return -1;
    if (!c->act_seen) {
        c->act_seen = 1;
        c->act = ak;
        c->act_slope = aslope;
        snprintf(c->act_where, sizeof c->act_where, "%s", p_act);
    } else if (ak != c->act || aslope != c->act_slope) {
        return cfail(c, "%s is %s(%g) but %s is %s(%g): one activation per layer is supported", p_act,
                     y5_act_name((int)ak), (double)aslope, c->act_where, y5_act_name((int)c->act),
                     (double)c->act_slope);
    }
    if (conv2d_info(c, conv, p_conv, ci) != 0) return -1;
    if (c->focus && ci->cin % 4 != 0)
        return cfail(c, "%s takes %d channels; a Focus conv takes 4 x the image's", p_conv, ci->cin);

    int64_t wshape[4] = {ci->cout, ci->cin, ci->k, ci->k};
    int64_t vshape[1] = {ci->cout};
    float *w = NULL, *cb = NULL, *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    int rc = -1;
    if (get_f32(c, conv, "weight", join(what, sizeof what, p_conv, "weight"), 4, wshape, &w)) goto out;
    const pkl_obj *cbias = module_tensor(conv, "bias");
    if (cbias && cbias->type != PKL_NONE &&
        get_f32(c, conv, "bias", join(what, sizeof what, p_conv, "bias"), 1, vshape, &cb))
        goto out;
    float *b = malloc((size_t)ci->cout * sizeof *b);
    if (!b) {
        cfail(c, "out of memory");
        goto out;
    }
    size_t per = (size_t)ci->cin * (size_t)ci->k * (size_t)ci->k;
    if (bn) {
        if (!is_class(bn, "torch.nn.modules.batchnorm", "BatchNorm2d")) {
            free(b);
            cfail(c, "%s is %s, expected torch.nn.modules.batchnorm.BatchNorm2d", p_bn, pkl_describe(bn, d, sizeof d));
            goto out;
        }
        double eps_d;
        if (!pkl_as_float(pkl_attr(bn, "eps"), &eps_d) || !(eps_d >= 0)) {
            free(b);
            cfail(c, "%s has no eps attribute", p_bn);
            goto out;
        }
        if (get_f32(c, bn, "weight", join(what, sizeof what, p_bn, "weight"), 1, vshape, &g) ||
            get_f32(c, bn, "bias", join(what, sizeof what, p_bn, "bias"), 1, vshape, &beta) ||
            get_f32(c, bn, "running_mean", join(what, sizeof what, p_bn, "running_mean"), 1, vshape, &mean) ||
            get_f32(c, bn, "running_var", join(what, sizeof what, p_bn, "running_var"), 1, vshape, &var)) {
            free(b);
            goto out;
        }
        /* ultralytics fuse_conv_and_bn, in FP32:
         *   scale = gamma / sqrt(eps + var);  W' = scale * W
         *   b'    = scale * b_conv + (beta - gamma * mean / sqrt(var + eps)) */
        const float eps = (float)eps_d;
        for (int o = 0; o < ci->cout; o++) {
            float sd = sqrtf(var[o] + eps);
            float scale = g[o] / sd;
            float bb = beta[o] - (g[o] * mean[o]) / sd;
            b[o] = cb ? scale * cb[o] + bb : bb;
            float *wr = w + (size_t)o * per;
            for (size_t j = 0; j < per; j++) wr[j] = scale * wr[j];
        }
    } else {
        /* an already fused Conv (no bn): the conv's own bias */
        if (!cb) {
            free(b);
            cfail(c, "missing module %s (and %s has no bias)", p_bn, p_conv);
            goto out;
        }
        memcpy(b, cb, (size_t)ci->cout * sizeof *b);
    }
    char nw[Y5W_NAME_MAX + 16], nb[Y5W_NAME_MAX + 16];
    snprintf(nw, sizeof nw, "%s.weight", outname);
    snprintf(nb, sizeof nb, "%s.bias", outname);
    if (c->focus) {
        /* space-to-depth + conv -> one conv on the image (focus_weights) */
        float *w6 = malloc((size_t)ci->cout * (size_t)ci->cin * (size_t)ci->k * (size_t)ci->k * sizeof *w6);
        if (!w6) {
            free(b);
            cfail(c, "out of memory");
            goto out;
        }
        focus_weights(w, ci->cout, ci->cin / 4, ci->k, w6);
        free(w);
        w = w6;
        ci->cin /= 4;
        ci->k *= 2;
        ci->s *= 2;
        ci->p *= 2;
    }
    int32_t ws[4] = {ci->cout, ci->cin, ci->k, ci->k}, bs[1] = {ci->cout};
    float *wout = w;
    w = NULL;
    if (emit(c, nw, wout, 4, ws) != 0) {
        free(b);
        goto out;
    }
    if (emit(c, nb, b, 1, bs) != 0) goto out;
    rc = 0;
out:
    free(w);
    free(cb);
    free(g);
    free(beta);
    free(mean);
    free(var);
    return rc;
}

/* An inner conv the engine runs with stride 1 and 'same' padding. */
static int check_same(ctx *c, const char *what, const convinfo *ci, int must_be_1x1) {
    if (must_be_1x1 && ci->k != 1)
        return cfail(c, "%s is %dx%d; only 1x1 is supported here", what, ci->k, ci->k);
    if (ci->s != 1 || ci->k % 2 == 0 || ci->p != ci->k / 2)
        return cfail(c, "%s has kernel %d stride %d padding %d; only stride 1 with padding k/2 is supported here",
                     what, ci->k, ci->s, ci->p);
    return 0;
}

/* ---- opening --------------------------------------------------------------- */

void y5_pt_close(y5_pt *pt) {
    if (!pt) return;
    pkl_free(pt->doc);
    y5_zip_close(&pt->zip);
    if (pt->map) munmap(pt->map, pt->map_size);
    free(pt->half_tab);
    free(pt->path);
    free(pt);
}

static int is_model_object(const pkl_obj *o) { return o && o->type == PKL_OBJECT; }

static int looks_like_state_dict(const pkl_obj *d) {
    if (!d || d->type != PKL_DICT) return 0;
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const pkl_obj *v = d->u.dict.v[i];
        if (v->type == PKL_TENSOR) return 1;
        if (v->type == PKL_DICT && looks_like_state_dict(v)) return 1; /* {'model': state_dict} */
    }
    return 0;
}

int y5_pt_open(const char *path, y5_pt **out, char *err, size_t errlen) {
    *out = NULL;
    y5_pt *pt = calloc(1, sizeof *pt);
    if (!pt) return y5_fail_path(err, errlen, path, "out of memory");
    pt->path = strdup(path);
    if (!pt->path) {
        free(pt);
        return y5_fail_path(err, errlen, path, "out of memory");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "cannot open (%s)", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "not a regular file");
    }
    if (st.st_size == 0) {
        close(fd);
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "empty file (0 bytes)");
    }
    pt->map_size = (size_t)st.st_size;
    pt->half_tab = malloc(65536 * sizeof *pt->half_tab);
    if (pt->half_tab)
        for (uint32_t h = 0; h < 65536; h++) pt->half_tab[h] = y5_half_to_float((uint16_t)h);
    pt->map = mmap(NULL, pt->map_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (pt->map == MAP_FAILED) {
        int e = errno;
        pt->map = NULL;
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "cannot map (%s)", strerror(e));
    }

    char zerr[300];
    if (y5_zip_open(&pt->zip, pt->map, pt->map_size, zerr, sizeof zerr) != 0) {
        int notzip = strcmp(zerr, "not a zip archive") == 0;
        int y5w = pt->map_size >= 8 && memcmp(pt->map, Y5W_MAGIC, 8) == 0;
        y5_pt_close(pt);
        if (notzip && y5w)
            return y5_fail_path(err, errlen, path, "already a yolov5c weight file (.y5w): use it as it is "
                                "(detect/val/bench --weights, info); convert reads ultralytics .pt checkpoints");
        if (notzip)
            return y5_fail_path(err, errlen, path,
                         "not a zip archive (legacy torch.save format is not supported; re-save with torch>=1.6)");
        return y5_fail_path(err, errlen, path, "%s", zerr);
    }
    if (pt->zip.n == 0) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "not a PyTorch checkpoint (empty zip archive)");
    }
    /* the record prefix: the first entry's name up to its first '/' */
    const y5_zip_entry *first = &pt->zip.entries[0];
    const char *slash = memchr(first->name, '/', first->name_len);
    size_t plen = slash ? (size_t)(slash - first->name) + 1 : 0;
    if (plen >= sizeof pt->prefix - 16) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "not a PyTorch checkpoint (archive folder name too long)");
    }
    memcpy(pt->prefix, first->name, plen);
    pt->prefix[plen] = 0;

    char name[300];
    snprintf(name, sizeof name, "%sdata.pkl", pt->prefix);
    const y5_zip_entry *pe = y5_zip_find(&pt->zip, name);
    if (!pe) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "not a PyTorch checkpoint (no %s in the zip archive)", name);
    }
    const uint8_t *pk;
    uint64_t pklen;
    if (y5_zip_data(&pt->zip, pe, &pk, &pklen, zerr, sizeof zerr) != 0) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "%s", zerr);
    }
    if (y5_zip_crc32(pk, (size_t)pklen) != pe->crc32) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "%s: CRC mismatch (file is damaged)", name);
    }
    snprintf(name, sizeof name, "%sbyteorder", pt->prefix);
    const y5_zip_entry *bo = y5_zip_find(&pt->zip, name);
    if (bo) {
        const uint8_t *b;
        uint64_t bl;
        if (y5_zip_data(&pt->zip, bo, &b, &bl, zerr, sizeof zerr) == 0 && bl >= 3 && memcmp(b, "big", 3) == 0)
            pt->swap = 1;
    }

    if (pkl_load(pk, (size_t)pklen, &pt->doc, &pt->root, zerr, sizeof zerr) != 0) {
        snprintf(name, sizeof name, "%sdata.pkl", pt->prefix);
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "%s: %s", name, zerr);
    }

    /* the model object */
    pkl_obj *model = NULL;
    char d[160];
    if (pt->root->type == PKL_DICT) {
        pt->ckpt = pt->root;
        pkl_obj *ema = pkl_dict_get(pt->root, "ema");
        model = is_model_object(ema) ? ema : pkl_dict_get(pt->root, "model");
        if (!model || !is_model_object(model)) {
            int sd = looks_like_state_dict(pt->root);
            /* the type name before the close: the object lives in the pickle arena */
            const char *mtype = model ? pkl_type_name(model->type) : NULL;
            y5_pt_close(pt);
            if (sd) return y5_fail_path(err, errlen, path, "this is a state_dict, not a yolov5 checkpoint (no 'model' object)");
            if (mtype)
                return y5_fail_path(err, errlen, path, "not a yolov5 checkpoint ('model' is a %s, not a model object)",
                             mtype);
            return y5_fail_path(err, errlen, path, "not a yolov5 checkpoint (no 'model' object)");
        }
    } else if (is_model_object(pt->root)) {
        model = pt->root; /* torch.save(model) */
    } else {
        const char *tn = pkl_type_name(pt->root->type);
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "not a yolov5 checkpoint (the pickle holds a %s)", tn);
    }
    if (!is_class(model, "models.yolo", "DetectionModel") && !is_class(model, "models.yolo", "Model")) {
        pkl_describe(model, d, sizeof d);
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path,
                     "model class %s is not supported (expected models.yolo.DetectionModel or models.yolo.Model)", d);
    }
    pt->model = model;
    pkl_obj *seq = submodule(model, "model");
    if (!seq || !is_class(seq, "torch.nn.modules.container", "Sequential")) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "model has no 'model' Sequential of layers");
    }
    pt->layers = pkl_attr(seq, "_modules");
    if (!pt->layers || pt->layers->type != PKL_DICT || pt->layers->u.dict.n == 0) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "model.model has no layers");
    }
    if (pt->layers->u.dict.n > 4096) {
        y5_pt_close(pt);
        return y5_fail_path(err, errlen, path, "model.model has too many layers (%zu)", pt->layers->u.dict.n);
    }
    *out = pt;
    return 0;
}

int y5_pt_n_layers(const y5_pt *pt) { return pt && pt->layers ? (int)pt->layers->u.dict.n : 0; }

static pkl_obj *layer_obj(const y5_pt *pt, int i) {
    if (!pt || i < 0 || (size_t)i >= pt->layers->u.dict.n) return NULL;
    return pt->layers->u.dict.v[i];
}

/* ---- per-layer conversion ---------------------------------------------------- */

typedef struct {
    int32_t *ch;    /* output channels per layer; ch[-1] (index 0 here) = input */
} chans;

static int layer_from(ctx *c, const pkl_obj *L, int i, y5_layer *out) {
    const pkl_obj *f = pkl_attr(L, "f");
    int64_t v[Y5W_MAX_FROM];
    int n = 0;
    int64_t x;
    if (pkl_as_int(f, &x)) {
        v[n++] = x;
    } else if (f && (f->type == PKL_LIST || f->type == PKL_TUPLE)) {
        if (f->u.seq.n < 1 || f->u.seq.n > Y5W_MAX_FROM)
            return cfail(c, "'f' lists %zu inputs (1..%d supported)", f->u.seq.n, Y5W_MAX_FROM);
        for (size_t k = 0; k < f->u.seq.n; k++) {
            if (!pkl_as_int(f->u.seq.v[k], &x)) return cfail(c, "'f' holds a non-integer");
            v[n++] = x;
        }
    } else {
        return cfail(c, "no 'f' (from) attribute");
    }
    out->n_from = (uint32_t)n;
    for (int k = 0; k < n; k++) {
        int64_t a = v[k] < 0 ? i + v[k] : v[k]; /* y[j] with python's negative indexing; -1 = previous */
        if (a >= i || a < -1 || (a == -1 && !(i == 0 && v[k] == -1)))
            return cfail(c, "input %lld does not refer to an earlier layer", (long long)v[k]);
        out->from[k] = (int32_t)a;
    }
    return 0;
}

static int in_ch(const chans *ch, int32_t from) { return ch->ch[from + 1]; }

static int do_conv_layer(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    convinfo ci;
    if (add_conv(c, L, "", "conv", &ci) != 0) return -1;
    if (ci.cin != in_ch(ch, y->from[0]))
        return cfail(c, "conv expects %d input channels but its input has %d", ci.cin, in_ch(ch, y->from[0]));
    y->c_in = ci.cin;
    y->c_out = ci.cout;
    y->k = ci.k;
    y->s = ci.s;
    y->p = ci.p;
    return 0;
}

/* models.common.Focus -> a Conv layer (focus_weights: exact). */
static int do_focus(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    convinfo ci;
    c->focus = 1;
    int rc = add_conv(c, submodule(L, "conv"), "conv", "conv", &ci);
    c->focus = 0;
    if (rc != 0) return -1;
    if (ci.cin != in_ch(ch, y->from[0]))
        return cfail(c, "conv expects 4 x %d input channels but its input has %d", ci.cin, in_ch(ch, y->from[0]));
    y->c_in = ci.cin;
    y->c_out = ci.cout;
    y->k = ci.k;
    y->s = ci.s;
    y->p = ci.p;
    c->saw_focus = 1;
    return 0;
}

static int do_c3(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    convinfo c1, c2, c3, b1, b2;
    char d[160];
    if (add_conv(c, submodule(L, "cv1"), "cv1", "cv1", &c1) || check_same(c, "cv1", &c1, 1)) return -1;
    if (add_conv(c, submodule(L, "cv2"), "cv2", "cv2", &c2) || check_same(c, "cv2", &c2, 1)) return -1;
    if (add_conv(c, submodule(L, "cv3"), "cv3", "cv3", &c3) || check_same(c, "cv3", &c3, 1)) return -1;
    int cin = in_ch(ch, y->from[0]);
    if (c1.cin != cin || c2.cin != cin)
        return cfail(c, "cv1/cv2 expect %d/%d input channels but the input has %d", c1.cin, c2.cin, cin);
    if (c1.cout != c2.cout || c3.cin != c1.cout + c2.cout)
        return cfail(c, "channel mismatch: cv1 -> %d, cv2 -> %d, cv3 takes %d", c1.cout, c2.cout, c3.cin);
    const pkl_obj *m = submodule(L, "m");
    if (!m) return cfail(c, "missing module m");
    const pkl_obj *mm = pkl_attr(m, "_modules");
    if (!mm || mm->type != PKL_DICT) return cfail(c, "m is %s without submodules", pkl_describe(m, d, sizeof d));
    int n = (int)mm->u.dict.n, shortcut = -1;
    for (int j = 0; j < n; j++) {
        const pkl_obj *b = mm->u.dict.v[j];
        char rel[64], r1[80], r2[80], o1[80], o2[80];
        snprintf(rel, sizeof rel, "m.%d", j);
        if (!pkl_str_eq(mm->u.dict.k[j], rel + 2)) return cfail(c, "m's submodules are not numbered 0..%d", n - 1);
        if (!is_class(b, "models.common", "Bottleneck"))
            return cfail(c, "%s is %s, expected models.common.Bottleneck", rel, pkl_describe(b, d, sizeof d));
        const pkl_obj *add = pkl_attr(b, "add");
        if (!add || add->type != PKL_BOOL) return cfail(c, "%s has no boolean 'add' attribute", rel);
        if (shortcut >= 0 && shortcut != add->u.b)
            return cfail(c, "Bottlenecks disagree on the shortcut ('add')");
        shortcut = add->u.b;
        snprintf(r1, sizeof r1, "%s.cv1", rel);
        snprintf(r2, sizeof r2, "%s.cv2", rel);
        snprintf(o1, sizeof o1, "%s.cv1", rel);
        snprintf(o2, sizeof o2, "%s.cv2", rel);
        if (add_conv(c, submodule(b, "cv1"), r1, o1, &b1) || check_same(c, r1, &b1, 1)) return -1;
        if (add_conv(c, submodule(b, "cv2"), r2, o2, &b2) || check_same(c, r2, &b2, 0)) return -1;
        if (b1.cin != c1.cout || b1.cout != b2.cin || b2.cout != c1.cout)
            return cfail(c, "%s channels %d -> %d -> %d do not match cv1's %d", rel, b1.cin, b1.cout, b2.cout,
                         c1.cout);
    }
    y->c_in = cin;
    y->c_out = c3.cout;
    y->n = n;
    y->shortcut = shortcut > 0;
    return 0;
}

/* A MaxPool2d the engine runs: odd kernel, stride 1, padding k/2. */
static int pool_kernel(ctx *c, const pkl_obj *m, const char *what, int *k) {
    char d[160];
    if (!is_class(m, "torch.nn.modules.pooling", "MaxPool2d"))
        return cfail(c, "%s is %s, expected torch.nn.modules.pooling.MaxPool2d", what, pkl_describe(m, d, sizeof d));
    int ks[2], st[2], pd[2], dl[2] = {1, 1};
    if (!attr_int_pair(m, "kernel_size", ks) || !attr_int_pair(m, "stride", st) || !attr_int_pair(m, "padding", pd))
        return cfail(c, "%s: bad kernel_size/stride/padding", what);
    if (pkl_attr(m, "dilation") && !attr_int_pair(m, "dilation", dl)) return cfail(c, "%s: bad dilation", what);
    const pkl_obj *ceil = pkl_attr(m, "ceil_mode");
    if (ks[0] != ks[1] || ks[0] < 1 || ks[0] > 127 || ks[0] % 2 == 0 || st[0] != 1 || st[1] != 1 ||
        pd[0] != ks[0] / 2 || pd[1] != ks[0] / 2 || dl[0] != 1 || dl[1] != 1 ||
        (ceil && ceil->type == PKL_BOOL && ceil->u.b))
        return cfail(c, "%s: max pool kernel %dx%d stride %d padding %d; only odd k up to 127, stride 1, padding k/2 "
                     "supported", what, ks[0], ks[1], st[0], pd[0]);
    *k = ks[0];
    return 0;
}

static int do_sppf(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    convinfo c1, c2;
    if (add_conv(c, submodule(L, "cv1"), "cv1", "cv1", &c1) || check_same(c, "cv1", &c1, 1)) return -1;
    if (add_conv(c, submodule(L, "cv2"), "cv2", "cv2", &c2) || check_same(c, "cv2", &c2, 1)) return -1;
    int cin = in_ch(ch, y->from[0]);
    if (c1.cin != cin) return cfail(c, "cv1 expects %d input channels but the input has %d", c1.cin, cin);
    if (c2.cin != 4 * c1.cout) return cfail(c, "cv2 takes %d channels, expected 4 x %d", c2.cin, c1.cout);
    if (pool_kernel(c, submodule(L, "m"), "m", &y->k)) return -1;
    y->c_in = cin;
    y->c_out = c2.cout;
    return 0;
}

/* models.common.SPP (YOLOv5 up to v5.0): cv1, parallel max pools m[j],
 * cv2 on cat(x, pools). Max pools compose (pool_a(pool_b) = pool_{a+b-1},
 * stride 1, -inf padding), so SPP(k, 2k-1, 3k-2) - the default (5, 9, 13) -
 * is exactly SPPF(k) and is written as one; other kernels keep their own
 * layer type (layers/spp.c, parallel pools). */
static int do_spp(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    convinfo c1, c2;
    char d[160];
    if (add_conv(c, submodule(L, "cv1"), "cv1", "cv1", &c1) || check_same(c, "cv1", &c1, 1)) return -1;
    if (add_conv(c, submodule(L, "cv2"), "cv2", "cv2", &c2) || check_same(c, "cv2", &c2, 1)) return -1;
    int cin = in_ch(ch, y->from[0]);
    if (c1.cin != cin) return cfail(c, "cv1 expects %d input channels but the input has %d", c1.cin, cin);
    const pkl_obj *m = submodule(L, "m");
    const pkl_obj *mm = pkl_attr(m, "_modules");
    if (!mm || mm->type != PKL_DICT)
        return cfail(c, "m is %s, expected a ModuleList of MaxPool2d", m ? pkl_describe(m, d, sizeof d) : "missing");
    int n = (int)mm->u.dict.n;
    if (n < 1 || n > Y5W_MAX_POOLS) return cfail(c, "%d max pools (1..%d supported)", n, Y5W_MAX_POOLS);
    int ks[Y5W_MAX_POOLS];
    for (int j = 0; j < n; j++) {
        char what[32];
        snprintf(what, sizeof what, "m.%d", j);
        if (pool_kernel(c, mm->u.dict.v[j], what, &ks[j]) != 0) return -1;
    }
    if (c2.cin != (n + 1) * c1.cout)
        return cfail(c, "cv2 takes %d channels, expected %d x %d", c2.cin, n + 1, c1.cout);
    y->c_in = cin;
    y->c_out = c2.cout;
    if (n == 3 && ks[1] == 2 * ks[0] - 1 && ks[2] == 3 * ks[0] - 2) {
        y->type = Y5_LAYER_SPPF; /* same tensors (cv1, cv2), same values */
        y->k = ks[0];
    } else {
        y->type = Y5_LAYER_SPP;
        y->n = n;
        for (int j = 0; j < n; j++) y->pools[j] = ks[j];
    }
    c->saw_spp = 1;
    return 0;
}

static int do_upsample(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    const pkl_obj *mode = pkl_attr(L, "mode");
    if (!pkl_str_eq(mode, "nearest"))
        return cfail(c, "mode %s is not supported (only nearest)",
                     mode && mode->type == PKL_STR ? mode->u.str.s : "(missing)");
    const pkl_obj *sf = pkl_attr(L, "scale_factor");
    double s = 0, s2;
    if (sf && (sf->type == PKL_TUPLE || sf->type == PKL_LIST) && sf->u.seq.n >= 1) {
        if (!pkl_as_float(sf->u.seq.v[0], &s)) s = 0;
        for (size_t k = 1; k < sf->u.seq.n; k++)
            if (!pkl_as_float(sf->u.seq.v[k], &s2) || s2 != s) s = 0;
    } else if (!pkl_as_float(sf, &s)) {
        return cfail(c, "no scale_factor (a fixed output size is not supported)");
    }
    if (!(s >= 1 && s <= 64) || s != floor(s)) return cfail(c, "scale_factor %g is not a positive integer", s);
    y->scale = (int32_t)s;
    y->c_in = y->c_out = in_ch(ch, y->from[0]);
    return 0;
}

static int do_concat(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch) {
    int64_t dim;
    if (!pkl_as_int(pkl_attr(L, "d"), &dim)) return cfail(c, "no 'd' (dimension) attribute");
    if (dim != 1) return cfail(c, "concatenation along dimension %lld is not supported (only 1, channels)", (long long)dim);
    int64_t sum = 0;
    for (uint32_t k = 0; k < y->n_from; k++) sum += in_ch(ch, y->from[k]);
    if (sum > 1000000) return cfail(c, "too many channels");
    y->c_in = y->c_out = (int32_t)sum;
    return 0;
}

static int tensor_small_f32(ctx *c, const pkl_obj *t, const char *what, float *dst, uint64_t want) {
    float *v;
    uint64_t n;
    char why[400];
    if (!t) return cfail(c, "missing tensor %s", what);
    if (tensor_f32(c->pt, t, &v, &n, why, sizeof why) != 0) return cfail(c, "%s %s", what, why);
    if (n != want) {
        free(v);
        return cfail(c, "%s has %llu elements, expected %llu", what, (unsigned long long)n, (unsigned long long)want);
    }
    memcpy(dst, v, (size_t)n * sizeof *v);
    free(v);
    return 0;
}

static int do_detect(ctx *c, const pkl_obj *L, y5_layer *y, const chans *ch, y5_model_desc *desc) {
    int64_t nc, na, nl, no;
    if (!pkl_as_int(pkl_attr(L, "nc"), &nc) || !pkl_as_int(pkl_attr(L, "na"), &na) ||
        !pkl_as_int(pkl_attr(L, "nl"), &nl))
        return cfail(c, "missing nc/na/nl attributes");
    if (nc < 1 || nc > 65536) return cfail(c, "nc %lld out of range (1..65536)", (long long)nc);
    if (na < 1 || na > 8 || nl < 1 || nl > 8)
        return cfail(c, "na %lld / nl %lld out of range (1..8 each)", (long long)na, (long long)nl);
    if (pkl_as_int(pkl_attr(L, "no"), &no) && no != nc + 5)
        return cfail(c, "no = %lld, expected nc + 5 = %lld", (long long)no, (long long)(nc + 5));
    if ((int64_t)y->n_from != nl) return cfail(c, "%u inputs for %lld levels", y->n_from, (long long)nl);
    const pkl_obj *m = submodule(L, "m");
    const pkl_obj *mm = pkl_attr(m, "_modules");
    if (!mm || mm->type != PKL_DICT || (int64_t)mm->u.dict.n != nl)
        return cfail(c, "m must hold %lld convs", (long long)nl);
    int cout = (int)(na * (nc + 5));
    for (int l = 0; l < (int)nl; l++) {
        const pkl_obj *conv = mm->u.dict.v[l];
        char rel[32], what[64];
        snprintf(rel, sizeof rel, "m.%d", l);
        convinfo ci;
        if (conv2d_info(c, conv, rel, &ci) != 0) return -1;
        if (ci.k != 1 || ci.s != 1 || ci.p != 0)
            return cfail(c, "%s is %dx%d stride %d padding %d; expected a 1x1 conv", rel, ci.k, ci.k, ci.s, ci.p);
        if (ci.cout != cout) return cfail(c, "%s has %d outputs, expected na*(nc+5) = %d", rel, ci.cout, cout);
        if (ci.cin != in_ch(ch, y->from[l]))
            return cfail(c, "%s expects %d input channels but its input has %d", rel, ci.cin, in_ch(ch, y->from[l]));
        int64_t ws[4] = {cout, ci.cin, 1, 1}, bs[1] = {cout};
        float *w, *b;
        snprintf(what, sizeof what, "%s.weight", rel);
        if (get_f32(c, conv, "weight", what, 4, ws, &w)) return -1;
        snprintf(what, sizeof what, "%s.bias", rel);
        if (get_f32(c, conv, "bias", what, 1, bs, &b)) {
            free(w);
            return -1;
        }
        int32_t ows[4] = {cout, ci.cin, 1, 1}, obs[1] = {cout};
        snprintf(what, sizeof what, "%s.weight", rel);
        if (emit(c, what, w, 4, ows)) {
            free(b);
            return -1;
        }
        snprintf(what, sizeof what, "%s.bias", rel);
        if (emit(c, what, b, 1, obs)) return -1;
    }
    /* strides: Detect.stride, else model.stride */
    float strides[8] = {0}, anchors[8 * 8 * 2];
    const pkl_obj *st = pkl_attr(L, "stride");
    if (!st || st->type != PKL_TENSOR) st = pkl_attr(c->pt->model, "stride");
    if (!st || st->type != PKL_TENSOR) return cfail(c, "no stride tensor (model was never initialised)");
    if (tensor_small_f32(c, st, "stride", strides, (uint64_t)nl)) return -1;
    const pkl_obj *an = module_tensor(L, "anchors");
    if (!an || an->type != PKL_TENSOR) return cfail(c, "missing tensor anchors");
    if (an->u.tensor.ndim != 3 || an->u.tensor.shape[0] != nl || an->u.tensor.shape[1] != na ||
        an->u.tensor.shape[2] != 2)
        return cfail(c, "anchors tensor is not (nl, na, 2) = (%lld, %lld, 2)", (long long)nl, (long long)na);
    if (tensor_small_f32(c, an, "anchors", anchors, (uint64_t)(nl * na * 2))) return -1;
    desc->nc = (uint32_t)nc;
    desc->nl = (uint32_t)nl;
    desc->na = (uint32_t)na;
    memset(desc->anchors, 0, sizeof desc->anchors);
    memset(desc->strides, 0, sizeof desc->strides);
    for (int l = 0; l < (int)nl; l++) {
        if (!(strides[l] > 0) || !isfinite(strides[l])) return cfail(c, "stride %d is %g", l, (double)strides[l]);
        desc->strides[l] = strides[l];
        for (int a = 0; a < (int)na; a++) {
            desc->anchors[l][2 * a] = anchors[(l * na + a) * 2] * strides[l];
            desc->anchors[l][2 * a + 1] = anchors[(l * na + a) * 2 + 1] * strides[l];
        }
    }
    y->c_in = in_ch(ch, y->from[0]);
    y->c_out = cout;
    return 0;
}

/* ---- names, source ------------------------------------------------------------ */

static void copy_name(char dst[Y5W_NAME_MAX], const char *s, size_t n) {
    if (n > Y5W_NAME_MAX - 1) {
        n = Y5W_NAME_MAX - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0u) == 0x80u) n--; /* keep UTF-8 whole */
    }
    memcpy(dst, s, n);
    dst[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (dst[i] == 0 || dst[i] == '\n' || dst[i] == '\r') dst[i] = ' ';
}

static int build_names(y5_pt *pt, y5_model_desc *desc, char *err, size_t errlen) {
    uint32_t nc = desc->nc;
    desc->names = calloc(nc, sizeof *desc->names);
    if (!desc->names) return y5_fail_path(err, errlen, pt->path, "out of memory");
    const pkl_obj *names = pkl_attr(pt->model, "names");
    if (!names || names->type == PKL_NONE) {
        for (uint32_t j = 0; j < nc; j++) snprintf(desc->names[j], Y5W_NAME_MAX, "class%u", j);
        return 0;
    }
    size_t n = names->type == PKL_DICT ? names->u.dict.n
               : (names->type == PKL_LIST || names->type == PKL_TUPLE) ? names->u.seq.n : (size_t)-1;
    if (n == (size_t)-1) return y5_fail_path(err, errlen, pt->path, "model.names is a %s, not a list or dict", pkl_type_name(names->type));
    if (n != nc) return y5_fail_path(err, errlen, pt->path, "model.names has %zu entries but Detect has nc = %u", n, nc);
    for (uint32_t j = 0; j < nc; j++) {
        const pkl_obj *s = names->type == PKL_DICT ? pkl_dict_get_int(names, j) : names->u.seq.v[j];
        if (!s || s->type != PKL_STR)
            return y5_fail_path(err, errlen, pt->path, "model.names[%u] is %s", j, s ? pkl_type_name(s->type) : "missing");
        copy_name(desc->names[j], s->u.str.s, s->u.str.len);
    }
    return 0;
}

static void build_source(y5_pt *pt, y5_model_desc *desc) {
    const char *base = strrchr(pt->path, '/');
    base = base ? base + 1 : pt->path;
    char cls[128];
    pkl_describe(pt->model, cls, sizeof cls);
    const pkl_obj *yf = pkl_attr(pt->model, "yaml_file");
    const pkl_obj *date = pkl_dict_get(pt->ckpt, "date");
    snprintf(desc->source, sizeof desc->source, "%s; %s%s%s%s%s", base, cls,
             yf && yf->type == PKL_STR ? "; " : "", yf && yf->type == PKL_STR ? yf->u.str.s : "",
             date && date->type == PKL_STR ? "; saved " : "", date && date->type == PKL_STR ? date->u.str.s : "");
}

/* Which YOLOv5 code wrote the checkpoint, from what it holds (checkpoints
 * record no version): models.yolo.DetectionModel appeared in v6.2; before
 * it, models.yolo.Model with the v6.0 stem (6x6 conv, SPPF) is v6.0/v6.1,
 * and with a Focus stem v4.0-v5.0 (C3 came in v4.0; v3.x's BottleneckCSP is
 * not supported). */
static void build_generation(y5_pt *pt, const ctx *c, y5_model_desc *desc) {
    const char *g;
    if (is_class(pt->model, "models.yolo", "DetectionModel")) g = "v6.2+ (DetectionModel)";
    else if (c->saw_focus) g = c->saw_spp ? "v4.0-v5.0 (Model, Focus, SPP)" : "v4.0-v5.0 (Model, Focus)";
    else g = c->saw_spp ? "v6.0-v6.1 (Model, SPP)" : "v6.0-v6.1 (Model)";
    snprintf(desc->generation, sizeof desc->generation, "%s", g);
}

/* The training image size, when the checkpoint records it: train.py's
 * options under 'opt' ('imgsz' from v6.0 on, 'img_size' [train, test]
 * before). 0 when absent (release files stripped of 'opt'). */
static uint32_t train_imgsz(y5_pt *pt) {
    const pkl_obj *opt = pkl_dict_get(pt->ckpt, "opt");
    if (!opt || opt->type != PKL_DICT) return 0;
    const pkl_obj *v = pkl_dict_get(opt, "imgsz");
    if (!v) v = pkl_dict_get(opt, "img_size");
    if (v && (v->type == PKL_LIST || v->type == PKL_TUPLE)) v = v->u.seq.n ? v->u.seq.v[0] : NULL;
    int64_t x;
    if (!pkl_as_int(v, &x) || x < 32 || x > 16384) return 0;
    return (uint32_t)x;
}

/* ---- build ----------------------------------------------------------------------- */

void y5_pt_desc_free(y5_model_desc *desc) {
    if (!desc) return;
    for (uint32_t i = 0; i < desc->n_tensors; i++) free((void *)(uintptr_t)desc->tensors[i].data);
    free(desc->tensors);
    free(desc->layers);
    free(desc->names);
    memset(desc, 0, sizeof *desc);
}

int y5_pt_build(y5_pt *pt, int fp16, y5_model_desc *desc, char *err, size_t errlen) {
    memset(desc, 0, sizeof *desc);
    pt->elems_read = 0;
    int n = y5_pt_n_layers(pt);
    ctx c = {.pt = pt, .err = err, .errlen = errlen, .layer = -1, .fp16 = fp16};
    chans ch = {0};
    desc->layers = calloc((size_t)n, sizeof *desc->layers);
    ch.ch = calloc((size_t)n + 1, sizeof *ch.ch);
    if (!desc->layers || !ch.ch) {
        free(ch.ch);
        y5_pt_desc_free(desc);
        return y5_fail_path(err, errlen, pt->path, "out of memory");
    }
    desc->n_layers = (uint32_t)n;
    ch.ch[0] = 3; /* network input: RGB, or what layer 0's conv expects */
    int detect_at = -1, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const pkl_obj *L = layer_obj(pt, i);
        y5_layer *y = &desc->layers[i];
        char cls[160];
        c.layer = i;
        c.ltype = NULL;
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        if (!pkl_str_eq(pt->layers->u.dict.k[i], want)) {
            rc = cfail(&c, "model.model's layers are not numbered 0..%d", n - 1);
            break;
        }
        pkl_describe(L, cls, sizeof cls);
        int kind = 0; /* 1: Focus, 2: SPP (rewritten onto the layer types below) */
        if (is_class(L, "models.common", "Conv")) {
            y->type = Y5_LAYER_CONV;
        } else if (is_class(L, "models.common", "Focus")) {
            y->type = Y5_LAYER_CONV;
            kind = 1;
        } else if (is_class(L, "models.common", "SPP")) {
            y->type = Y5_LAYER_SPP; /* or SPPF: do_spp decides */
            kind = 2;
        } else if (is_class(L, "models.common", "C3")) {
            y->type = Y5_LAYER_C3;
        } else if (is_class(L, "models.common", "SPPF")) {
            y->type = Y5_LAYER_SPPF;
        } else if (is_class(L, "torch.nn.modules.upsampling", "Upsample")) {
            y->type = Y5_LAYER_UPSAMPLE;
        } else if (is_class(L, "models.common", "Concat")) {
            y->type = Y5_LAYER_CONCAT;
        } else if (is_class(L, "models.yolo", "Detect")) {
            y->type = Y5_LAYER_DETECT;
        } else {
            rc = cfail(&c, "unknown module type %s", cls);
            break;
        }
        c.ltype = kind == 1 ? "Focus" : y5_layer_type_name(y->type);
        c.act_seen = 0;
        int64_t idx;
        if (pkl_as_int(pkl_attr(L, "i"), &idx) && idx != i) {
            rc = cfail(&c, "its 'i' attribute says %lld", (long long)idx);
            break;
        }
        if (detect_at >= 0) {
            rc = cfail(&c, "layers after Detect are not supported");
            break;
        }
        if (layer_from(&c, L, i, y) != 0) {
            rc = -1;
            break;
        }
        if (i == 0 && y->type == Y5_LAYER_CONV) {
            /* the network input has as many channels as the first conv takes */
            const pkl_obj *conv = submodule(L, "conv");
            int64_t cin;
            if (pkl_as_int(pkl_attr(conv, "in_channels"), &cin) && cin >= 1 && cin <= 1000000) ch.ch[0] = (int32_t)cin;
        }
        switch (y->type) {
        case Y5_LAYER_CONV: rc = kind == 1 ? do_focus(&c, L, y, &ch) : do_conv_layer(&c, L, y, &ch); break;
        case Y5_LAYER_SPP: rc = do_spp(&c, L, y, &ch); break;
        case Y5_LAYER_C3: rc = do_c3(&c, L, y, &ch); break;
        case Y5_LAYER_SPPF: rc = do_sppf(&c, L, y, &ch); break;
        case Y5_LAYER_UPSAMPLE: rc = do_upsample(&c, L, y, &ch); break;
        case Y5_LAYER_CONCAT: rc = do_concat(&c, L, y, &ch); break;
        case Y5_LAYER_DETECT:
            rc = do_detect(&c, L, y, &ch, desc);
            detect_at = i;
            break;
        }
        if (c.act_seen && y->type != Y5_LAYER_DETECT) {
            y->act = c.act;
            y->act_slope = c.act_slope;
        }
        ch.ch[i + 1] = y->c_out;
    }
    free(ch.ch);
    desc->tensors = c.t;
    desc->n_tensors = c.nt;
    if (rc == 0 && detect_at < 0) {
        c.layer = -1;
        rc = cfail(&c, "the model has no Detect layer");
    }
    if (rc == 0) rc = build_names(pt, desc, err, errlen);
    if (rc != 0) {
        y5_pt_desc_free(desc);
        return -1;
    }
    build_source(pt, desc);
    build_generation(pt, &c, desc);
    desc->imgsz = train_imgsz(pt);
    return 0;
}

/* ---- raw access (tests, tools) ------------------------------------------------------ */

int y5_pt_raw_tensor(y5_pt *pt, int layer, const char *path, float **data, uint64_t *numel, int *ndim,
                     int64_t shape[8], char *err, size_t errlen) {
    *data = NULL;
    pkl_obj *L = layer_obj(pt, layer);
    if (!L) return y5_fail_path(err, errlen, pt->path, "no layer %d", layer);
    char mod[256];
    snprintf(mod, sizeof mod, "%s", path);
    char *dot = strrchr(mod, '.');
    const char *tname = path;
    pkl_obj *m = L;
    if (dot) {
        *dot = 0;
        tname = dot + 1;
        m = module_at(L, mod);
    }
    const pkl_obj *t = module_tensor(m, tname);
    if (!t || t->type != PKL_TENSOR) return y5_fail_path(err, errlen, pt->path, "layer %d: missing tensor %s", layer, path);
    char why[400];
    pt->elems_read = 0; /* one tensor: the budget of a build does not apply */
    if (tensor_f32(pt, t, data, numel, why, sizeof why) != 0)
        return y5_fail_path(err, errlen, pt->path, "layer %d: tensor %s %s", layer, path, why);
    *ndim = t->u.tensor.ndim;
    for (int d = 0; d < t->u.tensor.ndim; d++) shape[d] = t->u.tensor.shape[d];
    return 0;
}

int y5_pt_module_number(y5_pt *pt, int layer, const char *module_path, const char *attr, double *v) {
    pkl_obj *m = module_at(layer_obj(pt, layer), module_path);
    return m && pkl_as_float(pkl_attr(m, attr), v);
}
