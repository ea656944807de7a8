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
    return y5_pool_pyramid_plan(g, li, L, "SPP", L->pools, L->n, 0);
}

const y5_layer_def y5_spp_def = {
    .type = Y5_LAYER_SPP,
    .name = "SPP",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = spp_load,
    .shape = y5_layer_same_shape,
    .plan = spp_plan,
};
