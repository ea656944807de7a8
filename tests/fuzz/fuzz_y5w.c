/* fuzz_y5w.c - libFuzzer harness: the .y5w reader, its field validation and
 * the engine's load (layer table, conv creation, the trial plan at load) on
 * arbitrary bytes.
 *
 * A mutated file almost never keeps a valid checksum, so the harness writes
 * the right checksum into bytes 24..31 (weights/FORMAT.md) before reading:
 * the mutations then reach the header, record and field checks, the layer
 * table and the planner instead of stopping at "checksum mismatch". Any
 * input must either load or fail with a one-line message. Built and run by
 * `make fuzz` (tests/fuzz/fuzz.mk), never by the normal test binary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <yolov5c.h>
#include "weights/y5w.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_y5w", MFD_CLOEXEC);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= 32) { /* the checksum over the file with its own field zeroed */
        memset(buf + 24, 0, 8);
        y5w_sum s;
        y5w_sum_init(&s);
        y5w_sum_update(&s, buf, size);
        uint64_t v = y5w_sum_final(&s);
        for (int i = 0; i < 8; i++) buf[24 + i] = (uint8_t)(v >> (8 * i));
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, size, 0) != (ssize_t)size) abort();
    free(buf);
    char err[1024] = "";
    y5_engine_opts o = {"cpu", 1};
    y5_engine *e = y5_engine_open(path, &o, err, sizeof err);
    if (e) {
        y5_engine_close(e);
    } else if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "empty or multi-line message: '%s'\n", err);
        abort();
    }
    return 0;
}
