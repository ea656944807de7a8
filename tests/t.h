/* t.h - the test framework: self-registering tests, one runner.
 *
 *   T_TEST(gemm_odd_sizes) { ... T_CHECK(x == y, "x=%d y=%d", x, y); ... }
 *
 * Each test registers itself from a constructor, so adding a test file to
 * tests/ is all it takes. A test fails when any T_CHECK fails; T_SKIP ends it
 * as skipped with a reason (only for a missing ../shared or a missing GPU).
 * The runner prints one line per test and closes with "N passed, N failed". */
#ifndef T_H
#define T_H

#include <stdio.h>

typedef void (*t_fn)(void);
void t_register(const char *name, const char *file, t_fn fn);
void t_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int t_failed_now(void);

/* Root of the shared data ("../shared" unless Y5_SHARED is set). Returns
 * NULL when absent: the test must then T_SKIP. */
const char *t_shared(void);
/* Builds "<shared>/<rel>" into a static rotating buffer. */
const char *t_shared_path(const char *rel);
/* A fresh empty temp directory for this test (removed by the runner). */
const char *t_tmpdir(void);
/* Reads a whole file; returns malloc'd bytes (caller frees) or NULL. */
void *t_read_file(const char *path, size_t *len);
/* Writes n bytes to path (replacing it): 0, or -1. */
int t_write_file(const char *path, const void *b, size_t n);
/* system() of a printf-formatted shell command; its status. */
int t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define T_TEST(name)                                                        \
    static void t_body_##name(void);                                        \
    __attribute__((constructor)) static void t_reg_##name(void) {           \
        t_register(#name, __FILE__, t_body_##name);                         \
    }                                                                       \
    static void t_body_##name(void)

#define T_CHECK(cond, ...)                                                  \
    do {                                                                    \
        if (!(cond)) t_fail_at(__FILE__, __LINE__, "check failed: " #cond " -- " __VA_ARGS__); \
    } while (0)

#define T_REQUIRE(cond, ...)                                                \
    do {                                                                    \
        if (!(cond)) { t_fail_at(__FILE__, __LINE__, "required: " #cond " -- " __VA_ARGS__); return; } \
    } while (0)

#define T_SKIP(...) do { t_skip(__VA_ARGS__); return; } while (0)

#define T_NEED_SHARED()                                                     \
    do { if (!t_shared()) T_SKIP("../shared not found (set Y5_SHARED): data tests skipped"); } while (0)


/* tests/t_models.c: converts ../shared/models/<stem>.pt once per run (FP32)
 * and returns the .y5w path, NULL on failure (message printed). */
const char *t_model_y5w(const char *stem);
/* Runs a shell command, captures stdout+stderr (malloc'd, into *out when
 * non-NULL) and returns its exit status (-1 if it could not run). */
int t_run(const char *cmd, char **out);
/* Expands a command template: %W -> weights, %D -> this test's temp dir,
 * %S -> ../shared/images/zidane.jpg. */
void t_expand(const char *tmpl, const char *weights, char *out, size_t cap);
/* tests/t_models.c: detections written as "cls conf x1 y1 x2 y2" lines (the
 * golden *_det.txt files) into d; their count, or -1 when the file cannot
 * be opened. */
#include <yolov5c.h>
int t_read_dets(const char *path, y5_det *d, int max);
/* How many boxes of a with conf >= min_conf (*considered of them) have no
 * box in b of the same class with IoU >= 0.9 and conf within tol. */
int t_unmatched(const y5_det *a, int na, const y5_det *b, int nb, float min_conf, float tol, int *considered);
/* Path of the yolov5c binary under test ($Y5_BIN, else build/yolov5c). */
const char *t_bin(void);

/* tests/unit/test_zip.c: a ZIP archive of the items, for the converter's
 * tests; torch_like: flags 0x0808, local extra padding to 64-byte aligned
 * data, data descriptors, ZIP64 sizes/offsets in the central directory and
 * ZIP64 end records. Returns exactly-sized malloc'd bytes. */
#include <stdint.h>
typedef struct {
    const char *name;
    const void *data;
    size_t len;
    uint16_t method;
} t_zip_item;
uint8_t *t_zip_build(const t_zip_item *items, int n, int torch_like, size_t *len);

#endif
