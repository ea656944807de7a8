/* backend_cuda.cu - the CUDA backend behind core/engine/backend.h: FP16 NHWC
 * activations in one device arena, FP32 accumulation.
 *
 * A conv is one cuBLAS GEMM per chunk of output pixels. With NHWC the
 * output is row-major out[M = n*ho*wo][cout] = A[M][K] * W[K][cout]; in
 * cuBLAS's column-major terms that is C^T (cout x M) = W^T (cout x K) *
 * A^T (K x M): cublasGemmEx(OP_T, OP_N, m = cout, n = M, k = K), W packed at
 * conv_create as cout columns of K halves (ld rounded up to 8; cout_pad
 * columns, the FP32 GEMM computing all of them: aligned for Detect's 255), A^T the
 * input rows themselves for 1x1 stride-1 convs (ld = the input view's
 * channel stride: a channel slice is read in place) or the im2col buffer.
 * The GEMM writes FP32 into the scratch (CUBLAS_COMPUTE_32F, default algo:
 * tensor cores for FP16 inputs; with Y5_CUBLAS_OUT=f16, half straight into
 * the output slice); the epilogue kernel adds the bias, applies the
 * activation and the residual and stores half into the output slice (ld =
 * the concat width). A conv whose cin is not a multiple of 8 reads a copy
 * of its input padded to the next multiple of 8 channels (cu_conv.cin_pad),
 * made for a group of images at a time. Large convs run in chunks of output
 * pixels so the scratch stays bounded. That is the default, the reference and the fallback; with
 * Y5_CONV_IMPL=mma|auto a conv may instead run as the lab's v3
 * implicit-GEMM kernel (conv_mma.cu: one launch, no scratch) where its shape
 * and views allow, with Y5_CONV_IMPL=v4 as its v4 (conv_v4.cu, the same
 * preconditions), with Y5_CONV_IMPL=wgmma as its v5 (conv_wgmma.cu, Hopper;
 * scratch only for its split-K partials), and with Y5_CONV_IMPL=tune as
 * whichever path is fastest per conv and checked right ("conv tuning").
 *
 * compute() runs a whole planned forward: a plan's first compute runs
 * eagerly, its second is captured into a CUDA graph (the FP32 input upload
 * included; the u8 upload is queued before each launch instead) and later
 * ones replay it; compute_async returns once a graph is launched; a few plans keep their graphs (the
 * graphs section says how and why); Y5_NO_CUDA_GRAPH and the profiler's
 * timed compute run the ops eagerly instead.
 *
 * Everything is queued on one non-blocking stream; the void ops record the
 * first error, which sync() (or input_commit) returns. */
#include "cuda/cuda_internal.h"
extern "C" {
#include "core/base/debug_env.h" /* Y5_NO_CUDA_GRAPH, Y5_CPU_NMS, Y5_CPU_LETTERBOX, Y5_CONV_IMPL, Y5_CONV_PAD */
}

#include <math.h>
#include <float.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN256(x) (((x) + 255) & ~(size_t)255)
#define DEFAULT_CHUNK_BYTES ((size_t)256 << 20)
#define BLAS_WS_BYTES ((size_t)32 << 20)

/* ---------------------------------------------------------------- errors */

int cu_fail_cuda(cu_impl *m, cudaError_t e, const char *what, const char *file, int line) {
    if (m && !m->err[0])
        snprintf(m->err, sizeof m->err, "cuda: %s: %s (%s:%d)", what, cudaGetErrorString(e), file, line);
    /* A failed call (cudaMalloc out of memory, a bad launch configuration)
     * also leaves its code as the thread's "last error", and every launcher
     * checks its launch with cudaGetLastError(): without this, the next,
     * healthy launch would report this old failure. Reading it resets a
     * non-sticky error; a sticky one (a kernel fault) stays, and every later
     * call reports it, as it should. */
    (void)cudaGetLastError();
    return -1;
}

/* An allocation failure as one clear line: what was asked and what the
 * device has left (not during a capture, where a query could invalidate
 * it). */
static int cu_fail_alloc(cu_impl *m, cudaError_t e, int pinned, size_t bytes, const char *file, int line) {
    (void)cudaGetLastError(); /* not sticky: the next launch must not see it (cu_fail_cuda) */
    if (!m || m->err[0]) return -1;
    size_t fr = 0, tot = 0;
    if (e != cudaErrorMemoryAllocation) return cu_fail_cuda(m, e, pinned ? "cudaMallocHost" : "cudaMalloc", file, line);
    if (pinned)
        snprintf(m->err, sizeof m->err, "cuda: out of pinned host memory: cudaMallocHost of %.1f MiB failed (%s:%d)",
                 bytes / 1048576.0, file, line);
    else if (!m->capturing && cudaMemGetInfo(&fr, &tot) == cudaSuccess)
        snprintf(m->err, sizeof m->err,
                 "cuda: out of GPU memory: cudaMalloc of %.1f MiB failed, %.0f MiB free of %.0f MiB on %s (%s:%d)",
                 bytes / 1048576.0, fr / 1048576.0, tot / 1048576.0, m->name, file, line);
    else
        snprintf(m->err, sizeof m->err, "cuda: out of GPU memory: cudaMalloc of %.1f MiB failed on %s (%s:%d)",
                 bytes / 1048576.0, m->name, file, line);
    (void)cudaGetLastError();
    return -1;
}

int cu_fail_blas(cu_impl *m, cublasStatus_t s, const char *what, const char *file, int line) {
    if (m && !m->err[0])
        snprintf(m->err, sizeof m->err, "cuda: %s: %s (%s:%d)", what, y5_cublas.status_string(s), file, line);
    return -1;
}

int cu_fail_msg(cu_impl *m, const char *fmt, ...) {
    if (m && !m->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        char msg[400];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(m->err, sizeof m->err, "cuda: %s", msg);
    }
    return -1;
}

int cu_take_error(cu_impl *m, char *err, size_t errlen) {
    if (!m->err[0]) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", m->err);
    m->err[0] = 0;
    return -1;
}

/* ---------------------------------------------------------------- helpers */

int cu_use_device(cu_impl *m) {
    int cur = -1;
    if (CU_CK(m, cudaGetDevice(&cur))) return -1;
    if (cur == m->device) return 0;
    return CU_CK(m, cudaSetDevice(m->device));
}

int cu_grow(cu_impl *m, void **p, size_t *cap, size_t bytes) {
    if (bytes <= *cap && *p) return 0;
    if (*p) CU_CK(m, cudaFree(*p));
    *p = NULL;
    *cap = 0;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 256);
    if (e != cudaSuccess) { *p = NULL; return cu_fail_alloc(m, e, 0, bytes, __FILE__, __LINE__); }
    *cap = bytes;
    return 0;
}

int cu_grow_host(cu_impl *m, void **p, size_t *cap, size_t bytes) {
    if (bytes <= *cap && *p) return 0;
    if (*p) CU_CK(m, cudaFreeHost(*p));
    *p = NULL;
    *cap = 0;
    cudaError_t e = cudaMallocHost(p, bytes ? bytes : 256);
    if (e != cudaSuccess) { *p = NULL; return cu_fail_alloc(m, e, 1, bytes, __FILE__, __LINE__); }
    *cap = bytes;
    return 0;
}

/* per thread: the detect pipeline opens its engines on threads of their own,
 * at once (core/app/pipeline.c) */
static thread_local char no_dev_reason[256];

extern "C" int y5_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(no_dev_reason, sizeof no_dev_reason, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        (void)cudaGetLastError(); /* not sticky: clear it */
        return 0;
    }
    if (n <= 0) snprintf(no_dev_reason, sizeof no_dev_reason, "the CUDA driver reports no device");
    else no_dev_reason[0] = 0;
    return n;
}

extern "C" const char *y5_cuda_no_device_reason(void) { return no_dev_reason; }

extern "C" void y5_cuda_round_half(float *v, size_t count) {
    for (size_t i = 0; i < count; i++) v[i] = __half2float(__float2half_rn(v[i]));
}

/* ---------------------------------------------------------------- convs */

static void graphs_drop_all(cu_impl *m); /* graphs section */

static void *cuda_conv_create(y5_backend *b, const y5_conv_shape *s, const float *w, const float *bias) {
    cu_impl *m = cu_of(b);
    if (s->cin < 1 || s->cout < 1 || s->k < 1 || s->s < 1 || s->p < 0) return NULL;
    if (cu_use_device(m)) return NULL;
    cu_conv *c = (cu_conv *)calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cin = s->cin;
    c->cout = s->cout;
    c->k = s->k;
    c->s = s->s;
    c->p = s->p;
    /* Y5_CONV_PAD=0: the unpadded form, as before the padding existed */
    c->cin_pad = s->cin % 8 != 0 && s->cin <= CU_PAD_CIN_MAX && !y5_debug_env()->conv_no_pad ? (s->cin + 7) & ~7 : s->cin;
    c->K = s->k * s->k * c->cin_pad;
    c->ldw = (c->K + 7) & ~7;
    c->cout_pad = (c->cout + 7) & ~7;
    size_t nw = (size_t)c->ldw * c->cout_pad;
    __half *hw = (__half *)calloc(nw, sizeof(__half)); /* padding stays +0 */
    if (!hw) { free(c); return NULL; }
    const int k = s->k, cin = s->cin, cp = c->cin_pad; /* channels cin..cp-1 stay +0 */
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                    hw[(size_t)co * c->ldw + (size_t)(ky * k + kx) * cp + ci] =
                        __float2half_rn(w[(((size_t)co * cin + ci) * k + ky) * k + kx]);
    int bad = CU_CK(m, cudaMalloc((void **)&c->w, nw * sizeof(__half))) ||
              CU_CK(m, cudaMalloc((void **)&c->bias, (size_t)c->cout * sizeof(float))) ||
              CU_CK(m, cudaMemcpyAsync(c->w, hw, nw * sizeof(__half), cudaMemcpyHostToDevice, m->stream)) ||
              CU_CK(m, cudaMemcpyAsync(c->bias, bias, (size_t)c->cout * sizeof(float), cudaMemcpyHostToDevice,
                                       m->stream)) ||
              CU_CK(m, cudaStreamSynchronize(m->stream)); /* ordered before every use, and hw is freed next */
    free(hw);
    if (bad) {
        fprintf(stderr, "yolov5c: %s\n", m->err);
        m->err[0] = 0;
        if (c->w) CU_CK(m, cudaFree(c->w));
        if (c->bias) CU_CK(m, cudaFree(c->bias));
        free(c);
        return NULL;
    }
    return c;
}

static void cuda_conv_destroy(y5_backend *b, void *conv) {
    cu_impl *m = cu_of(b);
    cu_conv *c = (cu_conv *)conv;
    if (!c) return;
    cu_use_device(m);
    graphs_drop_all(m); /* a graph may launch GEMMs on these weights (and a new conv may reuse the address) */
    if (c->w) CU_CK(m, cudaFree(c->w));
    if (c->bias) CU_CK(m, cudaFree(c->bias));
    free(c);
}

static int conv_direct(const cu_conv *c) { return c->k == 1 && c->s == 1 && c->p == 0; }

/* Rows per GEMM chunk and the two scratch parts (im2col, FP32 result), the
 * chunk's scratch at most cap bytes (at least one row). */
static void conv_chunks(const cu_conv *c, long long M, size_t cap, long long *rows, size_t *col_bytes,
                        size_t *acc_bytes) {
    size_t per_row = (conv_direct(c) ? 0 : (size_t)c->ldw * sizeof(__half)) + (size_t)c->cout_pad * sizeof(float);
    long long r = (long long)(cap / per_row);
    if (r < 1) r = 1;
    if (r > M) r = M;
    if (r > (1LL << 30)) r = 1LL << 30; /* cuBLAS takes int sizes */
    *rows = r;
    *col_bytes = conv_direct(c) ? 0 : ALIGN256((size_t)r * c->ldw * sizeof(__half));
    *acc_bytes = ALIGN256((size_t)r * c->cout_pad * sizeof(float));
}

static size_t chunk_cap(const cu_impl *m) { return m->chunk_bytes ? m->chunk_bytes : DEFAULT_CHUNK_BYTES; }

/* A conv whose input is padded (cin_pad > cin: the RGB stem) runs over
 * groups of images: the padded copy of one group's input sits at the
 * scratch's start, before that group's chunks, and the next group reuses it
 * (stream order). A group's copy is at most PAD_GROUP_BYTES (or the chunk
 * cap, when that is smaller), at least one image: the stem of yolov5m at
 * batch 32 and 640 would otherwise copy 210 MB, at 1280 839 MB. Every other
 * conv is one group of all its images. */
#define PAD_GROUP_BYTES ((size_t)64 << 20)
static int pad_group(const cu_impl *m, const cu_conv *c, int n, int h, int w) {
    const size_t per = (size_t)h * w * c->cin_pad * sizeof(__half);
    if (c->cin_pad == c->cin || n < 1 || !per) return n;
    const size_t cap = chunk_cap(m) < PAD_GROUP_BYTES ? chunk_cap(m) : PAD_GROUP_BYTES;
    const size_t g = cap / per;
    return g < 1 ? 1 : g > (size_t)n ? n : (int)g;
}
static size_t pad_bytes(const cu_impl *m, const cu_conv *c, int n, int h, int w) {
    return c->cin_pad == c->cin ? 0 : ALIGN256((size_t)pad_group(m, c, n, h, w) * h * w * c->cin_pad * sizeof(__half));
}
/* The images [n0, n0 + g) of a view (NHWC rows: an image is h*w rows). */
static y5_view view_images(const y5_view *v, int n0, int g) {
    y5_view r = *v;
    r.off = v->off + (size_t)n0 * v->h * v->w * v->ld;
    r.n = g;
    return r;
}

/* The view the conv's kernels read: the input itself, or its padded copy
 * (dense rows of cin_pad channels; its offset is not an arena offset). */
static y5_view read_view(const cu_conv *c, const y5_view *in) {
    y5_view v = *in;
    if (c->cin_pad != c->cin) {
        v.off = 0;
        v.c = c->cin_pad;
        v.ld = c->cin_pad;
    }
    return v;
}

/* A conv the shape puts on v3 (cu_conv_pick) needs no scratch (v5: its
 * split-K partials, cu_conv_mma_ws_bytes), but its views
 * are only seen at conv time: if they rule v3 out, it runs on cuBLAS in
 * chunks that fit the scratch the plan has (the largest of all its convs'),
 * and it reports this much so that even a plan of v3 convs only has room
 * for that fallback. */
#define MMA_FALLBACK_RESERVE ((size_t)4 << 20)

static size_t cuda_conv_scratch(y5_backend *b, void *conv, int n, int h, int w) {
    const cu_impl *m = cu_of(b);
    const cu_conv *c = (const cu_conv *)conv;
    int ho = (h + 2 * c->p - c->k) / c->s + 1, wo = (w + 2 * c->p - c->k) / c->s + 1;
    if (n < 1 || ho < 1 || wo < 1) return 0;
    /* the path is the whole conv's (route_conv picks on all n images); the
     * sizes are one group's, the largest (the groups share the scratch) */
    const int pick = cu_conv_pick(m, c, n, ho, wo); /* not read under TUNE (its room is every path's) */
    n = pad_group(m, c, n, h, w);
    long long M = (long long)n * ho * wo, rows;
    const size_t pb = pad_bytes(m, c, n, h, w);
    size_t cb, ab;
    if (m->conv_impl == Y5_CUDA_CONV_TUNE) { /* room for every path it may time and choose */
        conv_chunks(c, M, chunk_cap(m), &rows, &cb, &ab);
        const size_t ws = cu_own_ready_of(m, CU_OWN_V5) ? cu_conv_mma_ws_bytes(m, CU_OWN_V5, c, n, ho, wo) : 0;
        return pb + (ws > cb + ab ? ws : cb + ab);
    }
    if (pick == Y5_CUDA_CONV_MMA) {
        conv_chunks(c, M, chunk_cap(m) < MMA_FALLBACK_RESERVE ? chunk_cap(m) : MMA_FALLBACK_RESERVE, &rows, &cb,
                    &ab);
        const size_t ws = cu_conv_mma_ws_bytes(m, cu_own_default(m), c, n, ho, wo); /* v5's split-K partials */
        return pb + (ws > cb + ab ? ws : cb + ab);
    }
    conv_chunks(c, M, chunk_cap(m), &rows, &cb, &ab);
    return pb + cb + ab;
}

/* How a conv runs on these views, decided here only: cuda_conv runs what
 * this says (for each group of images, pad_group) and y5_cuda_op_note names
 * it (from the first group: the path is the whole conv's, a last smaller
 * group may differ only in v5's tile and splits), so the profiler's note
 * names the kernels that run. mma: the own kernel, v3, v4 or v5
 * (cu_conv_pick chose it from the shape and cu_conv_mma_ok accepts the
 * views); fallback: the shape chose it and the views ruled it out; half: Y5_CUBLAS_OUT=f16, only where the GEMM
 * cannot overwrite what it or the epilogue still reads (the input of a
 * direct 1x1, the residual). padded: the padded copy's address when
 * cin_pad > cin (v3 checks its alignment), else NULL. */
typedef struct {
    int mma, fallback, half;
    int own; /* with mma: CU_OWN_V3, CU_OWN_V4 or CU_OWN_V5 */
} conv_route;

static const cu_tune_entry *tune_find(const cu_impl *m, const cu_conv *c, int n, const y5_view *in,
                                      const y5_view *out, const y5_view *res, int act);
static int out_disjoint(const y5_view *in, const y5_view *out, const y5_view *res);

/* Under tuning (Y5_CUDA_CONV_TUNE), the run kept for this conv, found by
 * the whole conv's views (all its images: the groups of a padded input are
 * views into them, and every group takes the whole conv's path), else -1
 * (not tuned, or not tuning). A conv tuning skips (output over its input or
 * residual) stays on the default path, even where a disjoint conv of its key
 * was tuned: the eager warm-up and the graph must run it alike. */
static int tuned_run(const cu_impl *m, const cu_conv *c, const y5_view *in, const y5_view *out, const y5_view *res,
                     int act) {
    if (m->conv_impl != Y5_CUDA_CONV_TUNE || !out_disjoint(in, out, res)) return -1;
    const cu_tune_entry *t = tune_find(m, c, in->n, in, out, res, act);
    return t ? t->run : -1;
}

/* The output overlaps neither the input nor the residual: cuBLAS may write
 * half into it (f16 out), and tuning may run the conv more than once. */
static int out_disjoint(const y5_view *in, const y5_view *out, const y5_view *res) {
    return cu_views_disjoint(in, out) && (!res || cu_views_disjoint(res, out));
}

static conv_route route_conv(const cu_impl *m, const cu_conv *c, int pick_n, const y5_view *in,
                             const __half *padded, const y5_view *out, const y5_view *res, int tuned) {
    conv_route r = {0, 0, 0, 0};
    const int ho = (in->h + 2 * c->p - c->k) / c->s + 1, wo = (in->w + 2 * c->p - c->k) / c->s + 1;
    /* tuning (Y5_CUDA_CONV_TUNE): the run being timed, else the one kept
     * for this conv (tuned, from tuned_run), else (not tuned) cuBLAS with
     * FP32 out */
    int run = m->tune_force;
    if (run < 0 && m->conv_impl == Y5_CUDA_CONV_TUNE) run = tuned >= 0 ? tuned : Y5_CUDA_RUN_CUBLAS;
    if (run >= 0) {
        if (run == Y5_CUDA_RUN_V3 || run == Y5_CUDA_RUN_V4 || run == Y5_CUDA_RUN_V5) {
            const int own = run == Y5_CUDA_RUN_V5 ? CU_OWN_V5 : run == Y5_CUDA_RUN_V4 ? CU_OWN_V4 : CU_OWN_V3;
            const y5_view rin = read_view(c, in);
            if (cu_own_ready_of(m, own) && cu_own_shape_ok(c) && cu_conv_mma_ok(m, c, &rin, padded, out, res)) {
                r.mma = 1;
                r.own = own;
                return r;
            }
            r.fallback = 1;
            return r;
        }
        r.half = run == Y5_CUDA_RUN_CUBLAS_HALF && out_disjoint(in, out, res);
        return r;
    }
    /* pick_n: the conv's images, whatever group of them these views hold
     * (pad_group), so every group and the plan take one path */
    if (cu_conv_pick(m, c, pick_n, ho, wo) == Y5_CUDA_CONV_MMA) {
        const y5_view rin = read_view(c, in);
        if (cu_conv_mma_ok(m, c, &rin, padded, out, res)) {
            r.mma = 1;
            r.own = cu_own_default(m);
            return r;
        }
        r.fallback = 1;
    }
    r.half = m->cublas_half && out_disjoint(in, out, res);
    return r;
}

static void conv_group(cu_impl *m, const cu_conv *c, int pick_n, int tuned, const y5_view *in, const y5_view *out,
                       const y5_view *res, int act, float slope);
static void conv_groups(cu_impl *m, const cu_conv *c, const y5_view *in, const y5_view *out, const y5_view *res,
                        int act, float slope);
static void tune_conv(cu_impl *m, const cu_conv *c, const y5_view *in, const y5_view *out, const y5_view *res,
                      int act, float slope);

static void cuda_conv(y5_backend *b, void *conv, const y5_view *in, const y5_view *out, const y5_view *res,
                      int act, float slope) {
    cu_impl *m = cu_of(b);
    const cu_conv *c = (const cu_conv *)conv;
    if (m->err[0] || cu_use_device(m)) return;
    const int ho = (in->h + 2 * c->p - c->k) / c->s + 1, wo = (in->w + 2 * c->p - c->k) / c->s + 1;
    if (in->c != c->cin || out->c != c->cout || out->n != in->n || out->h != ho || out->w != wo ||
        (res && (res->n != out->n || res->h != ho || res->w != wo || res->c < c->cout))) {
        cu_fail_msg(m, "conv %dx%d s%d %d->%d: views do not match (in %dx%dx%d c%d, out %dx%dx%d c%d)", c->k, c->k,
                    c->s, c->cin, c->cout, in->n, in->h, in->w, in->c, out->n, out->h, out->w, out->c);
        return;
    }
    if ((long long)in->n * ho * wo < 1) return;
    /* tuning runs the conv several times: only where that cannot feed its
     * output back into itself (an output over its input or residual keeps
     * the default path) */
    if (m->conv_impl == Y5_CUDA_CONV_TUNE && !m->capturing && out_disjoint(in, out, res) &&
        !tune_find(m, c, in->n, in, out, res, act))
        tune_conv(m, c, in, out, res, act, slope);
    conv_groups(m, c, in, out, res, act, slope);
}

/* The conv over its groups of images: one group of all of them unless the
 * input is padded (pad_group). */
static void conv_groups(cu_impl *m, const cu_conv *c, const y5_view *in, const y5_view *out, const y5_view *res,
                        int act, float slope) {
    const int g = pad_group(m, c, in->n, in->h, in->w);
    const int tuned = tuned_run(m, c, in, out, res, act);
    for (int n0 = 0; n0 < in->n && !m->err[0]; n0 += g) {
        const int gn = in->n - n0 < g ? in->n - n0 : g;
        const y5_view gi = view_images(in, n0, gn), go = view_images(out, n0, gn);
        const y5_view gr = res ? view_images(res, n0, gn) : *out;
        conv_group(m, c, in->n, tuned, &gi, &go, res ? &gr : NULL, act, slope);
    }
}

/* The conv over views of one group of images (cuda_conv checked them);
 * pick_n: the whole conv's images; tuned: its tuned_run. */
static void conv_group(cu_impl *m, const cu_conv *c, int pick_n, int tuned, const y5_view *in, const y5_view *out,
                       const y5_view *res, int act, float slope) {
    m->dbg_conv_groups++;
    const int ho = out->h, wo = out->w;
    const long long M = (long long)in->n * ho * wo;
    /* a conv with padded channels reads its input's copy in the scratch */
    const size_t pb = pad_bytes(m, c, in->n, in->h, in->w);
    if (pb && (pb > m->scratch_bytes || !m->scratch)) {
        cu_fail_msg(m, "conv scratch of %zu bytes planned, %zu needed for the padded input", m->scratch_bytes, pb);
        return;
    }
    const y5_view rin = read_view(c, in);
    const __half *src = m->arena + in->off;
    if (pb) {
        __half *padded = (__half *)m->scratch;
        if (CU_CK(m, cu_pad_channels(m, src, (long long)in->n * in->h * in->w, c->cin, in->ld, padded, c->cin_pad)))
            return;
        src = padded;
    }
    const conv_route route = route_conv(m, c, pick_n, in, pb ? src : NULL, out, res, tuned);
    if (route.mma) {
        int splits = 1;
        m->tune_force_ran = 1;
        if (!CU_CK(m, cu_conv_mma(m, route.own, c, &rin, pb ? src : NULL, out, res, act, slope,
                                  (char *)m->scratch + pb, m->scratch_bytes - pb, &splits)) &&
            splits > 1)
            m->dbg_split_convs++;
        return;
    }
    const size_t room = m->scratch_bytes - pb; /* for the chunks */
    long long rows;
    size_t cb, ab;
    conv_chunks(c, M, chunk_cap(m), &rows, &cb, &ab);
    /* chunks that fit what the plan has, where it planned less: an own
     * kernel's fallback (its plan keeps MMA_FALLBACK_RESERVE), or a plan
     * made under an own kernel that y5_cuda_set_conv_impl has since switched
     * to cuBLAS or tune; 512 bytes below the room because conv_chunks rounds
     * each of its two parts up to 256 */
    if (cb + ab > room && room > 512) conv_chunks(c, M, room - 512, &rows, &cb, &ab);
    if (cb + ab > room || !m->scratch) {
        cu_fail_msg(m, "conv scratch of %zu bytes planned, %zu needed", m->scratch_bytes, pb + cb + ab);
        return;
    }
    __half *col = (__half *)((char *)m->scratch + pb);
    float *acc = (float *)((char *)m->scratch + pb + cb);
    __half *dst = m->arena + out->off;
    const __half *rsrc = res ? m->arena + res->off : NULL;
    const float one = 1.0f, zero = 0.0f;
    /* Y5_CUBLAS_OUT=f16 (route.half): the GEMM's half result goes straight
     * into the output slice (ldc = its row stride) and the epilogue rewrites
     * it in place. The scratch stays planned for the f32 form, which any
     * conv may fall back to. */
    const int half_out = route.half;
    for (long long m0 = 0; m0 < M; m0 += rows) {
        long long mc = M - m0 < rows ? M - m0 : rows;
        const __half *B;
        int ldb;
        if (conv_direct(c)) {
            B = src + m0 * rin.ld;
            ldb = rin.ld;
        } else {
            if (CU_CK(m, cu_im2col(m, src, in->n, in->h, in->w, c->cin_pad, rin.ld, c->k, c->s, c->p, ho, wo, m0, mc,
                                   col, c->ldw)))
                return;
            B = col;
            ldb = c->ldw;
        }
        if (half_out) {
            if (CU_CKB(m, y5_cublas.gemm_ex(m->blas, CUBLAS_OP_T, CUBLAS_OP_N, c->cout, (int)mc, c->K, &one, c->w,
                                       CUDA_R_16F, c->ldw, B, CUDA_R_16F, ldb, &zero, dst + m0 * out->ld, CUDA_R_16F,
                                       out->ld, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)) ||
                CU_CK(m, cu_epilogue_inplace(m, mc, c->cout, c->bias, act, slope, rsrc ? rsrc + m0 * res->ld : NULL,
                                             res ? res->ld : 0, dst + m0 * out->ld, out->ld)))
                return;
            continue;
        }
        if (CU_CKB(m, y5_cublas.gemm_ex(m->blas, CUBLAS_OP_T, CUBLAS_OP_N, c->cout_pad, (int)mc, c->K, &one, c->w,
                                   CUDA_R_16F, c->ldw, B, CUDA_R_16F, ldb, &zero, acc, CUDA_R_32F, c->cout_pad,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)))
            return;
        if (CU_CK(m, cu_epilogue(m, acc, c->cout_pad, mc, c->cout, c->bias, act, slope, rsrc ? rsrc + m0 * res->ld : NULL,
                                 res ? res->ld : 0, dst + m0 * out->ld, out->ld)))
            return;
    }
}

/* ---------------------------------------------------------------- conv tuning
 *
 * Y5_CONV_IMPL=tune. The auto rule is one card's measurement at one batch
 * (conv_mma.cu); which path wins moves with the card, the batch and the
 * input size. Here each conv shape is timed on this device the first time
 * a plan runs it (a plan's first compute is eager, the warm-up: no capture
 * is open), on every path that can run it: cuBLAS with an FP32 result and
 * with a half one, v3, v4, and v5 where the card runs sm_90a code (less
 * those Y5_TUNE_SKIP names). cuBLAS with
 * FP32 out runs first and is the reference: tune_conv says how every other
 * path is checked against it (a wrong kernel is never chosen) and timed.
 * The fastest accepted path is kept for the backend's life, per conv
 * shape, batch, input size, the views' strides and the residual's, the
 * activation and the views' offsets modulo 8 (tune_key): the
 * plan's graph, captured on its next compute, bakes it in. The choice is
 * run once more last, so the warm-up's output is the chosen path's too.
 * Tuning allocates inside that first forward (the snapshot of a shape's
 * output, kept for the forward's next shapes and grown when one needs more,
 * freed when the forward ends): a warm-up cost paid once per growth, the
 * cache file keeping it out of later processes. */
static_assert(Y5_CUDA_RUN_N == Y5_TUNE_RUNS, "the cache file keeps a time per run (tune_cache.h)");
#define TUNE_REPS 3
#define TUNE_TOL 0.01f

static cu_tune_entry tune_key(const cu_conv *c, int n, const y5_view *in, const y5_view *out, const y5_view *res,
                              int act) {
    cu_tune_entry e;
    memset(&e, 0, sizeof e);
    e.cin = c->cin, e.cout = c->cout, e.k = c->k, e.s = c->s, e.p = c->p;
    e.n = n, e.h = in->h, e.w = in->w, e.ld_in = in->ld, e.ld_out = out->ld, e.ld_res = res ? res->ld : 0;
    /* the epilogue and the access widths an own kernel takes (the arena is
     * 256-byte aligned, so an offset's halves modulo 8 give its 16-byte
     * alignment): a choice checked with one is not used unchecked with another */
    e.act = act;
    e.align = (int)(in->off % 8) | (int)(out->off % 8) << 3 | (res ? (int)(res->off % 8) : 0) << 6;
    return e;
}

static const cu_tune_entry *tune_find(const cu_impl *m, const cu_conv *c, int n, const y5_view *in,
                                      const y5_view *out, const y5_view *res, int act) {
    const cu_tune_entry k = tune_key(c, n, in, out, res, act);
    for (int i = 0; i < m->n_tune; i++)
        if (y5_tune_same_key(&m->tune[i], &k)) return &m->tune[i];
    return NULL;
}

/* The tuning cache file's stamp: this program file (size, modification time
 * to the nanosecond, inode: any rebuild of a kernel or of the checks changes
 * it), the CUDA runtime and driver, the stem's padding switch (Y5_CONV_PAD),
 * the paths left out (Y5_TUNE_SKIP) and the card (name, memory, SMs). 0, or -1 when the program cannot be
 * named. */
static int tune_stamp(const cu_impl *m, char *buf, size_t cap) {
    struct stat st;
    int rt = 0, drv = 0;
    if (stat("/proc/self/exe", &st) != 0) return -1;
    (void)cudaRuntimeGetVersion(&rt);
    (void)cudaDriverGetVersion(&drv);
    const int k = snprintf(buf, cap, "exe %lld-%lld.%09ld-%llu, cuda %d/%d, pad %d, skip %u, %s, %d SMs",
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                           (unsigned long long)st.st_ino, rt, drv, !y5_debug_env()->conv_no_pad,
                           y5_debug_env()->tune_skip, m->name, m->sm_count);
    return k > 0 && (size_t)k < cap ? 0 : -1;
}

/* The card's part of the stamp: the cache file's name (tune_cache.h). */
static void tune_card(const cu_impl *m, char *buf, size_t cap) { snprintf(buf, cap, "%s, %d SMs", m->name, m->sm_count); }

/* The cached choices into the table (a backend under TUNE, at creation or
 * when the choice becomes TUNE). */
static void tune_cache_load(cu_impl *m) {
    char path[4096], stamp[512], card[256];
    tune_card(m, card, sizeof card);
    if (m->n_tune || !y5_tune_cache_path(path, sizeof path, card) || tune_stamp(m, stamp, sizeof stamp)) return;
    y5_tune_rec *r = NULL;
    int n = 0;
    if (y5_tune_cache_read(path, stamp, &r, &n) || n == 0) return;
    free(m->tune);
    m->tune = r;
    m->n_tune = m->cap_tune = m->tune_loaded = n;
}

/* The table into the file when this backend tuned anything new, merged
 * with what other processes put there meanwhile (one warning if it cannot:
 * the next run tunes again). */
static void tune_cache_save(cu_impl *m) {
    char path[4096], stamp[512], card[256], err[600];
    tune_card(m, card, sizeof card);
    if (!m->tune_dirty || !y5_tune_cache_path(path, sizeof path, card) || tune_stamp(m, stamp, sizeof stamp)) return;
    if (y5_tune_cache_merge(path, stamp, m->tune, m->n_tune, err, sizeof err))
        fprintf(stderr, "yolov5c: warning: conv tuning cache: %s\n", err);
    m->tune_dirty = 0;
}

/* Whether the stream still runs after a failure. A sticky error (a kernel
 * fault, a lost device) is returned by every later call on the context and
 * cudaGetLastError cannot clear it; a non-sticky one (an allocation, a
 * launch configuration) leaves the stream usable. So: a synchronisation
 * that fails, the last error read, and fails again. Raw calls: m->err keeps
 * the failure's own message. (cuda_healthy; tune_conv's rejected paths.) */
static int stream_alive(const cu_impl *m) {
    if (m->capturing) return 1; /* asked after a failure, never mid-capture */
    for (int i = 0; i < 2; i++) {
        if (cudaSetDevice(m->device) == cudaSuccess && cudaStreamSynchronize(m->stream) == cudaSuccess) return 1;
        (void)cudaGetLastError();
    }
    return 0;
}

/* After a path failed while being timed: 0 when the device still runs (the
 * path is rejected, m->err cleared), -1 when the error is sticky (m->err
 * kept: the forward fails with it). */
static int tune_recover(cu_impl *m) {
    if (!stream_alive(m)) return -1;
    m->err[0] = 0;
    return 0;
}

/* Frees the snapshot once nothing queued reads it: at the end of the
 * forward that tuned (the warm-up), and at destroy. failed: that forward
 * failed (its error already taken): no wait, no second error recorded. */
static void tune_snap_release_after(cu_impl *m, int failed) {
    if (!m->tune_snap) return;
    if (failed) {
        (void)cudaFree(m->tune_snap);
        (void)cudaGetLastError();
        m->tune_snap = NULL;
        m->tune_snap_bytes = 0;
        return;
    }
    if (!m->err[0]) CU_CK(m, cudaStreamSynchronize(m->stream)); /* the check and the restores read it */
    CU_CK(m, cudaFree(m->tune_snap));
    m->tune_snap = NULL;
    m->tune_snap_bytes = 0;
}
static void tune_snap_release(cu_impl *m) { tune_snap_release_after(m, 0); }

/* Room for `bytes` of snapshot: the buffer of the shapes tuned before in this
 * forward when it is large enough, else a larger one (a cudaMalloc, and a
 * cudaFree that waits for the stream: once per growth, not once per shape).
 * 0 when there is no room (the shape then stays untuned). */
static int tune_snap_room(cu_impl *m, size_t bytes) {
    if (m->tune_snap && m->tune_snap_bytes >= bytes) return 1;
    tune_snap_release(m);
    if (m->err[0]) return 0;
    if (cudaMalloc(&m->tune_snap, bytes) != cudaSuccess) {
        (void)cudaGetLastError(); /* out of memory is not sticky */
        m->tune_snap = NULL;
        return 0;
    }
    m->tune_snap_bytes = bytes;
    return 1;
}

static void tune_conv(cu_impl *m, const cu_conv *c, const y5_view *in, const y5_view *out, const y5_view *res,
                      int act, float slope) {
    cu_tune_entry e = tune_key(c, in->n, in, out, res, act);
    e.run = Y5_CUDA_RUN_CUBLAS;
    for (int r = 0; r < Y5_CUDA_RUN_N; r++) e.ms[r] = -1.0f;
    const long long px = (long long)out->n * out->h * out->w;
    /* the output's span: every row of the slice and what lies between them
     * (other layers' channels, live data): its snapshot after the reference
     * run holds the reference and the neighbours a wrong kernel must not
     * touch, and puts them back after every path that is not kept */
    const long long span = (px - 1) * (long long)out->ld + c->cout;
    const size_t snap_bytes = ALIGN256((size_t)span * sizeof(__half));
    __half *snap = NULL, *dst = m->arena + out->off;
    unsigned *stats = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int keep_entry = 0;
    float best = 0.0f;
    /* without the room (400 MB for yolov5m's stem output at batch 8 and
     * 1088x1920) this shape keeps the default path, untuned: the forward does
     * not fail */
    if (!tune_snap_room(m, snap_bytes + 256)) {
        keep_entry = 1;
        goto done;
    }
    snap = (__half *)m->tune_snap;
    stats = (unsigned *)((char *)snap + snap_bytes);
    if (CU_CK(m, cudaEventCreate(&e0)) || CU_CK(m, cudaEventCreate(&e1))) goto done;
    for (int run = 0; run < Y5_CUDA_RUN_N; run++) {
        if (run == Y5_CUDA_RUN_CUBLAS_HALF && !out_disjoint(in, out, res)) continue;
        if (run == Y5_CUDA_RUN_V3 && !cu_own_ready_of(m, CU_OWN_V3)) continue;
        if (run == Y5_CUDA_RUN_V5 && !cu_own_ready_of(m, CU_OWN_V5)) continue;
        if (run == Y5_CUDA_RUN_V4 && !cu_own_ready_of(m, CU_OWN_V4)) continue;
        if (run != Y5_CUDA_RUN_CUBLAS && (y5_debug_env()->tune_skip >> run & 1u)) continue; /* Y5_TUNE_SKIP */
        const int ref_run = run == Y5_CUDA_RUN_CUBLAS;
        m->tune_force = run;
        m->tune_force_ran = 0;
        conv_groups(m, c, in, out, res, act, slope); /* once untimed: cuBLAS's heuristics, lazy loading */
        int bad = 0;
        if (m->err[0]) {
            if (ref_run || tune_recover(m)) goto done;
            bad = 1;
        } else if ((run == Y5_CUDA_RUN_V3 || run == Y5_CUDA_RUN_V4 || run == Y5_CUDA_RUN_V5) && !m->tune_force_ran) {
            continue; /* the views rule the own kernel out: it ran cuBLAS, nothing of its own to time */
        } else if (m->tune_poison == run && CU_CK(m, cu_view_fill(m, dst, px, c->cout, out->ld, 1000.0f))) {
            goto done;
        }
        if (ref_run) {
            unsigned hs[4];
            float rmax;
            if (CU_CK(m, cudaMemcpyAsync(snap, dst, (size_t)span * sizeof(__half), cudaMemcpyDeviceToDevice, m->stream)) ||
                CU_CK(m, cudaMemsetAsync(stats, 0, sizeof hs, m->stream)) ||
                CU_CK(m, cu_span_check(m, dst, snap, span, c->cout, out->ld, stats)) ||
                CU_CK(m, cudaMemcpyAsync(hs, stats, sizeof hs, cudaMemcpyDeviceToHost, m->stream)) ||
                CU_CK(m, cudaStreamSynchronize(m->stream)))
                goto done;
            memcpy(&rmax, &hs[1], sizeof rmax);
            /* an inf or NaN in the reference: nothing to compare with, untuned */
            if (!(rmax < FLT_MAX)) {
                keep_entry = 1;
                goto done;
            }
        } else if (!bad) {
            unsigned hs[4];
            float d, r;
            if (CU_CK(m, cudaMemsetAsync(stats, 0, sizeof hs, m->stream)) ||
                CU_CK(m, cu_span_check(m, dst, snap, span, c->cout, out->ld, stats)) ||
                CU_CK(m, cudaMemcpyAsync(hs, stats, sizeof hs, cudaMemcpyDeviceToHost, m->stream)) ||
                CU_CK(m, cudaStreamSynchronize(m->stream)))
                goto done;
            memcpy(&d, &hs[0], sizeof d);
            memcpy(&r, &hs[1], sizeof r);
            /* an own kernel: every element within the lab's tolerance of
             * cuBLAS's FP32 path (both accumulate in FP32 and round once);
             * cuBLAS with half out rounds the sum before the bias, off by
             * up to ~0.1% of the largest output: within 1% of it. Nothing
             * outside the slice may change, for any path. */
            bad = hs[3] != 0 || (run == Y5_CUDA_RUN_CUBLAS_HALF ? !(d <= TUNE_TOL * (r > 1.0f ? r : 1.0f)) : hs[2] != 0);
        }
        if (!bad) {
            /* the repetitions queued behind a ~100 us spin, so the GPU runs
             * them back to back as a graph would, not at the host's pace */
            float ms = 0.0f;
            if (CU_CK(m, cu_spin(m, 100)) || CU_CK(m, cudaEventRecord(e0, m->stream))) goto done;
            for (int i = 0; i < TUNE_REPS && !m->err[0]; i++) conv_groups(m, c, in, out, res, act, slope);
            if (m->err[0]) {
                if (ref_run || tune_recover(m)) goto done;
                bad = 1;
            } else if (CU_CK(m, cudaEventRecord(e1, m->stream)) || CU_CK(m, cudaEventSynchronize(e1)) ||
                       CU_CK(m, cudaEventElapsedTime(&ms, e0, e1))) {
                goto done;
            } else {
                e.ms[run] = ms / TUNE_REPS;
                if (ref_run || e.ms[run] < best) {
                    best = e.ms[run];
                    e.run = run;
                }
            }
        }
        if (bad) {
            m->dbg_tune_rejected++;
            /* what it wrote, in the slice or beside it, undone */
            if (CU_CK(m, cudaMemcpyAsync(dst, snap, (size_t)span * sizeof(__half), cudaMemcpyDeviceToDevice, m->stream)))
                goto done;
        }
    }
    keep_entry = 2;
done:
    m->tune_force = -1;
    if (keep_entry) {
        /* 2: tuned (saved to the cache file); 1: untunable here, kept for
         * this backend only, all times -1, on the default path */
        if (keep_entry == 1) {
            e.run = Y5_CUDA_RUN_CUBLAS;
            for (int r = 0; r < Y5_CUDA_RUN_N; r++) e.ms[r] = -1.0f;
        }
        if (m->cap_tune == m->n_tune) {
            const int cap = m->cap_tune ? 2 * m->cap_tune : 64;
            cu_tune_entry *t = (cu_tune_entry *)realloc(m->tune, (size_t)cap * sizeof *t);
            if (t) {
                m->tune = t;
                m->cap_tune = cap;
            }
        }
        if (m->n_tune < m->cap_tune) {
            m->tune[m->n_tune++] = e;
            m->dbg_tuned += keep_entry == 2;
            m->tune_dirty |= keep_entry == 2;
        }
    }
    if (e0) CU_CK(m, cudaEventDestroy(e0));
    if (e1) CU_CK(m, cudaEventDestroy(e1));
    /* the snapshot stays for the next shape of this forward (tune_snap_release) */
    /* the caller runs the chosen path (now in the table) once more: the
     * warm-up's output is the chosen one's */
}

/* What a conv op runs as (the profiler's note, tests). */
extern "C" const char *y5_cuda_op_note(y5_backend *b, const y5_backend_op *op) {
    if (!y5_cuda_is(b) || !op || op->kind != Y5_BE_CONV || !op->conv) return NULL;
    const cu_impl *m = cu_of(b);
    const cu_conv *c = (const cu_conv *)op->conv;
    /* the first group of images, as cuda_conv runs it (all of them unless the input is padded) */
    const int g = pad_group(m, c, op->in[0].n, op->in[0].h, op->in[0].w);
    const y5_view gi = view_images(&op->in[0], 0, g), go = view_images(&op->out, 0, g);
    const y5_view gr = view_images(&op->res, 0, g);
    const y5_view *in = &gi;
    /* a padded input is read from the scratch, which is 256-byte aligned */
    const __half *padded = c->cin_pad != c->cin ? (const __half *)(uintptr_t)256 : NULL;
    const conv_route r = route_conv(m, c, op->in[0].n, in, padded, &go, op->has_res ? &gr : NULL,
                                     tuned_run(m, c, &op->in[0], &op->out, op->has_res ? &op->res : NULL, op->act));
    if (r.mma) {
        const int ho = (in->h + 2 * c->p - c->k) / c->s + 1, wo = (in->w + 2 * c->p - c->k) / c->s + 1;
        return cu_conv_mma_note(m, r.own, c, in->n, ho, wo);
    }
    if (r.fallback) return r.half ? "cublas f16 (fallback)" : "cublas (fallback)";
    return r.half ? "cublas f16" : "cublas";
}

/* The one-time setup of an own conv kernel on this backend's device; a
 * failure leaves its convs on cuBLAS (one warning unless quiet), it does not
 * fail the backend. */
static void own_setup(cu_impl *m, int own, int quiet) {
    int *state = cu_own_state_of(m, own);
    if (*state != 0) return;
    cudaError_t e = own == CU_OWN_V5   ? cu_conv_wgmma_prepare()
                    : own == CU_OWN_V4 ? cu_conv_v4_prepare(&m->smem_optin)
                                       : cu_conv_mma_prepare();
    if (e == cudaSuccess) {
        *state = 1;
        return;
    }
    (void)cudaGetLastError(); /* not sticky: no later launch must see it (cu_fail_cuda) */
    *state = -1;
    if (!quiet)
        fprintf(stderr, "yolov5c: warning: %s: the %s conv kernels cannot be set up (%s); convs run on cuBLAS\n",
                m->name, own == CU_OWN_V5 ? "wgmma (sm_90a)" : own == CU_OWN_V4 ? "v4" : "mma",
                cudaGetErrorString(e));
}

/* What the choice needs: v5 under WGMMA, v4 under V4, v3 under MMA and
 * AUTO, all three under TUNE (v5 quietly: most cards have no sm_90a, and
 * tuning then times the others). */
static void mma_setup(cu_impl *m) {
    if (m->conv_impl == Y5_CUDA_CONV_TUNE) {
        own_setup(m, CU_OWN_V3, 0);
        own_setup(m, CU_OWN_V4, 0);
        own_setup(m, CU_OWN_V5, 1);
        tune_cache_load(m);
        return;
    }
    own_setup(m, cu_own_default(m), 0);
}

extern "C" void y5_cuda_set_conv_impl(y5_backend *b, int impl) {
    if (!y5_cuda_is(b) || impl < Y5_CUDA_CONV_CUBLAS || impl > Y5_CUDA_CONV_V4) return;
    cu_impl *m = cu_of(b);
    if (m->capturing || impl == m->conv_impl) return;
    graphs_drop_all(m); /* the choice is baked into a graph */
    m->conv_impl = impl;
    if (impl != Y5_CUDA_CONV_CUBLAS && cu_use_device(m) == 0) mma_setup(m);
}

extern "C" void y5_cuda_set_cublas_half(y5_backend *b, int on) {
    if (!y5_cuda_is(b)) return;
    cu_impl *m = cu_of(b);
    if (m->capturing || !!on == m->cublas_half) return;
    graphs_drop_all(m); /* the choice is baked into a graph */
    m->cublas_half = !!on;
}

extern "C" int y5_cuda_own_kernel_ready(const y5_backend *b) {
    if (!y5_cuda_is(b)) return 0;
    const cu_impl *m = (const cu_impl *)b->impl;
    if (m->conv_impl == Y5_CUDA_CONV_CUBLAS) return 1;
    /* tune: the own kernels every card of this build runs (v5 needs sm_90a) */
    if (m->conv_impl == Y5_CUDA_CONV_TUNE) return cu_own_ready_of(m, CU_OWN_V3) && cu_own_ready_of(m, CU_OWN_V4);
    return cu_own_ready(m);
}

extern "C" int y5_cuda_get_conv_impl(const y5_backend *b) {
    return y5_cuda_is(b) ? ((const cu_impl *)b->impl)->conv_impl : Y5_CUDA_CONV_CUBLAS;
}

/* ---------------------------------------------------------------- other ops */

static void cuda_maxpool(y5_backend *b, const y5_view *in, const y5_view *out, int k) {
    cu_impl *m = cu_of(b);
    if (m->err[0] || cu_use_device(m)) return;
    CU_CK(m, cu_maxpool(m, m->arena + in->off, in->n, in->h, in->w, in->c, in->ld, m->arena + out->off, out->ld, k));
}

static void cuda_upsample(y5_backend *b, const y5_view *in, const y5_view *out, int scale) {
    cu_impl *m = cu_of(b);
    if (m->err[0] || cu_use_device(m)) return;
    CU_CK(m, cu_upsample(m, m->arena + in->off, in->n, in->h, in->w, in->c, in->ld, m->arena + out->off, out->ld,
                         scale));
}

static void cuda_copy(y5_backend *b, const y5_view *in, const y5_view *out) {
    cu_impl *m = cu_of(b);
    if (m->err[0] || cu_use_device(m)) return;
    CU_CK(m, cu_copy(m, m->arena + in->off, (long long)in->n * in->h * in->w, in->c, in->ld, m->arena + out->off,
                     out->ld));
}

static void cuda_decode(y5_backend *b, const y5_view *heads, const y5_detect_shape *d) {
    cu_impl *m = cu_of(b);
    m->nmsb_queued = 0; /* it rewrites the pred a queued batch NMS's redo would read */
    if (m->err[0] || cu_use_device(m)) return;
    size_t need = (size_t)heads[0].n * d->rows * d->no;
    if (need > m->pred_floats) {
        cu_fail_msg(m, "decode: pred holds %zu floats, %zu needed", m->pred_floats, need);
        return;
    }
    int first = 0;
    CU_CK(m, cu_decode(m, heads, d, m->arena, m->pred, &first));
    m->dbg_decode_first += first;
}

/* ---------------------------------------------------------------- memory */

static void graph_free(cu_impl *m, cu_graph *g) {
    if (g->exec) CU_CK(m, cudaGraphExecDestroy(g->exec));
    free(g->ops);
    free(g->dets);
    memset(g, 0, sizeof *g);
}

/* Every kept graph: called whenever a pointer some graph bakes in changes
 * (arena, scratch, pred or staging reallocated, a conv destroyed, the chunk
 * size changed). */
static void graphs_drop_all(cu_impl *m) {
    for (int i = 0; i < CU_GRAPHS; i++)
        if (m->graphs[i].used) graph_free(m, &m->graphs[i]);
    m->graph_last = -1;
    m->graph_last_ran = 0;
}

static int cuda_arena(y5_backend *b, size_t elems, size_t scratch, size_t pred, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    if (m->capturing) {
        snprintf(err, errlen, "cuda: arena: called during a graph capture");
        return -1;
    }
    if (cu_use_device(m)) return cu_take_error(m, err, errlen);
    /* Buffers only grow, so the graphs of the plans that fit stay valid and
     * alternating shapes replay theirs; a buffer that moves drops them all. */
    m->graph_last_ran = 0;
    /* a forward still queued (compute_async) must not lose its buffers: the
     * contract says plan only after sync, this keeps a caller that does not
     * from freeing memory under running kernels */
    if (CU_CK(m, cudaStreamSynchronize(m->stream))) return cu_take_error(m, err, errlen);
    m->nmsb_queued = 0; /* the pred may move: a queued batch NMS's redo could not read it */
    if (elems > m->arena_elems || scratch > m->scratch_bytes || pred > m->pred_floats || !m->arena || !m->scratch ||
        !m->pred)
        graphs_drop_all(m);
    size_t cap;
    if (elems > m->arena_elems || !m->arena) {
        cap = m->arena ? m->arena_elems * sizeof(__half) + 256 : 0;
        if (cu_grow(m, (void **)&m->arena, &cap, elems * sizeof(__half) + 256)) {
            m->arena_elems = 0;
            return cu_take_error(m, err, errlen);
        }
        m->arena_elems = elems;
    }
    if (scratch > m->scratch_bytes || !m->scratch) {
        if (cu_grow(m, &m->scratch, &m->scratch_bytes, scratch)) return cu_take_error(m, err, errlen);
    }
    if (pred > m->pred_floats || !m->pred) {
        size_t c1 = m->pred ? m->pred_floats * sizeof(float) : 0, c2 = m->pred_h ? m->pred_floats * sizeof(float) : 0;
        m->pred_floats = 0;
        if (cu_grow(m, (void **)&m->pred, &c1, pred * sizeof(float)) ||
            cu_grow_host(m, (void **)&m->pred_h, &c2, pred * sizeof(float)))
            return cu_take_error(m, err, errlen);
        m->pred_floats = pred;
    }
    return cu_take_error(m, err, errlen);
}

static const float *cuda_pred_host(y5_backend *b, size_t n) {
    cu_impl *m = cu_of(b);
    if (n > m->pred_floats || !m->pred) return NULL;
    if (m->capturing) {
        cu_fail_msg(m, "pred_host: called during a graph capture");
        return NULL;
    }
    if (m->err[0] || cu_use_device(m)) return NULL;
    if (CU_CK(m, cudaMemcpyAsync(m->pred_h, m->pred, n * sizeof(float), cudaMemcpyDeviceToHost, m->stream)) ||
        CU_CK(m, cudaStreamSynchronize(m->stream)))
        return NULL;
    return m->pred_h;
}

static int input_reserve(cu_impl *m, size_t count) {
    if (count <= m->in_cap && m->in_h && m->in_d) return 0;
    graphs_drop_all(m); /* a captured upload reads the old buffers */
    size_t c1 = m->in_h ? m->in_cap * sizeof(float) : 0, c2 = m->in_d ? m->in_cap * sizeof(float) : 0;
    m->in_cap = 0;
    if (cu_grow_host(m, (void **)&m->in_h, &c1, count * sizeof(float)) ||
        cu_grow(m, (void **)&m->in_d, &c2, count * sizeof(float)))
        return -1;
    memset(m->in_h, 0, count * sizeof(float));
    m->in_cap = count;
    return 0;
}

static float *cuda_input_host(y5_backend *b, const y5_view *in) {
    cu_impl *m = cu_of(b);
    size_t count = (size_t)in->n * in->h * in->w * in->c;
    if (m->capturing) {
        cu_fail_msg(m, "input_host: called during a graph capture");
        return NULL;
    }
    if (cu_use_device(m)) return NULL;
    /* the host is about to write: wait until no queued upload still reads it */
    if (CU_CK(m, cudaStreamSynchronize(m->stream))) return NULL;
    if (input_reserve(m, count)) return NULL;
    m->input_src = CU_IN_F32;
    return m->in_h;
}

static int input_reserve_u8(cu_impl *m, size_t bytes) {
    if (bytes <= m->in8_cap && m->in8_h[0] && m->in8_h[1] && m->in8_d) return 0;
    if (!m->up_stream && CU_CK(m, cudaStreamCreateWithFlags(&m->up_stream, cudaStreamNonBlocking))) return -1;
    if (!m->in8_consumed && CU_CK(m, cudaEventCreateWithFlags(&m->in8_consumed, cudaEventDisableTiming))) return -1;
    /* a queued forward may still read the old buffers, an early upload
     * write them */
    if (CU_CK(m, cudaStreamSynchronize(m->stream)) || CU_CK(m, cudaStreamSynchronize(m->up_stream))) return -1;
    m->in8_early = 0;
    graphs_drop_all(m);
    size_t c0 = m->in8_h[0] ? m->in8_cap : 0, c1 = m->in8_h[1] ? m->in8_cap : 0, c2 = m->in8_d ? m->in8_cap : 0;
    m->in8_cap = 0;
    if (cu_grow_host(m, (void **)&m->in8_h[0], &c0, bytes) || cu_grow_host(m, (void **)&m->in8_h[1], &c1, bytes) ||
        cu_grow(m, (void **)&m->in8_d, &c2, bytes))
        return -1;
    for (int i = 0; i < 2; i++) {
        if (!m->in8_ev[i] && CU_CK(m, cudaEventCreateWithFlags(&m->in8_ev[i], cudaEventDisableTiming))) return -1;
        memset(m->in8_h[i], 0, bytes);
        m->in8_pending[i] = 0;
    }
    m->in8_cap = bytes;
    return 0;
}

/* Queues the upload of the slot handed out last (count bytes) into the
 * device copy, then its event; the next input_host_u8 hands out the other. */
static int upload_u8(cu_impl *m, size_t count) {
    const int s = m->in8_slot;
    if (count > m->in8_cap || !m->in8_h[s] || !m->in8_d)
        return cu_fail_msg(m, "input: %zu u8 bytes to upload, %zu staged", count, m->in8_cap);
    if (m->in8_early) { /* input_upload queued it on up_stream: wait for it there */
        m->in8_early = 0;
        m->dbg_early_uploads++;
        return CU_CK(m, cudaStreamWaitEvent(m->stream, m->in8_ev[s], 0));
    }
    if (CU_CK(m, cudaMemcpyAsync(m->in8_d, m->in8_h[s], count, cudaMemcpyHostToDevice, m->stream)) ||
        CU_CK(m, cudaEventRecord(m->in8_ev[s], m->stream)))
        return -1;
    m->in8_pending[s] = 1;
    m->in8_uploaded = 1;
    return 0;
}

/* The device copy /255 into the input view, then in8_consumed: from there
 * on an early upload (cuda_input_upload) may overwrite the copy. Outside
 * any graph: a captured graph would give the event no place to be recorded
 * from, and the upload could not start until the whole forward ended. */
static int convert_u8(cu_impl *m, const y5_view *in) {
    const size_t px = (size_t)in->n * in->h * in->w;
    if (CU_CK(m, cu_u8_to_f16(m, m->in8_d, (long long)px, in->c, m->arena + in->off, in->ld))) return -1;
    return CU_CK(m, cudaEventRecord(m->in8_consumed, m->stream));
}

/* input_upload: the H2D copy of the slot handed out last, queued now on
 * up_stream behind the last /255 kernel queued (the forward in flight's),
 * so 50 MB over PCIe (a batch of 8 at 1088x1920: about 1 ms) runs beside
 * that forward rather than before the next one. The next compute waits for
 * its event (upload_u8). */
static int cuda_input_upload(y5_backend *b, const y5_view *in, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    if (m->capturing) {
        cu_fail_msg(m, "input_upload: called during a graph capture");
        return cu_take_error(m, err, errlen);
    }
    /* nothing to queue early (the compute's own upload says what is wrong, if anything) */
    const int s = m->in8_slot;
    const size_t count = (size_t)in->n * in->h * in->w * in->c;
    if (m->input_src != CU_IN_U8 || m->in8_early || m->in8_uploaded || count == 0 || count > m->in8_cap ||
        !m->in8_h[s] || !m->in8_d || !m->up_stream)
        return 0;
    if (cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (CU_CK(m, cudaStreamWaitEvent(m->up_stream, m->in8_consumed, 0)) ||
        CU_CK(m, cudaMemcpyAsync(m->in8_d, m->in8_h[s], count, cudaMemcpyHostToDevice, m->up_stream)) ||
        CU_CK(m, cudaEventRecord(m->in8_ev[s], m->up_stream)))
        return cu_take_error(m, err, errlen);
    m->in8_pending[s] = 1;
    m->in8_uploaded = 1;
    m->in8_early = 1;
    return 0;
}

/* The u8 input: a quarter of the FP32 upload, and the host skips the
 * u8 -> float pass (about 4.5 ms per 1088x1920 image on one core, more
 * than the GPU forward); /255 and the rounding to half run on the GPU,
 * giving the halves the FP32 path gives (kernels_tensor.cu). */
static unsigned char *cuda_input_host_u8(y5_backend *b, const y5_view *in) {
    cu_impl *m = cu_of(b);
    size_t count = (size_t)in->n * in->h * in->w * in->c;
    if (m->capturing) {
        cu_fail_msg(m, "input_host_u8: called during a graph capture");
        return NULL;
    }
    if (cu_use_device(m)) return NULL;
    if (input_reserve_u8(m, count)) return NULL;
    /* once the slot handed out last has been uploaded, the other one (a
     * forward in flight may still upload from that one); before, the same
     * slot again. The host is about to write it: wait until its last upload
     * is done. */
    if (m->in8_uploaded) {
        /* an early upload never consumed: later writes of the device copy
         * (this slot's upload, on the compute stream) must come after it */
        if (m->in8_early && CU_CK(m, cudaStreamWaitEvent(m->stream, m->in8_ev[m->in8_slot], 0))) return NULL;
        m->in8_early = 0;
        m->in8_slot ^= 1;
        m->in8_uploaded = 0;
    }
    const int s = m->in8_slot;
    if (m->in8_pending[s]) {
        if (CU_CK(m, cudaEventSynchronize(m->in8_ev[s]))) return NULL;
        m->in8_pending[s] = 0;
    }
    m->input_src = CU_IN_U8;
    return m->in8_h[s];
}

static int cuda_input_commit(y5_backend *b, const y5_view *in, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    if (!m->capturing && cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (m->input_src == CU_IN_DEVICE) return cu_take_error(m, err, errlen);
    size_t px = (size_t)in->n * in->h * in->w, count = px * in->c;
    if (count == 0) return cu_take_error(m, err, errlen); /* a plan without input (op tests, bench) */
    if (m->input_src == CU_IN_U8) {
        if (count > m->in8_cap) {
            if (m->capturing) {
                cu_fail_msg(m, "input_commit: no u8 input staging during a graph capture");
                return cu_take_error(m, err, errlen);
            }
            if (input_reserve_u8(m, count)) return cu_take_error(m, err, errlen);
        }
        /* captured: nothing (compute queues the upload and the /255 before each launch) */
        if (!m->capturing && upload_u8(m, count) == 0) convert_u8(m, in);
        return cu_take_error(m, err, errlen);
    }
    if (count > m->in_cap) {
        if (m->capturing) {
            cu_fail_msg(m, "input_commit: no input staging during a graph capture (call input_host first)");
            return cu_take_error(m, err, errlen);
        }
        if (input_reserve(m, count)) return cu_take_error(m, err, errlen);
    }
    if (CU_CK(m, cudaMemcpyAsync(m->in_d, m->in_h, count * sizeof(float), cudaMemcpyHostToDevice, m->stream)) == 0)
        CU_CK(m, cu_f32_to_f16(m, m->in_d, (long long)px, in->c, m->arena + in->off, in->ld));
    return cu_take_error(m, err, errlen);
}

static int cuda_sync(y5_backend *b, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    if (!m->capturing) {
        if (cu_use_device(m) == 0) CU_CK(m, cudaStreamSynchronize(m->stream));
    }
    return cu_take_error(m, err, errlen);
}

static int cuda_healthy(y5_backend *b) { return stream_alive(cu_of(b)); }

static void cuda_inject_fault(y5_backend *b) {
    cu_impl *m = cu_of(b);
    if (cu_use_device(m) == 0) CU_CK(m, cu_trap(m));
}

static void free_dev(cu_impl *m, void *p) {
    if (p) CU_CK(m, cudaFree(p));
}
static void free_host(cu_impl *m, void *p) {
    if (p) CU_CK(m, cudaFreeHost(p));
}

static void cuda_destroy(y5_backend *b) {
    if (!b) return;
    cu_impl *m = cu_of(b);
    if (m) {
        cu_use_device(m);
        if (m->capturing) {
            cudaGraph_t g = NULL;
            if (CU_CK(m, cudaStreamEndCapture(m->stream, &g)) == 0 && g) CU_CK(m, cudaGraphDestroy(g));
            m->capturing = 0;
        }
        if (m->stream) CU_CK(m, cudaStreamSynchronize(m->stream));
        tune_snap_release(m);
        /* an early upload never consumed may still read the pinned staging */
        if (m->up_stream) CU_CK(m, cudaStreamSynchronize(m->up_stream));
        graphs_drop_all(m);
        free_dev(m, m->arena);
        free_dev(m, m->scratch);
        free_dev(m, m->pred);
        free_host(m, m->pred_h);
        free_host(m, m->in_h);
        free_dev(m, m->in_d);
        for (int i = 0; i < 2; i++) {
            free_host(m, m->in8_h[i]);
            if (m->in8_ev[i]) CU_CK(m, cudaEventDestroy(m->in8_ev[i]));
        }
        if (m->up_stream) CU_CK(m, cudaStreamDestroy(m->up_stream));
        if (m->in8_consumed) CU_CK(m, cudaEventDestroy(m->in8_consumed));
        free_dev(m, m->in8_d);
        free_host(m, m->lb_h);
        free_dev(m, m->lb_d);
        free_dev(m, m->nms_keys);
        free_dev(m, m->nms_sorted);
        free_dev(m, m->nms_count);
        free_dev(m, m->nms_tmp);
        free_dev(m, m->nms_box);
        free_dev(m, m->nms_area);
        free_dev(m, m->nms_det);
        free_dev(m, m->nms_mask);
        free_dev(m, m->nms_kept);
        free_dev(m, m->nms_out);
        free_dev(m, m->nms_cls);
        free(m->nms_cls_h);
        free(m->nms_cls_tmp);
        tune_cache_save(m);
        free(m->tune);
        free_host(m, m->nms_h);
        free_dev(m, m->nmsb_res);
        free_host(m, m->nmsb_h);
        free_dev(m, m->nmsb_seg);
        free_dev(m, m->nmsb_kbox);
        free_dev(m, m->nmsb_karea);
        if (m->nmsb_ev) CU_CK(m, cudaEventDestroy(m->nmsb_ev));
        free(m->nmsb_classes);
        if (m->lb_done) CU_CK(m, cudaEventDestroy(m->lb_done));
        if (m->blas) CU_CKB(m, y5_cublas.destroy(m->blas));
        free_dev(m, m->blas_ws);
        if (m->stream) CU_CK(m, cudaStreamDestroy(m->stream));
        free(m);
    }
    free(b);
}

/* ---------------------------------------------------------------- graphs
 * compute() keeps up to CU_GRAPHS captured forwards, one per plan (its op
 * list, Detect heads and input view, compared by content) and input source,
 * least recently used out. A plan's life:
 *
 *   1st compute: eager (y5_backend_run_eager). This is the warm-up a capture
 *     needs: lazily loaded kernels and cuBLAS's first-call setup happen
 *     outside the capture, and a wrong op fails here with its own message,
 *     not as an opaque capture error. A plan computed once (a one-off image
 *     size) never pays for a capture.
 *   2nd compute: captured (input_commit + every op, exactly the eager calls),
 *     instantiated and launched.
 *   later: replayed.
 *
 * A failed capture after a successful eager forward falls back to eager for
 * that plan, with one warning per backend on stderr, instead of failing.
 * Why: the eager path runs the same kernels with the same arguments (the
 * tests check the bits agree), so the results are the same and only the
 * launch overhead is lost; a user who runs detect or val wants results, and
 * a driver or cuBLAS version that refuses some node in a capture must not
 * turn a speed feature into an outage. The warning names the reason, is not
 * repeated per forward, and the plan is not retried every forward (it is
 * marked CU_G_EAGER until the graphs are dropped). An error of the eager
 * forward itself, or of a graph launch, is a real failure and is returned. */

static int same_det(const y5_detect_shape *a, const y5_detect_shape *b) {
    return a->nl == b->nl && a->na == b->na && a->no == b->no && a->rows == b->rows &&
           !memcmp(&a->lazy_obj_min, &b->lazy_obj_min, sizeof a->lazy_obj_min) /* bits: NaN too */ &&
           !memcmp(a->anchors, b->anchors, sizeof a->anchors) && !memcmp(a->strides, b->strides, sizeof a->strides);
}

/* Field by field: a y5_view has padding bytes memcmp would read. */
static int same_view(const y5_view *a, const y5_view *b) {
    return a->off == b->off && a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c && a->ld == b->ld;
}

static int same_op(const y5_backend_op *a, const y5_backend_op *b) {
    if (a->kind != b->kind || a->conv != b->conv || a->act != b->act || a->slope != b->slope || a->has_res != b->has_res || a->k != b->k ||
        a->scale != b->scale || !same_view(&a->out, &b->out) || !same_view(&a->res, &b->res))
        return 0;
    for (int i = 0; i < 8; i++)
        if (!same_view(&a->in[i], &b->in[i])) return 0;
    return 1;
}

static int graph_matches(const cu_graph *g, const y5_backend_plan *p, int src) {
    if (!g->used || g->n_ops != p->n_ops || !same_view(&g->input, &p->input)) return 0;
    if (p->input.n > 0 && g->input_src != src) return 0; /* without an input the source does not matter */
    int d = 0;
    for (int i = 0; i < p->n_ops; i++) {
        if (!same_op(&g->ops[i], &p->ops[i])) return 0;
        if (p->ops[i].kind == Y5_BE_DECODE) {
            if (!p->ops[i].det || d >= g->n_dets || !same_det(&g->dets[d], p->ops[i].det)) return 0;
            d++;
        }
    }
    return 1;
}

static cu_graph *graph_find(cu_impl *m, const y5_backend_plan *p, int src) {
    for (int i = 0; i < CU_GRAPHS; i++)
        if (graph_matches(&m->graphs[i], p, src)) return &m->graphs[i];
    return NULL;
}

/* A free entry, or the least recently used one emptied. */
static cu_graph *graph_victim(cu_impl *m) {
    cu_graph *v = &m->graphs[0];
    for (int i = 0; i < CU_GRAPHS; i++) {
        if (!m->graphs[i].used) return &m->graphs[i];
        if (m->graphs[i].stamp < v->stamp) v = &m->graphs[i];
    }
    graph_free(m, v);
    return v;
}

/* Records the plan as the entry's key (deep copies). -1: out of host memory
 * (the plan then simply is not cached). */
static int graph_record(cu_graph *g, const y5_backend_plan *p, int src) {
    int nd = 0;
    for (int i = 0; i < p->n_ops; i++) nd += p->ops[i].kind == Y5_BE_DECODE;
    g->ops = (y5_backend_op *)malloc((size_t)(p->n_ops > 0 ? p->n_ops : 1) * sizeof *g->ops);
    g->dets = (y5_detect_shape *)malloc((size_t)(nd > 0 ? nd : 1) * sizeof *g->dets);
    if (!g->ops || !g->dets) {
        free(g->ops);
        free(g->dets);
        g->ops = NULL;
        g->dets = NULL;
        return -1;
    }
    if (p->n_ops > 0) memcpy(g->ops, p->ops, (size_t)p->n_ops * sizeof *g->ops);
    nd = 0;
    for (int i = 0; i < p->n_ops; i++)
        if (p->ops[i].kind == Y5_BE_DECODE) {
            if (!p->ops[i].det) { free(g->ops); free(g->dets); g->ops = NULL; g->dets = NULL; return -1; }
            g->dets[nd++] = *p->ops[i].det;
        }
    g->n_ops = p->n_ops;
    g->n_dets = nd;
    g->input = p->input;
    g->input_src = src;
    g->used = 1;
    return 0;
}

/* Captures exactly the calls of an eager forward (input_commit, every op)
 * into g->exec; nothing runs. 0, or -1 with the reason in err and no error
 * left recorded (the stream is out of capture mode either way). */
static int graph_capture(y5_backend *b, cu_graph *g, const y5_backend_plan *p, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    if (CU_CK(m, cudaStreamBeginCapture(m->stream, cudaStreamCaptureModeThreadLocal)))
        return cu_take_error(m, err, errlen);
    m->capturing = 1;
    int rc = cuda_input_commit(b, &p->input, err, errlen); /* on failure its message is in err */
    if (rc == 0) y5_backend_run_ops(b, p);
    cudaGraph_t gr = NULL;
    CU_CK(m, cudaStreamEndCapture(m->stream, &gr));
    m->capturing = 0;
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    if (CU_CK(m, cudaStreamIsCapturing(m->stream, &st)) == 0 && st != cudaStreamCaptureStatusNone)
        cu_fail_msg(m, "the stream is still capturing after cudaStreamEndCapture");
    if (rc == 0 && !m->err[0] && gr) CU_CK(m, cudaGraphInstantiate(&g->exec, gr, 0ULL));
    if (gr) CU_CK(m, cudaGraphDestroy(gr));
    if (rc == 0 && !m->err[0] && !gr) cu_fail_msg(m, "cudaStreamEndCapture returned no graph");
    if (rc || m->err[0]) {
        if (g->exec) CU_CK(m, cudaGraphExecDestroy(g->exec));
        g->exec = NULL;
        if (rc) m->err[0] = 0; /* err already says why; what followed comes from it */
        else cu_take_error(m, err, errlen);
        return -1;
    }
    m->graph_captures++;
    return 0;
}

static int graph_launch(cu_impl *m, cu_graph *g, char *err, size_t errlen) {
    if (CU_CK(m, cudaGraphLaunch(g->exec, m->stream))) {
        graph_free(m, g);
        return cu_take_error(m, err, errlen);
    }
    m->graph_last_ran = 1;
    return 0;
}

/* compute (async 0) or compute_async (1: a graph launch, replayed or just
 * captured, returns once queued; a plan's first, eager forward waits). */
static int compute_impl(y5_backend *b, const y5_backend_plan *p, double *op_ms, int async, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    if (m->capturing) {
        snprintf(err, errlen, "cuda: compute: called during a graph capture");
        return -1;
    }
    m->graph_last_ran = 0;
    m->nmsb_queued = 0; /* a new pred: a batch NMS queued before is taken before the next forward, or not at all */
    if (op_ms || y5_debug_env()->no_cuda_graph) {
        const int rc = y5_backend_run_eager(b, p, op_ms, err, errlen);
        tune_snap_release_after(m, rc != 0);
        return rc;
    }
    if (cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (cu_take_error(m, err, errlen)) return -1; /* a queued single op failed before this forward */
    const int src = m->input_src;
    cu_graph *g = graph_find(m, p, src);
    if (!g) { /* first compute of this plan: eager, then remember it */
        const int rc = y5_backend_run_eager(b, p, NULL, err, errlen);
        tune_snap_release_after(m, rc != 0); /* what tuning held for this warm-up */
        if (rc) return -1;
        g = graph_victim(m);
        if (graph_record(g, p, src) == 0) {
            g->state = CU_G_WARM;
            g->stamp = ++m->graph_clock;
        }
        return 0;
    }
    g->stamp = ++m->graph_clock;
    if (g->state == CU_G_WARM) {
        char cerr[512];
        if (graph_capture(b, g, p, cerr, sizeof cerr) == 0) {
            g->state = CU_G_GRAPH;
        } else {
            g->state = CU_G_EAGER;
            if (!m->graph_warned) {
                m->graph_warned = 1;
                fprintf(stderr,
                        "yolov5c: warning: %s: CUDA graph capture failed (%s); this input shape runs op by op "
                        "instead (same results, more launch overhead)\n",
                        m->name, cerr);
            }
        }
    }
    if (g->state == CU_G_EAGER) {
        const int rc = y5_backend_run_eager(b, p, NULL, err, errlen);
        tune_snap_release_after(m, rc != 0); /* a shape tuned here (its entry could not be kept before) */
        return rc;
    }
    /* the u8 upload and its /255 are not in the graph: one graph serves both
     * staging halves (cu_impl's in8_* say why), and the next batch's upload
     * can start as soon as this one's /255 has read the device copy */
    const size_t count = (size_t)p->input.n * p->input.h * p->input.w * p->input.c;
    if (src == CU_IN_U8 && count > 0 && (upload_u8(m, count) || convert_u8(m, &p->input)))
        return cu_take_error(m, err, errlen);
    if (graph_launch(m, g, err, errlen)) return -1;
    return async ? cu_take_error(m, err, errlen) : cuda_sync(b, err, errlen);
}

static int cuda_compute(y5_backend *b, const y5_backend_plan *p, double *op_ms, char *err, size_t errlen) {
    return compute_impl(b, p, op_ms, 0, err, errlen);
}

static int cuda_compute_async(y5_backend *b, const y5_backend_plan *p, char *err, size_t errlen) {
    return compute_impl(b, p, NULL, 1, err, errlen);
}

extern "C" void y5_cuda_graph_reset(y5_backend *b) {
    if (!y5_cuda_is(b)) return;
    graphs_drop_all(cu_of(b));
}

extern "C" int y5_cuda_graph_ready(const y5_backend *b) {
    return y5_cuda_is(b) && ((const cu_impl *)b->impl)->graph_last_ran;
}

extern "C" int y5_cuda_graph_count(const y5_backend *b) {
    if (!y5_cuda_is(b)) return 0;
    const cu_impl *m = (const cu_impl *)b->impl;
    int n = 0;
    for (int i = 0; i < CU_GRAPHS; i++) n += m->graphs[i].used && m->graphs[i].state == CU_G_GRAPH;
    return n;
}

extern "C" long long y5_cuda_graph_captures(const y5_backend *b) {
    return y5_cuda_is(b) ? ((const cu_impl *)b->impl)->graph_captures : 0;
}

/* ---------------------------------------------------------------- views */

static int view_ok(cu_impl *m, const y5_view *v) {
    size_t px = (size_t)v->n * v->h * v->w;
    if (v->c < 1 || v->ld < v->c || !m->arena || (px && v->off + (px - 1) * v->ld + v->c > m->arena_elems))
        return cu_fail_msg(m, "view at %zu (%dx%dx%dx%d, ld %d) outside the arena of %zu elements", v->off, v->n,
                           v->h, v->w, v->c, v->ld, m->arena_elems);
    if (m->capturing) return cu_fail_msg(m, "view access during a graph capture");
    return 0;
}

static int cuda_view_write(y5_backend *b, const y5_view *v, const float *src, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    const long long px = (long long)v->n * v->h * v->w;
    const size_t count = (size_t)px * (v->c > 0 ? v->c : 0);
    if (view_ok(m, v) || cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (count == 0) return 0;
    float *tmp = NULL;
    if (CU_CK(m, cudaMalloc((void **)&tmp, count * sizeof(float))) == 0 &&
        CU_CK(m, cudaMemcpyAsync(tmp, src, count * sizeof(float), cudaMemcpyHostToDevice, m->stream)) == 0 &&
        CU_CK(m, cu_f32_to_f16(m, tmp, px, v->c, m->arena + v->off, v->ld)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    if (tmp) CU_CK(m, cudaFree(tmp));
    return cu_take_error(m, err, errlen);
}

static int cuda_view_read(y5_backend *b, const y5_view *v, float *dst, char *err, size_t errlen) {
    cu_impl *m = cu_of(b);
    const long long px = (long long)v->n * v->h * v->w;
    const size_t count = (size_t)px * (v->c > 0 ? v->c : 0);
    if (view_ok(m, v) || cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (count == 0) return 0;
    __half *th = NULL; /* the view packed (ld = c), then widened */
    float *tf = NULL;
    if (CU_CK(m, cudaMalloc((void **)&th, count * sizeof(__half))) == 0 &&
        CU_CK(m, cudaMalloc((void **)&tf, count * sizeof(float))) == 0 &&
        CU_CK(m, cu_copy(m, m->arena + v->off, px, v->c, v->ld, th, v->c)) == 0 &&
        CU_CK(m, cu_f16_to_f32(m, th, (long long)count, tf)) == 0 &&
        CU_CK(m, cudaMemcpyAsync(dst, tf, count * sizeof(float), cudaMemcpyDeviceToHost, m->stream)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    if (th) CU_CK(m, cudaFree(th));
    if (tf) CU_CK(m, cudaFree(tf));
    return cu_take_error(m, err, errlen);
}

static const char *cuda_describe(const y5_backend *b) { return ((const cu_impl *)b->impl)->name; }

/* ---------------------------------------------------------------- the table */

/* Filled field by field (C++17 has no designated initializers). Each
 * backend keeps its own copy so the debug switches can remove the device
 * letterbox / NMS (the engine then takes its host paths). */
static y5_backend_ops cuda_ops_table(void) {
    y5_backend_ops o;
    memset(&o, 0, sizeof o);
    o.name = "cuda";
    o.elem_bytes = (int)sizeof(__half);
    o.conv_create = cuda_conv_create;
    o.conv_destroy = cuda_conv_destroy;
    o.arena = cuda_arena;
    o.conv_scratch = cuda_conv_scratch;
    o.compute = cuda_compute;
    o.conv = cuda_conv;
    o.maxpool = cuda_maxpool;
    o.upsample = cuda_upsample;
    o.copy = cuda_copy;
    o.decode = cuda_decode;
    o.pred_host = cuda_pred_host;
    o.pred_write = y5_cuda_pred_write;
    o.compute_async = cuda_compute_async;
    o.input_host = cuda_input_host;
    o.input_commit = cuda_input_commit;
    o.input_host_u8 = cuda_input_host_u8;
    o.input_upload = cuda_input_upload;
    o.view_write = cuda_view_write;
    o.view_read = cuda_view_read;
    o.letterbox = y5_debug_env()->cpu_letterbox ? NULL : y5_cuda_letterbox;
    o.nms = y5_debug_env()->cpu_nms ? NULL : y5_cuda_nms;
    /* Y5_NMS_BATCH=0: the engine's per-image path (one y5_cuda_nms per image) */
    const int batch_nms = !y5_debug_env()->cpu_nms && y5_debug_env()->nms_batch != 0;
    o.nms_submit = batch_nms ? y5_cuda_nms_submit : NULL;
    o.nms_take = batch_nms ? y5_cuda_nms_take : NULL;
    o.op_note = y5_cuda_op_note;
    o.describe = cuda_describe;
    o.sync = cuda_sync;
    o.healthy = cuda_healthy;
    o.inject_fault = cuda_inject_fault;
    o.destroy = cuda_destroy;
    return o;
}

extern "C" int y5_cuda_is(const y5_backend *b) { return b && b->ops && b->ops->destroy == cuda_destroy; }

extern "C" const char *y5_cuda_device_name(const y5_backend *b) {
    return y5_cuda_is(b) ? ((const cu_impl *)b->impl)->name : "";
}

extern "C" y5_backend *y5_backend_cuda_create(int device, char *err, size_t errlen) {
    int n = y5_cuda_device_count();
    if (n <= 0) {
        snprintf(err, errlen, "cuda: no CUDA device (%s)", y5_cuda_no_device_reason());
        return NULL;
    }
    if (device < 0 || device >= n) {
        snprintf(err, errlen, "cuda:%d: no such device (%d CUDA device%s)", device, n, n == 1 ? "" : "s");
        return NULL;
    }
    y5_backend *b = (y5_backend *)calloc(1, sizeof *b);
    cu_impl *m = (cu_impl *)calloc(1, sizeof *m);
    if (!b || !m) {
        free(b);
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->ops = cuda_ops_table();
    b->ops = &m->ops;
    b->impl = m;
    m->tune_force = m->tune_poison = -1;
    m->decode_first = y5_debug_env()->cuda_decode == 1;
    m->device = device;
    m->graph_last = -1;
    cudaDeviceProp prop;
    if (CU_CK(m, cudaSetDevice(device)) || CU_CK(m, cudaGetDeviceProperties(&prop, device))) goto fail;
    if (prop.major < 9) {
        cu_fail_msg(m, "cuda:%d is %s (sm_%d%d); this build has kernels for sm_90 and newer only", device, prop.name,
                    prop.major, prop.minor);
        goto fail;
    }
    {
        const char *why = y5_cublas_load(); /* on first use, not at program start (cublas_dl.cu) */
        if (why) {
            cu_fail_msg(m, "%s", why);
            goto fail;
        }
    }
    m->sm_count = prop.multiProcessorCount;
    snprintf(m->name, sizeof m->name, "%.100s (sm_%d%d, %.0f GiB)", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    if (CU_CK(m, cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking)) ||
        CU_CK(m, cudaEventCreateWithFlags(&m->lb_done, cudaEventDisableTiming)) ||
        CU_CKB(m, y5_cublas.create(&m->blas)) || CU_CKB(m, y5_cublas.set_stream(m->blas, m->stream)) ||
        CU_CK(m, cudaMalloc(&m->blas_ws, BLAS_WS_BYTES)) ||
        CU_CKB(m, y5_cublas.set_workspace(m->blas, m->blas_ws, BLAS_WS_BYTES)) ||
        CU_CK(m, cudaMalloc((void **)&m->nms_count, 4 * sizeof(unsigned int))))
        goto fail;
    m->blas_ws_bytes = BLAS_WS_BYTES;
    {
        const int env = y5_debug_env()->conv_impl;
        if (env == -2)
            fprintf(stderr, "yolov5c: warning: Y5_CONV_IMPL: expected cublas, mma, auto, wgmma, tune or v4; using cublas\n");
        m->conv_impl = env >= 0 ? env : Y5_CUDA_CONV_CUBLAS;
        if (m->conv_impl != Y5_CUDA_CONV_CUBLAS) mma_setup(m);
        const int out = y5_debug_env()->cublas_out;
        if (out == -2) fprintf(stderr, "yolov5c: warning: Y5_CUBLAS_OUT: expected f32 or f16; using f32\n");
        m->cublas_half = out == 1;
    }
    return b;
fail:
    snprintf(err, errlen, "%s", m->err[0] ? m->err : "cuda: backend creation failed");
    m->err[0] = 0;
    cuda_destroy(b);
    return NULL;
}

/* ---------------------------------------------------------------- arena access */

static cu_impl *cuda_impl_or_err(y5_backend *b, char *err, size_t errlen) {
    if (!y5_cuda_is(b)) {
        if (err && errlen) snprintf(err, errlen, "cuda: not a CUDA backend");
        return NULL;
    }
    return cu_of(b);
}

static int arena_range_ok(cu_impl *m, size_t off, size_t count) {
    if (!m->arena || off > m->arena_elems || count > m->arena_elems - off)
        return cu_fail_msg(m, "arena access [%zu, +%zu) outside the arena of %zu elements", off, count,
                           m->arena_elems);
    if (m->capturing) return cu_fail_msg(m, "arena access during a graph capture");
    return 0;
}

extern "C" int y5_cuda_arena_write(y5_backend *b, size_t off, const float *src, size_t count, char *err,
                                   size_t errlen) {
    cu_impl *m = cuda_impl_or_err(b, err, errlen);
    if (!m) return -1;
    if (count == 0) return 0;
    if (arena_range_ok(m, off, count) || cu_use_device(m)) return cu_take_error(m, err, errlen);
    float *tmp = NULL;
    if (CU_CK(m, cudaMalloc((void **)&tmp, count * sizeof(float))) == 0 &&
        CU_CK(m, cudaMemcpyAsync(tmp, src, count * sizeof(float), cudaMemcpyHostToDevice, m->stream)) == 0 &&
        CU_CK(m, cu_f32_to_f16(m, tmp, (long long)count, 1, m->arena + off, 1)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    if (tmp) CU_CK(m, cudaFree(tmp));
    return cu_take_error(m, err, errlen);
}

extern "C" int y5_cuda_arena_read(y5_backend *b, size_t off, float *dst, size_t count, char *err, size_t errlen) {
    cu_impl *m = cuda_impl_or_err(b, err, errlen);
    if (!m) return -1;
    if (count == 0) return 0;
    if (arena_range_ok(m, off, count) || cu_use_device(m)) return cu_take_error(m, err, errlen);
    float *tmp = NULL;
    if (CU_CK(m, cudaMalloc((void **)&tmp, count * sizeof(float))) == 0 &&
        CU_CK(m, cu_f16_to_f32(m, m->arena + off, (long long)count, tmp)) == 0 &&
        CU_CK(m, cudaMemcpyAsync(dst, tmp, count * sizeof(float), cudaMemcpyDeviceToHost, m->stream)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    if (tmp) CU_CK(m, cudaFree(tmp));
    return cu_take_error(m, err, errlen);
}

extern "C" int y5_cuda_arena_fill(y5_backend *b, size_t off, size_t count, float value, char *err, size_t errlen) {
    cu_impl *m = cuda_impl_or_err(b, err, errlen);
    if (!m) return -1;
    if (count == 0) return 0;
    if (arena_range_ok(m, off, count) || cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (CU_CK(m, cu_fill_f16(m, m->arena + off, (long long)count, value)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    return cu_take_error(m, err, errlen);
}

extern "C" int y5_cuda_pred_write(y5_backend *b, size_t off, const float *src, size_t count, char *err,
                                  size_t errlen) {
    cu_impl *m = cuda_impl_or_err(b, err, errlen);
    if (!m) return -1;
    if (count == 0) return 0;
    if (!m->pred || off > m->pred_floats || count > m->pred_floats - off) {
        snprintf(err, errlen, "cuda: pred write [%zu, +%zu) outside the pred of %zu floats", off, count,
                 m->pred_floats);
        return -1;
    }
    if (m->capturing) {
        snprintf(err, errlen, "cuda: pred write during a graph capture");
        return -1;
    }
    m->nmsb_queued = 0; /* a batch NMS's per-image redo would read the new pred */
    if (cu_use_device(m) == 0 &&
        CU_CK(m, cudaMemcpyAsync(m->pred + off, src, count * sizeof(float), cudaMemcpyHostToDevice, m->stream)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    return cu_take_error(m, err, errlen);
}

extern "C" int y5_cuda_pred_fill(y5_backend *b, float value, char *err, size_t errlen) {
    cu_impl *m = cuda_impl_or_err(b, err, errlen);
    if (!m) return -1;
    if (!m->pred) return 0;
    if (m->capturing) {
        snprintf(err, errlen, "cuda: pred fill during a graph capture");
        return -1;
    }
    m->nmsb_queued = 0;
    if (cu_use_device(m) == 0 && CU_CK(m, cu_fill_f32(m, m->pred, (long long)m->pred_floats, value)) == 0)
        CU_CK(m, cudaStreamSynchronize(m->stream));
    return cu_take_error(m, err, errlen);
}

extern "C" void y5_cuda_tune_counts(y5_backend *b, long long *tuned, long long *rejected) {
    if (tuned) *tuned = y5_cuda_is(b) ? cu_of(b)->dbg_tuned : 0;
    if (rejected) *rejected = y5_cuda_is(b) ? cu_of(b)->dbg_tune_rejected : 0;
}

extern "C" void y5_cuda_set_decode_first(y5_backend *b, int on) {
    if (!y5_cuda_is(b)) return;
    cu_impl *m = cu_of(b);
    if (m->capturing || !!on == m->decode_first) return;
    graphs_drop_all(m); /* the choice is baked into a graph */
    m->decode_first = !!on;
}

extern "C" long long y5_cuda_decode_first_launches(const y5_backend *b) {
    return y5_cuda_is(b) ? ((const cu_impl *)b->impl)->dbg_decode_first : 0;
}

extern "C" long long y5_cuda_early_uploads(const y5_backend *b) {
    return y5_cuda_is(b) ? ((const cu_impl *)b->impl)->dbg_early_uploads : 0;
}

extern "C" int y5_cuda_tune_loaded(const y5_backend *b) {
    return y5_cuda_is(b) ? ((const cu_impl *)b->impl)->tune_loaded : 0;
}

extern "C" void y5_cuda_tune_poison(y5_backend *b, int run) {
    if (y5_cuda_is(b)) cu_of(b)->tune_poison = run;
}

extern "C" void y5_cuda_conv_counts(y5_backend *b, long long *groups, long long *split_convs) {
    if (groups) *groups = y5_cuda_is(b) ? cu_of(b)->dbg_conv_groups : 0;
    if (split_convs) *split_convs = y5_cuda_is(b) ? cu_of(b)->dbg_split_convs : 0;
}

extern "C" void y5_cuda_set_chunk_bytes(y5_backend *b, size_t bytes) {
    if (!y5_cuda_is(b)) return;
    graphs_drop_all(cu_of(b)); /* the chunking is baked into a graph */
    cu_of(b)->chunk_bytes = bytes;
}

extern "C" void y5_cuda_nms_force_greedy(y5_backend *b, int on) {
    if (y5_cuda_is(b)) cu_of(b)->nms_greedy = on;
}
