/* concat.c - the Concat layer: channel concatenation.
 *
 * Normally free: in the shape pass (concat_reserve) the Concat allocates its
 * buffer and offers each input layer its channel slice to write into
 * (y5_graph_offer_slot). Only an input that could not write in place (the
 * network input, another Concat, a layer already feeding a different
 * Concat) is copied at plan time. The CPU copy is layers/cpu/copy_cpu.c. */
#include "layers/layers.h"

/* Runs before any layer plans, so the buffer exists when the producers ask
 * for their output (y5_graph_layer_output). */
static int concat_reserve(y5_graph *g, int li, const y5_layer *L) {
    const y5_model_desc *d = g->desc;
    int h = g->h, w = g->w, ih = g->layer_h[li], iw = g->layer_w[li];
    int ctot = 0;
    for (unsigned j = 0; j < L->n_from; j++) {
        int src = L->from[j];
        int sh = src < 0 ? h : g->layer_h[src], sw = src < 0 ? w : g->layer_w[src];
        if (sh != ih || sw != iw)
            return y5_graph_fail(g, "layer %d: Concat inputs differ in size (%dx%d vs %dx%d) at input %dx%d",
                                 li, sw, sh, iw, ih, w, h);
        ctot += src < 0 ? 3 : d->layers[src].c_out;
    }
    if (ctot != L->c_out) return y5_graph_fail(g, "layer %d: Concat has %d channels, expected %d", li, ctot, L->c_out);
    int cb = y5_graph_new_buffer(g, ih, iw, ctot);
    if (cb < 0) return y5_graph_fail(g, "out of memory");
    g->layer_out[li] = y5_graph_whole(g, cb);
    for (unsigned j = 0, off = 0; j < L->n_from; j++) {
        int src = L->from[j];
        int c = src < 0 ? 3 : d->layers[src].c_out;
        y5_graph_offer_slot(g, src, (y5_slice){cb, (int)off, c});
        off += (unsigned)c;
    }
    return 0;
}

static int concat_plan(y5_graph *g, int li, const y5_layer *L) {
    y5_slice dst = g->layer_out[li];
    int off = 0;
    for (unsigned j = 0; j < L->n_from; j++) {
        y5_slice src = y5_graph_input(g, li, (int)j);
        if (!(src.buf == dst.buf && src.c_off == off)) {
            y5_op op = {0};
            op.kind = Y5_OP_COPY;
            op.layer = li;
            op.n_in = 1;
            op.in[0] = src;
            op.out = (y5_slice){dst.buf, off, src.c};
            if (y5_graph_emit(g, &op)) return -1;
        }
        off += src.c;
    }
    return 0;
}

const y5_layer_def y5_concat_def = {
    .type = Y5_LAYER_CONCAT,
    .name = "Concat",
    .flags = 0, /* owns its output buffer (allocated in concat_reserve) */
    .load = NULL,
    .shape = y5_layer_same_shape,
    .reserve = concat_reserve,
    .plan = concat_plan,
};
