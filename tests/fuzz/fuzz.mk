# tests/fuzz/fuzz.mk - coverage-guided fuzzing with libFuzzer (included by the Makefile).
#
#   make fuzz FUZZ_SECONDS=60   builds every tests/fuzz/fuzz_*.c with clang
#                               -fsanitize=fuzzer,address,undefined against the library
#                               (itself built with coverage and the sanitizers in build/fuzz/),
#                               writes the seed corpora (scripts/fuzz_seeds.sh, from ../shared)
#                               and runs each harness for FUZZ_SECONDS
#   make fuzz-build             the harnesses only
#
# Corpora grow in build/fuzz/corpus/<harness>/, crashing inputs land in
# build/fuzz/artifacts/. A harness is not part of the normal test binary
# (the Makefile leaves tests/fuzz/ out of TEST_SRC); an input it found goes
# into a regular test. clang and its libFuzzer runtime: Debian's clang
# (libclang-rt-*-dev, or llvm's lib/clang/*/lib/linux/libclang_rt.fuzzer*.a).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD    = build/fuzz
# (-Wno-unknown-warning-option: clang has no -Wno-format-truncation)
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-unknown-warning-option
FUZZ_NAMES    = $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
# a malloc over 1 GiB is a finding (the decoders refuse images over 2^28
# pixels, 768 MiB of RGB, before allocating)
FUZZ_FLAGS   ?= -rss_limit_mb=3072 -malloc_limit_mb=1024 -timeout=20 -max_len=5000000 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-lib
# The library with coverage instrumentation and the sanitizers, through the
# ordinary rules (a sanitizer build never includes CUDA).
fuzz-lib:
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)" >&2; exit 1; }
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) NVCC=/nonexistent \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BUILD)/libyolov5c.a

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c fuzz-lib
	$(FUZZ_CC) $(CFLAGS_BASE) -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) $< $(FUZZ_BUILD)/libyolov5c.a -o $@ -ljpeg -lm -pthread

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)

fuzz: fuzz-build $(BIN)
	@sh scripts/fuzz_seeds.sh "$(SHARED)" $(FUZZ_BUILD)/seeds
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@for f in $(FUZZ_NAMES); do \
		s=$${f#fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus/$$s; \
		echo "== $$f: $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$(FUZZ_BUILD)/$$f $(FUZZ_FLAGS) \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$f- \
			$(FUZZ_BUILD)/corpus/$$s $(FUZZ_BUILD)/seeds/$$s 2>&1 | grep -E '^(stat::|#[0-9]+[[:space:]]+DONE|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' ; \
	done; \
	ls $(FUZZ_BUILD)/artifacts | grep -q 'slow-unit-' && echo "fuzz: slow inputs (over 10 s under the sanitizers) in $(FUZZ_BUILD)/artifacts"; \
	ls $(FUZZ_BUILD)/artifacts | grep -v 'slow-unit-' | grep -q . && { echo "fuzz: crashing inputs in $(FUZZ_BUILD)/artifacts" >&2; exit 1; } || echo "fuzz: no crashes"
