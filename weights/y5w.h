/* y5w.h - the flat weight file: in-memory model description, writer, reader.
 *
 * The byte layout is specified in weights/FORMAT.md. This header is the one
 * contract between the converter (which fills a y5w_model and writes it) and
 * the engine (which maps a file and reads a y5w_model back out of it).
 *
 * Tensors are named by module path inside the checkpoint, relative to the
 * top-level layer, e.g. layer 2's C3 first conv is layer=2, name "cv1"; the
 * second conv of its first Bottleneck is "m.0.cv2"; Detect's level-1 head is
 * "m.1". Every conv tensor pair is "<path>.weight" (OIHW: Cout x Cin x kh x kw,
 * BatchNorm already folded in) and "<path>.bias" (Cout).
 */
#ifndef Y5W_H
#define Y5W_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/act.h"

#define Y5W_MAGIC "Y5WEIGHT"   /* 8 bytes, no terminator in the file */
#define Y5W_VERSION 2u          /* what the writer writes; the reader also reads 1 */
#define Y5W_ALIGN 64u
#define Y5W_MAX_FROM 8
#define Y5W_NAME_MAX 64        /* tensor names, class names: bytes incl. NUL */

/* Section and record sizes (weights/FORMAT.md), shared by the reader and
 * the writer; the reader refuses a file whose header states other sizes. */
#define Y5W_HEADER_SIZE 128u
#define Y5W_META_SIZE 880u     /* version 2 (version 1: 816) */
#define Y5W_LAYER_REC 96u      /* version 2 (version 1: 72) */
#define Y5W_META_SIZE_V1 816u
#define Y5W_LAYER_REC_V1 72u
#define Y5W_MAX_POOLS 4        /* SPP: parallel max pools at most */
#define Y5W_GEN_MAX 56         /* generation text, bytes incl. NUL */
#define Y5W_NAME_REC 64u       /* one class name */
#define Y5W_TENSOR_REC 112u

typedef enum {
    Y5_LAYER_CONV = 1,     /* Conv: conv2d + folded BN + SiLU */
    Y5_LAYER_C3 = 2,       /* C3 with n Bottlenecks */
    Y5_LAYER_SPPF = 3,     /* SPPF: cv1, 3 cascaded maxpools, concat, cv2 */
    Y5_LAYER_UPSAMPLE = 4, /* nearest, integer scale */
    Y5_LAYER_CONCAT = 5,   /* along channels */
    Y5_LAYER_DETECT = 6,   /* per-level 1x1 conv (with bias) + decode */
    Y5_LAYER_SPP = 7       /* SPP: cv1, n parallel maxpools (pools[]), concat, cv2 (v2) */
} y5_layer_type;
#define Y5_LAYER_TYPE_MAX 7

typedef enum { Y5_DTYPE_F32 = 0, Y5_DTYPE_F16 = 1 } y5_dtype;

/* One top-level layer (model.model[i]). Fields a type does not use are 0. */
typedef struct {
    uint32_t type;               /* y5_layer_type */
    uint32_t n_from;             /* number of inputs */
    int32_t from[Y5W_MAX_FROM];  /* absolute layer indices; -1 = network input */
    int32_t c_in;                /* channels of the (first) input; for Concat the sum */
    int32_t c_out;               /* output channels (Detect: na*(5+nc) per level) */
    int32_t k, s, p;             /* Conv: kernel, stride, padding. SPPF: pool kernel in k */
    int32_t n;                   /* C3: number of Bottlenecks */
    int32_t shortcut;            /* C3: 1 when its Bottlenecks add the residual */
    int32_t scale;               /* Upsample: integer factor */
    /* version 2 */
    uint32_t act;                /* y5_act_kind of the layer's convs (Conv, C3, SPPF, SPP);
                                  * a version-1 file reads as SiLU for those */
    float act_slope;             /* Y5_ACT_LEAKY: negative slope */
    int32_t pools[Y5W_MAX_POOLS];/* SPP: kernel of each of its n parallel max pools */
} y5_layer;

typedef struct {
    int32_t layer;               /* top-level layer index the tensor belongs to */
    char name[Y5W_NAME_MAX];     /* path inside that layer, e.g. "m.0.cv1.weight" */
    uint32_t dtype;              /* y5_dtype */
    uint32_t ndim;
    int32_t shape[4];
    const void *data;            /* writer: caller's buffer; reader: into the mapping */
    uint64_t nbytes;
} y5_tensor;

typedef struct {
    uint32_t n_layers;
    y5_layer *layers;
    uint32_t n_tensors;
    y5_tensor *tensors;
    uint32_t nc;                 /* classes */
    uint32_t nl, na;             /* detection levels, anchors per level */
    float anchors[8][16];        /* [level][2*a + 0/1] in pixels (grid units x stride) */
    float strides[8];
    char (*names)[Y5W_NAME_MAX]; /* nc class names */
    char source[256];            /* free text: the checkpoint it came from */
    /* version 2 */
    uint32_t imgsz;              /* training image size the checkpoint records; 0: unknown */
    char generation[Y5W_GEN_MAX];/* which YOLOv5 code wrote the checkpoint, e.g. "v4.0-v5.0 (Focus, SPP)" */
    uint32_t version;            /* reader: the file's format version */
} y5_model_desc;

/* Writes desc to path atomically (temp file + rename). Returns 0 or -1 with a
 * one-line message in err. */
int y5w_write(const char *path, const y5_model_desc *desc, char *err, size_t errlen);

/* A mapped weight file. desc's arrays and tensor data point into the mapping
 * (layers and tensors are decoded into heap arrays owned by the file). */
typedef struct {
    y5_model_desc desc;
    void *map;
    size_t map_size;
} y5w_file;

/* Maps and validates (magic, version, sizes, offsets, checksum). Returns 0,
 * or -1 with "PATH: problem" in err. */
int y5w_open(const char *path, y5w_file *f, char *err, size_t errlen);
void y5w_close(y5w_file *f);

/* Looks a tensor up by layer and name; NULL when absent. */
const y5_tensor *y5w_find(const y5_model_desc *d, int layer, const char *name);

/* Copies a tensor's elements to FP32 (n elements). */
void y5w_to_f32(const y5_tensor *t, float *dst);

/* Number of elements of a tensor. */
uint64_t y5w_numel(const y5_tensor *t);

const char *y5_layer_type_name(uint32_t type);

/* Checks every field of layer i of d for its type (channels, kernel,
 * stride, padding, repeat count, shortcut, scale, pools, activation, inputs)
 * and, for Detect, the head (nl, na, nc, anchors finite and positive,
 * strides positive integers). The reader refuses a file that fails it, the
 * writer refuses to write one. Returns 0, or -1 with "layer I (Type): field
 * F is V (expected ...)" in why. */
int y5w_check_layer(const y5_model_desc *d, uint32_t i, char *why, size_t whylen);

/* The model's largest Detect stride (the letterbox and input-size multiple:
 * 32 for P5 models, 64 for P6); 32 when the file has none. */
int y5w_max_stride(const y5_model_desc *d);

/* The model's own input size: the training size the checkpoint records (640
 * when unknown) rounded up to y5w_max_stride. */
int y5w_imgsz(const y5_model_desc *d);

/* The file checksum of weights/FORMAT.md ("Checksum"), computed in pieces:
 * init, update over the file's bytes in order (any split), final. A trailing
 * partial word is zero-padded. */
typedef struct {
    uint64_t h[4];
    uint64_t nwords;
    uint8_t carry[8];
    uint32_t ncarry;
} y5w_sum;
void y5w_sum_init(y5w_sum *s);
void y5w_sum_update(y5w_sum *s, const void *data, size_t n);
uint64_t y5w_sum_final(y5w_sum *s);

/* Bytes per element of a y5_dtype (0 for an unknown one). */
size_t y5w_dtype_size(uint32_t dtype);

/* IEEE half <-> float, round to nearest even. */
float y5_half_to_float(uint16_t h);
uint16_t y5_float_to_half(float f);

#endif
