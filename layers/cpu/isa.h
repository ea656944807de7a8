/* isa.h - internal: which instruction set the CPU kernels use (isa.c).
 * Chosen once at run time, so one binary runs on any CPU of its
 * architecture: the best the CPU has, capped by Y5_ISA in the environment
 * or by a test. The names keep their y5_gemm_ prefix (the GEMM was the
 * first user; tests and benchmarks call them) though every CPU kernel with
 * a vector variant asks here.
 *
 * The values are levels within the target architecture, 0 (portable C)
 * being the lowest: tests run "the best, then each lower level down to
 * scalar" the same way on every architecture. Level 1 is AVX2 on x86-64
 * and NEON on aarch64, so a comparison with an ISA constant belongs inside
 * that architecture's #if Y5_ARCH_* block (which it needs anyway: the
 * *_avx2.c / *_avx512.c / *_neon.c files are only compiled for their
 * architecture, see the Makefile, so their functions exist only there). */
#ifndef Y5_ISA_H
#define Y5_ISA_H

#if defined(__x86_64__)
#define Y5_ARCH_X86 1
#else
#define Y5_ARCH_X86 0
#endif
#if defined(__aarch64__)
#define Y5_ARCH_ARM64 1
#else
#define Y5_ARCH_ARM64 0
#endif

enum { Y5_ISA_SCALAR = 0, Y5_ISA_AVX2 = 1, Y5_ISA_AVX512 = 2 };
enum { Y5_ISA_NEON = 1 }; /* aarch64 (AdvSIMD: part of every aarch64 CPU) */

/* Best ISA the CPU supports (or Y5_ISA=scalar|avx2|avx512|neon from the
 * environment, capped at what the CPU has). */
int y5_gemm_isa(void);
/* Forces an ISA (tests); returns the one actually used (capped by the CPU). */
int y5_gemm_set_isa(int isa);
const char *y5_gemm_isa_name(int isa);

#endif
