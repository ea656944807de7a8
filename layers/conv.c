/* conv.c - the Conv layer: Conv2d + folded BatchNorm + activation (SiLU in
 * v4.0+ checkpoints; the layer record says which, core/base/act.h).
 *
 * Kernel, stride and padding come from the checkpoint's Conv2d (layer 0 of
 * YOLOv5 v6+ is 6x6 stride 2 padding 2, not k//2). The CPU arithmetic is in
 * layers/cpu/conv_cpu.c (GEMM with a fused bias + activation epilogue). */
#include "layers/layers.h"

static int conv_load(y5_graph *g, int li, const y5_layer *L) {
    static const char *const pre[] = {"conv."};
    int c = y5_graph_add_conv(g, li, pre, 1, L->s, L->p);
    if (c < 0) return -1;
    const y5_conv_shape *s = &g->convs[c].shape;
    if (s->k != L->k || s->cout != L->c_out)
        return y5_graph_fail(g, "layer %d (Conv): weights are %dx%d -> %d channels, layer table says %dx%d -> %d",
                             li, s->k, s->k, s->cout, L->k, L->k, L->c_out);
    return 0;
}

/* the conv's own arithmetic: (in + 2p - k) / s + 1 */
static void conv_shape(const y5_graph *g, int li, const y5_layer *L, int ih, int iw, int *oh, int *ow) {
    (void)L;
    *oh = y5_graph_conv_out(g, g->conv_base[li], ih);
    *ow = y5_graph_conv_out(g, g->conv_base[li], iw);
}

static int conv_plan(y5_graph *g, int li, const y5_layer *L) {
    y5_op op = y5_layer_conv_op(li, L, g->conv_base[li]);
    op.in[0] = y5_graph_input(g, li, 0);
    if (y5_layer_check_input(g, li, "Conv", op.in[0], op.conv)) return -1;
    op.out = y5_graph_layer_output(g, li, g->layer_h[li], g->layer_w[li], L->c_out);
    g->layer_out[li] = op.out;
    return y5_graph_emit(g, &op);
}

const y5_layer_def y5_conv_def = {
    .type = Y5_LAYER_CONV,
    .name = "Conv",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = conv_load,
    .shape = conv_shape,
    .plan = conv_plan,
};
