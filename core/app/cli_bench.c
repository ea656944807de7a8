/* cli_bench.c - yolov5c bench: forward timings and the per-layer profile.
 *
 * Times whole forwards (median and min over --iters after warm-up) on a
 * deterministic input, and reports GFLOP/s against the model's FLOP count.
 * --profile adds a table per top-level layer (ops timed one by one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/clock.h"
#include "core/app/cli.h"
#include "core/engine/engine.h"


static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The options that take a value (an unknown one is reported as such). */
static const char *const VALUE_OPTS[] = {"--weights", "--device", "--profile-out", "--imgsz", "--batch", "--iters",
                                         "--warmup", "--threads", NULL};

int y5_cli_bench(int argc, char **argv) {
    const char *weights = NULL, *device = "cpu", *csv = NULL;
    int h = 640, w = 640, batch = 1, iters = 10, warmup = 2, threads = 0, profile = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: yolov5c bench --weights W.y5w [--imgsz N|HxW] [--batch B] [--iters N] [--warmup N]\n"
                   "                     [--threads N] [--device cpu] [--profile] [--profile-out FILE.csv]\n");
            return 0;
        }
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!(v = y5_opt_value_known(argc, argv, &i, "bench", VALUE_OPTS))) return 2;
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--profile-out")) { csv = v; profile = 1; }
        else if (!strcmp(a, "--imgsz")) { if (y5_opt_imgsz(v, &h, &w)) return 2; }
        else if (!strcmp(a, "--batch")) { if (y5_opt_int(a, v, 1, 4096, &batch)) return 2; }
        else if (!strcmp(a, "--iters")) { if (y5_opt_int(a, v, 1, 100000, &iters)) return 2; }
        else if (!strcmp(a, "--warmup")) { if (y5_opt_int(a, v, 0, 1000, &warmup)) return 2; }
        else if (!strcmp(a, "--threads")) { if (y5_opt_int(a, v, 0, 1024, &threads)) return 2; }
        else { fprintf(stderr, "yolov5c bench: unknown option %s\n", a); return 2; }
    }
    if (!weights) { fprintf(stderr, "yolov5c bench: --weights is required\n"); return 2; }
    char err[1024];
    y5_engine_opts eo = {device, threads};
    y5_engine *e = y5_engine_open(weights, &eo, err, sizeof err);
    if (!e) { fprintf(stderr, "yolov5c bench: %s\n", err); return 1; }
    double flops = y5_engine_flops(e, h, w) * batch;
    if (y5_engine_plan(e, batch, h, w, err, sizeof err)) { fprintf(stderr, "yolov5c bench: %s\n", err); y5_engine_close(e); return 1; }
    float *in = y5_engine_input(e);
    size_t nin = (size_t)batch * h * w * 3;
    for (size_t i = 0; i < nin; i++) in[i] = (float)((i * 2654435761u >> 7) % 256) / 255.0f; /* deterministic texture */
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < warmup; i++)
        if (y5_engine_forward(e, err, sizeof err)) { fprintf(stderr, "yolov5c bench: %s\n", err); return 1; }
    for (int i = 0; i < iters; i++) {
        double t0 = y5_now_ms();
        if (y5_engine_forward(e, err, sizeof err)) { fprintf(stderr, "yolov5c bench: %s\n", err); return 1; }
        t[i] = y5_now_ms() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_d);
    double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]), mn = t[0];
    const y5_graph *g = y5_engine_graph(e);
    int nthreads = !strcmp(device, "cpu") ? y5_backend_cpu_threads(e->be) : 0;
    printf("model %s, device %s (%d threads), input %dx%dx%d (batch x H x W), %.2f GFLOP per forward\n", weights, device,
           nthreads, batch, h, w, flops / 1e9);
    printf("%-10s %10s %10s %12s %12s\n", "iters", "median ms", "min ms", "GFLOP/s med", "images/s");
    printf("%-10d %10.2f %10.2f %12.1f %12.1f\n", iters, med, mn, flops / med / 1e6, batch * 1e3 / med);
    if (profile) {
        int nl = (int)y5_engine_desc(e)->n_layers;
        double *op_ms = calloc((size_t)g->n_ops, sizeof(double)), *acc = calloc((size_t)g->n_ops, sizeof(double));
        double *lms = calloc((size_t)nl, sizeof(double)), *lfl = calloc((size_t)nl, sizeof(double)),
               *lby = calloc((size_t)nl, sizeof(double));
        int reps = iters < 3 ? iters : 3;
        for (int r = 0; r < reps; r++) {
            if (y5_engine_forward_timed(e, op_ms, err, sizeof err)) { fprintf(stderr, "yolov5c bench: %s\n", err); return 1; }
            for (int i = 0; i < g->n_ops; i++) acc[i] = r == 0 || op_ms[i] < acc[i] ? op_ms[i] : acc[i];
        }
        double tot = 0;
        for (int i = 0; i < g->n_ops; i++) {
            const y5_op *op = &g->ops[i];
            lms[op->layer] += acc[i];
            lfl[op->layer] += y5_op_flops(g, op);
            lby[op->layer] += y5_op_bytes(g, op, 4);
            tot += acc[i];
        }
        FILE *cf = csv ? fopen(csv, "w") : NULL;
        if (csv && !cf) fprintf(stderr, "yolov5c bench: %s: cannot write\n", csv);
        if (cf) fprintf(cf, "layer,type,out_shape,gflop,ms,gflops,gbs,pct\n");
        printf("\nper-layer profile (min of %d timed forwards, ops run one by one)\n", reps);
        printf("%3s %-9s %-18s %8s %9s %9s %8s %6s\n", "i", "type", "output NxHxWxC", "GFLOP", "ms", "GFLOP/s", "GB/s", "%");
        for (int l = 0; l < nl; l++) {
            const y5_slice *s = &g->layer_out[l];
            const y5_buffer *b = &g->bufs[s->buf];
            char shape[64];
            const char *ty = y5_layer_type_name(y5_engine_desc(e)->layers[l].type);
            if (y5_engine_desc(e)->layers[l].type == Y5_LAYER_DETECT)
                snprintf(shape, sizeof shape, "%dx%dx%d", b->n, g->det.rows, g->det.no);
            else
                snprintf(shape, sizeof shape, "%dx%dx%dx%d", b->n, b->h, b->w, s->c);
            double gfs = lms[l] > 0 ? lfl[l] / lms[l] / 1e6 : 0, gbs = lms[l] > 0 ? lby[l] / lms[l] / 1e6 : 0;
            printf("%3d %-9s %-18s %8.3f %9.3f %9.1f %8.1f %6.1f\n", l, ty, shape, lfl[l] / 1e9, lms[l], gfs, gbs,
                   100 * lms[l] / tot);
            if (cf) fprintf(cf, "%d,%s,%s,%.6f,%.4f,%.2f,%.2f,%.2f\n", l, ty, shape, lfl[l] / 1e9, lms[l], gfs, gbs, 100 * lms[l] / tot);
        }
        printf("total of layers: %.2f ms (whole forward, median: %.2f ms)\n", tot, med);
        if (cf) fclose(cf);
        free(op_ms); free(acc); free(lms); free(lfl); free(lby);
    }
    free(t);
    y5_engine_close(e);
    return 0;
}
