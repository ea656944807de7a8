/* isa.h - internal: which instruction set the CPU kernels use (isa.c).
 * Chosen once at run time, so one binary runs on any x86-64: the best the
 * CPU has, capped by Y5_ISA in the environment or by a test. The names keep
 * their y5_gemm_ prefix (the GEMM was the first user; tests and benchmarks
 * call them) though every CPU kernel with a vector variant asks here. */
#ifndef Y5_ISA_H
#define Y5_ISA_H

enum { Y5_ISA_SCALAR = 0, Y5_ISA_AVX2 = 1, Y5_ISA_AVX512 = 2 };

/* Best ISA the CPU supports (or Y5_ISA=scalar|avx2|avx512 from the
 * environment, capped at what the CPU has). */
int y5_gemm_isa(void);
/* Forces an ISA (tests); returns the one actually used (capped by the CPU). */
int y5_gemm_set_isa(int isa);
const char *y5_gemm_isa_name(int isa);

#endif
