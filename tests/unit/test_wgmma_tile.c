/* test_wgmma_tile.c - lab version v5's index arithmetic (cuda/lab/wgmma_tile.h,
 * the functions cuda/lab/conv_v5.cuh calls), executed on the CPU: no GPU.
 *
 * What the hardware does with a descriptor is modelled here from the PTX
 * ISA's text (K-major operand, 128-byte swizzle: element (row, k) at the
 * canonical address start + (row / 8) * SBO + (row % 8) * 128 + 2k, whose
 * bits 4-6 are then XORed with its bits 7-9), written independently of the
 * header: the model decodes the descriptor's bit fields itself. So these
 * tests prove that the loaders, the descriptors, the accumulator map and
 * the epilogue agree with each other and with that reading of the ISA;
 * whether the silicon agrees is the lab's GPU check (cuda/lab/README.md).
 *
 * wgmma_tile_descriptor: every field of y5w_desc where the ISA puts it.
 * wgmma_tile_accumulators: y5w_acc_row / _col equal the m64nNk16 FP32
 *   accumulator table written out here; every element of the 64 x N tile
 *   held by exactly one (thread, register).
 * wgmma_tile_layout: what the loaders write (y5w_swz) is what the modelled
 *   tensor cores read for every row, k16 step and k; the atoms are
 *   1024-aligned (stages, warpgroup halves); stores of a quarter-warp hit
 *   32 distinct banks; the 4-stage smem fits a block on Hopper; every
 *   loader slot of the A and W tiles is filled exactly once per k-tile.
 * wgmma_tile_emulate: v5's whole dataflow (S stages in the kernel's order,
 *   swizzled cp.async targets, 4 k16 steps per k-tile through the modelled
 *   descriptors, the accumulator map, the epilogue into a channel slice with
 *   a residual) on odd shapes with small-integer data, against a direct
 *   conv: equal to the bit, every output written once, nothing outside the
 *   slice touched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/lab/wgmma_tile.h"
#include "tests/t.h"
#include "tests/unit/conv_ref.h"
#include "cuda/lab/yolo_convs.h"
#include <stdio.h>

#define BM 128
#define NT 256
#define S4 4 /* the stage count of the layout checks */

/* ---- the model of the hardware, from the ISA text ---- */
typedef struct {
    unsigned start, lbo, sbo, base_off, swizzle, other;
} desc_fields;

static desc_fields decode(unsigned long long d) {
    desc_fields f;
    f.start = (unsigned)(d & 0x3FFFu) << 4;
    f.lbo = (unsigned)((d >> 16) & 0x3FFFu) << 4;
    f.sbo = (unsigned)((d >> 32) & 0x3FFFu) << 4;
    f.base_off = (unsigned)((d >> 49) & 7u);
    f.swizzle = (unsigned)(d >> 62);
    /* bits 14-15, 30-31, 46-48, 52-61 must be zero */
    f.other = (unsigned)(((d >> 14) & 3u) | ((d >> 30) & 3u) << 2 | ((d >> 46) & 7u) << 4 | ((d >> 52) & 0x3FFu) << 7);
    return f;
}

/* Shared byte address the tensor cores read element (row, k) (k 0..15 of
 * the k16 step) of a K-major 128B-swizzled operand from. */
static unsigned hw_addr(unsigned long long d, int row, int k) {
    const desc_fields f = decode(d);
    const unsigned canon = f.start + (unsigned)(row / 8) * f.sbo + (unsigned)(row % 8) * 128u + (unsigned)k * 2u;
    return canon ^ (((canon >> 7) & 7u) << 4);
}

/* ---- the m64nNk16 FP32 accumulator table, register by register ---- */
static void table_acc(int t, int i, int *row, int *col) {
    const int warp = t / 32, lane = t % 32, g = lane / 4, q = lane % 4;
    const int j = i / 4; /* the n8 column block */
    switch (i % 4) {
    case 0: *row = warp * 16 + g, *col = j * 8 + q * 2; break;
    case 1: *row = warp * 16 + g, *col = j * 8 + q * 2 + 1; break;
    case 2: *row = warp * 16 + g + 8, *col = j * 8 + q * 2; break;
    default: *row = warp * 16 + g + 8, *col = j * 8 + q * 2 + 1; break;
    }
}

T_TEST(wgmma_tile_descriptor) {
    for (unsigned addr = 0; addr < (1u << 18); addr += 1024u * 7u)
        for (int s = 0; s < 4; s++) {
            const desc_fields f = decode(y5w_desc(addr, s));
            T_CHECK(f.start == ((addr + 32u * (unsigned)s) & 0x3FFF0u), "addr %u s %d: start %u", addr, s, f.start);
            T_CHECK(f.lbo == 16 && f.sbo == 1024, "lbo %u sbo %u", f.lbo, f.sbo);
            T_CHECK(f.base_off == 0 && f.swizzle == 1 && f.other == 0, "base %u swizzle %u other %#x", f.base_off,
                    f.swizzle, f.other);
        }
}

T_TEST(wgmma_tile_accumulators) {
    for (int n = 8; n <= 256; n += 8) {
        unsigned char *seen = calloc((size_t)64 * n, 1);
        T_REQUIRE(seen, "oom");
        int bad = 0;
        for (int t = 0; t < 128; t++)
            for (int i = 0; i < n / 2; i++) {
                int r, c;
                table_acc(t, i, &r, &c);
                bad += y5w_acc_row(t, i) != r || y5w_acc_col(t, i) != c;
                if (r >= 0 && r < 64 && c >= 0 && c < n) seen[r * n + c]++;
                else bad++;
                if (i % 2 == 0) bad += y5w_acc_row(t, i + 1) != r || y5w_acc_col(t, i + 1) != c + 1; /* half2 pairs */
            }
        int once = 0;
        for (int e = 0; e < 64 * n; e++) once += seen[e] == 1;
        T_CHECK(!bad && once == 64 * n, "n %d: %d mismatches, %d of %d elements held once", n, bad, once, 64 * n);
        free(seen);
    }
}

T_TEST(wgmma_tile_layout) {
    /* loader writes vs modelled reads, both operands' row counts */
    const unsigned bases[] = {0, 1024, 40960, 131072};
    int bad = 0;
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
        for (int row = 0; row < 128; row++)
            for (int s = 0; s < 4; s++)
                for (int k = 0; k < 16; k++) {
                    const int kk = s * 16 + k; /* the k-tile's column */
                    const unsigned wrote = bases[b] + (unsigned)y5w_swz(row, kk / 8) + (unsigned)(kk % 8) * 2u;
                    /* a warpgroup's 64-row half starts 64 rows in: its own descriptor */
                    const unsigned half = (unsigned)(row / 64) * 64u * Y5W_ROW_BYTES;
                    bad += hw_addr(y5w_desc(bases[b] + half, s), row % 64, k) != wrote;
                }
    T_CHECK(bad == 0, "%d elements the tensor cores would read from elsewhere than the loaders wrote", bad);
    /* atoms 1024-aligned: stages, operands, warpgroup halves */
    for (int bi = 0; bi < Y5W_V5_NBNS; bi++)
        for (int st = 0, bn = y5w_v5_bn_at(bi); st < S4; st++) {
            const int misaligned = y5w_a_off(BM, st) % 1024 + y5w_b_off(BM, bn, S4, st) % 1024;
            T_CHECK(misaligned == 0, "bn %d stage %d", bn, st);
            T_CHECK(y5w_b_off(BM, bn, S4, st) >= y5w_a_off(BM, S4 - 1) + BM * 128, "W overlaps A");
            T_CHECK(y5w_b_off(BM, bn, S4, st) + bn * 128 <= y5w_smem(BM, bn, S4) - 1024, "past the smem");
        }
    const int half_mis = (64 * Y5W_ROW_BYTES) % 1024;
    T_CHECK(half_mis == 0, "warpgroup half not atom-aligned");
    T_CHECK(y5w_smem(BM, 256, S4) <= 227 * 1024, "%d bytes of smem per block", y5w_smem(BM, 256, S4));
    /* the widths: valid wgmma N (a multiple of 8 up to 256), loader slots a
     * whole number per thread; the rule on yolov5's channel counts */
    for (int bi = 0; bi < Y5W_V5_NBNS; bi++) {
        const int bn = y5w_v5_bn_at(bi), slots = bn * 8 % NT, badn = bn % 8 != 0 || bn > 256;
        T_CHECK(!badn && slots == 0, "width %d", bn);
        T_CHECK(y5w_v5_bn(7, bn) == bn, "forcing width %d", bn);
    }
    static const int rule[][2] = {{48, 64}, {96, 96}, {192, 192}, {384, 192}, {768, 256}, {255, 256}, {16, 64},
                                  {128, 128}, {130, 192}, {512, 256}, {640, 128}};
    for (size_t i = 0; i < sizeof rule / sizeof rule[0]; i++)
        T_CHECK(y5w_v5_bn(rule[i][0], 0) == rule[i][1], "cout %d: width %d, expected %d", rule[i][0],
                y5w_v5_bn(rule[i][0], 0), rule[i][1]);
    /* banks: a warp's 16-byte stores go in 4 phases of 8 threads; each phase
     * must cover the 32 banks once (slots up to the widest tile's 8 per
     * thread: W's loaders are the same map over more rows) */
    for (int warp = 0; warp < NT / 32; warp++)
        for (int j = 0; j < 256 * 8 / NT; j++)
            for (int ph = 0; ph < 4; ph++) {
                unsigned mask = 0;
                int dup = 0;
                for (int l = ph * 8; l < ph * 8 + 8; l++) {
                    const int t = warp * 32 + l;
                    const int off = y5w_swz(y5l_slot_row(NT, Y5W_BK, t, j), y5l_slot_chunk(NT, Y5W_BK, t, j));
                    const unsigned banks = 0xFu << ((off / 4) % 32);
                    dup |= (mask & banks) != 0;
                    mask |= banks;
                }
                T_CHECK(!dup && mask == 0xFFFFFFFFu, "warp %d slot %d phase %d: bank conflict", warp, j, ph);
            }
    /* 64-row blocks (one warpgroup, 128 threads): every slot of A's 64 rows
     * and of each width's W rows filled once, one chunk per thread */
    for (int bi = -1; bi < Y5W_V5_NBNS; bi++) {
        const int rows = bi < 0 ? 64 : y5w_v5_bn_at(bi), slots = rows * 8 / 128;
        int cnt[256 * 8] = {0}, other = 0;
        for (int t = 0; t < 128; t++)
            for (int j = 0; j < slots; j++) {
                const int r = y5l_slot_row(128, Y5W_BK, t, j), c = y5l_slot_chunk(128, Y5W_BK, t, j);
                other += c != y5l_slot_chunk(128, Y5W_BK, t, 0);
                if (r < rows) cnt[r * 8 + c]++;
            }
        int once = 0;
        for (int e = 0; e < rows * 8; e++) once += cnt[e] == 1;
        T_CHECK(once == rows * 8 && !other, "64-row block, %d rows: %d of %d slots once, %d off-chunk", rows, once,
                rows * 8, other);
    }
    /* the tile rule: 128 rows while every SM gets a block, else 64 and the
     * narrowest width as good */
    static const struct {
        int n, hw, cout, bm, bn;
    } tiles[] = {
        {32, 20, 768, 128, 256}, /* batch 32, 20x20: 100 x 3 blocks */
        {1, 20, 768, 64, 64},    /* batch 1: 128x256 would give 4 x 3 */
        {1, 160, 48, 128, 64},   /* 200 x 1 */
        {1, 80, 255, 64, 64},    /* 50 x 1 at 128 rows; 100 x 4 at 64 x 64 (waste 1, as 256) */
        {1, 40, 192, 64, 64},    /* 13 x 1 */
    };
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        y5l_conv cv;
        memset(&cv, 0, sizeof cv);
        cv.n = tiles[i].n;
        cv.ho = cv.wo = tiles[i].hw;
        cv.cout = tiles[i].cout;
        const y5w_tile t = y5w_v5_tile(&cv, 132, 0, 0);
        T_CHECK(t.bm == tiles[i].bm && t.bn == tiles[i].bn, "n %d %dx%d cout %d: %dx%d, expected %dx%d", cv.n, cv.ho,
                cv.wo, cv.cout, t.bm, t.bn, tiles[i].bm, tiles[i].bn);
        const y5w_tile f = y5w_v5_tile(&cv, 132, 64, 192);
        T_CHECK(f.bm == 64 && f.bn == 192, "forced tile: %dx%d", f.bm, f.bn);
    }
    /* the unbuilt 64x256 never comes from the rule, 64 rows forced or not */
    int unbuilt = 0;
    for (int cout = 1; cout <= 1024; cout++)
        for (int fbm = 0; fbm <= 64; fbm += 64) {
            y5l_conv cv;
            memset(&cv, 0, sizeof cv);
            cv.n = 1;
            cv.ho = cv.wo = 10;
            cv.cout = cout;
            unbuilt += !y5w_v5_tile_built(y5w_v5_tile(&cv, 132, fbm, 0));
        }
    T_CHECK(unbuilt == 0, "%d rule choices of the unbuilt 64x256", unbuilt);
    /* loader slots: every (row, chunk) of both tiles once */
    for (int bi = -1; bi < Y5W_V5_NBNS; bi++) { /* A's 128 rows, then W's of each width */
        const int rows = bi < 0 ? BM : y5w_v5_bn_at(bi);
        int cnt[256 * 8] = {0};
        const int slots = rows * 8 / NT;
        for (int t = 0; t < NT; t++)
            for (int j = 0; j < slots; j++) {
                const int r = y5l_slot_row(NT, Y5W_BK, t, j), c = y5l_slot_chunk(NT, Y5W_BK, t, j);
                if (r < rows && c < 8) cnt[r * 8 + c]++;
            }
        int once = 0;
        for (int e = 0; e < rows * 8; e++) once += cnt[e] == 1;
        T_CHECK(once == rows * 8, "%d rows: %d of %d slots filled once", rows, once, rows * 8);
    }
}

/* ---- the whole kernel on the CPU ---- */
typedef struct {
    int n, h, w, cin, ldin, cout, k, s, p, ldout, res;
    int out_c0, res_c0; /* the output and residual slices' first channels in their rows (ld_res = ldout) */
} shape;

/* v5 on one conv: the kernel's loop, with shared memory a byte array whose
 * address 0 is the (1024-aligned) aligned base. */
/* splits > 1: split-K, blockIdx.z = z over the k-tiles of y5w_split_range,
 * partials into a workspace (y5w_ws_index, every slot written once), then
 * y5w_splitk_reduce's sum in z order and its epilogue. */
static int emulate(const y5l_conv *c, int bm, int bn, int S, int F, int splits, const float *in, const float *w,
                   const float *bias, const float *res, int res_c0, float *out, int out_c0, unsigned char *written) {
    const int PD = Y5W_GATHER_AHEAD(S, F); /* the kernel's gather distance */
    const int nt = Y5W_THREADS(bm); /* the kernel's block size */
    const int K = y5l_K(c), nk_all = (K + Y5W_BK - 1) / Y5W_BK;
    const long long gm = y5l_grid_m(c, bm), M = y5l_M(c);
    const int gn = y5l_grid_n(c, bn);
    const size_t smem = (size_t)y5w_smem(bm, bn, S) - 1024;
    const size_t nws = splits > 1 ? (size_t)splits * (size_t)M * (size_t)c->cout : 1;
    float *sm = malloc(smem / 2 * sizeof(float)); /* one float per half-sized slot: index = byte / 2 */
    float *d = malloc(sizeof(float) * nt * (size_t)(bn / 2));
    float *ws = malloc(sizeof(float) * nws);
    unsigned char *ws_written = calloc(nws, 1);
    y5l_kpos kp[256];
    int twice = 0;
    if (!sm || !d || !ws || !ws_written) { free(sm); free(d); free(ws); free(ws_written); return -1; }
    for (size_t i = 0; i < nws; i++) ws[i] = 1e30f;
    for (long long bx = 0; bx < gm; bx++)
        for (int by = 0; by < gn; by++)
          for (int z = 0; z < splits; z++) {
            int kt0 = 0, kt1 = nk_all;
            if (splits > 1) y5w_split_range(nk_all, splits, z, &kt0, &kt1);
            const int nk = kt1 - kt0;
            for (size_t i = 0; i < smem / 2; i++) sm[i] = 1e30f; /* poison: a slot read but never written */
            memset(d, 0, sizeof(float) * nt * (size_t)(bn / 2));
            /* the loaders of k-tile kt into stage st (all threads), with the
             * kernel's state: each thread's one position in K, stepped per
             * k-tile without a division (v4's y5l_kpos), k-tiles in order
             * from the split's first */
            const y5l_kstep kstep = y5l_kstep_of(c, Y5W_BK);
            for (int t = 0; t < nt; t++) kp[t] = y5l_kpos_at(c, kt0 * Y5W_BK + y5l_slot_chunk(nt, Y5W_BK, t, 0) * 8);
#define LOAD(st, kt)                                                                                            \
    for (int t = 0; t < nt; t++) {                                                                              \
        const int ch = y5l_slot_chunk(nt, Y5W_BK, t, 0);                                                        \
        if (kp[t].kk != (kt0 + (kt)) * Y5W_BK + ch * 8) twice += 100000; /* out of order, or a wrong step */   \
        for (int j = 0; j < bm * 8 / nt; j++) {                                                                 \
            const int row = y5l_slot_row(nt, Y5W_BK, t, j);                                                     \
            if (y5l_slot_chunk(nt, Y5W_BK, t, j) != ch) twice += 100000; /* one chunk per thread */             \
            const long long off = y5l_a_src_v4(c, y5l_apix_of(c, bx * bm + row), &kp[t]);                      \
            const int dst = (y5w_a_off(bm, st) + y5w_swz(row, ch)) / 2;                                         \
            for (int e = 0; e < 8; e++) sm[dst + e] = off >= 0 ? in[off + e] : 0.0f;                            \
        }                                                                                                       \
        for (int j = 0; j < bn * 8 / nt; j++) {                                                                 \
            const int row = y5l_slot_row(nt, Y5W_BK, t, j);                                                     \
            const long long off = y5l_b_src(c, by * bn + row, kp[t].kk);                                        \
            const int dst = (y5w_b_off(bm, bn, S, st) + y5w_swz(row, ch)) / 2;                                  \
            for (int e = 0; e < 8; e++) sm[dst + e] = off >= 0 ? w[off + e] : 0.0f;                             \
        }                                                                                                       \
        y5l_kpos_next(c, kstep, &kp[t]);                                                                        \
    }
            for (int s0 = 0; s0 < PD; s0++)
                if (s0 < nk) LOAD(s0, s0)
            for (int kt = 0; kt < nk; kt++) {
                const int nxt = kt + PD;
                /* the refill happens while the wgmma groups of k-tiles
                 * kt-F .. kt-1 may still run and k-tile kt's are next: none
                 * of their stages may be the one refilled */
                for (int q = kt - F; q <= kt && nxt < nk; q++)
                    if (q >= 0 && q % S == nxt % S) twice += 1000;
                if (nxt < nk) LOAD(nxt % S, nxt)
                for (int t = 0; t < nt; t++) {
                    const int wg = t / 128, tw = t % 128;
                    const unsigned as = (unsigned)y5w_a_off(bm, kt % S) + (unsigned)wg * 64u * Y5W_ROW_BYTES;
                    const unsigned bs = (unsigned)y5w_b_off(bm, bn, S, kt % S);
                    for (int s = 0; s < Y5W_BK / 16; s++) {
                        const unsigned long long da = y5w_desc(as, s), db = y5w_desc(bs, s);
                        for (int i = 0; i < bn / 2; i++) {
                            const int r = y5w_acc_row(tw, i), col = y5w_acc_col(tw, i);
                            float acc = 0;
                            for (int k = 0; k < 16; k++) acc += sm[hw_addr(da, r, k) / 2] * sm[hw_addr(db, col, k) / 2];
                            d[(size_t)t * (bn / 2) + i] += acc;
                        }
                    }
                }
            }
#undef LOAD
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < bn / 2; i++) {
                    const long long m = y5w_out_m(bm, bx, t, i);
                    const int co = y5w_out_co(bn, by, t, i);
                    if (m >= M || co >= c->cout) continue;
                    if (splits > 1) { /* y5w_store_partial */
                        const long long q = y5w_ws_index(M, c->cout, z, m, co);
                        if (q < 0 || (size_t)q >= nws) { twice += 10; continue; }
                        twice += ws_written[q]++ != 0;
                        ws[q] = d[(size_t)t * (bn / 2) + i];
                        continue;
                    }
                    /* the epilogue: y5w_out_m / _co, act none, + bias, + residual */
                    float v = d[(size_t)t * (bn / 2) + i] + bias[co];
                    if (res) v += res[m * c->ld_res + res_c0 + co];
                    const size_t o = (size_t)m * c->ld_out + out_c0 + co;
                    twice += written[o]++ != 0;
                    out[o] = v;
                }
          }
    if (splits > 1) {
        /* y5w_splitk_reduce: pairs (m, co), the splits in order */
        const int pairs = (c->cout + 1) / 2;
        for (long long i = 0; i < M * pairs; i++) {
            const long long m = i / pairs;
            const int co = 2 * (int)(i - m * pairs);
            for (int e = 0; e < 2 && co + e < c->cout; e++) {
                float sum = 0.0f;
                for (int z = 0; z < splits; z++) {
                    const long long q = y5w_ws_index(M, c->cout, z, m, co + e);
                    if (!ws_written[q]) twice += 10; /* a partial never stored */
                    sum += ws[q];
                }
                float v = sum + bias[co + e];
                if (res) v += res[m * c->ld_res + res_c0 + co + e];
                const size_t o = (size_t)m * c->ld_out + out_c0 + co + e;
                twice += written[o]++ != 0;
                out[o] = v;
            }
        }
    }
    free(sm);
    free(d);
    free(ws);
    free(ws_written);
    return twice;
}

T_TEST(wgmma_tile_emulate) {
    /* odd shapes: partial tiles in M and N, K not a multiple of 64, images
     * crossing blocks, padding, stride 2, the stem's padded cin 8, slices */
    static const shape SH[] = {
        {2, 9, 7, 8, 16, 24, 3, 1, 1, 40, 1, 8, 16},  {1, 13, 11, 16, 16, 72, 1, 1, 0, 72, 0, 0, 0},
        {3, 6, 10, 24, 32, 130, 3, 2, 1, 136, 1, 2, 6}, {1, 12, 12, 8, 8, 48, 6, 2, 2, 48, 0, 0, 0},
        {2, 5, 5, 64, 80, 200, 3, 1, 1, 256, 1, 56, 8},
    };
    for (int si = 0; si < (int)(sizeof SH / sizeof SH[0]); si++) {
        const shape *x = &SH[si];
        y5l_conv c = {x->n, x->h, x->w, x->cin, x->ldin, x->cout, x->k, x->s, x->p, 0, 0, x->ldout, x->ldout};
        c.ho = y5l_out_dim(c.h, c.k, c.s, c.p);
        c.wo = y5l_out_dim(c.w, c.k, c.s, c.p);
        T_REQUIRE(y5l_supported(&c), "shape %d unsupported", si);
        const int K = y5l_K(&c);
        conv_case k;
        T_REQUIRE(x->out_c0 + c.cout <= c.ld_out && x->res_c0 + c.cout <= c.ld_res, "shape %d: slices", si);
        T_REQUIRE(!conv_case_init(&k, &c, x->out_c0, x->res, x->res_c0), "out of memory");
        /* (stages, groups in flight): v5's (4, 1), and neighbours */
        static const int SF[][2] = {{4, 1}, {4, 0}, {3, 1}, {2, 0}};
        /* split-K: (rows, width, splits), v5's (4, 1); splits past the
         * conv's k-tiles are capped as y5w_v5_splits caps a forced count */
        static const int SPL[][3] = {{64, 64, 2}, {128, 128, 3}, {64, 192, 5}, {128, 96, 8}};
        const int NSPL = (int)(sizeof SPL / sizeof SPL[0]);
        const int nk = (K + Y5W_BK - 1) / Y5W_BK;
        for (int cfg = 0; cfg < 4 + 2 * Y5W_V5_NBNS + NSPL; cfg++) {
            /* every width at 128 and at 64 rows with v5's (4, 1); the other pairs at 128 x 128 */
            const int w5 = cfg < 4 ? -1 : (cfg - 4) % Y5W_V5_NBNS;
            const int sp = cfg - 4 - 2 * Y5W_V5_NBNS; /* >= 0: a split-K case */
            int bm = cfg < 4 + Y5W_V5_NBNS ? 128 : 64, bn = w5 < 0 ? 128 : y5w_v5_bn_at(w5);
            const int S = SF[cfg < 4 ? cfg : 0][0], F = SF[cfg < 4 ? cfg : 0][1];
            int splits = 1;
            if (sp >= 0) {
                bm = SPL[sp][0], bn = SPL[sp][1];
                splits = y5w_v5_splits(&c, (y5w_tile){bm, bn}, 132, SPL[sp][2]);
                T_CHECK(splits == (SPL[sp][2] < nk ? SPL[sp][2] : nk), "forced %d splits of %d k-tiles: %d",
                        SPL[sp][2], nk, splits);
            }
            const y5w_tile tile = {bm, bn};
            if (!y5w_v5_tile_built(tile)) continue; /* 64x256: no kernel of it */
            conv_case_reset(&k);
            const int twice = emulate(&c, bm, bn, S, F, splits, k.in, k.w, k.bias, k.res, x->res_c0, k.out, x->out_c0, k.written);
            long long first;
            const long long bad = conv_case_bad(&k, &first);
            T_CHECK(twice == 0 && !bad,
                    "shape %d tile %dx%d S %d F %d splits %d: %d double writes (+10 per workspace fault, +1000 per "
                    "stage hazard, +100000 per bad loader position), %lld bad (first at %lld: %g want %g)",
                    si, bm, bn, S, F, splits, twice, bad, first, conv_case_got(&k, first), conv_case_want(&k, first));
        }
        conv_case_free(&k);
    }
}

/* Split-K's arithmetic: the ranges cover every k-tile once, the rule on
 * yolov5m's convs at 640 (its choices, one block per SM as the capacity),
 * the workspace cap. */
T_TEST(wgmma_tile_splitk_rule) {
    for (int nk = 1; nk <= 120; nk++)
        for (int splits = 1; splits <= Y5W_MAX_SPLITS && splits <= nk; splits++) {
            int next = 0, lo = 1 << 30, hi = 0, bad = 0;
            for (int z = 0; z < splits; z++) {
                int a, b;
                y5w_split_range(nk, splits, z, &a, &b);
                bad += a != next || b <= a;
                next = b;
                lo = b - a < lo ? b - a : lo;
                hi = b - a > hi ? b - a : hi;
            }
            T_CHECK(!bad && next == nk && hi - lo <= 1, "nk %d in %d splits: %d gaps or empties, ends at %d, sizes %d..%d",
                    nk, splits, bad, next, lo, hi);
        }
    /* the rule's own properties on every yolov5m and yolov5n conv at 640, batch 1..32 */
    y5l_layer ls[128];
    int split_convs = 0, b1_splits[9] = {0};
    for (int net = 0; net < 2; net++) {
        const int n = y5l_yolov5_convs(net ? 0.25 : 0.75, net ? 0.33 : 0.67, 640, 640, ls, 128);
        T_REQUIRE(n > 0, "no convs");
        for (int batch = 1; batch <= 32; batch *= 2)
            for (int i = 0; i < n; i++) {
                y5l_conv c;
                memset(&c, 0, sizeof c);
                c.n = batch, c.h = ls[i].h, c.w = ls[i].w, c.cin = ls[i].cin, c.ld_in = ls[i].ld_in;
                c.cout = ls[i].cout, c.k = ls[i].k, c.s = ls[i].s, c.p = ls[i].p;
                c.ho = y5l_out_dim(c.h, c.k, c.s, c.p), c.wo = y5l_out_dim(c.w, c.k, c.s, c.p);
                c.ld_out = c.ld_res = ls[i].ld_out;
                const y5w_tile t = y5w_v5_tile(&c, 132, 0, 0);
                const int s = y5w_v5_splits(&c, t, 132, 0);
                const long long blocks = y5l_grid_m(&c, t.bm) * y5l_grid_n(&c, t.bn);
                const int nk = (y5l_K(&c) + Y5W_BK - 1) / Y5W_BK;
                T_CHECK(s >= 1 && s <= Y5W_MAX_SPLITS, "%s b%d: %d splits", ls[i].name, batch, s);
                /* only grids short of one block per SM split; each split keeps its k-tiles */
                T_CHECK(s == 1 || (blocks < 132 && s * Y5W_MIN_SPLIT_KTILES <= nk), "%s b%d: %lld blocks, %d k-tiles, %d splits",
                        ls[i].name, batch, blocks, nk, s);
                /* a split is worth it by the wave model: cost <= 3/4 */
                if (s > 1) {
                    const long long waves = (blocks * s + 131) / 132;
                    T_CHECK(4 * waves <= 3LL * s, "%s b%d: %d splits cost %lld/%d", ls[i].name, batch, s, waves, s);
                }
                split_convs += s > 1;
                if (!net && batch == 1) b1_splits[s]++;
            }
    }
    /* yolov5m at batch 1: the 20x20 and 40x40 convs split (the numbers
     * are what the rule gives; the test pins them so a change is seen) */
    printf("    yolov5m 640 b1 splits: 1 x%d, 2 x%d, 3 x%d, 4 x%d, 5 x%d, 6 x%d, 7 x%d, 8 x%d; %d split convs in all\n",
           b1_splits[1], b1_splits[2], b1_splits[3], b1_splits[4], b1_splits[5], b1_splits[6], b1_splits[7],
           b1_splits[8], split_convs);
    T_CHECK(b1_splits[1] == 53 && b1_splits[3] == 18 && b1_splits[5] == 11 && split_convs > 0,
            "yolov5m at batch 1: the rule's splits changed (53 / 18 / 11 convs of 1 / 3 / 5 splits before)");
    /* the 20x20 head (255 channels, K 768: 12 k-tiles): 64x64 tiles, 7 x 4 = 28 blocks, 3 splits */
    {
        y5l_conv c;
        memset(&c, 0, sizeof c);
        c.n = 1, c.h = c.w = c.ho = c.wo = 20, c.cin = c.ld_in = 768, c.cout = c.ld_out = c.ld_res = 255;
        c.k = 1, c.s = 1, c.p = 0;
        const y5w_tile t = y5w_v5_tile(&c, 132, 0, 0);
        T_CHECK(t.bm == 64 && t.bn == 64 && y5w_v5_splits(&c, t, 132, 0) == 3, "20x20 head: %dx%d, %d splits", t.bm,
                t.bn, y5w_v5_splits(&c, t, 132, 0));
        /* forced: capped at one split per k-tile; a big grid never splits by the rule */
        T_CHECK(y5w_v5_splits(&c, t, 132, 8) == 8 && y5w_v5_splits(&c, t, 132, 20) == 12, "forced splits");
        c.n = 32;
        T_CHECK(y5w_v5_splits(&c, y5w_v5_tile(&c, 132, 0, 0), 132, 0) == 1, "batch 32 head splits");
    }
    /* the workspace cap */
    T_CHECK(y5w_splits_fit(4, 400, 255, 4LL * 400 * 255) == 4 && y5w_splits_fit(4, 400, 255, 4LL * 400 * 255 - 1) == 3 &&
                y5w_splits_fit(3, 400, 255, 400LL * 255) == 1 && y5w_splits_fit(3, 400, 255, 0) == 1,
            "y5w_splits_fit");
}
