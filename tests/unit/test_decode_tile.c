/* test_decode_tile.c - the CUDA tiled Detect decode's thread bodies
 * (cuda/decode_tile.h: the code k_decode_tile runs) on the CPU, block by
 * block and phase by phase, against a plain loop over images, levels,
 * anchors and cells: every float of the pred equal to the bit, for several
 * levels, padded head rows (ld > na * no), two images, a few classes and
 * COCO's 80, with and without the lazy class columns, and row counts that
 * leave a last partial block. The GPU test of the kernel itself is
 * tests/backend/test_backend_ops.c's decode case on every backend. */
#include "tests/t.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/decode_tile.h"

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static float frand(void) { /* [-6, 6): sigmoids over their whole range */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) & 0xFFFFFF) / 16777216.0f * 12.0f - 6.0f;
}
static float sigm_ref(float v) { return 1.0f / (1.0f + expf(-v)); }

/* n images, nc classes, nl levels of na anchors; misalign: the pred starts
 * that many floats past a 16-byte boundary (the stores' scalar path). */
static void run_case(int n, int nc, float lazy, int nl, int na, int misalign) {
    const int no = nc + 5;
    int hs[8], ws[8];
    for (int l = 0; l < nl; l++) hs[l] = 12 >> (l < 3 ? l : 3), ws[l] = 10 - l; /* 12x10, 6x9, 3x8, 1x7, ... */
    y5d_params P;
    memset(&P, 0, sizeof P);
    unsigned short *heads[8];
    int row0 = 0;
    for (int l = 0; l < nl; l++) {
        const int ld = (na * no + 7) / 8 * 8 + (l == 1 ? 8 : 0); /* padded rows, one level wider still */
        const size_t cnt = (size_t)n * hs[l] * ws[l] * ld;
        heads[l] = malloc(cnt * sizeof(unsigned short));
        for (size_t i = 0; i < cnt; i++) heads[l][i] = y5_float_to_half(frand());
        P.heads[l] = heads[l];
        P.h[l] = hs[l], P.w[l] = ws[l], P.ld[l] = ld, P.row0[l] = row0;
        P.stride[l] = (float)(8 << (l < 6 ? l : 6));
        for (int j = 0; j < 2 * na; j++) P.anchors[l][j] = 10.0f + 7.5f * l + 3.25f * j;
        row0 += na * hs[l] * ws[l];
    }
    P.row0[nl] = row0;
    P.nl = nl, P.no = no, P.rows = row0, P.n = n, P.lazy = lazy;
    const long long nrows = (long long)n * row0;
    float *mem = aligned_alloc(16, (sizeof(float) * (size_t)nrows * no + 4 * sizeof(float) + 15) / 16 * 16);
    float *got = mem + misalign, *want = malloc(sizeof(float) * (size_t)nrows * no);
    static y5d_row R[Y5D_ROWS];
    static float tile[Y5D_ROWS * Y5D_MAX_NO] __attribute__((aligned(16)));
    for (size_t i = 0; i < (size_t)nrows * no; i++) got[i] = NAN;
    /* the kernel, block by block: phase 1, barrier, phase 2, barrier, the
     * stores of each of the block's threads */
    for (long long first = 0; first < nrows; first += Y5D_ROWS) {
        const int nr = y5d_block_rows(first, nrows);
        for (int i = 0; i < nr; i++) y5d_phase1(&P, first, i, R);
        for (int i = 0; i < nr; i++)
            for (int k = 0; k < no; k++) y5d_phase2(&P, i, k, R, tile);
        for (int tid = 0; tid < Y5D_THREADS; tid++) y5d_store(got + first * no, tile, nr * no, tid, Y5D_THREADS);
    }
    /* the reference: layers/detect.c's row order and arithmetic */
    for (int b = 0; b < n; b++)
        for (int l = 0; l < nl; l++)
            for (int a = 0; a < na; a++)
                for (int y = 0; y < hs[l]; y++)
                    for (int x = 0; x < ws[l]; x++) {
                        const long long row = (long long)b * row0 + P.row0[l] + ((long long)a * hs[l] + y) * ws[l] + x;
                        const unsigned short *src = heads[l] + (((size_t)b * hs[l] + y) * ws[l] + x) * P.ld[l] + (size_t)a * no;
                        float *dst = want + row * no;
                        const float obj = sigm_ref(y5_half_to_float(src[4]));
                        for (int k = 0; k < no; k++) {
                            const float s = sigm_ref(y5_half_to_float(src[k]));
                            if (k == 0) dst[k] = (s * 2.0f + ((float)x - 0.5f)) * P.stride[l];
                            else if (k == 1) dst[k] = (s * 2.0f + ((float)y - 0.5f)) * P.stride[l];
                            else if (k < 4) dst[k] = (s * 2.0f) * (s * 2.0f) * P.anchors[l][2 * a + k - 2];
                            else if (k == 4) dst[k] = obj;
                            else dst[k] = lazy > 0 && !(obj > lazy) ? 0.0f : s;
                        }
                    }
    long long bad = 0, first_bad = -1;
    for (long long i = 0; i < nrows * no; i++)
        if (memcmp(&got[i], &want[i], sizeof(float))) {
            if (first_bad < 0) first_bad = i;
            bad++;
        }
    T_CHECK(bad == 0, "n %d nc %d lazy %g nl %d na %d +%d: %lld of %lld floats differ, first at row %lld col %lld "
            "(%.9g vs %.9g)", n, nc, (double)lazy, nl, na, misalign, bad, nrows * no, first_bad >= 0 ? first_bad / no : -1, first_bad >= 0 ? first_bad % no : -1,
            first_bad >= 0 ? (double)got[first_bad] : 0.0, first_bad >= 0 ? (double)want[first_bad] : 0.0);
    for (int l = 0; l < nl; l++) free(heads[l]);
    free(mem);
    free(want);
}

T_TEST(decode_tile_matches_row_loop) {
    /* YOLOv5's 3 levels of 3 anchors (2 x 477 rows: the last block partial) */
    run_case(2, 2, 0.0f, 3, 3, 0);
    run_case(2, 80, 0.0f, 3, 3, 0);
    run_case(2, 80, 0.25f, 3, 3, 0);
    run_case(1, 1, 0.5f, 3, 3, 0);
    /* the limits: 8 levels of 8 anchors (anchor index 15, row0[8]), the
     * widest row a tile holds (no 256: its last element 8191) */
    run_case(1, 3, 0.0f, 8, 8, 0);
    run_case(2, 251, 0.1f, 4, 2, 0);
    /* a pred not 16-byte aligned: every store on the scalar path */
    run_case(2, 80, 0.0f, 3, 3, 1);
    run_case(1, 2, 0.0f, 3, 3, 3);
}
