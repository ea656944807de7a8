/* spp.c - the SPP layer (Spatial Pyramid Pooling, YOLOv5 up to v5.0).
 *
 *   x = cv1(in); y_j = pool_{k_j}(x) for each kernel k_j (in parallel);
 *   out = cv2(cat(x, y_1, ..., y_n)),  pool = maxpool k, stride 1, pad k/2.
 *
 * The converter writes SPP(k, 2k-1, 3k-2) - the default SPP(5, 9, 13) - as
 * SPPF(k) instead (max pools compose: pool9 = pool5(pool5), so the chain is
 * exact and cheaper); this layer is the general case, any odd kernels. As
 * in SPPF, cv1 and each pool write straight into their slice of the concat
 * buffer. The CPU max pool is layers/cpu/maxpool_cpu.c. */
#include "layers/layers.h"

static int spp_load(y5_graph *g, int li, const y5_layer *L) {
    static const char *const a[] = {"cv1."}, *const b[] = {"cv2."};
    int c1 = y5_graph_add_conv(g, li, a, 1, 1, 0);
    int c2 = c1 < 0 ? -1 : y5_graph_add_conv(g, li, b, 1, 1, 0);
    if (c2 < 0) return -1;
    if (L->n < 1 || L->n > Y5W_MAX_POOLS) return y5_graph_fail(g, "layer %d (SPP): %d pools", li, L->n);
    if (g->convs[c2].shape.cin != (L->n + 1) * g->convs[c1].shape.cout || g->convs[c2].shape.cout != L->c_out)
        return y5_graph_fail(g, "layer %d (SPP): unexpected conv shapes", li);
    for (int j = 0; j < L->n; j++)
        if (L->pools[j] < 1 || L->pools[j] % 2 == 0)
            return y5_graph_fail(g, "layer %d (SPP): pool kernel %d must be odd", li, L->pools[j]);
    return 0;
}

static int spp_plan(y5_graph *g, int li, const y5_layer *L) {
    int base = g->conv_base[li];
    int c_ = g->convs[base].shape.cout;
    int h = g->layer_h[li], w = g->layer_w[li];
    int cat = y5_graph_new_buffer(g, h, w, (L->n + 1) * c_);
    if (cat < 0) return y5_graph_fail(g, "out of memory");
    y5_op op = {0};
    op.kind = Y5_OP_CONV;
    op.layer = li;
    op.act = (int)L->act;
    op.slope = L->act_slope;
    op.n_in = 1;
    op.conv = base;
    op.in[0] = y5_graph_input(g, li, 0);
    if (op.in[0].c != g->convs[base].shape.cin)
        return y5_graph_fail(g, "layer %d (SPP): input has %d channels, weights expect %d", li, op.in[0].c,
                             g->convs[base].shape.cin);
    op.out = (y5_slice){cat, 0, c_};
    if (y5_graph_emit(g, &op)) return -1;
    for (int j = 0; j < L->n; j++) {
        y5_op p = {0};
        p.kind = Y5_OP_MAXPOOL;
        p.layer = li;
        p.k = L->pools[j];
        p.n_in = 1;
        p.in[0] = (y5_slice){cat, 0, c_}; /* every pool reads cv1's output */
        p.out = (y5_slice){cat, (j + 1) * c_, c_};
        if (y5_graph_emit(g, &p)) return -1;
    }
    op.conv = base + 1;
    op.in[0] = y5_graph_whole(g, cat);
    op.out = y5_graph_layer_output(g, li, h, w, L->c_out);
    g->layer_out[li] = op.out;
    return y5_graph_emit(g, &op);
}

const y5_layer_def y5_spp_def = {
    .type = Y5_LAYER_SPP,
    .name = "SPP",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = spp_load,
    .shape = y5_layer_same_shape,
    .plan = spp_plan,
};
