/* nms_block.h - the thread bodies of the GPU NMS (cuda/kernels_nms.cu), in
 * one header that compiles as C11 and as CUDA C++17: the kernels call these
 * functions, and tests/unit/test_nms_block.c runs the very same code on the
 * CPU (every thread of a phase, a barrier, the next phase) against
 * core/post/nms.c, so the batch NMS is proven bit for bit on any machine.
 *
 * Float arithmetic: the device pass spells every operation as an
 * intrinsic (__fadd_rn, __fmul_rn, ...) because nvcc would otherwise fuse
 * a*b+c into an FMA, which rounds once where core/post/nms.c rounds twice.
 * The host pass (C11, and nvcc's host side) writes plain operators: the
 * project's C is compiled as ISO C (-std=c11, so -ffp-contract=off) without
 * -mfma, on SSE (FLT_EVAL_METHOD 0), so each operator rounds once to float
 * exactly as nms.c's do. The IoU is compared in double with the threshold as
 * Python wrote it (y5_nms_py_threshold, core/post/nms.c).
 *
 * The steps, per image:
 *   y5n_cand_row  one pred row -> candidate keys (64 bits: high word the
 *                 confidence mapped so that ascending order is confidence
 *                 descending, low word row * nc + class = the CPU's candidate
 *                 order). Sorting the keys ascending is therefore nms.c's
 *                 stable sort by confidence, whatever order the atomics
 *                 appended them in.
 *   y5n_prep      a sorted key -> the box (x1 = cx - w/2 ...), the box offset
 *                 by class * 7680 (0 when agnostic), its area, the detection.
 *   the block     greedy NMS over the first n sorted candidates, one block
 *                 of Y5N_THREADS threads, in chunks of 64 candidates:
 *     phase A     each chunk candidate against every box kept so far, in
 *                 parallel (8 threads per candidate, a thread stops at the
 *                 first kept box that suppresses it or when another thread
 *                 of its candidate has found one);
 *     phase B     the chunk's 64 x 64 suppression bits in parallel (bit j of
 *                 row i: earlier candidate i suppresses later j), rows and
 *                 columns of candidates phase A suppressed left 0;
 *     phase C     one thread walks the chunk in order and keeps each
 *                 candidate no earlier kept box suppresses (a suppressed box
 *                 never suppresses), until `limit` are kept.
 *   That is nms.c's loop (each candidate against the kept boxes, in order)
 *   split at chunk borders: a candidate of the chunk is kept iff no box kept
 *   before the chunk (A) and no kept earlier box of the chunk (B, C)
 *   suppresses it. Why chunks of 64 and not the IoU bitmask of all n x n
 *   pairs (the per-image path below 32768 candidates): the bitmask needs
 *   n^2/8 bytes per image (112 MB at val.py's 30000) and a grid of its own,
 *   and the work here stops as soon as `limit` boxes are kept.
 *
 * The block's shared state is y5n_chunk; between two phases every thread
 * must have finished the previous one (__syncthreads on the GPU, the loop
 * order in the test). Phase A's only shared write is sup[c] = 1, which
 * several threads may do at once (same value; the read that stops a thread
 * early is volatile and only saves work, it cannot change a result). */
#ifndef Y5_NMS_BLOCK_H
#define Y5_NMS_BLOCK_H

#include <string.h>  /* memcpy: the host's bit casts */
#include <yolov5c.h> /* y5_det */

#ifdef __CUDACC__
#define Y5N_HD static inline __host__ __device__
#define Y5N_ALIGN16 alignas(16)
#else
#define Y5N_HD static inline
#define Y5N_ALIGN16 _Alignas(16)
#endif

#ifdef __CUDA_ARCH__
#define Y5N_ADD(a, b) __fadd_rn((a), (b))
#define Y5N_SUB(a, b) __fsub_rn((a), (b))
#define Y5N_MUL(a, b) __fmul_rn((a), (b))
#define Y5N_DIV(a, b) __fdiv_rn((a), (b))
#define Y5N_INC(p) atomicAdd((p), 1u)
#else
#define Y5N_ADD(a, b) ((a) + (b))
#define Y5N_SUB(a, b) ((a) - (b))
#define Y5N_MUL(a, b) ((a) * (b))
#define Y5N_DIV(a, b) ((a) / (b))
#define Y5N_INC(p) ((*(p))++)
#endif

#define Y5N_MAX_WH 7680.0f /* ultralytics' class offset */
#define Y5N_CHUNK 64       /* candidates per chunk: one 64-bit word of suppression bits per row */
#define Y5N_TPC 8          /* threads per chunk candidate in phases A and B */
#define Y5N_THREADS (Y5N_CHUNK * Y5N_TPC)

/* A box as nms.c offsets it (x1, y1, x2, y2), 16-byte aligned so a GPU
 * thread loads it in one instruction. */
typedef struct {
    Y5N_ALIGN16 float x1;
    float y1, x2, y2;
} y5n_box;

Y5N_HD unsigned int y5n_f2u(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    unsigned int u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

Y5N_HD float y5n_u2f(unsigned int u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* Ascending key = descending confidence (the float's bits made monotonic,
 * then complemented). */
Y5N_HD unsigned int y5n_conf_key(float f) {
    const unsigned int u = y5n_f2u(f);
    const unsigned int asc = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~asc;
}

Y5N_HD float y5n_conf_of_key(unsigned int k) {
    const unsigned int asc = ~k;
    const unsigned int u = (asc & 0x80000000u) ? (asc & 0x7fffffffu) : ~asc;
    return y5n_u2f(u);
}

/* Row r of the pred (p: its no = 5 + nc floats) -> its candidates, appended
 * at keys[*count++] while the count is below cap (the count goes on past
 * cap: the caller sees the overflow). Single label: the first maximum of
 * cls * obj (a NaN product is taken and then fails > thr, as nms.c's), kept
 * when > thr and its class wanted; multi label: every class with
 * cls * obj > thr. cls_ok: NULL, or 1 per wanted class. */
Y5N_HD void y5n_cand_row(const float *p, unsigned int r, int nc, float thr, int multi, const unsigned char *cls_ok,
                         unsigned long long *keys, unsigned int *count, unsigned int cap) {
    const float obj = p[4];
    if (!(obj > thr)) return;
    if (multi) {
        for (int c = 0; c < nc; c++) {
            const float s = Y5N_MUL(p[5 + c], obj);
            if (!(s > thr) || (cls_ok && !cls_ok[c])) continue;
            const unsigned int at = Y5N_INC(count);
            if (at < cap)
                keys[at] = ((unsigned long long)y5n_conf_key(s) << 32) | (r * (unsigned int)nc + (unsigned int)c);
        }
    } else {
        float best = Y5N_MUL(p[5], obj);
        int bc = 0;
        for (int c = 1; c < nc; c++) {
            const float s = Y5N_MUL(p[5 + c], obj);
            if (s > best || s != s) {
                best = s;
                bc = c;
            }
        }
        if (!(best > thr) || (cls_ok && !cls_ok[bc])) return;
        const unsigned int at = Y5N_INC(count);
        if (at < cap)
            keys[at] = ((unsigned long long)y5n_conf_key(best) << 32) | (r * (unsigned int)nc + (unsigned int)bc);
    }
}

/* A sorted candidate key -> its offset box and area (for the IoU) and its
 * detection (network-input pixels), from the image's pred rows. */
Y5N_HD void y5n_prep(unsigned long long key, const float *pred, int nc, int no, int agnostic, y5n_box *box,
                     float *area, y5_det *det) {
    const unsigned int idx = (unsigned int)key;
    const int r = (int)(idx / (unsigned int)nc), c = (int)(idx % (unsigned int)nc);
    const float *p = pred + (long long)r * no;
    const float hw = Y5N_DIV(p[2], 2.0f), hh = Y5N_DIV(p[3], 2.0f);
    const float x1 = Y5N_SUB(p[0], hw), y1 = Y5N_SUB(p[1], hh);
    const float x2 = Y5N_ADD(p[0], hw), y2 = Y5N_ADD(p[1], hh);
    const float off = agnostic ? 0.0f : Y5N_MUL((float)c, Y5N_MAX_WH);
    y5n_box b;
    b.x1 = Y5N_ADD(x1, off);
    b.y1 = Y5N_ADD(y1, off);
    b.x2 = Y5N_ADD(x2, off);
    b.y2 = Y5N_ADD(y2, off);
    *box = b;
    *area = Y5N_MUL(Y5N_SUB(b.x2, b.x1), Y5N_SUB(b.y2, b.y1));
    det->x1 = x1;
    det->y1 = y1;
    det->x2 = x2;
    det->y2 = y2;
    det->conf = y5n_conf_of_key((unsigned int)(key >> 32));
    det->cls = c;
}

/* nms.c's test, k the kept (earlier) box and c the later candidate: the
 * argument order matters where a coordinate is NaN (a > b ? a : b). 0 / 0
 * (two empty boxes) is NaN in torchvision: never above. */
Y5N_HD int y5n_iou_above(y5n_box k, float ka, y5n_box c, float ca, double thr) {
    const float xx1 = k.x1 > c.x1 ? k.x1 : c.x1;
    const float yy1 = k.y1 > c.y1 ? k.y1 : c.y1;
    const float xx2 = k.x2 < c.x2 ? k.x2 : c.x2;
    const float yy2 = k.y2 < c.y2 ? k.y2 : c.y2;
    const float dw = Y5N_SUB(xx2, xx1), dh = Y5N_SUB(yy2, yy1);
    const float w = dw > 0.f ? dw : 0.f;
    const float h = dh > 0.f ? dh : 0.f;
    const float inter = Y5N_MUL(w, h);
    const float uni = Y5N_SUB(Y5N_ADD(ka, ca), inter);
    return uni != 0.f && (double)Y5N_DIV(inter, uni) > thr;
}

/* ---- the block ---------------------------------------------------------- */

/* One image's greedy NMS: its inputs and where its kept boxes go. */
typedef struct {
    const y5n_box *box;  /* the n sorted candidates: offset boxes, */
    const float *area;   /* their areas */
    const y5_det *det;   /* and detections */
    int n, limit;        /* candidates; boxes to keep at most (> 0) */
    double thr;          /* IoU threshold as Python wrote it */
    y5n_box *kbox;       /* limit slots: the kept boxes (offset) so far, */
    float *karea;        /* their areas */
    y5_det *out;         /* limit slots: the kept detections, in order */
} y5n_block;

/* The block's shared state. */
typedef struct {
    int base;                                /* the chunk's first candidate */
    int nk;                                  /* boxes kept so far */
    unsigned char sup[Y5N_CHUNK];            /* A: 1 = a box kept before the chunk suppresses candidate c */
    unsigned char row[Y5N_CHUNK][Y5N_TPC];   /* B: byte g of row i = bits j in [8g, 8g+8) */
} y5n_chunk;

/* Thread 0, before the first chunk. */
Y5N_HD void y5n_block_init(y5n_chunk *s) {
    s->base = 0;
    s->nk = 0;
    for (int c = 0; c < Y5N_CHUNK; c++) s->sup[c] = 0;
}

/* Every thread, at the top of each chunk: whether there is one. */
Y5N_HD int y5n_block_more(const y5n_chunk *s, const y5n_block *k) { return s->base < k->n && s->nk < k->limit; }

Y5N_HD int y5n_chunk_len(const y5n_chunk *s, const y5n_block *k) {
    const int m = k->n - s->base;
    return m < Y5N_CHUNK ? m : Y5N_CHUNK;
}

/* Phase A, thread t of Y5N_THREADS: candidate t / 8 of the chunk against
 * kept boxes t % 8, t % 8 + 8, ... */
Y5N_HD void y5n_phase_a(y5n_chunk *s, const y5n_block *k, int t) {
    const int c = t / Y5N_TPC, lane = t % Y5N_TPC;
    if (c >= y5n_chunk_len(s, k)) return;
    const y5n_box cb = k->box[s->base + c];
    const float ca = k->area[s->base + c];
    volatile unsigned char *sup = s->sup;
    for (int i = lane; i < s->nk; i += Y5N_TPC) {
        if (sup[c]) return; /* another thread of this candidate found a suppressor */
        if (y5n_iou_above(k->kbox[i], k->karea[i], cb, ca, k->thr)) {
            sup[c] = 1;
            return;
        }
    }
}

/* Phase B, thread t: byte t % 8 of row t / 8 (every byte written, 0 where
 * nothing is suppressed, so no clearing between chunks). A candidate
 * phase A suppressed is never kept, so its row stays 0 (it suppresses
 * nothing) and no bit is spent on it as a column. */
Y5N_HD void y5n_phase_b(y5n_chunk *s, const y5n_block *k, int t) {
    const int i = t / Y5N_TPC, g = t % Y5N_TPC, m = y5n_chunk_len(s, k);
    unsigned int bits = 0;
    if (i < m && !s->sup[i]) {
        const y5n_box bi = k->box[s->base + i];
        const float ai = k->area[s->base + i];
        for (int jj = 0; jj < 8; jj++) {
            const int j = g * 8 + jj;
            if (j <= i || j >= m || s->sup[j]) continue;
            if (y5n_iou_above(bi, ai, k->box[s->base + j], k->area[s->base + j], k->thr)) bits |= 1u << jj;
        }
    }
    s->row[i][g] = (unsigned char)bits;
}

/* Phase C, thread 0 alone: the chunk in order; clears sup for the next chunk. */
Y5N_HD void y5n_phase_c(y5n_chunk *s, const y5n_block *k) {
    const int m = y5n_chunk_len(s, k);
    unsigned long long removed = 0;
    for (int c = 0; c < m; c++)
        if (s->sup[c]) removed |= 1ULL << c;
    int nk = s->nk;
    for (int j = 0; j < m && nk < k->limit; j++) {
        if ((removed >> j) & 1ULL) continue;
        k->kbox[nk] = k->box[s->base + j];
        k->karea[nk] = k->area[s->base + j];
        k->out[nk] = k->det[s->base + j];
        nk++;
        unsigned long long w = 0;
        for (int g = 0; g < Y5N_TPC; g++) w |= (unsigned long long)s->row[j][g] << (8 * g);
        removed |= w;
    }
    for (int c = 0; c < Y5N_CHUNK; c++) s->sup[c] = 0;
    s->nk = nk;
    s->base += Y5N_CHUNK;
}

/* ---- the batch's key storage ---------------------------------------------
 * Key slots per image for a batch NMS (host code): the image's most
 * candidates (full: rows, or rows * nc for multi label) when the batch's
 * buffers fit `bound` bytes, else fewer (an image with more candidates than
 * its slots is redone by the per-image path: the kernels see the count
 * overflow). Per slot: two 8-byte keys (cub sorts from one buffer into the
 * other); per candidate that reaches NMS (at most max_nms, 0 = no limit): a
 * 16-byte box, a 4-byte area and a 24-byte detection. Returns 0 when even one
 * slot per image does not fit. */
#define Y5N_KEY_BYTES 16ull
#define Y5N_PREP_BYTES (16ull + 4ull + (unsigned long long)sizeof(y5_det))
Y5N_HD unsigned long long y5n_batch_cap(int images, unsigned long long full, int max_nms, unsigned long long bound) {
    if (images <= 0 || full == 0) return 0;
    const unsigned long long per = bound / (unsigned long long)images;
    const unsigned long long mn = max_nms > 0 ? (unsigned long long)max_nms : full;
    const unsigned long long fn = full < mn ? full : mn;
    if (full * Y5N_KEY_BYTES + fn * Y5N_PREP_BYTES <= per) return full;
    /* the first max_nms candidates all fit: the rest of the budget is key slots */
    if (mn < full && mn * (Y5N_KEY_BYTES + Y5N_PREP_BYTES) <= per) {
        const unsigned long long c = (per - mn * Y5N_PREP_BYTES) / Y5N_KEY_BYTES;
        return c < full ? c : full;
    }
    return per / (Y5N_KEY_BYTES + Y5N_PREP_BYTES);
}

#endif
