// conv_v5.cuh - lab version 5: the implicit-GEMM conv on Hopper's warpgroup
// MMA (wgmma.mma_async, sm_90a only). v1-v3 issue mma.sync m16n8k16 from
// registers that ldmatrix filled; on an H100/H200 that path tops out far
// below the tensor cores' rate (the lab's H200 run: v3 reached 60-150
// TFLOP/s where cuBLAS's own wgmma GEMMs reached 270-610 on the same
// shapes). wgmma reads both operands straight from shared memory through a
// descriptor and works on a 64 x N x 16 product per instruction per
// warpgroup, so the block's threads only gather.
//
// Design (the index arithmetic is wgmma_tile.h's, checked on the CPU by
// tests/unit/test_wgmma_tile.c):
// - block BM pixels x BN channels: BN 64, 96, 128, 192 or 256, the one that
//   wastes the fewest output channels (a wider tile reads A once for more
//   channels: 128x256 moves 48 KiB of operands per 4 MFLOP where 128x128
//   moves 32 KiB per 2); BM 128 (2 warpgroups, 256 threads), or 64 (one
//   warpgroup) where 128-row blocks would not give every SM one
//   (y5w_v5_tile); warpgroup g computes rows 64g..64g+63 with m64nBNk16;
// - BK = 64: a k-tile row is 128 bytes, one 128B-swizzle row; A (the
//   implicit im2col) and W gathered by cp.async (16 bytes, zero-fill for
//   padding) into S stages, chunk c of row r at chunk c ^ (r % 8), by v4's
//   loader (one position in K per thread, stepped without a division);
// - per k-tile: wait for the stage, fence.proxy.async (cp.async writes are
//   generic-proxy writes; the tensor cores read through the async proxy),
//   barrier, start the gather of a later k-tile, then 4 wgmma (k16 steps:
//   descriptor start + 32 bytes each), commit, and wait until only F = 1
//   group is pending, so the tensor cores work on k-tile kt while the
//   threads pass the next barrier and issue k-tile kt+1 (the stage rule is
//   at the kernel);
// - epilogue: conv_common.cuh's fused bias + activation + residual over the
//   wgmma accumulator map, half2 stores into the channel slice.
// - split-K where even 64-row blocks leave SMs idle (the late layers at
//   batch 1): blockIdx.z splits the k-tiles (y5w_v5_splits), FP32 partials
//   to a workspace, y5w_splitk_reduce adds them in order and runs the
//   epilogue.
// Not yet: TMA (cp.async.bulk.tensor, im2col mode) gathers, producer /
// consumer warp specialisation with mbarriers, a persistent grid, the
// epilogue through shared memory for 16-byte stores (v4's).
//
// Built only for sm_90a (-gencode arch=compute_90a,code=sm_90a: the lab's
// LAB_ARCH); in any other pass the kernel is empty and y5w_v5_prepare
// reports that this binary has no sm_90a code for the device, so the lab
// skips v5 rather than checking an empty kernel.
#pragma once

#include <stdint.h>

#include "cuda/lab/conv_common.cuh"
#include "cuda/lab/wgmma_tile.h"

__device__ __forceinline__ void y5w_fence_operands() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void y5w_commit() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// Until at most N of this warpgroup's committed wgmma groups are pending.
template <int N> __device__ __forceinline__ void y5w_wait() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Keeps the compiler from moving any access of the accumulators across a
// wgmma fence, commit or wait (it does not know wgmma writes them
// asynchronously): moved reads would either be wrong or, as seen in a test
// build, make ptxas serialize every wgmma (info C7514, no error). No
// instruction is emitted. As CUTLASS's warpgroup_fence_operand.
template <int N> __device__ __forceinline__ void y5w_fence_acc(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
// This thread's completed cp.async writes, visible to the tensor cores' reads.
__device__ __forceinline__ void y5w_fence_proxy_async() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// D(64 x BN) += A(64 x 16) * B(16 x BN): A and B from shared memory through
// descriptors, FP32 accumulators in d (y5w_acc_row / _col); both operands
// K-major (no transpose), scales +1, scale-d 1 (d starts at zero). One
// specialisation per tile width of y5w_v5_bn_at (the instruction's N is an
// immediate and its d a list of BN / 2 registers).
template <int BN>
__device__ __forceinline__ void y5w_mma(float (&d)[BN / 2], unsigned long long da, unsigned long long db);

// The specialisations differ only in N and the length of d's register list;
// the macros below write each one. Y5W_ACC8(i): d[i..i+7] as in-out
// operands; Y5W_MMA_ASM: the instruction with d as operands 0..ND-1, the two
// descriptors as ND and ND+1 and the scale-d predicate's source as ND+2
// (IA, IB, IP: those numbers, written out, since the preprocessor cannot add);
// Y5W_REGS_ND: the register list "%0,..." of ND accumulators, each list
// the one before it plus its tail.
#define Y5W_ACC8(i) \
    "+f"(d[(i)]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), \
    "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), "+f"(d[(i) + 6]), "+f"(d[(i) + 7])
#define Y5W_ACC16(i) Y5W_ACC8(i), Y5W_ACC8((i) + 8)
#define Y5W_ACC32(i) Y5W_ACC16(i), Y5W_ACC16((i) + 16)
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define Y5W_MMA_ASM(N, REGS, IA, IB, IP, ...)                                                                      \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #IP ", 0;\n"                                                 \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.f16.f16 {" REGS "}, %" #IA ", %" #IB                \
                 ", p, 1, 1, 0, 0;\n}\n"                                                                            \
                 : __VA_ARGS__                                                                                   \
                 : "l"(da), "l"(db), "r"(1))
#else
#define Y5W_MMA_ASM(N, REGS, IA, IB, IP, ...) ((void)d, (void)da, (void)db)
#endif
#define Y5W_REGS_32 \
    "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23" \
    ",%24,%25,%26,%27,%28,%29,%30,%31"
template <> __device__ __forceinline__ void y5w_mma<64>(float (&d)[32], unsigned long long da, unsigned long long db) {
    Y5W_MMA_ASM(64, Y5W_REGS_32, 32, 33, 34, Y5W_ACC32(0));
}
#define Y5W_REGS_48 \
    Y5W_REGS_32 \
    ",%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47"
template <> __device__ __forceinline__ void y5w_mma<96>(float (&d)[48], unsigned long long da, unsigned long long db) {
    Y5W_MMA_ASM(96, Y5W_REGS_48, 48, 49, 50, Y5W_ACC32(0), Y5W_ACC16(32));
}
#define Y5W_REGS_64 \
    Y5W_REGS_48 \
    ",%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
template <> __device__ __forceinline__ void y5w_mma<128>(float (&d)[64], unsigned long long da, unsigned long long db) {
    Y5W_MMA_ASM(128, Y5W_REGS_64, 64, 65, 66, Y5W_ACC32(0), Y5W_ACC32(32));
}
#define Y5W_REGS_96 \
    Y5W_REGS_64 \
    ",%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85" \
    ",%86,%87,%88,%89,%90,%91,%92,%93,%94,%95"
template <> __device__ __forceinline__ void y5w_mma<192>(float (&d)[96], unsigned long long da, unsigned long long db) {
    Y5W_MMA_ASM(192, Y5W_REGS_96, 96, 97, 98, Y5W_ACC32(0), Y5W_ACC32(32), Y5W_ACC32(64));
}
#define Y5W_REGS_128 \
    Y5W_REGS_96 \
    ",%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,%112,%113" \
    ",%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"
template <> __device__ __forceinline__ void y5w_mma<256>(float (&d)[128], unsigned long long da, unsigned long long db) {
    Y5W_MMA_ASM(256, Y5W_REGS_128, 128, 129, 130, Y5W_ACC32(0), Y5W_ACC32(32), Y5W_ACC32(64), Y5W_ACC32(96));
}
#undef Y5W_MMA_ASM
#undef Y5W_REGS_128
#undef Y5W_REGS_96
#undef Y5W_REGS_64
#undef Y5W_REGS_48
#undef Y5W_REGS_32
#undef Y5W_ACC32
#undef Y5W_ACC16
#undef Y5W_ACC8

// The epilogue over the wgmma accumulator map: d[i], d[i+1] (i even) are
// channels co, co+1 of pixel m. z < 0: the fused epilogue
// (conv_common.cuh's y5l_store_pair); split-K's split z >= 0: its FP32
// partial sums into the workspace (y5w_ws_index), two channels as one
// float2 where cout is even (then every pair's index is even: 8-byte
// aligned).
template <int BM, int BN>
__device__ __forceinline__ void y5w_epilogue(const y5l_args &a, const float (&d)[BN / 2], long long bx, int by,
                                             int tid, int z) {
    const long long M = y5l_M(&a.c);
    const int cout = a.c.cout;
#pragma unroll
    for (int i = 0; i < BN / 2; i += 2) {
        const long long m = y5w_out_m(BM, bx, tid, i);
        const int co = y5w_out_co(BN, by, tid, i);
        if (m >= M || co >= cout) continue;
        if (z < 0) {
            y5l_store_pair(a, m, co, co + 1 < cout, d[i], d[i + 1]);
            continue;
        }
        float *p = a.ws + y5w_ws_index(M, cout, z, m, co);
        if (co + 1 < cout && (cout & 1) == 0) {
            *reinterpret_cast<float2 *>(p) = make_float2(d[i], d[i + 1]);
        } else {
            p[0] = d[i];
            if (co + 1 < cout) p[1] = d[i + 1];
        }
    }
}

// Split-K's second kernel: for each pair of channels (co, co + 1) of each
// output pixel, the splits' partial sums added in order z = 0 .. splits-1,
// then the fused epilogue (bias, activation, residual, half stores). A
// grid-stride loop; one thread per pair, so a residual that is the output's
// own view is read before the same thread writes it.
static __global__ void y5w_splitk_reduce(const y5l_args a, int splits) {
    const long long M = y5l_M(&a.c);
    const int cout = a.c.cout, pairs = (cout + 1) / 2;
    const long long total = M * pairs;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long m = i / pairs;
        const int co = 2 * (int)(i - m * pairs);
        const bool two = co + 1 < cout;
        float s0 = 0.0f, s1 = 0.0f;
        for (int z = 0; z < splits; z++) {
            const float *p = a.ws + y5w_ws_index(M, cout, z, m, co);
            s0 += p[0];
            if (two) s1 += p[1];
        }
        y5l_store_pair(a, m, co, two, s0, s1);
    }
}

// S stages; F wgmma groups (k-tiles) left in flight when the next k-tile
// starts. The gather runs PD = S - 1 - F k-tiles ahead: the stage refilled
// at k-tile kt last held k-tile kt - 1 - F, whose wgmma group has completed
// (each warpgroup waited down to F pending at the end of k-tile kt - 1, and
// the barrier of k-tile kt orders that before the refill), while the F
// groups still running read stages kt - F .. kt - 1 and this k-tile's reads
// stage kt: all different when S >= F + 2 (the CPU emulation checks it).
//
// BM: 128 (2 warpgroups, 256 threads) or 64 (one warpgroup, 128 threads:
// twice the blocks where 128-row blocks would leave SMs idle, y5w_v5_tile).
template <int BM, int BN, int S, int F>
__global__ void __launch_bounds__(Y5W_THREADS(BM), 1) y5w_conv_v5(const y5l_args a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int BK = Y5W_BK, NT = Y5W_THREADS(BM), PD = Y5W_GATHER_AHEAD(S, F);
    static_assert(BM == 64 || BM == 128, "one or two warpgroups of 64 rows");
    constexpr int AS = BM * (BK / 8) / NT, BS = BN * (BK / 8) / NT;
    static_assert(AS * NT == BM * (BK / 8) && BS * NT == BN * (BK / 8), "loader slots must divide evenly");
    static_assert(F >= 0 && PD >= 1, "at least one k-tile gathered ahead");
    extern __shared__ uint4 y5w_smem_raw[];
    // the swizzle atoms must be 1024-aligned in the shared window
    const unsigned raw = y5l_smem_addr(y5w_smem_raw);
    const unsigned pad = ((raw + (Y5W_ATOM_BYTES - 1)) & ~(unsigned)(Y5W_ATOM_BYTES - 1)) - raw;
    unsigned char *sm = reinterpret_cast<unsigned char *>(y5w_smem_raw) + pad;
    const unsigned sm_addr = raw + pad;

    const int tid = threadIdx.x, wg = tid >> 7;
    const long long bx = blockIdx.x;
    const int by = blockIdx.y;
    const int K = y5l_K(&a.c);
    // split-K (gridDim.z > 1): this block runs k-tiles [kt0, kt0 + nk) of
    // the conv's and stores partial sums (y5w_split_range)
    int kt0 = 0, kt1 = (K + BK - 1) / BK;
    if (gridDim.z > 1) y5w_split_range(kt1, (int)gridDim.z, (int)blockIdx.z, &kt0, &kt1);
    const int nk = kt1 - kt0;

    // loader state, once per block (the only divisions): v4's (conv_tile.h).
    // Every slot of a thread has the same chunk of the k-tile (NT % 8 == 0),
    // so one (ky, kx, ci) position per thread, stepped per k-tile without a
    // division; k-tiles are gathered strictly in order.
    static_assert(NT % 8 == 0, "one chunk per thread");
    const int ch = y5l_slot_chunk(NT, BK, tid, 0);
    y5l_apix pix[AS];
#pragma unroll
    for (int j = 0; j < AS; j++) pix[j] = y5l_apix_of(&a.c, bx * BM + y5l_slot_row(NT, BK, tid, j));
    const y5l_kstep kstep = y5l_kstep_of(&a.c, BK);
    y5l_kpos kp = y5l_kpos_at(&a.c, kt0 * BK + ch * 8);

    auto load_tile = [&](int st) { // the next k-tile into stage st
        unsigned char *as = sm + y5w_a_off(BM, st), *bs = sm + y5w_b_off(BM, BN, S, st);
#pragma unroll
        for (int j = 0; j < AS; j++) {
            const long long off = y5l_a_src_v4(&a.c, pix[j], &kp);
            y5l_cp_async16(reinterpret_cast<__half *>(as + y5w_swz(y5l_slot_row(NT, BK, tid, j), ch)),
                           off >= 0 ? a.in + off : a.in, off >= 0 ? 16 : 0);
        }
#pragma unroll
        for (int j = 0; j < BS; j++) {
            const int row = y5l_slot_row(NT, BK, tid, j);
            const long long off = y5l_b_src(&a.c, by * BN + row, kp.kk); // a multiply, no state
            y5l_cp_async16(reinterpret_cast<__half *>(bs + y5w_swz(row, ch)), off >= 0 ? a.w + off : a.w,
                           off >= 0 ? 16 : 0);
        }
        y5l_kpos_next(&a.c, kstep, &kp);
    };

    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) d[i] = 0.0f;

#pragma unroll
    for (int s = 0; s < PD; s++) {
        if (s < nk) load_tile(s);
        y5l_cp_commit(); // empty groups keep the wait count uniform
    }
    for (int kt = 0; kt < nk; kt++) {
        y5l_cp_wait<PD - 1>();   // this thread's copies of k-tile kt have landed
        y5w_fence_proxy_async(); // ... and are visible to the async proxy
        __syncthreads();         // everyone's; and k-tile kt-1-F's wgmma has completed everywhere
        const int nxt = kt + PD;
        if (nxt < nk) load_tile(nxt % S);
        y5l_cp_commit();
        const unsigned as = sm_addr + y5w_a_off(BM, kt % S) + wg * 64 * Y5W_ROW_BYTES;
        const unsigned bs = sm_addr + y5w_b_off(BM, BN, S, kt % S);
        y5w_fence_acc(d);
        y5w_fence_operands();
#pragma unroll
        for (int s = 0; s < BK / 16; s++) y5w_mma<BN>(d, y5w_desc(as, s), y5w_desc(bs, s));
        y5w_commit();
        y5w_wait<F>();
        y5w_fence_acc(d);
    }
    y5w_wait<0>();
    y5w_fence_acc(d); // the epilogue's reads of d stay after the wait
    y5l_cp_wait<0>();
    y5w_epilogue<BM, BN>(a, d, bx, by, tid, gridDim.z > 1 ? (int)blockIdx.z : -1);
#else
    (void)a; // not an sm_90a pass: y5w_v5_prepare refuses to launch this
#endif
}

// 1 in an sm_90a pass, 0 in any other: which code the device actually runs.
// static: each translation unit that includes this header has its own.
static __global__ void y5w_probe(int *flag) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    *flag = 1;
#else
    *flag = 0;
#endif
}

// 4 stages, one k-tile's wgmma left running while the next is gathered and
// issued (the gather 2 k-tiles ahead).
#define Y5W_V5_STAGES 4
#define Y5W_V5_INFLIGHT 1

// "128x192" etc.: the tile's rows x output channels.
static inline const char *y5w_v5_tile_name(y5w_tile t) {
    static const char *const n128[] = {"128x64", "128x96", "128x128", "128x192", "128x256"};
    static const char *const n64[] = {"64x64", "64x96", "64x128", "64x192", "64x256"};
    for (int i = 0; i < Y5W_V5_NBNS; i++)
        if (y5w_v5_bn_at(i) == t.bn) return t.bm == 64 ? n64[i] : n128[i];
    return "?";
}

// (64, 256) is not built (y5w_v5_tile_built): no instance, an error if asked.
template <int BM, int BN>
static cudaError_t y5w_v5_launch_t(const y5l_args &a, int splits, cudaStream_t st) {
    if constexpr (BM == 64 && BN == 256) {
        (void)a, (void)splits, (void)st;
        return cudaErrorInvalidValue;
    } else {
        dim3 grid((unsigned)y5l_grid_m(&a.c, BM), (unsigned)y5l_grid_n(&a.c, BN), (unsigned)splits);
        y5w_conv_v5<BM, BN, Y5W_V5_STAGES, Y5W_V5_INFLIGHT><<<grid, Y5W_THREADS(BM), y5w_smem(BM, BN, Y5W_V5_STAGES), st>>>(a);
        return cudaGetLastError();
    }
}
template <int BM, int BN>
static cudaError_t y5w_v5_attr() {
    if constexpr (BM == 64 && BN == 256) {
        return cudaSuccess;
    } else {
        return cudaFuncSetAttribute(y5w_conv_v5<BM, BN, Y5W_V5_STAGES, Y5W_V5_INFLIGHT>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, y5w_smem(BM, BN, Y5W_V5_STAGES));
    }
}
template <int BM>
static cudaError_t y5w_v5_attrs() {
    cudaError_t e = y5w_v5_attr<BM, 64>();
    if (e == cudaSuccess) e = y5w_v5_attr<BM, 96>();
    if (e == cudaSuccess) e = y5w_v5_attr<BM, 128>();
    if (e == cudaSuccess) e = y5w_v5_attr<BM, 192>();
    if (e == cudaSuccess) e = y5w_v5_attr<BM, 256>();
    return e;
}
template <int BM>
static cudaError_t y5w_v5_launch_m(const y5l_args &a, int bn, int splits, cudaStream_t st) {
    switch (bn) {
    case 64: return y5w_v5_launch_t<BM, 64>(a, splits, st);
    case 96: return y5w_v5_launch_t<BM, 96>(a, splits, st);
    case 192: return y5w_v5_launch_t<BM, 192>(a, splits, st);
    case 256: return y5w_v5_launch_t<BM, 256>(a, splits, st);
    default: return y5w_v5_launch_t<BM, 128>(a, splits, st);
    }
}

// Once per device, outside any capture: the shared-memory limits, and
// whether this binary runs sm_90a code on it (cudaErrorNotSupported if not:
// not a Hopper, or built without LAB_ARCH's sm_90a).
static inline cudaError_t y5w_v5_prepare() {
    int *flag = NULL, h = 0;
    cudaError_t e = cudaMalloc((void **)&flag, sizeof(int));
    if (e != cudaSuccess) return e;
    y5w_probe<<<1, 1>>>(flag);
    e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaMemcpy(&h, flag, sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(flag);
    if (e != cudaSuccess) return e;
    if (!h) return cudaErrorNotSupported;
    e = y5w_v5_attrs<128>();
    if (e == cudaSuccess) e = y5w_v5_attrs<64>();
    return e;
}

// One conv (v3's preconditions: y5l_v3_supported, no overlap of output
// and input) on the bm x bn tile in `splits` k-splits (y5w_v5_tile and
// y5w_v5_splits pick them per conv): splits > 1 needs a.ws with room for
// splits x M x cout floats (a.ws_floats; fewer splits where it has less,
// y5w_splits_fit) and adds the reduce kernel. *used (may be NULL): the
// splits launched. y5w_v5_prepare must have succeeded on this device.
static inline cudaError_t y5w_v5_launch_tile(const y5l_args &a, y5w_tile t, int splits, cudaStream_t st,
                                             int *used = nullptr) {
    splits = a.ws ? y5w_splits_fit(splits, y5l_M(&a.c), a.c.cout, a.ws_floats) : 1;
    if (splits < 1) splits = 1;
    if (used) *used = splits;
    cudaError_t e = t.bm == 64 ? y5w_v5_launch_m<64>(a, t.bn, splits, st) : y5w_v5_launch_m<128>(a, t.bn, splits, st);
    if (e != cudaSuccess || splits == 1) return e;
    const long long pairs = y5l_M(&a.c) * ((a.c.cout + 1) / 2);
    const long long blocks = (pairs + 255) / 256;
    y5w_splitk_reduce<<<(unsigned)(blocks < 65535 ? blocks : 65535), 256, 0, st>>>(a, splits);
    return cudaGetLastError();
}
