/* cli_convert.c - yolov5c convert IN.pt OUT.y5w [--fp16|--fp32] */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <yolov5c.h>
#include "core/base/clock.h"
#include "core/app/cli.h"
#include "weights/y5w.h"

int y5_cli_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int fp16 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fp16")) fp16 = 1;
        else if (!strcmp(argv[i], "--fp32")) fp16 = 0;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: yolov5c convert IN.pt OUT.y5w [--fp16|--fp32]\n"
                   "  Reads an ultralytics YOLOv5 checkpoint (torch.save zip), folds BatchNorm into the convs\n"
                   "  in FP32 and writes the flat weight file (FP32 by default, --fp16 halves its size).\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "yolov5c convert: unknown option %s\n", argv[i]);
            return 2;
        } else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else { fprintf(stderr, "yolov5c convert: unexpected argument %s\n", argv[i]); return 2; }
    }
    if (!in || !out) { fprintf(stderr, "usage: yolov5c convert IN.pt OUT.y5w [--fp16|--fp32]\n"); return 2; }
    char err[1024];
    double t0 = y5_now_ms();
    if (y5_convert(in, out, fp16, err, sizeof err)) {
        fprintf(stderr, "yolov5c convert: %s\n", err);
        return 1;
    }
    double t1 = y5_now_ms();
    y5w_file f;
    if (y5w_open(out, &f, err, sizeof err)) { fprintf(stderr, "yolov5c convert: %s\n", err); return 1; }
    uint64_t params = 0;
    for (uint32_t i = 0; i < f.desc.n_tensors; i++) params += y5w_numel(&f.desc.tensors[i]);
    fprintf(stderr, "converted %s -> %s: %u layers, %u tensors, %.2fM parameters (BN folded), %s, %u classes, %.0f ms\n",
            in, out, f.desc.n_layers, f.desc.n_tensors, params / 1e6, fp16 ? "FP16" : "FP32", f.desc.nc,
            t1 - t0);
    y5w_close(&f);
    return 0;
}
