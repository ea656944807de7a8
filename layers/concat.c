/* concat.c - channel concatenation.
 *
 * Normally free: the planner gives each input layer a channel slice of the
 * Concat's buffer to write into (graph.c). Only an input that could not
 * write in place (the network input, another Concat, a layer already
 * feeding a different Concat) is copied here. */
#include <string.h>
#include "core/engine/graph.h"

int y5_concat_plan(y5_graph *g, int li, const y5_layer *L) {
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

void y5_copy_cpu(const float *in, int n, int h, int w, int c, int ld_in, float *out, int ld_out) {
    size_t px = (size_t)n * h * w;
    for (size_t i = 0; i < px; i++) memcpy(out + i * ld_out, in + i * ld_in, (size_t)c * sizeof(float));
}
