/* graph.h - the network as ops over planned buffers.
 *
 * The graph knows buffers, slices, ops, lifetimes and arena placement; it
 * knows no layer type. What each layer type means (which convs it loads,
 * its output size, the ops it emits) is a row of the layer table
 * (y5_layer_def below), defined in layers/<type>.c and collected in
 * layers/layers.c; the engine hands that table to y5_graph_load.
 *
 * Built in two steps. At load (shape-independent): every layer's row loads
 * its convs onto the backend (def->load). At plan time, for one (n, h, w):
 * output sizes first (def->shape), with def->reserve letting a layer (Concat)
 * allocate its output buffer early and offer channel slots to its producers
 * so they write in place; then every layer emits its ops over buffer slices
 * (def->plan); buffers get arena offsets by lifetime (first-fit, largest
 * first), so memory is planned once per shape and no op allocates.
 *
 * Where the rest lives: the backend interface in core/engine/backend.h, the
 * CPU backend and its kernels in layers/cpu/, the CUDA backend in cuda/. */
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
    int n, h, w, c;          /* c: the channels its slices cover */
    int ld;                  /* channel stride: c rounded up to 8 (y5_graph_new_buffer) */
    int first, last;         /* op index range of its lifetime */
    size_t off;              /* arena offset (elements) once placed */
    int pinned;              /* never shares memory (input, pred) */
} y5_buffer;

typedef enum { Y5_OP_CONV, Y5_OP_MAXPOOL, Y5_OP_UPSAMPLE, Y5_OP_COPY, Y5_OP_DECODE } y5_op_kind;

typedef struct {
    int kind;
    int layer;               /* top-level layer it belongs to (profiling) */
    int conv;                /* index into the engine's conv table */
    int act;                 /* Y5_OP_CONV: y5_act_kind (core/base/act.h) */
    float slope;             /* its LeakyReLU slope */
    int k, scale;
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

typedef struct y5_graph y5_graph;

/* One row of the layer table: everything the graph needs to know about one
 * layer type of the weight file. The functions get the layer's index li and
 * its record L; they build on the helper API below. */
typedef struct {
    uint32_t type;           /* Y5_LAYER_* id in the weight file */
    const char *name;        /* for messages */
    unsigned flags;          /* Y5_LAYER_F_* */
    /* Creates the layer's convs (y5_graph_add_conv) and checks its weights;
     * NULL: the type has no weights. 0 or -1 (y5_graph_fail). */
    int (*load)(y5_graph *g, int li, const y5_layer *L);
    /* Required: output size from the size of its first input (ih x iw). */
    void (*shape)(const y5_graph *g, int li, const y5_layer *L, int ih, int iw, int *oh, int *ow);
    /* Optional, run in the shape pass before any layer plans: a layer whose
     * output buffer must exist before its producers plan (Concat) allocates
     * it here, sets g->layer_out[li] and offers slots (y5_graph_offer_slot). */
    int (*reserve)(y5_graph *g, int li, const y5_layer *L);
    /* Emits the layer's ops and sets g->layer_out[li]. 0 or -1. */
    int (*plan)(y5_graph *g, int li, const y5_layer *L);
} y5_layer_def;

/* Row flags: facts about a type that the graph's buffer rules depend on. */
enum {
    /* The layer takes its output from y5_graph_layer_output, so it can write
     * straight into a channel slot of a consumer's buffer (Concat). Types
     * without it own their output buffer (Concat) or have none in the arena
     * (Detect). */
    Y5_LAYER_F_SLOT_OUTPUT = 1u << 0,
    /* The network's output: exactly one such layer, and it is the last. */
    Y5_LAYER_F_FINAL = 1u << 1,
};

/* Everything the layers need while loading or planning. */
struct y5_graph {
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
    /* the layer table (NULL-terminated) and each layer's row of it */
    const y5_layer_def *const *table;
    const y5_layer_def **def;
};

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
/* Offers layer src (-1: the network input) the slot s of a consumer's
 * buffer to write its output into; taken only when src's type has
 * Y5_LAYER_F_SLOT_OUTPUT and src has no slot yet (else the consumer copies). */
void y5_graph_offer_slot(y5_graph *g, int src, y5_slice s);
int y5_graph_emit(y5_graph *g, const y5_op *op);
int y5_graph_fail(y5_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int y5_graph_conv_out(const y5_graph *g, int conv, int in) {
    const y5_conv_shape *s = &g->convs[conv].shape;
    return (in + 2 * s->p - s->k) / s->s + 1;
}

/* --- the graph as a whole (core/engine/graph.c) --- */
/* Loads every layer of d through its row of table (NULL-terminated;
 * layers/layers.h: y5_layer_table). */
int y5_graph_load(y5_graph *g, y5_backend *be, const y5_model_desc *d, const y5_layer_def *const *table,
                  char *err, size_t errlen);
/* A trial plan at a small input (core/engine/graph_check.c), right after
 * load: 0, or -1 with the reason the model cannot be planned at any size
 * (channel mismatch, bad Concat, bad stride) in g->err. */
int y5_graph_check(y5_graph *g);
/* Plans n x h x w; returns 0, fills arena size. */
int y5_graph_plan(y5_graph *g, int n, int h, int w, size_t *arena_elems, size_t *scratch_bytes);
void y5_graph_free(y5_graph *g);
/* FLOPs of one op (conv: 2*M*K*N; others 0), for the profile. */
double y5_op_flops(const y5_graph *g, const y5_op *op);
/* Bytes an op reads and writes (activations + weights), FP32. */
double y5_op_bytes(const y5_graph *g, const y5_op *op, int elem_size);

#endif
