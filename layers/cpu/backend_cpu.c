/* backend_cpu.c - the CPU backend: FP32 NHWC, the reference every other
 * backend is tested against (tests/backend/test_backend_ops.c). Convs run in
 * layers/cpu/conv_cpu.c (GEMM, Winograd, implicit GEMM); the other ops in the
 * kernels of layers/cpu/cpu_kernels.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine/backend.h"
#include "layers/cpu/cpu_kernels.h"
#include "core/base/threadpool.h"
#include "layers/cpu/conv_cpu.h"

typedef struct {
    y5_pool *pool;
    float *arena;
    size_t arena_elems;
    void *scratch;
    size_t scratch_bytes;
    float *pred;
    size_t pred_floats;
    char name[48];       /* describe() */
} cpu_impl;

static cpu_impl *impl(y5_backend *b) { return (cpu_impl *)b->impl; }

static void *cpu_conv_create(y5_backend *b, const y5_conv_shape *s, const float *w, const float *bias) {
    (void)b;
    y5_conv_cpu *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (y5_conv_cpu_init(c, w, bias, s->cout, s->cin, s->k, s->s, s->p)) { free(c); return NULL; }
    return c;
}

static void cpu_conv_destroy(y5_backend *b, void *conv) {
    (void)b;
    y5_conv_cpu_free(conv);
    free(conv);
}

static int cpu_arena(y5_backend *b, size_t elems, size_t scratch, size_t pred, char *err, size_t errlen) {
    cpu_impl *m = impl(b);
    if (pred > m->pred_floats) {
        free(m->pred);
        m->pred = malloc(pred * sizeof(float));
        m->pred_floats = m->pred ? pred : 0;
        if (!m->pred) {
            snprintf(err, errlen, "out of memory: detect output of %zu MB", pred * sizeof(float) >> 20);
            return -1;
        }
    }
    if (elems > m->arena_elems) {
        free(m->arena);
        m->arena = NULL;
        if (posix_memalign((void **)&m->arena, 64, elems * sizeof(float) + 64)) {
            m->arena_elems = 0;
            snprintf(err, errlen, "out of memory: arena of %zu MB", elems * sizeof(float) >> 20);
            return -1;
        }
        m->arena_elems = elems;
    }
    if (scratch > m->scratch_bytes) {
        free(m->scratch);
        m->scratch = NULL;
        if (posix_memalign(&m->scratch, 64, scratch + 64)) {
            m->scratch_bytes = 0;
            snprintf(err, errlen, "out of memory: conv scratch of %zu MB", scratch >> 20);
            return -1;
        }
        m->scratch_bytes = scratch;
    }
    return 0;
}

static size_t cpu_conv_scratch(y5_backend *b, void *conv, int n, int h, int w) {
    return y5_conv_cpu_scratch(conv, n, h, w, y5_pool_size(impl(b)->pool));
}

static float *at(y5_backend *b, size_t off) { return impl(b)->arena + off; }

static void cpu_conv(y5_backend *b, void *conv, const y5_view *in, const y5_view *out, const y5_view *res, int act,
                     float slope) {
    cpu_impl *m = impl(b);
    y5_conv_cpu_run(m->pool, conv, at(b, in->off), in->n, in->h, in->w, in->ld, at(b, out->off), out->ld,
                    res ? at(b, res->off) : NULL, res ? res->ld : 0, act, slope, m->scratch);
}

static void cpu_maxpool(y5_backend *b, const y5_view *in, const y5_view *out, int k) {
    y5_maxpool_cpu(impl(b)->pool, at(b, in->off), in->n, in->h, in->w, in->c, in->ld, at(b, out->off), out->ld, k);
}

static void cpu_upsample(y5_backend *b, const y5_view *in, const y5_view *out, int scale) {
    y5_upsample_cpu(at(b, in->off), in->n, in->h, in->w, in->c, in->ld, at(b, out->off), out->ld, scale);
}

static void cpu_copy(y5_backend *b, const y5_view *in, const y5_view *out) {
    y5_copy_cpu(at(b, in->off), in->n, in->h, in->w, in->c, in->ld, at(b, out->off), out->ld);
}

static void cpu_decode(y5_backend *b, const y5_view *heads, const y5_detect_shape *d) {
    const float *hp[8];
    int hs[8], ws[8], lds[8];
    for (int l = 0; l < d->nl; l++) {
        hp[l] = at(b, heads[l].off);
        hs[l] = heads[l].h;
        ws[l] = heads[l].w;
        lds[l] = heads[l].ld;
    }
    y5_decode_cpu(impl(b)->pool, hp, hs, ws, lds, heads[0].n, d, impl(b)->pred);
}

static const float *cpu_pred_host(y5_backend *b, size_t n) {
    return n <= impl(b)->pred_floats ? impl(b)->pred : NULL;
}

static int cpu_pred_write(y5_backend *b, size_t off, const float *src, size_t count, char *err, size_t errlen) {
    cpu_impl *m = impl(b);
    if (off > m->pred_floats || count > m->pred_floats - off) {
        snprintf(err, errlen, "cpu: pred write [%zu, +%zu) outside the pred of %zu floats", off, count, m->pred_floats);
        return -1;
    }
    if (count) memcpy(m->pred + off, src, count * sizeof(float));
    return 0;
}

static float *cpu_input_host(y5_backend *b, const y5_view *in) { return at(b, in->off); }

static int cpu_input_commit(y5_backend *b, const y5_view *in, char *err, size_t errlen) {
    (void)b; (void)in; (void)err; (void)errlen;
    return 0;
}

/* The last element a view touches lies inside the arena. */
static int view_fits(y5_backend *b, const y5_view *v, char *err, size_t errlen) {
    size_t px = (size_t)v->n * v->h * v->w;
    if (px && (v->c < 1 || v->ld < v->c || v->off + (px - 1) * v->ld + v->c > impl(b)->arena_elems)) {
        snprintf(err, errlen, "cpu: view at %zu (%dx%dx%dx%d, ld %d) outside the arena of %zu elements", v->off, v->n,
                 v->h, v->w, v->c, v->ld, impl(b)->arena_elems);
        return 0;
    }
    return 1;
}

static int cpu_view_write(y5_backend *b, const y5_view *v, const float *src, char *err, size_t errlen) {
    if (!view_fits(b, v, err, errlen)) return -1;
    y5_copy_cpu(src, v->n, v->h, v->w, v->c, v->c, at(b, v->off), v->ld);
    return 0;
}

static int cpu_view_read(y5_backend *b, const y5_view *v, float *dst, char *err, size_t errlen) {
    if (!view_fits(b, v, err, errlen)) return -1;
    y5_copy_cpu(at(b, v->off), v->n, v->h, v->w, v->c, v->ld, dst, v->c);
    return 0;
}

/* The CPU has nothing to capture: the eager loop is its fastest way. */
static int cpu_compute(y5_backend *b, const y5_backend_plan *p, double *op_ms, char *err, size_t errlen) {
    return y5_backend_run_eager(b, p, op_ms, err, errlen);
}

static const char *cpu_describe(const y5_backend *b) {
    cpu_impl *m = b->impl;
    snprintf(m->name, sizeof m->name, "cpu (%d thread%s)", y5_pool_size(m->pool), y5_pool_size(m->pool) == 1 ? "" : "s");
    return m->name;
}

static int cpu_sync(y5_backend *b, char *err, size_t errlen) {
    (void)b; (void)err; (void)errlen;
    return 0;
}

static void cpu_destroy(y5_backend *b) {
    cpu_impl *m = impl(b);
    y5_pool_destroy(m->pool);
    free(m->arena);
    free(m->scratch);
    free(m->pred);
    free(m);
    free(b);
}

/* letterbox and nms stay NULL: the engine's host paths are the CPU's. */
static const y5_backend_ops cpu_ops = {
    .name = "cpu",
    .elem_bytes = sizeof(float),
    .conv_create = cpu_conv_create,
    .conv_destroy = cpu_conv_destroy,
    .arena = cpu_arena,
    .conv_scratch = cpu_conv_scratch,
    .compute = cpu_compute,
    .conv = cpu_conv,
    .maxpool = cpu_maxpool,
    .upsample = cpu_upsample,
    .copy = cpu_copy,
    .decode = cpu_decode,
    .pred_host = cpu_pred_host,
    .pred_write = cpu_pred_write,
    .input_host = cpu_input_host,
    .input_commit = cpu_input_commit,
    .view_write = cpu_view_write,
    .view_read = cpu_view_read,
    .describe = cpu_describe,
    .sync = cpu_sync,
    .destroy = cpu_destroy,
};

y5_backend *y5_backend_cpu_create(int threads, char *err, size_t errlen) {
    y5_backend *b = calloc(1, sizeof *b);
    cpu_impl *m = calloc(1, sizeof *m);
    if (!b || !m) { free(b); free(m); snprintf(err, errlen, "out of memory"); return NULL; }
    m->pool = y5_pool_create(threads);
    if (!m->pool) { free(b); free(m); snprintf(err, errlen, "could not start %d CPU threads", threads); return NULL; }
    b->ops = &cpu_ops;
    b->impl = m;
    return b;
}

int y5_backend_cpu_threads(const y5_backend *b) { return y5_pool_size(((cpu_impl *)b->impl)->pool); }
