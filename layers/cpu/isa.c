/* isa.c - the run-time choice of the CPU kernels' instruction set: the best
 * the CPU has, capped by Y5_ISA (core/base/debug_env.h) or by a test. */
#include "layers/cpu/isa.h"
#include "core/base/debug_env.h"

static int imin(int a, int b) { return a < b ? a : b; }

/* ---- ISA choice --------------------------------------------------------- */
static int cpu_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return Y5_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Y5_ISA_AVX2;
#endif
    return Y5_ISA_SCALAR;
}

static int g_isa = -1;

int y5_gemm_isa(void) {
    int isa = __atomic_load_n(&g_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = cpu_isa();
        int want = y5_debug_env()->isa;
        if (want >= 0) isa = imin(isa, want);
        __atomic_store_n(&g_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

int y5_gemm_set_isa(int isa) {
    int cap = cpu_isa();
    if (isa > cap) isa = cap;
    if (isa < 0) isa = 0;
    __atomic_store_n(&g_isa, isa, __ATOMIC_RELAXED);
    return isa;
}

const char *y5_gemm_isa_name(int isa) {
    return isa == Y5_ISA_AVX512 ? "avx512" : isa == Y5_ISA_AVX2 ? "avx2" : "scalar";
}
