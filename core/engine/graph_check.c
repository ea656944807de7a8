/* graph_check.c - y5_graph_check: a model that cannot be planned is refused
 * when it is opened, not once per image.
 *
 * Channel counts, Concat inputs and Detect strides are only checked while
 * planning (graph.c, the layers' plan functions), and planning happens per
 * input shape: without this, `info` printed a table for such a model and
 * `detect` failed every image with the same message. The trial plan is at
 * the smallest square input every level of a valid model divides (twice the
 * largest stride, a multiple of 32), so it costs a shape pass and no
 * memory; the engine plans again for the real shape. */
#include "core/engine/graph.h"

#include <math.h>

int y5_graph_check(y5_graph *g) {
    const y5_model_desc *d = g->desc;
    float ms = 0;
    for (uint32_t l = 0; l < d->nl && l < 8; l++)
        if (d->strides[l] > ms) ms = d->strides[l];
    /* 2 x the largest stride, rounded up to a multiple of 32; a stride the
     * Detect layer refuses (0, NaN, huge) is reported by its plan */
    int s = 64;
    if (ms > 0 && ms <= 4096) {
        s = (int)ceilf(2 * ms / 32) * 32;
        if (s < 64) s = 64;
    }
    size_t elems, scratch;
    int rc = y5_graph_plan(g, 1, s, s, &elems, &scratch);
    g->n_ops = 0; /* nothing of the trial plan stays: the engine plans its own shape */
    g->n_bufs = 0;
    return rc;
}
