/* conv_mma.cu - the conv lab's v3 kernel as a conv path of the backend
 * (Y5_CONV_IMPL=mma|auto; cuBLAS stays the default, the reference and the
 * fallback: backend_cuda.cu's cuda_conv), and the choice between the own
 * kernels (v3 here, v5 in conv_wgmma.cu under Y5_CONV_IMPL=wgmma).
 *
 * v3 is cuda/lab/conv_v3.cuh (launch, tile per layer) over the template in
 * cuda/lab/conv_v2.cuh: an implicit-GEMM FP16 conv on mma.sync m16n8k16
 * tensor cores, FP32 accumulation, 3 cp.async stages, the epilogue (bias,
 * activation, residual, half stores into the output's channel slice) fused.
 * The same code the lab checks against a CPU reference and times against
 * the cuBLAS path; nothing of it is copied here. It reads the input in
 * place (no im2col) and writes no FP32 intermediate: a conv on v3 needs no
 * scratch.
 *
 * The backend's packed weights are v3's layout as they are: w[co * ldw + kk]
 * with kk = (ky * k + kx) * cin_pad + ci, and ldw = K when cin_pad % 8 == 0.
 *
 * The auto rule (Y5_CONV_IMPL=auto), from the first H200 run of the lab
 * (bench/results/gpu_2026-11-27/conv_lab_yolov5m_b32.csv: yolov5m at 640,
 * batch 32, v3 against the whole cuBLAS path: im2col + GemmEx + epilogue).
 * With P = n * ho * wo output pixels and K = k * k * cin, v3 when
 *   1. cout % 8 != 0: the Detect heads (cout 255), where cuBLAS's GEMM with
 *      an odd m and ldc and the scalar epilogue are slow: v3 1.40x at 80x80,
 *      1.58x at 40x40, 1.50x at 20x20 (measured before the heads' rows and
 *      the GEMM were padded to 256, 2026-11-28: the next run's lab says
 *      whether this rule still holds; Y5_CONV_IMPL=tune does not need it);
 *   2. P >= 409600: every 160x160-output layer (P 819200, incl. layer 1's
 *      3x3 stride 2), 1.14-1.56x, none lost (the next size down, P 204800,
 *      is mixed: the threshold sits between);
 *   3. P >= 102400 and K <= 128: the 80x80 1x1 convs over 96 channels
 *      (P 204800), 1.14-1.20x (K 192: 0.94-1.03x; K 384: 0.74x; 3x3 over 96:
 *      1.02-1.07x, left to cuBLAS as within noise); yolov5m has no such conv
 *      at 40x40 (P 51200), so the threshold sits between the two;
 * cuBLAS otherwise: the 40x40 and 20x20 layers (0.40-1.00x), the stride-2
 * layers after layer 1 (0.39-0.79x), the 80x80 convs with larger K. Only
 * batch 32 was measured: at small batches P shrinks and the rule moves
 * layers to cuBLAS, which is the safe direction until a GPU session
 * measures it. v3 needs cin % 8 == 0: a conv with fewer channels (the RGB
 * stem) runs on the copy of its input padded to 8 channels that cuda_conv
 * makes (cu_conv.cin_pad), the form the lab measured (1.25 ms on v3 against
 * 2.03 on the cuBLAS path at batch 32); at batch 32 rule 2 takes it. */
#include "cuda/conv_lab_args.h"
#include "cuda/cuda_internal.h"
#include "cuda/lab/conv_v3.cuh"

#include <stdint.h>
#include <string.h>

#define AUTO_MMA_PIXELS 409600LL     /* rule 2 */
#define AUTO_MMA_SMALL_K_PIXELS 102400LL /* rule 3, with ... */
#define AUTO_MMA_SMALL_K 128         /* ... K at most this */

static int auto_mma(const cu_conv *c, long long P) {
    if (c->cout % 8 != 0) return 1;
    if (P >= AUTO_MMA_PIXELS) return 1;
    return P >= AUTO_MMA_SMALL_K_PIXELS && c->K <= AUTO_MMA_SMALL_K;
}

int cu_conv_pick(const cu_impl *m, const cu_conv *c, int n, int ho, int wo) {
    if (m->conv_impl == Y5_CUDA_CONV_CUBLAS) return Y5_CUDA_CONV_CUBLAS;
    /* the own kernel of this choice set up on the device (v5 under WGMMA, v3 otherwise) */
    if (!cu_own_ready(m)) return Y5_CUDA_CONV_CUBLAS;
    /* shape-level preconditions (the views' come at conv time) */
    if (!cu_own_shape_ok(c) || n < 1 || ho < 1 || wo < 1) return Y5_CUDA_CONV_CUBLAS;
    if (m->conv_impl == Y5_CUDA_CONV_MMA || m->conv_impl == Y5_CUDA_CONV_WGMMA || m->conv_impl == Y5_CUDA_CONV_V4)
        return Y5_CUDA_CONV_MMA;
    return auto_mma(c, (long long)n * ho * wo) ? Y5_CUDA_CONV_MMA : Y5_CUDA_CONV_CUBLAS;
}

/* The lab kernels' arguments for a conv over these views (v3's and v5's). */
y5l_args cu_lab_args(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                     const y5_view *res, int act, float slope) {
    y5l_args a;
    memset(&a, 0, sizeof a);
    a.c.n = in->n;
    a.c.h = in->h;
    a.c.w = in->w;
    a.c.cin = c->cin_pad;
    a.c.ld_in = in->ld;
    a.c.cout = c->cout;
    a.c.k = c->k;
    a.c.s = c->s;
    a.c.p = c->p;
    a.c.ho = y5l_out_dim(in->h, c->k, c->s, c->p);
    a.c.wo = y5l_out_dim(in->w, c->k, c->s, c->p);
    a.c.ld_out = out->ld;
    a.c.ld_res = res ? res->ld : out->ld;
    a.in = in_ptr ? in_ptr : m->arena + in->off;
    a.w = c->w;
    a.bias = c->bias;
    a.res = res ? m->arena + res->off : NULL;
    a.out = m->arena + out->off;
    a.act = act;
    a.slope = slope;
    /* half2 stores: an even row stride and a 4-byte aligned slice start (the
     * residual is read one half at a time) */
    a.pairs = out->ld % 2 == 0 && ((uintptr_t)a.out & 3u) == 0;
    return a;
}

/* Element span [first, last) of a view in the arena. */
static void view_span(const y5_view *v, size_t *first, size_t *last) {
    const size_t px = (size_t)v->n * v->h * v->w;
    *first = v->off;
    *last = px ? v->off + (px - 1) * (size_t)v->ld + (size_t)v->c : v->off;
}

/* 1 when no element of a is an element of b. Two slices of one buffer (the
 * same ld) are disjoint when their channel ranges are, whatever their rows. */
int cu_views_disjoint(const y5_view *a, const y5_view *b) {
    size_t a0, a1, b0, b1;
    view_span(a, &a0, &a1);
    view_span(b, &b0, &b1);
    if (a1 <= b0 || b1 <= a0) return 1;
    if (a->ld != b->ld || a->ld < 1) return 0;
    const size_t ld = (size_t)a->ld;
    /* b's slice starts d channels after a's, modulo the row */
    const size_t d = (b->off >= a->off ? b->off - a->off : ld - (a->off - b->off) % ld) % ld;
    return d >= (size_t)a->c && d + (size_t)b->c <= ld;
}

int cu_conv_mma_ok(const cu_impl *m, const cu_conv *c, const y5_view *in, const __half *in_ptr, const y5_view *out,
                   const y5_view *res) {
    if (!m->arena || in->c != c->cin_pad || out->c != c->cout) return 0;
    const y5l_args a = cu_lab_args(m, c, in, in_ptr, out, res, 0, 0.0f);
    /* v3's gathers: y5l_supported (cin, ld_in % 8, sizes), 16-byte aligned
     * input and weights, grid limits (v5 has the same preconditions: the
     * same gathers, 128-row blocks within v3's 64-row grid limit) */
    if (!y5l_v3_supported(a)) return 0;
    if (out->n != in->n || out->h != a.c.ho || out->w != a.c.wo) return 0;
    /* blocks store their outputs while other blocks still gather inputs, so
     * the output must not overlap the input (the cuBLAS path runs there: its
     * GEMM of a chunk reads the input before that chunk's epilogue writes,
     * and only identical views of a direct 1x1 can overlap, row for row). A
     * residual is read by the thread that writes the same element: it may
     * be the output's own view, or disjoint from it, nothing in between. */
    if (!in_ptr && !cu_views_disjoint(in, out)) return 0; /* a copy outside the arena overlaps nothing */
    return !res || (res->off == out->off && res->ld == out->ld) || cu_views_disjoint(res, out);
}

y5l_conv cu_out_conv(const cu_conv *c, int n, int ho, int wo) {
    y5l_conv t;
    memset(&t, 0, sizeof t);
    t.n = n;
    t.ho = ho;
    t.wo = wo;
    t.cin = c->cin_pad;
    t.k = c->k;
    t.cout = c->cout;
    return t;
}

const char *cu_conv_mma_note(const cu_impl *m, int own, const cu_conv *c, int n, int ho, int wo) {
    if (own == CU_OWN_V5) return cu_conv_wgmma_note(m, c, n, ho, wo);
    if (own == CU_OWN_V4) return cu_conv_v4_note(m, c, n, ho, wo);
    const y5l_conv t = cu_out_conv(c, n, ho, wo);
    switch (y5l_v3_tile(&t, m->sm_count)) {
    case Y5L_V3_64x64: return "mma 64x64";
    case Y5L_V3_128x64: return "mma 128x64";
    default: return "mma 128x128";
    }
}

size_t cu_conv_mma_ws_bytes(const cu_impl *m, int own, const cu_conv *c, int n, int ho, int wo) {
    return own == CU_OWN_V5 ? cu_conv_wgmma_ws_bytes(m, c, n, ho, wo) : 0;
}

cudaError_t cu_conv_mma(const cu_impl *m, int own, const cu_conv *c, const y5_view *in, const __half *in_ptr,
                        const y5_view *out, const y5_view *res, int act, float slope, void *ws, size_t ws_bytes,
                        int *splits) {
    if (own == CU_OWN_V5)
        return cu_conv_wgmma(m, c, in, in_ptr, out, res, act, slope, ws, ws_bytes, splits);
    (void)ws, (void)ws_bytes; /* v3 and v4 do not split K */
    *splits = 1;
    if (own == CU_OWN_V4) return cu_conv_v4(m, c, in, in_ptr, out, res, act, slope);
    return y5l_v3_launch(cu_lab_args(m, c, in, in_ptr, out, res, act, slope), m->sm_count, m->stream);
}

cudaError_t cu_conv_mma_prepare(void) { return y5l_v3_prepare(); }
