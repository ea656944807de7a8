/* upsample.c - the Upsample layer: nearest-neighbour upsampling by an
 * integer factor. The CPU kernel is layers/cpu/upsample_cpu.c. */
#include "layers/layers.h"

static void upsample_shape(const y5_graph *g, int li, const y5_layer *L, int ih, int iw, int *oh, int *ow) {
    (void)g;
    (void)li;
    *oh = ih * L->scale;
    *ow = iw * L->scale;
}

static int upsample_plan(y5_graph *g, int li, const y5_layer *L) {
    y5_op op = {0};
    op.kind = Y5_OP_UPSAMPLE;
    op.layer = li;
    op.scale = L->scale;
    op.n_in = 1;
    op.in[0] = y5_graph_input(g, li, 0);
    if (L->scale < 1) return y5_graph_fail(g, "layer %d (Upsample): scale %d", li, L->scale);
    op.out = y5_graph_layer_output(g, li, g->layer_h[li], g->layer_w[li], op.in[0].c);
    g->layer_out[li] = op.out;
    return y5_graph_emit(g, &op);
}

const y5_layer_def y5_upsample_def = {
    .type = Y5_LAYER_UPSAMPLE,
    .name = "Upsample",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = NULL,
    .shape = upsample_shape,
    .plan = upsample_plan,
};
