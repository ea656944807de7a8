/* isa.c - the run-time choice of the CPU kernels' instruction set: the best
 * the CPU has, capped by Y5_ISA (core/base/debug_env.h) or by a test.
 * Compiles on every architecture: cpuid only on x86-64; aarch64 always has
 * NEON (AdvSIMD is mandatory in the AArch64 Linux ABI); any other CPU runs
 * the portable C kernels. */
#include "layers/cpu/isa.h"
#include "core/base/debug_env.h"

static int imin(int a, int b) { return a < b ? a : b; }

/* ---- ISA choice --------------------------------------------------------- */
static int cpu_isa(void) {
#if Y5_ARCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return Y5_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Y5_ISA_AVX2;
#elif Y5_ARCH_ARM64
    return Y5_ISA_NEON;
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
#if Y5_ARCH_X86
    return isa == Y5_ISA_AVX512 ? "avx512" : isa == Y5_ISA_AVX2 ? "avx2" : "scalar";
#elif Y5_ARCH_ARM64
    return isa == Y5_ISA_NEON ? "neon" : "scalar";
#else
    (void)isa;
    return "scalar";
#endif
}
