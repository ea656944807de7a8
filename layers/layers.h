/* layers.h - the layer table: one row (core/engine/graph.h: y5_layer_def)
 * per layer type of the weight file, each defined in its own file with all
 * of that type's planning knowledge:
 *
 *   layers/conv.c      Conv      conv + folded BN + activation
 *   layers/c3.c        C3        CSP bottleneck, no copies
 *   layers/sppf.c      SPPF      cv1, 3 cascaded max pools, cv2
 *   layers/spp.c       SPP       cv1, n parallel max pools, cv2 (v5.0-era)
 *   layers/upsample.c  Upsample  nearest, integer scale
 *   layers/concat.c    Concat    channel concat, free when producers write in place
 *   layers/detect.c    Detect    per-level 1x1 head convs + box decode
 *
 * The files here are pure layer semantics (load, output shape, plan); the
 * ops they emit run on a backend: the CPU one and all its kernels are in
 * layers/cpu/, the CUDA one in cuda/. Adding a layer type: a new file with
 * its row, listed in y5_layer_table (layers.c); graph.c does not change. */
#ifndef Y5_LAYERS_H
#define Y5_LAYERS_H

#include "core/engine/graph.h"

/* All rows, NULL-terminated: what core/engine/engine.c hands y5_graph_load. */
extern const y5_layer_def *const y5_layer_table[];

extern const y5_layer_def y5_conv_def;
extern const y5_layer_def y5_c3_def;
extern const y5_layer_def y5_sppf_def;
extern const y5_layer_def y5_upsample_def;
extern const y5_layer_def y5_concat_def;
extern const y5_layer_def y5_detect_def;
extern const y5_layer_def y5_spp_def;

/* Shape rule shared by the types whose output has the size of their first
 * input (C3, SPPF, Concat, Detect). */
void y5_layer_same_shape(const y5_graph *g, int li, const y5_layer *L, int ih, int iw, int *oh, int *ow);

/* A layer's conv op over one input with the checkpoint's activation (SiLU
 * in v1 files), in and out still to set; and the check that the input has
 * the channels conv's weights expect (0, or -1 via y5_graph_fail naming
 * layer li of type `name`). Conv, C3 and SPPF/SPP share them. */
y5_op y5_layer_conv_op(int li, const y5_layer *L, int conv);
int y5_layer_check_input(y5_graph *g, int li, const char *name, y5_slice in, int conv);

/* The plan of SPPF (chained pools, every kernel L->k) and SPP (parallel
 * pools of cv1's output): layers/pool_pyramid.c. */
int y5_pool_pyramid_plan(y5_graph *g, int li, const y5_layer *L, const char *name, const int *ks, int n_pools,
                         int chained);

#endif
