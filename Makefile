# yolov5c - build, test, demo.
#
#   make            the yolov5c binary and libyolov5c.a (public header include/yolov5c.h);
#                   stops with the names of missing Debian packages (`make deps` installs them)
#   make deps       installs the build dependencies (libjpeg62-turbo-dev, libstb-dev)
#   make static     a fully static CPU-only binary (build/static/yolov5c)
#   make static ARCH=aarch64   the same for ARM64 (build/aarch64/yolov5c)
#   make ARCH=aarch64          cross-builds for ARM64 into build/aarch64 (Debian's
#                   aarch64-linux-gnu-gcc and libjpeg62-turbo-dev:arm64; `scripts/deps.sh aarch64`)
#   make test-aarch64  the kernel tests and golden parity of that build under qemu-aarch64
#   make test       installs what it needs, builds, runs the whole suite, then again under ASan+UBSan
#   make test-quick the unit and golden tests only, no sanitizers (well under a minute)
#   make demo       installs what it needs, builds, converts a checkpoint, detects on ../shared/images
#   make bench      converts WEIGHTS (default yolov5n) and prints the per-layer CPU profile
#
# Files named *_avx2.c / *_avx512.c are compiled with those ISA flags only,
# and only for x86_64; *_neon.c only for aarch64; any other CPU gets the
# portable C kernels. The code picks among its architecture's kernels at run
# time (layers/cpu/isa.c), so one binary runs on any CPU of its architecture.

# ARCH: the target CPU (default: this machine's). Another one cross-builds
# with Debian's $(ARCH)-linux-gnu-gcc into build/$(ARCH) (static binaries:
# they run under qemu-user without a target root file system).
HOST_ARCH := $(shell uname -m)
ARCH     ?= $(HOST_ARCH)
ifneq ($(ARCH),$(HOST_ARCH))
CROSS    := 1
ifeq ($(origin CC),default)
CC       := $(ARCH)-linux-gnu-gcc
endif
BUILD    ?= build/$(ARCH)
LDSTATIC := 1
override LDFLAGS += -static
NVCC     := /nonexistent
DEPS_CHECK ?= sh scripts/deps.sh --check $(ARCH)
endif
CC       ?= cc
SHARED   ?= ../shared
WEIGHTS  ?= $(SHARED)/models/yolov5n.pt
OPT      ?= -O3
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -pthread -I. -Iinclude -I/usr/include/stb
CFLAGS  ?= $(OPT) -g
# CPPFLAGS / LDFLAGS: extra include and library folders (e.g. a staged libjpeg, bench/gpu_check.sh)
ALL_CFLAGS = $(CFLAGS_BASE) $(CPPFLAGS) $(CFLAGS)
LDLIBS   = -ljpeg -lm -pthread
BUILD   ?= build

# every .c below these folders (one level of subfolders) is part of the library
# (cuda/*.c: the CUDA backend's plain-C parts, built and tested everywhere)
LIB_SRC  = $(sort $(wildcard core/*/*.c layers/*.c layers/*/*.c weights/*.c convert/*.c cuda/*.c))
LIB_SRC := $(filter-out core/app/main.c,$(LIB_SRC))
ifneq ($(ARCH),x86_64)
LIB_SRC := $(filter-out %_avx2.c %_avx512.c,$(LIB_SRC))
endif
ifneq ($(ARCH),aarch64)
LIB_SRC := $(filter-out %_neon.c,$(LIB_SRC))
endif
TEST_SRC = $(filter-out tests/fuzz/%,$(sort $(wildcard tests/*.c tests/*/*.c)))

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
LIB      = $(BUILD)/libyolov5c.a
BIN      = $(BUILD)/yolov5c
TESTBIN  = $(BUILD)/y5test

ISA_avx2   = -mavx2 -mfma -mf16c
ISA_avx512 = -mavx512f -mavx512vl -mavx512bw -mavx512dq -mfma -mavx2 -mf16c
ISA_neon   =   # AdvSIMD and FMA are part of the aarch64 baseline (armv8-a)

.PHONY: all static test test-quick test-run test-asan test-aarch64 demo deps deps-check clean bench bench-gemm bench-tools
all: $(BIN) $(LIB) $(if $(CROSS),,yolov5c)

yolov5c: $(BIN)
	@ln -sf $(BIN) yolov5c

# Every object waits for the dependency check (order-only: it never forces a rebuild).
$(BUILD)/%_avx2.o: %_avx2.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_avx2) -MMD -MP -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_avx512) -MMD -MP -c $< -o $@
$(BUILD)/%_neon.o: %_neon.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_neon) -MMD -MP -c $< -o $@
$(BUILD)/%.o: %.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/core/app/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# Tests link the library's objects directly so they reach internal headers.
$(TESTBIN): $(TEST_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# a cross build is static anyway: its own folder (build/aarch64/yolov5c)
STATIC_BUILD = $(if $(CROSS),build/$(ARCH),build/static)
static:
	@sh scripts/deps.sh $(if $(CROSS),$(ARCH))
	$(MAKE) BUILD=$(STATIC_BUILD) LDSTATIC=1 $(STATIC_BUILD)/yolov5c-static
$(STATIC_BUILD)/yolov5c-static: $(BUILD)/core/app/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -static $^ -o $(STATIC_BUILD)/yolov5c $(LDLIBS)
	@echo "static binary: $(STATIC_BUILD)/yolov5c"

deps:
	@sh scripts/deps.sh
# DEPS_CHECK=true skips the check where the headers come from elsewhere (CPPFLAGS).
DEPS_CHECK ?= sh scripts/deps.sh --check
deps-check:
	@$(DEPS_CHECK)

# Each run appends its counts to $(SUMMARY) (tests/runner.c, Y5_TEST_SUMMARY);
# the last line is the whole suite's: plain, ASan+UBSan and aarch64 runs.
SUMMARY = $(abspath build/test-summary.txt)
test:
	@sh scripts/deps.sh test
	@mkdir -p build && rm -f $(SUMMARY)
	Y5_TEST_SUMMARY=$(SUMMARY) $(MAKE) test-run
	Y5_TEST_SUMMARY=$(SUMMARY) $(MAKE) test-asan
	Y5_TEST_SUMMARY=$(SUMMARY) $(MAKE) test-aarch64
	@awk '{ p += $$1; f += $$2; s += $$3; r++ } END { printf "(%d runs)\ntotal: %d passed, %d failed, %d skipped\n", r, p, f, s }' $(SUMMARY)

# The quick tier: unit and golden tests (tests/unit/, tests/golden/), no sanitizers.
test-quick: $(TESTBIN) $(BIN)
	Y5_BIN=$(abspath $(BIN)) Y5_SHARED=$(SHARED) ./$(TESTBIN) tests/unit/ tests/golden/

test-run: $(TESTBIN) $(BIN)
	Y5_BIN=$(abspath $(BIN)) Y5_SHARED=$(SHARED) ./$(TESTBIN) $(T)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	$(MAKE) BUILD=build/asan OPT=-O1 CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		LDLIBS="-ljpeg -lm -pthread -fsanitize=address,undefined" test-run-asan
test-run-asan: $(TESTBIN) $(BIN)
	Y5_ASAN=1 Y5_BIN=$(abspath $(BIN)) Y5_SHARED=$(SHARED) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$(TESTBIN) $(T)

# ARM64 under qemu-user: the aarch64 test runner (static, build/aarch64)
# runs the tests of every CPU kernel and golden parity: test_gemm (NEON and
# portable GEMM, SiLU), test_conv (im2col / 1x1 / Winograd transforms, every
# ISA level), backend_ops_cpu (maxpool, upsample, copy, decode), per-layer
# and whole-net parity on yolov5n. About 3 minutes under qemu on 2 cores
# (emulation is ~40x slower than the host; CI has 90 minutes);
# AARCH64_TESTS=tests/ runs everything (the yolov5m cases take many minutes).
AARCH64_TESTS ?= tests/unit/test_gemm tests/unit/test_conv backend_ops_cpu \
		 golden_layers_yolov5n_bus_640 =golden_net_yolov5n_bus_640
ifeq ($(HOST_ARCH),aarch64) # an ARM64 machine runs them natively
test-aarch64: $(TESTBIN)
	Y5_SHARED=$(SHARED) ./$(TESTBIN) $(AARCH64_TESTS)
else
test-aarch64:
	@sh scripts/deps.sh aarch64 qemu
	$(MAKE) ARCH=aarch64 BUILD=build/aarch64 build/aarch64/y5test
	Y5_SHARED=$(SHARED) $$(command -v qemu-aarch64-static || command -v qemu-aarch64) \
		build/aarch64/y5test $(AARCH64_TESTS)
endif

demo:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh "$(WEIGHTS)" "$(SHARED)"

bench-gemm: $(BUILD)/bench_gemm
$(BUILD)/bench_gemm: $(BUILD)/bench/bench_gemm.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The CPU stages' own benchmarks (bench/codec_bench.c: decode worker and
# writer per image; bench/draw_bench.c: drawing detections)
bench-tools: $(BUILD)/codec_bench $(BUILD)/draw_bench
$(BUILD)/codec_bench $(BUILD)/draw_bench: $(BUILD)/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# make bench converts its own model (WEIGHTS=..., default yolov5n) next to the benchmark objects.
BENCH_MODEL = $(BUILD)/bench/$(notdir $(basename $(WEIGHTS))).y5w
$(BENCH_MODEL): $(WEIGHTS) | $(BIN)
	@mkdir -p $(dir $@)
	./$(BIN) convert $(WEIGHTS) $@
bench: all $(BENCH_MODEL)
	./$(BIN) bench --weights $(BENCH_MODEL) --imgsz 640 --device cpu --iters 10

clean:
	rm -rf build yolov5c

include tests/fuzz/fuzz.mk

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/core/app/main.d $(BUILD)/bench/bench_gemm.d \
         $(BUILD)/bench/codec_bench.d $(BUILD)/bench/draw_bench.d

# ---- CUDA backend (cuda/*.cu) ------------------------------------------------
# Built when nvcc is found (NVCC=/nonexistent: a CPU-only build). Static and
# sanitizer builds stay CPU-only (no static cuBLAS here; CUDA and ASan's
# shadow memory do not mix by default). With CUDA: cuda/*.cu -> build/cuda/*.o
# into libyolov5c.a, -DY5_HAVE_CUDA for the C files, cudart linked, cuBLAS
# loaded when a CUDA engine opens (cuda/cublas_dl.cu).
#   make cuda-check   compiles every .cu (warnings are errors)
#   make test-gpu     builds and runs only the GPU tests (gpu_*)
NVCC        ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
NVCC_PATH   := $(shell command -v "$(NVCC)" 2>/dev/null)
HAVE_NVCC   := $(if $(NVCC_PATH),1)
CUDA_LIBDIR ?= $(abspath $(firstword $(wildcard $(dir $(NVCC_PATH))../lib64) /usr/local/cuda/lib64))
# Machine code for A100 (sm_80), RTX 30xx/A10 (sm_86), L4/RTX 40xx (sm_89) and
# H100/H200 (sm_90), plus compute_90 PTX that newer GPUs JIT-compile.
# `make CUDA_ARCH="-arch=sm_90"` builds for one card only (faster).
CUDA_ARCH   ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
               -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
               -gencode arch=compute_90,code=compute_90
NVCC_FLAGS  ?= -O3 -lineinfo
comma       := ,
NVCC_BASE    = -std=c++17 $(NVCC_FLAGS) -Xcompiler -Wall,-Wextra,-Werror --Werror all-warnings -I. -Iinclude
NVCC_ALL     = $(NVCC_BASE) $(CUDA_ARCH)
# The kernel lab's Hopper machine code is sm_90a, not sm_90: its v5 (wgmma)
# exists only there, and with both in one binary which one an H100 loads is
# not documented (a plain sm_90 pass would leave v5 out). The other cards and
# the compute_90 PTX (for newer cards) as CUDA_ARCH; bench/conv_lab.sh builds
# for the card at hand only.
LAB_ARCH    ?= $(strip $(subst -arch=sm_90 ,-gencode arch=compute_90a$(comma)code=sm_90a ,$(subst \
               arch=compute_90$(comma)code=sm_90 ,arch=compute_90a$(comma)code=sm_90a ,$(CUDA_ARCH) )))
CUDA_SRC     = $(sort $(wildcard cuda/*.cu))
CUDA_OBJ     = $(CUDA_SRC:%.cu=$(BUILD)/%.o)
# cuBLAS is not linked: cuda/cublas_dl.cu loads it when a CUDA engine opens
# (its 540 MB would slow every start); the rpath lets dlopen find it.
CUDA_LIBS    = -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcudart -ldl -lstdc++

HAVE_CUDA := $(if $(and $(HAVE_NVCC),$(CUDA_SRC)),1)
ifneq ($(LDSTATIC),)
HAVE_CUDA :=
endif
ifneq ($(findstring -fsanitize,$(CFLAGS)),)
HAVE_CUDA :=
endif

ifeq ($(HAVE_CUDA),1)
$(LIB): $(CUDA_OBJ)
ALL_CFLAGS += -DY5_HAVE_CUDA
override LDLIBS += $(CUDA_LIBS)
endif

# C objects are rebuilt when the build switches between CPU-only and CUDA.
CUDA_STAMP = $(BUILD)/cuda.stamp
$(CUDA_STAMP): cuda-stamp-force
	@mkdir -p $(BUILD)
	@echo "have_cuda=$(HAVE_CUDA)" | cmp -s - $@ || echo "have_cuda=$(HAVE_CUDA)" > $@
$(filter-out $(CUDA_OBJ),$(LIB_OBJ)) $(TEST_OBJ) $(BUILD)/core/app/main.o: $(CUDA_STAMP)

# CUDA objects are rebuilt when the nvcc command line (e.g. CUDA_ARCH) changes.
NVCC_STAMP = $(BUILD)/nvcc.stamp
$(NVCC_STAMP): cuda-stamp-force
	@mkdir -p $(BUILD)
	@echo "$(NVCC) $(NVCC_ALL) wgmma: $(WGMMA_ARCH)" | cmp -s - $@ || echo "$(NVCC) $(NVCC_ALL) wgmma: $(WGMMA_ARCH)" > $@
LAB_STAMP = $(BUILD)/nvcc_lab.stamp
$(LAB_STAMP): cuda-stamp-force
	@mkdir -p $(BUILD)
	@echo "$(NVCC) $(NVCC_BASE) $(LAB_ARCH)" | cmp -s - $@ || echo "$(NVCC) $(NVCC_BASE) $(LAB_ARCH)" > $@
$(BUILD)/cuda/%.o: cuda/%.cu $(NVCC_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_ALL) -MMD -MP -c $< -o $@
# cuda/conv_wgmma.cu (the lab's v5, Hopper wgmma) exists only as sm_90a code:
# with nothing else in that object a Hopper card cannot pick an empty sm_90
# pass of it, and other cards fail its probe and keep cuBLAS (the file says how)
WGMMA_ARCH ?= -gencode arch=compute_90a,code=sm_90a
$(BUILD)/cuda/conv_wgmma.o: cuda/conv_wgmma.cu $(NVCC_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_BASE) $(WGMMA_ARCH) -MMD -MP -c $< -o $@

# bench/cublas_peak.cu: the card's dense FP16 GEMM rate (bench/gpu.sh's ceiling)
$(BUILD)/cublas_peak: bench/cublas_peak.cu $(NVCC_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_ALL) $< -o $@ -L$(CUDA_LIBDIR) -Xlinker -rpath,$(CUDA_LIBDIR) -lcublas

# cuda/lab/: the conv kernel lab (cuda/lab/README.md), a standalone program
# (not part of the library): build/conv_lab --net yolov5m --batch 32
LAB_DEPS = $(wildcard cuda/lab/*.cu cuda/lab/*.cuh cuda/lab/*.h)
$(BUILD)/conv_lab: cuda/lab/conv_lab.cu $(LAB_DEPS) $(LAB_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_BASE) $(LAB_ARCH) $< -o $@ -L$(CUDA_LIBDIR) -Xlinker -rpath,$(CUDA_LIBDIR) -lcublas

.PHONY: cuda-check test-gpu cuda-no-nvcc cuda-stamp-force cublas-peak conv-lab
cublas-peak: $(if $(HAVE_NVCC),$(BUILD)/cublas_peak,cuda-no-nvcc)
conv-lab: $(if $(HAVE_NVCC),$(BUILD)/conv_lab,cuda-no-nvcc)
cuda-check: $(if $(HAVE_NVCC),$(CUDA_OBJ) $(BUILD)/cublas_peak $(BUILD)/conv_lab,cuda-no-nvcc)
	@echo "cuda-check: $(words $(CUDA_SRC)) CUDA files, bench/cublas_peak.cu and cuda/lab/conv_lab.cu compile cleanly"
cuda-no-nvcc:
	@echo "nvcc not found (NVCC=$(NVCC)): no CUDA build" >&2; exit 1

ifeq ($(HAVE_CUDA),1)
test-gpu: $(TESTBIN) $(BIN)
	Y5_BIN=$(abspath $(BIN)) Y5_SHARED=$(SHARED) ./$(TESTBIN) gpu_
else
test-gpu: cuda-no-nvcc
endif

-include $(CUDA_OBJ:.o=.d)
