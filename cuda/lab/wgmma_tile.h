/* wgmma_tile.h - the index arithmetic of lab version v5 (cuda/lab/conv_v5.cuh,
 * Hopper wgmma), in one header that compiles as C11 and as CUDA C++17, so the
 * kernel and tests/unit/test_wgmma_tile.c run the same arithmetic (as
 * conv_tile.h does for v1-v3). The GEMM view of the conv, the pixel
 * decomposition and the 16-byte gathers are conv_tile.h's; what is new here
 * is the shared-memory layout the tensor cores read through a descriptor,
 * the descriptor itself and the accumulator map of wgmma.
 *
 * Shared memory (per stage): the A tile (BM pixels x BK = 64 halves of K) and
 * the W tile (BN channels x 64 halves), each row 128 bytes, K contiguous
 * ("K-major" for both operands, no transpose), in the 128-byte swizzle
 * (PTX ISA, "Shared Memory Matrix Layout", swizzling mode 128B): inside each
 * 1024-byte atom of 8 rows, the 16-byte chunk c of row r sits at chunk
 * position c ^ (r % 8). That is the pattern the hardware undoes when it
 * reads through a descriptor in 128B mode (the XOR of address bits 4-6 with
 * bits 7-9 of a 1024-byte-aligned atom), and it spreads the 8 rows a
 * loader's quarter-warp writes over all 32 banks. Tiles start 1024-aligned.
 *
 * The descriptor (PTX ISA, "Matrix Descriptor Format", 64 bits):
 *   bits  0-13  start address >> 4 (shared-window byte address)
 *   bits 16-29  leading-dimension byte offset >> 4 (unused by K-major 128B
 *               swizzled layouts whose K step stays inside the 128-byte row;
 *               set to 1, i.e. 16 bytes)
 *   bits 32-45  stride-dimension byte offset >> 4: from one group of 8 rows
 *               (M or N) to the next: 1024 bytes
 *   bits 49-51  base offset (0: atoms 1024-aligned)
 *   bits 62-63  swizzle mode: 1 = 128B
 * The k16 step s (0..3) of a 64-wide k-tile starts s * 32 bytes into the row;
 * the hardware applies the swizzle to the address it forms, so the same
 * descriptor plus s * 2 (in 16-byte units) reads step s.
 *
 * wgmma.m64nNk16 with FP32 accumulators: a warpgroup (4 warps, 128 threads)
 * computes a 64 x N tile; thread t holds N/2 floats d[i]: warp w = t / 32
 * owns rows 16w..16w+15, and inside the warp the layout is mma.sync's
 * m16n8 C fragment repeated along N: d[4j + r] is row 16w + lane/4 + 8*(r/2),
 * column 8j + 2*(lane%4) + r%2 (y5w_acc_row / _col; the test compares them
 * with that table written out separately). */
#ifndef Y5_WGMMA_TILE_H
#define Y5_WGMMA_TILE_H

#include "cuda/lab/conv_tile.h"

#define Y5W_BK 64          /* halves of K per k-tile: one 128-byte row */
#define Y5W_ROW_BYTES 128  /* one tile row */
#define Y5W_ATOM_BYTES 1024 /* 8 rows: the swizzle atom, the descriptor's stride offset */

/* Byte offset, inside a 1024-aligned tile, of the 16-byte chunk c (0..7) of
 * row r: where the loaders put it and where the tensor cores look for it. */
Y5L_HD int y5w_swz(int r, int c) { return r * Y5W_ROW_BYTES + ((c ^ (r & 7)) << 4); }

/* The descriptor of a K-major, 128B-swizzled tile starting at shared byte
 * address addr (1024-aligned), advanced to k16 step s (0..3). */
Y5L_HD unsigned long long y5w_desc(unsigned addr, int s) {
    const unsigned long long start = ((addr + (unsigned)s * 32u) & 0x3FFFFu) >> 4;
    const unsigned long long lbo = 16u >> 4, sbo = Y5W_ATOM_BYTES >> 4;
    return start | (lbo << 16) | (sbo << 32) | (1ULL << 62);
}

/* The accumulator map: float i (0 .. N/2-1) of thread t (0..127) of the
 * warpgroup holds row y5w_acc_row(t, i) (0..63) and column y5w_acc_col(t, i)
 * (0..N-1) of the warpgroup's 64 x N tile. i and i+1 (i even) are two
 * adjacent columns of one row: one half2 store. */
Y5L_HD int y5w_acc_row(int t, int i) { return (t >> 5) * 16 + ((t & 31) >> 2) + ((i >> 1) & 1) * 8; }
Y5L_HD int y5w_acc_col(int t, int i) { return (i >> 2) * 8 + (t & 3) * 2 + (i & 1); }

/* Block geometry: BM / 64 warpgroups of 128 threads (warpgroup g computes
 * rows 64g..64g+63 of the block's BM x BN tile); the loaders are
 * conv_tile.h's y5l_slot_row / y5l_slot_chunk with BK = 64 (8 consecutive
 * threads fill one 128-byte row: one pixel's 64 consecutive K, coalesced). */
#define Y5W_THREADS(bm) ((bm) / 64 * 128)

/* How many k-tiles the gather runs ahead with S stages and F wgmma groups
 * left in flight: the stage it refills at k-tile kt is then neither one of
 * the F running groups' nor k-tile kt's (the kernel's comment says why;
 * test_wgmma_tile.c checks it in the emulated order). */
#define Y5W_GATHER_AHEAD(stages, inflight) ((stages) - 1 - (inflight))

/* v5's tile widths (output channels per block; each a valid wgmma N, with
 * BN * 8 loader slots a multiple of the block's 256 threads) and the rule:
 * the width that leaves the fewest output channels of the last tile idle,
 * the widest among equals (fewer A reads per FLOP). yolov5's channel counts
 * in yolov5m (96, 192, 384, 768 and the heads' 255) meet a width exactly or
 * within one; its stem's 48 leaves 16 of 64 idle: 48 -> 64, 96 -> 96,
 * 192 / 384 -> 192, 768 -> 256, 255 -> 256.
 * forced: a width of the list to use instead (0: the rule). */
#define Y5W_V5_NBNS 5
Y5L_HD int y5w_v5_bn_at(int i) {
    const int bns[Y5W_V5_NBNS] = {64, 96, 128, 192, 256};
    return bns[i];
}
Y5L_HD int y5w_v5_bn(int cout, int forced) {
    int best = 128, waste = 1 << 30;
    for (int i = 0; i < Y5W_V5_NBNS; i++) {
        const int bn = y5w_v5_bn_at(i);
        if (forced == bn) return bn;
        const int w = (cout + bn - 1) / bn * bn - cout;
        if (!forced && (w < waste || (w == waste && bn > best))) best = bn, waste = w;
    }
    return best;
}

/* v5's tile: bm rows (64 or 128: one or two warpgroups) x bn output
 * channels. The width by y5w_v5_bn; 64 rows where 128-row blocks would
 * leave SMs without a block (sms: the card's multiprocessors), and then the
 * narrowest width that wastes no more channels, for more blocks still (a
 * 20x20 layer at batch 1, cout 768: 128x256 gives 12 blocks, 64x64 84).
 * forced_bm / forced_bn: 64/128 and a width to use instead (0: the rule). */
typedef struct {
    int bm, bn;
} y5w_tile;

Y5L_HD y5w_tile y5w_v5_tile(const y5l_conv *c, int sms, int forced_bm, int forced_bn) {
    y5w_tile t;
    t.bn = y5w_v5_bn(c->cout, forced_bn);
    if (forced_bm == 64 || forced_bm == 128) t.bm = forced_bm;
    else t.bm = y5l_grid_m(c, 128) * y5l_grid_n(c, t.bn) >= sms ? 128 : 64;
    if (t.bm == 64 && !forced_bn) {
        /* the narrowest width that wastes no more channels: 64 always
         * qualifies before 256 (it never wastes more), so a 64-row block is
         * never 256 wide (ptxas serialises that one's wgmma: C7515) */
        const int waste = (c->cout + t.bn - 1) / t.bn * t.bn - c->cout;
        for (int i = 0; i < Y5W_V5_NBNS; i++) {
            const int bn = y5w_v5_bn_at(i);
            if ((c->cout + bn - 1) / bn * bn - c->cout <= waste) {
                t.bn = bn;
                break;
            }
        }
    }
    return t;
}

/* 0 for the one tile v5 does not build: 64 rows x 256 (ptxas 13.0 serialises
 * its wgmma, info C7515: 248 registers at one warpgroup leave none for the
 * pipeline); the lab refuses to force it. */
Y5L_HD int y5w_v5_tile_built(y5w_tile t) { return !(t.bm == 64 && t.bn == 256); }

/* ---- split-K: where even v5's narrowest blocks leave SMs idle (the late
 * layers at batch 1: a 20x20 output is 7 row blocks of 64), blockIdx.z = z of
 * `splits` blocks per output tile each runs the k-tiles [kt0, kt1) of
 * y5w_split_range and stores its FP32 partial sums to a workspace of
 * splits x M x cout floats (y5w_ws_index); a second kernel adds the splits
 * in order z = 0, 1, ... (deterministic: no atomics) and runs the fused
 * epilogue. ---- */
#define Y5W_MAX_SPLITS 8
#define Y5W_MIN_SPLIT_KTILES 4 /* k-tiles per split at least: the 4-stage pipeline still fills */

/* Split z's k-tiles [*kt0, *kt1) of nk: contiguous, covering 0..nk once,
 * sizes differing by at most one (none empty while splits <= nk). */
Y5L_HD void y5w_split_range(int nk, int splits, int z, int *kt0, int *kt1) {
    *kt0 = (int)((long long)nk * z / splits);
    *kt1 = (int)((long long)nk * (z + 1) / splits);
}

/* Float index of split z's partial sum of output (m, co). */
Y5L_HD long long y5w_ws_index(long long M, int cout, int z, long long m, int co) {
    return ((long long)z * M + m) * cout + co;
}

/* How many splits a conv on tile t runs (1: none). The rule, one block per
 * SM as the capacity: only a grid of fewer blocks than SMs splits; the cost
 * of s splits is the waves it takes, ceil(blocks * s / sms), times 1/s of
 * the k-loop per block; the cheapest s wins (the fewer among equals), and
 * splitting at all must cut the cost to 3/4 or less (the partials' stores,
 * the second kernel). Each split keeps >= Y5W_MIN_SPLIT_KTILES k-tiles.
 * yolov5m at 640, batch 1, 132 SMs (test_wgmma_tile.c prints the count):
 * every 20x20 conv (42 or 84 blocks of 64x64, the head's 28) and the 40x40
 * 1x1s (75 blocks, K 768 = 12 k-tiles: at most 3) split 3 ways, the 40x40
 * 3x3s (75 blocks, 27 k-tiles) 5 ways: 18 and 11 of 82 convs; the 80x80
 * ones (100 or more blocks) do not split. forced > 0: that many (at most
 * one per k-tile). */
Y5L_HD int y5w_v5_splits(const y5l_conv *c, y5w_tile t, int sms, int forced) {
    const int nk = (y5l_K(c) + Y5W_BK - 1) / Y5W_BK;
    if (forced > 0) return forced < nk ? forced : nk;
    const long long blocks = y5l_grid_m(c, t.bm) * y5l_grid_n(c, t.bn);
    if (sms < 1 || blocks >= sms) return 1;
    long long best = 1, best_waves = 1; /* cost best_waves / best; s = 1: one wave */
    for (int s = 2; s <= Y5W_MAX_SPLITS && s * Y5W_MIN_SPLIT_KTILES <= nk; s++) {
        const long long waves = (blocks * s + sms - 1) / sms;
        if (waves * best < best_waves * s) best = s, best_waves = waves;
    }
    /* cost(best) <= 3/4 cost(1) = 3/4 */
    return best > 1 && 4 * best_waves <= 3 * best ? (int)best : 1;
}

/* The splits that fit a workspace of ws_floats floats (the plan's
 * scratch): fewer where s x M x cout does not fit, 1 where none does. */
Y5L_HD int y5w_splits_fit(int splits, long long M, int cout, long long ws_floats) {
    while (splits > 1 && (long long)splits * M * cout > ws_floats) splits--;
    return splits;
}

/* Dynamic shared memory of S stages of BM- and BN-row tiles, plus 1024 bytes
 * so the kernel can round its base up to the atom alignment (the runtime
 * only promises 16). */
Y5L_HD int y5w_smem(int bm, int bn, int stages) { return stages * (bm + bn) * Y5W_ROW_BYTES + Y5W_ATOM_BYTES; }

/* Byte offsets of stage st's A and W tiles from the aligned base: all A
 * stages, then all W stages; each a multiple of 1024 because BM and BN are
 * multiples of 8 rows. */
Y5L_HD int y5w_a_off(int bm, int st) { return st * bm * Y5W_ROW_BYTES; }
Y5L_HD int y5w_b_off(int bm, int bn, int stages, int st) {
    return stages * bm * Y5W_ROW_BYTES + st * bn * Y5W_ROW_BYTES;
}

/* The output element of accumulator i of thread tid (0..NT-1) of block
 * (bx, by). */
Y5L_HD long long y5w_out_m(int bm, long long bx, int tid, int i) {
    return bx * bm + (tid >> 7) * 64 + y5w_acc_row(tid & 127, i);
}
Y5L_HD int y5w_out_co(int bn, int by, int tid, int i) { return by * bn + y5w_acc_col(tid & 127, i); }

#endif
