/* detect.c - the Detect head: per level a 1x1 conv (with bias, no
 * activation) to na*(5+nc) channels, then sigmoid and box decode.
 *
 * Row order matches ultralytics' output (1 x N x no): level, then anchor a,
 * then grid row y, then column x. Decode, in float32 as PyTorch does it:
 *   cx = (2*s0 + (x - 0.5)) * stride,  cy likewise,
 *   w  = (2*s2)^2 * anchor_w (pixels), h likewise,  columns 4.. = s. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "core/engine/graph.h"
#include "core/base/threadpool.h"
#include "layers/cpu/gemm.h"

int y5_detect_load(y5_graph *g, int li, const y5_layer *L) {
    const y5_model_desc *d = g->desc;
    if (d->nl != L->n_from || d->nl < 1 || d->nl > 8 || d->na < 1 || d->na > 8 || d->nc < 1)
        return y5_graph_fail(g, "layer %d (Detect): %u levels, %u anchors, %u classes is not a valid head", li,
                             d->nl, d->na, d->nc);
    int no = (int)d->nc + 5;
    for (unsigned l = 0; l < d->nl; l++) {
        char p[32];
        snprintf(p, sizeof p, "m.%u.", l);
        const char *pre[] = {p};
        int c = y5_graph_add_conv(g, li, pre, 1, 1, 0);
        if (c < 0) return -1;
        if (g->convs[c].shape.k != 1 || g->convs[c].shape.cout != (int)d->na * no)
            return y5_graph_fail(g, "layer %d (Detect): level %u conv has %d outputs, expected %d", li, l,
                                 g->convs[c].shape.cout, (int)d->na * no);
        if (!(d->strides[l] > 0)) return y5_graph_fail(g, "layer %d (Detect): stride of level %u is %g", li, l, d->strides[l]);
    }
    return 0;
}

int y5_detect_plan(y5_graph *g, int li, const y5_layer *L) {
    const y5_model_desc *d = g->desc;
    y5_detect_shape *ds = &g->det;
    float keep_lazy = ds->lazy_obj_min;
    memset(ds, 0, sizeof *ds);
    ds->lazy_obj_min = keep_lazy;
    ds->nl = (int)d->nl;
    ds->na = (int)d->na;
    ds->no = (int)d->nc + 5;
    memcpy(ds->anchors, d->anchors, sizeof ds->anchors);
    memcpy(ds->strides, d->strides, sizeof ds->strides);
    y5_op dec = {0};
    dec.kind = Y5_OP_DECODE;
    dec.layer = li;
    dec.n_in = ds->nl;
    for (int l = 0; l < ds->nl; l++) {
        int src = L->from[l];
        int h = src < 0 ? g->h : g->layer_h[src], w = src < 0 ? g->w : g->layer_w[src];
        if (fabsf((float)g->h / h - d->strides[l]) > 0.01f || fabsf((float)g->w / w - d->strides[l]) > 0.01f)
            return y5_graph_fail(g, "layer %d (Detect): level %d is %dx%d for a %dx%d input, but its stride is %g "
                                 "(input sides must be multiples of the largest stride)", li, l, w, h, g->w, g->h,
                                 d->strides[l]);
        int hb = y5_graph_new_buffer(g, h, w, ds->na * ds->no);
        if (hb < 0) return y5_graph_fail(g, "out of memory");
        y5_op op = {0};
        op.kind = Y5_OP_CONV;
        op.layer = li;
        op.conv = g->conv_base[li] + l;
        op.n_in = 1;
        op.in[0] = y5_graph_input(g, li, l);
        if (op.in[0].c != g->convs[op.conv].shape.cin)
            return y5_graph_fail(g, "layer %d (Detect): level %d input has %d channels, weights expect %d", li, l,
                                 op.in[0].c, g->convs[op.conv].shape.cin);
        op.out = y5_graph_whole(g, hb);
        if (y5_graph_emit(g, &op)) return -1;
        dec.in[l] = op.out;
        ds->rows += ds->na * h * w;
    }
    /* the decoded rows go to the backend's own FP32 buffer, not the arena */
    dec.out = dec.in[0];
    g->layer_out[li] = dec.in[0];
    return y5_graph_emit(g, &dec);
}

typedef struct {
    const float *const *heads;
    const int *hs, *ws, *lds;
    const y5_detect_shape *d;
    float *pred;
    int tasks_per_image;
    int avx512;
} decode_job;

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* One task per (image, level, grid row): all anchors of each cell in turn,
 * so the head's rows are read once, front to back. */
static void decode_task(void *ctx, int task, int worker) {
    (void)worker;
    const decode_job *j = ctx;
    const y5_detect_shape *d = j->d;
    int b = task / j->tasks_per_image, t = task % j->tasks_per_image;
    int l = 0, row0 = 0;
    while (t >= j->hs[l]) { t -= j->hs[l]; row0 += d->na * j->hs[l] * j->ws[l]; l++; }
    int y = t;
    int h = j->hs[l], w = j->ws[l], ld = j->lds[l], no = d->no;
    float stride = d->strides[l];
    const float *src0 = j->heads[l] + ((size_t)b * h + y) * w * ld;
    float *dst0 = j->pred + ((size_t)b * d->rows + row0 + (size_t)y * w) * no;
    const size_t astride = (size_t)h * w * no; /* between anchors' rows in pred */
    if (j->avx512) {
        y5_decode_row_avx512(src0, ld, dst0, (long)astride, d->na, d->anchors[l], w, no, (float)y, stride,
                             d->lazy_obj_min);
        return;
    }
    for (int a = 0; a < d->na; a++) {
        float aw = d->anchors[l][2 * a], ah = d->anchors[l][2 * a + 1];
        const float *src = src0 + (size_t)a * no;
        float *dst = dst0 + (size_t)a * astride;
        for (int x = 0; x < w; x++, src += ld, dst += no) {
            float s0 = sigm(src[0]), s1 = sigm(src[1]), s2 = sigm(src[2]), s3 = sigm(src[3]), obj = sigm(src[4]);
            dst[0] = (s0 * 2.0f + ((float)x - 0.5f)) * stride;
            dst[1] = (s1 * 2.0f + ((float)y - 0.5f)) * stride;
            float w2 = s2 * 2.0f, h2 = s3 * 2.0f;
            dst[2] = w2 * w2 * aw;
            dst[3] = h2 * h2 * ah;
            dst[4] = obj;
            if (d->lazy_obj_min > 0 && !(obj > d->lazy_obj_min)) {
                memset(dst + 5, 0, (size_t)(no - 5) * sizeof(float));
                continue;
            }
            for (int k = 5; k < no; k++) dst[k] = sigm(src[k]);
        }
    }
}

void y5_decode_cpu(y5_pool *pool, const float *const *heads, const int *hs, const int *ws,
                   const int *lds, int n, const y5_detect_shape *d, float *pred) {
    decode_job j = {heads, hs, ws, lds, d, pred, 0, y5_gemm_isa() == Y5_ISA_AVX512};
    for (int l = 0; l < d->nl; l++) j.tasks_per_image += hs[l];
    y5_pool_run(pool, n * j.tasks_per_image, decode_task, &j);
}
