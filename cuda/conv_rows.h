/* conv_rows.h - how the conv's two memory-bound kernels around the cuBLAS
 * GEMM (cuda/kernels_conv.cu) map threads to work, in one header that
 * compiles as C11 and as CUDA C++17: the kernels call these functions, and
 * tests/unit/test_conv_rows.c runs the very same code on the CPU (block by
 * block, thread by thread) against an independent im2col, so the index
 * arithmetic is proven on any machine.
 *
 * Why "rows x lanes": the first version gave every thread one element (or 8)
 * of a flat index and recovered (pixel, tap, channel) from it with 64-bit
 * divisions per element. On an H200 the stem conv (6x6 s2, cin 3: K = 108,
 * one element per thread) spent 6.3 ms of a 15 ms yolov5m batch-32 forward
 * in that im2col, at 63 GB/s. Here a block is bdy rows (output pixels) of bdx
 * lanes: a row's pixel is decomposed once per thread, lanes walk the row's
 * K (im2col) or channels (epilogue) with 32-bit arithmetic, and a warp's 32
 * lanes touch consecutive addresses of one row. The epilogue kernels walk
 * the same way (rows of output pixels, lanes over channel groups).
 *
 * im2col: NHWC half input -> column matrix, one row of K = k*k*cin halves
 * per output pixel m = (n, oy, ox) in the order (ky, kx, ci) the packed
 * weights use; out-of-image taps are 0; rows ldcol apart (K rounded up to 8;
 * the tail is never read). vec = 8: 8 channels per lane (16-byte copies:
 * cin, ld_in, ldcol multiples of 8, pointers 16-byte aligned); vec = 1: one
 * half per lane (any cin, e.g. the stem's 3). Halves travel as their 16-bit
 * patterns (unsigned short): this file never does arithmetic on them. */
#ifndef Y5_CONV_ROWS_H
#define Y5_CONV_ROWS_H

#ifdef __CUDACC__
#define Y5R_HD static inline __host__ __device__
#define Y5R_COPY16(dst, src) (*reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src))
#define Y5R_ZERO16(dst) (*reinterpret_cast<uint4 *>(dst) = make_uint4(0u, 0u, 0u, 0u))
#define Y5R_STORE16U(dst, q) (*reinterpret_cast<uint4 *>(dst) = make_uint4((q)[0], (q)[1], (q)[2], (q)[3]))
#else
#include <string.h>
#define Y5R_HD static inline
#define Y5R_COPY16(dst, src) memcpy((dst), (src), 16)
#define Y5R_ZERO16(dst) memset((dst), 0, 16)
#define Y5R_STORE16U(dst, q) memcpy((dst), (q), 16) /* little-endian hosts: the same bytes */
#endif

#define Y5R_THREADS 256 /* threads per block: bdx * bdy */

/* Lanes per row: the smallest power of two >= the row's work items, at most
 * a warp (so a short row does not leave most of a warp idle); bdy rows fill
 * the block. */
Y5R_HD int y5r_lanes(long long items) {
    int x = 1;
    while (x < 32 && x < items) x <<= 1;
    return x;
}

typedef struct {
    const unsigned short *in; /* the input view's first channel */
    unsigned short *col;      /* the column matrix's first row (row i is pixel m0 + i) */
    int h, w, cin, ld_in;     /* input pixels per image, channels, halves between pixels */
    int k, s, p, ho, wo;      /* kernel, stride, padding, output size */
    int K, ldcol;             /* row length k*k*cin, halves between rows */
    long long m0, mc;         /* first output pixel, rows in this chunk */
} y5r_im2col;

/* One thread's share of an im2col launch: block bid of nblk, thread (tx, ty)
 * of a bdx x bdy block. VEC is 8 or 1 (a constant at every call site, so the
 * compiler drops the other branch). */
Y5R_HD void y5r_im2col_thread(const y5r_im2col *a, int VEC, unsigned bid, unsigned nblk, unsigned tx, unsigned ty,
                              unsigned bdx, unsigned bdy) {
    const long long hw = (long long)a->ho * a->wo;
    const int nv = a->K / VEC;
    for (long long i = (long long)bid * bdy + ty; i < a->mc; i += (long long)nblk * bdy) {
        const long long m = a->m0 + i;
        const long long b = m / hw;
        const int rem = (int)(m - b * hw);
        const int oy = rem / a->wo, ox = rem - oy * a->wo;
        const int iy0 = oy * a->s - a->p, ix0 = ox * a->s - a->p;
        const unsigned short *img = a->in + b * a->h * a->w * (long long)a->ld_in;
        unsigned short *row = a->col + i * a->ldcol;
        for (int v = (int)tx; v < nv; v += (int)bdx) {
            const int kk = v * VEC;
            const int tap = kk / a->cin, ci = kk - tap * a->cin;
            const int ky = tap / a->k, kx = tap - ky * a->k;
            const int iy = iy0 + ky, ix = ix0 + kx;
            const int inside = iy >= 0 && iy < a->h && ix >= 0 && ix < a->w;
            const unsigned short *src = img + ((long long)iy * a->w + ix) * a->ld_in + ci;
            if (VEC == 8) {
                if (inside) Y5R_COPY16(row + kk, src);
                else Y5R_ZERO16(row + kk);
            } else {
                row[kk] = inside ? *src : (unsigned short)0; /* +0.0 in half */
            }
        }
    }
}

/* Channel padding before a conv whose cin is not a multiple of 8 (the RGB
 * stem): pixel i's cin halves (ld_in apart) become a dense row of cpad
 * halves (cpad a multiple of 8, > cin), the added channels +0.0. One thread
 * per 16-byte group of an output row: item g = (pixel, group). */
Y5R_HD void y5r_pad_item(const unsigned short *in, int cin, int ld_in, unsigned short *out, int cpad, long long g) {
    const int groups = cpad / 8;
    const long long px = g / groups;
    const int c0 = (int)(g - px * groups) * 8;
    const unsigned short *src = in + px * ld_in;
    unsigned int q[4]; /* two halves per word, the lower address in the low bits */
    for (int j = 0; j < 4; j++) {
        const int a = c0 + 2 * j, b = a + 1;
        q[j] = (a < cin ? (unsigned int)src[a] : 0u) | (b < cin ? (unsigned int)src[b] : 0u) << 16;
    }
    Y5R_STORE16U(out + px * cpad + c0, q);
}

#endif
