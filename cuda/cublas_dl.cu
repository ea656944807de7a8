/* cublas_dl.cu - cuBLAS loaded when the first CUDA backend opens, not when
 * the program starts.
 *
 * Why: libcublasLt alone is 540 MB (CUDA 13). Linked into yolov5c, the
 * dynamic loader mapped and relocated it at every start: `yolov5c --version`
 * took 70-110 ms and 220 MB of RSS on a machine without a GPU (2026-11-27),
 * which every CPU run and every short GPU run paid. Now only a process that
 * opens a CUDA engine loads it, by its soname (the rpath the Makefile sets
 * finds the toolkit's copy), and a missing library is a one-line error of
 * that engine, not a program that cannot start.
 *
 * The pointers' types are written out in cuda_internal.h; the static_asserts
 * below hold them to the header's own declarations, so a call through them
 * is checked by the compiler as a direct call would be. */
#include "cuda/cuda_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

y5_cublas_api y5_cublas;

#include <type_traits>
static_assert(std::is_same<decltype(y5_cublas.create), decltype(&cublasCreate_v2)>::value, "cublasCreate_v2");
static_assert(std::is_same<decltype(y5_cublas.destroy), decltype(&cublasDestroy_v2)>::value, "cublasDestroy_v2");
static_assert(std::is_same<decltype(y5_cublas.set_stream), decltype(&cublasSetStream_v2)>::value, "cublasSetStream_v2");
static_assert(std::is_same<decltype(y5_cublas.set_workspace), decltype(&cublasSetWorkspace_v2)>::value,
              "cublasSetWorkspace_v2");
static_assert(std::is_same<decltype(y5_cublas.status_string), decltype(&cublasGetStatusString)>::value,
              "cublasGetStatusString");
/* cublasGemmEx has a C++ overload in the header: the C declaration is the
 * one a pointer of our type can take */
static_assert(std::is_same<decltype(y5_cublas.gemm_ex),
                           decltype(static_cast<decltype(y5_cublas.gemm_ex)>(&cublasGemmEx))>::value,
              "cublasGemmEx");

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_err[640];

#define Y5_STR2(x) #x
#define Y5_STR(x) Y5_STR2(x)

static void load(void) {
    const char *name = "libcublas.so." Y5_STR(CUBLAS_VER_MAJOR);
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_err, sizeof load_err, "cannot load %s (%s)", name, e ? e : "dlopen failed");
        return;
    }
    y5_cublas_api a;
#define SYM(field, sym)                                                                           \
    if (!(*(void **)&a.field = dlsym(h, #sym))) {                                                   \
        snprintf(load_err, sizeof load_err, "%s has no %s: another cuBLAS than this build's", name, #sym); \
        return;                                                                                   \
    }
    SYM(create, cublasCreate_v2)
    SYM(destroy, cublasDestroy_v2)
    SYM(set_stream, cublasSetStream_v2)
    SYM(set_workspace, cublasSetWorkspace_v2)
    SYM(gemm_ex, cublasGemmEx)
    SYM(status_string, cublasGetStatusString)
#undef SYM
    y5_cublas = a; /* the library stays loaded for the life of the process */
}

const char *y5_cublas_load(void) {
    pthread_once(&load_once, load);
    return load_err[0] ? load_err : NULL;
}

extern "C" const char *y5_cuda_cublas_load(void) { return y5_cublas_load(); }

/* Why a thread: mapping and relocating the 540 MB takes about 0.1 s, which
 * runs while the opening thread reads the weight file. It does not overlap
 * everything it could: glibc runs one dlopen at a time, so the CUDA
 * runtime's own first load of the driver library (the backend's first CUDA
 * call) waits for this one; how much the device start overlaps was not
 * measured (a review found the lock, 2026-11-27). pthread_once makes a
 * backend that opens meanwhile wait for this load, not repeat it. */
static void *preload_main(void *arg) {
    (void)arg;
    y5_cublas_load();
    return NULL;
}

extern "C" void y5_cuda_cublas_preload(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, preload_main, NULL) == 0) pthread_detach(t);
}
