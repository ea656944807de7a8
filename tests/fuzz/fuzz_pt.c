/* fuzz_pt.c - libFuzzer harness: the .pt converter (zip reader, pickle VM,
 * module-tree walk, tensor rebuild, BN folding) on arbitrary bytes.
 *
 * The converter maps a file by path, so the input goes into a memfd and is
 * read back through /proc/self/fd/N: no disk traffic per execution. Any
 * input must either convert or fail with a one-line message. Built and run
 * by `make fuzz` (tests/fuzz/fuzz.mk), never by the normal test binary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_pt", MFD_CLOEXEC);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    y5_model_desc desc;
    char err[1024] = "";
    if (y5_convert_to_desc(path, 0, &desc, err, sizeof err) == 0) {
        y5_convert_free_desc(&desc);
    } else if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "empty or multi-line message: '%s'\n", err);
        abort();
    }
    return 0;
}
