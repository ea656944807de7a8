/* cli_info.c - yolov5c info W.y5w [--imgsz N]: what a weight file holds. */
#include <stdio.h>
#include <string.h>

#include "core/app/cli.h"
#include "core/engine/engine.h"

/* One line of what the checkpoint was: generation, activation, Detect
 * levels and strides, the input multiple and the default size. */
static void print_model_line(const y5_engine *e, const y5_model_desc *d) {
    char act[64] = "none";
    int seen = 0;
    for (uint32_t i = 0; i < d->n_layers; i++) {
        const y5_layer *L = &d->layers[i];
        if (L->type != Y5_LAYER_CONV && L->type != Y5_LAYER_C3 && L->type != Y5_LAYER_SPPF && L->type != Y5_LAYER_SPP)
            continue;
        char a[64];
        if (L->act == Y5_ACT_LEAKY) snprintf(a, sizeof a, "LeakyReLU(%g)", (double)L->act_slope);
        else snprintf(a, sizeof a, "%s", y5_act_name((int)L->act));
        if (!seen) snprintf(act, sizeof act, "%s", a);
        else if (strcmp(act, a)) snprintf(act, sizeof act, "mixed (per layer)");
        seen = 1;
    }
    printf("model: %s; activation %s; %u detect levels, strides", d->generation[0] ? d->generation : "generation not recorded",
           act, d->nl);
    for (uint32_t l = 0; l < d->nl; l++) printf(" %g", d->strides[l]);
    printf(" (input sides multiples of %d); imgsz %d (%s); format version %u\n", y5_engine_stride(e),
           y5_engine_imgsz(e), d->imgsz ? "the checkpoint's training size" : "default: not recorded", d->version);
}

int y5_cli_info(int argc, char **argv) {
    const char *path = NULL;
    int h = 0, w = 0; /* 0: the model's own size */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--imgsz")) {
            const char *v = y5_opt_value(argc, argv, &i);
            if (!v || y5_opt_imgsz(v, &h, &w)) return 2;
        } else if (!strcmp(argv[i], "--weights")) { /* as detect, val and bench take it */
            const char *v = y5_opt_value(argc, argv, &i);
            if (!v) return 2;
            if (path) { fprintf(stderr, "yolov5c info: two weight files (%s and %s)\n", path, v); return 2; }
            path = v;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: yolov5c info [--weights] W.y5w [--imgsz N|HxW]\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "yolov5c info: unknown option %s (see --help)\n", argv[i]);
            return 2;
        } else if (!path) path = argv[i];
        else { fprintf(stderr, "yolov5c info: unexpected argument %s\n", argv[i]); return 2; }
    }
    if (!path) { fprintf(stderr, "usage: yolov5c info [--weights] W.y5w [--imgsz N|HxW]\n"); return 2; }
    char err[1024];
    y5_engine_opts eo = {"cpu", 1};
    y5_engine *e = y5_engine_open(path, &eo, err, sizeof err);
    if (!e) { fprintf(stderr, "yolov5c info: %s\n", err); return 1; }
    const y5_model_desc *d = y5_engine_desc(e);
    printf("%s: %s\n", path, d->source);
    print_model_line(e, d);
    if (!h) h = w = y5_engine_imgsz(e);
    printf("%3s %-9s %-14s %6s %6s %-10s %10s\n", "i", "type", "from", "c_in", "c_out", "args", "params");
    uint64_t total = 0;
    for (uint32_t i = 0; i < d->n_layers; i++) {
        const y5_layer *L = &d->layers[i];
        char from[64] = "", args[32] = "";
        for (uint32_t j = 0; j < L->n_from; j++) {
            size_t k = strlen(from);
            snprintf(from + k, sizeof from - k, "%s%d", j ? "," : "", L->from[j]);
        }
        switch (L->type) {
        case Y5_LAYER_CONV: snprintf(args, sizeof args, "k%d s%d p%d", L->k, L->s, L->p); break;
        case Y5_LAYER_C3: snprintf(args, sizeof args, "n%d%s", L->n, L->shortcut ? " +res" : ""); break;
        case Y5_LAYER_SPPF: snprintf(args, sizeof args, "k%d", L->k); break;
        case Y5_LAYER_SPP:
            for (int j = 0; j < L->n && j < Y5W_MAX_POOLS; j++) {
                size_t k = strlen(args);
                snprintf(args + k, sizeof args - k, "%s%d", j ? "," : "k", L->pools[j]);
            }
            break;
        case Y5_LAYER_UPSAMPLE: snprintf(args, sizeof args, "x%d", L->scale); break;
        default: break;
        }
        uint64_t np = 0;
        for (uint32_t t = 0; t < d->n_tensors; t++)
            if (d->tensors[t].layer == (int)i) np += y5w_numel(&d->tensors[t]);
        total += np;
        printf("%3u %-9s %-14s %6d %6d %-10s %10llu\n", i, y5_layer_type_name(L->type), from, L->c_in, L->c_out, args,
               (unsigned long long)np);
    }
    double fl = y5_engine_flops(e, h, w);
    printf("parameters: %llu (%.2fM, BatchNorm folded)\n", (unsigned long long)total, total / 1e6);
    printf("GFLOPs at %dx%d (HxW): %.2f (multiply-add = 2 FLOPs)\n", h, w, fl / 1e9);
    printf("detect: %u levels, %u anchors per level, strides", d->nl, d->na);
    for (uint32_t l = 0; l < d->nl; l++) printf(" %g", d->strides[l]);
    printf("; anchors (px):");
    for (uint32_t l = 0; l < d->nl; l++) {
        printf(" [");
        for (uint32_t a = 0; a < d->na; a++) printf("%s%g,%g", a ? " " : "", d->anchors[l][2 * a], d->anchors[l][2 * a + 1]);
        printf("]");
    }
    printf("\nclasses (%u):", d->nc);
    for (uint32_t c = 0; c < d->nc; c++) printf("%s %u:%s", c ? "," : "", c, d->names[c]);
    printf("\n");
    y5_engine_close(e);
    return 0;
}
