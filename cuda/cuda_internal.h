/* cuda_internal.h - what the CUDA backend's .cu files share: the backend
 * state, the error-check macros and the kernel launchers (C++ linkage; only
 * cuda_backend.h is seen by C code). */
#ifndef Y5_CUDA_INTERNAL_H
#define Y5_CUDA_INTERNAL_H

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cublas_v2.h>
#include <stdio.h>

#include "cuda/cuda_backend.h"
#include "cuda/nms_block.h"
#include "cuda/tune_cache.h"

/* ---- state ---- */

/* Where the network input comes from at the next input_commit. */
enum {
    CU_IN_F32 = 0,   /* the pinned FP32 staging (input_host): upload, round to half */
    CU_IN_DEVICE,    /* already in the arena (letterbox): upload nothing */
    CU_IN_U8         /* the pinned u8 staging (input_host_u8): upload, /255 on the GPU */
};

/* Graphs kept per backend: alternating batch shapes (the pipeline's mixed
 * image sizes, a partial last batch) each keep theirs. */
#define CU_GRAPHS 4

/* cublas_dl.cu: cuBLAS, loaded by y5_cublas_load (NULL, or why not) when
 * the first CUDA backend opens; every call goes through these. */
typedef struct {
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_workspace)(cublasHandle_t, void *, size_t);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                              const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                              cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    const char *(*status_string)(cublasStatus_t);
} y5_cublas_api;
extern y5_cublas_api y5_cublas;
const char *y5_cublas_load(void);

/* One plan's forward, keyed by the plan's content (a deep copy: the engine
 * reuses one op array for every plan, so its address says nothing) and by
 * the input source. Every device pointer a graph bakes in (arena, scratch,
 * pred, staging, weights) only changes through a reallocation, which drops
 * every entry (graphs_drop_all). */
typedef struct {
    int used;                 /* slot taken */
    int state;                /* CU_G_* */
    cudaGraphExec_t exec;     /* CU_G_GRAPH */
    y5_backend_op *ops;       /* copy of the plan's op list */
    y5_detect_shape *dets;    /* copies of the DECODE ops' heads, in op order */
    int n_ops, n_dets;
    y5_view input;
    int input_src;
    unsigned long long stamp; /* last use */
} cu_graph;
enum {
    CU_G_WARM = 1,  /* ran once eagerly (warm-up); the next compute captures */
    CU_G_GRAPH,     /* captured: compute replays it */
    CU_G_EAGER      /* the capture failed: this plan runs eagerly (warned once) */
};
typedef struct {
    int cin, cout, k, s, p;
    /* Channels the kernels read: cin, or cin rounded up to 8 where cin is
     * not a multiple of 8 and small (CU_PAD_CIN_MAX; the RGB stem's 3, a
     * Focus conv's 12). Such a conv first copies its input into the scratch
     * with zero channels added (cu_pad_channels): then K and every row are
     * multiples of 8 halves, the im2col copies 16 bytes at a time, cuBLAS
     * gets an aligned K, and v3 can run it. On an H200 the stem as cin 3
     * (K 108) took 6.25 ms of the 18.9 ms op-by-op yolov5m batch-32 profile; the conv
     * lab ran the same conv padded to 8 channels in 2.03 ms on the cuBLAS
     * path and 1.25 ms on v3 (bench/results/gpu.md, 2026-11-27). */
    int cin_pad;
    int K;         /* k * k * cin_pad: GEMM depth */
    int ldw;       /* K rounded up to 8: column stride of the packed weights */
    /* cout rounded up to 8: the columns of w (those past cout are +0) and
     * the row stride of the cuBLAS path's FP32 result, whose GEMM computes
     * them all. For Detect's 255 this gives cuBLAS an aligned problem (m and
     * ldc multiples of 8); the epilogue reads the first cout. */
    int cout_pad;
    __half *w;     /* device, cout_pad columns of ldw halves: w[co * ldw + (ky * k + kx) * cin_pad + ci], 0 for ci >= cin */
    float *bias;   /* device, cout */
} cu_conv;
#define CU_PAD_CIN_MAX 32

/* One tuned conv shape (Y5_CONV_IMPL=tune; backend_cuda.cu, "conv
 * tuning"): the record the tuning cache file keeps (tune_cache.h). */
typedef y5_tune_rec cu_tune_entry;

typedef struct {
    int device, sm_count;
    char name[160];
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    size_t blas_ws_bytes;

    __half *arena;
    size_t arena_elems;
    void *scratch;
    size_t scratch_bytes;
    size_t chunk_bytes;   /* cap on one GEMM chunk's scratch */
    long long dbg_conv_groups, dbg_split_convs; /* conv launches seen by the host (tests: y5_cuda_conv_counts) */
    int conv_impl;        /* Y5_CUDA_CONV_*: the convs' implementation (cuda_backend.h) */
    int mma_state;        /* v3's setup on this device: 0 not tried, 1 done, -1 failed (convs on cuBLAS) */
    int wgmma_state;      /* v5's (conv_wgmma.cu), likewise: -1 also when the device runs no sm_90a code */
    int v4_state;         /* v4's (conv_v4.cu), likewise */
    int smem_optin;       /* the device's opt-in shared memory per block (v4 picks tiles that fit) */
    int cublas_half;      /* Y5_CUBLAS_OUT=f16: cuBLAS convs write half into the output slice (cuda_conv) */
    int decode_first;     /* Y5_CUDA_DECODE=1 (or y5_cuda_set_decode_first): Detect's first decode kernel */
    /* Y5_CONV_IMPL=tune (backend_cuda.cu, "conv tuning"): the measured choice
     * per conv shape and views, the run a conv is forced to while it is
     * timed (CU_RUN_*, -1: none), and the tests' counters and poison */
    cu_tune_entry *tune;
    int n_tune, cap_tune;
    int tune_loaded;      /* entries read from the tuning cache file (the first n_tune at load) */
    int tune_dirty;       /* entries tuned since the file was read: written back at destroy */
    int tune_force;
    int tune_force_ran;   /* the forced own kernel really ran (its views allowed it) */
    int tune_poison;      /* tests: CU_RUN_* whose output tuning overwrites before the check; -1 none */
    void *tune_snap;      /* tuning's snapshot of an output span (+ the check's counters), grown as shapes need
                           * it and freed when the warm-up forward ends (tune_snap_release) */
    size_t tune_snap_bytes;
    long long dbg_tuned, dbg_tune_rejected;
    float *pred;          /* device FP32 Detect output */
    size_t pred_floats;
    float *pred_h;        /* pinned copy */

    float *in_h;          /* pinned FP32 input staging */
    float *in_d;          /* device FP32 copy of it */
    size_t in_cap;        /* floats in both */
    /* pinned u8 input staging, double-buffered: the host fills slot
     * in8_slot (input_host_u8) while a forward queued by compute_async may
     * still be uploading from the other; each slot's upload is followed by
     * its event, which input_host_u8 waits for before handing the slot out
     * again. A slot is handed out again (not the other) until it has been
     * uploaded, and every forward uploads the slot handed out last: filled
     * once, forwarded many times reads the same bytes each time. The upload
     * is outside the captured graph (compute enqueues it before the launch),
     * so the graph does not bake in a slot. */
    unsigned char *in8_h[2];
    cudaEvent_t in8_ev[2];
    int in8_pending[2];   /* an upload from the slot was queued after its event was last waited for */
    int in8_slot;         /* the slot handed out last: the one every upload reads */
    int in8_uploaded;     /* in8_slot was uploaded since it was handed out: the next hand-out takes the other */
    unsigned char *in8_d; /* the device copy the /255 kernel reads (outside the graph: convert_u8) */
    size_t in8_cap;       /* bytes in each slot and the device copy */
    /* the upload queued early (input_upload) on its own stream, so that it
     * runs beside the forward in flight: it waits for that forward's /255
     * kernel (in8_consumed, recorded after each) before it overwrites
     * in8_d, and the next compute waits for it (in8_ev of its slot) */
    cudaStream_t up_stream;
    cudaEvent_t in8_consumed;
    int in8_early;        /* the slot handed out last is uploaded (or queued) by input_upload */
    long long dbg_early_uploads; /* forwards whose input came from an early upload (tests) */
    long long dbg_decode_first;  /* launches of the first decode kernel queued from the host (tests; a replay adds none) */
    int input_src;        /* CU_IN_*: what the next input_commit uploads */

    /* letterbox staging */
    unsigned char *lb_h, *lb_d;
    size_t lb_cap;
    cudaEvent_t lb_done;
    int lb_pending;

    /* NMS buffers (grown on demand; kernels_nms.cu). The batch NMS uses
     * the keys, sort scratch and box arrays too, for all its images at once:
     * the two never run interleaved (one stream; a batch's per-image
     * redo in take starts after the batch's results are on the host). */
    unsigned long long *nms_keys, *nms_sorted;
    size_t nms_key_cap;
    unsigned int *nms_count;   /* device counters: [0] candidates, [1] kept */
    void *nms_tmp;
    size_t nms_tmp_cap;
    y5n_box *nms_box;
    float *nms_area;
    y5_det *nms_det;
    size_t nms_box_cap;
    unsigned long long *nms_mask;
    size_t nms_mask_cap;       /* words */
    int *nms_kept;
    y5_det *nms_out;
    size_t nms_kept_cap;
    unsigned char *nms_cls;    /* the class filter as a mask of nms_cls_nc bytes (0: none uploaded) */
    size_t nms_cls_cap;
    unsigned char *nms_cls_h;  /* host copy of what nms_cls holds (uploaded again only when it changes) */
    size_t nms_cls_h_cap;
    unsigned char *nms_cls_tmp; /* where the next filter's host mask is built */
    size_t nms_cls_tmp_cap;
    int nms_cls_nc;
    void *nms_h;               /* pinned: count + result boxes */
    size_t nms_h_cap;
    int nms_greedy;

    /* batch NMS (y5_cuda_nms_submit / _take): what the last submit queued */
    void *nmsb_res;            /* device: candidate counts, kept counts, then each image's limit boxes */
    size_t nmsb_res_cap;
    void *nmsb_h;              /* pinned copy of nmsb_res, written by the submit's one async copy */
    size_t nmsb_h_cap;
    int *nmsb_seg;             /* device: per image segment begin, end, candidates into NMS */
    size_t nmsb_seg_cap;
    y5n_box *nmsb_kbox;        /* device: kept boxes per image when limit is too large for shared memory */
    float *nmsb_karea;
    size_t nmsb_kept_cap;      /* boxes in both */
    cudaEvent_t nmsb_ev;       /* after the copy: take waits on it (done once the stream was synchronised) */
    int nmsb_queued;           /* a submit's results are (or will be) in nmsb_h; 0 after the next forward */
    int nmsb_images, nmsb_rows, nmsb_no, nmsb_limit;
    long long nmsb_served, nmsb_redone; /* takes read from the batch / redone per image (tests) */
    size_t nmsb_cap;           /* key slots per image: an image with more candidates is redone per image */
    size_t nmsb_hdr;           /* bytes before the boxes in nmsb_res */
    y5_nms_opts nmsb_opts;     /* the submit's options, classes pointing at nmsb_classes */
    int *nmsb_classes;
    int nmsb_classes_cap;
    size_t nmsb_bound;         /* bytes of key and box storage a batch may use (0: the default, 256 MiB) */

    /* CUDA graphs, one per recent plan (backend_cuda.cu, compute) */
    cu_graph graphs[CU_GRAPHS];
    unsigned long long graph_clock;  /* LRU stamps */
    int graph_last;       /* entry of the last compute, -1: none (or eager) */
    int graph_last_ran;   /* the last compute replayed or captured a graph */
    long long graph_captures;
    int graph_warned;     /* the one-time warning about a failed capture */
    int capturing;

    y5_backend_ops ops;        /* this backend's table (debug switches remove entries) */

    char err[512];             /* first recorded error, cleared when reported */
} cu_impl;

static inline cu_impl *cu_of(y5_backend *b) { return (cu_impl *)b->impl; }

/* ---- error checks: record the first failure as one line ---- */
int cu_fail_cuda(cu_impl *m, cudaError_t e, const char *what, const char *file, int line);
int cu_fail_blas(cu_impl *m, cublasStatus_t s, const char *what, const char *file, int line);
int cu_fail_msg(cu_impl *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves the recorded error (if any) into err; returns -1 if there was one. */
int cu_take_error(cu_impl *m, char *err, size_t errlen);

static inline int cu_ck(cu_impl *m, cudaError_t e, const char *what, const char *file, int line) {
    return e == cudaSuccess ? 0 : cu_fail_cuda(m, e, what, file, line);
}
static inline int cu_ckb(cu_impl *m, cublasStatus_t s, const char *what, const char *file, int line) {
    return s == CUBLAS_STATUS_SUCCESS ? 0 : cu_fail_blas(m, s, what, file, line);
}
/* 0 on success, else -1 with the failure recorded in m->err. */
#define CU_CK(m, call) cu_ck((m), (call), #call, __FILE__, __LINE__)
#define CU_CKB(m, call) cu_ckb((m), (call), #call, __FILE__, __LINE__)

/* Makes the backend's device current on the calling thread. */
int cu_use_device(cu_impl *m);
/* (Re)allocates a device buffer to at least `bytes` (contents lost). */
int cu_grow(cu_impl *m, void **p, size_t *cap, size_t bytes);
int cu_grow_host(cu_impl *m, void **p, size_t *cap, size_t bytes);

/* Grid size for a grid-stride loop over `total` items, `threads` per block. */
static inline unsigned cu_blocks(const cu_impl *m, long long total, int threads) {
    long long b = (total + threads - 1) / threads;
    long long cap = (long long)(m->sm_count > 0 ? m->sm_count : 16) * 32;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

/* ---- kernel launchers (each returns cudaGetLastError() of its launch) ---- */
/* kernels_conv.cu */
cudaError_t cu_im2col(const cu_impl *m, const __half *in, int n, int h, int w, int cin, int ld_in, int k, int s,
                      int p, int ho, int wo, long long m0, long long mc, __half *col, int ldcol);
/* px pixels of cin channels (ld_in apart) -> dense rows of cpad channels
 * (cpad a multiple of 8, > cin), the added channels +0 (conv_rows.h) */
cudaError_t cu_pad_channels(const cu_impl *m, const __half *in, long long px, int cin, int ld_in, __half *out,
                            int cpad);
/* act: y5_act_kind (core/base/act.h), slope: LeakyReLU's */
cudaError_t cu_epilogue(const cu_impl *m, const float *acc, int ld_acc, long long mc, int cout, const float *bias, int act,
                        float slope, const __half *res, int ld_res, __half *out, int ld_out);
/* The same on a GEMM result already rounded to half in the output slice
 * (cuBLAS wrote it there): bias, activation, residual, rewritten in place. */
cudaError_t cu_epilogue_inplace(const cu_impl *m, long long mc, int cout, const float *bias, int act, float slope,
                                const __half *res, int ld_res, __half *out, int ld_out);
/* conv_mma.cu: the own conv kernels as a conv path: the lab's v3
 * implicit-GEMM kernel (cuda/lab/conv_v3.cuh), under Y5_CUDA_CONV_V4 its v4
 * (conv_v4.cu), under Y5_CUDA_CONV_WGMMA its v5 (conv_wgmma.cu); "mma" in
 * these names means "an own kernel". cu_conv_pick: the shape-level choice (Y5_CUDA_CONV_MMA or _CUBLAS) for
 * conv c with an n x ho x wo output under m->conv_impl (the auto rule lives
 * there); it decides the scratch (cuda_conv_scratch) and is the same at conv
 * time. cu_conv_mma_ok: the view-level preconditions (1: the own kernel runs
 * these views; v3's, v4's and v5's are the same). cu_conv_mma_note: "mma "
 * and v3's tile, or v4's or v5's note. cu_conv_mma: v3's or v4's one launch,
 * or v5's (two with split-K: the conv and the reduce), on m->stream, no
 * sync, no allocation. */
int cu_conv_pick(const cu_impl *m, const cu_conv *c, int n, int ho, int wo);
/* The shape-level precondition of the own kernels (v3, v4, v5): whole 8-channel
 * input groups and weights packed with ldw = K. */
static inline int cu_own_shape_ok(const cu_conv *c) { return c->cin_pad % 8 == 0 && c->ldw == c->K; }
/* Which own kernel: the lab's v3 (mma.sync), v4 (mma.sync, 64-deep
 * swizzled k-tiles) or v5 (wgmma). MMA and AUTO use v3, V4 v4, WGMMA v5;
 * TUNE times all three where they are set up. */
enum { CU_OWN_V3 = 3, CU_OWN_V4 = 4, CU_OWN_V5 = 5 };
static inline int cu_own_default(const cu_impl *m) {
    return m->conv_impl == Y5_CUDA_CONV_WGMMA ? CU_OWN_V5 : m->conv_impl == Y5_CUDA_CONV_V4 ? CU_OWN_V4 : CU_OWN_V3;
}
/* The setup state of an own kernel: 0 not tried, 1 ready, -1 failed (its
 * convs stay on cuBLAS). */
static inline int *cu_own_state_of(cu_impl *m, int own) {
    return own == CU_OWN_V5 ? &m->wgmma_state : own == CU_OWN_V4 ? &m->v4_state : &m->mma_state;
}
static inline int cu_own_ready_of(const cu_impl *m, int own) {
    return (own == CU_OWN_V5 ? m->wgmma_state : own == CU_OWN_V4 ? m->v4_state : m->mma_state) == 1;
}
static inline int cu_own_ready(const cu_impl *m) { return cu_own_ready_of(m, cu_own_default(m)); }
/* 1 when no element of view a is an element of view b (conv_mma.cu) */
int cu_views_disjoint(const y5_view *a, const y5_view *b);
/* in: the view the conv reads (c = cin_pad); in_ptr: its first element, NULL
 * for m->arena + in->off, else a copy outside the arena (the padded input
 * in the scratch, which no output can overlap) */
int cu_conv_mma_ok(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                   const y5_view *res);
const char *cu_conv_mma_note(const cu_impl *m, int own, const cu_conv *c, int n, int ho, int wo);
/* ws, ws_bytes: the scratch after the padded input, for v5's split-K
 * partials (cu_conv_mma_ws_bytes: what a conv needs there; 0 for v3);
 * *splits: the k-splits launched (1: none) */
cudaError_t cu_conv_mma(const cu_impl *m, int own, const cu_conv *c, const y5_view *in, const __half *in_ptr,
                        const y5_view *out, const y5_view *res, int act, float slope, void *ws, size_t ws_bytes,
                        int *splits);
size_t cu_conv_mma_ws_bytes(const cu_impl *m, int own, const cu_conv *c, int n, int ho, int wo);
/* Sets v3's shared-memory limits on the current device (once per backend,
 * outside any capture). */
cudaError_t cu_conv_mma_prepare(void);
/* conv_v4.cu: the lab's v4 (cuda/lab/conv_v4.cuh) for Y5_CUDA_CONV_V4 and
 * tuning, under v3's preconditions (cu_conv_mma_ok); cu_conv_mma dispatches
 * to it. prepare: the card's opt-in shared memory into *smem_optin and the
 * tiles' limits; note: "v4 " and the tile. No scratch. */
cudaError_t cu_conv_v4_prepare(int *smem_optin);
cudaError_t cu_conv_v4(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                       const y5_view *res, int act, float slope);
const char *cu_conv_v4_note(const cu_impl *m, const cu_conv *c, int n, int ho, int wo);
/* conv_wgmma.cu: the lab's v5 (cuda/lab/conv_v5.cuh, Hopper wgmma, built
 * for sm_90a alone) for Y5_CUDA_CONV_WGMMA, under the same preconditions as
 * v3 (cu_conv_mma_ok); cu_conv_mma dispatches to it. prepare: its limits,
 * and cudaErrorNotSupported / NoKernelImageForDevice where the device runs
 * no sm_90a code (then convs stay on cuBLAS). note: "wgmma ", its tile and
 * split-K ("wgmma 64x64 split 3"); ws_bytes: split-K's workspace. */
cudaError_t cu_conv_wgmma_prepare(void);
cudaError_t cu_conv_wgmma(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr,
                          const y5_view *out, const y5_view *res, int act, float slope, void *ws, size_t ws_bytes,
                          int *splits);
const char *cu_conv_wgmma_note(const cu_impl *m, const cu_conv *c, int n, int ho, int wo);
size_t cu_conv_wgmma_ws_bytes(const cu_impl *m, const cu_conv *c, int n, int ho, int wo);
/* kernels_tensor.cu */
cudaError_t cu_maxpool(const cu_impl *m, const __half *in, int n, int h, int w, int c, int ld_in, __half *out,
                       int ld_out, int k);
cudaError_t cu_upsample(const cu_impl *m, const __half *in, int n, int h, int w, int c, int ld_in, __half *out,
                        int ld_out, int scale);
cudaError_t cu_copy(const cu_impl *m, const __half *in, long long px, int c, int ld_in, __half *out, int ld_out);
cudaError_t cu_trap(const cu_impl *m); /* fault injection: a kernel that traps */
/* Conv tuning (tune_conv): v's elements (px rows of c channels, ld apart)
 * set to val (tests' poison); the check of a path's output: over span
 * elements from the slice's first, the slice's (column < c of ld-wide rows)
 * against the snapshot, into stats[0..3] (zeroed by the caller): the largest
 * |now - snap| and |snap| (float bits; NaN and inf as FLT_MAX), the count
 * over 2^-9 |snap| + 2e-4, and the count of other elements that changed at
 * all; a spin of us microseconds (work queued behind it runs back to back). */
cudaError_t cu_view_fill(const cu_impl *m, __half *v, long long px, int c, int ld, float val);
cudaError_t cu_span_check(const cu_impl *m, const __half *now, const __half *snap, long long span, int c, int ld,
                          unsigned *stats);
cudaError_t cu_spin(const cu_impl *m, int us);
cudaError_t cu_f32_to_f16(const cu_impl *m, const float *in, long long px, int c, __half *out, int ld_out);
/* dense u8 (px x c) -> half view: u8 / 255.0f (IEEE division) rounded to
 * nearest even, the values y5_u8_to_unit_f32 + cu_f32_to_f16 give */
cudaError_t cu_u8_to_f16(const cu_impl *m, const unsigned char *in, long long px, int c, __half *out, int ld_out);
cudaError_t cu_f16_to_f32(const cu_impl *m, const __half *in, long long count, float *out);
cudaError_t cu_fill_f16(const cu_impl *m, __half *out, long long count, float v);
cudaError_t cu_fill_f32(const cu_impl *m, float *out, long long count, float v);
/* kernels_detect.cu */
/* *first_ran: 1 when it launched the first kernel (k_decode), 0 the tiled one */
cudaError_t cu_decode(const cu_impl *m, const y5_view *heads, const y5_detect_shape *d, const __half *arena,
                      float *pred, int *first_ran);

#endif
