/* c3.c - the C3 layer (CSP bottleneck with 3 convs).
 *
 *   C3(x) = cv3(cat(m(cv1(x)), cv2(x))),  m = n Bottlenecks,
 *   Bottleneck(y) = cv2_3x3(cv1_1x1(y)) (+ y when shortcut).
 *
 * Planned with no copies: cv1 and cv2 read the same input, so their weights
 * are stacked into one GEMM that writes both halves of the concat buffer at
 * once, and cv3 reads the whole buffer. The Bottleneck chain ping-pongs
 * between the first half of the concat buffer and a side buffer (a GEMM
 * that blocks over K keeps partial sums in its output, so the residual must
 * not be read from the buffer being written); it must end in the concat
 * buffer, so with shortcut and an odd count y0 starts in the side buffer and
 * cv1/cv2 run as two GEMMs instead of one. */
#include <stdio.h>
#include "layers/layers.h"

/* With a residual and an odd number of Bottlenecks, y0 must start in the
 * side buffer: cv1 and cv2 cannot share one GEMM. */
static int fused_entry(const y5_layer *L) { return !(L->shortcut && L->n % 2 == 1); }

static int c3_load(y5_graph *g, int li, const y5_layer *L) {
    static const char *const entry[] = {"cv1.", "cv2."};
    static const char *const exitc[] = {"cv3."};
    if (fused_entry(L)) {
        if (y5_graph_add_conv(g, li, entry, 2, 1, 0) < 0) return -1;
    } else if (y5_graph_add_conv(g, li, entry, 1, 1, 0) < 0 || y5_graph_add_conv(g, li, entry + 1, 1, 1, 0) < 0) {
        return -1;
    }
    char p1[32], p2[32];
    for (int j = 0; j < L->n; j++) {
        snprintf(p1, sizeof p1, "m.%d.cv1.", j);
        snprintf(p2, sizeof p2, "m.%d.cv2.", j);
        const char *a[] = {p1}, *b[] = {p2};
        if (y5_graph_add_conv(g, li, a, 1, 1, -1) < 0 || y5_graph_add_conv(g, li, b, 1, 1, -1) < 0) return -1;
    }
    int c3 = y5_graph_add_conv(g, li, exitc, 1, 1, 0);
    if (c3 < 0) return -1;
    int base = g->conv_base[li], m0 = base + (fused_entry(L) ? 1 : 2);
    int c_ = g->convs[c3].shape.cin / 2;
    int entry_out = g->convs[base].shape.cout + (fused_entry(L) ? 0 : g->convs[base + 1].shape.cout);
    if (g->convs[base].shape.k != 1 || entry_out != 2 * c_ || g->convs[c3].shape.cout != L->c_out)
        return y5_graph_fail(g, "layer %d (C3): unexpected conv shapes", li);
    for (int j = 0; j < L->n; j++) {
        const y5_conv_shape *a = &g->convs[m0 + 2 * j].shape, *b = &g->convs[m0 + 1 + 2 * j].shape;
        if (a->cin != c_ || a->cout != c_ || b->cin != c_ || b->cout != c_)
            return y5_graph_fail(g, "layer %d (C3): Bottleneck %d is not %d -> %d channels", li, j, c_, c_);
    }
    return 0;
}

static int c3_plan(y5_graph *g, int li, const y5_layer *L) {
    int base = g->conv_base[li], fused = fused_entry(L), m0 = base + (fused ? 1 : 2);
    int c_ = g->convs[m0 + 2 * L->n].shape.cin / 2;
    int h = g->layer_h[li], w = g->layer_w[li];
    y5_slice x = y5_graph_input(g, li, 0);
    if (y5_layer_check_input(g, li, "C3", x, base)) return -1;
    int cat = y5_graph_new_buffer(g, h, w, 2 * c_);
    int tmp = L->n > 0 ? y5_graph_new_buffer(g, h, w, c_) : 0;
    int side = L->n > 0 && L->shortcut ? y5_graph_new_buffer(g, h, w, c_) : 0;
    if (cat < 0 || tmp < 0 || side < 0) return y5_graph_fail(g, "out of memory");
    y5_slice whole = y5_graph_whole(g, cat), in_cat = {cat, 0, c_}, t = {tmp, 0, c_}, s = {side, 0, c_};
    y5_op op = y5_layer_conv_op(li, L, base);
    op.in[0] = x;
    /* y0: where the chain starts so that it ends in the concat buffer */
    y5_slice y = (L->shortcut && L->n % 2 == 1) ? s : in_cat;
    if (fused) {
        op.out = whole;
        if (y5_graph_emit(g, &op)) return -1;
    } else {
        op.out = y;
        if (y5_graph_emit(g, &op)) return -1;
        op.conv = base + 1;
        op.out = (y5_slice){cat, c_, c_};
        if (y5_graph_emit(g, &op)) return -1;
    }
    for (int j = 0; j < L->n; j++) {
        op.conv = m0 + 2 * j;
        op.in[0] = y;
        op.out = t;
        op.has_res = 0;
        if (y5_graph_emit(g, &op)) return -1;
        op.conv = m0 + 1 + 2 * j;
        op.in[0] = t;
        if (L->shortcut) {
            op.has_res = 1;
            op.res = y;
            y = y.buf == cat ? s : in_cat; /* never read the residual from the output */
        }
        op.out = y;
        if (y5_graph_emit(g, &op)) return -1;
    }
    op.conv = m0 + 2 * L->n;
    op.in[0] = whole;
    op.has_res = 0;
    op.out = y5_graph_layer_output(g, li, h, w, L->c_out);
    g->layer_out[li] = op.out;
    return y5_graph_emit(g, &op);
}

const y5_layer_def y5_c3_def = {
    .type = Y5_LAYER_C3,
    .name = "C3",
    .flags = Y5_LAYER_F_SLOT_OUTPUT,
    .load = c3_load,
    .shape = y5_layer_same_shape,
    .plan = c3_plan,
};
