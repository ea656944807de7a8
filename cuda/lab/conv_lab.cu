// conv_lab.cu - the conv kernel lab (llm.c dev/cuda style): every version of
// the implicit-GEMM FP16 tensor-core convolution, checked and timed against
// the backend's cuBLAS path on the same shapes.
//
//   make conv-lab
//   build/conv_lab --net odd                     odd shapes, every output checked on the CPU
//   build/conv_lab --net yolov5m --batch 32      the yolov5m 640 convs at batch 32: table + totals
//   options: --versions 1,2,3,4  --reps N  --samples N  --seed N  --imgsz N  --csv FILE
//            --v4-tile 128x128|128x64|64x64|256x128  (v4 with one tile everywhere instead of its rule)
//            --v5-bm 64|128, --v5-bn 64|96|128|192|256  (v5 with those rows / that width everywhere)
//            --v5-splits 1..8  (v5's split-K: that many k-splits everywhere, at most one per k-tile; 1: none)
//
// Per shape: fresh random NHWC FP16 input (a hash of the element index and
// the run's seed, so the CPU recomputes any element without a copy), weights
// scaled by 1/sqrt(K) (outputs of order 1), bias, residual where the layer
// has one. Input channels outside the slice are NaN (a kernel that reads
// them poisons its output). Before each version's check run the output buffer
// is poisoned (all-ones halves = NaN); afterwards
//   - CPU: `samples` pixels (first, last, image edges, random; --net odd:
//     all) x every output channel against a double-precision reference of
//     the same FP16 inputs: pass if |got - ref| <= 2^-10 |ref| + 1e-4 (the
//     output's FP16 rounding is at most 2^-11 |ref|; FP32 accumulation of
//     K <= 7000 exact FP16 products adds far less than 1e-4 at these scales);
//   - GPU: every element of the slice against the cuBLAS path's output
//     (im2col + cublasGemmEx FP32 + bias/SiLU/residual kernel, as
//     cuda/backend_cuda.cu): pass if |lab - cublas| <= 2^-9 |cublas| + 2e-4
//     (two roundings apart), no NaN left inside the slice, the channels
//     outside it still poison.
// Timing: CUDA events around each launch after 3 warm-ups, median of reps;
// inputs rotate over up to 4 copies so repeated runs do not just hit L2.
// TFLOP/s counts 2*M*cout*K with the K actually run (the stem's cin padded
// to 8). Exit status 1 if any check fails or a CUDA call fails.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "cuda/lab/conv_v1.cuh"
#include "cuda/lab/conv_v2.cuh"
#include "cuda/lab/conv_v3.cuh"
#include "cuda/lab/conv_v4_launch.cuh"
#include "cuda/lab/conv_v5.cuh"
#include "cuda/lab/yolo_convs.h"

static void ck_(cudaError_t e, const char *what, int line) {
    if (e != cudaSuccess) {
        fprintf(stderr, "conv_lab:%d: %s: %s\n", line, what, cudaGetErrorString(e));
        exit(1);
    }
}
static void ckb_(cublasStatus_t s, const char *what, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "conv_lab:%d: %s: %s\n", line, what, cublasGetStatusString(s));
        exit(1);
    }
}
#define CK(x) ck_((x), #x, __LINE__)
#define CKB(x) ckb_((x), #x, __LINE__)

// ---------------------------------------------------------------- random data
// splitmix64 of (seed, index) -> uniform in [-1, 1): the same on host and device.
__host__ __device__ inline float lab_rand(unsigned long long seed, unsigned long long i) {
    unsigned long long z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 8388608.0f) - 1.0f;
}
__host__ __device__ inline __half lab_half(unsigned long long seed, unsigned long long i, float scale) {
    return __float2half_rn(lab_rand(seed, i) * scale);
}

// rows x ld halves; channels [c0, c0 + c) get value index row*c + ci, the rest `other`.
__global__ void k_fill(__half *p, long long rows, int ld, int c0, int c, unsigned long long seed, float scale,
                       unsigned short other) {
    const long long total = rows * ld;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / ld;
        const int ch = (int)(i - r * ld) - c0;
        p[i] = ch >= 0 && ch < c ? lab_half(seed, (unsigned long long)(r * c + ch), scale) : __ushort_as_half(other);
    }
}

// ---------------------------------------------------------------- the cuBLAS path (cuda/backend_cuda.cu's)
__global__ void k_im2col8(const y5l_conv c, const __half *__restrict__ in, __half *__restrict__ col) {
    const int K = y5l_K(&c), Kv = K / 8;
    const long long total = y5l_M(&c) * Kv;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long m = idx / Kv;
        const int kk = (int)(idx - m * Kv) * 8;
        // deliberately not conv_tile.h: the reference path keeps its own arithmetic
        const long long hw = (long long)c.ho * c.wo, b = m / hw;
        const int rem = (int)(m - b * hw), oy = rem / c.wo, ox = rem % c.wo;
        const int tap = kk / c.cin, ci = kk % c.cin, ky = tap / c.k, kx = tap % c.k;
        const int iy = oy * c.s - c.p + ky, ix = ox * c.s - c.p + kx;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (iy >= 0 && iy < c.h && ix >= 0 && ix < c.w)
            v = *reinterpret_cast<const uint4 *>(in + ((b * c.h + iy) * c.w + ix) * (long long)c.ld_in + ci);
        *reinterpret_cast<uint4 *>(col + m * K + kk) = v;
    }
}

__global__ void k_epi(const float *__restrict__ acc, int ld_acc, long long M, int cout, const float *__restrict__ bias,
                      int act, const __half *res, int ld_res, __half *out, int ld_out) {
    const long long total = M * cout;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long m = i / cout;
        const int co = (int)(i - m * cout);
        float v = acc[m * ld_acc + co] + bias[co];
        v = y5_act_dev(act, 0.0f, v); // act.cuh: the activation every epilogue uses
        if (res) v += __half2float(res[m * ld_res + co]);
        out[m * ld_out + co] = __float2half_rn(v);
    }
}

// ---------------------------------------------------------------- comparison on the GPU
// stats: [0] max |got - ref| (float bits), [1] elements over tolerance (or NaN in the
// slice), [2] elements outside the slice that are no longer poison.
__global__ void k_compare(const __half *got, const __half *ref, long long rows, int ld, int c0, int cout,
                          unsigned *stats) {
    const long long total = rows * ld;
    float mx = 0.0f;
    unsigned bad = 0, outside = 0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int ch = (int)(i % ld) - c0;
        if (ch < 0 || ch >= cout) {
            outside += __half_as_ushort(got[i]) != 0xFFFFu;
            continue;
        }
        const float g = __half2float(got[i]), r = __half2float(ref[i]), d = fabsf(g - r);
        if (!y5l_agree(g, r)) bad++; // NaN fails too
        if (d > mx) mx = d;
        if (d != d) mx = INFINITY;
    }
    for (int o = 16; o; o >>= 1) {
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        bad += __shfl_xor_sync(0xffffffffu, bad, o);
        outside += __shfl_xor_sync(0xffffffffu, outside, o);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicMax(&stats[0], __float_as_uint(mx)); // non-negative floats order as their bits
        atomicAdd(&stats[1], bad);
        atomicAdd(&stats[2], outside);
    }
}

// ---------------------------------------------------------------- versions
typedef cudaError_t (*lab_launch)(const y5l_args &, cudaStream_t);

template <int BM, int BN, int WM, int WN>
static cudaError_t launch_v1(const y5l_args &a, cudaStream_t st) {
    dim3 grid((unsigned)y5l_grid_m(&a.c, BM), (unsigned)y5l_grid_n(&a.c, BN));
    y5l_conv_v1<BM, BN, WM, WN><<<grid, WM * WN * 32, 0, st>>>(a);
    return cudaGetLastError();
}
template <int BM, int BN, int WM, int WN, int S>
static cudaError_t launch_v2(const y5l_args &a, cudaStream_t st) {
    dim3 grid((unsigned)y5l_grid_m(&a.c, BM), (unsigned)y5l_grid_n(&a.c, BN));
    y5l_conv_v2<BM, BN, WM, WN, S><<<grid, WM * WN * 32, y5l_v2_smem<BM, BN>(S), st>>>(a);
    return cudaGetLastError();
}
template <int BM, int BN, int WM, int WN, int S>
static void v2_attr() {
    CK(cudaFuncSetAttribute(y5l_conv_v2<BM, BN, WM, WN, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            y5l_v2_smem<BM, BN>(S)));
}

static int g_sms = 132;

// v3: the v2 template with 3 stages and a tile per layer, launched as the
// backend launches it (conv_v3.cuh: the tile rule, the launch, the
// shared-memory attributes).
static cudaError_t launch_v3(const y5l_args &a, cudaStream_t st) { return y5l_v3_launch(a, g_sms, st); }
static const char *v3_tile(const y5l_conv &c) { return y5l_v3_tile_name(y5l_v3_tile(&c, g_sms)); }

// v4: its own kernel (conv_v4.cuh) and tile rule (conv_tile.h's y5l_v4_tile,
// which knows the card's opt-in shared memory), or one tile everywhere
// (--v4-tile, to measure each tile on every shape).
static int g_smem_optin = 0, g_v4_tile = -1;
static int v4_tile_of(const y5l_conv &c) { return g_v4_tile >= 0 ? g_v4_tile : y5l_v4_tile(&c, g_sms, g_smem_optin); }
static cudaError_t launch_v4(const y5l_args &a, cudaStream_t st) { return y5l_v4_launch_tile(a, v4_tile_of(a.c), st); }

struct lab_version {
    int id;
    const char *desc;
    lab_launch launch;
};
// v5: its tile rule (wgmma_tile.h's y5w_v5_tile), or --v5-bm / --v5-bn's
// rows and width everywhere.
// Split-K by its rule (y5w_v5_splits) or --v5-splits N everywhere (1: none);
// run_shape gives each shape the workspace its splits need.
static int g_v5_bm = 0, g_v5_bn = 0, g_v5_splits = 0;
static y5w_tile v5_tile_of(const y5l_conv &c) { return y5w_v5_tile(&c, g_sms, g_v5_bm, g_v5_bn); }
static int v5_splits_of(const y5l_conv &c) { return y5w_v5_splits(&c, v5_tile_of(c), g_sms, g_v5_splits); }
static cudaError_t launch_v5(const y5l_args &a, cudaStream_t st) {
    return y5w_v5_launch_tile(a, v5_tile_of(a.c), v5_splits_of(a.c), st);
}

static const lab_version VERSIONS[] = {
    {1, "v1 mma.sync, 128x128x32 tile, 8 warps, one smem buffer, 16B ld/st", launch_v1<128, 128, 2, 4>},
    {2, "v2 + cp.async double buffer (zero-fill padding), ldmatrix.x4", launch_v2<128, 128, 2, 4, 2>},
    {3, "v3 = v2 with 3 stages and a tile per layer (128x128, 128x64, 64x64)", launch_v3},
    {4, "v4 BK 64, 4 stages, XOR-swizzled smem, no division in the k-loop, epilogue via smem with 16B stores; "
        "tile per layer (+256x128)",
     launch_v4},
    {5, "v5 Hopper wgmma (sm_90a): 128xBN per 2 warpgroups (64xBN per one where the grid is small), BK 64 in 128B-swizzled cp.async stages "
        "read by descriptor, 4 stages, one wgmma group in flight; width per layer (64, 96, 128, 192, 256)",
     launch_v5},
};
static const int NVERSIONS = (int)(sizeof VERSIONS / sizeof VERSIONS[0]);

// ---------------------------------------------------------------- shapes
struct lab_shape {
    y5l_layer l;
    int n;     // batch
    int count; // how many convs of the network have this shape
};

static std::vector<lab_shape> odd_shapes() {
    // name, h, w, cin, ld_in, cout, ld_out, k, s, p, res, act, out_first; batch
    const struct {
        y5l_layer l;
        int n;
    } t[] = {
        {{"1x1 res, ld>c", 13, 11, 24, 32, 40, 56, 1, 1, 0, 1, 1, 0}, 2},
        {{"3x3 s1 small", 9, 7, 8, 8, 24, 24, 3, 1, 1, 0, 1, 0}, 3},
        {{"3x3 s2 odd hw", 17, 15, 40, 48, 72, 80, 3, 2, 1, 0, 1, 0}, 2},
        {{"3x3 s2 cout 255", 6, 10, 16, 16, 255, 255, 3, 2, 1, 0, 0, 0}, 1},
        {{"6x6 s2 stem cin 8", 30, 22, 8, 8, 16, 24, 6, 2, 2, 0, 1, 0}, 2},
        {{"1x1 K 520 res", 5, 3, 520, 528, 136, 136, 1, 1, 0, 1, 1, 0}, 1},
        {{"3x3 cout 1", 4, 4, 8, 8, 1, 1, 3, 1, 1, 0, 1, 0}, 1},
        {{"3x3 s1 res 200", 37, 29, 64, 64, 200, 208, 3, 1, 1, 1, 1, 0}, 1},
        {{"1x1 cout 255 odd ld", 7, 9, 64, 64, 255, 257, 1, 1, 0, 0, 0, 0}, 2},
        {{"1x1 res slice at 4", 11, 9, 32, 32, 60, 64, 1, 1, 0, 1, 1, 0}, 2}, // v4: half2, not 16-byte stores
        {{"3x3 K 1152 res", 10, 10, 128, 128, 256, 256, 3, 1, 1, 1, 1, 0}, 3}, // 18 k-tiles of 64, several channel blocks
    };
    std::vector<lab_shape> v;
    for (const auto &e : t) v.push_back({e.l, e.n, 1});
    return v;
}

static std::vector<lab_shape> net_shapes(const char *net, int imgsz, int batch) {
    double wm = 0.75, dm = 0.67;
    if (!strcmp(net, "yolov5n")) wm = 0.25, dm = 0.33;
    else if (!strcmp(net, "yolov5s")) wm = 0.5, dm = 0.33;
    else if (!strcmp(net, "yolov5l")) wm = 1.0, dm = 1.0;
    y5l_layer ls[256];
    int n = y5l_yolov5_convs(wm, dm, imgsz, imgsz, ls, 256);
    if (n > 256) n = 256;
    std::vector<lab_shape> v;
    for (int i = 0; i < n; i++) {
        const y5l_layer &l = ls[i];
        bool dup = false;
        for (auto &s : v)
            if (s.l.h == l.h && s.l.w == l.w && s.l.cin == l.cin && s.l.ld_in == l.ld_in && s.l.cout == l.cout &&
                s.l.ld_out == l.ld_out && s.l.k == l.k && s.l.s == l.s && s.l.res == l.res && s.l.act == l.act && s.l.out_first == l.out_first) {
                s.count++;
                dup = true;
                break;
            }
        if (!dup) v.push_back({l, batch, 1});
    }
    return v;
}

// ---------------------------------------------------------------- one shape
struct opts {
    std::vector<int> versions;
    int reps = 20, samples = 64, all_samples = 0;
    unsigned long long seed = 0;
    FILE *csv = nullptr;
};

static float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0f : v[v.size() / 2];
}

struct result {
    double ms[8] = {0};
    double blas_ms = 0, gemm_ms = 0;
    double gemm_unpadded_ms = 0; // cout % 8 != 0 only: the GEMM with m = ldc = cout, as before cout_pad
    int ok = 1;
};

static unsigned g_blocks(long long total) {
    long long b = (total + 255) / 256;
    return (unsigned)std::max(1LL, std::min(b, (long long)g_sms * 32));
}

static result run_shape(const lab_shape &sh, const opts &o, cublasHandle_t blas, cudaStream_t st, int idx) {
    result R;
    const y5l_layer &L = sh.l;
    y5l_conv c;
    c.n = sh.n, c.h = L.h, c.w = L.w, c.cin = L.cin, c.ld_in = L.ld_in, c.cout = L.cout, c.k = L.k, c.s = L.s,
    c.p = L.p;
    c.ho = y5l_out_dim(c.h, c.k, c.s, c.p), c.wo = y5l_out_dim(c.w, c.k, c.s, c.p);
    c.ld_out = L.ld_out, c.ld_res = L.ld_out;
    if (!y5l_supported(&c)) {
        fprintf(stderr, "conv_lab: shape %s not supported by the lab kernels\n", L.name);
        R.ok = 0;
        return R;
    }
    const long long M = y5l_M(&c);
    const int K = y5l_K(&c);
    // the slices sit at the end of their rows (a concat's later slot), except
    // in a row only padded to a multiple of 8 (the engine's Detect heads: 255
    // in 256), where the slice starts the row as in the engine
    const int in_c0 = c.ld_in - c.cin, out_c0 = L.out_first ? 0 : c.ld_out - c.cout;
    const long long in_rows = (long long)c.n * c.h * c.w;
    const size_t in_elems = (size_t)in_rows * c.ld_in, out_elems = (size_t)M * c.ld_out;
    const unsigned long long sin = o.seed * 7 + idx * 101 + 1, sw = sin + 11, sb = sin + 23, sr = sin + 37;
    const float wscale = 1.0f / sqrtf((float)K);

    int nrot = (int)std::min<size_t>(4, std::max<size_t>(1, ((size_t)128 << 20) / (in_elems * 2 + 1)));
    std::vector<__half *> in(nrot);
    for (auto &p : in) CK(cudaMalloc(&p, in_elems * 2));
    __half *w, *res = nullptr, *out, *ref, *col = nullptr;
    float *bias, *acc;
    // the backend's cout_pad: weight columns past cout are 0, and the
    // cuBLAS path's GEMM computes cout_pad FP32 columns (m = ldc aligned)
    const int cout_pad = (c.cout + 7) & ~7;
    CK(cudaMalloc(&w, (size_t)cout_pad * K * 2));
    CK(cudaMemset(w, 0, (size_t)cout_pad * K * 2));
    CK(cudaMalloc(&bias, (size_t)c.cout * 4));
    CK(cudaMalloc(&out, out_elems * 2));
    CK(cudaMalloc(&ref, out_elems * 2));
    CK(cudaMalloc(&acc, (size_t)M * cout_pad * 4));
    const bool direct = c.k == 1 && c.s == 1 && c.p == 0;
    if (!direct) CK(cudaMalloc(&col, (size_t)M * K * 2));
    if (L.res) CK(cudaMalloc(&res, out_elems * 2));
    float *ws = nullptr; // v5's split-K partials, when its splits (rule or --v5-splits) split this shape
    const int v5_splits = v5_splits_of(c);
    const bool want_v5 = std::find(o.versions.begin(), o.versions.end(), 5) != o.versions.end();
    if (want_v5 && v5_splits > 1) CK(cudaMalloc(&ws, (size_t)v5_splits * M * c.cout * 4));
    for (auto p : in) k_fill<<<g_blocks(in_elems), 256, 0, st>>>(p, in_rows, c.ld_in, in_c0, c.cin, sin, 1.0f, 0x7E00);
    k_fill<<<g_blocks((long long)c.cout * K), 256, 0, st>>>(w, c.cout, K, 0, K, sw, wscale, 0);
    if (res) k_fill<<<g_blocks(out_elems), 256, 0, st>>>(res, M, c.ld_out, out_c0, c.cout, sr, 1.0f, 0x7E00);
    CK(cudaGetLastError());
    std::vector<float> hbias(c.cout);
    for (int i = 0; i < c.cout; i++) hbias[i] = lab_rand(sb, i) * 0.5f;
    CK(cudaMemcpy(bias, hbias.data(), hbias.size() * 4, cudaMemcpyHostToDevice));

    y5l_args a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.w = w;
    a.bias = bias;
    a.res = res ? res + out_c0 : nullptr;
    a.act = L.act; // 0 none, 1 SiLU (y5_act_kind)
    a.slope = 0.0f;
    a.pairs = c.ld_out % 2 == 0 && out_c0 % 2 == 0;
    a.ws = ws;
    a.ws_floats = ws ? (long long)v5_splits * M * c.cout : 0;

    // the cuBLAS path (the backend's): into ref
    auto blas_path = [&](const __half *src, bool gemm_only, bool padded = true) {
        const __half *B = src + in_c0;
        int ldb = c.ld_in;
        if (!direct && !gemm_only) {
            k_im2col8<<<g_blocks(M * (K / 8)), 256, 0, st>>>(c, src + in_c0, col);
            CK(cudaGetLastError());
        }
        if (!direct) B = col, ldb = K;
        const float one = 1.0f, zero = 0.0f;
        const int mo = padded ? cout_pad : c.cout;
        CKB(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, mo, (int)M, K, &one, w, CUDA_R_16F, K, B, CUDA_R_16F, ldb,
                         &zero, acc, CUDA_R_32F, mo, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        if (!gemm_only) {
            k_epi<<<g_blocks(M * c.cout), 256, 0, st>>>(acc, mo, M, c.cout, bias, L.act, a.res, c.ld_res,
                                                        ref + out_c0, c.ld_out);
            CK(cudaGetLastError());
        }
    };
    CK(cudaMemsetAsync(ref, 0xFF, out_elems * 2, st));
    blas_path(in[0], false);
    CK(cudaStreamSynchronize(st));

    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    auto time_it = [&](auto &&fn) {
        for (int i = 0; i < 3; i++) fn(i % nrot);
        std::vector<float> ms(o.reps);
        for (int i = 0; i < o.reps; i++) {
            CK(cudaEventRecord(e0, st));
            fn(i % nrot);
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms[i], e0, e1));
        }
        return (double)median(ms);
    };
    R.blas_ms = time_it([&](int r) { blas_path(in[r], false); });
    R.gemm_ms = time_it([&](int r) { blas_path(in[r], true); });
    if (cout_pad != c.cout) R.gemm_unpadded_ms = time_it([&](int r) { blas_path(in[r], true, false); });
    blas_path(in[0], false); // ref again (the timing overwrote acc only, but keep it simple)
    CK(cudaStreamSynchronize(st));

    // CPU reference pixels
    std::vector<long long> pix;
    if (o.all_samples) {
        for (long long m = 0; m < M; m++) pix.push_back(m);
    } else {
        const long long hw = (long long)c.ho * c.wo;
        const long long fixed[] = {0, 1, c.wo - 1, c.wo, hw - 1, hw, M / 2, M - c.wo, M - 2, M - 1};
        for (long long m : fixed)
            if (m >= 0 && m < M) pix.push_back(m);
        unsigned long long z = sin;
        while ((int)pix.size() < o.samples) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            pix.push_back((long long)((z >> 17) % (unsigned long long)M));
        }
    }
    std::vector<float> hw_((size_t)c.cout * K);
    for (size_t i = 0; i < hw_.size(); i++) hw_[i] = __half2float(lab_half(sw, i, wscale));
    std::vector<double> refv(pix.size() * c.cout);
    {
        std::vector<float> arow(K);
        for (size_t pi = 0; pi < pix.size(); pi++) {
            const long long m = pix[pi], hwo = (long long)c.ho * c.wo, b = m / hwo;
            const int oy = (int)(m % hwo) / c.wo, ox = (int)(m % hwo) % c.wo;
            for (int ky = 0; ky < c.k; ky++)
                for (int kx = 0; kx < c.k; kx++)
                    for (int ci = 0; ci < c.cin; ci++) {
                        const int iy = oy * c.s - c.p + ky, ix = ox * c.s - c.p + kx;
                        float v = 0.0f;
                        if (iy >= 0 && iy < c.h && ix >= 0 && ix < c.w)
                            v = __half2float(lab_half(sin, (unsigned long long)(((b * c.h + iy) * c.w + ix) * c.cin + ci), 1.0f));
                        arow[(ky * c.k + kx) * c.cin + ci] = v;
                    }
            for (int co = 0; co < c.cout; co++) {
                double s = 0;
                const float *wr = &hw_[(size_t)co * K];
                for (int kk = 0; kk < K; kk++) s += (double)arow[kk] * wr[kk];
                s += hbias[co];
                if (L.act) s = s / (1.0 + exp(-s));
                if (L.res) s += __half2float(lab_half(sr, (unsigned long long)(m * c.cout + co), 1.0f));
                refv[pi * c.cout + co] = s;
            }
        }
    }
    std::vector<__half> row(c.ld_out);
    auto cpu_check = [&](const __half *dev, double *maxerr) {
        int bad = 0;
        *maxerr = 0;
        for (size_t pi = 0; pi < pix.size(); pi++) {
            CK(cudaMemcpy(row.data(), dev + pix[pi] * c.ld_out, c.ld_out * 2, cudaMemcpyDeviceToHost));
            for (int co = 0; co < c.cout; co++) {
                const double g = __half2float(row[out_c0 + co]), r = refv[pi * c.cout + co], d = fabs(g - r);
                if (!(d <= 0x1p-10 * fabs(r) + 1e-4)) {
                    if (bad < 3)
                        fprintf(stderr, "  %s: m %lld co %d: got %.6f want %.6f\n", L.name, pix[pi], co, g, r);
                    bad++;
                }
                *maxerr = d > *maxerr || d != d ? d : *maxerr;
            }
        }
        return bad;
    };
    double blas_err;
    const int blas_bad = cpu_check(ref, &blas_err);
    char shape[160];
    snprintf(shape, sizeof shape, "%s n%d %dx%d %d(%d)->%d(%d) k%d s%d%s%s x%d", L.name, c.n, c.h, c.w, c.cin,
             c.ld_in, c.cout, c.ld_out, c.k, c.s, L.res ? " res" : "", L.act ? "" : " noact", sh.count);
    const double gflop = 2.0 * M * c.cout * K / 1e9;
    char unpadded[96] = "";
    if (R.gemm_unpadded_ms > 0)
        snprintf(unpadded, sizeof unpadded, "; gemm with m = ldc = %d: %.3f ms (%.1f TFLOP/s)", c.cout,
                 R.gemm_unpadded_ms, gflop / R.gemm_unpadded_ms);
    printf("%-58s cublas  err %.2e%s | %8.3f ms path, %8.3f ms gemm (%6.1f TFLOP/s)%s\n", shape, blas_err,
           blas_bad ? " FAIL" : "", R.blas_ms, R.gemm_ms, gflop / R.gemm_ms, unpadded);
    if (blas_bad) R.ok = 0;
    if (o.csv)
        fprintf(o.csv, "\"%s\",cublas,%d,%.3e,,%.4f,%.2f,%.4f,%.4f,%.4f\n", shape, blas_bad, blas_err, R.blas_ms,
                gflop / R.blas_ms, R.blas_ms, R.gemm_ms, R.gemm_unpadded_ms);

    unsigned *stats;
    CK(cudaMalloc(&stats, 3 * sizeof(unsigned)));
    for (int vi : o.versions) {
        const lab_version &V = VERSIONS[vi - 1];
        a.in = in[0] + in_c0;
        a.out = out + out_c0;
        CK(cudaMemsetAsync(out, 0xFF, out_elems * 2, st));
        CK(V.launch(a, st));
        CK(cudaStreamSynchronize(st));
        double err;
        const int bad = cpu_check(out, &err);
        CK(cudaMemsetAsync(stats, 0, 3 * sizeof(unsigned), st));
        k_compare<<<g_blocks(out_elems), 256, 0, st>>>(out, ref, M, c.ld_out, out_c0, c.cout, stats);
        CK(cudaGetLastError());
        unsigned hs[3];
        CK(cudaMemcpy(hs, stats, sizeof hs, cudaMemcpyDeviceToHost));
        float vs_blas;
        memcpy(&vs_blas, &hs[0], 4);
        const double ms = time_it([&](int r) {
            y5l_args t = a;
            t.in = in[r] + in_c0;
            CK(V.launch(t, st));
        });
        R.ms[vi] = ms;
        const bool ok = !bad && !hs[1] && !hs[2];
        if (!ok) R.ok = 0;
        char ver[32];
        if (vi == 3) snprintf(ver, sizeof ver, "v3 %s", v3_tile(c));
        else if (vi == 4) snprintf(ver, sizeof ver, "v4 %s", y5l_v4_tile_name(v4_tile_of(c)));
        else if (vi == 5 && v5_splits > 1)
            snprintf(ver, sizeof ver, "v5 %s/%d", y5w_v5_tile_name(v5_tile_of(c)), v5_splits);
        else if (vi == 5) snprintf(ver, sizeof ver, "v5 %s", y5w_v5_tile_name(v5_tile_of(c)));
        else snprintf(ver, sizeof ver, "v%d", vi);
        printf("%-58s %-10s err %.2e vs cublas %.2e%s | %8.3f ms %6.1f TFLOP/s  x%.2f cublas path, x%.2f gemm%s%s\n",
               "", ver, err, vs_blas, ok ? "" : " FAIL", ms, gflop / ms, R.blas_ms / ms,
               R.gemm_ms / ms, hs[1] ? " (over tol vs cublas)" : "", hs[2] ? " (wrote outside its slice)" : "");
        if (bad || hs[1] || hs[2])
            fprintf(stderr, "  %s v%d: %d CPU mismatches, %u over tolerance vs cuBLAS, %u outside the slice\n",
                    L.name, vi, bad, hs[1], hs[2]);
        if (o.csv)
            fprintf(o.csv, "\"%s\",v%d,%d,%.3e,%.3e,%.4f,%.2f,%.4f,%.4f,%.4f\n", shape, vi, ok ? 0 : 1, err, vs_blas,
                    ms, gflop / ms, R.blas_ms, R.gemm_ms, R.gemm_unpadded_ms);
    }
    CK(cudaFree(stats));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    for (auto p : in) CK(cudaFree(p));
    CK(cudaFree(w));
    CK(cudaFree(bias));
    CK(cudaFree(out));
    CK(cudaFree(ref));
    CK(cudaFree(acc));
    if (col) CK(cudaFree(col));
    if (res) CK(cudaFree(res));
    if (ws) CK(cudaFree(ws));
    fflush(stdout);
    return R;
}

int main(int argc, char **argv) {
    opts o;
    const char *net = "odd";
    int imgsz = 640, batch = 32;
    o.seed = (unsigned long long)time(nullptr);
    const char *csv = nullptr;
    for (int i = 1; i < argc; i++) {
        std::string s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (s == "--net") net = v, i++;
        else if (s == "--imgsz") imgsz = atoi(v), i++;
        else if (s == "--batch") batch = atoi(v), i++;
        else if (s == "--reps") o.reps = atoi(v), i++;
        else if (s == "--samples") o.samples = atoi(v), i++;
        else if (s == "--seed") o.seed = strtoull(v, nullptr, 0), i++;
        else if (s == "--csv") csv = v, i++;
        else if (s == "--v4-tile") {
            for (int t = 0; t < Y5L_V4_NTILES; t++)
                if (!strcmp(v, y5l_v4_tile_name(t))) g_v4_tile = t;
            if (g_v4_tile < 0) {
                fprintf(stderr, "conv_lab: no v4 tile %s\n", v);
                return 2;
            }
            i++;
        } else if (s == "--v5-bm") {
            g_v5_bm = atoi(v);
            if (g_v5_bm != 64 && g_v5_bm != 128) {
                fprintf(stderr, "conv_lab: no v5 row count %s (64, 128)\n", v);
                return 2;
            }
            i++;
        } else if (s == "--v5-splits") {
            g_v5_splits = atoi(v);
            if (g_v5_splits < 1 || g_v5_splits > Y5W_MAX_SPLITS) {
                fprintf(stderr, "conv_lab: --v5-splits %s: 1 to %d\n", v, Y5W_MAX_SPLITS);
                return 2;
            }
            i++;
        } else if (s == "--v5-bn") {
            g_v5_bn = atoi(v);
            if (y5w_v5_bn(1, g_v5_bn) != g_v5_bn) {
                fprintf(stderr, "conv_lab: no v5 width %s (64, 96, 128, 192, 256)\n", v);
                return 2;
            }
            i++;
        } else if (s == "--versions") {
            for (const char *p = v; *p; p++)
                if (*p >= '1' && *p <= '9') o.versions.push_back(*p - '0');
            i++;
        } else {
            fprintf(stderr,
                    "usage: conv_lab [--net odd|yolov5n|yolov5s|yolov5m|yolov5l] [--imgsz N] [--batch N]\n"
                    "                [--versions 1,2,3,4,5] [--reps N] [--samples N] [--seed N] [--csv FILE]\n"
                    "                [--v4-tile 128x128|128x64|64x64|256x128] [--v5-bm 64|128] [--v5-bn 64|96|128|192|256]\n"
                    "                [--v5-splits 1..8]\n");
            return 2;
        }
    }
    if (g_v5_bm == 64 && g_v5_bn == 256) {
        fprintf(stderr, "conv_lab: v5 does not build 64x256 (ptxas serialises its wgmma)\n");
        return 2;
    }
    if (o.versions.empty())
        for (int v = 1; v <= NVERSIONS; v++) o.versions.push_back(v);
    for (int v : o.versions)
        if (v < 1 || v > NVERSIONS) {
            fprintf(stderr, "conv_lab: no version %d (1..%d)\n", v, NVERSIONS);
            return 2;
        }
    if (o.reps < 1 || batch < 1 || imgsz < 32 || imgsz % 32) {
        fprintf(stderr, "conv_lab: bad --reps, --batch or --imgsz (a multiple of 32)\n");
        return 2;
    }
    std::vector<lab_shape> shapes;
    if (!strcmp(net, "odd")) {
        shapes = odd_shapes();
        o.all_samples = 1;
        o.reps = std::min(o.reps, 5);
    } else {
        shapes = net_shapes(net, imgsz, batch);
    }
    if (csv && !(o.csv = fopen(csv, "w"))) {
        perror(csv);
        return 1;
    }
    if (o.csv) fprintf(o.csv, "shape,impl,fail,max_err_cpu,max_diff_cublas,ms,tflops,cublas_path_ms,cublas_gemm_ms,"
                             "cublas_gemm_unpadded_ms\n");

    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    g_sms = prop.multiProcessorCount;
    g_smem_optin = (int)prop.sharedMemPerBlockOptin;
    if (g_v4_tile >= 0 && !y5l_v4_fits(g_v4_tile, g_smem_optin)) {
        fprintf(stderr, "conv_lab: v4 tile %s needs %d bytes of shared memory, this card allows %d\n",
                y5l_v4_tile_name(g_v4_tile), y5l_v4_smem(y5l_v4_tile_cfg(g_v4_tile)), g_smem_optin);
        return 2;
    }
    printf("conv_lab: %s (sm_%d%d, %d SMs), net %s, batch %d, seed %llu, reps %d\n", prop.name, prop.major,
           prop.minor, g_sms, net, !strcmp(net, "odd") ? 0 : batch, o.seed, o.reps);
    // v5 runs only where the card runs this binary's sm_90a code: elsewhere
    // it is left out with the reason; on an sm_90 card that is a failure
    int v5_missing = 0;
    if (std::find(o.versions.begin(), o.versions.end(), 5) != o.versions.end()) {
        const cudaError_t e = y5w_v5_prepare();
        if (e != cudaSuccess) {
            (void)cudaGetLastError(); // not sticky (no kernel image): later launches must not see it
            v5_missing = prop.major == 9 && prop.minor == 0;
            printf("conv_lab: v5 not run: %s%s\n", cudaGetErrorString(e),
                   v5_missing ? " (an sm_90 card: the build lacks sm_90a code, LAB_ARCH)" : " (needs a Hopper, sm_90a)");
            o.versions.erase(std::remove(o.versions.begin(), o.versions.end(), 5), o.versions.end());
        }
    }
    for (int v : o.versions) printf("  %s\n", VERSIONS[v - 1].desc);
    v2_attr<128, 128, 2, 4, 2>();
    CK(y5l_v3_prepare());
    CK(y5l_v4_prepare());
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    cublasHandle_t blas;
    CKB(cublasCreate(&blas));
    CKB(cublasSetStream(blas, st));

    double tot[8] = {0}, tot_blas = 0, tot_gemm = 0, flop = 0;
    int fails = 0;
    for (size_t i = 0; i < shapes.size(); i++) {
        result r = run_shape(shapes[i], o, blas, st, (int)i);
        const int cnt = shapes[i].count;
        for (int v : o.versions) tot[v] += cnt * r.ms[v];
        tot_blas += cnt * r.blas_ms;
        tot_gemm += cnt * r.gemm_ms;
        const lab_shape &s = shapes[i];
        const int ho = y5l_out_dim(s.l.h, s.l.k, s.l.s, s.l.p), wo = y5l_out_dim(s.l.w, s.l.k, s.l.s, s.l.p);
        flop += cnt * 2.0 * s.n * ho * wo * s.l.cout * s.l.k * s.l.k * s.l.cin;
        fails += !r.ok;
    }
    printf("\n| %s b%d, all %zu conv shapes x their counts | ms | TFLOP/s | vs cuBLAS path |\n| --- | ---: | ---: | ---: |\n",
           net, batch, shapes.size());
    printf("| cuBLAS path (im2col + GemmEx + epilogue) | %.3f | %.1f | 1.00 |\n", tot_blas, flop / tot_blas / 1e9);
    printf("| cuBLAS GemmEx alone (lower bound of that path) | %.3f | %.1f | %.2f |\n", tot_gemm,
           flop / tot_gemm / 1e9, tot_blas / tot_gemm);
    for (int v : o.versions)
        printf("| v%d | %.3f | %.1f | %.2f |\n", v, tot[v], flop / tot[v] / 1e9, tot_blas / tot[v]);
    printf("conv_lab: %d of %zu shapes failed a check%s\n", fails, shapes.size(),
           v5_missing ? "; v5 could not run on this sm_90 card (a failure)" : "");
    if (o.csv) fclose(o.csv);
    CKB(cublasDestroy(blas));
    CK(cudaStreamDestroy(st));
    return fails || v5_missing ? 1 : 0;
}
