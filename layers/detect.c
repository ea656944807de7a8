/* detect.c - the Detect head: per level a 1x1 conv (with bias, no
 * activation) to na*(5+nc) channels, then sigmoid and box decode (one
 * Y5_OP_DECODE op over all levels). The network's output, so the last layer.
 *
 * Row order matches ultralytics' output (1 x N x no): level, then anchor a,
 * then grid row y, then column x. Decode, in float32 as PyTorch does it:
 *   cx = (2*s0 + (x - 0.5)) * stride,  cy likewise,
 *   w  = (2*s2)^2 * anchor_w (pixels), h likewise,  columns 4.. = s.
 * The CPU decode is layers/cpu/decode_cpu.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "layers/layers.h"

static int detect_load(y5_graph *g, int li, const y5_layer *L) {
    const y5_model_desc *d = g->desc;
    if (d->nl != L->n_from || d->nl < 1 || d->nl > 8 || d->na < 1 || d->na > 8 || d->nc < 1)
        return y5_graph_fail(g, "layer %d (Detect): %u levels, %u anchors, %u classes is not a valid head", li,
                             d->nl, d->na, d->nc);
    int no = (int)d->nc + 5;
    for (unsigned l = 0; l < d->nl; l++) {
        char p[32];
        snprintf(p, sizeof p, "m.%u.", l);
        const char *pre[] = {p};
        int c = y5_graph_add_conv(g, li, pre, 1, 1, 0);
        if (c < 0) return -1;
        if (g->convs[c].shape.k != 1 || g->convs[c].shape.cout != (int)d->na * no)
            return y5_graph_fail(g, "layer %d (Detect): level %u conv has %d outputs, expected %d", li, l,
                                 g->convs[c].shape.cout, (int)d->na * no);
        if (!(d->strides[l] > 0)) return y5_graph_fail(g, "layer %d (Detect): stride of level %u is %g", li, l, d->strides[l]);
    }
    return 0;
}

static int detect_plan(y5_graph *g, int li, const y5_layer *L) {
    const y5_model_desc *d = g->desc;
    y5_detect_shape *ds = &g->det;
    float keep_lazy = ds->lazy_obj_min;
    memset(ds, 0, sizeof *ds);
    ds->lazy_obj_min = keep_lazy;
    ds->nl = (int)d->nl;
    ds->na = (int)d->na;
    ds->no = (int)d->nc + 5;
    memcpy(ds->anchors, d->anchors, sizeof ds->anchors);
    memcpy(ds->strides, d->strides, sizeof ds->strides);
    y5_op dec = {0};
    dec.kind = Y5_OP_DECODE;
    dec.layer = li;
    dec.n_in = ds->nl;
    for (int l = 0; l < ds->nl; l++) {
        int src = L->from[l];
        int h = src < 0 ? g->h : g->layer_h[src], w = src < 0 ? g->w : g->layer_w[src];
        if (fabsf((float)g->h / h - d->strides[l]) > 0.01f || fabsf((float)g->w / w - d->strides[l]) > 0.01f)
            return y5_graph_fail(g, "layer %d (Detect): level %d is %dx%d for a %dx%d input, but its stride is %g "
                                 "(input sides must be multiples of the largest stride)", li, l, w, h, g->w, g->h,
                                 d->strides[l]);
        int hb = y5_graph_new_buffer(g, h, w, ds->na * ds->no);
        if (hb < 0) return y5_graph_fail(g, "out of memory");
        y5_op op = {0};
        op.kind = Y5_OP_CONV;
        op.layer = li;
        op.conv = g->conv_base[li] + l;
        op.n_in = 1;
        op.in[0] = y5_graph_input(g, li, l);
        if (op.in[0].c != g->convs[op.conv].shape.cin)
            return y5_graph_fail(g, "layer %d (Detect): level %d input has %d channels, weights expect %d", li, l,
                                 op.in[0].c, g->convs[op.conv].shape.cin);
        op.out = y5_graph_whole(g, hb);
        if (y5_graph_emit(g, &op)) return -1;
        dec.in[l] = op.out;
        ds->rows += ds->na * h * w;
    }
    /* the decoded rows go to the backend's own FP32 buffer, not the arena */
    dec.out = dec.in[0];
    g->layer_out[li] = dec.in[0];
    return y5_graph_emit(g, &dec);
}

const y5_layer_def y5_detect_def = {
    .type = Y5_LAYER_DETECT,
    .name = "Detect",
    /* its heads are buffers of its own and its output leaves the arena
     * (the backend's pred), so no slot output */
    .flags = Y5_LAYER_F_FINAL,
    .load = detect_load,
    .shape = y5_layer_same_shape,
    .plan = detect_plan,
};
