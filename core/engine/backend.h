/* backend.h - the one interface between the engine and the hardware.
 *
 * The engine (core/engine/engine.c) plans the graph for one input shape,
 * translates the planned ops into a y5_backend_plan (a flat op list over
 * resolved tensor views) and hands the backend that whole list once per
 * forward (compute). It never knows whether it drives the CPU or a GPU: a
 * backend is opened by device string through the registry at the end of
 * this header (core/engine/backend.c), and everything device-specific
 * (graph capture and replay, letterbox and NMS on the device, element type)
 * stays behind these function pointers, as ggml's backends do behind
 * graph_compute.
 *
 * A view is an element offset into the backend's arena plus an NHWC shape
 * whose channel stride (ld) may exceed its channel count: that is how a conv
 * reads a channel slice and writes into its slot of a concat buffer. The
 * backend owns the element type (FP32 on the CPU, FP16 on CUDA; elem_bytes
 * says which); the host always sees FP32.
 *
 * Adding a backend: its files (an ops table and a create function) and one
 * row in backend.c's table; the engine does not change. */
#ifndef Y5_BACKEND_H
#define Y5_BACKEND_H

#include <stddef.h>
#include <yolov5c.h>
#include "core/base/act.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    float lazy_obj_min;      /* > 0: class columns of rows with obj <= this are 0, not sigmoids */
} y5_detect_shape;

/* --- the op list a backend runs -------------------------------------------
 * The backend's own op representation, independent of the graph's
 * (core/engine/graph.h): every view is resolved, every conv is the handle
 * the backend returned from conv_create. */
typedef enum {
    Y5_BE_CONV,      /* out = act(conv(in[0]) + bias) (+ res), act: y5_act_kind */
    Y5_BE_MAXPOOL,   /* k x k max pool of in[0], stride 1, padding k/2 (SPPF) */
    Y5_BE_UPSAMPLE,  /* nearest, integer factor `scale` */
    Y5_BE_COPY,      /* channel-slice copy (a Concat input not written in place) */
    Y5_BE_DECODE     /* Detect: in[0..det->nl) -> the backend's FP32 pred */
} y5_backend_op_kind;

typedef struct {
    y5_backend_op_kind kind;
    void *conv;                  /* CONV: handle from conv_create */
    int act;                     /* CONV: y5_act_kind after the bias (0 none, 1 SiLU) */
    float slope;                 /* CONV: LeakyReLU's negative slope */
    int has_res;                 /* CONV: add res after the activation */
    int k;                       /* MAXPOOL: kernel size */
    int scale;                   /* UPSAMPLE: factor */
    const y5_detect_shape *det;  /* DECODE: the head (read at every compute) */
    y5_view in[8], out, res;     /* DECODE reads in[0..det->nl); out unused */
} y5_backend_op;

typedef struct {
    const y5_backend_op *ops;
    int n_ops;
    y5_view input;               /* the network input, committed before the first op
                                  * (n == 0: none; the ops read what the arena holds) */
} y5_backend_plan;

typedef struct y5_backend y5_backend;

typedef struct {
    const char *name;            /* "cpu", "cuda": the registry row it belongs to */
    int elem_bytes;              /* arena element size: 4 (FP32), 2 (FP16) */

    /* Weight upload/packing for one conv (w: OIHW FP32, bias: cout). Returns
     * an opaque handle, NULL on failure. */
    void *(*conv_create)(y5_backend *b, const y5_conv_shape *s, const float *w, const float *bias);
    void (*conv_destroy)(y5_backend *b, void *conv);
    /* (Re)allocates the arena for `elems` elements, the conv scratch for the
     * largest conv of the plan and the FP32 Detect output (pred_floats).
     * Drops whatever the backend kept that the reallocation invalidates
     * (CUDA: buffers only grow; a buffer that moves drops every captured
     * graph, otherwise the graphs of earlier plans stay for when their
     * shape comes back). */
    int (*arena)(y5_backend *b, size_t elems, size_t scratch_bytes, size_t pred_floats, char *err, size_t errlen);
    size_t (*conv_scratch)(y5_backend *b, void *conv, int n, int h, int w);

    /* Runs one whole forward: commits plan->input, runs every op in order
     * and waits until it is done. op_ms == NULL: the backend's fastest way
     * (CUDA: a plan's first compute runs eagerly, its second is captured
     * into a CUDA graph, later ones replay it, a few plans keeping theirs;
     * unless Y5_NO_CUDA_GRAPH); op_ms != NULL (n_ops
     * entries): ops run eagerly, each waited for and timed in ms (the
     * profiler). Returns 0, or -1 with one line in err. */
    int (*compute)(y5_backend *b, const y5_backend_plan *plan, double *op_ms, char *err, size_t errlen);
    /* Optional, NULL = compute only (the CPU: its compute is the work
     * itself). compute without the wait: the forward is queued and sync()
     * waits for it and reports its errors (CUDA: a graph launch returns once
     * queued; a plan's first, eager compute still waits). Until
     * that sync the caller may write the u8 staging that input_host_u8
     * hands out next (double-buffered: the queued forward uploads from the
     * other), and nothing else: no pred, no views, no plan, no other input. */
    int (*compute_async)(y5_backend *b, const y5_backend_plan *plan, char *err, size_t errlen);

    /* Single ops, queued (errors of a device backend surface at the next
     * sync). compute is built from these (y5_backend_run_ops); tests and
     * debugging call them directly. */
    void (*conv)(y5_backend *b, void *conv, const y5_view *in, const y5_view *out,
                 const y5_view *res, int act, float slope);
    void (*maxpool)(y5_backend *b, const y5_view *in, const y5_view *out, int k);
    void (*upsample)(y5_backend *b, const y5_view *in, const y5_view *out, int scale);
    void (*copy)(y5_backend *b, const y5_view *in, const y5_view *out);
    /* FP32 pred (n x rows x no) whatever the arena's type, so boxes keep
     * sub-pixel precision. */
    void (*decode)(y5_backend *b, const y5_view *heads, const y5_detect_shape *d);

    /* Host-visible pred (n_floats values), after the forward (device
     * backends download it; the CPU returns its buffer). NULL on error. */
    const float *(*pred_host)(y5_backend *b, size_t n_floats);
    /* Writes count floats at float offset off of the pred (tests: poison). */
    int (*pred_write)(y5_backend *b, size_t off, const float *src, size_t count, char *err, size_t errlen);

    /* Where the host writes the NHWC FP32 network input (CPU: the arena
     * itself; device backends: a host staging buffer), and the call that
     * makes it visible to the ops (compute calls it first; CPU: nothing). */
    float *(*input_host)(y5_backend *b, const y5_view *in);
    int (*input_commit)(y5_backend *b, const y5_view *in, char *err, size_t errlen);
    /* Optional, NULL = the host converts (the CPU: input_host + y5_u8_to_unit_f32).
     * Where the host writes the input as u8 (n*h*w*c bytes, NHWC, 0..255);
     * the next commit uploads those bytes and stores u8 / 255.0f rounded to
     * the arena's type, the values input_host + y5_u8_to_unit_f32 give. A
     * device backend uploads a quarter of the FP32 bytes and the host skips
     * the conversion. The last of input_host, input_host_u8 and letterbox
     * decides where the next forward's input comes from. */
    unsigned char *(*input_host_u8)(y5_backend *b, const y5_view *in);
    /* Optional, NULL = the next compute uploads: queue the upload of the u8
     * input written since input_host_u8 now, beside a forward that may
     * still run (CUDA: a second stream, behind the running forward's own
     * read of the device copy), so the next compute only waits for it.
     * Nothing to do (0) when the input is not u8 or is queued already. */
    int (*input_upload)(y5_backend *b, const y5_view *in, char *err, size_t errlen);

    /* Host FP32 <-> a view, synchronous (tests, per-layer checks). The host
     * side is dense: n*h*w*c values, channels innermost; only the view's c
     * channels of each pixel are touched (a view with c == ld covers the
     * whole buffer). Values are rounded to the arena's type on write. */
    int (*view_write)(y5_backend *b, const y5_view *v, const float *src, char *err, size_t errlen);
    int (*view_read)(y5_backend *b, const y5_view *v, float *dst, char *err, size_t errlen);

    /* Optional, NULL = the engine's host path. letterbox: detect.py's
     * letterbox of the RGB u8 image rgb (w0 x h0, packed HWC) resized to
     * new_w x new_h at (left, top), pad 114, /255, into batch slot `slot`
     * of the input view, exactly the values the host letterbox + input_host
     * give; the next compute then uses it instead of the host input. nms:
     * ultralytics NMS over image `image` of the pred (rows x no each) with
     * the same results as core/post/nms.c, boxes in network-input pixels;
     * returns the count or -1 (message in err). */
    int (*letterbox)(y5_backend *b, const y5_view *in, int slot, const unsigned char *rgb, int w0, int h0,
                     int new_w, int new_h, int top, int left, char *err, size_t errlen);
    int (*nms)(y5_backend *b, int image, int rows, int no, const y5_nms_opts *o, y5_det *out, int max_out,
               char *err, size_t errlen);
    /* Optional, NULL = nms per image (both or neither). The NMS of every
     * image of the pred (images x rows x no) queued behind the forward with
     * no host synchronisation, so that a device batch costs the one wait
     * the forward needs: nms_submit returns 1 once queued, 0 when it queued
     * nothing (nms answers then), -1 on error (message in err). It may be
     * called between compute_async and sync (it only queues work that reads
     * the pred after the forward writes it). After that sync, nms_take
     * copies image `image`'s boxes (network-input pixels, the results nms
     * would give for the submit's options and at most its max_out) into out
     * and returns the count or -1; it may itself fall back to nms for an
     * image the batch had no room for. Valid until the next compute,
     * arena or pred write. */
    int (*nms_submit)(y5_backend *b, int images, int rows, int no, const y5_nms_opts *o, int max_out, char *err,
                      size_t errlen);
    int (*nms_take)(y5_backend *b, int image, y5_det *out, int max_out, char *err, size_t errlen);

    /* Optional, NULL = nothing to say: a few words on how the backend runs
     * op with its current settings, for the profiler's table (CUDA convs:
     * "cublas", "mma 128x64"); NULL for an op it has no note on. A static
     * string. */
    const char *(*op_note)(y5_backend *b, const y5_backend_op *op);

    /* Optional, NULL = always: whether the backend can still run after a
     * failure. A device whose context took a sticky fault (a kernel's
     * illegal address, an uncorrectable ECC error, a GPU gone from the bus)
     * fails every later call, and the pipeline then gives it no more work.
     * Asked after a failure on the engine (a forward, its plan or input, an
     * NMS, a tile pass) only: it may synchronise. */
    int (*healthy)(y5_backend *b);
    /* Optional, tests only (Y5_FAULT_ENGINE): makes the device fail as a
     * real fault would (CUDA: a kernel that traps, leaving the context with a
     * sticky error). NULL: the engine fakes the fault itself. */
    void (*inject_fault)(y5_backend *b);

    /* One line naming the hardware: "cpu (16 threads)", "NVIDIA H200 (sm_90, 139 GiB)". */
    const char *(*describe)(const y5_backend *b);
    int (*sync)(y5_backend *b, char *err, size_t errlen);
    void (*destroy)(y5_backend *b);
} y5_backend_ops;

struct y5_backend {
    const y5_backend_ops *ops;
    void *impl;
};

/* --- registry (core/engine/backend.c) -------------------------------------
 * Opens a backend by device string: "cpu", "cuda", "cuda:N", "N" (= cuda:N);
 * NULL or "" is "cpu". threads: CPU worker threads (<= 0: all cores),
 * ignored by device backends. NULL and a one-line message naming the
 * device string on failure (unknown name, bad index, backend not in this
 * build, no device). */
y5_backend *y5_backend_open(const char *device, int threads, char *err, size_t errlen);
/* Starts loading, on a background thread, the libraries that opening a
 * backend of this device will need (CUDA: cuBLAS), so that it overlaps the
 * device's own start; returns at once (y5_engine_open calls it). A no-op for
 * the CPU and for unknown strings; y5_backend_open works with or without it. */
void y5_backend_preload(const char *device);
/* Device string of the i-th registered backend ("cpu", "cuda"), NULL past
 * the end; listed whether or not this build has it (opening says). */
const char *y5_backend_registered(int i);

/* Eager forward from the single ops: input_commit, then every op (waited for
 * and timed into op_ms when op_ms != NULL), then sync. Backends' compute
 * entries use it; y5_backend_run_ops queues the ops only (graph capture). */
int y5_backend_run_eager(y5_backend *b, const y5_backend_plan *p, double *op_ms, char *err, size_t errlen);
void y5_backend_run_op(y5_backend *b, const y5_backend_op *op);
void y5_backend_run_ops(y5_backend *b, const y5_backend_plan *p);

/* The CPU backend (layers/cpu/backend_cpu.c). threads <= 0: all cores. */
y5_backend *y5_backend_cpu_create(int threads, char *err, size_t errlen);
int y5_backend_cpu_threads(const y5_backend *b);

#ifdef __cplusplus
}
#endif
#endif
