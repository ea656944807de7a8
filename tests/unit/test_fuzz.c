/* test_fuzz.c - mutation fuzzing of the parsers of untrusted bytes.
 *
 * Deterministic (fixed seed) so a failure reproduces: real files with
 * random byte flips, inserted garbage and truncations go through the .pt
 * converter, the .y5w reader and the image decoder. Each must either
 * succeed or fail with a message; under the ASan/UBSan build any
 * out-of-bounds access aborts the suite. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yolov5c.h>
#include "tests/t.h"
#include "weights/y5w.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Mutates a copy of src: a few byte flips, sometimes concentrated in the
 * region [hot_lo, hot_hi) (the pickle or the headers), sometimes a cut. */
static size_t mutate(const unsigned char *src, size_t n, unsigned char *dst, size_t hot_lo, size_t hot_hi) {
    memcpy(dst, src, n);
    int flips = 1 + (int)(rnd() % 8);
    for (int i = 0; i < flips; i++) {
        size_t at = (rnd() % 4 && hot_hi > hot_lo) ? hot_lo + rnd() % (hot_hi - hot_lo) : rnd() % n;
        switch (rnd() % 3) {
        case 0: dst[at] ^= (unsigned char)(1u << (rnd() % 8)); break;
        case 1: dst[at] = (unsigned char)rnd(); break;
        default: dst[at] = (unsigned char)(rnd() % 2 ? 0xff : 0x00);
        }
    }
    if (rnd() % 5 == 0) n = rnd() % n;
    return n;
}

/* Finds the first occurrence of a string in a buffer (the pickle entry). */
static size_t find(const unsigned char *b, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(b + i, s, k)) return i;
    return 0;
}

T_TEST(fuzz_pt_converter) {
    T_NEED_SHARED();
    size_t n;
    unsigned char *pt = t_read_file(t_shared_path("models/yolov5n.pt"), &n);
    T_REQUIRE(pt && n > 1000, "read yolov5n.pt");
    unsigned char *m = malloc(n);
    char in[600], out[600], err[1024];
    snprintf(in, sizeof in, "%s/m.pt", t_tmpdir());
    snprintf(out, sizeof out, "%s/m.y5w", t_tmpdir());
    /* the pickle sits right after its local header; the central directory at the end */
    size_t pk = find(pt, n, "data.pkl");
    int iters = getenv("Y5_ASAN") ? 60 : 150, ok = 0, failed = 0;
    for (int it = 0; it < iters; it++) {
        size_t lo = it % 2 ? pk : n - 40000, hi = it % 2 ? pk + 83000 : n;
        if (hi > n) hi = n;
        size_t len = mutate(pt, n, m, lo, hi);
        T_REQUIRE(t_write_file(in, m, len) == 0, "write");
        err[0] = 0;
        if (y5_convert(in, out, 0, err, sizeof err) == 0) ok++;
        else {
            failed++;
            T_CHECK(err[0] != 0 && !strchr(err, '\n'), "iteration %d: empty or multi-line message '%s'", it, err);
        }
    }
    printf("    %d mutated checkpoints: %d converted, %d rejected with a message\n", iters, ok, failed);
    free(m);
    free(pt);
}

T_TEST(fuzz_y5w_reader) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    size_t n;
    unsigned char *b = t_read_file(w, &n);
    T_REQUIRE(b && n > 4096, "read y5w");
    unsigned char *m = malloc(n);
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/m.y5w", t_tmpdir());
    int accepted = 0, iters = 200;
    for (int it = 0; it < iters; it++) {
        size_t len = mutate(b, n, m, 0, 16384 < n ? 16384 : n);
        T_REQUIRE(t_write_file(path, m, len) == 0, "write");
        y5w_file f;
        err[0] = 0;
        int same = len == n && !memcmp(m, b, n);
        if (y5w_open(path, &f, err, sizeof err) == 0) { accepted += !same; y5w_close(&f); }
        else T_CHECK(err[0] != 0, "iteration %d: no message", it);
    }
    /* the checksum covers every byte: a changed file is never accepted */
    T_CHECK(accepted == 0, "%d damaged weight files were accepted", accepted);
    free(m);
    free(b);
}

T_TEST(fuzz_image_decoder) {
    T_NEED_SHARED();
    size_t n;
    unsigned char *b = t_read_file(t_shared_path("images/zidane.jpg"), &n);
    T_REQUIRE(b && n > 1000, "read zidane.jpg");
    unsigned char *m = malloc(n);
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/m.jpg", t_tmpdir());
    int iters = getenv("Y5_ASAN") ? 20 : 60, ok = 0;
    for (int it = 0; it < iters; it++) {
        size_t len = mutate(b, n, m, 0, 2048);
        T_REQUIRE(t_write_file(path, m, len) == 0, "write");
        y5_image img;
        if (y5_image_load(path, &img, err, sizeof err) == 0) {
            ok++;
            T_CHECK(img.w > 0 && img.h > 0 && img.px, "decoded image with no pixels");
            y5_image_free(&img);
        } else T_CHECK(strstr(err, "m.jpg") != NULL, "message does not name the file: %s", err);
    }
    printf("    %d mutated JPEGs: %d decoded (corrupt data is still a picture), %d rejected\n", iters, ok, iters - ok);
    free(m);
    free(b);
}
