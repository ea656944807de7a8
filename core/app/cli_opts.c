/* cli_opts.c - option value parsing shared by the subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/cli.h"

const char *y5_opt_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "yolov5c: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

const char *y5_opt_value_known(int argc, char **argv, int *i, const char *cmd, const char *const *known) {
    for (int k = 0; known[k]; k++)
        if (!strcmp(argv[*i], known[k])) return y5_opt_value(argc, argv, i);
    fprintf(stderr, "yolov5c %s: unknown option %s (see --help)\n", cmd, argv[*i]);
    return NULL;
}

int y5_opt_int(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "yolov5c: %s: '%s' is not an integer in [%d, %d]\n", opt, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int y5_opt_size(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double mul = 1;
    if (end != v && *end) {
        switch (*end == 'k' || *end == 'K' ? 'K' : *end == 'm' || *end == 'M' ? 'M' : *end == 'g' || *end == 'G' ? 'G'
                                                                                : *end == 't' || *end == 'T' ? 'T' : 0) {
        case 'K': mul = 1024.0; end++; break;
        case 'M': mul = 1048576.0; end++; break;
        case 'G': mul = 1073741824.0; end++; break;
        case 'T': mul = 1099511627776.0; end++; break;
        default: break;
        }
        if (*end == 'i' && mul > 1) end++; /* 2GiB */
        if ((*end == 'B' || *end == 'b') && mul > 1) end++;
    }
    if (errno || end == v || *end || !(x >= 0) || x * mul > 1125899906842624.0 /* 1 PiB */) {
        fprintf(stderr, "yolov5c: %s: '%s' is not a size like 2G, 512M or 0\n", opt, v);
        return -1;
    }
    *out = x * mul;
    return 0;
}

int y5_opt_float(const char *opt, const char *v, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "yolov5c: %s: '%s' is not a number in [%g, %g]\n", opt, v, lo, hi);
        return -1;
    }
    *out = (float)x;
    return 0;
}

static int round_side(const char *v, int x) {
    int r = (x + 31) / 32 * 32;
    if (r != x) fprintf(stderr, "yolov5c: warning: --imgsz %s: %d is not a multiple of 32, using %d\n", v, x, r);
    return r;
}

int y5_opt_imgsz(const char *v, int *h, int *w) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    char *sep = strpbrk(buf, "x,X");
    int a, b;
    if (sep) {
        *sep = 0;
        if (y5_opt_int("--imgsz", buf, 1, 16384, &a) || y5_opt_int("--imgsz", sep + 1, 1, 16384, &b)) return -1;
    } else {
        if (y5_opt_int("--imgsz", buf, 1, 16384, &a)) return -1;
        b = a;
    }
    *h = round_side(v, a);
    *w = round_side(v, b);
    return 0;
}
