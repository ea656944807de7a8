# yolov5c - build, test, demo.
#
#   make            the yolov5c binary and libyolov5c.a (public header include/yolov5c.h)
#   make static     a fully static CPU-only binary (build/static/yolov5c)
#   make test       installs what it needs, builds, runs the whole suite, then again under ASan+UBSan
#   make demo       installs what it needs, builds, converts a checkpoint, detects on ../shared/images
#
# Files named *_avx2.c / *_avx512.c are compiled with those ISA flags only;
# the code picks them at run time, so one binary runs on any x86-64.

CC       ?= cc
SHARED   ?= ../shared
WEIGHTS  ?= $(SHARED)/models/yolov5n.pt
OPT      ?= -O3
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -pthread -Iinclude -I/usr/include/stb
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS)
LDLIBS   = -lm -pthread
BUILD   ?= build

LIB_SRC  = $(sort $(wildcard core/*.c layers/*.c weights/*.c convert/*.c))
LIB_SRC := $(filter-out core/main.c,$(LIB_SRC))
TEST_SRC = $(sort $(wildcard tests/*.c))

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
LIB      = $(BUILD)/libyolov5c.a
BIN      = $(BUILD)/yolov5c
TESTBIN  = $(BUILD)/y5test

ISA_avx2   = -mavx2 -mfma -mf16c
ISA_avx512 = -mavx512f -mavx512vl -mavx512bw -mavx512dq -mfma -mavx2 -mf16c

.PHONY: all static test test-run test-asan demo deps clean bench
all: $(BIN) $(LIB) yolov5c

yolov5c: $(BIN)
	@ln -sf $(BIN) yolov5c

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_avx2) -MMD -MP -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_avx512) -MMD -MP -c $< -o $@
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/core/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

# Tests link the library's objects directly so they reach internal headers.
$(TESTBIN): $(TEST_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

static:
	$(MAKE) BUILD=build/static LDSTATIC=1 build/static/yolov5c-static
build/static/yolov5c-static: $(BUILD)/core/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) -static $^ -o build/static/yolov5c $(LDLIBS)
	@echo "static binary: build/static/yolov5c"

deps:
	@sh scripts/deps.sh

test: deps
	$(MAKE) test-run
	$(MAKE) test-asan

test-run: $(TESTBIN) $(BIN)
	Y5_BIN=$(abspath $(BIN)) Y5_SHARED=$(SHARED) ./$(TESTBIN) $(T)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	$(MAKE) BUILD=build/asan OPT=-O1 CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		LDLIBS="-lm -pthread -fsanitize=address,undefined" test-run-asan
test-run-asan: $(TESTBIN) $(BIN)
	Y5_ASAN=1 Y5_BIN=$(abspath $(BIN)) Y5_SHARED=$(SHARED) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./$(TESTBIN) $(T)

demo: deps all
	@sh scripts/demo.sh "$(WEIGHTS)" "$(SHARED)"

bench: all
	./$(BIN) bench --weights $(BUILD)/demo/model.y5w --imgsz 640 --device cpu --iters 10

clean:
	rm -rf build yolov5c

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/core/main.d
