/* runner.c - runs every registered test (or those whose name or source path
 * contains one of the arguments: `y5test tests/unit/` runs one kind,
 * `y5test nms map` two topics; `=NAME` selects exactly one test;
 * `y5test --list [FILTER...]` prints the selected names and runs nothing)
 * and prints "N passed, N failed, N skipped". Exit status 0 only when none failed. */

#include "tests/t.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T_MAX 1024
static struct { const char *name, *file; t_fn fn; } tests[T_MAX];
static int n_tests;
static int cur_failed, cur_skipped;
static char cur_tmp[512];
static char skip_reason[512];

void t_register(const char *name, const char *file, t_fn fn) {
    if (n_tests < T_MAX) { tests[n_tests].name = name; tests[n_tests].file = file; tests[n_tests].fn = fn; n_tests++; }
}

void t_fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    cur_failed++;
    if (cur_failed > 20) return; /* do not flood the log */
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

void t_skip(const char *fmt, ...) {
    va_list ap;
    cur_skipped = 1;
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
    va_end(ap);
}

int t_failed_now(void) { return cur_failed; }

const char *t_shared(void) {
    static char root[512];
    static int done;
    if (!done) {
        const char *e = getenv("Y5_SHARED");
        struct stat st;
        snprintf(root, sizeof root, "%s", e && *e ? e : "../shared");
        done = stat(root, &st) == 0 && S_ISDIR(st.st_mode) ? 1 : 2;
    }
    return done == 1 ? root : NULL;
}

const char *t_shared_path(const char *rel) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 1024, "%s/%s", t_shared() ? t_shared() : "../shared", rel);
    return b;
}

const char *t_tmpdir(void) {
    if (!cur_tmp[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(cur_tmp, sizeof cur_tmp, "%s/y5test.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(cur_tmp)) { perror("mkdtemp"); exit(2); }
    }
    return cur_tmp;
}

void *t_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n > 0 ? n : 0] = 0; if (len) *len = (size_t)(n > 0 ? n : 0); }
    return b;
}

int t_write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(b, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int t_sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int by_name(const void *a, const void *b) {
    const char *fa = ((const __typeof__(tests[0]) *)a)->file, *fb = ((const __typeof__(tests[0]) *)b)->file;
    int c = strcmp(fa, fb);
    return c ? c : strcmp(((const __typeof__(tests[0]) *)a)->name, ((const __typeof__(tests[0]) *)b)->name);
}

static int selected(int i, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int a = 1; a < argc; a++) {
        if (argv[a][0] == '=' ? !strcmp(tests[i].name, argv[a] + 1)
                              : strstr(tests[i].name, argv[a]) || strstr(tests[i].file, argv[a]))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    int list = argc > 1 && !strcmp(argv[1], "--list");
    if (list) { argv++; argc--; }
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_name);
    if (list) {
        for (int i = 0; i < n_tests; i++)
            if (selected(i, argc, argv)) printf("%s\n", tests[i].name);
        return 0;
    }
    if (!t_shared())
        printf("WARNING: shared data folder not found (../shared or $Y5_SHARED): every data test will SKIP\n");
    for (int i = 0; i < n_tests; i++) {
        if (!selected(i, argc, argv)) continue;
        cur_failed = cur_skipped = 0;
        cur_tmp[0] = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        printf("... %s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (cur_failed) { failed++; printf("FAIL %s (%d checks failed, %.0f ms)\n", tests[i].name, cur_failed, ms); }
        else if (cur_skipped) { skipped++; printf("SKIP %s: %s\n", tests[i].name, skip_reason); }
        else { passed++; printf("ok   %s (%.0f ms)\n", tests[i].name, ms); }
        fflush(stdout);
        if (cur_tmp[0]) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", cur_tmp);
            if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", cur_tmp);
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    /* make test adds up its runs (plain, sanitizers, aarch64) from this file */
    const char *sum = getenv("Y5_TEST_SUMMARY");
    FILE *sf = sum && *sum ? fopen(sum, "a") : NULL;
    if (sf) {
        fprintf(sf, "%d %d %d\n", passed, failed, skipped);
        fclose(sf);
    }
    return failed ? 1 : 0;
}
