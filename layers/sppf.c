/* sppf.c - the SPPF layer (Spatial Pyramid Pooling - Fast).
 *
 *   x = cv1(in); y1 = pool(x); y2 = pool(y1); y3 = pool(y2);
 *   out = cv2(cat(x, y1, y2, y3)),  pool = maxpool k, stride 1, pad k/2.
 *
 * cv1 and each pool write straight into their quarter of the concat buffer
 * (the plan is shared with SPP: layers/pool_pyramid.c).
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
    const int ks[3] = {L->k, L->k, L->k};
    return y5_pool_pyramid_plan(g, li, L, "SPPF", ks, 3, 1);
}

const y5_layer_def y5_sppf_def = {
    .type = Y5_LAYER_SPPF,
    .name = "SPPF",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = sppf_load,
    .shape = y5_layer_same_shape,
    .plan = sppf_plan,
};
