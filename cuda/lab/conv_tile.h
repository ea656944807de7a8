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
 * operand of mma, and ldmatrix without .trans reads it); v4 (the section at
 * the end) uses BK = 64 and unpadded, XOR-swizzled rows instead. */
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

/* ---- the lab's agreement bound ----
 * Two FP16 results of one conv (an own kernel's and the cuBLAS path's, both
 * FP16 in, FP32 accumulation, one rounding to half) agree when
 * |got - ref| <= 2^-9 |ref| + 2e-4 (tests/backend/test_cuda_conv_impl.c
 * says why). One definition for the lab's check, tuning's device check
 * (cuda/kernels_tensor.cu) and the GPU tests; NaN never agrees. */
#define Y5L_TOL_REL 0x1p-9f
#define Y5L_TOL_ABS 2e-4f
Y5L_HD int y5l_agree(float got, float ref) {
    const float d = got > ref ? got - ref : ref - got, r = ref < 0 ? -ref : ref;
    return r <= 0x1.fffffep127f && d <= Y5L_TOL_REL * r + Y5L_TOL_ABS; /* an inf reference bounds nothing */
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

/* ==== v4 (cuda/lab/conv_v4.cuh): BK = 64 per k-tile, XOR-swizzled shared
 * memory, (ky, kx, ci) advanced per k-tile without a division, epilogue
 * staged through shared memory for 16-byte stores ==== */
#define Y5L_V4_BK 64

/* -- the k-loop position of one loader chunk. Every loader slot of a thread
 * has the same chunk (slot chunk = (t + j*nt) % 8 = t % 8 when nt % 8 == 0),
 * so a thread keeps one position for all its A and W slots. -- */
typedef struct {
    int kk;        /* GEMM depth of the chunk's first half: kk = (ky*k + kx)*cin + ci */
    int ci, kx, ky;
    long long off; /* (ky*w + kx)*ld_in + ci: the tap's element offset from the pixel under tap (0, 0) */
} y5l_kpos;

/* The k-tile width as a step in (ky, kx, ci): bk = (dky*k + dkx)*cin + dci
 * with dkx < k, dci < cin (cin = 8 and k = 6, the stem: 64 = 8 taps = one
 * row and 2 taps). Divisions: once per block. */
typedef struct {
    int bk, dci, dkx, dky;
} y5l_kstep;

Y5L_HD long long y5l_kpos_off(const y5l_conv *c, int ky, int kx, int ci) {
    return ((long long)ky * c->w + kx) * c->ld_in + ci;
}

/* The position of depth kk, by division (once per block). */
Y5L_HD y5l_kpos y5l_kpos_at(const y5l_conv *c, int kk) {
    y5l_kpos p;
    const int tap = kk / c->cin;
    p.kk = kk;
    p.ci = kk - tap * c->cin;
    p.ky = tap / c->k;
    p.kx = tap - p.ky * c->k;
    p.off = y5l_kpos_off(c, p.ky, p.kx, p.ci);
    return p;
}

/* The step is depth bk's own position (bk's (ky, kx, ci) decomposition). */
Y5L_HD y5l_kstep y5l_kstep_of(const y5l_conv *c, int bk) {
    const y5l_kpos p = y5l_kpos_at(c, bk);
    y5l_kstep s;
    s.bk = bk;
    s.dci = p.ci;
    s.dkx = p.kx;
    s.dky = p.ky;
    return s;
}

/* kk += s.bk, no division: ci + dci < 2 cin carries at most one tap, kx +
 * dkx + carry < 2k wraps at most one row. Past K the position keeps
 * counting (ky runs past k); y5l_a_src_v4 reads zeros there. */
Y5L_HD void y5l_kpos_next(const y5l_conv *c, y5l_kstep s, y5l_kpos *p) {
    p->kk += s.bk;
    p->ci += s.dci;
    const int carry = p->ci >= c->cin;
    p->ci -= carry ? c->cin : 0;
    p->kx += s.dkx + carry;
    const int wrap = p->kx >= c->k;
    p->kx -= wrap ? c->k : 0;
    p->ky += s.dky + wrap;
    p->off = y5l_kpos_off(c, p->ky, p->kx, p->ci);
}

/* -- a loader row (output pixel m), decomposed once per block -- */
#define Y5L_NO_ROW (-(1 << 30)) /* iy0 of a row past M: no tap brings it into the image */
typedef struct {
    long long off; /* offset of input pixel (iy0, ix0) of image n (outside the image when iy0 or ix0 < 0:
                      only ever added to the offset of a tap that lands inside) */
    int iy0, ix0;  /* oy*s - p, ox*s - p */
} y5l_apix;

Y5L_HD y5l_apix y5l_apix_of(const y5l_conv *c, long long m) {
    y5l_apix q;
    q.off = 0;
    q.iy0 = Y5L_NO_ROW;
    q.ix0 = 0;
    const long long hw = (long long)c->ho * c->wo;
    if (m < 0 || m >= c->n * hw) return q;
    const long long b = m / hw;
    const int rem = (int)(m - b * hw);
    const int oy = rem / c->wo, ox = rem - oy * c->wo;
    q.iy0 = oy * c->s - c->p;
    q.ix0 = ox * c->s - c->p;
    q.off = (b * c->h * c->w + (long long)q.iy0 * c->w + q.ix0) * c->ld_in;
    return q;
}

/* Offset of the 8 halves A[m, kk..kk+7] (q = row m, p = position kk), -1:
 * zeros (padding, kk >= K, m >= M). Two adds and three compares per chunk. */
Y5L_HD long long y5l_a_src_v4(const y5l_conv *c, y5l_apix q, const y5l_kpos *p) {
    const int iy = q.iy0 + p->ky, ix = q.ix0 + p->kx;
    if (p->kk >= y5l_K(c) || (unsigned)iy >= (unsigned)c->h || (unsigned)ix >= (unsigned)c->w) return -1;
    return q.off + p->off;
}

/* W: v4 gathers with y5l_b_src (co*K + kk: a multiply, no division, no
 * state to keep in registers) at its position's kk. */

/* -- shared memory: a tile row is 64 halves = 128 bytes (all 32 banks), no
 * padding; 16-byte chunk ch of row r is stored at chunk ch ^ (r % 8). An
 * ldmatrix phase reads one chunk column of 8 consecutive rows and a
 * quarter-warp of loaders writes the 8 chunks of one row: both touch 8
 * distinct chunk positions = all 32 banks once (checked by the test). Saves
 * v3's 16-byte row padding (11% of the stage). -- */
Y5L_HD int y5l_swz(int row, int ch) { return row * Y5L_V4_BK + ((ch ^ (row & 7)) << 3); }
/* ldmatrix.x4 addresses (halves from the stage's start): the A fragment at
 * rows row0.. (row0 % 8 == 0), k-step ks (16 halves); the B fragment pair at
 * W rows n0.. */
Y5L_HD int y5l_v4_ldm_a(int row0, int ks, int lane) {
    return y5l_swz(row0 + y5l_ldm_a_row(lane), ks * 2 + y5l_ldm_a_col(lane) / 8);
}
Y5L_HD int y5l_v4_ldm_b(int n0, int ks, int lane) {
    return y5l_swz(n0 + y5l_ldm_b_n(lane), ks * 2 + y5l_ldm_b_k(lane) / 8);
}

/* -- the epilogue through shared memory: after the k-loop the pipeline's
 * memory holds the block's BM x BN FP32 accumulators, rows of BN + 8 floats
 * (the 8 pad: a half-warp's float2 stores, 4 rows x 4 lanes, then start 8
 * banks apart: conflict-free); then each thread takes 8-channel chunks of a
 * pixel (consecutive threads: consecutive chunks of one row, coalesced),
 * reads them as two float4, adds bias, activation, residual (16 bytes) and
 * stores 8 halves as one 16-byte store. -- */
#define Y5L_V4_CPAD 8
Y5L_HD int y5l_v4_ldc(int bn) { return bn + Y5L_V4_CPAD; }
/* accumulator [mi][ni][i] of lane in warp -> row and column of the block tile */
Y5L_HD int y5l_acc_row(int bm, int wm, int wn, int warp, int mi, int lane, int i) {
    return y5l_warp_row0(bm, wm, wn, warp) + mi * 16 + y5l_c_row(lane, i);
}
Y5L_HD int y5l_acc_col(int bn, int wn, int warp, int ni, int lane, int i) {
    return y5l_warp_col0(bn, wn, warp) + ni * 8 + y5l_c_col(lane, i);
}
/* the store phase: chunk j of thread t is idx = t + j*nt: tile row idx / (bn/8),
 * channels 8 * (idx % (bn/8)) .. +7 */
Y5L_HD int y5l_epi_row(int nt, int bn, int t, int j) { return (t + j * nt) / (bn / 8); }
Y5L_HD int y5l_epi_c8(int nt, int bn, int t, int j) { return (t + j * nt) % (bn / 8); }
/* Which 4 floats of the chunk read q (0, 1) takes: the chunks 4..7 of each 8
 * read their upper half first, so the 8 lanes of a quarter-warp (one 128-bit
 * phase: chunks 8u..8u+7 of one row, 32 bytes apart) cover 32 distinct banks
 * rather than 16 twice. */
Y5L_HD int y5l_epi_quad(int c8, int q) { return 4 * (q ^ ((c8 >> 2) & 1)); }

/* 16-byte stores (and residual loads, float4 bias loads) allowed: row strides
 * multiples of 8 halves, slice starts 16-byte aligned; addresses as
 * integers (res 0: no residual). Chunks past cout (cout % 8 != 0) and
 * launches where this fails store one or two halves at a time. */
Y5L_HD int y5l_v4_vec8(const y5l_conv *c, unsigned long long out, unsigned long long res, unsigned long long bias) {
    return c->ld_out % 8 == 0 && out % 16 == 0 && bias % 16 == 0 && (!res || (c->ld_res % 8 == 0 && res % 16 == 0));
}

/* -- tiles and the tile per layer. One list, X(id, BM, BN, WM, WN, stages,
 * minb): this header's y5l_v4_tile_cfg and the kernel instantiations of
 * conv_v4_launch.cuh both expand it. minb: __launch_bounds__'s minimum blocks
 * per SM, what the tile's shared memory allows on sm_90 (227 KiB per block,
 * 228 per SM), so registers never cap occupancy below that. -- */
enum { Y5L_V4_128x128 = 0, Y5L_V4_128x64 = 1, Y5L_V4_64x64 = 2, Y5L_V4_256x128 = 3, Y5L_V4_NTILES = 4 };
#define Y5L_V4_TILES(X)                                                                                              \
    X(Y5L_V4_128x128, 128, 128, 2, 4, 4, 1) /* 8 warps of 64x32, 128 KiB */                                          \
    X(Y5L_V4_128x64, 128, 64, 4, 2, 4, 2)   /* 8 warps of 32x32, 96 KiB */                                           \
    X(Y5L_V4_64x64, 64, 64, 2, 2, 4, 3)     /* 4 warps of 32x32, 64 KiB */                                           \
    X(Y5L_V4_256x128, 256, 128, 4, 2, 4, 1) /* 8 warps of 64x64 (128 accumulators per thread), 192 KiB */

typedef struct {
    int bm, bn, wm, wn; /* block tile, warps WM x WN */
    int stages;         /* cp.async pipeline depth */
    int minb;           /* minimum blocks per SM for __launch_bounds__ */
} y5l_v4_cfg;

Y5L_HD y5l_v4_cfg y5l_v4_tile_cfg(int tile) {
    y5l_v4_cfg t = {0, 0, 0, 0, 0, 0};
#define Y5L_V4_CFG_CASE(id, BM, BN, WM, WN, S, MINB)                                                                 \
    case id: t.bm = BM, t.bn = BN, t.wm = WM, t.wn = WN, t.stages = S, t.minb = MINB; break;
    switch (tile) { Y5L_V4_TILES(Y5L_V4_CFG_CASE) default: break; }
#undef Y5L_V4_CFG_CASE
    return t;
}

Y5L_HD const char *y5l_v4_tile_name(int tile) {
    switch (tile) {
    case Y5L_V4_128x128: return "128x128";
    case Y5L_V4_128x64: return "128x64";
    case Y5L_V4_64x64: return "64x64";
    case Y5L_V4_256x128: return "256x128";
    default: return "?";
    }
}

/* Dynamic shared memory of a tile: the pipeline's stages, or the epilogue's
 * FP32 staging if larger (it reuses the same bytes). */
Y5L_HD int y5l_v4_smem(y5l_v4_cfg t) {
    const int pipe = t.stages * (t.bm + t.bn) * Y5L_V4_BK * 2, stage = t.bm * y5l_v4_ldc(t.bn) * 4;
    return pipe > stage ? pipe : stage;
}

/* The tile of a conv on a card with `sms` multiprocessors and `smem_optin`
 * bytes of opt-in shared memory per block (a first rule, to be fitted to
 * measurements): 256x128 for large-K layers whose cout fills 128-wide
 * tiles and that still give 2 waves at one block per SM; else v3's rule
 * (64x64 when 128-row tiles give under 2 blocks per SM, 128x64 where 64
 * columns waste fewer channels); only tiles that fit. */
Y5L_HD int y5l_v4_tile(const y5l_conv *c, int sms, int smem_optin) {
    const int w128 = (c->cout + 127) / 128 * 128 - c->cout, w64 = (c->cout + 63) / 64 * 64 - c->cout;
    const long long waves2 = 2LL * sms;
    if (y5l_v4_smem(y5l_v4_tile_cfg(Y5L_V4_256x128)) <= smem_optin && w128 == 0 && y5l_K(c) >= 512 &&
        y5l_grid_m(c, 256) * y5l_grid_n(c, 128) >= waves2)
        return Y5L_V4_256x128;
    const int narrow = w64 < w128;
    if (y5l_grid_m(c, 128) * y5l_grid_n(c, narrow ? 64 : 128) < waves2) return Y5L_V4_64x64;
    const int t = narrow ? Y5L_V4_128x64 : Y5L_V4_128x128;
    return y5l_v4_smem(y5l_v4_tile_cfg(t)) <= smem_optin ? t : Y5L_V4_64x64;
}

#endif
