/* pool_pyramid.c - the plan shared by SPPF and SPP: cv1, max pools of cv1's
 * output written into slices of one concat buffer, cv2 over the whole buffer.
 *
 *   SPPF (chained):  y_j = pool_k(y_{j-1}), y_0 = cv1(in)   (layers/sppf.c)
 *   SPP (parallel):  y_j = pool_{k_j}(y_0)                  (layers/spp.c)
 *
 * cv1 and each pool write straight into their slice, so the Concat costs
 * nothing; the two layers differ only in the kernels and in what each pool
 * reads. */
#include "layers/layers.h"

int y5_pool_pyramid_plan(y5_graph *g, int li, const y5_layer *L, const char *name, const int *ks, int n_pools,
                         int chained) {
    int base = g->conv_base[li];
    int c_ = g->convs[base].shape.cout;
    int h = g->layer_h[li], w = g->layer_w[li];
    int cat = y5_graph_new_buffer(g, h, w, (n_pools + 1) * c_);
    if (cat < 0) return y5_graph_fail(g, "out of memory");
    y5_op op = y5_layer_conv_op(li, L, base);
    op.in[0] = y5_graph_input(g, li, 0);
    if (y5_layer_check_input(g, li, name, op.in[0], base)) return -1;
    op.out = (y5_slice){cat, 0, c_};
    if (y5_graph_emit(g, &op)) return -1;
    for (int j = 0; j < n_pools; j++) {
        y5_op p = {0};
        p.kind = Y5_OP_MAXPOOL;
        p.layer = li;
        p.k = ks[j];
        p.n_in = 1;
        p.in[0] = (y5_slice){cat, chained ? j * c_ : 0, c_};
        p.out = (y5_slice){cat, (j + 1) * c_, c_};
        if (y5_graph_emit(g, &p)) return -1;
    }
    op.conv = base + 1;
    op.in[0] = y5_graph_whole(g, cat);
    op.out = y5_graph_layer_output(g, li, h, w, L->c_out);
    g->layer_out[li] = op.out;
    return y5_graph_emit(g, &op);
}
