/* test_conv_tile.c - the CUDA kernel lab's index arithmetic (cuda/lab/conv_tile.h,
 * the same functions the kernels in cuda/lab/conv_v*.cuh call), executed on
 * the CPU: no GPU needed.
 *
 * conv_tile_fragment_layout: the header's mma.sync m16n8k16 fragment maps
 *   equal a table written here from the PTX ISA's figures; the ldmatrix.x4
 *   row addresses hand every lane exactly the fragment the mma expects (A
 *   and B); v1's 32-bit fragment loads read two adjacent halves; neither
 *   path has shared-memory bank conflicts with the padded row stride.
 * conv_tile_yolov5_shapes: for every conv of yolov5n and yolov5m (and each
 *   tile shape the lab launches), the block/warp/lane/register -> (pixel,
 *   channel) map covers every output exactly once; the loaders fill every
 *   shared-memory slot of a tile exactly once; every 16-byte gather reads
 *   exactly the input halves an independent im2col formula names (and none
 *   of the channels outside the slice), zeros for padding and past K / M;
 *   the weight loader likewise; offsets stay right past 2^31 elements.
 * conv_tile_emulate: the whole kernel dataflow on odd shapes - loaders into
 *   S shared-memory stages in the kernel's pipeline order, fragments by
 *   either path, mma by the PTX table, epilogue into a channel slice - on
 *   small-integer data (every sum exact), against a direct conv: equal to
 *   the bit, every output written once, nothing outside the slice touched.
 * conv_tile_v4_layout, conv_tile_v4_shapes, conv_tile_v4_emulate: the same
 *   for v4 (conv_v4.cuh: BK 64, 4 stages, XOR-swizzled shared memory, one
 *   incrementally stepped (ky, kx, ci) per thread, epilogue through an FP32
 *   staging tile with 16-byte stores): its tile list, the swizzle, ldmatrix
 *   fragments and bank conflicts on the swizzled layout, the staging tile's
 *   writes and reads (coverage, banks), the 16-byte predicate; the stepped
 *   position against the division formula at every k-tile of every yolov5n/m
 *   conv and odd shape, the stepped gathers against im2col, the store
 *   phase's output map, the tile rule against each card's shared memory; and
 *   the whole dataflow under all four tiles on odd shapes, to the bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/lab/conv_tile.h"
#include "cuda/lab/yolo_convs.h"
#include "tests/t.h"
#include "tests/unit/conv_ref.h"

#define BK 32

typedef struct {
    int bm, bn, wm, wn;
} tcfg;

/* the tile shapes conv_lab.cu instantiates */
static const tcfg CFGS[] = {{128, 128, 2, 4}, {128, 64, 4, 2}, {64, 64, 2, 2}};
#define NCFG ((int)(sizeof CFGS / sizeof CFGS[0]))

/* ---- the PTX ISA's fragment figures for mma.m16n8k16 (.f16 A/B, .f32 C/D),
 * written out register by register: groupID g = lane >> 2, threadID_in_group t = lane % 4 */
static void ptx_a(int lane, int i, int *row, int *col) {
    const int g = lane >> 2, t = lane % 4;
    switch (i) {
    case 0: *row = g, *col = t * 2; break;          /* a0 */
    case 1: *row = g, *col = t * 2 + 1; break;      /* a1 */
    case 2: *row = g + 8, *col = t * 2; break;      /* a2 */
    case 3: *row = g + 8, *col = t * 2 + 1; break;  /* a3 */
    case 4: *row = g, *col = t * 2 + 8; break;      /* a4 */
    case 5: *row = g, *col = t * 2 + 9; break;      /* a5 */
    case 6: *row = g + 8, *col = t * 2 + 8; break;  /* a6 */
    default: *row = g + 8, *col = t * 2 + 9; break; /* a7 */
    }
}
static void ptx_b(int lane, int i, int *k, int *n) {
    const int g = lane >> 2, t = lane % 4;
    *n = g;
    switch (i) {
    case 0: *k = t * 2; break;
    case 1: *k = t * 2 + 1; break;
    case 2: *k = t * 2 + 8; break;
    default: *k = t * 2 + 9; break;
    }
}
static void ptx_c(int lane, int i, int *row, int *col) {
    const int g = lane >> 2, t = lane % 4;
    *row = i < 2 ? g : g + 8;
    *col = t * 2 + (i & 1);
}

/* One mma.sync m16n8k16 of a warp as the PTX tables define it: a[lane][0..7]
 * and b[lane][0..3] are the lanes' A and B fragment halves, acc[lane][0..3]
 * their C/D floats (+= A x B). The emulations' register contents mean what
 * the hardware reads only if this product matches the direct conv. */
static void emu_mma(const float (*a)[8], const float (*b)[4], float *acc) {
    float A[16][16], B[16][8];
    for (int lane = 0; lane < 32; lane++) {
        for (int i = 0; i < 8; i++) {
            int r, cc;
            ptx_a(lane, i, &r, &cc);
            A[r][cc] = a[lane][i];
        }
        for (int i = 0; i < 4; i++) {
            int k, n;
            ptx_b(lane, i, &k, &n);
            B[k][n] = b[lane][i];
        }
    }
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            int r, cc;
            ptx_c(lane, i, &r, &cc);
            float sum = 0;
            for (int k = 0; k < 16; k++) sum += A[r][k] * B[k][cc];
            acc[lane * 4 + i] += sum;
        }
}

/* Shared-memory banks touched by a set of byte ranges: 1 if no two
 * different 4-byte words share a bank (one wavefront). */
static int conflict_free(const int *byte_off, int n, int width) {
    int bank_word[32];
    for (int b = 0; b < 32; b++) bank_word[b] = -1;
    for (int i = 0; i < n; i++)
        for (int w = 0; w < width / 4; w++) {
            const int word = byte_off[i] / 4 + w, b = word % 32;
            if (bank_word[b] >= 0 && bank_word[b] != word) return 0;
            bank_word[b] = word;
        }
    return 1;
}

/* The lab's agreement bound (y5l_agree), which the lab, tuning's device
 * check and the GPU tests share: 2^-9 relative plus 2e-4 absolute, NaN and
 * inf never agreeing. */
T_TEST(conv_tile_agreement_bound) {
    T_CHECK(y5l_agree(1.0f + 0x1p-10f, 1.0f) && y5l_agree(-1.0f - 0x1p-10f, -1.0f), "half an ulp of a half apart");
    T_CHECK(y5l_agree(1.0f + 0x1p-9f + 1e-4f, 1.0f) && !y5l_agree(1.0f + 0x1p-9f + 3e-4f, 1.0f), "the edge at 1");
    T_CHECK(!y5l_agree(1000.0f + 4.0f, 1000.0f) && y5l_agree(1000.0f + 1.5f, 1000.0f), "relative at 1000");
    T_CHECK(y5l_agree(1.5e-4f, 0.0f) && !y5l_agree(2.5e-4f, 0.0f), "absolute near zero");
    T_CHECK(!y5l_agree(NAN, 1.0f) && !y5l_agree(1.0f, NAN) && !y5l_agree(INFINITY, 1.0f), "NaN or inf agreed");
    T_CHECK(!y5l_agree(1.0f, INFINITY) && !y5l_agree(INFINITY, INFINITY) && !y5l_agree(-INFINITY, -INFINITY),
            "an inf reference agreed");
}

T_TEST(conv_tile_fragment_layout) {
    const int lds = y5l_lds(BK);
    for (int lane = 0; lane < 32; lane++) {
        for (int i = 0; i < 8; i++) {
            int r, c;
            ptx_a(lane, i, &r, &c);
            T_CHECK(y5l_a_row(lane, i) == r && y5l_a_col(lane, i) == c, "A lane %d half %d", lane, i);
        }
        for (int i = 0; i < 4; i++) {
            int k, n, r, c;
            ptx_b(lane, i, &k, &n);
            T_CHECK(y5l_b_k(lane, i) == k && y5l_b_n(lane, i) == n, "B lane %d half %d", lane, i);
            ptx_c(lane, i, &r, &c);
            T_CHECK(y5l_c_row(lane, i) == r && y5l_c_col(lane, i) == c, "C lane %d elem %d", lane, i);
        }
        /* v1 loads halves 2r and 2r+1 as one 32-bit word at half 2r's address */
        /* (no '%' inside T_CHECK's condition: it becomes part of a format string) */
        for (int r = 0; r < 4; r++) {
            const int pair = y5l_a_row(lane, 2 * r + 1) == y5l_a_row(lane, 2 * r) &&
                             y5l_a_col(lane, 2 * r + 1) == y5l_a_col(lane, 2 * r) + 1 &&
                             (y5l_a_col(lane, 2 * r) & 1) == 0;
            T_CHECK(pair, "A pair %d of lane %d", r, lane);
        }
        for (int r = 0; r < 2; r++) {
            const int pair = y5l_b_n(lane, 2 * r + 1) == y5l_b_n(lane, 2 * r) &&
                             y5l_b_k(lane, 2 * r + 1) == y5l_b_k(lane, 2 * r) + 1 &&
                             (y5l_b_k(lane, 2 * r) & 1) == 0;
            T_CHECK(pair, "B pair %d of lane %d", r, lane);
        }
    }
    /* ldmatrix.x4: register q of lane l = matrix q's row l/4, halves 2(l%4), +1;
     * matrix q's row j is at the address lane 8q + j supplies. A: a 16x16 tile
     * at (0, 0) of a [16][lds] smem array; B: two n8 fragments of a [16][lds] array. */
    for (int lane = 0; lane < 32; lane++)
        for (int q = 0; q < 4; q++)
            for (int h = 0; h < 2; h++) {
                const int src = 8 * q + lane / 4; /* the lane whose address names that row */
                const int a_row = y5l_ldm_a_row(src), a_col = y5l_ldm_a_col(src) + 2 * (lane % 4) + h;
                int r, c;
                ptx_a(lane, 2 * q + h, &r, &c);
                T_CHECK(a_row == r && a_col == c, "ldmatrix A lane %d reg %d half %d: (%d,%d) want (%d,%d)", lane,
                        q, h, a_row, a_col, r, c);
                const int b_n = y5l_ldm_b_n(src), b_k = y5l_ldm_b_k(src) + 2 * (lane % 4) + h;
                const int frag = q / 2; /* registers 0,1: fragment ni; 2,3: ni + 1 */
                int k, n;
                ptx_b(lane, 2 * (q % 2) + h, &k, &n);
                T_CHECK(b_n == frag * 8 + n && b_k == k, "ldmatrix B lane %d reg %d half %d", lane, q, h);
            }
    /* ldmatrix row addresses must be 16-byte aligned */
    for (int lane = 0; lane < 32; lane++) {
        const int a_al = ((y5l_ldm_a_row(lane) * lds + y5l_ldm_a_col(lane)) & 7) == 0;
        const int b_al = ((y5l_ldm_b_n(lane) * lds + y5l_ldm_b_k(lane)) & 7) == 0;
        T_CHECK(a_al, "A row address of lane %d", lane);
        T_CHECK(b_al, "B row address of lane %d", lane);
    }
    /* banks: each ldmatrix phase (8 rows of 16 bytes) and each v1 32-bit fragment load */
    for (int q = 0; q < 4; q++) {
        int offa[8], offb[8];
        for (int j = 0; j < 8; j++) {
            const int l = 8 * q + j;
            offa[j] = (y5l_ldm_a_row(l) * lds + y5l_ldm_a_col(l)) * 2;
            offb[j] = (y5l_ldm_b_n(l) * lds + y5l_ldm_b_k(l)) * 2;
        }
        T_CHECK(conflict_free(offa, 8, 16), "ldmatrix A phase %d has bank conflicts", q);
        T_CHECK(conflict_free(offb, 8, 16), "ldmatrix B phase %d has bank conflicts", q);
    }
    for (int r = 0; r < 4; r++) {
        int off[32];
        for (int l = 0; l < 32; l++) off[l] = (y5l_a_row(l, 2 * r) * lds + y5l_a_col(l, 2 * r)) * 2;
        T_CHECK(conflict_free(off, 32, 4), "v1 A fragment load %d has bank conflicts", r);
    }
    for (int r = 0; r < 2; r++) {
        int off[32];
        for (int l = 0; l < 32; l++) off[l] = (y5l_b_n(l, 2 * r) * lds + y5l_b_k(l, 2 * r)) * 2;
        T_CHECK(conflict_free(off, 32, 4), "v1 B fragment load %d has bank conflicts", r);
    }
}

/* ---- the loaders and the output map over real shapes ---- */

static y5l_conv conv_of(const y5l_layer *l, int n) {
    y5l_conv c;
    c.n = n, c.h = l->h, c.w = l->w, c.cin = l->cin, c.ld_in = l->ld_in, c.cout = l->cout, c.k = l->k, c.s = l->s,
    c.p = l->p;
    c.ho = y5l_out_dim(c.h, c.k, c.s, c.p), c.wo = y5l_out_dim(c.w, c.k, c.s, c.p);
    c.ld_out = l->ld_out, c.ld_res = l->ld_out;
    return c;
}

/* An independent im2col: offset of A[m, q] in the input, -1 for a zero. */
static long long ref_a(const y5l_conv *c, long long m, int q) {
    const long long hw = (long long)c->ho * c->wo;
    if (m >= c->n * hw || q >= c->k * c->k * c->cin) return -1;
    const long long n = m / hw;
    const int oy = (int)((m / c->wo) % c->ho), ox = (int)(m % c->wo);
    const int ci = q % c->cin, kx = (q / c->cin) % c->k, ky = q / (c->cin * c->k);
    const int iy = oy * c->s - c->p + ky, ix = ox * c->s - c->p + kx;
    if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) return -1;
    return ((n * c->h + iy) * c->w + ix) * c->ld_in + ci;
}

/* Checks one conv under one tile shape; returns the number of failures
 * (the first few reported). */
static int check_shape(const y5l_conv *c, const tcfg *t, const char *name) {
    int fails = 0;
    const int nt = t->wm * t->wn * 32, K = y5l_K(c);
    const long long M = y5l_M(c), gm = y5l_grid_m(c, t->bm);
    const int gn = y5l_grid_n(c, t->bn);
#define FAIL(...)                                                                                                  \
    do {                                                                                                           \
        if (fails++ < 3) T_CHECK(0, __VA_ARGS__);                                                                  \
    } while (0)
    if (!y5l_supported(c)) FAIL("%s: not supported", name);
    /* loader slots: each (row, chunk) of an A and a W tile once per k-tile */
    {
        const int as = t->bm * (BK / 8) / nt, bs = t->bn * (BK / 8) / nt;
        if (as * nt != t->bm * (BK / 8) || bs * nt != t->bn * (BK / 8)) FAIL("%s: slots do not divide", name);
        unsigned char *hit = calloc((size_t)(t->bm > t->bn ? t->bm : t->bn) * (BK / 8), 1);
        for (int pass = 0; pass < 2; pass++) {
            const int rows = pass ? t->bn : t->bm, slots = pass ? bs : as;
            memset(hit, 0, (size_t)rows * (BK / 8));
            for (int tid = 0; tid < nt; tid++)
                for (int j = 0; j < slots; j++) {
                    const int r = y5l_slot_row(nt, BK, tid, j), ch = y5l_slot_chunk(nt, BK, tid, j);
                    if (r < 0 || r >= rows || ch < 0 || ch >= BK / 8) FAIL("%s: slot out of the tile", name);
                    else hit[r * (BK / 8) + ch]++;
                }
            for (int i = 0; i < rows * (BK / 8); i++)
                if (hit[i] != 1) FAIL("%s: tile slot %d filled %d times", name, i, hit[i]);
        }
        free(hit);
        /* A gathers: every block's rows (blockIdx.y does not enter A), every k-tile */
        for (long long bx = 0; bx < gm; bx++)
            for (int tid = 0; tid < nt; tid++)
                for (int j = 0; j < as; j++) {
                    const long long m = bx * t->bm + y5l_slot_row(nt, BK, tid, j);
                    const y5l_pix px = y5l_pixel(c, m);
                    for (int k0 = 0; k0 < K; k0 += BK) {
                        const int kk = k0 + y5l_slot_chunk(nt, BK, tid, j) * 8;
                        const long long src = y5l_a_src(c, px, kk);
                        for (int e = 0; e < 8; e++) {
                            const long long want = ref_a(c, m, kk + e);
                            if (src < 0 ? want >= 0 : want != src + e)
                                FAIL("%s: A[m %lld, kk %d]: reads %lld, want %lld", name, m, kk + e,
                                     src < 0 ? -1 : src + e, want);
                        }
                    }
                }
        /* W gathers */
        for (int by = 0; by < gn; by++)
            for (int tid = 0; tid < nt; tid++)
                for (int j = 0; j < bs; j++) {
                    const int co = by * t->bn + y5l_slot_row(nt, BK, tid, j);
                    for (int k0 = 0; k0 < K; k0 += BK) {
                        const int kk = k0 + y5l_slot_chunk(nt, BK, tid, j) * 8;
                        const long long src = y5l_b_src(c, co, kk);
                        const long long want = co < c->cout && kk < K ? (long long)co * K + kk : -1;
                        if (src != want) FAIL("%s: W[co %d, kk %d]: %lld, want %lld", name, co, kk, src, want);
                    }
                }
    }
    /* the output map: each (m, co) with m < M, co < cout exactly once */
    {
        unsigned char *cnt = calloc((size_t)M * c->cout, 1);
        const int fm = t->bm / t->wm / 16, fn = t->bn / t->wn / 8, warps = t->wm * t->wn;
        long long stray = 0;
        for (long long bx = 0; bx < gm; bx++)
            for (int by = 0; by < gn; by++)
                for (int wp = 0; wp < warps; wp++)
                    for (int mi = 0; mi < fm; mi++)
                        for (int ni = 0; ni < fn; ni++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) {
                                    const long long m = y5l_out_m(t->bm, t->wm, t->wn, bx, wp, mi, lane, i);
                                    const int co = y5l_out_co(t->bn, t->wn, by, wp, ni, lane, i);
                                    if (m < 0 || co < 0) stray++;
                                    else if (m < M && co < c->cout) cnt[m * c->cout + co]++;
                                }
        if (stray) FAIL("%s: %lld negative output coordinates", name, stray);
        for (long long i = 0; i < M * c->cout; i++)
            if (cnt[i] != 1) {
                FAIL("%s: output (m %lld, co %d) written %d times", name, i / c->cout, (int)(i % c->cout), cnt[i]);
                break;
            }
        free(cnt);
    }
#undef FAIL
    return fails;
}

/* The two networks the shape tests walk (width, depth multiples). */
static const struct {
    const char *net;
    double wm, dm;
} nets[] = {{"yolov5n", 0.25, 0.33}, {"yolov5m", 0.75, 0.67}};

T_TEST(conv_tile_yolov5_shapes) {
    /* 256 x 160: a letterboxed-like non-square input whose feature maps
     * (128x80 ... 8x5) leave partial tiles; batch 2 so pixels cross images. */
    y5l_layer ls[128];
    int checked = 0;
    for (int ni = 0; ni < 2; ni++) {
        const int n = y5l_yolov5_convs(nets[ni].wm, nets[ni].dm, 256, 160, ls, 128);
        T_REQUIRE(n > 0 && n <= 128, "%s: %d convs", nets[ni].net, n);
        T_CHECK(n == (ni ? 82 : 60), "%s: %d convs", nets[ni].net, n);
        for (int i = 0; i < n; i++) {
            const y5l_conv c = conv_of(&ls[i], 2);
            for (int t = 0; t < NCFG; t++) {
                char name[96];
                snprintf(name, sizeof name, "%s conv %d (%s) tile %dx%d", nets[ni].net, i, ls[i].name, CFGS[t].bm,
                         CFGS[t].bn);
                if (check_shape(&c, &CFGS[t], name)) return;
                checked++;
            }
        }
    }
    T_CHECK(checked == (60 + 82) * NCFG, "%d shape x tile checks", checked);
    /* offsets past 2^31 elements (batch 256 of 1280x1280 stems): the last pixel's last tap */
    y5l_conv big = {256, 1280, 1280, 8, 8, 48, 6, 2, 2, 640, 640, 48, 48};
    const long long m = y5l_M(&big) - 1;
    const y5l_pix px = y5l_pixel(&big, m);
    const int kk = (3 * 6 + 3) * 8; /* tap (ky 3, kx 3): inside the image for the last pixel (iy 1279) */
    T_CHECK(y5l_a_src(&big, px, kk) == ref_a(&big, m, kk) && ref_a(&big, m, kk) > (1LL << 31),
            "big offset %lld want %lld", y5l_a_src(&big, px, kk), ref_a(&big, m, kk));
    T_CHECK(y5l_out_m(128, 2, 4, y5l_grid_m(&big, 128) - 1, 7, 3, 31, 3) >= m, "last block's last row");
}

/* ---- the whole dataflow, emulated ---- */

/* Runs the kernel's schedule for one conv: S stages (S = 1: v1, load then
 * compute in one buffer), fragments by 32-bit loads (path 1) or ldmatrix
 * (path 2), mma by the PTX table. in/w/bias/res: values (NaN where nothing
 * may be read); out: poisoned, ld_out wide. Returns failures. */
static int emulate(const y5l_conv *c, const tcfg *t, int S, int path, const float *in, const float *w,
                   const float *bias, const float *res, float *out, unsigned char *written) {
    const int nt = t->wm * t->wn * 32, K = y5l_K(c), lds = y5l_lds(BK), warps = t->wm * t->wn;
    const int fm = t->bm / t->wm / 16, fn = t->bn / t->wn / 8;
    const int as = t->bm * (BK / 8) / nt, bs = t->bn * (BK / 8) / nt, nk = (K + BK - 1) / BK;
    const long long M = y5l_M(c);
    float *As = malloc(sizeof(float) * S * t->bm * lds), *Bs = malloc(sizeof(float) * S * t->bn * lds);
    float *acc = malloc(sizeof(float) * warps * fm * fn * 32 * 4);
    int fails = 0;
    for (long long bx = 0; bx < y5l_grid_m(c, t->bm); bx++)
        for (int by = 0; by < y5l_grid_n(c, t->bn); by++) {
            for (int i = 0; i < S * t->bm * lds; i++) As[i] = NAN; /* stale smem: poison */
            for (int i = 0; i < S * t->bn * lds; i++) Bs[i] = NAN;
            memset(acc, 0, sizeof(float) * warps * fm * fn * 32 * 4);
            /* the loader, as the kernels: per thread, per slot */
#define LOAD(stage, k0)                                                                                            \
    do {                                                                                                           \
        for (int tid = 0; tid < nt; tid++) {                                                                       \
            for (int j = 0; j < as; j++) {                                                                         \
                const int r = y5l_slot_row(nt, BK, tid, j), ch = y5l_slot_chunk(nt, BK, tid, j);                   \
                const long long src = y5l_a_src(c, y5l_pixel(c, bx * t->bm + r), (k0) + ch * 8);                   \
                for (int e = 0; e < 8; e++) As[((stage) * t->bm + r) * lds + ch * 8 + e] = src < 0 ? 0.f : in[src + e]; \
            }                                                                                                      \
            for (int j = 0; j < bs; j++) {                                                                         \
                const int r = y5l_slot_row(nt, BK, tid, j), ch = y5l_slot_chunk(nt, BK, tid, j);                   \
                const long long src = y5l_b_src(c, by * t->bn + r, (k0) + ch * 8);                                 \
                for (int e = 0; e < 8; e++) Bs[((stage) * t->bn + r) * lds + ch * 8 + e] = src < 0 ? 0.f : w[src + e]; \
            }                                                                                                      \
        }                                                                                                          \
    } while (0)
            /* the pipeline order of conv_v2.cuh (S >= 2) / conv_v1.cuh (S = 1) */
            if (S > 1)
                for (int s = 0; s < S - 1; s++)
                    if (s < nk) LOAD(s, s * BK);
            for (int kt = 0; kt < nk; kt++) {
                int cur = 0;
                if (S > 1) {
                    const int nxt = kt + S - 1;
                    if (nxt < nk) LOAD(nxt % S, nxt * BK); /* issued before the math on kt */
                    cur = kt % S;
                } else {
                    LOAD(0, kt * BK);
                }
                const float *a_s = As + cur * t->bm * lds, *b_s = Bs + cur * t->bn * lds;
                for (int wp = 0; wp < warps; wp++) {
                    const int wr0 = y5l_warp_row0(t->bm, t->wm, t->wn, wp), wc0 = y5l_warp_col0(t->bn, t->wn, wp);
                    for (int ks = 0; ks < BK / 16; ks++) {
                        float areg[8][32][8], breg[8][32][4]; /* [fragment][lane][half] */
                        for (int mi = 0; mi < fm; mi++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 8; i++) {
                                    int off;
                                    if (path == 1) { /* 32-bit load at half 2r's address, then +1 */
                                        const int i0 = i & ~1;
                                        off = (wr0 + mi * 16 + y5l_a_row(lane, i0)) * lds + ks * 16 +
                                              y5l_a_col(lane, i0) + (i & 1);
                                    } else { /* ldmatrix: register i/2 from matrix i/2, row lane/4 */
                                        const int src = 8 * (i / 2) + lane / 4;
                                        off = (wr0 + mi * 16 + y5l_ldm_a_row(src)) * lds + ks * 16 +
                                              y5l_ldm_a_col(src) + 2 * (lane % 4) + (i & 1);
                                    }
                                    areg[mi][lane][i] = a_s[off];
                                }
                        for (int ni = 0; ni < fn; ni++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) {
                                    int off;
                                    if (path == 1) {
                                        const int i0 = i & ~1;
                                        off = (wc0 + ni * 8 + y5l_b_n(lane, i0)) * lds + ks * 16 +
                                              y5l_b_k(lane, i0) + (i & 1);
                                    } else { /* ldmatrix over the pair (ni & ~1, ni | 1) */
                                        const int q = (ni & 1) * 2 + i / 2, src = 8 * q + lane / 4;
                                        off = (wc0 + (ni & ~1) * 8 + y5l_ldm_b_n(src)) * lds + ks * 16 +
                                              y5l_ldm_b_k(src) + 2 * (lane % 4) + (i & 1);
                                    }
                                    breg[ni][lane][i] = b_s[off];
                                }
                        /* mma: the registers mean what the PTX table says */
                        for (int mi = 0; mi < fm; mi++)
                            for (int ni = 0; ni < fn; ni++)
                                emu_mma(areg[mi], breg[ni], &acc[(((size_t)wp * fm + mi) * fn + ni) * 32 * 4]);
                    }
                }
            }
#undef LOAD
            /* epilogue (bias, residual; the activation is arithmetic, checked on the GPU) */
            for (int wp = 0; wp < warps; wp++)
                for (int mi = 0; mi < fm; mi++)
                    for (int ni = 0; ni < fn; ni++)
                        for (int lane = 0; lane < 32; lane++)
                            for (int i = 0; i < 4; i++) {
                                const long long m = y5l_out_m(t->bm, t->wm, t->wn, bx, wp, mi, lane, i);
                                const int co = y5l_out_co(t->bn, t->wn, by, wp, ni, lane, i);
                                if (m >= M || co >= c->cout) continue;
                                float v = acc[((((size_t)wp * fm + mi) * fn + ni) * 32 + lane) * 4 + i] + bias[co];
                                if (res) v += res[m * c->ld_res + co];
                                if (written[m * c->ld_out + co]++) fails++;
                                out[m * c->ld_out + co] = v;
                            }
        }
    free(As);
    free(Bs);
    free(acc);
    return fails;
}

T_TEST(conv_tile_emulate) {
    /* n, h, w, cin, ld_in, cout, k, s, p, ld_out, res */
    static const int shapes[][11] = {
        {2, 13, 11, 24, 32, 40, 1, 1, 0, 56, 1},   /* 1x1, slices in and out, residual */
        {2, 9, 7, 16, 16, 70, 3, 1, 1, 72, 0},     /* 3x3 s1, cout not a tile multiple */
        {1, 17, 15, 40, 48, 24, 3, 2, 1, 40, 1},   /* 3x3 s2, odd h/w, K = 360 (not a BK multiple) */
        {2, 14, 10, 8, 8, 16, 6, 2, 2, 24, 0},     /* the 6x6 s2 stem, cin padded to 8 */
        {1, 5, 3, 136, 136, 136, 1, 1, 0, 136, 1}, /* M = 15 < one 16-row fragment */
        {1, 4, 4, 8, 8, 1, 3, 1, 1, 1, 0},         /* cout 1 */
        {1, 6, 6, 16, 16, 255, 3, 2, 1, 255, 0},   /* Detect-like cout 255 */
    };
    const int nshape = (int)(sizeof shapes / sizeof shapes[0]);
    for (int si = 0; si < nshape; si++) {
        const int *d = shapes[si];
        y5l_conv c = {d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], 0, 0, d[9], d[9]};
        c.ho = y5l_out_dim(c.h, c.k, c.s, c.p);
        c.wo = y5l_out_dim(c.w, c.k, c.s, c.p);
        T_REQUIRE(y5l_supported(&c), "shape %d", si);
        conv_case k;
        T_REQUIRE(!conv_case_init(&k, &c, 0, d[10], 0), "out of memory");
        for (int t = 0; t < NCFG; t++)
            for (int mode = 0; mode < 3; mode++) { /* v1: S 1, path 1; v2: S 2, ldmatrix; v3: S 3, ldmatrix */
                const int S = mode + 1, path = mode ? 2 : 1;
                conv_case_reset(&k);
                const int twice = emulate(&c, &CFGS[t], S, path, k.in, k.w, k.bias, k.res, k.out, k.written);
                long long first;
                const long long bad = conv_case_bad(&k, &first);
                T_CHECK(!twice && !bad, "shape %d tile %dx%d S %d path %d: %d double writes, %lld bad (first at %lld: %g want %g)",
                        si, CFGS[t].bm, CFGS[t].bn, S, path, twice, bad, first, conv_case_got(&k, first),
                        conv_case_want(&k, first));
            }
        conv_case_free(&k);
    }
}

/* ==== v4 (cuda/lab/conv_v4.cuh): BK 64, swizzled stages, incremental k,
 * epilogue through shared memory ==== */

#define BK4 Y5L_V4_BK

static y5l_v4_cfg v4_cfg(int tile) { return y5l_v4_tile_cfg(tile); }
static int v4_nt(y5l_v4_cfg t) { return t.wm * t.wn * 32; }

/* Logical (row, k) of the half at smem offset `off` of a swizzled tile of
 * up to 256 rows: y5l_swz inverted by table (whatever the swizzle, the
 * fragments must come out right; the bank checks judge the swizzle). */
static int v4_inv[256 * BK4];
static void v4_unswz(int off, int *row, int *k) {
    static int built = 0;
    if (!built) {
        for (int i = 0; i < 256 * BK4; i++) v4_inv[i] = -1;
        for (int r = 0; r < 256; r++)
            for (int ch = 0; ch < 8; ch++)
                for (int e = 0; e < 8; e++) {
                    const int o = y5l_swz(r, ch) + e;
                    if (o >= 0 && o < 256 * BK4) v4_inv[o] = r * BK4 + ch * 8 + e;
                }
        built = 1;
    }
    const int v = off >= 0 && off < 256 * BK4 ? v4_inv[off] : -1;
    *row = v < 0 ? -1 : v / BK4;
    *k = v < 0 ? -1 : v % BK4;
}

T_TEST(conv_tile_v4_layout) {
    /* the tile list: what the kernel's static_asserts require, the shared
     * memory of each tile within sm_90's opt-in limit, the staging inside it */
    for (int ti = 0; ti < Y5L_V4_NTILES; ti++) {
        const y5l_v4_cfg t = v4_cfg(ti);
        const int nt = v4_nt(t), fm = t.bm / t.wm / 16, fn = t.bn / t.wn / 8;
        T_CHECK(t.bm > 0 && t.stages >= 2 && t.minb >= 1, "tile %d", ti);
        /* (no '%' inside T_CHECK's condition: it becomes part of a format string) */
        const int warps_ok = fm >= 1 && fn >= 2 && fn % 2 == 0 && (t.bm / t.wm) % 16 == 0 && t.bn % 64 == 0;
        const int chunks_ok = t.bm * 8 % nt == 0 && t.bn * 8 % nt == 0 && t.bm * (t.bn / 8) % nt == 0;
        const int column_ok = nt % 8 == 0 && nt % (t.bn / 8) == 0;
        T_CHECK(warps_ok, "tile %d warps", ti);
        T_CHECK(chunks_ok, "tile %d chunks", ti);
        T_CHECK(column_ok, "tile %d: one k chunk and one epilogue column per thread", ti);
        const int smem = y5l_v4_smem(t);
        T_CHECK(smem >= t.stages * (t.bm + t.bn) * BK4 * 2 && smem >= t.bm * y5l_v4_ldc(t.bn) * 4, "tile %d smem", ti);
        T_CHECK(smem <= 232448, "tile %d: %d bytes over sm_90's 227 KiB", ti, smem);
        /* shared memory per SM (228 KiB on sm_90, 1 KiB reserved per block) allows minb blocks */
        T_CHECK(t.minb * (smem + 1024) <= 233472, "tile %d: %d blocks of %d bytes", ti, t.minb, smem);
        /* minb's register cap (65536 per SM) holds the accumulators plus 64 */
        T_CHECK(65536 / (t.minb * nt) >= fm * fn * 4 + 64, "tile %d: minb %d caps registers at %d", ti, t.minb,
                65536 / (t.minb * nt));
    }
    T_CHECK(y5l_v4_smem(v4_cfg(Y5L_V4_128x128)) == 131072 && y5l_v4_smem(v4_cfg(Y5L_V4_256x128)) == 196608 &&
                y5l_v4_smem(v4_cfg(Y5L_V4_128x64)) == 98304 && y5l_v4_smem(v4_cfg(Y5L_V4_64x64)) == 65536,
            "smem per tile");

    /* the swizzle: a bijection of a 256-row tile's halves, chunks 16-byte aligned */
    {
        unsigned char *hit = calloc(256 * BK4, 1);
        for (int r = 0; r < 256; r++)
            for (int ch = 0; ch < 8; ch++) {
                const int o = y5l_swz(r, ch);
                const int in_row = (o & 7) == 0 && o >= r * BK4 && o < (r + 1) * BK4;
                T_CHECK(in_row, "swz(%d, %d) = %d", r, ch, o);
                for (int e = 0; e < 8; e++) hit[o + e]++;
                int rr, kk;
                v4_unswz(o + 3, &rr, &kk);
                T_CHECK(rr == r && kk == ch * 8 + 3, "unswz(swz(%d, %d))", r, ch);
            }
        int once = 1;
        for (int i = 0; i < 256 * BK4; i++) once &= hit[i] == 1;
        T_CHECK(once, "the swizzle is not a bijection");
        free(hit);
    }

    /* ldmatrix on the swizzled tile: every lane's registers hold exactly the
     * PTX fragment at (row0, 16 ks); every phase conflict-free; addresses 16-byte aligned */
    for (int row0 = 0; row0 < 256; row0 += 16)
        for (int ks = 0; ks < BK4 / 16; ks++) {
            for (int lane = 0; lane < 32; lane++) {
                const int aligned = (y5l_v4_ldm_a(row0, ks, lane) & 7) == 0 && (y5l_v4_ldm_b(row0, ks, lane) & 7) == 0;
                T_CHECK(aligned, "ldmatrix address of lane %d", lane);
                for (int q = 0; q < 4; q++)
                    for (int h = 0; h < 2; h++) {
                        const int src = 8 * q + lane / 4;
                        int r, k, pr, pc;
                        v4_unswz(y5l_v4_ldm_a(row0, ks, src) + 2 * (lane % 4) + h, &r, &k);
                        ptx_a(lane, 2 * q + h, &pr, &pc);
                        T_CHECK(r == row0 + pr && k == ks * 16 + pc, "v4 ldmatrix A row0 %d ks %d lane %d reg %d", row0,
                                ks, lane, q);
                        v4_unswz(y5l_v4_ldm_b(row0, ks, src) + 2 * (lane % 4) + h, &r, &k);
                        int bk, bn;
                        ptx_b(lane, 2 * (q % 2) + h, &bk, &bn);
                        T_CHECK(r == row0 + (q / 2) * 8 + bn && k == ks * 16 + bk, "v4 ldmatrix B row0 %d ks %d lane %d reg %d",
                                row0, ks, lane, q);
                    }
            }
            for (int q = 0; q < 4; q++) {
                int offa[8], offb[8];
                for (int j = 0; j < 8; j++) {
                    offa[j] = y5l_v4_ldm_a(row0, ks, 8 * q + j) * 2;
                    offb[j] = y5l_v4_ldm_b(row0, ks, 8 * q + j) * 2;
                }
                T_CHECK(conflict_free(offa, 8, 16), "v4 ldmatrix A row0 %d ks %d phase %d: bank conflict", row0, ks, q);
                T_CHECK(conflict_free(offb, 8, 16), "v4 ldmatrix B row0 %d ks %d phase %d: bank conflict", row0, ks, q);
            }
        }

    for (int ti = 0; ti < Y5L_V4_NTILES; ti++) {
        const y5l_v4_cfg t = v4_cfg(ti);
        const int nt = v4_nt(t), warps = nt / 32, ldc = y5l_v4_ldc(t.bn);
        const int fm = t.bm / t.wm / 16, fn = t.bn / t.wn / 8, es = t.bm * (t.bn / 8) / nt;
        /* cp.async: each quarter-warp's 8 16-byte stores into a stage (A and W) conflict-free;
         * a thread's slots share one chunk */
        for (int pass = 0; pass < 2; pass++) {
            const int slots = (pass ? t.bn : t.bm) * 8 / nt;
            for (int wp = 0; wp < warps; wp++)
                for (int j = 0; j < slots; j++)
                    for (int qw = 0; qw < 4; qw++) {
                        int off[8];
                        for (int l = 0; l < 8; l++) {
                            const int tid = wp * 32 + qw * 8 + l;
                            off[l] = y5l_swz(y5l_slot_row(nt, BK4, tid, j), y5l_slot_chunk(nt, BK4, tid, j)) * 2;
                            T_CHECK(y5l_slot_chunk(nt, BK4, tid, j) == y5l_slot_chunk(nt, BK4, tid, 0),
                                    "tile %d: thread %d's slots differ in chunk", ti, tid);
                        }
                        T_CHECK(conflict_free(off, 8, 16), "tile %d cp.async warp %d slot %d quarter %d", ti, wp, j, qw);
                    }
        }
        /* staging writes: each (row, col) of BM x BN once, as float2 of two
         * adjacent accumulators, each half-warp conflict-free */
        unsigned char *hit = calloc((size_t)t.bm * t.bn, 1);
        for (int wp = 0; wp < warps; wp++)
            for (int mi = 0; mi < fm; mi++)
                for (int ni = 0; ni < fn; ni++)
                    for (int h = 0; h < 2; h++) {
                        int off[32];
                        for (int lane = 0; lane < 32; lane++) {
                            const int r = y5l_acc_row(t.bm, t.wm, t.wn, wp, mi, lane, 2 * h);
                            const int c = y5l_acc_col(t.bn, t.wn, wp, ni, lane, 2 * h);
                            const int pair = y5l_acc_row(t.bm, t.wm, t.wn, wp, mi, lane, 2 * h + 1) == r &&
                                             y5l_acc_col(t.bn, t.wn, wp, ni, lane, 2 * h + 1) == c + 1 && (c & 1) == 0;
                            T_CHECK(pair, "tile %d: accumulators %d, %d of lane %d are not a float2", ti, 2 * h,
                                    2 * h + 1, lane);
                            T_CHECK(y5l_out_m(t.bm, t.wm, t.wn, 0, wp, mi, lane, 2 * h) == r &&
                                        y5l_out_co(t.bn, t.wn, 0, wp, ni, lane, 2 * h) == c,
                                    "tile %d: staging map differs from the output map", ti);
                            if (r >= 0 && r < t.bm && c >= 0 && c + 1 < t.bn) hit[r * t.bn + c]++, hit[r * t.bn + c + 1]++;
                            off[lane] = (r * ldc + c) * 4;
                        }
                        T_CHECK(conflict_free(off, 16, 8) && conflict_free(off + 16, 16, 8),
                                "tile %d staging write warp %d (%d, %d, %d): bank conflict", ti, wp, mi, ni, h);
                    }
        int once = 1;
        for (int i = 0; i < t.bm * t.bn; i++) once &= hit[i] == 1;
        T_CHECK(once, "tile %d: staging not written exactly once", ti);
        /* staging reads: each (row, 8-channel chunk) once; a thread keeps one
         * column; the two float4 reads cover the chunk; each quarter-warp's
         * 128-bit reads conflict-free; inside the smem */
        memset(hit, 0, (size_t)t.bm * t.bn);
        for (int tid = 0; tid < nt; tid++)
            for (int j = 0; j < es; j++) {
                const int r = y5l_epi_row(nt, t.bn, tid, j), c8 = y5l_epi_c8(nt, t.bn, tid, j);
                T_CHECK(c8 == y5l_epi_c8(nt, t.bn, tid, 0), "tile %d: thread %d changes column", ti, tid);
                T_CHECK(r >= 0 && r < t.bm && c8 >= 0 && c8 < t.bn / 8, "tile %d: chunk outside", ti);
                const int q0 = y5l_epi_quad(c8, 0), q1 = y5l_epi_quad(c8, 1);
                T_CHECK(q0 + q1 == 4 && (q0 == 0 || q0 == 4), "quads of %d", c8);
                T_CHECK((r * ldc + c8 * 8 + 8) * 4 <= y5l_v4_smem(t), "tile %d: staging past the smem", ti);
                if (r >= 0 && r < t.bm && c8 >= 0 && c8 < t.bn / 8)
                    for (int e = 0; e < 8; e++) hit[r * t.bn + c8 * 8 + e]++;
            }
        once = 1;
        for (int i = 0; i < t.bm * t.bn; i++) once &= hit[i] == 1;
        T_CHECK(once, "tile %d: staging not read exactly once", ti);
        free(hit);
        for (int wp = 0; wp < warps; wp++)
            for (int j = 0; j < es; j++)
                for (int q = 0; q < 2; q++)
                    for (int qw = 0; qw < 4; qw++) {
                        int off[8];
                        for (int l = 0; l < 8; l++) {
                            const int tid = wp * 32 + qw * 8 + l;
                            const int r = y5l_epi_row(nt, t.bn, tid, j), c8 = y5l_epi_c8(nt, t.bn, tid, j);
                            off[l] = (r * ldc + c8 * 8 + y5l_epi_quad(c8, q)) * 4;
                        }
                        T_CHECK(conflict_free(off, 8, 16), "tile %d staging read warp %d chunk %d read %d quarter %d", ti,
                                wp, j, q, qw);
                    }
    }

    /* 16-byte epilogue predicate */
    {
        y5l_conv c = {1, 4, 4, 8, 8, 16, 1, 1, 0, 4, 4, 24, 24};
        T_CHECK(y5l_v4_vec8(&c, 0x1010, 0, 0x2000), "aligned, no residual");
        T_CHECK(!y5l_v4_vec8(&c, 0x1008, 0, 0x2000), "out 8-byte aligned");
        T_CHECK(!y5l_v4_vec8(&c, 0x1010, 0, 0x2004), "bias 4-byte aligned");
        T_CHECK(y5l_v4_vec8(&c, 0x1010, 0x3020, 0x2000), "aligned residual");
        T_CHECK(!y5l_v4_vec8(&c, 0x1010, 0x3022, 0x2000), "residual 2-byte aligned");
        c.ld_res = 20;
        T_CHECK(!y5l_v4_vec8(&c, 0x1010, 0x3020, 0x2000), "ld_res 20");
        T_CHECK(y5l_v4_vec8(&c, 0x1010, 0, 0x2000), "ld_res without a residual");
        c.ld_out = 20;
        T_CHECK(!y5l_v4_vec8(&c, 0x1010, 0, 0x2000), "ld_out 20");
    }
}

/* Checks v4's loaders, k stepping and output map on one conv; returns failures. */
static int check_v4_shape(const y5l_conv *c, int tile, int check_a, const char *name) {
    int fails = 0;
    const y5l_v4_cfg t = v4_cfg(tile);
    const int nt = v4_nt(t), K = y5l_K(c), nk = (K + BK4 - 1) / BK4;
    const long long M = y5l_M(c), gm = y5l_grid_m(c, t.bm);
    const int gn = y5l_grid_n(c, t.bn);
#define FAIL(...)                                                                                                  \
    do {                                                                                                           \
        if (fails++ < 3) T_CHECK(0, __VA_ARGS__);                                                                  \
    } while (0)
    /* the stepped position equals the division formula and an independent
     * one at every k-tile of every chunk (and one step past the last) */
    const y5l_kstep ks = y5l_kstep_of(c, BK4);
    if (ks.dci < 0 || ks.dci >= c->cin || ks.dkx < 0 || ks.dkx >= c->k || (ks.dky * c->k + ks.dkx) * c->cin + ks.dci != BK4)
        FAIL("%s: kstep %d %d %d", name, ks.dci, ks.dkx, ks.dky);
    for (int ch = 0; ch < 8; ch++) {
        y5l_kpos p = y5l_kpos_at(c, ch * 8);
        for (int kt = 0; kt <= nk; kt++) {
            const int kk = kt * BK4 + ch * 8;
            const y5l_kpos d = y5l_kpos_at(c, kk);
            const int ci = kk % c->cin, kx = kk / c->cin % c->k, ky = kk / c->cin / c->k;
            const long long off = ((long long)ky * c->w + kx) * c->ld_in + ci;
            if (p.kk != kk || p.ci != ci || p.kx != kx || p.ky != ky || p.off != off || d.kk != kk || d.ci != ci ||
                d.kx != kx || d.ky != ky || d.off != off)
                FAIL("%s: chunk %d k-tile %d: stepped (%d; %d %d %d) direct (%d; %d %d %d) want (%d; %d %d %d)", name,
                     ch, kt, p.kk, p.ky, p.kx, p.ci, d.kk, d.ky, d.kx, d.ci, kk, ky, kx, ci);
            y5l_kpos_next(c, ks, &p);
        }
    }
    /* A gathers as the kernel makes them: per thread one stepped position,
     * per slot the block-time pixel; 8 halves each against ref_a */
    if (check_a) {
        const int as = t.bm * 8 / nt;
        for (long long bx = 0; bx < gm; bx++)
            for (int tid = 0; tid < nt; tid++) {
                const int ch = y5l_slot_chunk(nt, BK4, tid, 0);
                y5l_apix px[8];
                for (int j = 0; j < as; j++) px[j] = y5l_apix_of(c, bx * t.bm + y5l_slot_row(nt, BK4, tid, j));
                y5l_kpos p = y5l_kpos_at(c, ch * 8);
                for (int kt = 0; kt < nk; kt++, y5l_kpos_next(c, ks, &p))
                    for (int j = 0; j < as; j++) {
                        const long long m = bx * t.bm + y5l_slot_row(nt, BK4, tid, j);
                        const long long src = y5l_a_src_v4(c, px[j], &p);
                        for (int e = 0; e < 8; e++) {
                            const long long want = ref_a(c, m, p.kk + e);
                            if (src < 0 ? want >= 0 : want != src + e)
                                FAIL("%s: v4 A[m %lld, kk %d]: reads %lld, want %lld", name, m, p.kk + e,
                                     src < 0 ? -1 : src + e, want);
                        }
                    }
            }
    }
    /* the epilogue's chunks: every output (m, co) exactly once over the grid */
    {
        unsigned char *cnt = calloc((size_t)M * c->cout, 1);
        const int es = t.bm * (t.bn / 8) / nt;
        for (long long bx = 0; bx < gm; bx++)
            for (int by = 0; by < gn; by++)
                for (int tid = 0; tid < nt; tid++)
                    for (int j = 0; j < es; j++) {
                        const long long m = bx * t.bm + y5l_epi_row(nt, t.bn, tid, j);
                        const int co = by * t.bn + y5l_epi_c8(nt, t.bn, tid, j) * 8;
                        if (m >= M || co >= c->cout) continue;
                        for (int e = 0; e < 8 && co + e < c->cout; e++) cnt[m * c->cout + co + e]++;
                    }
        for (long long i = 0; i < M * c->cout; i++)
            if (cnt[i] != 1) {
                FAIL("%s: v4 output (m %lld, co %d) written %d times", name, i / c->cout, (int)(i % c->cout), cnt[i]);
                break;
            }
        free(cnt);
    }
#undef FAIL
    return fails;
}

/* conv shapes of the v4 emulation (and of the k-stepping check):
 * n, h, w, cin, ld_in, cout, k, s, p, ld_out, out_c0, res (0 none, else its ld), res_c0 */
static const int V4_SHAPES[][13] = {
    {2, 13, 11, 24, 32, 40, 1, 1, 0, 56, 16, 56, 16},    /* 1x1, K 24 < one k-tile, slices, residual: 16-byte path */
    {2, 9, 7, 16, 16, 70, 3, 1, 1, 72, 0, 0, 0},        /* 3x3 s1, cout 70: 16-byte chunks and a 6-channel tail */
    {1, 17, 15, 40, 48, 24, 3, 2, 1, 40, 8, 32, 4},     /* 3x3 s2, cin 40 (carries), K 360; residual at 4: no 16B */
    {2, 14, 10, 8, 8, 16, 6, 2, 2, 24, 8, 0, 0},        /* the 6x6 s2 stem, cin 8: a k-tile spans 8 taps */
    {1, 5, 3, 136, 136, 136, 1, 1, 0, 136, 0, 136, 0},  /* M = 15 < one fragment, K 136 */
    {1, 4, 4, 8, 8, 1, 3, 1, 1, 1, 0, 0, 0},            /* cout 1 (scalar) */
    {1, 6, 6, 16, 16, 255, 3, 2, 1, 255, 0, 0, 0},      /* Detect-like cout 255, ld 255: half by half */
    {1, 7, 9, 24, 24, 60, 1, 1, 0, 64, 4, 64, 4},       /* slices at 4: half2 */
    {1, 6, 5, 136, 144, 130, 3, 1, 1, 131, 1, 0, 0},    /* K 1224 (20 k-tiles, the ring wraps), odd ld: scalar */
    {2, 12, 12, 64, 64, 200, 3, 1, 1, 208, 8, 200, 0},  /* 3x3 K 576, residual with its own ld */
    {1, 5, 7, 16, 16, 40, 3, 1, 1, 48, 4, 0, 0},        /* ld 48 but the slice starts at 4: half2 */
};
#define V4_NSHAPES ((int)(sizeof V4_SHAPES / sizeof V4_SHAPES[0]))

static y5l_conv v4_shape_conv(const int *d) {
    y5l_conv c = {d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], 0, 0, d[9], d[11] ? d[11] : d[9]};
    c.ho = y5l_out_dim(c.h, c.k, c.s, c.p);
    c.wo = y5l_out_dim(c.w, c.k, c.s, c.p);
    return c;
}

T_TEST(conv_tile_v4_shapes) {
    y5l_layer ls[128];
    int checked = 0;
    for (int ni = 0; ni < 2; ni++) {
        const int n = y5l_yolov5_convs(nets[ni].wm, nets[ni].dm, 256, 160, ls, 128);
        T_REQUIRE(n == (ni ? 82 : 60), "%s: %d convs", nets[ni].net, n);
        for (int i = 0; i < n; i++) {
            const y5l_conv c = conv_of(&ls[i], 2);
            for (int ti = 0; ti < Y5L_V4_NTILES; ti++) {
                char name[96];
                snprintf(name, sizeof name, "%s conv %d (%s) v4 tile %s", nets[ni].net, i, ls[i].name,
                         y5l_v4_tile_name(ti));
                /* the A gather depends on (BM, threads) only: 128x64 gathers as 128x128 */
                if (check_v4_shape(&c, ti, ti != Y5L_V4_128x64, name)) return;
                checked++;
            }
        }
    }
    T_CHECK(checked == (60 + 82) * Y5L_V4_NTILES, "%d shape x tile checks", checked);
    for (int si = 0; si < V4_NSHAPES; si++) {
        const y5l_conv c = v4_shape_conv(V4_SHAPES[si]);
        T_REQUIRE(y5l_supported(&c), "v4 shape %d", si);
        for (int ti = 0; ti < Y5L_V4_NTILES; ti++) {
            char name[64];
            snprintf(name, sizeof name, "v4 odd shape %d tile %s", si, y5l_v4_tile_name(ti));
            if (check_v4_shape(&c, ti, 1, name)) return;
        }
    }
    /* offsets past 2^31 elements: the last pixel's tap (3, 3) of a batch-256 1280x1280 stem */
    y5l_conv big = {256, 1280, 1280, 8, 8, 48, 6, 2, 2, 640, 640, 48, 48};
    const long long m = y5l_M(&big) - 1;
    const int kk = (3 * 6 + 3) * 8;
    y5l_kpos p = y5l_kpos_at(&big, kk % BK4);
    const y5l_kstep ks = y5l_kstep_of(&big, BK4);
    for (int kt = 0; kt < kk / BK4; kt++) y5l_kpos_next(&big, ks, &p);
    T_CHECK(p.kk == kk && y5l_a_src_v4(&big, y5l_apix_of(&big, m), &p) == ref_a(&big, m, kk) &&
                ref_a(&big, m, kk) > (1LL << 31),
            "v4 big offset %lld want %lld", y5l_a_src_v4(&big, y5l_apix_of(&big, m), &p), ref_a(&big, m, kk));

    /* the tile rule picks only tiles the card's shared memory allows (sm_86/89,
     * sm_80, sm_90) for every yolov5m 640 conv at batch 1 and 32 */
    static const int optin[] = {101376, 166912, 232448}, sms[] = {84, 108, 132};
    const int n = y5l_yolov5_convs(0.75, 0.67, 640, 640, ls, 128);
    int used[Y5L_V4_NTILES] = {0};
    for (int card = 0; card < 3; card++)
        for (int b = 1; b <= 32; b += 31)
            for (int i = 0; i < n; i++) {
                const y5l_conv c = conv_of(&ls[i], b);
                const int tl = y5l_v4_tile(&c, sms[card], optin[card]);
                T_CHECK(tl >= 0 && tl < Y5L_V4_NTILES && y5l_v4_smem(v4_cfg(tl)) <= optin[card],
                        "card %d conv %d: tile %d does not fit", card, i, tl);
                if (tl >= 0 && tl < Y5L_V4_NTILES) used[tl]++;
            }
    T_CHECK(used[Y5L_V4_256x128] > 0 && used[Y5L_V4_64x64] > 0, "rule never picks 256x128 (%d) or 64x64 (%d)",
            used[Y5L_V4_256x128], used[Y5L_V4_64x64]);
}

/* ---- v4's whole dataflow, emulated ---- */

/* A model of device addresses for the epilogue's alignment rules: buffers
 * start 256-byte aligned, slices at their channel offset. */
#define V4_OUT_BASE 0x10000ull
#define V4_RES_BASE 0x20000ull
#define V4_BIAS_BASE 0x30000ull

/* Runs conv_v4.cuh's schedule for one conv under one tile: the loaders (one
 * stepped position per thread, pixels decomposed once per block) into S
 * swizzled stages in the kernel's pipeline order, each stage poisoned once
 * consumed; fragments by ldmatrix on the swizzled layout; mma by the PTX
 * table; accumulators through the FP32 staging tile (poisoned first); the
 * store phase's chunks, 16-byte where y5l_v4_vec8 allows (and then checked
 * 16-byte aligned), else half2 / half. out and res are whole rows (ld_out,
 * ld_res wide), the slices at out_c0 and res_c0. Returns failures. */
static int emulate_v4(const y5l_conv *c, int tile, const float *in, const float *w, const float *bias, const float *res,
                      int res_c0, float *out, int out_c0, unsigned char *written, int *n_vec) {
    const y5l_v4_cfg t = v4_cfg(tile);
    const int S = t.stages, nt = v4_nt(t), K = y5l_K(c), warps = nt / 32, ldc = y5l_v4_ldc(t.bn);
    const int fm = t.bm / t.wm / 16, fn = t.bn / t.wn / 8, nk = (K + BK4 - 1) / BK4;
    const int as = t.bm * 8 / nt, bs = t.bn * 8 / nt, es = t.bm * (t.bn / 8) / nt;
    const long long M = y5l_M(c);
    const int pairs = c->ld_out % 2 == 0 && out_c0 % 2 == 0; /* conv_lab.cu's a.pairs */
    const unsigned long long out_addr = V4_OUT_BASE + 2ull * out_c0, res_addr = res ? V4_RES_BASE + 2ull * res_c0 : 0;
    const int vec = y5l_v4_vec8(c, out_addr, res_addr, V4_BIAS_BASE);
    float *As = malloc(sizeof(float) * S * t.bm * BK4), *Bs = malloc(sizeof(float) * S * t.bn * BK4);
    int *tagA = malloc(sizeof(int) * S * t.bm * BK4), *tagB = malloc(sizeof(int) * S * t.bn * BK4);
    float *Cs = malloc(sizeof(float) * t.bm * ldc);
    float *acc = malloc(sizeof(float) * warps * fm * fn * 32 * 4);
    y5l_kpos *kp = malloc(sizeof(y5l_kpos) * nt);
    y5l_apix *px = malloc(sizeof(y5l_apix) * nt * as);
    const y5l_kstep kstep = y5l_kstep_of(c, BK4);
    int fails = 0;
    const float *o_in = in;
    for (long long bx = 0; bx < y5l_grid_m(c, t.bm); bx++)
        for (int by = 0; by < y5l_grid_n(c, t.bn); by++) {
            for (int i = 0; i < S * t.bm * BK4; i++) As[i] = NAN, tagA[i] = -1; /* stale smem: poison */
            for (int i = 0; i < S * t.bn * BK4; i++) Bs[i] = NAN, tagB[i] = -1;
            memset(acc, 0, sizeof(float) * warps * fm * fn * 32 * 4);
            /* per-thread loader state, once per block */
            for (int tid = 0; tid < nt; tid++) {
                kp[tid] = y5l_kpos_at(c, y5l_slot_chunk(nt, BK4, tid, 0) * 8);
                for (int j = 0; j < as; j++)
                    px[tid * as + j] = y5l_apix_of(c, bx * t.bm + y5l_slot_row(nt, BK4, tid, j));
            }
            int loaded = 0; /* k-tiles issued so far: the kernel loads them strictly in order */
#define LOAD4(stage)                                                                                               \
    do {                                                                                                           \
        for (int tid = 0; tid < nt; tid++) {                                                                       \
            const int ch = y5l_slot_chunk(nt, BK4, tid, 0);                                                        \
            for (int j = 0; j < as; j++) {                                                                         \
                const long long src = y5l_a_src_v4(c, px[tid * as + j], &kp[tid]);                                  \
                const int o = (stage) * t.bm * BK4 + y5l_swz(y5l_slot_row(nt, BK4, tid, j), ch);                   \
                for (int e = 0; e < 8; e++) {                                                                      \
                    if (tagA[o + e] != -1) fails++; /* filled twice before being consumed */                       \
                    As[o + e] = src < 0 ? 0.f : o_in[src + e];                                                     \
                    tagA[o + e] = loaded;                                                                          \
                }                                                                                                  \
            }                                                                                                      \
            for (int j = 0; j < bs; j++) {                                                                         \
                const long long src = y5l_b_src(c, by * t.bn + y5l_slot_row(nt, BK4, tid, j), kp[tid].kk);        \
                const int o = (stage) * t.bn * BK4 + y5l_swz(y5l_slot_row(nt, BK4, tid, j), ch);                   \
                for (int e = 0; e < 8; e++) {                                                                      \
                    if (tagB[o + e] != -1) fails++;                                                                \
                    Bs[o + e] = src < 0 ? 0.f : w[src + e];                                                        \
                    tagB[o + e] = loaded;                                                                          \
                }                                                                                                  \
            }                                                                                                      \
            y5l_kpos_next(c, kstep, &kp[tid]);                                                                     \
        }                                                                                                          \
        loaded++;                                                                                                  \
    } while (0)
            /* conv_v4.cuh's pipeline order */
            for (int s = 0; s < S - 1; s++)
                if (s < nk) LOAD4(s);
            for (int kt = 0; kt < nk; kt++) {
                if (kt + S - 1 < nk) LOAD4((kt + S - 1) % S); /* issued before the math on kt */
                const int cur = kt % S;
                /* every cell of the stage holds k-tile kt's data, filled once */
                for (int i = 0; i < t.bm * BK4; i++) fails += tagA[cur * t.bm * BK4 + i] != kt;
                for (int i = 0; i < t.bn * BK4; i++) fails += tagB[cur * t.bn * BK4 + i] != kt;
                const float *a_s = As + cur * t.bm * BK4, *b_s = Bs + cur * t.bn * BK4;
                for (int wp = 0; wp < warps; wp++) {
                    const int wr0 = y5l_warp_row0(t.bm, t.wm, t.wn, wp), wc0 = y5l_warp_col0(t.bn, t.wn, wp);
                    for (int ks = 0; ks < BK4 / 16; ks++) {
                        float areg[4][32][8], breg[8][32][4]; /* [fragment][lane][half] */
                        for (int mi = 0; mi < fm; mi++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 8; i++) { /* register i/2 from matrix i/2, row lane/4 */
                                    const int src = 8 * (i / 2) + lane / 4;
                                    areg[mi][lane][i] =
                                        a_s[y5l_v4_ldm_a(wr0 + mi * 16, ks, src) + 2 * (lane % 4) + (i & 1)];
                                }
                        for (int ni = 0; ni < fn; ni++)
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) { /* ldmatrix over the pair (ni & ~1, ni | 1) */
                                    const int q = (ni & 1) * 2 + i / 2, src = 8 * q + lane / 4;
                                    breg[ni][lane][i] =
                                        b_s[y5l_v4_ldm_b(wc0 + (ni & ~1) * 8, ks, src) + 2 * (lane % 4) + (i & 1)];
                                }
                        for (int mi = 0; mi < fm; mi++)
                            for (int ni = 0; ni < fn; ni++)
                                emu_mma(areg[mi], breg[ni], &acc[(((size_t)wp * fm + mi) * fn + ni) * 32 * 4]);
                    }
                }
                /* consumed: the next fill of this stage must write every cell again */
                for (int i = 0; i < t.bm * BK4; i++) As[cur * t.bm * BK4 + i] = NAN, tagA[cur * t.bm * BK4 + i] = -1;
                for (int i = 0; i < t.bn * BK4; i++) Bs[cur * t.bn * BK4 + i] = NAN, tagB[cur * t.bn * BK4 + i] = -1;
            }
#undef LOAD4
            if (loaded != nk) fails++;
            /* the staging tile: each warp's accumulators as float2 */
            for (int i = 0; i < t.bm * ldc; i++) Cs[i] = NAN;
            for (int wp = 0; wp < warps; wp++)
                for (int mi = 0; mi < fm; mi++)
                    for (int ni = 0; ni < fn; ni++)
                        for (int lane = 0; lane < 32; lane++)
                            for (int h = 0; h < 2; h++) {
                                const int row = y5l_acc_row(t.bm, t.wm, t.wn, wp, mi, lane, 2 * h);
                                const int col = y5l_acc_col(t.bn, t.wn, wp, ni, lane, 2 * h);
                                const float *a4 = &acc[((((size_t)wp * fm + mi) * fn + ni) * 32 + lane) * 4];
                                Cs[row * ldc + col] = a4[2 * h];
                                Cs[row * ldc + col + 1] = a4[2 * h + 1];
                            }
            /* the store phase (bias, residual; the activation is arithmetic, checked on the GPU) */
            for (int tid = 0; tid < nt; tid++) {
                const int c8 = y5l_epi_c8(nt, t.bn, tid, 0), co = by * t.bn + c8 * 8;
                const int hi_first = y5l_epi_quad(c8, 0) != 0;
                for (int j = 0; j < es; j++) {
                    const int row = y5l_epi_row(nt, t.bn, tid, j);
                    const long long m = bx * t.bm + row;
                    if (m >= M || co >= c->cout) continue;
                    float f0[4], f1[4], v[8];
                    for (int e = 0; e < 4; e++) {
                        f0[e] = Cs[row * ldc + c8 * 8 + y5l_epi_quad(c8, 0) + e];
                        f1[e] = Cs[row * ldc + c8 * 8 + y5l_epi_quad(c8, 1) + e];
                    }
                    for (int e = 0; e < 4; e++) {
                        v[e] = hi_first ? f1[e] : f0[e];
                        v[4 + e] = hi_first ? f0[e] : f1[e];
                    }
                    const long long o = m * c->ld_out + out_c0 + co;
                    const long long ro = m * c->ld_res + res_c0 + co;
                    if (vec && co + 8 <= c->cout) { /* one 16-byte store: aligned? */
                        const int al = (out_addr + 2ull * (m * c->ld_out + co)) % 16 == 0 &&
                                       (V4_BIAS_BASE + 4ull * co) % 16 == 0 &&
                                       (!res || (res_addr + 2ull * (m * c->ld_res + co)) % 16 == 0);
                        if (!al) fails++;
                        (*n_vec)++;
                        for (int e = 0; e < 8; e++) {
                            const float r = res ? res[ro + e] : 0.f;
                            if (written[o + e]++) fails++;
                            out[o + e] = v[e] + bias[co + e] + r;
                        }
                    } else { /* y5l_v4_store_tail */
                        const int n = c->cout - co < 8 ? c->cout - co : 8;
                        for (int e = 0; e < n; e += 2) {
                            const int two = e + 1 < n;
                            if (two && pairs && (out_addr + 2ull * (m * c->ld_out + co + e)) % 4 != 0) fails++;
                            for (int h = 0; h < 1 + two; h++) {
                                const float r = res ? res[ro + e + h] : 0.f;
                                if (written[o + e + h]++) fails++;
                                out[o + e + h] = v[e + h] + bias[co + e + h] + r;
                            }
                        }
                    }
                }
            }
        }
    free(As);
    free(Bs);
    free(tagA);
    free(tagB);
    free(Cs);
    free(acc);
    free(kp);
    free(px);
    return fails;
}

T_TEST(conv_tile_v4_emulate) {
    int total_vec = 0, total_tail_shapes = 0;
    for (int si = 0; si < V4_NSHAPES; si++) {
        const int *d = V4_SHAPES[si];
        const y5l_conv c = v4_shape_conv(d);
        const int out_c0 = d[10], res_c0 = d[12], has_res = d[11] != 0;
        T_REQUIRE(y5l_supported(&c) && out_c0 + c.cout <= c.ld_out && (!has_res || res_c0 + c.cout <= c.ld_res),
                  "v4 shape %d", si);
        const long long M = y5l_M(&c);
        conv_case k;
        T_REQUIRE(!conv_case_init(&k, &c, out_c0, has_res, res_c0), "out of memory");
        const int vec = y5l_v4_vec8(&c, V4_OUT_BASE + 2ull * out_c0, k.res ? V4_RES_BASE + 2ull * res_c0 : 0, V4_BIAS_BASE);
        total_tail_shapes += !vec || c.cout % 8 != 0;
        for (int ti = 0; ti < Y5L_V4_NTILES; ti++) {
            conv_case_reset(&k);
            int n_vec = 0;
            const int f = emulate_v4(&c, ti, k.in, k.w, k.bias, k.res, res_c0, k.out, out_c0, k.written, &n_vec);
            long long first;
            const long long bad = conv_case_bad(&k, &first);
            /* the 16-byte path ran on every full chunk exactly when allowed */
            const long long full = vec ? M * (c.cout / 8) : 0;
            T_CHECK(!f && !bad && n_vec == full,
                    "v4 shape %d tile %s: %d pipeline/alignment/double-write faults, %lld bad (first at %lld: %g want "
                    "%g), %d 16-byte chunks of %lld",
                    si, y5l_v4_tile_name(ti), f, bad, first, conv_case_got(&k, first), conv_case_want(&k, first), n_vec,
                    full);
            total_vec += n_vec;
        }
        conv_case_free(&k);
    }
    T_CHECK(total_vec > 0 && total_tail_shapes > 0, "both store paths ran (%d 16-byte chunks, %d shapes with tails)",
            total_vec, total_tail_shapes);
}
