/* sppf.c - the SPPF layer (Spatial Pyramid Pooling - Fast).
 *
 *   x = cv1(in); y1 = pool(x); y2 = pool(y1); y3 = pool(y2);
 *   out = cv2(cat(x, y1, y2, y3)),  pool = maxpool k, stride 1, pad k/2.
 *
 * cv1 and each pool write straight into their quarter of the concat buffer.
 * The CPU max pool is layers/cpu/maxpool_cpu.c. */
#include "layers/layers.h"

static int sppf_load(y5_graph *g, int li, const y5_layer *L) {
    static const char *const a[] = {"cv1."}, *const b[] = {"cv2."};
    int c1 = y5_graph_add_conv(g, li, a, 1, 1, 0);
    int c2 = c1 < 0 ? -1 : y5_graph_add_conv(g, li, b, 1, 1, 0);
    if (c2 < 0) return -1;
    if (g->convs[c2].shape.cin != 4 * g->convs[c1].shape.cout || g->convs[c2].shape.cout != L->c_out)
        return y5_graph_fail(g, "layer %d (SPPF): unexpected conv shapes", li);
    if (L->k < 1 || L->k % 2 == 0) return y5_graph_fail(g, "layer %d (SPPF): pool kernel %d must be odd", li, L->k);
    return 0;
}

static int sppf_plan(y5_graph *g, int li, const y5_layer *L) {
    int base = g->conv_base[li];
    int c_ = g->convs[base].shape.cout;
    int h = g->layer_h[li], w = g->layer_w[li];
    int cat = y5_graph_new_buffer(g, h, w, 4 * c_);
    if (cat < 0) return y5_graph_fail(g, "out of memory");
    y5_op op = {0};
    op.kind = Y5_OP_CONV;
    op.layer = li;
    op.act = (int)L->act; /* the checkpoint's activation (SiLU in v1 files) */
    op.slope = L->act_slope;
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

const y5_layer_def y5_sppf_def = {
    .type = Y5_LAYER_SPPF,
    .name = "SPPF",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = sppf_load,
    .shape = y5_layer_same_shape,
    .plan = sppf_plan,
};
