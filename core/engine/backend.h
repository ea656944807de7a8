/* backend.h - the one interface between the graph executor and the hardware.
 *
 * The executor (core/engine.c) turns the weight file's layer table into a
 * flat list of ops over tensor views, plans one arena per input shape, and
 * calls these functions; it never knows whether it drives the CPU or a GPU.
 * A view is an element offset into the backend's arena plus an NHWC shape
 * whose channel stride (ld) may exceed its channel count: that is how a conv
 * reads a channel slice and writes into its slot of a concat buffer. The
 * backend owns the element type (FP32 on the CPU, FP16 on CUDA). */
#ifndef Y5_BACKEND_H
#define Y5_BACKEND_H

#include <stddef.h>

typedef struct {
    size_t off;          /* element offset of (n=0, y=0, x=0, c=0) in the arena */
    int n, h, w, c, ld;  /* batch, height, width, channels, channel stride */
} y5_view;

typedef struct {
    int cin, cout, k, s, p;
} y5_conv_shape;

typedef struct {
    int nl, na, no;          /* levels, anchors per level, outputs per anchor (5+nc) */
    float anchors[8][16];    /* pixels, [level][2a], [level][2a+1] */
    float strides[8];
    int rows;                /* total rows per image */
    float lazy_obj_min;      /* > 0: skip class sigmoids of rows with obj <= this */
} y5_detect_shape;

typedef struct y5_backend y5_backend;

typedef struct {
    const char *name;
    /* Weight upload/packing for one conv (w: OIHW FP32, bias: cout). Returns
     * an opaque handle, NULL on failure. */
    void *(*conv_create)(y5_backend *b, const y5_conv_shape *s, const float *w, const float *bias);
    void (*conv_destroy)(y5_backend *b, void *conv);
    /* (Re)allocates the arena for `elems` elements, the conv scratch for the
     * largest conv of the plan and the FP32 Detect output (pred_floats). */
    int (*arena)(y5_backend *b, size_t elems, size_t scratch_bytes, size_t pred_floats, char *err, size_t errlen);
    size_t (*conv_scratch)(y5_backend *b, void *conv, int n, int h, int w);

    /* out = act(conv(in) + bias) (+ res). res may be NULL. */
    void (*conv)(y5_backend *b, void *conv, const y5_view *in, const y5_view *out,
                 const y5_view *res, int silu);
    /* k x k max pool, stride 1, padding k/2 (SPPF). */
    void (*maxpool)(y5_backend *b, const y5_view *in, const y5_view *out, int k);
    /* nearest, integer factor. */
    void (*upsample)(y5_backend *b, const y5_view *in, const y5_view *out, int scale);
    /* channel-slice copy (a Concat input that could not be written in place). */
    void (*copy)(y5_backend *b, const y5_view *in, const y5_view *out);
    /* Detect: sigmoid + grid/anchor decode of nl head outputs into the
     * backend's FP32 pred (n x rows x no; FP32 so boxes keep sub-pixel
     * precision whatever the arena's type). */
    void (*decode)(y5_backend *b, const y5_view *heads, const y5_detect_shape *d);
    /* Host-visible pred (n_floats values), after the forward (device
     * backends download it; the CPU returns its buffer). NULL on error. */
    const float *(*pred_host)(y5_backend *b, size_t n_floats);

    /* Where the host writes the NHWC FP32 network input (CPU: the arena
     * itself; device backends: a host staging buffer), and the call that
     * makes it visible to the forward (CPU: nothing to do). */
    float *(*input_host)(y5_backend *b, const y5_view *in);
    int (*input_commit)(y5_backend *b, const y5_view *in, char *err, size_t errlen);

    int (*sync)(y5_backend *b, char *err, size_t errlen);
    void (*destroy)(y5_backend *b);
} y5_backend_ops;

struct y5_backend {
    const y5_backend_ops *ops;
    void *impl;
};

/* The CPU backend (core/backend_cpu.c). threads <= 0: all cores. */
y5_backend *y5_backend_cpu_create(int threads, char *err, size_t errlen);
int y5_backend_cpu_threads(const y5_backend *b);

#endif
