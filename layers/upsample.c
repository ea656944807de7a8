/* upsample.c - nearest-neighbour upsampling by an integer factor. */
#include <string.h>
#include "core/engine/graph.h"

int y5_upsample_plan(y5_graph *g, int li, const y5_layer *L) {
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

void y5_upsample_cpu(const float *in, int n, int h, int w, int c, int ld_in,
                     float *out, int ld_out, int s) {
    int ho = h * s, wo = w * s;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < ho; y++) {
            const float *src = in + ((size_t)b * h + y / s) * w * ld_in;
            float *dst = out + ((size_t)b * ho + y) * wo * ld_out;
            for (int x = 0; x < wo; x++) memcpy(dst + (size_t)x * ld_out, src + (size_t)(x / s) * ld_in, (size_t)c * sizeof(float));
        }
}
