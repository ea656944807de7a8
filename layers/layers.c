/* layers.c - the layer table (see layers.h): the rows of every layer type,
 * in weight-file type order. */
#include "layers/layers.h"

const y5_layer_def *const y5_layer_table[] = {
    &y5_conv_def, &y5_c3_def, &y5_sppf_def, &y5_upsample_def, &y5_concat_def, &y5_detect_def, &y5_spp_def,
    NULL,
};

y5_op y5_layer_conv_op(int li, const y5_layer *L, int conv) {
    y5_op op = {0};
    op.kind = Y5_OP_CONV;
    op.layer = li;
    op.conv = conv;
    op.act = (int)L->act;
    op.slope = L->act_slope;
    op.n_in = 1;
    return op;
}

int y5_layer_check_input(y5_graph *g, int li, const char *name, y5_slice in, int conv) {
    if (in.c == g->convs[conv].shape.cin) return 0;
    return y5_graph_fail(g, "layer %d (%s): input has %d channels, weights expect %d", li, name, in.c,
                         g->convs[conv].shape.cin);
}

void y5_layer_same_shape(const y5_graph *g, int li, const y5_layer *L, int ih, int iw, int *oh, int *ow) {
    (void)g;
    (void)li;
    (void)L;
    *oh = ih;
    *ow = iw;
}
