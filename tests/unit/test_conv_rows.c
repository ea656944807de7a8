/* test_conv_rows.c - the CUDA im2col's thread body (cuda/conv_rows.h, the
 * function cuda/kernels_conv.cu's kernel calls) executed on the CPU, block by
 * block and thread by thread with the launch shape the backend uses, against
 * an independent im2col written here from the definition: no GPU needed.
 *
 * conv_rows_im2col: for yolov5's im2col shapes (the 6x6 s2 stem with cin 3,
 *   3x3 s1 and s2, a 1x1 s2) and odd ones, both forms (8 channels per lane,
 *   one half per lane), input read from a channel slice (ld_in > cin, first
 *   channel not at 0), pixel chunks that start mid-image (m0 > 0, mc < M),
 *   batches of 1 and 3, and grids capped below the rows (grid-stride loops):
 *   every row of the chunk equals the reference to the bit (zeros for taps
 *   outside the image), the row tails past K and the rows past the chunk
 *   keep their poison, and channels outside the slice are never copied. */
#include <stdlib.h>
#include <string.h>

#include "cuda/conv_rows.h"
#include "tests/t.h"

#define POISON 0xDEADu /* a half pattern the inputs never hold */
#define OUTSIDE 0xBEEFu /* the input's channels outside the slice */

typedef struct {
    const char *name;
    int n, h, w, cin, k, s, p;
    int ld_extra, c0; /* input row stride = cin + ld_extra, slice starts at channel c0 */
} shape;

static const shape SHAPES[] = {
    {"stem 6x6 s2 cin 3", 2, 64, 48, 3, 6, 2, 2, 0, 0},
    {"stem 6x6 s2 cin 3, odd size", 1, 37, 23, 3, 6, 2, 2, 0, 0},
    {"3x3 s1 cin 16", 3, 9, 7, 16, 3, 1, 1, 0, 0},
    {"3x3 s2 cin 24 in a slice", 2, 11, 13, 24, 3, 2, 1, 16, 8},
    {"3x3 s1 cin 8 in a slice", 1, 5, 9, 8, 3, 1, 1, 8, 8},
    {"1x1 s2 cin 32", 2, 10, 10, 32, 1, 2, 0, 0, 0},
    {"5x5 s1 cin 5 in a slice", 2, 7, 6, 5, 5, 1, 2, 4, 3},
    {"3x3 s2 cin 1", 1, 4, 4, 1, 3, 2, 1, 0, 0},
    {"k larger than the image", 1, 3, 2, 8, 5, 1, 2, 0, 0},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

static unsigned rng = 12345u;
static unsigned short rnd_half(void) {
    rng = rng * 1103515245u + 12345u;
    unsigned short v = (unsigned short)(rng >> 12);
    return v == 0 || v == POISON || v == OUTSIDE ? 1 : v;
}

/* the definition: A[m, (ky, kx, ci)] = in[b, oy*s - p + ky, ox*s - p + kx, ci] */
static unsigned short ref_at(const shape *sh, const unsigned short *in, int ld, int ho, int wo, long long m, int kk) {
    long long b = m / ((long long)ho * wo);
    int rem = (int)(m % ((long long)ho * wo)), oy = rem / wo, ox = rem % wo;
    int ci = kk % sh->cin, tap = kk / sh->cin, ky = tap / sh->k, kx = tap % sh->k;
    int iy = oy * sh->s - sh->p + ky, ix = ox * sh->s - sh->p + kx;
    if (iy < 0 || iy >= sh->h || ix < 0 || ix >= sh->w) return 0;
    return in[((b * sh->h + iy) * sh->w + ix) * ld + sh->c0 + ci];
}

/* one launch, emulated: every block, every thread, in an order the GPU
 * might use (blocks backwards, so no test passes by a lucky order) */
static void launch(const y5r_im2col *a, int vec, unsigned cap) {
    const int bdx = y5r_lanes(a->K / vec), bdy = Y5R_THREADS / bdx;
    long long nb = (a->mc + bdy - 1) / bdy;
    const unsigned nblk = (unsigned)(nb > cap ? cap : nb < 1 ? 1 : nb);
    for (unsigned bid = nblk; bid-- > 0;)
        for (int ty = 0; ty < bdy; ty++)
            for (int tx = 0; tx < bdx; tx++)
                y5r_im2col_thread(a, vec, bid, nblk, (unsigned)tx, (unsigned)ty, (unsigned)bdx, (unsigned)bdy);
}

static void check_shape(const shape *sh, int vec, long long m0, long long mc, unsigned cap) {
    const int ld = sh->cin + sh->ld_extra;
    const int ho = (sh->h + 2 * sh->p - sh->k) / sh->s + 1, wo = (sh->w + 2 * sh->p - sh->k) / sh->s + 1;
    const int K = sh->k * sh->k * sh->cin, ldcol = (K + 7) & ~7;
    const size_t nin = (size_t)sh->n * sh->h * sh->w * ld;
    const long long extra_rows = 3;
    unsigned short *in = malloc(nin * sizeof *in);
    unsigned short *col = malloc((size_t)(mc + extra_rows) * ldcol * sizeof *col);
    T_REQUIRE(in && col, "out of memory");
    for (size_t i = 0; i < nin; i++) {
        int c = (int)(i % ld);
        in[i] = c >= sh->c0 && c < sh->c0 + sh->cin ? rnd_half() : OUTSIDE;
    }
    for (size_t i = 0; i < (size_t)(mc + extra_rows) * ldcol; i++) col[i] = POISON;
    y5r_im2col a = {in + sh->c0, col, sh->h, sh->w, sh->cin, ld, sh->k, sh->s, sh->p, ho, wo, K, ldcol, m0, mc};
    launch(&a, vec, cap);
    long long bad = 0;
    for (long long i = 0; i < mc + extra_rows; i++)
        for (int kk = 0; kk < ldcol; kk++) {
            unsigned short got = col[i * ldcol + kk];
            unsigned short want = i < mc && kk < K ? ref_at(sh, in, ld, ho, wo, m0 + i, kk) : (unsigned short)POISON;
            if (got != want && bad++ < 3)
                T_CHECK(0, "%s vec %d m0 %lld mc %lld cap %u: row %lld col %d: got %04x want %04x", sh->name, vec, m0,
                        mc, cap, i, kk, got, want);
        }
    T_CHECK(bad == 0, "%s vec %d: %lld wrong entries", sh->name, vec, bad);
    free(in);
    free(col);
}

T_TEST(conv_rows_lanes) {
    /* a row's lanes: a power of two covering the row, at most a warp, and
     * the block is always Y5R_THREADS threads */
    static const long long items[] = {1, 2, 3, 6, 8, 9, 31, 32, 33, 108, 255, 100000};
    static const int want[] = {1, 2, 4, 8, 8, 16, 32, 32, 32, 32, 32, 32};
    for (int i = 0; i < (int)(sizeof items / sizeof items[0]); i++) {
        int x = y5r_lanes(items[i]);
        T_CHECK(x == want[i], "y5r_lanes(%lld) = %d, want %d", items[i], x, want[i]);
        const int divides = Y5R_THREADS % x == 0;
        T_CHECK(divides, "%d lanes do not divide the block", x);
    }
}

T_TEST(conv_rows_im2col) {
    int ran = 0;
    for (int i = 0; i < NSHAPES; i++) {
        const shape *sh = &SHAPES[i];
        const int ho = (sh->h + 2 * sh->p - sh->k) / sh->s + 1, wo = (sh->w + 2 * sh->p - sh->k) / sh->s + 1;
        const long long M = (long long)sh->n * ho * wo;
        for (int vec = 1; vec <= 8; vec += 7) {
            if (vec == 8 && (sh->cin % 8 || (sh->cin + sh->ld_extra) % 8 || sh->c0 % 8)) continue;
            check_shape(sh, vec, 0, M, 1u << 20);        /* the whole batch, one block per bdy rows */
            check_shape(sh, vec, 0, M, 3);               /* few blocks: grid-stride */
            check_shape(sh, vec, M / 3, M - M / 3, 2);   /* a chunk starting mid-image */
            check_shape(sh, vec, M / 2, (M + 3) / 4, 5); /* a chunk ending before the last row */
            ran += 4;
        }
    }
    printf("    %d launches emulated over %d shapes, every entry checked\n", ran, NSHAPES);
}

/* conv_rows_pad: the channel padding a conv with cin % 8 != 0 runs first
 * (y5r_pad_item, cuda/kernels_conv.cu's k_pad_channels) for cin 1..13 read
 * from a channel slice, into 8 and 16 channels: every pixel's first cin
 * channels copied to the bit, the added ones +0, nothing written past the
 * last pixel. Then the stem as the backend runs it: padded to 8 channels
 * and put through the 16-byte im2col, each row is the cin-3 definition
 * with zeros at the added channels. */
T_TEST(conv_rows_pad) {
    static const struct {
        int px, cin, ld, c0, cpad;
    } cases[] = {
        {1, 3, 3, 0, 8}, {97, 3, 3, 0, 8}, {50, 3, 7, 2, 8}, {33, 3, 3, 0, 16},
        {40, 1, 1, 0, 8}, {21, 5, 9, 4, 8}, {19, 12, 12, 0, 16}, {17, 13, 20, 7, 16},
    };
    for (int t = 0; t < (int)(sizeof cases / sizeof cases[0]) && !t_failed_now(); t++) {
        const int px = cases[t].px, cin = cases[t].cin, ld = cases[t].ld, c0 = cases[t].c0, cpad = cases[t].cpad;
        const size_t nin = (size_t)px * ld, nout = (size_t)(px + 1) * cpad; /* one row of poison beyond */
        unsigned short *in = malloc(nin * 2), *out = malloc(nout * 2);
        T_REQUIRE(in && out, "out of memory");
        for (size_t i = 0; i < nin; i++) in[i] = rnd_half();
        for (size_t i = 0; i < nout; i++) out[i] = POISON;
        const long long items = (long long)px * (cpad / 8);
        for (long long g = items - 1; g >= 0; g--) y5r_pad_item(in + c0, cin, ld, out, cpad, g);
        int bad = 0;
        for (int p = 0; p < px && !bad; p++)
            for (int c = 0; c < cpad && !bad; c++) {
                const unsigned short want = c < cin ? in[(size_t)p * ld + c0 + c] : 0;
                if (out[(size_t)p * cpad + c] != want) {
                    T_CHECK(0, "pad px %d cin %d ld %d c0 %d -> %d: pixel %d channel %d is %04x, want %04x", px, cin,
                            ld, c0, cpad, p, c, out[(size_t)p * cpad + c], want);
                    bad = 1;
                }
            }
        for (int c = 0; c < cpad && !bad; c++)
            if (out[(size_t)px * cpad + c] != POISON) {
                T_CHECK(0, "pad px %d cin %d -> %d: wrote past the last pixel", px, cin, cpad);
                bad = 1;
            }
        free(in);
        free(out);
    }

    /* the stem's path: pad 3 -> 8, im2col with 8 channels per lane */
    const shape stem = {"stem 6x6 s2 cin 3", 2, 20, 18, 3, 6, 2, 2, 0, 0};
    const int ho = (stem.h + 2 * stem.p - stem.k) / stem.s + 1, wo = (stem.w + 2 * stem.p - stem.k) / stem.s + 1;
    const long long M = (long long)stem.n * ho * wo, px = (long long)stem.n * stem.h * stem.w;
    const int cp = 8, K = stem.k * stem.k * cp;
    unsigned short *in = malloc((size_t)px * 3 * 2), *pad = malloc((size_t)px * cp * 2), *col = malloc((size_t)M * K * 2);
    T_REQUIRE(in && pad && col, "out of memory");
    for (long long i = 0; i < px * 3; i++) in[i] = rnd_half();
    /* poisoned, so a zero the pad or the im2col fails to write shows */
    for (long long i = 0; i < px * cp; i++) pad[i] = POISON;
    for (long long i = 0; i < M * K; i++) col[i] = POISON;
    for (long long g = 0; g < px; g++) y5r_pad_item(in, 3, 3, pad, cp, g);
    y5r_im2col a = {pad, col, stem.h, stem.w, cp, cp, stem.k, stem.s, stem.p, ho, wo, K, K, 0, M};
    launch(&a, 8, 7);
    long long wrong = 0;
    for (long long m = 0; m < M; m++)
        for (int tap = 0; tap < stem.k * stem.k; tap++)
            for (int c = 0; c < cp; c++) {
                const unsigned short want = c < 3 ? ref_at(&stem, in, 3, ho, wo, m, tap * 3 + c) : 0;
                wrong += col[m * K + tap * cp + c] != want;
            }
    T_CHECK(wrong == 0, "padded stem im2col: %lld of %lld entries differ from the cin-3 definition", wrong, M * K);
    printf("    8 padding cases; padded stem: %lld rows of K %d checked\n", M, K);
    free(in);
    free(pad);
    free(col);
}
