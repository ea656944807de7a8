/* pipeline_opts.c - what the CLI asks of the pipeline before it starts:
 * --device / --threads into engine specs, --shard K/N, and the output file
 * names of an input (DIR/<image name>, labels/<stem>.txt).
 *
 * Kept apart from the running pipeline because these are pure functions of
 * their arguments: cli_detect.c calls them before any thread exists, --resume
 * calls the name functions to find finished outputs, and the tests call them
 * in process. */
#include "core/app/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void y5_out_image_name(const char *in, char *out, size_t cap) {
    const char *b = base_name(in), *dot = strrchr(b, '.');
    const char *ok[] = {".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG", ".BMP"};
    for (size_t i = 0; dot && i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(dot, ok[i])) { snprintf(out, cap, "%s", b); return; }
    snprintf(out, cap, "%s.jpg", b);
}

void y5_out_stem(const char *in, char *out, size_t cap) {
    snprintf(out, cap, "%s", base_name(in));
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int y5_parse_engine_specs(const char *devices, const char *threads, int ncores, y5_engine_spec *out, int max,
                          char *err, size_t errlen) {
    if (!devices || !*devices) devices = "cpu";
    if (ncores < 1) ncores = 1;
    int n = 0;
    for (const char *p = devices;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char tok[32];
        if (len == 0) { snprintf(err, errlen, "--device %s: empty entry in the list", devices); return -1; }
        if (len >= sizeof tok) { snprintf(err, errlen, "--device %s: entry too long", devices); return -1; }
        if (n == max) { snprintf(err, errlen, "--device %s: at most %d engines", devices, max); return -1; }
        memcpy(tok, p, len);
        tok[len] = 0;
        memset(&out[n], 0, sizeof out[n]);
        if (all_digits(tok)) snprintf(out[n].device, sizeof out[n].device, "cuda:%s", tok); /* "0" = GPU 0 */
        else snprintf(out[n].device, sizeof out[n].device, "%s", tok);
        n++;
        if (!c) break;
        p = c + 1;
    }
    int n_cpu = 0;
    for (int i = 0; i < n; i++) n_cpu += !strcmp(out[i].device, "cpu");
    if (threads && strchr(threads, ',')) {
        int k = 0;
        for (const char *p = threads;;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > 1024 || (*end && *end != ',')) {
                snprintf(err, errlen, "--threads %s: not a list of thread counts like 2,2", threads);
                return -1;
            }
            if (k < n) out[k].threads = (int)v;
            k++;
            if (!*end) break;
            p = end + 1;
        }
        if (k != n) {
            snprintf(err, errlen, "--threads %s: %d values for %d --device entries", threads, k, n);
            return -1;
        }
        return n;
    }
    long total = 0;
    if (threads && *threads) {
        char *end;
        total = strtol(threads, &end, 10);
        if (end == threads || *end || total < 0 || total > 1024) {
            snprintf(err, errlen, "--threads %s: not a thread count in [0, 1024]", threads);
            return -1;
        }
    }
    if (n_cpu == 0) return n;
    if (total == 0 && n_cpu == 1) return n; /* 0: the backend takes every core */
    if (total == 0) total = ncores;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(out[i].device, "cpu")) continue;
        int t = (int)(total / n_cpu) + (k < total % n_cpu);
        out[i].threads = t < 1 ? 1 : t;
        k++;
    }
    return n;
}

int y5_parse_shard(const char *v, int *k, int *n) {
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || *end != '/') return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || b < 1 || b > 1000000 || a < 0 || a >= b) return -1;
    *k = (int)a;
    *n = (int)b;
    return 0;
}

