/* kernels_nms.cu - candidates + class-aware NMS on the GPU, the same rules
 * and float arithmetic as core/post/nms.c, so it returns the same boxes.
 *
 * 1. candidates: one thread per pred row: obj > conf; single label: the
 *    first maximum of cls * obj (float32 products; a NaN drops the row, as
 *    on the CPU), kept when > conf and wanted; multi label: every class with
 *    cls * obj > conf. Each appends a 64-bit key: high word the confidence
 *    mapped so that ascending order is confidence descending, low word
 *    row * nc + class, which is the CPU's candidate order. Sorting the keys
 *    ascending (cub radix sort) is therefore the CPU's stable sort by
 *    confidence descending, whatever order the atomics appended them in.
 * 2. the first max_nms sorted candidates get their box (x1 = cx - w/2 ...),
 *    the box offset by class * 7680 (0 when agnostic) and its area.
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
#include <stdlib.h>
#include <string.h>

#define THREADS 256
#define MASK_MAX 32768
#define MAX_WH 7680.0f

__device__ __forceinline__ unsigned int conf_key(float f) {
    unsigned int u = __float_as_uint(f);
    unsigned int asc = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~asc; /* ascending key = descending confidence */
}

__device__ __forceinline__ float conf_of_key(unsigned int k) {
    unsigned int asc = ~k;
    unsigned int u = (asc & 0x80000000u) ? (asc & 0x7fffffffu) : ~asc;
    return __uint_as_float(u);
}

__global__ void k_nms_cand(const float *__restrict__ pred, int rows, int nc, int no, float thr, int multi,
                           const unsigned char *__restrict__ cls_ok, unsigned long long *__restrict__ keys,
                           unsigned int *count, unsigned int cap) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
        const float *p = pred + (long long)r * no;
        const float obj = p[4];
        if (!(obj > thr)) continue;
        if (multi) {
            for (int c = 0; c < nc; c++) {
                float s = __fmul_rn(p[5 + c], obj);
                if (!(s > thr) || (cls_ok && !cls_ok[c])) continue;
                unsigned int at = atomicAdd(count, 1u);
                if (at < cap)
                    keys[at] = ((unsigned long long)conf_key(s) << 32) | ((unsigned int)r * (unsigned int)nc + (unsigned int)c);
            }
        } else {
            float best = __fmul_rn(p[5], obj);
            int bc = 0;
            for (int c = 1; c < nc; c++) {
                float s = __fmul_rn(p[5 + c], obj);
                if (s > best || s != s) { best = s; bc = c; }
            }
            if (!(best > thr) || (cls_ok && !cls_ok[bc])) continue;
            unsigned int at = atomicAdd(count, 1u);
            if (at < cap)
                keys[at] = ((unsigned long long)conf_key(best) << 32) | ((unsigned int)r * (unsigned int)nc + (unsigned int)bc);
        }
    }
}

__global__ void k_nms_prep(const unsigned long long *__restrict__ sorted, int n, const float *__restrict__ pred,
                           int nc, int no, int agnostic, float4 *__restrict__ box, float *__restrict__ area,
                           y5_det *__restrict__ det) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        unsigned long long key = sorted[i];
        unsigned int idx = (unsigned int)key;
        int r = (int)(idx / (unsigned int)nc), c = (int)(idx % (unsigned int)nc);
        const float *p = pred + (long long)r * no;
        const float hw = __fdiv_rn(p[2], 2.0f), hh = __fdiv_rn(p[3], 2.0f);
        const float x1 = __fsub_rn(p[0], hw), y1 = __fsub_rn(p[1], hh);
        const float x2 = __fadd_rn(p[0], hw), y2 = __fadd_rn(p[1], hh);
        const float off = agnostic ? 0.0f : __fmul_rn((float)c, MAX_WH);
        const float ox1 = __fadd_rn(x1, off), oy1 = __fadd_rn(y1, off);
        const float ox2 = __fadd_rn(x2, off), oy2 = __fadd_rn(y2, off);
        box[i] = make_float4(ox1, oy1, ox2, oy2);
        area[i] = __fmul_rn(__fsub_rn(ox2, ox1), __fsub_rn(oy2, oy1));
        y5_det d;
        d.x1 = x1;
        d.y1 = y1;
        d.x2 = x2;
        d.y2 = y2;
        d.conf = conf_of_key((unsigned int)(key >> 32));
        d.cls = c;
        det[i] = d;
    }
}

/* core/post/nms.c's test with k a kept box and c a later candidate. */
__device__ __forceinline__ bool iou_above(float4 k, float ka, float4 c, float ca, double thr) {
    const float xx1 = k.x > c.x ? k.x : c.x;
    const float yy1 = k.y > c.y ? k.y : c.y;
    const float xx2 = k.z < c.z ? k.z : c.z;
    const float yy2 = k.w < c.w ? k.w : c.w;
    const float dw = __fsub_rn(xx2, xx1), dh = __fsub_rn(yy2, yy1);
    const float w = dw > 0.f ? dw : 0.f;
    const float h = dh > 0.f ? dh : 0.f;
    const float inter = __fmul_rn(w, h);
    const float uni = __fsub_rn(__fadd_rn(ka, ca), inter);
    return uni != 0.f && (double)__fdiv_rn(inter, uni) > thr;
}

/* mask[i * col_blocks + cb] bit jj: box i suppresses box cb*64 + jj (> i). */
__global__ void k_nms_mask(const float4 *__restrict__ box, const float *__restrict__ area, int n, int col_blocks,
                           double thr, unsigned long long *__restrict__ mask) {
    const int rb = blockIdx.y, cb = blockIdx.x;
    if (cb < rb) return;
    __shared__ float4 sb[64];
    __shared__ float sa[64];
    const int t = threadIdx.x, j0 = cb * 64;
    if (j0 + t < n) {
        sb[t] = box[j0 + t];
        sa[t] = area[j0 + t];
    }
    __syncthreads();
    const int i = rb * 64 + t;
    if (i >= n) return;
    const float4 bi = box[i];
    const float ai = area[i];
    const int jn = n - j0 < 64 ? n - j0 : 64;
    unsigned long long bits = 0;
    for (int jj = cb == rb ? t + 1 : 0; jj < jn; jj++)
        if (iou_above(bi, ai, sb[jj], sa[jj], thr)) bits |= 1ULL << jj;
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
__global__ void k_nms_greedy(const float4 *__restrict__ box, const float *__restrict__ area, int n, int limit,
                             double thr, int *kept, unsigned int *count) {
    int nk = 0;
    for (int t = 0; t < n && nk < limit; t++) {
        const float4 c = box[t];
        const float ca = area[t];
        int sup = 0;
        for (int k = threadIdx.x; k < nk; k += blockDim.x) {
            const int i = kept[k];
            if (iou_above(box[i], area[i], c, ca, thr)) { sup = 1; break; }
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

/* The double Python had for the threshold the user typed (as core/post/nms.c). */
static double py_threshold(float t) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)t);
        if (strtof(buf, NULL) == t) return strtod(buf, NULL);
    }
    return (double)t;
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
    if (CU_CK(m, cudaMalloc((void **)&m->nms_box, n * sizeof(float4))) ||
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
    unsigned char *cls_ok = NULL;
    if (o->classes && o->n_classes > 0) {
        unsigned char *hm = (unsigned char *)calloc((size_t)nc, 1);
        if (!hm) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int k = 0; k < o->n_classes; k++)
            if (o->classes[k] >= 0 && o->classes[k] < nc) hm[o->classes[k]] = 1;
        int bad = cu_grow(m, (void **)&m->nms_cls, &m->nms_cls_cap, (size_t)nc) ||
                  CU_CK(m, cudaMemcpyAsync(m->nms_cls, hm, (size_t)nc, cudaMemcpyHostToDevice, m->stream)) ||
                  CU_CK(m, cudaStreamSynchronize(m->stream)); /* hm is pageable and freed next */
        free(hm);
        if (bad) return cu_take_error(m, err, errlen);
        cls_ok = m->nms_cls;
    }
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
    const double thr = py_threshold(o->iou_thres);
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
