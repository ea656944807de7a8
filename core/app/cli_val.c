/* cli_val.c - yolov5c val: mAP of a model on a labelled set, as
 * ultralytics v7.0 val.py. Only the options; the work is in core/app/val*.c
 * (run loop, set, data YAML, COCO JSON) and core/app/map.c (the scoring). */
#include <stdio.h>
#include <string.h>

#include "core/app/cli.h"
#include "core/app/val.h"

static void help(void) {
    printf("usage: yolov5c val --weights W.y5w --data DIR|DATA.yaml|LIST.txt [options]\n"
           "  --data D           DIR with images/ and labels/ (YOLO txt: class cx cy w h, normalised;\n"
           "                     an image without a label file has no objects), an ultralytics data\n"
           "                     YAML (path, val, names) or a .txt list of images\n"
           "  --imgsz N          inference size (default: the model's training size, else 640)\n"
           "  --batch B          batch size (default 32); rectangular batch shapes depend on it\n"
           "  --conf X           confidence threshold (default 0.001)\n"
           "  --iou X            NMS IoU threshold (default 0.6)\n"
           "  --max-det N        at most N detections per image (default 300)\n"
           "  --save-json FILE   COCO results JSON (image_id, category_id, bbox x,y,w,h, score)\n"
           "  --max-images N     only the first N images (by path)\n"
           "  --threads N        CPU threads (default: all cores)\n"
           "  --device D         cpu (default) | cuda | cuda:N\n"
           "Scoring as val.py: multi-label NMS, IoU 0.50:0.05:0.95, 101-point AP, P and R at the\n"
           "max smoothed-F1 confidence. Images whose header or labels are broken are left out with a\n"
           "warning while the set is read (as val.py's cache step does). Exit status 0; 1 when an\n"
           "image that passed that scan fails to decode later, or on any other error; 2 on bad usage.\n");
}

/* The options that take a value (an unknown one is reported as such). */
static const char *const VALUE_OPTS[] = {"--weights", "--data", "--device", "--save-json", "--imgsz", "--img",
                                         "--img-size", "--batch", "--batch-size", "--conf", "--conf-thres", "--iou",
                                         "--iou-thres", "--max-det", "--max-images", "--threads", NULL};

int y5_cli_val(int argc, char **argv) {
    y5_val_opts o;
    y5_val_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(); return 0; }
        if (a[0] != '-') { fprintf(stderr, "yolov5c val: unexpected argument %s (see --help)\n", a); return 2; }
        if (!(v = y5_opt_value_known(argc, argv, &i, "val", VALUE_OPTS))) return 2;
        if (!strcmp(a, "--weights")) o.weights = v;
        else if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--device")) o.device = v;
        else if (!strcmp(a, "--save-json")) o.save_json = v;
        else if (!strcmp(a, "--imgsz") || !strcmp(a, "--img") || !strcmp(a, "--img-size")) {
            int h, w;
            if (y5_opt_imgsz(v, &h, &w)) return 2;
            if (h != w) { fprintf(stderr, "yolov5c val: --imgsz takes one size (the long side)\n"); return 2; }
            o.imgsz = h;
        } else if (!strcmp(a, "--batch") || !strcmp(a, "--batch-size")) { if (y5_opt_int(a, v, 1, 4096, &o.batch)) return 2; }
        else if (!strcmp(a, "--conf") || !strcmp(a, "--conf-thres")) { if (y5_opt_float(a, v, 0, 1, &o.conf)) return 2; }
        else if (!strcmp(a, "--iou") || !strcmp(a, "--iou-thres")) { if (y5_opt_float(a, v, 0, 1, &o.iou)) return 2; }
        else if (!strcmp(a, "--max-det")) { if (y5_opt_int(a, v, 1, 1000000, &o.max_det)) return 2; }
        else if (!strcmp(a, "--max-images")) { if (y5_opt_int(a, v, 1, 1 << 30, &o.max_images)) return 2; }
        else if (!strcmp(a, "--threads")) { if (y5_opt_int(a, v, 0, 1024, &o.threads)) return 2; }
        else { fprintf(stderr, "yolov5c val: unknown option %s (see --help)\n", a); return 2; }
    }
    if (!o.weights || !o.data) { fprintf(stderr, "yolov5c val: --weights and --data are required (see --help)\n"); return 2; }
    o.log = stdout;
    y5_val_result r;
    char err[1024] = "";
    int rc = y5_val_run(&o, &r, err, sizeof err);
    if (rc < 0) { fprintf(stderr, "yolov5c val: %s\n", err); return 1; }
    if (rc > 0) fprintf(stderr, "yolov5c val: warning: %s\n", err);
    printf("Results: P %.5f  R %.5f  mAP50 %.5f  mAP50-95 %.5f  (%d images, %d instances)\n", r.m.mp, r.m.mr, r.m.map50,
           r.m.map, r.m.seen, r.m.n_labels);
    y5_val_result_free(&r);
    return rc ? 1 : 0;
}
