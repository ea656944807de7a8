/* cli_bench.c - yolov5c bench: forward timings and the per-layer profile.
 *
 * Times whole forwards (median and min over --iters after warm-up) on a
 * deterministic input, and reports GFLOP/s against the model's FLOP count.
 * --profile adds a table per top-level layer (ops timed one by one).
 *
 * The main row (the one right under the "median ms" header, which
 * bench/gpu.sh, cpu_vs_torch.sh and pipeline.sh parse) times the forward
 * with the input already where the backend computes on it: on a device,
 * no upload is timed, as PyTorch's benchmarks time a tensor already on the
 * GPU. A backend with its own input staging (one with a u8 input, i.e. a
 * device) gets two more rows: "+u8 upload" (the detect pipeline's path: the
 * letterboxed u8 batch uploaded, /255 on the device, every forward) and
 * "+f32 upload" (an FP32 batch uploaded every forward). On a device the
 * first forward of a shape runs eagerly and the second is captured
 * (cuda/README.md): keep --warmup >= 2 so no timed forward pays for that. */
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

/* A forward on the input the backend already holds: the plan without its
 * input (backend.h: input.n == 0 commits nothing; the network input lives
 * in a buffer the planner never reuses, so it stays from the last commit). */
static int forward_resident(y5_engine *e, char *err, size_t errlen) {
    y5_backend_plan p = e->bplan;
    p.input.n = 0;
    e->g.det.lazy_obj_min = e->lazy_obj_min; /* as y5_engine_forward: the decode op reads it */
    return e->be->ops->compute(e->be, &p, NULL, err, errlen);
}

/* warmup + iters forwards (resident: without the input upload); median and
 * min of the timed ones. 0, or -1 with the message in err. */
static int time_forwards(y5_engine *e, int resident, int warmup, int iters, double *t, double *med, double *mn,
                         char *err, size_t errlen) {
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = y5_now_ms();
        if (resident ? forward_resident(e, err, errlen) : y5_engine_forward(e, err, errlen)) return -1;
        if (i >= warmup) t[i - warmup] = y5_now_ms() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_d);
    *med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    *mn = t[0];
    return 0;
}

static unsigned char texture(size_t i) { return (unsigned char)((i * 2654435761u >> 7) % 256); }

/* The detect pipeline's steady state on a device: forward k submitted, the
 * other half of the u8 staging handed out and its upload queued beside it
 * (y5_engine_input_upload), then the wait; one iteration per batch. Each
 * half is filled once (the host's copy is the fill threads' cost, not the
 * device's). 0, or -1 with err. */
static int time_overlapped(y5_engine *e, int warmup, int iters, size_t nin, double *t, double *med, double *mn,
                           char *err, size_t errlen) {
    unsigned char *filled[2] = {NULL, NULL};
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = y5_now_ms();
        if (y5_engine_forward_submit(e, err, errlen)) return -1;
        unsigned char *s = y5_engine_input_u8(e);
        if (!s) { y5_engine_forward_wait(e, err, errlen); snprintf(err, errlen, "no u8 input staging"); return -1; }
        if (s != filled[0] && s != filled[1]) {
            for (size_t j = 0; j < nin; j++) s[j] = texture(j);
            filled[filled[0] ? 1 : 0] = s;
        }
        if (y5_engine_input_upload(e, err, errlen) || y5_engine_forward_wait(e, err, errlen)) return -1;
        if (i >= warmup) t[i - warmup] = y5_now_ms() - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_d);
    *med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    *mn = t[0];
    return 0;
}

/* The backend's notes on a layer's ops (backend.h op_note: on CUDA, each
 * conv's implementation): one note when all agree ("mma 128x64"), else each
 * with its count ("mma 128x64 x2, cublas x1"); "" without notes. */
static void layer_notes(y5_engine *e, int layer, char *out, size_t cap) {
    const char *note[8];
    int cnt[8], nn = 0;
    const y5_graph *g = &e->g;
    out[0] = 0;
    if (!e->be->ops->op_note) return;
    for (int i = 0; i < g->n_ops && i < e->bplan.n_ops; i++) {
        if (g->ops[i].layer != layer) continue;
        const char *s = e->be->ops->op_note(e->be, &e->bplan.ops[i]);
        if (!s) continue;
        int j = 0;
        while (j < nn && strcmp(note[j], s)) j++;
        if (j == nn) {
            if (nn == 8) continue;
            note[nn] = s;
            cnt[nn++] = 0;
        }
        cnt[j]++;
    }
    size_t len = 0;
    for (int j = 0; j < nn && len < cap; j++) {
        int k = nn == 1 ? snprintf(out + len, cap - len, "%s", note[j])
                        : snprintf(out + len, cap - len, "%s%s x%d", j ? ", " : "", note[j], cnt[j]);
        if (k < 0) break;
        len += (size_t)k;
    }
}

/* One line of how the convs ran, by path (the backend's notes up to the
 * first space: "cublas", "mma", "wgmma"; "cublas f16" whole), e.g. under
 * Y5_CONV_IMPL=tune what the tuning chose. Nothing on a backend without
 * notes (the CPU). */
static void conv_path_summary(y5_engine *e) {
    if (!e->be->ops->op_note) return;
    static const char *const kinds[] = {"cublas f16", "cublas", "mma", "v4", "wgmma"};
    enum { NK = sizeof kinds / sizeof kinds[0] };
    int cnt[NK] = {0}, other = 0;
    for (int i = 0; i < e->bplan.n_ops; i++) {
        const char *s = e->be->ops->op_note(e->be, &e->bplan.ops[i]);
        if (!s) continue;
        int j = 0;
        while (j < NK && strncmp(s, kinds[j], strlen(kinds[j]))) j++;
        if (j < NK) cnt[j]++;
        else other++;
    }
    printf("conv paths:");
    for (int j = 0; j < NK; j++)
        if (cnt[j]) printf(" %s %d,", kinds[j], cnt[j]);
    printf(" other %d\n", other);
}

/* The options that take a value (an unknown one is reported as such). */
static const char *const VALUE_OPTS[] = {"--weights", "--device", "--profile-out", "--imgsz", "--batch", "--iters",
                                         "--warmup", "--threads", "--peak-tflops", "--peak-gbs", NULL};

int y5_cli_bench(int argc, char **argv) {
    const char *weights = NULL, *device = "cpu", *csv = NULL;
    int h = 0, w = 0, batch = 1, iters = 10, warmup = 2, threads = 0, profile = 0;
    float peak_tf = 0, peak_gbs = 0; /* the hardware's ceilings: the profile's roofline column */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: yolov5c bench --weights W.y5w [--imgsz N|HxW] [--batch B] [--iters N] [--warmup N]\n"
                   "                     [--threads N] [--device cpu|cuda[:N]] [--profile] [--profile-out FILE.csv]\n"
                   "                     [--peak-tflops T --peak-gbs G]   (the hardware's measured ceilings: the\n"
                   "                     profile then shows each layer's time against its roofline)\n");
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
        else if (!strcmp(a, "--peak-tflops")) { if (y5_opt_float(a, v, 1e-3, 1e9, &peak_tf)) return 2; }
        else if (!strcmp(a, "--peak-gbs")) { if (y5_opt_float(a, v, 1e-3, 1e9, &peak_gbs)) return 2; }
        else { fprintf(stderr, "yolov5c bench: unknown option %s\n", a); return 2; }
    }
    if (!weights) { fprintf(stderr, "yolov5c bench: --weights is required\n"); return 2; }
    if ((peak_tf > 0) != (peak_gbs > 0)) {
        fprintf(stderr, "yolov5c bench: --peak-tflops and --peak-gbs go together (a roofline needs both)\n");
        return 2;
    }
    const int roof = peak_tf > 0;
    char err[1024];
    y5_engine_opts eo = {device, threads};
    y5_engine *e = y5_engine_open(weights, &eo, err, sizeof err);
    if (!e) { fprintf(stderr, "yolov5c bench: %s\n", err); return 1; }
    if (!h) h = w = y5_engine_imgsz(e); /* the model's own size unless --imgsz */
    double flops = y5_engine_flops(e, h, w) * batch;
    if (y5_engine_plan(e, batch, h, w, err, sizeof err)) { fprintf(stderr, "yolov5c bench: %s\n", err); y5_engine_close(e); return 1; }
    float *in = y5_engine_input(e);
    size_t nin = (size_t)batch * h * w * 3;
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!in || !t) { fprintf(stderr, "yolov5c bench: out of memory (input)\n"); free(t); y5_engine_close(e); return 1; }
    for (size_t i = 0; i < nin; i++) in[i] = (float)texture(i) / 255.0f; /* deterministic texture */
    double med, mn, med8 = 0, mn8 = 0, med32 = 0, mn32 = 0, medo = 0, mno = 0;
    /* one forward commits the input; the timed ones then find it in place */
    int rc = y5_engine_forward(e, err, sizeof err);
    if (!rc) rc = time_forwards(e, 1, warmup, iters, t, &med, &mn, err, sizeof err);
    const int staged = e->be->ops->input_host_u8 != NULL; /* a device: the upload is a cost of its own */
    if (!rc && staged) {
        unsigned char *in8 = y5_engine_input_u8(e);
        if (!in8) { snprintf(err, sizeof err, "no u8 input staging"); rc = -1; }
        else for (size_t i = 0; i < nin; i++) in8[i] = texture(i);
        if (!rc) rc = time_forwards(e, 0, warmup, iters, t, &med8, &mn8, err, sizeof err);
        if (!rc && y5_engine_async(e)) rc = time_overlapped(e, warmup, iters, nin, t, &medo, &mno, err, sizeof err);
        if (!rc && !(in = y5_engine_input(e))) { snprintf(err, sizeof err, "no FP32 input staging"); rc = -1; }
        if (!rc) for (size_t i = 0; i < nin; i++) in[i] = (float)texture(i) / 255.0f;
        if (!rc) rc = time_forwards(e, 0, warmup, iters, t, &med32, &mn32, err, sizeof err);
    }
    if (rc) { fprintf(stderr, "yolov5c bench: %s\n", err); free(t); y5_engine_close(e); return 1; }
    const y5_graph *g = y5_engine_graph(e);
    /* the hardware by name: "cpu (16 threads)", "cuda:0: NVIDIA H100 ... (sm_90, 79 GiB)" */
    const char *desc = e->be->ops->describe(e->be);
    if (!strncmp(desc, device, strlen(device)))
        printf("model %s, device %s, input %dx%dx%d (batch x H x W), %.2f GFLOP per forward\n", weights, desc, batch,
               h, w, flops / 1e9);
    else
        printf("model %s, device %s: %s, input %dx%dx%d (batch x H x W), %.2f GFLOP per forward\n", weights, device,
               desc, batch, h, w, flops / 1e9);
    printf("%-10s %10s %10s %12s %12s\n", "iters", "median ms", "min ms", "GFLOP/s med", "images/s");
    printf("%-10d %10.2f %10.2f %12.1f %12.1f\n", iters, med, mn, flops / med / 1e6, batch * 1e3 / med);
    if (staged) {
        printf("%-10s %10.2f %10.2f %12.1f %12.1f\n", "+u8 upload", med8, mn8, flops / med8 / 1e6, batch * 1e3 / med8);
        if (medo > 0)
            printf("%-10s %10.2f %10.2f %12.1f %12.1f\n", "+u8 overlap", medo, mno, flops / medo / 1e6,
                   batch * 1e3 / medo);
        printf("%-10s %10.2f %10.2f %12.1f %12.1f\n", "+f32 upload", med32, mn32, flops / med32 / 1e6,
               batch * 1e3 / med32);
        printf("(first row: input already on the device; +u8 upload: the letterboxed u8 batch uploaded and /255 on "
               "the device each forward; +u8 overlap: the same with the next batch's upload queued beside the running "
               "forward, as detect does; +f32 upload: an FP32 batch uploaded each forward)\n");
    }
    conv_path_summary(e);
    if (profile) {
        int nl = (int)y5_engine_desc(e)->n_layers;
        double *op_ms = calloc((size_t)g->n_ops, sizeof(double)), *acc = calloc((size_t)g->n_ops, sizeof(double));
        double *lms = calloc((size_t)nl, sizeof(double)), *lfl = calloc((size_t)nl, sizeof(double)),
               *lby = calloc((size_t)nl, sizeof(double));
        int reps = iters < 3 ? iters : 3;
        for (int r = 0; r < reps; r++) {
            if (y5_engine_forward_timed(e, op_ms, err, sizeof err)) {
                fprintf(stderr, "yolov5c bench: %s\n", err);
                free(op_ms); free(acc); free(lms); free(lfl); free(lby); free(t);
                y5_engine_close(e);
                return 1;
            }
            for (int i = 0; i < g->n_ops; i++) acc[i] = r == 0 || op_ms[i] < acc[i] ? op_ms[i] : acc[i];
        }
        double tot = 0;
        for (int i = 0; i < g->n_ops; i++) {
            const y5_op *op = &g->ops[i];
            lms[op->layer] += acc[i];
            lfl[op->layer] += y5_op_flops(g, op);
            lby[op->layer] += y5_op_bytes(g, op, e->be->ops->elem_bytes); /* FP16 on CUDA */
            tot += acc[i];
        }
        FILE *cf = csv ? fopen(csv, "w") : NULL;
        if (csv && !cf) fprintf(stderr, "yolov5c bench: %s: cannot write\n", csv);
        const int notes = e->be->ops->op_note != NULL; /* CUDA: each conv's implementation */
        if (cf)
            fprintf(cf, "layer,type,out_shape,gflop,ms,gflops,gbs,pct%s%s\n", roof ? ",gbytes,roof_ms,roof_pct,bound" : "",
                    notes ? ",impl" : "");
        printf("\nper-layer profile (min of %d timed forwards, ops run one by one)\n", reps);
        if (roof)
            printf("roofline: %.1f TFLOP/s, %.0f GB/s (given); roof ms = max(GFLOP / TFLOP/s, GB / GB/s), roof %% = "
                   "roof ms / ms\n", peak_tf, peak_gbs);
        printf("%3s %-9s %-18s %8s %9s %9s %8s %6s", "i", "type", "output NxHxWxC", "GFLOP", "ms", "GFLOP/s", "GB/s", "%");
        if (roof) printf(" %8s %6s %-7s", "roof ms", "roof%", "bound");
        printf("%s\n", notes ? "  conv impl" : "");
        double roof_tot = 0;
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
            printf("%3d %-9s %-18s %8.3f %9.3f %9.1f %8.1f %6.1f", l, ty, shape, lfl[l] / 1e9, lms[l], gfs, gbs,
                   100 * lms[l] / tot);
            if (cf) fprintf(cf, "%d,%s,%s,%.6f,%.4f,%.2f,%.2f,%.2f", l, ty, shape, lfl[l] / 1e9, lms[l], gfs, gbs, 100 * lms[l] / tot);
            if (roof) {
                /* the layer's floor: its FLOPs at the compute ceiling or its
                 * bytes (each input read once, each output written once) at
                 * the memory ceiling, whichever is longer */
                const double t_f = lfl[l] / (peak_tf * 1e9), t_b = lby[l] / (peak_gbs * 1e6);
                const double rms = t_f > t_b ? t_f : t_b, pct = lms[l] > 0 ? 100 * rms / lms[l] : 0;
                const char *bound = rms <= 0 ? "-" : t_f > t_b ? "compute" : "memory"; /* "-": a view, no work */
                roof_tot += rms;
                printf(" %8.3f %6.1f %-7s", rms, pct, bound);
                if (cf) fprintf(cf, ",%.6f,%.5f,%.2f,%s", lby[l] / 1e9, rms, pct, bound);
            }
            char note[160];
            layer_notes(e, l, note, sizeof note);
            printf("%s%s\n", note[0] ? "  " : "", note);
            if (cf) fprintf(cf, "%s%s%s\n", notes ? ",\"" : "", note, notes ? "\"" : "");
        }
        /* Detect's row sums its heads' convs and the decode: split it, so a
         * slow decode and slow 255-channel GEMMs are told apart */
        printf("Detect's ops:");
        for (int i = 0, k = 0; i < g->n_ops; i++) {
            const y5_op *op = &g->ops[i];
            if (y5_engine_desc(e)->layers[op->layer].type != Y5_LAYER_DETECT) continue;
            if (op->kind == Y5_OP_CONV)
                printf("%s conv %dx%d->%d %.3f ms", k++ ? "," : "", op->vout.h, op->vout.w, op->vout.c, acc[i]);
            else if (op->kind == Y5_OP_DECODE)
                printf("%s decode %.3f ms", k++ ? "," : "", acc[i]);
        }
        printf("\n");
        printf("total of layers: %.2f ms (whole forward, median: %.2f ms)\n", tot, med);
        if (roof)
            printf("roofline of the layers: %.2f ms: the forward runs at %.1f%% of it (median), the layers one by one "
                   "at %.1f%%\n", roof_tot, 100 * roof_tot / med, 100 * roof_tot / tot);
        if (cf) fclose(cf);
        free(op_ms); free(acc); free(lms); free(lfl); free(lby);
    }
    free(t);
    y5_engine_close(e);
    return 0;
}
