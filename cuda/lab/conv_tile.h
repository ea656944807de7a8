/* conv_tile.h - the index arithmetic of the lab's implicit-GEMM FP16
 * convolution kernels (cuda/lab/conv_v*.cuh), in one header that compiles as
 * C11 and as CUDA C++17, so the kernels (as __host__ __device__ functions)
 * and the CPU test tests/unit/test_conv_tile.c run the same arithmetic: the
 * test proves on any machine what the kernel will index on the GPU.
 *
 * The conv as a GEMM (NHWC, FP16 in, FP32 accumulate):
 *   out[m, co] = act(sum_kk A[m, kk] * W[co, kk] + bias[co]) (+ res[m, co])
 *   m  = (n, oy, ox)       output pixel, 0 <= m < M = n * ho * wo
 *   kk = (ky, kx, ci)      GEMM depth, 0 <= kk < K = k * k * cin, ci fastest
 *                          (the order of the backend's packed weights)
 *   A[m, kk] = in[n, oy*s - p + ky, ox*s - p + kx, ci], 0 outside the image
 * Tensors are NHWC with a row stride ("ld", halves between two pixels) that
 * may exceed the channel count: a conv reads from and writes into channel
 * slices of concat buffers. Pointers passed to the kernels point at the
 * slice's first channel.
 *
 * Requirements of the 16-byte gathers: cin % 8 == 0 and ld_in % 8 == 0 (8
 * consecutive kk then share one tap and are 8 contiguous halves), input and
 * weight pointers 16-byte aligned (y5l_supported). The 6x6 stem (cin 3) runs
 * with its input padded to 8 channels (zero weights for the padding).
 *
 * Tiling: a block computes BM output pixels x BN output channels, looping
 * over K in steps of BK halves; WM x WN warps, each a (BM/WM) x (BN/WN) warp
 * tile of m16n8k16 mma.sync fragments. Shared memory holds A as [BM][BK+PAD]
 * and W as [BN][BK+PAD] (K contiguous: W's tile is already the "col" B
 * operand of mma, and ldmatrix without .trans reads it). */
#ifndef Y5_CONV_TILE_H
#define Y5_CONV_TILE_H

#ifdef __CUDACC__
#define Y5L_HD static inline __host__ __device__
#else
#define Y5L_HD static inline
#endif

typedef struct {
    int n, h, w, cin, ld_in; /* input: n x h x w pixels of cin channels, ld_in halves apart */
    int cout, k, s, p;       /* k x k kernel, stride s, zero padding p */
    int ho, wo;              /* output size: (h + 2p - k) / s + 1 */
    int ld_out, ld_res;      /* row strides of the output and residual slices (>= cout) */
} y5l_conv;

Y5L_HD int y5l_out_dim(int x, int k, int s, int p) { return (x + 2 * p - k) / s + 1; }
Y5L_HD long long y5l_M(const y5l_conv *c) { return (long long)c->n * c->ho * c->wo; }
Y5L_HD int y5l_K(const y5l_conv *c) { return c->k * c->k * c->cin; }

/* The shape constraints of the 16-byte gathers (alignment of the pointers is
 * the caller's: base pointers 16-byte aligned). */
Y5L_HD int y5l_supported(const y5l_conv *c) {
    return c->n > 0 && c->cin > 0 && c->cin % 8 == 0 && c->ld_in % 8 == 0 && c->ld_in >= c->cin && c->cout > 0 &&
           c->k > 0 && c->s > 0 && c->p >= 0 && c->ho > 0 && c->wo > 0 && c->ld_out >= c->cout &&
           c->ho == y5l_out_dim(c->h, c->k, c->s, c->p) && c->wo == y5l_out_dim(c->w, c->k, c->s, c->p);
}

/* ---- A (the implicit im2col matrix): pixel decomposition once per row, then
 * one call per 8-half chunk of the k-loop ---- */
typedef struct {
    long long base; /* element offset of image n's pixel (0, 0); -1: row m >= M (reads zeros) */
    int iy0, ix0;   /* oy*s - p, ox*s - p: the input pixel under tap (0, 0) */
} y5l_pix;

Y5L_HD y5l_pix y5l_pixel(const y5l_conv *c, long long m) {
    y5l_pix q;
    const long long hw = (long long)c->ho * c->wo;
    q.iy0 = q.ix0 = 0;
    q.base = -1;
    if (m < 0 || m >= c->n * hw) return q;
    const long long b = m / hw;
    const int rem = (int)(m - b * hw);
    const int oy = rem / c->wo, ox = rem - oy * c->wo;
    q.base = b * c->h * c->w * (long long)c->ld_in;
    q.iy0 = oy * c->s - c->p;
    q.ix0 = ox * c->s - c->p;
    return q;
}

/* Element offset (from the input slice's start) of the 8 halves A[m, kk..kk+7]
 * of pixel q, kk a multiple of 8; -1 when they are zeros (padding, kk >= K,
 * m >= M). */
Y5L_HD long long y5l_a_src(const y5l_conv *c, y5l_pix q, int kk) {
    if (q.base < 0 || kk >= y5l_K(c)) return -1;
    const int tap = kk / c->cin, ci = kk - tap * c->cin;
    const int ky = tap / c->k, kx = tap - ky * c->k;
    const int iy = q.iy0 + ky, ix = q.ix0 + kx;
    if ((unsigned)iy >= (unsigned)c->h || (unsigned)ix >= (unsigned)c->w) return -1;
    return q.base + ((long long)iy * c->w + ix) * c->ld_in + ci;
}

/* Weights packed as W[co * K + kk] (the backend's layout with ldw = K, a
 * multiple of 8 here). Offset of W[co, kk..kk+7], -1: zeros (co >= cout or
 * kk >= K). */
Y5L_HD long long y5l_b_src(const y5l_conv *c, int co, int kk) {
    if (co < 0 || co >= c->cout || kk >= y5l_K(c)) return -1;
    return (long long)co * y5l_K(c) + kk;
}

/* ---- shared memory ---- */
/* 8 halves (16 bytes) of padding per row: with BK = 32 a row is 80 bytes, so
 * the 8 rows one ldmatrix phase (or one fragment load) reads start in 8
 * different 4-bank groups: no bank conflicts (checked by the test). */
#define Y5L_PAD 8
Y5L_HD int y5l_lds(int bk) { return bk + Y5L_PAD; }

/* The loaders: the tile of R rows x BK halves is R * BK/8 chunks of 16 bytes,
 * handed out round-robin over the block's nt threads; slot j of thread t is
 * chunk idx = t + j * nt: row idx / (BK/8), chunk idx % (BK/8). Consecutive
 * threads take consecutive chunks of one row (one pixel's channels:
 * coalesced). Slots per thread: R * BK/8 / nt (the kernels require it whole). */
Y5L_HD int y5l_slot_row(int nt, int bk, int t, int j) { return (t + j * nt) / (bk / 8); }
Y5L_HD int y5l_slot_chunk(int nt, int bk, int t, int j) { return (t + j * nt) % (bk / 8); }

/* ---- mma.sync.m16n8k16 fragments (PTX ISA, "Matrix Fragments for
 * mma.m16n8k16" with .f16 A/B and .f32 C/D), g = lane / 4, t = lane % 4 ---- */
/* A (16 x 16, row-major): half i (0..7) of the lane's 4 registers a0..a7 */
Y5L_HD int y5l_a_row(int lane, int i) { return (lane >> 2) + ((i >> 1) & 1) * 8; }
Y5L_HD int y5l_a_col(int lane, int i) { return (lane & 3) * 2 + (i & 1) + (i >> 2) * 8; }
/* B (16 x 8, k x n, "col"): half i (0..3) of the lane's 2 registers */
Y5L_HD int y5l_b_k(int lane, int i) { return (lane & 3) * 2 + (i & 1) + (i >> 1) * 8; }
Y5L_HD int y5l_b_n(int lane, int i) {
    (void)i; /* the same n for all four halves */
    return lane >> 2;
}
/* C/D (16 x 8 FP32): element i (0..3) */
Y5L_HD int y5l_c_row(int lane, int i) { return (lane >> 2) + (i >> 1) * 8; }
Y5L_HD int y5l_c_col(int lane, int i) { return (lane & 3) * 2 + (i & 1); }

/* ldmatrix.x4 row addresses: lane L supplies row L % 8 of matrix L / 8;
 * register r of every lane receives matrix r's row lane/4, halves 2*(lane%4)
 * and +1. A (one 16x16 fragment at (row0, k0)): matrices (rows 0-7, k 0-7),
 * (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = registers
 * a0a1, a2a3, a4a5, a6a7. */
Y5L_HD int y5l_ldm_a_row(int lane) { return lane & 15; }
Y5L_HD int y5l_ldm_a_col(int lane) { return (lane >> 4) * 8; }
/* B (two n8 fragments ni, ni+1 at (n0, k0), W tile stored [n][k]): matrices
 * (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15) =
 * b0b1 and b2b3 of fragment ni, then of ni+1. */
Y5L_HD int y5l_ldm_b_n(int lane) { return (lane & 7) + (lane >> 4) * 8; }
Y5L_HD int y5l_ldm_b_k(int lane) { return ((lane >> 3) & 1) * 8; }

/* ---- block and warp tiles ---- */
/* Warp w of WM x WN: warp row w / WN, warp column w % WN. */
Y5L_HD int y5l_warp_row0(int bm, int wm, int wn, int warp) { return (warp / wn) * (bm / wm); }
Y5L_HD int y5l_warp_col0(int bn, int wn, int warp) { return (warp % wn) * (bn / wn); }

/* The output element held by accumulator [mi][ni][i] of lane in warp of
 * block (bx, by) (bx over pixels, by over output channels). The kernel
 * stores it only when m < M and co < cout. */
Y5L_HD long long y5l_out_m(int bm, int wm, int wn, long long bx, int warp, int mi, int lane, int i) {
    return bx * bm + y5l_warp_row0(bm, wm, wn, warp) + mi * 16 + y5l_c_row(lane, i);
}
Y5L_HD int y5l_out_co(int bn, int wn, int by, int warp, int ni, int lane, int i) {
    return by * bn + y5l_warp_col0(bn, wn, warp) + ni * 8 + y5l_c_col(lane, i);
}

/* Grid: blocks over pixels (x) and channels (y). */
Y5L_HD long long y5l_grid_m(const y5l_conv *c, int bm) { return (y5l_M(c) + bm - 1) / bm; }
Y5L_HD int y5l_grid_n(const y5l_conv *c, int bn) { return (c->cout + bn - 1) / bn; }

#endif
