/* cli_detect.c - yolov5c detect: images in, annotated images + labels +
 * detections.jsonl out. One bad image is reported and skipped; the exit
 * status is 0 only when every input succeeded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "draw.h"
#include "engine.h"
#include "image.h"
#include "output.h"
#include "sources.h"

static void help(void) {
    printf("usage: yolov5c detect --weights W.y5w --source PATH... [options]\n"
           "  --source PATH...   image files, folders, glob patterns, @list.txt (repeatable)\n"
           "  --out DIR          results folder (default runs/detect)\n"
           "  --imgsz N|HxW      inference size (default 640; rounded up to a multiple of 32)\n"
           "  --square           pad to exactly imgsz (default: rect letterbox as detect.py)\n"
           "  --conf X           confidence threshold (default 0.25)\n"
           "  --iou X            NMS IoU threshold (default 0.45)\n"
           "  --max-det N        at most N detections per image (default 1000)\n"
           "  --classes A,B,...  keep only these class ids\n"
           "  --agnostic         class-agnostic NMS\n"
           "  --no-save          do not write annotated images\n"
           "  --threads N        CPU threads (default: all cores)\n"
           "  --device D         cpu (default) | cuda | cuda:N\n"
           "outputs: DIR/<image name> annotated, DIR/labels/<stem>.txt (class cx cy w h conf),\n"
           "         DIR/detections.jsonl (one line per image, boxes in original pixels)\n");
}

static int mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Output image name: the input's name, with .jpg appended when stb cannot
 * write its format. */
static void out_image_name(const char *in, char *out, size_t cap) {
    const char *b = base_name(in), *dot = strrchr(b, '.');
    const char *ok[] = {".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG", ".BMP"};
    for (size_t i = 0; dot && i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(dot, ok[i])) { snprintf(out, cap, "%s", b); return; }
    snprintf(out, cap, "%s.jpg", b);
}

static void stem(const char *in, char *out, size_t cap) {
    snprintf(out, cap, "%s", base_name(in));
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int parse_classes(const char *v, int **out, int *n) {
    int cap = 8, k = 0;
    int *c = malloc(cap * sizeof(int));
    const char *p = v;
    while (c && *p) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > 100000 || (*end && *end != ',')) {
            fprintf(stderr, "yolov5c: --classes: '%s' is not a list of class ids like 0,2,5\n", v);
            free(c);
            return -1;
        }
        if (k == cap) {
            int *q = realloc(c, (cap *= 2) * sizeof(int));
            if (!q) break;
            c = q;
        }
        c[k++] = (int)x;
        p = *end ? end + 1 : end;
    }
    if (!c || k == 0) { free(c); fprintf(stderr, "yolov5c: --classes: empty list\n"); return -1; }
    *out = c;
    *n = k;
    return 0;
}

int y5_cli_detect(int argc, char **argv) {
    const char *weights = NULL, *out = "runs/detect", *device = "cpu";
    char **srcs = calloc((size_t)argc, sizeof(char *));
    int n_srcs = 0, no_save = 0, threads = 0, rc = 2;
    int *classes = NULL;
    y5_detect_opts o;
    y5_detect_defaults(&o);
    y5_strlist files = {0};
    y5_engine *e = NULL;
    y5_det *dets = NULL;
    y5_atomic_file jsonl = {0};
    int jsonl_open = 0;
    if (!srcs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(); rc = 0; goto done; }
        if (!strcmp(a, "--no-save")) { no_save = 1; continue; }
        if (!strcmp(a, "--square")) { o.square = 1; continue; }
        if (!strcmp(a, "--agnostic")) { o.nms.agnostic = 1; continue; }
        if (!strcmp(a, "--source")) {
            if (!y5_opt_value(argc, argv, &i)) goto done;
            srcs[n_srcs++] = argv[i];
            while (i + 1 < argc && argv[i + 1][0] != '-') srcs[n_srcs++] = argv[++i];
            continue;
        }
        if (a[0] != '-' || !(v = y5_opt_value(argc, argv, &i))) {
            if (a[0] != '-') fprintf(stderr, "yolov5c detect: unexpected argument %s (sources go after --source)\n", a);
            goto done;
        }
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--imgsz")) { if (y5_opt_imgsz(v, &o.imgsz_h, &o.imgsz_w)) goto done; }
        else if (!strcmp(a, "--conf")) { if (y5_opt_float(a, v, 0, 1, &o.nms.conf_thres)) goto done; }
        else if (!strcmp(a, "--iou")) { if (y5_opt_float(a, v, 0, 1, &o.nms.iou_thres)) goto done; }
        else if (!strcmp(a, "--max-det")) { if (y5_opt_int(a, v, 1, 1000000, &o.nms.max_det)) goto done; }
        else if (!strcmp(a, "--threads")) { if (y5_opt_int(a, v, 0, 1024, &threads)) goto done; }
        else if (!strcmp(a, "--classes")) {
            if (parse_classes(v, &classes, &o.nms.n_classes)) goto done;
            o.nms.classes = classes;
        } else { fprintf(stderr, "yolov5c detect: unknown option %s\n", a); goto done; }
    }
    if (!weights || !n_srcs) { fprintf(stderr, "yolov5c detect: --weights and --source are required (see --help)\n"); goto done; }
    rc = 1;
    char err[1024];
    if (y5_sources_expand(srcs, n_srcs, &files, err, sizeof err)) { fprintf(stderr, "yolov5c detect: %s\n", err); goto done; }
    if (files.n == 0) { fprintf(stderr, "yolov5c detect: no images found in the given sources\n"); goto done; }
    char labels_dir[4200];
    snprintf(labels_dir, sizeof labels_dir, "%s/labels", out);
    if (mkdirs(out) || mkdirs(labels_dir)) {
        fprintf(stderr, "yolov5c detect: %s: cannot create output folder (%s)\n", out, strerror(errno));
        goto done;
    }
    y5_engine_opts eo = {device, threads};
    e = y5_engine_open(weights, &eo, err, sizeof err);
    if (!e) { fprintf(stderr, "yolov5c detect: %s\n", err); goto done; }
    int nc = y5_engine_nc(e);
    for (int k = 0; k < o.nms.n_classes; k++)
        if (classes[k] >= nc) fprintf(stderr, "yolov5c detect: warning: --classes %d: the model has %d classes\n", classes[k], nc);
    const char(*names)[64] = y5_engine_names(e);
    char path[4400];
    snprintf(path, sizeof path, "%s/detections.jsonl", out);
    if (y5_atomic_open(&jsonl, path, err, sizeof err)) { fprintf(stderr, "yolov5c detect: %s\n", err); goto done; }
    jsonl_open = 1;
    int max_out = o.nms.max_det;
    dets = malloc((size_t)max_out * sizeof(y5_det));
    if (!dets) { fprintf(stderr, "yolov5c detect: out of memory\n"); goto done; }
    int failed = 0, total_dets = 0;
    double t0 = now_s();
    for (int i = 0; i < files.n; i++) {
        const char *f = files.paths[i];
        y5_image img;
        double ti = now_s();
        if (y5_image_load(f, &img, err, sizeof err)) {
            fprintf(stderr, "[%d/%d] skipped: %s\n", i + 1, files.n, err);
            failed++;
            continue;
        }
        int n = y5_detect(e, &img, &o, dets, max_out, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "[%d/%d] failed: %s: %s\n", i + 1, files.n, f, err);
            failed++;
            y5_image_free(&img);
            continue;
        }
        char name[1024], st[1024];
        stem(f, st, sizeof st);
        snprintf(path, sizeof path, "%s/%s.txt", labels_dir, st);
        int bad = y5_write_labels(path, dets, n, img.w, img.h, err, sizeof err);
        if (!bad && !no_save) {
            y5_draw_detections(&img, dets, n, names, nc);
            out_image_name(f, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", out, name);
            bad = y5_image_write(path, &img, err, sizeof err);
        }
        if (!bad) {
            char *line = y5_json_line(f, img.w, img.h, dets, n, names, nc);
            if (!line || fputs(line, jsonl.f) < 0) { snprintf(err, sizeof err, "%s: cannot write", jsonl.path); bad = 1; }
            free(line);
        }
        y5_image_free(&img);
        if (bad) {
            fprintf(stderr, "[%d/%d] failed: %s\n", i + 1, files.n, err);
            failed++;
            continue;
        }
        total_dets += n;
        fprintf(stderr, "[%d/%d] %s: %d detections, %.1f ms\n", i + 1, files.n, f, n, (now_s() - ti) * 1e3);
    }
    double dt = now_s() - t0;
    if (y5_atomic_commit(&jsonl, err, sizeof err)) { fprintf(stderr, "yolov5c detect: %s\n", err); failed = files.n; }
    jsonl_open = 0;
    fprintf(stderr, "done: %d images, %d failed, %d detections, %.2f s, %.2f images/s; results in %s\n", files.n, failed,
            total_dets, dt, (files.n - failed) / (dt > 0 ? dt : 1e-9), out);
    rc = failed ? 1 : 0;
done:
    if (jsonl_open) y5_atomic_abort(&jsonl);
    free(dets);
    y5_engine_close(e);
    y5_strlist_free(&files);
    free(classes);
    free(srcs);
    return rc;
}
