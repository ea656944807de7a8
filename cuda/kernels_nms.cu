/* kernels_nms.cu - candidates + class-aware NMS on the GPU, the same rules
 * and float arithmetic as core/post/nms.c, so it returns the same boxes. The
 * per-thread bodies (candidate keys, box prep, IoU test, the batch NMS's
 * block phases) live in cuda/nms_block.h, which tests/unit/test_nms_block.c
 * runs on the CPU against nms.c.
 *
 * Two paths. y5_cuda_nms: one image, its result on the host on return (it
 * synchronises twice: the candidate count sizes the sort, then the boxes
 * come back); tests, tiles and the engine's per-image NMS use it.
 * y5_cuda_nms_submit / _take (at the end of this file): every image of a
 * batch queued behind the forward with no synchronisation, the results
 * read after the forward's wait; the detect pipeline uses it.
 *
 * The per-image path:
 * 1. candidates: one thread per pred row (y5n_cand_row): obj > conf; single
 *    label: the first maximum of cls * obj (float32 products; a NaN drops
 *    the row, as on the CPU), kept when > conf and wanted; multi label: every
 *    class with cls * obj > conf. Each appends a 64-bit key: high word the
 *    confidence mapped so that ascending order is confidence descending, low
 *    word row * nc + class, which is the CPU's candidate order. Sorting the
 *    keys ascending (cub radix sort) is therefore the CPU's stable sort by
 *    confidence descending, whatever order the atomics appended them in.
 * 2. the first max_nms sorted candidates get their box (x1 = cx - w/2 ...),
 *    the box offset by class * 7680 (0 when agnostic) and its area (y5n_prep).
 * 3. greedy NMS, IoU > iou_thres strict (the float IoU compared in double
 *    with the threshold as Python wrote it), stopping at min(max_det,
 *    max_out) kept:
 *    - up to 32768 candidates: a 64x64-tiled kernel computes for each box
 *      the bitmask of later boxes it would suppress, and one warp scans the
 *      boxes in order keeping every box no kept box suppresses (a suppressed
 *      box never suppresses: the same result as core/post/nms.c's loop);
 *    - above that (only when max_nms allows it): one block walks the
 *      candidates in order, testing each against the kept boxes in parallel.
 * 4. the kept boxes (network pixels) and their count come back in one copy. */
#include "cuda/cuda_internal.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/post/nms.h" /* y5_nms_py_threshold */
#include "cuda/nms_block.h"

#define THREADS 256
#define MASK_MAX 32768

__global__ void k_nms_cand(const float *__restrict__ pred, int rows, int nc, int no, float thr, int multi,
                           const unsigned char *__restrict__ cls_ok, unsigned long long *__restrict__ keys,
                           unsigned int *count, unsigned int cap) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x)
        y5n_cand_row(pred + (long long)r * no, (unsigned int)r, nc, thr, multi, cls_ok, keys, count, cap);
}

__global__ void k_nms_prep(const unsigned long long *__restrict__ sorted, int n, const float *__restrict__ pred,
                           int nc, int no, int agnostic, y5n_box *__restrict__ box, float *__restrict__ area,
                           y5_det *__restrict__ det) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y5n_prep(sorted[i], pred, nc, no, agnostic, box + i, area + i, det + i);
}

/* mask[i * col_blocks + cb] bit jj: box i suppresses box cb*64 + jj (> i). */
__global__ void k_nms_mask(const y5n_box *__restrict__ box, const float *__restrict__ area, int n, int col_blocks,
                           double thr, unsigned long long *__restrict__ mask) {
    const int rb = blockIdx.y, cb = blockIdx.x;
    if (cb < rb) return;
    __shared__ y5n_box sb[64];
    __shared__ float sa[64];
    const int t = threadIdx.x, j0 = cb * 64;
    if (j0 + t < n) {
        sb[t] = box[j0 + t];
        sa[t] = area[j0 + t];
    }
    __syncthreads();
    const int i = rb * 64 + t;
    if (i >= n) return;
    const y5n_box bi = box[i];
    const float ai = area[i];
    const int jn = n - j0 < 64 ? n - j0 : 64;
    unsigned long long bits = 0;
    for (int jj = cb == rb ? t + 1 : 0; jj < jn; jj++)
        if (y5n_iou_above(bi, ai, sb[jj], sa[jj], thr)) bits |= 1ULL << jj;
    mask[(size_t)i * col_blocks + cb] = bits;
}

/* One warp: walk the boxes in order, keep the first not yet suppressed. */
__global__ void k_nms_scan(const unsigned long long *__restrict__ mask, int n, int col_blocks, int limit,
                           int *__restrict__ kept, unsigned int *count) {
    extern __shared__ unsigned long long removed[];
    const int lane = threadIdx.x;
    for (int w = lane; w < col_blocks; w += 32) removed[w] = 0ULL;
    __syncwarp();
    int nk = 0;
    for (int wi = 0; wi < col_blocks && nk < limit; wi++) {
        const int base = wi * 64;
        const unsigned long long valid = n - base >= 64 ? ~0ULL : (1ULL << (n - base)) - 1ULL;
        unsigned long long cur = removed[wi];
        while (nk < limit) {
            const unsigned long long avail = ~cur & valid;
            if (!avail) break;
            const int bit = __ffsll((long long)avail) - 1;
            const int i = base + bit;
            if (lane == 0) kept[nk] = i;
            nk++;
            const unsigned long long *row = mask + (size_t)i * col_blocks;
            cur |= row[wi] | (1ULL << bit);
            for (int w = wi + 1 + lane; w < col_blocks; w += 32) removed[w] |= row[w];
            __syncwarp();
        }
    }
    if (lane == 0) count[1] = (unsigned int)nk;
}

/* One block, any n: each candidate against all kept boxes in parallel. */
__global__ void k_nms_greedy(const y5n_box *__restrict__ box, const float *__restrict__ area, int n, int limit,
                             double thr, int *kept, unsigned int *count) {
    int nk = 0;
    for (int t = 0; t < n && nk < limit; t++) {
        const y5n_box c = box[t];
        const float ca = area[t];
        int sup = 0;
        for (int k = threadIdx.x; k < nk; k += blockDim.x) {
            const int i = kept[k];
            if (y5n_iou_above(box[i], area[i], c, ca, thr)) { sup = 1; break; }
        }
        sup = __syncthreads_or(sup);
        if (!sup) {
            if (threadIdx.x == 0) kept[nk] = t;
            nk++;
            __syncthreads();
        }
    }
    if (threadIdx.x == 0) count[1] = (unsigned int)nk;
}

__global__ void k_nms_gather(const y5_det *__restrict__ det, const int *__restrict__ kept,
                             const unsigned int *count, int limit, y5_det *__restrict__ out) {
    const int nk = (int)count[1];
    for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < nk && k < limit; k += gridDim.x * blockDim.x)
        out[k] = det[kept[k]];
}

static int grow3(cu_impl *m, size_t n) {
    if (n <= m->nms_box_cap && m->nms_box) return 0;
    if (m->nms_box) CU_CK(m, cudaFree(m->nms_box));
    if (m->nms_area) CU_CK(m, cudaFree(m->nms_area));
    if (m->nms_det) CU_CK(m, cudaFree(m->nms_det));
    m->nms_box = NULL;
    m->nms_area = NULL;
    m->nms_det = NULL;
    m->nms_box_cap = 0;
    if (CU_CK(m, cudaMalloc((void **)&m->nms_box, n * sizeof(y5n_box))) ||
        CU_CK(m, cudaMalloc((void **)&m->nms_area, n * sizeof(float))) ||
        CU_CK(m, cudaMalloc((void **)&m->nms_det, n * sizeof(y5_det))))
        return -1;
    m->nms_box_cap = n;
    return 0;
}

static int grow_kept(cu_impl *m, size_t n) {
    if (n <= m->nms_kept_cap && m->nms_kept) return 0;
    if (m->nms_kept) CU_CK(m, cudaFree(m->nms_kept));
    if (m->nms_out) CU_CK(m, cudaFree(m->nms_out));
    m->nms_kept = NULL;
    m->nms_out = NULL;
    m->nms_kept_cap = 0;
    if (CU_CK(m, cudaMalloc((void **)&m->nms_kept, n * sizeof(int))) ||
        CU_CK(m, cudaMalloc((void **)&m->nms_out, n * sizeof(y5_det))))
        return -1;
    m->nms_kept_cap = n;
    return 0;
}

static int grow_keys(cu_impl *m, size_t n) {
    if (n <= m->nms_key_cap && m->nms_keys) return 0;
    if (m->nms_keys) CU_CK(m, cudaFree(m->nms_keys));
    if (m->nms_sorted) CU_CK(m, cudaFree(m->nms_sorted));
    m->nms_keys = NULL;
    m->nms_sorted = NULL;
    m->nms_key_cap = 0;
    if (CU_CK(m, cudaMalloc((void **)&m->nms_keys, n * sizeof(unsigned long long))) ||
        CU_CK(m, cudaMalloc((void **)&m->nms_sorted, n * sizeof(unsigned long long))))
        return -1;
    m->nms_key_cap = n;
    return 0;
}

#define HDR 16 /* pinned result: count, then the boxes */

/* The class filter (NULL: none) as a device mask of nc bytes. Uploaded only
 * when it differs from the mask uploaded last: the upload is from pageable
 * memory and waits for the stream, which the batch NMS must not do per
 * batch (a run keeps one filter, so it uploads once). The host mask is built
 * in a buffer kept with the backend (nms_cls_tmp), so a batch allocates
 * nothing. */
static int class_mask(cu_impl *m, const y5_nms_opts *o, int nc, const unsigned char **out, char *err, size_t errlen) {
    *out = NULL;
    if (!o->classes || o->n_classes <= 0) return 0;
    if ((size_t)nc > m->nms_cls_tmp_cap) {
        unsigned char *t = (unsigned char *)realloc(m->nms_cls_tmp, (size_t)nc);
        if (!t) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        m->nms_cls_tmp = t;
        m->nms_cls_tmp_cap = (size_t)nc;
    }
    unsigned char *hm = m->nms_cls_tmp;
    memset(hm, 0, (size_t)nc);
    for (int k = 0; k < o->n_classes; k++)
        if (o->classes[k] >= 0 && o->classes[k] < nc) hm[o->classes[k]] = 1;
    if (m->nms_cls && m->nms_cls_h && m->nms_cls_nc == nc && memcmp(hm, m->nms_cls_h, (size_t)nc) == 0) {
        *out = m->nms_cls;
        return 0;
    }
    m->nms_cls_nc = 0;
    if (cu_grow(m, (void **)&m->nms_cls, &m->nms_cls_cap, (size_t)nc) ||
        CU_CK(m, cudaMemcpyAsync(m->nms_cls, hm, (size_t)nc, cudaMemcpyHostToDevice, m->stream)) ||
        CU_CK(m, cudaStreamSynchronize(m->stream))) /* hm is pageable */
        return cu_take_error(m, err, errlen);
    /* the uploaded mask becomes the kept copy; the old copy the next scratch */
    unsigned char *old = m->nms_cls_h;
    const size_t old_cap = m->nms_cls_h_cap;
    m->nms_cls_h = hm;
    m->nms_cls_h_cap = m->nms_cls_tmp_cap;
    m->nms_cls_tmp = old;
    m->nms_cls_tmp_cap = old ? old_cap : 0;
    m->nms_cls_nc = nc;
    *out = m->nms_cls;
    return 0;
}

extern "C" int y5_cuda_nms(y5_backend *b, int image, int rows, int no, const y5_nms_opts *o, y5_det *out,
                           int max_out, char *err, size_t errlen) {
    if (!y5_cuda_is(b)) {
        snprintf(err, errlen, "cuda: nms: not a CUDA backend");
        return -1;
    }
    cu_impl *m = cu_of(b);
    y5_nms_opts def;
    if (!o) {
        y5_nms_defaults(&def);
        o = &def;
    }
    const int nc = no - 5;
    if (rows <= 0 || nc < 1 || max_out <= 0 || o->max_det <= 0) return 0;
    if (m->capturing) {
        snprintf(err, errlen, "cuda: nms: called during a graph capture");
        return -1;
    }
    if (image < 0 || !m->pred || (size_t)(image + 1) * rows * no > m->pred_floats) {
        snprintf(err, errlen, "cuda: nms: image %d of %d rows x %d is outside the pred (%zu floats)", image, rows, no,
                 m->pred_floats);
        return -1;
    }
    const int multi = o->multi_label && nc > 1;
    const size_t cap = multi ? (size_t)rows * nc : (size_t)rows;
    if ((size_t)rows * nc >= 0x7FFFFFFFull) { /* keys hold row * nc + class; cub sorts int counts */
        snprintf(err, errlen, "cuda: nms: %d rows x %d classes is too many", rows, nc);
        return -1;
    }
    if (cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (cu_take_error(m, err, errlen)) return -1; /* an earlier op's error */
    const int limit = o->max_det < max_out ? o->max_det : max_out;
    const float *pred = m->pred + (size_t)image * rows * no;
    if (grow_keys(m, cap) || grow_kept(m, (size_t)limit) ||
        cu_grow_host(m, &m->nms_h, &m->nms_h_cap, HDR + (size_t)limit * sizeof(y5_det)))
        return cu_take_error(m, err, errlen);
    const unsigned char *cls_ok = NULL;
    if (class_mask(m, o, nc, &cls_ok, err, errlen)) return -1;
    unsigned int *hcount = (unsigned int *)m->nms_h;
    if (CU_CK(m, cudaMemsetAsync(m->nms_count, 0, 2 * sizeof(unsigned int), m->stream)))
        return cu_take_error(m, err, errlen);
    k_nms_cand<<<cu_blocks(m, rows, THREADS), THREADS, 0, m->stream>>>(pred, rows, nc, no, o->conf_thres, multi,
                                                                      cls_ok, m->nms_keys, m->nms_count,
                                                                      (unsigned int)cap);
    if (CU_CK(m, cudaGetLastError()) ||
        CU_CK(m, cudaMemcpyAsync(hcount, m->nms_count, sizeof(unsigned int), cudaMemcpyDeviceToHost, m->stream)) ||
        CU_CK(m, cudaStreamSynchronize(m->stream)))
        return cu_take_error(m, err, errlen);
    const size_t cnt = hcount[0];
    if (cnt == 0) return 0;
    if (cnt > cap) {
        snprintf(err, errlen, "cuda: nms: %zu candidates for %zu slots", cnt, cap);
        return -1;
    }
    size_t tmp_bytes = 0;
    if (CU_CK(m, cub::DeviceRadixSort::SortKeys(NULL, tmp_bytes, m->nms_keys, m->nms_sorted, (int)cnt, 0, 64,
                                                m->stream)) ||
        cu_grow(m, &m->nms_tmp, &m->nms_tmp_cap, tmp_bytes) ||
        CU_CK(m, cub::DeviceRadixSort::SortKeys(m->nms_tmp, tmp_bytes, m->nms_keys, m->nms_sorted, (int)cnt, 0, 64,
                                                m->stream)))
        return cu_take_error(m, err, errlen);
    const int n = (int)(o->max_nms > 0 && cnt > (size_t)o->max_nms ? (size_t)o->max_nms : cnt);
    if (grow3(m, (size_t)n)) return cu_take_error(m, err, errlen);
    k_nms_prep<<<cu_blocks(m, n, THREADS), THREADS, 0, m->stream>>>(m->nms_sorted, n, pred, nc, no, o->agnostic,
                                                                   m->nms_box, m->nms_area, m->nms_det);
    if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
    const double thr = y5_nms_py_threshold(o->iou_thres);
    if (!m->nms_greedy && n <= MASK_MAX) {
        const int col_blocks = (n + 63) / 64;
        size_t mask_cap = m->nms_mask ? m->nms_mask_cap * sizeof(unsigned long long) : 0;
        size_t words = (size_t)n * col_blocks;
        if (words > m->nms_mask_cap || !m->nms_mask) {
            m->nms_mask_cap = 0;
            if (cu_grow(m, (void **)&m->nms_mask, &mask_cap, words * sizeof(unsigned long long)))
                return cu_take_error(m, err, errlen);
            m->nms_mask_cap = words;
        }
        k_nms_mask<<<dim3((unsigned)col_blocks, (unsigned)col_blocks), 64, 0, m->stream>>>(
            m->nms_box, m->nms_area, n, col_blocks, thr, m->nms_mask);
        if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
        k_nms_scan<<<1, 32, (size_t)col_blocks * sizeof(unsigned long long), m->stream>>>(
            m->nms_mask, n, col_blocks, limit, m->nms_kept, m->nms_count);
    } else {
        k_nms_greedy<<<1, 1024, 0, m->stream>>>(m->nms_box, m->nms_area, n, limit, thr, m->nms_kept, m->nms_count);
    }
    if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
    k_nms_gather<<<cu_blocks(m, limit, THREADS), THREADS, 0, m->stream>>>(m->nms_det, m->nms_kept, m->nms_count,
                                                                         limit, m->nms_out);
    y5_det *hdet = (y5_det *)((char *)m->nms_h + HDR);
    if (CU_CK(m, cudaGetLastError()) ||
        CU_CK(m, cudaMemcpyAsync(hcount, m->nms_count + 1, sizeof(unsigned int), cudaMemcpyDeviceToHost,
                                 m->stream)) ||
        CU_CK(m, cudaMemcpyAsync(hdet, m->nms_out, (size_t)limit * sizeof(y5_det), cudaMemcpyDeviceToHost,
                                 m->stream)) ||
        CU_CK(m, cudaStreamSynchronize(m->stream)))
        return cu_take_error(m, err, errlen);
    int kept = (int)hcount[0];
    if (kept > limit) kept = limit;
    memcpy(out, hdet, (size_t)kept * sizeof(y5_det));
    return kept;
}

/* ------------------------------------------------------------ batch NMS
 * Every image of the forward in one queue of kernels on the backend's
 * stream and one async copy of the results into pinned memory: no host
 * synchronisation (the per-image path above synchronises twice per image:
 * its candidate count sizes the sort, and the boxes come back). The host
 * reads the results after the stream sync it does anyway for the forward.
 *
 *   nmsb_res (device) and nmsb_h (its pinned copy):
 *     unsigned cand[images]   candidates found (> cap: the image's keys did
 *                             not fit; take redoes it with the per-image path)
 *     unsigned kept[images]   boxes kept
 *     (padded to 16 bytes: nmsb_hdr)
 *     y5_det det[images][limit]
 *
 * 1. k_nmsb_cand: one thread per (image, row), y5n_cand_row into the image's
 *    own cap key slots with the image's own atomic counter.
 * 2. k_nmsb_seg: counts -> each image's segment [b*cap, b*cap + count) and
 *    its NMS length min(count, max_nms), on the device, so the sort needs no
 *    count on the host.
 * 3. cub::DeviceSegmentedRadixSort over the batch's key slots with those
 *    device offsets: one block per image, the same 64-bit keys and ascending
 *    order as the per-image DeviceRadixSort. The DoubleBuffer form needs no
 *    scratch of the keys' size, and which buffer holds the result is known
 *    on the host (the number of passes), not from the data.
 * 4. k_nmsb_prep: box, area and detection of every candidate that reaches NMS.
 * 5. k_nmsb_block: one block per image, nms_block.h's chunked greedy NMS;
 *    kept boxes in shared memory (limit <= NMSB_KEPT_SMEM) or global memory,
 *    detections straight into the image's slot of nmsb_res.
 * 6. one cudaMemcpyAsync of nmsb_res into nmsb_h, then an event.
 * Buffers only grow; an allocation (first batch, a larger shape) frees and
 * allocates, which waits for the device: the steady state allocates nothing. */

#define NMSB_BOUND (256ull << 20) /* key and box bytes a batch may use (multi-label: rows * nc slots per image) */
#define NMSB_KEPT_SMEM 2048      /* kept boxes in shared memory up to this limit: 40 KB, under the 48 KB default */

__global__ void k_nmsb_cand(const float *__restrict__ pred, int images, int rows, int nc, int no, float thr,
                            int multi, const unsigned char *__restrict__ cls_ok, unsigned long long *__restrict__ keys,
                            unsigned int *counts, unsigned int cap) {
    const long long total = (long long)images * rows;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int b = (int)(i / rows), r = (int)(i - (long long)b * rows);
        y5n_cand_row(pred + i * no, (unsigned int)r, nc, thr, multi, cls_ok, keys + (size_t)b * cap, counts + b, cap);
    }
}

/* seg: begin[images], end[images], n[images] */
__global__ void k_nmsb_seg(const unsigned int *__restrict__ counts, int images, int cap, int max_nms,
                           int *__restrict__ seg) {
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < images; b += gridDim.x * blockDim.x) {
        const unsigned int cnt = counts[b];
        const int begin = b * cap, ok = cnt <= (unsigned int)cap;
        const int c = ok ? (int)cnt : 0; /* an overflowing image is redone per image: sort nothing of it */
        seg[b] = begin;
        seg[images + b] = begin + c;
        seg[2 * images + b] = max_nms > 0 && c > max_nms ? max_nms : c;
    }
}

__global__ void k_nmsb_prep(const unsigned long long *__restrict__ sorted, int images, int cap, int maxn,
                            const int *__restrict__ nimg, const float *__restrict__ pred, int rows, int nc, int no,
                            int agnostic, y5n_box *__restrict__ box, float *__restrict__ area,
                            y5_det *__restrict__ det) {
    const long long total = (long long)images * maxn;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int b = (int)(i / maxn), k = (int)(i - (long long)b * maxn);
        if (k >= nimg[b]) continue;
        y5n_prep(sorted[(size_t)b * cap + k], pred + (size_t)b * rows * no, nc, no, agnostic, box + i, area + i,
                 det + i);
    }
}

/* One block per image: the phases of nms_block.h with a barrier after each. */
__global__ void __launch_bounds__(Y5N_THREADS)
    k_nmsb_block(const y5n_box *__restrict__ box, const float *__restrict__ area, const y5_det *__restrict__ det,
                 int maxn, const int *__restrict__ nimg, int limit, double thr, y5n_box *kbox_g, float *karea_g,
                 int kept_smem, unsigned int *kept_count, y5_det *out) {
    __shared__ y5n_chunk s;
    extern __shared__ y5n_box kept_sh[];
    const int b = blockIdx.x, t = threadIdx.x;
    y5n_block k;
    k.box = box + (size_t)b * maxn;
    k.area = area + (size_t)b * maxn;
    k.det = det + (size_t)b * maxn;
    k.n = nimg[b];
    k.limit = limit;
    k.thr = thr;
    if (kept_smem) {
        k.kbox = kept_sh;
        k.karea = (float *)(kept_sh + limit);
    } else {
        k.kbox = kbox_g + (size_t)b * limit;
        k.karea = karea_g + (size_t)b * limit;
    }
    k.out = out + (size_t)b * limit;
    if (t == 0) y5n_block_init(&s);
    __syncthreads();
    while (y5n_block_more(&s, &k)) {
        y5n_phase_a(&s, &k, t);
        __syncthreads();
        y5n_phase_b(&s, &k, t);
        __syncthreads();
        if (t == 0) y5n_phase_c(&s, &k);
        __syncthreads();
    }
    if (t == 0) kept_count[b] = (unsigned int)s.nk;
}

extern "C" int y5_cuda_nms_submit(y5_backend *b, int images, int rows, int no, const y5_nms_opts *o, int max_out,
                                  char *err, size_t errlen) {
    if (!y5_cuda_is(b)) {
        snprintf(err, errlen, "cuda: nms_submit: not a CUDA backend");
        return -1;
    }
    cu_impl *m = cu_of(b);
    m->nmsb_queued = 0;
    y5_nms_opts def;
    if (!o) {
        y5_nms_defaults(&def);
        o = &def;
    }
    const int nc = no - 5;
    /* nothing to queue: take's per-image path answers these at once */
    if (images <= 0 || rows <= 0 || nc < 1 || max_out <= 0 || o->max_det <= 0) return 0;
    if (m->capturing) {
        snprintf(err, errlen, "cuda: nms_submit: called during a graph capture");
        return -1;
    }
    if (!m->pred || (size_t)images * rows * no > m->pred_floats) {
        snprintf(err, errlen, "cuda: nms_submit: %d images of %d rows x %d are outside the pred (%zu floats)", images,
                 rows, no, m->pred_floats);
        return -1;
    }
    if ((size_t)rows * nc >= 0x7FFFFFFFull) return 0; /* the per-image path says why not */
    const int multi = o->multi_label && nc > 1;
    const unsigned long long full = multi ? (unsigned long long)rows * nc : (unsigned long long)rows;
    const unsigned long long bound = m->nmsb_bound ? m->nmsb_bound : NMSB_BOUND;
    const unsigned long long capl = y5n_batch_cap(images, full, o->max_nms, bound);
    if (capl == 0 || capl * (unsigned long long)images > (unsigned long long)INT_MAX) return 0;
    const int cap = (int)capl;
    const int maxn = o->max_nms > 0 && o->max_nms < cap ? o->max_nms : cap;
    const int limit = o->max_det < max_out ? o->max_det : max_out;
    const size_t total = (size_t)images * cap;
    const size_t hdr = ((size_t)2 * images * sizeof(unsigned int) + 15) & ~(size_t)15;
    const size_t res_bytes = hdr + (size_t)images * limit * sizeof(y5_det);
    const int kept_smem = limit <= NMSB_KEPT_SMEM;
    if (cu_use_device(m)) return cu_take_error(m, err, errlen);
    if (cu_take_error(m, err, errlen)) return -1; /* an earlier op's error */
    const unsigned char *cls_ok = NULL;
    if (class_mask(m, o, nc, &cls_ok, err, errlen)) return -1;
    /* the last submit's copy may still be writing the pinned buffer a growth would free */
    if (res_bytes > m->nmsb_h_cap && m->nmsb_ev && CU_CK(m, cudaEventSynchronize(m->nmsb_ev)))
        return cu_take_error(m, err, errlen);
    if (grow_keys(m, total) || grow3(m, (size_t)images * maxn) ||
        cu_grow(m, &m->nmsb_res, &m->nmsb_res_cap, res_bytes) ||
        cu_grow_host(m, &m->nmsb_h, &m->nmsb_h_cap, res_bytes) ||
        cu_grow(m, (void **)&m->nmsb_seg, &m->nmsb_seg_cap, (size_t)3 * images * sizeof(int)))
        return cu_take_error(m, err, errlen);
    if (!kept_smem && (size_t)images * limit > m->nmsb_kept_cap) {
        size_t c1 = m->nmsb_kbox ? m->nmsb_kept_cap * sizeof(y5n_box) : 0;
        size_t c2 = m->nmsb_karea ? m->nmsb_kept_cap * sizeof(float) : 0;
        m->nmsb_kept_cap = 0;
        if (cu_grow(m, (void **)&m->nmsb_kbox, &c1, (size_t)images * limit * sizeof(y5n_box)) ||
            cu_grow(m, (void **)&m->nmsb_karea, &c2, (size_t)images * limit * sizeof(float)))
            return cu_take_error(m, err, errlen);
        m->nmsb_kept_cap = (size_t)images * limit;
    }
    if (!m->nmsb_ev && CU_CK(m, cudaEventCreateWithFlags(&m->nmsb_ev, cudaEventDisableTiming)))
        return cu_take_error(m, err, errlen);
    /* the options take needs for a redo, the class list copied (the caller's may not outlive the batch) */
    if (o->classes && o->n_classes > 0) {
        if (o->n_classes > m->nmsb_classes_cap) { /* grows only: no allocation per batch */
            int *c = (int *)realloc(m->nmsb_classes, (size_t)o->n_classes * sizeof(int));
            if (!c) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            m->nmsb_classes = c;
            m->nmsb_classes_cap = o->n_classes;
        }
        memcpy(m->nmsb_classes, o->classes, (size_t)o->n_classes * sizeof(int));
    }

    unsigned int *counts = (unsigned int *)m->nmsb_res;
    unsigned int *kept = counts + images;
    y5_det *dets = (y5_det *)((char *)m->nmsb_res + hdr);
    int *seg = m->nmsb_seg;
    if (CU_CK(m, cudaMemsetAsync(counts, 0, (size_t)images * sizeof(unsigned int), m->stream)))
        return cu_take_error(m, err, errlen);
    k_nmsb_cand<<<cu_blocks(m, (long long)images * rows, THREADS), THREADS, 0, m->stream>>>(
        m->pred, images, rows, nc, no, o->conf_thres, multi, cls_ok, m->nms_keys, counts, (unsigned int)cap);
    if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
    k_nmsb_seg<<<(unsigned)((images + THREADS - 1) / THREADS), THREADS, 0, m->stream>>>(counts, images, cap,
                                                                                         o->max_nms, seg);
    if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
    cub::DoubleBuffer<unsigned long long> keys(m->nms_keys, m->nms_sorted);
    size_t tmp_bytes = 0;
    if (CU_CK(m, cub::DeviceSegmentedRadixSort::SortKeys(NULL, tmp_bytes, keys, (int)total, images, seg,
                                                         seg + images, 0, 64, m->stream)) ||
        cu_grow(m, &m->nms_tmp, &m->nms_tmp_cap, tmp_bytes) ||
        CU_CK(m, cub::DeviceSegmentedRadixSort::SortKeys(m->nms_tmp, tmp_bytes, keys, (int)total, images, seg,
                                                         seg + images, 0, 64, m->stream)))
        return cu_take_error(m, err, errlen);
    k_nmsb_prep<<<cu_blocks(m, (long long)images * maxn, THREADS), THREADS, 0, m->stream>>>(
        keys.Current(), images, cap, maxn, seg + 2 * images, m->pred, rows, nc, no, o->agnostic, m->nms_box,
        m->nms_area, m->nms_det);
    if (CU_CK(m, cudaGetLastError())) return cu_take_error(m, err, errlen);
    const size_t smem = kept_smem ? (size_t)limit * (sizeof(y5n_box) + sizeof(float)) : 0;
    k_nmsb_block<<<(unsigned)images, Y5N_THREADS, smem, m->stream>>>(
        m->nms_box, m->nms_area, m->nms_det, maxn, seg + 2 * images, limit, y5_nms_py_threshold(o->iou_thres),
        m->nmsb_kbox, m->nmsb_karea, kept_smem, kept, dets);
    if (CU_CK(m, cudaGetLastError()) ||
        CU_CK(m, cudaMemcpyAsync(m->nmsb_h, m->nmsb_res, res_bytes, cudaMemcpyDeviceToHost, m->stream)) ||
        CU_CK(m, cudaEventRecord(m->nmsb_ev, m->stream)))
        return cu_take_error(m, err, errlen);
    m->nmsb_opts = *o;
    m->nmsb_opts.classes = o->classes && o->n_classes > 0 ? m->nmsb_classes : NULL;
    m->nmsb_images = images;
    m->nmsb_rows = rows;
    m->nmsb_no = no;
    m->nmsb_limit = limit;
    m->nmsb_cap = (size_t)cap;
    m->nmsb_hdr = hdr;
    m->nmsb_queued = 1;
    return 1;
}

extern "C" int y5_cuda_nms_take(y5_backend *b, int image, y5_det *out, int max_out, char *err, size_t errlen) {
    if (!y5_cuda_is(b)) {
        snprintf(err, errlen, "cuda: nms_take: not a CUDA backend");
        return -1;
    }
    cu_impl *m = cu_of(b);
    if (!m->nmsb_queued || image < 0 || image >= m->nmsb_images) {
        snprintf(err, errlen, "cuda: nms_take: no batch NMS of image %d queued since the last forward", image);
        return -1;
    }
    if (max_out <= 0) return 0;
    /* after the caller's stream sync the event is complete and this returns at once */
    if (cu_use_device(m) || CU_CK(m, cudaEventSynchronize(m->nmsb_ev))) return cu_take_error(m, err, errlen);
    const unsigned int *counts = (const unsigned int *)m->nmsb_h;
    const unsigned int *kept = counts + m->nmsb_images;
    /* keys beyond the image's slots, or more boxes asked for than were kept
     * room for: the per-image path over the same pred (the pred stays until
     * the next forward) */
    if (counts[image] > m->nmsb_cap || (max_out > m->nmsb_limit && m->nmsb_limit < m->nmsb_opts.max_det)) {
        m->nmsb_redone++;
        return y5_cuda_nms(b, image, m->nmsb_rows, m->nmsb_no, &m->nmsb_opts, out, max_out, err, errlen);
    }
    m->nmsb_served++;
    int n = (int)kept[image];
    if (n > m->nmsb_limit) n = m->nmsb_limit;
    if (n > max_out) n = max_out;
    const y5_det *d = (const y5_det *)((const char *)m->nmsb_h + m->nmsb_hdr) + (size_t)image * m->nmsb_limit;
    memcpy(out, d, (size_t)n * sizeof(y5_det));
    return n;
}

extern "C" void y5_cuda_nms_take_counts(y5_backend *b, long long *served, long long *redone) {
    if (served) *served = y5_cuda_is(b) ? cu_of(b)->nmsb_served : 0;
    if (redone) *redone = y5_cuda_is(b) ? cu_of(b)->nmsb_redone : 0;
}

extern "C" void y5_cuda_nms_set_batch_bound(y5_backend *b, size_t bytes) {
    if (y5_cuda_is(b)) cu_of(b)->nmsb_bound = bytes;
}
