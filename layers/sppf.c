/* sppf.c - Spatial Pyramid Pooling - Fast, and the CPU max pool.
 *
 *   x = cv1(in); y1 = pool(x); y2 = pool(y1); y3 = pool(y2);
 *   out = cv2(cat(x, y1, y2, y3)),  pool = maxpool k, stride 1, pad k/2.
 *
 * cv1 and each pool write straight into their quarter of the concat buffer. */
#include <float.h>
#include "core/engine/graph.h"
#include "core/base/threadpool.h"
#include "layers/cpu/gemm.h"

int y5_sppf_load(y5_graph *g, int li, const y5_layer *L) {
    static const char *const a[] = {"cv1."}, *const b[] = {"cv2."};
    int c1 = y5_graph_add_conv(g, li, a, 1, 1, 0);
    int c2 = c1 < 0 ? -1 : y5_graph_add_conv(g, li, b, 1, 1, 0);
    if (c2 < 0) return -1;
    if (g->convs[c2].shape.cin != 4 * g->convs[c1].shape.cout || g->convs[c2].shape.cout != L->c_out)
        return y5_graph_fail(g, "layer %d (SPPF): unexpected conv shapes", li);
    if (L->k < 1 || L->k % 2 == 0) return y5_graph_fail(g, "layer %d (SPPF): pool kernel %d must be odd", li, L->k);
    return 0;
}

int y5_sppf_plan(y5_graph *g, int li, const y5_layer *L) {
    int base = g->conv_base[li];
    int c_ = g->convs[base].shape.cout;
    int h = g->layer_h[li], w = g->layer_w[li];
    int cat = y5_graph_new_buffer(g, h, w, 4 * c_);
    if (cat < 0) return y5_graph_fail(g, "out of memory");
    y5_op op = {0};
    op.kind = Y5_OP_CONV;
    op.layer = li;
    op.silu = 1;
    op.n_in = 1;
    op.conv = base;
    op.in[0] = y5_graph_input(g, li, 0);
    if (op.in[0].c != g->convs[base].shape.cin)
        return y5_graph_fail(g, "layer %d (SPPF): input has %d channels, weights expect %d", li, op.in[0].c, g->convs[base].shape.cin);
    op.out = (y5_slice){cat, 0, c_};
    if (y5_graph_emit(g, &op)) return -1;
    for (int j = 1; j <= 3; j++) {
        y5_op p = {0};
        p.kind = Y5_OP_MAXPOOL;
        p.layer = li;
        p.k = L->k;
        p.n_in = 1;
        p.in[0] = (y5_slice){cat, (j - 1) * c_, c_};
        p.out = (y5_slice){cat, j * c_, c_};
        if (y5_graph_emit(g, &p)) return -1;
    }
    op.conv = base + 1;
    op.in[0] = y5_graph_whole(g, cat);
    op.out = y5_graph_layer_output(g, li, h, w, L->c_out);
    g->layer_out[li] = op.out;
    return y5_graph_emit(g, &op);
}

typedef struct {
    const float *in;
    float *out;
    int n, h, w, c, ld_in, ld_out, k;
    int avx512;
} pool_job;

/* One task per output row: out(y, x, :) = max over the k x k window clipped
 * to the image (PyTorch pads with -inf, so clipping is the same). */
static void pool_row(void *ctx, int task, int worker) {
    (void)worker;
    const pool_job *j = ctx;
    int b = task / j->h, y = task % j->h, r = j->k / 2;
    if (j->avx512 && y5_maxpool_row_avx512(j->in + (size_t)b * j->h * j->w * j->ld_in, j->h, j->w, j->c, j->ld_in,
                                           j->out + (size_t)b * j->h * j->w * j->ld_out, j->ld_out, j->k, y) == 0)
        return;
    int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= j->h ? j->h - 1 : y + r;
    for (int x = 0; x < j->w; x++) {
        int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= j->w ? j->w - 1 : x + r;
        float *o = j->out + (((size_t)b * j->h + y) * j->w + x) * j->ld_out;
        for (int ch = 0; ch < j->c; ch++) o[ch] = -FLT_MAX;
        for (int yy = y0; yy <= y1; yy++)
            for (int xx = x0; xx <= x1; xx++) {
                const float *p = j->in + (((size_t)b * j->h + yy) * j->w + xx) * j->ld_in;
                for (int ch = 0; ch < j->c; ch++) o[ch] = p[ch] > o[ch] ? p[ch] : o[ch];
            }
    }
}

void y5_maxpool_cpu(y5_pool *pool, const float *in, int n, int h, int w, int c, int ld_in,
                    float *out, int ld_out, int k) {
    pool_job j = {in, out, n, h, w, c, ld_in, ld_out, k, y5_gemm_isa() == Y5_ISA_AVX512};
    y5_pool_run(pool, n * h, pool_row, &j);
}
