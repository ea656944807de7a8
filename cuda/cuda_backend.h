/* cuda_backend.h - the CUDA backend: FP16 NHWC storage, FP32 accumulation
 * (cuBLAS GEMMs with 32-bit compute), behind core/engine/backend.h.
 *
 * Only built when nvcc is found (the Makefile then defines Y5_HAVE_CUDA);
 * the engine reaches it through the registry (y5_backend_open("cuda:N"),
 * core/engine/backend.c), never through this header. Everything a backend
 * op does is queued on the backend's one stream; errors of the void ops
 * (conv, maxpool, ...) are recorded and returned by the next
 * sync()/input_commit()/compute() as one line "cuda: <call>: <reason>
 * (file:line)".
 *
 * Through the ops table: compute() runs a plan eagerly the first time,
 * captures it into a CUDA graph the second and replays it after, keeping
 * the graphs of the last few plans (eager with Y5_NO_CUDA_GRAPH=1 or op_ms);
 * letterbox, nms and nms_submit/nms_take are the functions below (left out
 * of the backend's table when Y5_CPU_LETTERBOX=1 / Y5_CPU_NMS=1 at create,
 * so the engine takes its host paths; the batch NMS also with
 * Y5_NMS_BATCH=0); view_write/view_read convert FP32 <-> half.
 *
 * Extras for tests and per-layer checks, plain functions on the y5_backend
 * the create call returned (any other backend is refused with -1/0). */
#ifndef Y5_CUDA_BACKEND_H
#define Y5_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <yolov5c.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/engine/backend.h"

/* Number of usable CUDA devices (0 when there is no driver or no device). */
int y5_cuda_device_count(void);
/* One line describing why there is no device ("" when there is one). */
const char *y5_cuda_no_device_reason(void);

/* Creates the backend on device `device` (cudaSetDevice numbering). NULL and
 * a one-line message on failure. */
y5_backend *y5_backend_cuda_create(int device, char *err, size_t errlen);
/* 1 when b was made by y5_backend_cuda_create. */
int y5_cuda_is(const y5_backend *b);
/* "NVIDIA H200 (sm_90, 139 GiB)" style name of the backend's device. */
const char *y5_cuda_device_name(const y5_backend *b);

/* --- CUDA graphs (tests) ---------------------------------------------------
 * compute() keeps up to 4 graphs, one per plan (op list, Detect heads, input
 * view) and input source, least recently used out: a plan's first compute
 * runs eagerly (warm-up), its second is captured and launched, later ones
 * replay (backend_cuda.cu). A reallocated buffer (arena, scratch, pred,
 * input staging), a destroyed conv or a new chunk size drops them all.
 * reset drops them all; ready: the last compute replayed or captured a
 * graph (0 after arena()); count: graphs kept; captures: captures so far. */
void y5_cuda_graph_reset(y5_backend *b);
int y5_cuda_graph_ready(const y5_backend *b);
int y5_cuda_graph_count(const y5_backend *b);
long long y5_cuda_graph_captures(const y5_backend *b);

/* --- letterbox on the GPU ------------------------------------------------
 * Writes detect.py's letterbox of the RGB u8 image rgb (w0 x h0, HWC,
 * row-major, tightly packed) into batch slot `slot` of the network input
 * view `in` (in->w x in->h, as the plan; c = 3): the image resized to
 * new_w x new_h with OpenCV's fixed-point INTER_LINEAR (bit exact with
 * core/image/letterbox.c; a plain copy when new == original), placed at
 * (left, top), the rest 114, every value u8 / 255 rounded to half: the same
 * halves the CPU letterbox + input_commit give. Pass the y5_letterbox_geom
 * fields new_w, new_h, top, left. This is the table's letterbox entry. rgb is copied into pinned memory before
 * the call returns (the caller may reuse it at once); the work itself is
 * queued. After a letterbox the next forward's input_commit does not upload
 * the host staging buffer (the input already lies on the device) until the
 * next ops->input_host or ops->input_host_u8 call. */
int y5_cuda_letterbox(y5_backend *b, const y5_view *in, int slot, const uint8_t *rgb, int w0, int h0,
                      int new_w, int new_h, int top, int left, char *err, size_t errlen);

/* --- NMS on the GPU --------------------------------------------------------
 * ultralytics v7.0 non_max_suppression over image `image` of the device pred
 * (rows x no per image, as the last forward left it), the same rules and the
 * same float arithmetic as core/post/nms.c (obj > conf, conf = obj * cls, single
 * or multi label, class filter, stable sort by conf descending, max_nms,
 * class offset 7680 unless agnostic, IoU > iou_thres strict, max_det).
 * Writes at most max_out boxes in network-input pixels (before
 * y5_scale_boxes); returns the count or -1 (message in err). Waits for the
 * stream (the result is on the host on return). The table's nms entry. */
int y5_cuda_nms(y5_backend *b, int image, int rows, int no, const y5_nms_opts *o, y5_det *out, int max_out,
                char *err, size_t errlen);
/* --- NMS of a whole batch, one synchronisation -----------------------------
 * submit queues, on the backend's stream behind whatever is queued (the
 * forward), the NMS of images 0..images-1 of the pred with the rules of
 * y5_cuda_nms, and one async copy of every image's count and boxes into
 * pinned memory; it never waits for the device (except when a buffer
 * grows: the first batch, a larger shape, or when the class filter
 * changes). Returns 1 when queued, 0 when it queued nothing (no room for
 * even one candidate per image in the batch's key storage, keys that do not
 * fit 32 bits: use y5_cuda_nms), -1 on error. take, after the stream was
 * synchronised (it waits for the copy otherwise), copies image `image`'s
 * boxes (network-input pixels, at most max_out) and returns their count;
 * an image with more candidates than its key slots (multi-label with many
 * classes: the batch keeps its storage under 256 MiB) or a max_out above
 * the submit's is redone with y5_cuda_nms on the pred, which is why the
 * results stay valid only until the next forward, arena() or pred write.
 * The table's nms_submit / nms_take entries (absent with Y5_NMS_BATCH=0 or
 * Y5_CPU_NMS=1). Results equal y5_cuda_nms's and core/post/nms.c's bit for
 * bit (the block's code is cuda/nms_block.h, checked on the CPU by
 * tests/unit/test_nms_block.c). */
int y5_cuda_nms_submit(y5_backend *b, int images, int rows, int no, const y5_nms_opts *o, int max_out, char *err,
                       size_t errlen);
int y5_cuda_nms_take(y5_backend *b, int image, y5_det *out, int max_out, char *err, size_t errlen);
/* Tests: the batch's key and box storage bound in bytes (0: 256 MiB), so
 * that small tests reach the per-image redo and the not-queued case. */
void y5_cuda_nms_set_batch_bound(y5_backend *b, size_t bytes);
/* Tests: y5_cuda_nms_take calls since the backend opened that read the
 * batch's results (served) and that redid the image per image (redone). */
void y5_cuda_nms_take_counts(y5_backend *b, long long *served, long long *redone);
/* Tests: 1 forces the single-block greedy NMS (used anyway above 32768
 * candidates) instead of the IoU bitmask NMS. */
void y5_cuda_nms_force_greedy(y5_backend *b, int on);

/* --- arena access (tests, per-layer checks) ----------------------------------
 * FP32 host values <-> half arena elements [off, off + count); synchronous. */
int y5_cuda_arena_write(y5_backend *b, size_t off, const float *src, size_t count, char *err, size_t errlen);
int y5_cuda_arena_read(y5_backend *b, size_t off, float *dst, size_t count, char *err, size_t errlen);
/* Fills arena elements (value rounded to half; NaN stays NaN). */
int y5_cuda_arena_fill(y5_backend *b, size_t off, size_t count, float value, char *err, size_t errlen);
/* FP32 pred: write count floats at float offset off (the table's pred_write
 * entry) / fill all of it. */
int y5_cuda_pred_write(y5_backend *b, size_t off, const float *src, size_t count, char *err, size_t errlen);
int y5_cuda_pred_fill(y5_backend *b, float value, char *err, size_t errlen);
/* Loads cuBLAS (cuda/cublas_dl.cu) if no CUDA backend has yet: NULL, or
 * one line saying why it cannot. Needs no GPU (tests). */
const char *y5_cuda_cublas_load(void);
/* The same on a background thread, returning at once (y5_backend_preload):
 * a backend opened meanwhile waits for that load instead of starting its own. */
void y5_cuda_cublas_preload(void);
/* Tests: caps the conv scratch per GEMM chunk (bytes; 0: the default,
 * 256 MiB), so small tests reach the chunked path. Call before arena(). */
void y5_cuda_set_chunk_bytes(y5_backend *b, size_t bytes);
/* Tests: conv launches the host made since the backend opened (captured
 * graphs' replays not counted): groups, one per conv and per image group of
 * a padded input (pad_group); split_convs, those launched with v5's split-K. */
void y5_cuda_conv_counts(y5_backend *b, long long *groups, long long *split_convs);

/* --- conv implementation (Y5_CONV_IMPL, core/base/debug_env.h) -------------
 * CUBLAS: im2col + cublasGemmEx (FP32 out) + the epilogue kernel, the
 * reference and the fallback. MMA: the lab's v3 implicit-GEMM tensor-core
 * kernel (cuda/lab/conv_v3.cuh) for every conv it supports. AUTO: v3 where
 * it beat the cuBLAS path (cuda/conv_mma.cu), cuBLAS elsewhere. Under MMA
 * and AUTO a conv v3 cannot run (cin above 32 and not a multiple of 8, the
 * input's channel stride or offset not a multiple of 8, an output
 * overlapping its input; smaller cin runs on a padded copy) silently runs on
 * cuBLAS. V4: the lab's v4 (cuda/lab/conv_v4.cuh: 64-deep k-tiles,
 * swizzled shared memory, no division in the k-loop, 16-byte stores through
 * shared memory) wherever v3 could run; sm_80 and newer. A backend starts
 * with Y5_CONV_IMPL (default CUBLAS). */
enum { Y5_CUDA_CONV_CUBLAS = 0, Y5_CUDA_CONV_MMA = 1, Y5_CUDA_CONV_AUTO = 2, Y5_CUDA_CONV_WGMMA = 3, Y5_CUDA_CONV_TUNE = 4,
       Y5_CUDA_CONV_V4 = 5 };
/* TUNE: each conv shape timed on the device at a plan's warm-up on every
 * path that can run it (the runs below; a new run goes last: the cache
 * file's columns are in this order), each checked against cuBLAS's FP32
 * result, the fastest kept (backend_cuda.cu, "conv tuning"). */
enum { Y5_CUDA_RUN_CUBLAS = 0, Y5_CUDA_RUN_CUBLAS_HALF = 1, Y5_CUDA_RUN_V3 = 2, Y5_CUDA_RUN_V5 = 3, Y5_CUDA_RUN_V4 = 4,
       Y5_CUDA_RUN_N = 5 };
/* The choices are kept in a file between runs (cuda/tune_cache.h: path from
 * Y5_TUNE_CACHE, XDG_CACHE_HOME or HOME; Y5_TUNE_CACHE=0: none), read when a
 * backend under TUNE is created, written back when it is destroyed if it
 * tuned anything new; a file of another build or card is ignored. */
/* Tests: Detect's decode on its first kernel (1: k_decode, a warp per row)
 * or the tiled one (0, the default; Y5_CUDA_DECODE=1 starts a backend on
 * the first); drops the graphs, which bake it in. */
void y5_cuda_set_decode_first(y5_backend *b, int on);
/* Tests: launches of the first decode kernel queued from the host (an eager
 * forward or a capture; a graph replay queues none). */
long long y5_cuda_decode_first_launches(const y5_backend *b);
/* Tests: forwards whose u8 input came from an upload queued early
 * (input_upload), not from the compute's own. */
long long y5_cuda_early_uploads(const y5_backend *b);
/* Tests: shapes tuned, and paths rejected by the check (or failing), so
 * far; y5_cuda_tune_loaded: entries read from the cache file. */
void y5_cuda_tune_counts(y5_backend *b, long long *tuned, long long *rejected);
int y5_cuda_tune_loaded(const y5_backend *b);
/* Tests: tuning overwrites run `run`'s output (Y5_CUDA_RUN_*, -1: none)
 * before checking it, so the check must reject that path. */
void y5_cuda_tune_poison(y5_backend *b, int run);
/* WGMMA: the lab's v5 (cuda/lab/conv_v5.cuh, Hopper wgmma, sm_90a only)
 * wherever v3 could run, cuBLAS elsewhere; on a card without sm_90a every
 * conv stays on cuBLAS (one warning). y5_cuda_own_kernel_ready: 1 when the
 * backend's current choice has its own kernel set up (always 1 for CUBLAS;
 * under TUNE v3 and v4, which every card of this build runs). */
int y5_cuda_own_kernel_ready(const y5_backend *b);
/* Tests: sets the backend's choice (drops every graph: the choice is baked
 * into them). The scratch a conv needs depends on it: call before arena()
 * (the engine: before y5_engine_plan). Not during a capture. */
void y5_cuda_set_conv_impl(y5_backend *b, int impl);
int y5_cuda_get_conv_impl(const y5_backend *b);
/* Y5_CUBLAS_OUT for this backend (tests): 1 f16 (GEMM writes half into the
 * output slice, epilogue in place), 0 f32 (FP32 scratch); drops its graphs. */
void y5_cuda_set_cublas_half(y5_backend *b, int on);
/* What conv op `op` runs as with the backend's current choice: "cublas" or
 * "cublas f16" (Y5_CUBLAS_OUT=f16 where it applies), "mma 128x128" /
 * "mma 128x64" / "mma 64x64" (v3 and its tile), "v4 128x64" (v4 and its
 * tile), "wgmma 128x192" or "wgmma
 * 64x64 split 3" (v5, its tile and split-K), or "cublas (fallback)" /
 * "cublas f16 (fallback)" (the choice was an own kernel, these views rule it
 * out). NULL
 * for other ops or other backends. The table's op_note entry; it asks the
 * same helpers cuda_conv does. */
const char *y5_cuda_op_note(y5_backend *b, const y5_backend_op *op);

/* Rounds each value to the nearest half (ties to even) and back, as the
 * backend stores activations: tests use it to give the CPU reference the
 * same inputs. */
void y5_cuda_round_half(float *v, size_t count);

#ifdef __cplusplus
}
#endif
#endif
