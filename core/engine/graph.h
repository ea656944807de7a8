/* graph.h - the network as ops over planned buffers.
 *
 * Built in two steps. At open (shape-independent): every layer creates its
 * convs on the backend (layers/<type>.c, y5_<type>_load). At plan time, for
 * one (n, h, w): every layer emits its ops over buffer slices
 * (y5_<type>_plan); Concat outputs are allocated first so producers write
 * straight into their channel slice; buffers get arena offsets by lifetime
 * (first-fit, largest first), so memory is planned once per shape and no op
 * allocates. */
#ifndef Y5_GRAPH_H
#define Y5_GRAPH_H

#include "core/engine/backend.h"
#include "weights/y5w.h"

/* A slice of a planned buffer: channels [c_off, c_off + c). */
typedef struct {
    int buf;
    int c_off, c;
} y5_slice;

typedef struct {
    int n, h, w, c;          /* c = channel stride of the buffer */
    int first, last;         /* op index range of its lifetime */
    size_t off;              /* arena offset (elements) once placed */
    int pinned;              /* never shares memory (input, pred) */
} y5_buffer;

typedef enum { Y5_OP_CONV, Y5_OP_MAXPOOL, Y5_OP_UPSAMPLE, Y5_OP_COPY, Y5_OP_DECODE } y5_op_kind;

typedef struct {
    int kind;
    int layer;               /* top-level layer it belongs to (profiling) */
    int conv;                /* index into the engine's conv table */
    int silu, k, scale;
    int n_in;                /* Y5_OP_DECODE: number of levels */
    y5_slice in[8], out, res;
    int has_res;
    y5_view vin[8], vout, vres; /* resolved at the end of planning */
} y5_op;

typedef struct {
    y5_conv_shape shape;
    void *handle;            /* backend object */
    int layer;
} y5_conv;

/* Everything the layers need while loading or planning. */
typedef struct {
    y5_backend *be;
    const y5_model_desc *desc;
    /* conv table (filled at open) */
    y5_conv *convs;
    int n_convs, cap_convs;
    int *conv_base;          /* first conv index of each layer */
    /* plan (filled per shape) */
    y5_buffer *bufs;
    int n_bufs, cap_bufs;
    y5_op *ops;
    int n_ops, cap_ops;
    int n, h, w;             /* input shape */
    y5_slice *layer_out;     /* output slice of each layer */
    int *layer_h, *layer_w;  /* spatial size of each layer's output */
    int *alias;              /* per layer: preassigned output slice index or -1 */
    y5_slice *alias_slice;
    int input_buf;
    int keep_all;            /* plan with no buffer sharing (layer outputs stay readable) */
    y5_detect_shape det;
    char *err;
    size_t errlen;
} y5_graph;

/* --- used by the layer files --- */
/* Loads one conv from tensors "<prefix>weight"/"<prefix>bias" of layer li
 * (several prefixes are stacked along Cout: C3's cv1+cv2 become one GEMM).
 * pad < 0: k/2. Returns the conv index or -1. */
int y5_graph_add_conv(y5_graph *g, int li, const char *const *prefixes, int n_prefixes, int stride, int pad);
/* Input slice of layer li's j-th input (the network input for -1). */
y5_slice y5_graph_input(const y5_graph *g, int li, int j);
int y5_graph_new_buffer(y5_graph *g, int h, int w, int c);
y5_slice y5_graph_whole(const y5_graph *g, int buf);
/* Output slice for layer li of c channels at h x w (its Concat slot when it
 * has one, else a new buffer). */
y5_slice y5_graph_layer_output(y5_graph *g, int li, int h, int w, int c);
int y5_graph_emit(y5_graph *g, const y5_op *op);
int y5_graph_fail(y5_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int y5_graph_conv_out(const y5_graph *g, int conv, int in) {
    const y5_conv_shape *s = &g->convs[conv].shape;
    return (in + 2 * s->p - s->k) / s->s + 1;
}

/* --- per layer type (layers/<type>.c) --- */
int y5_conv_layer_load(y5_graph *g, int li, const y5_layer *L);
int y5_conv_layer_plan(y5_graph *g, int li, const y5_layer *L);
int y5_c3_load(y5_graph *g, int li, const y5_layer *L);
int y5_c3_plan(y5_graph *g, int li, const y5_layer *L);
int y5_sppf_load(y5_graph *g, int li, const y5_layer *L);
int y5_sppf_plan(y5_graph *g, int li, const y5_layer *L);
int y5_upsample_plan(y5_graph *g, int li, const y5_layer *L);
int y5_concat_plan(y5_graph *g, int li, const y5_layer *L);
int y5_detect_load(y5_graph *g, int li, const y5_layer *L);
int y5_detect_plan(y5_graph *g, int li, const y5_layer *L);

/* --- the graph as a whole (core/graph.c) --- */
int y5_graph_load(y5_graph *g, y5_backend *be, const y5_model_desc *d, char *err, size_t errlen);
/* Plans n x h x w; returns 0, fills arena size. */
int y5_graph_plan(y5_graph *g, int n, int h, int w, size_t *arena_elems, size_t *scratch_bytes);
void y5_graph_free(y5_graph *g);
/* FLOPs of one op (conv: 2*M*K*N; others 0), for the profile. */
double y5_op_flops(const y5_graph *g, const y5_op *op);
/* Bytes an op reads and writes (activations + weights), FP32. */
double y5_op_bytes(const y5_graph *g, const y5_op *op, int elem_size);

/* CPU kernels of the non-conv layers (FP32 NHWC), in layers/<type>.c. */
struct y5_pool;
void y5_maxpool_cpu(struct y5_pool *pool, const float *in, int n, int h, int w, int c, int ld_in,
                    float *out, int ld_out, int k);
void y5_upsample_cpu(const float *in, int n, int h, int w, int c, int ld_in,
                     float *out, int ld_out, int scale);
void y5_copy_cpu(const float *in, int n, int h, int w, int c, int ld_in, float *out, int ld_out);
void y5_decode_cpu(struct y5_pool *pool, const float *const *heads, const int *hs, const int *ws,
                   const int *lds, int n, const y5_detect_shape *d, float *pred);

#endif
