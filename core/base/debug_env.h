/* debug_env.h - every environment switch yolov5c reads, read once.
 *
 * These are debugging and measurement knobs, not user options: a user never
 * needs one. All of them are read together on first use (thread-safe) and
 * never again, so no hot path calls getenv. One exception, not a hot path:
 * the conv tuning cache's location (Y5_TUNE_CACHE, XDG_CACHE_HOME, HOME) is
 * read each time a CUDA backend loads or saves that file (cuda/tune_cache.c),
 * so tests can point two engines of one process at one file.
 *
 *   Y5_ISA=scalar|avx2|avx512|neon  cap the CPU kernels' ISA (default: the best the CPU has;
 *                               layers/cpu/isa.h: neon is level 1 like avx2)
 *   Y5_WINOGRAD=0|1|2|4         stride-1 3x3 CPU convs: off / per-layer auto /
 *                               F(2x2,3x3) / F(4x4,3x3) (default: auto with AVX-512, else off)
 *   Y5_NO_CUDA_GRAPH=1          CUDA: run the ops eagerly instead of replaying a captured graph
 *   Y5_CONV_IMPL=cublas|mma|auto|wgmma|tune|v4  CUDA convs: im2col + cuBLAS GEMM + epilogue (default: the
 *                               reference and fallback) / the lab's v3 implicit-GEMM tensor-core kernel
 *                               for every conv it supports / v3 where it beat cuBLAS on the H200 at batch
 *                               32 (cuda/conv_mma.cu states the rule) / the lab's v5 (Hopper wgmma, sm_90a
 *                               only; elsewhere cuBLAS with a warning) wherever v3 could run; convs the
 *                               own kernels cannot run (the input's channel stride or offset not a
 *                               multiple of 8, an output overlapping its input) stay on cuBLAS / tune: each
 *                               conv shape timed at a plan's warm-up on every path that runs it (cuBLAS
 *                               FP32 and half out, v3, v4, v5 on sm_90a), each checked against cuBLAS FP32, the
 *                               fastest kept (cuda/backend_cuda.cu, "conv tuning"), and kept on disk for the
 *                               next run (Y5_TUNE_CACHE=path, or 0 for none; cuda/tune_cache.h) / v4: the
 *                               lab's v4 (64-deep swizzled k-tiles, 16-byte stores; cuda/conv_v4.cu) wherever
 *                               v3 could run (tune times it too). Another value: cuBLAS, with a warning
 *                               when a backend is created
 *   Y5_TUNE_SKIP=v4,v5,...      tune: leave these paths out (f16, v3, v4, v5; cuBLAS FP32 is the reference and
 *                               always runs): a kernel that faults the device (a sticky error ends the forward)
 *                               can be kept out while the rest is tuned
 *   Y5_CUBLAS_OUT=f32|f16       CUDA convs on cuBLAS: the GEMM writes FP32 into a scratch and the epilogue
 *                               adds bias etc. and stores half (f32, default: the path that ran on the H200) /
 *                               the GEMM writes half straight into the output slice and the epilogue
 *                               rewrites it in place (f16: 6 bytes per output moved instead of 10; the
 *                               GEMM result is rounded to half before the bias, as PyTorch's FP16 conv +
 *                               bias does, so its error scales with |GEMM sum|, not with the output: with
 *                               BatchNorm folded a bias can cancel a sum of ~30 (yolov5n's largest |bias| is
 *                               32), which f16 leaves up to 0.016 off before the activation). f16 applies
 *                               where the output is disjoint from the input and the residual; elsewhere f32.
 *                               Another value: f32, with a warning
 *   Y5_CONV_PAD=0               CUDA: convs with cin % 8 != 0 (the stem) read their input as it is (K = k*k*cin,
 *                               one half per im2col lane, cuBLAS only) instead of a copy padded to 8 channels
 *   Y5_CPU_NMS=1                CUDA: download the predictions and run NMS on the host
 *   Y5_NMS_BATCH=0              CUDA: NMS image by image (y5_cuda_nms: two host synchronisations per image)
 *                               instead of the whole batch queued behind the forward and read after its one
 *                               wait (y5_cuda_nms_submit / _take; default on). Same results: it is there to
 *                               compare the two and to rule the batch path out
 *   Y5_CPU_LETTERBOX=1          CUDA: letterbox on the host and upload FP32
 *   Y5_PIPE_LETTERBOX=engine    detect pipeline: letterbox on the engine thread, not the decode workers
 *   Y5_PIPE_FLUSH_MS=N          detect pipeline: a partial batch waits at most N ms for more images (default 100)
 *   Y5_PIPE_OPEN_DELAY_MS=N     detect pipeline: each engine's opening takes N ms longer (a slow device start,
 *                               for the test that the decode workers run meanwhile)
 *   Y5_PIPE_OVERLAP=0|1         detect pipeline: fill the next batch while the engine's forward runs (default:
 *                               on for an engine whose forward is asynchronous, the GPU's); 0 turns it off,
 *                               1 also runs a CPU engine in that order (tests: same results either way)
 *   Y5_CUDA_DECODE=1            CUDA: Detect's decode on the first kernel (a warp per row) instead of the
 *                               tiled one (cuda/decode_tile.h); the same values, to compare their times
 *   Y5_FAULT_ENGINE=I:N         detect pipeline, tests: engine I (0-based, --device order) faults on its
 *                               forward after N good ones (y5_engine_inject_fault: a real trap on CUDA, where
 *                               N >= 2 lands on a graph replay; 1 lands on the capture, which then fails and
 *                               warns first). Two CUDA engines on one GPU share its context: both die
 */
#ifndef Y5_DEBUG_ENV_H
#define Y5_DEBUG_ENV_H

typedef struct {
    int isa;                 /* Y5_ISA: 0 scalar, 1 avx2 / neon, 2 avx512; -1 unset */
    int winograd;            /* Y5_WINOGRAD; -1 unset */
    int no_cuda_graph;       /* Y5_NO_CUDA_GRAPH set and not "0" */
    int conv_impl;           /* Y5_CONV_IMPL: 0 cublas, 1 mma, 2 auto, 3 wgmma, 4 tune, 5 v4 (Y5_CUDA_CONV_*); -1 unset,
                              * -2 unknown */
    unsigned tune_skip;      /* Y5_TUNE_SKIP: bit r set: tuning leaves run r (Y5_CUDA_RUN_*: 1 f16, 2 v3, 3 v5, 4 v4) out */
    int cublas_out;          /* Y5_CUBLAS_OUT: 0 f32, 1 f16; -1 unset, -2 unknown */
    int conv_no_pad;         /* Y5_CONV_PAD=0 */
    int cpu_nms;             /* Y5_CPU_NMS set and not "0" */
    int nms_batch;           /* Y5_NMS_BATCH: 0 off; 1 (default) on */
    int cpu_letterbox;       /* Y5_CPU_LETTERBOX set and not "0" */
    int pipe_letterbox_engine; /* Y5_PIPE_LETTERBOX=engine */
    double pipe_flush_ms;    /* Y5_PIPE_FLUSH_MS; -1 unset */
    double pipe_open_delay_ms; /* Y5_PIPE_OPEN_DELAY_MS; 0 unset */
    int pipe_overlap;        /* Y5_PIPE_OVERLAP: 0 or 1; -1 unset */
    int cuda_decode;         /* Y5_CUDA_DECODE: 1 the first decode kernel (k_decode); 0 unset: the tiled one */
    int fault_engine;        /* Y5_FAULT_ENGINE's I; -1 unset or malformed */
    long long fault_after;   /* ... and N */
} y5_debug_env_t;

const y5_debug_env_t *y5_debug_env(void);

#endif
