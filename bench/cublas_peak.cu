// cublas_peak.cu - the card's dense FP16 GEMM rate: the ceiling yolov5c's
// GPU figures are reported against (bench/gpu.sh, bench/gpu_check.sh).
//
//   make cublas-peak && build/cublas_peak [N] [iters]
//
// One large square cublasGemmEx, FP16 inputs and output, FP32 accumulation
// (CUBLAS_COMPUTE_32F: what yolov5c's convs use), timed with CUDA events
// after a warm-up; prints the best and median TFLOP/s (2*N^3 per GEMM), and
// before that the memory ceiling: a 1 GiB device-to-device copy's GB/s,
// bytes read plus bytes written (the per-layer profile's roofline uses both).
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(x)                                                                              \
    do {                                                                                   \
        cudaError_t e_ = (x);                                                              \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "cublas_peak: %s: %s\n", #x, cudaGetErrorString(e_));          \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)
#define CB(x)                                                                              \
    do {                                                                                   \
        cublasStatus_t s_ = (x);                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
            fprintf(stderr, "cublas_peak: %s: %s\n", #x, cublasGetStatusString(s_));       \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

__global__ void fill(__half *p, size_t n, unsigned seed) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) p[i] = __float2half((float)((i * 2654435761u + seed) % 2001) / 1000.0f - 1.0f);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8192;
    int iters = argc > 2 ? atoi(argv[2]) : 20;
    if (n < 256 || n > 32768 || iters < 1 || iters > 10000) {
        fprintf(stderr, "usage: cublas_peak [N 256..32768] [iters]\n");
        return 2;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    size_t elems = (size_t)n * n;
    __half *a, *b, *c;
    CK(cudaMalloc(&a, elems * sizeof(__half)));
    CK(cudaMalloc(&b, elems * sizeof(__half)));
    CK(cudaMalloc(&c, elems * sizeof(__half)));
    unsigned blocks = (unsigned)((elems + 255) / 256);
    fill<<<blocks, 256>>>(a, elems, 1);
    fill<<<blocks, 256>>>(b, elems, 7);
    CK(cudaGetLastError());
    cublasHandle_t h;
    CB(cublasCreate(&h));
    const float one = 1.0f, zero = 0.0f;
    auto gemm = [&]() {
        return cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16F, n, b, CUDA_R_16F, n, &zero, c,
                            CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    for (int i = 0; i < 3; i++) CB(gemm());
    CK(cudaDeviceSynchronize());
    cudaEvent_t t0, t1;
    CK(cudaEventCreate(&t0));
    CK(cudaEventCreate(&t1));
    std::vector<float> ms(iters);
    for (int i = 0; i < iters; i++) {
        CK(cudaEventRecord(t0));
        CB(gemm());
        CK(cudaEventRecord(t1));
        CK(cudaEventSynchronize(t1));
        CK(cudaEventElapsedTime(&ms[i], t0, t1));
    }
    std::sort(ms.begin(), ms.end());
    double flop = 2.0 * n * (double)n * n;
    /* the memory ceiling: a 1 GiB device-to-device copy, bytes read + written */
    const size_t cbytes = (size_t)1 << 30;
    void *s0, *s1;
    CK(cudaMalloc(&s0, cbytes));
    CK(cudaMalloc(&s1, cbytes));
    CK(cudaMemset(s0, 1, cbytes));
    for (int i = 0; i < 2; i++) CK(cudaMemcpyAsync(s1, s0, cbytes, cudaMemcpyDeviceToDevice));
    std::vector<float> cms(iters);
    for (int i = 0; i < iters; i++) {
        CK(cudaEventRecord(t0));
        CK(cudaMemcpyAsync(s1, s0, cbytes, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(t1));
        CK(cudaEventSynchronize(t1));
        CK(cudaEventElapsedTime(&cms[i], t0, t1));
    }
    std::sort(cms.begin(), cms.end());
    printf("device %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
    printf("device-to-device copy of %zu MiB, %d iters: best %.0f GB/s, median %.0f GB/s (bytes read + written)\n",
           cbytes >> 20, iters, 2.0 * cbytes / cms[0] / 1e6, 2.0 * cbytes / cms[iters / 2] / 1e6);
    printf("cublasGemmEx FP16 in/out, FP32 compute, %dx%dx%d, %d iters: best %.1f TFLOP/s, median %.1f TFLOP/s\n", n,
           n, n, iters, flop / ms[0] / 1e9, flop / ms[iters / 2] / 1e9);
    cublasDestroy(h);
    cudaFree(s0);
    cudaFree(s1);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return 0;
}
