/* fuzz_tune_cache.c - libFuzzer harness: the conv tuning cache file's reader
 * (cuda/tune_cache.c) on arbitrary bytes, under the stamp "S": it returns
 * the well-formed, plausible entries and nothing else, whatever the file
 * holds. Half the inputs get the stamp line put in front, so the mutations
 * reach the entry parser. Built and run by `make fuzz` (tests/fuzz/fuzz.mk). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cuda/tune_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_tune_cache", MFD_CLOEXEC);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    static const char head[] = "yolov5c-tune 3 S\n";
    const size_t hl = size && (data[0] & 1) ? sizeof head - 1 : 0;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, head, hl, 0) != (ssize_t)hl ||
        pwrite(fd, data, size, (off_t)hl) != (ssize_t)size)
        abort();
    y5_tune_rec *r = NULL;
    int n = -1;
    if (y5_tune_cache_read(path, "S", &r, &n) == 0) {
        if (n < 0 || (n > 0) != (r != NULL)) abort();
        for (int i = 0; i < n; i++) { /* what the reader promises */
            if (r[i].run < 0 || r[i].run >= Y5_TUNE_RUNS || r[i].cin < 1 || r[i].cout < 1 || r[i].n < 1) abort();
            for (int j = 0; j < i; j++)
                if (y5_tune_same_key(&r[i], &r[j])) abort();
        }
    }
    free(r);
    return 0;
}
