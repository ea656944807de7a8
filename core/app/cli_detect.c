/* cli_detect.c - yolov5c detect: images in, annotated images + labels +
 * detections.jsonl out, through the pipeline of core/app/pipeline.h (decode
 * workers, batched engines, writer workers, in-order outputs). One bad image
 * is reported and skipped; the exit status is 0 only when every input
 * succeeded. Bad option values exit 2, run-time errors 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/app/cli.h"
#include "core/app/outdir.h"
#include "core/app/pipeline.h"
#include "core/app/sources.h"
#include "core/app/tiles.h"
#include "core/base/files.h"
#include "core/base/threadpool.h"


/* Decode workers and writers from the core count. CPU engines use every
 * core, so these threads only fill the engines' gaps: a quarter of the cores
 * decode and half write, at least 1 and 2. With a GPU engine the cores are
 * free for them: half decode and half write, because one image costs both
 * about the same CPU time: 1920x1080 q95 frames, one core each, took 5.3-9.4
 * ms to read, decode and letterbox and 6.7-7.9 ms to draw 80 boxes, encode
 * and write (writer / decode 0.83-1.26; build/codec_bench, AMD EPYC,
 * 2026-11-27, bench/results/pipeline.md). The first GPU run gave writers two
 * thirds (their wall times under load, 19.1 against 12.6 ms, had looked
 * like 1.5x the work) and two engines were then bound by decode. With
 * --no-save two thirds decode (writing labels and JSON is cheap). */
static int default_workers(int gpu, int no_save) {
    int n = gpu ? (no_save ? y5_ncores() * 2 / 3 : y5_ncores() / 2) : y5_ncores() / 4, lo = gpu ? 2 : 1;
    return n < lo ? lo : n > 16 ? 16 : n;
}
static int default_writers(int gpu, int no_save) {
    int n = gpu ? (no_save ? y5_ncores() / 3 : y5_ncores() / 2) : y5_ncores() / 2;
    return n < 2 ? 2 : n > 32 ? 32 : n;
}

/* --max-memory's default: 2 GiB, or half the machine's memory when that is
 * less. 2 GiB holds four 13400x9528 JPEGs in flight (about 0.4 GB each),
 * enough to keep two cores busy, and never binds for ordinary photographs
 * (a 1080p image holds about 8 MB). */
static size_t default_max_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    size_t two = (size_t)2 << 30;
    if (pages <= 0 || psz <= 0) return two;
    double half = (double)pages * (double)psz / 2;
    return half < (double)two ? (size_t)half : two;
}

static void help(void) {
    printf("usage: yolov5c detect --weights W.y5w --source PATH... [options]\n"
           "  --source PATH...   image files, folders, glob patterns, @list.txt (repeatable);\n"
           "                     '-' with --raw WxH: raw RGB24 frames (W*H*3 bytes each) from stdin\n"
           "  --out DIR          results folder (default runs/detect); '-': annotated raw RGB24\n"
           "                     frames to stdout, in order (with --source - only; no other files)\n"
           "  --imgsz N|HxW      inference size (default: the model's training size when its file\n"
           "                     records it, else 640; rounded up to a multiple of its stride)\n"
           "  --square           pad to exactly imgsz (default: rect letterbox as detect.py)\n"
           "  --conf X           confidence threshold (default 0.25)\n"
           "  --iou X            NMS IoU threshold (default 0.45)\n"
           "  --max-det N        at most N detections per image (default 1000)\n"
           "  --classes A,B,...  keep only these class ids\n"
           "  --agnostic         class-agnostic NMS\n"
           "  --no-save          do not write annotated images\n"
           "  --device D[,D...]  cpu (default) | cuda | cuda:N | N; a list opens one engine per entry\n"
           "                     (cpu,cpu: two CPU engines; 0,0: two engines on GPU 0)\n"
           "  --threads N|A,B    CPU threads: N in all, split over the CPU engines (default: all\n"
           "                     cores), or one count per --device entry\n"
           "  --batch B          images per forward, grouped by letterboxed shape (default 1)\n"
           "  --workers N        decode workers (default %d here with CPU engines)\n"
           "  --writers N        output writers: draw, encode, write (default %d here with CPU engines)\n"
           "  --queue N          images in flight at most (default 2*batch*engines + workers + writers;\n"
           "                     3*batch*engines + ... with a GPU engine)\n"
           "  --max-memory SIZE  bytes the images in flight may hold, e.g. 2G, 512M (default: 2G, or half\n"
           "                     the machine's memory if less; 0: no byte bound); decode workers wait\n"
           "                     while it is full, and a larger image runs alone\n"
           "  --tile SIZE        cut images larger than SIZE x SIZE pixels into overlapping tiles of that\n"
           "                     size, run each (--batch per forward) and merge the boxes by NMS over the\n"
           "                     image, plus a full-image pass for objects larger than a tile\n"
           "  --tile-overlap F   fraction of a tile shared with its neighbours (default 0.2, at most 0.9)\n"
           "  --no-tile-full     with --tile: no full-image pass (tiles only)\n"
           "  --shard K/N        process only inputs K, K+N, K+2N, ... of the sorted list (0 <= K < N)\n"
           "  --resume           skip inputs whose outputs are complete (from an earlier, killed run)\n"
           "  --jsonl FILE       detections.jsonl path (default DIR/detections.jsonl; with --out -: none)\n"
           "  --stats-json FILE  per-stage times, engine busy fraction and the bounding stage as JSON\n"
           "outputs: DIR/<image name> annotated, DIR/labels/<stem>.txt (class cx cy w h conf),\n"
           "         DIR/detections.jsonl (one line per image in input order, boxes in original pixels;\n"
           "         written progressively to DIR/detections.jsonl.partial, renamed at the end)\n",
           default_workers(0, 0), default_writers(0, 0));
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

/* The options that take a value (an unknown one is reported as such). */
static const char *const VALUE_OPTS[] = {"--weights", "--out", "--device", "--threads", "--jsonl", "--stats-json",
                                         "--shard", "--raw", "--imgsz", "--conf", "--iou", "--max-det", "--batch",
                                         "--workers", "--writers", "--queue", "--classes", "--max-memory", "--tile",
                                         "--tile-overlap", NULL};

int y5_cli_detect(int argc, char **argv) {
    const char *weights = NULL, *out = "runs/detect", *device = "cpu", *threads = NULL, *jsonl = NULL,
               *stats = NULL, *shard = NULL, *raw = NULL;
    char **srcs = calloc((size_t)argc, sizeof(char *));
    int n_srcs = 0, no_save = 0, rc = 2, resume = 0, batch = 1, workers = 0, writers = 0, queue = 0, lock_fd = -1;
    int *classes = NULL;
    double max_memory = -1;
    int tile = 0, tile_full = 1, tile_full_set = 0;
    float tile_overlap = 0.2f;
    const char *tile_overlap_v = NULL;
    y5_detect_opts o;
    y5_detect_defaults(&o);
    o.imgsz_h = o.imgsz_w = 0; /* the model's own size unless --imgsz */
    y5_strlist files = {0};
    char **sharded = NULL;
    if (!srcs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(); rc = 0; goto done; }
        if (!strcmp(a, "--no-save")) { no_save = 1; continue; }
        if (!strcmp(a, "--square")) { o.square = 1; continue; }
        if (!strcmp(a, "--agnostic")) { o.nms.agnostic = 1; continue; }
        if (!strcmp(a, "--resume")) { resume = 1; continue; }
        if (!strcmp(a, "--no-tile-full")) { tile_full = 0; tile_full_set = 1; continue; }
        if (!strcmp(a, "--source")) {
            if (!y5_opt_value(argc, argv, &i)) goto done;
            srcs[n_srcs++] = argv[i];
            while (i + 1 < argc && argv[i + 1][0] != '-') srcs[n_srcs++] = argv[++i];
            continue;
        }
        if (a[0] != '-' || !(v = y5_opt_value_known(argc, argv, &i, "detect", VALUE_OPTS))) {
            if (a[0] != '-') fprintf(stderr, "yolov5c detect: unexpected argument %s (sources go after --source)\n", a);
            goto done;
        }
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--threads")) threads = v;
        else if (!strcmp(a, "--jsonl")) jsonl = v;
        else if (!strcmp(a, "--stats-json")) stats = v;
        else if (!strcmp(a, "--shard")) shard = v;
        else if (!strcmp(a, "--raw")) raw = v;
        else if (!strcmp(a, "--imgsz")) { if (y5_opt_imgsz(v, &o.imgsz_h, &o.imgsz_w)) goto done; }
        else if (!strcmp(a, "--conf")) { if (y5_opt_float(a, v, 0, 1, &o.nms.conf_thres)) goto done; }
        else if (!strcmp(a, "--iou")) { if (y5_opt_float(a, v, 0, 1, &o.nms.iou_thres)) goto done; }
        else if (!strcmp(a, "--max-det")) { if (y5_opt_int(a, v, 1, 1000000, &o.nms.max_det)) goto done; }
        else if (!strcmp(a, "--batch")) { if (y5_opt_int(a, v, 1, 1024, &batch)) goto done; }
        else if (!strcmp(a, "--workers")) { if (y5_opt_int(a, v, 1, 256, &workers)) goto done; }
        else if (!strcmp(a, "--writers")) { if (y5_opt_int(a, v, 1, 256, &writers)) goto done; }
        else if (!strcmp(a, "--queue")) { if (y5_opt_int(a, v, 1, 1 << 20, &queue)) goto done; }
        else if (!strcmp(a, "--max-memory")) { if (y5_opt_size(a, v, &max_memory)) goto done; }
        else if (!strcmp(a, "--tile")) { if (y5_opt_int(a, v, Y5_TILE_MIN, Y5_TILE_MAX, &tile)) goto done; }
        else if (!strcmp(a, "--tile-overlap")) {
            if (y5_opt_float(a, v, 0, Y5_TILE_OVERLAP_MAX, &tile_overlap)) goto done;
            tile_overlap_v = v;
        }
        else if (!strcmp(a, "--classes")) {
            free(classes); /* a later --classes replaces an earlier one */
            classes = NULL;
            o.nms.classes = NULL;
            if (parse_classes(v, &classes, &o.nms.n_classes)) goto done;
            o.nms.classes = classes;
        } else { fprintf(stderr, "yolov5c detect: unknown option %s\n", a); goto done; }
    }
    if (!weights || !n_srcs) { fprintf(stderr, "yolov5c detect: --weights and --source are required (see --help)\n"); goto done; }
    if (!tile && (tile_overlap_v || tile_full_set)) {
        fprintf(stderr, "yolov5c detect: %s needs --tile SIZE (the tile side in image pixels, e.g. --tile 640)\n",
                tile_overlap_v ? "--tile-overlap" : "--no-tile-full");
        goto done;
    }

    /* raw frames from stdin, annotated frames to stdout */
    int from_stdin = 0, to_stdout = !strcmp(out, "-"), raw_w = 0, raw_h = 0;
    for (int i = 0; i < n_srcs; i++) from_stdin |= !strcmp(srcs[i], "-");
    if (from_stdin && n_srcs > 1) { fprintf(stderr, "yolov5c detect: --source -: stdin cannot be mixed with other sources\n"); goto done; }
    if (from_stdin && !raw) { fprintf(stderr, "yolov5c detect: --source - needs --raw WxH (raw RGB24 frames on stdin)\n"); goto done; }
    if (raw) {
        char *x = NULL;
        long w = strtol(raw, &x, 10), h = 0;
        if (x && (*x == 'x' || *x == 'X')) h = strtol(x + 1, &x, 10);
        if (!x || *x || w < 1 || h < 1 || w > 16384 || h > 16384) {
            fprintf(stderr, "yolov5c detect: --raw %s: want WIDTHxHEIGHT, e.g. 1280x720\n", raw);
            goto done;
        }
        if (!from_stdin) { fprintf(stderr, "yolov5c detect: --raw needs --source - (frames come from stdin)\n"); goto done; }
        raw_w = (int)w;
        raw_h = (int)h;
    }
    if (to_stdout && !from_stdin) {
        fprintf(stderr, "yolov5c detect: --out - (frames to stdout) needs --source - --raw WxH\n");
        goto done;
    }
    if (from_stdin && (resume || shard)) {
        fprintf(stderr, "yolov5c detect: --resume and --shard need file sources, not --source -\n");
        goto done;
    }
    int shard_k = 0, shard_n = 1;
    if (shard && y5_parse_shard(shard, &shard_k, &shard_n)) {
        fprintf(stderr, "yolov5c detect: --shard %s: want K/N with 0 <= K < N, e.g. 0/4\n", shard);
        goto done;
    }
    char err[1024];
    y5_engine_spec specs[Y5_PIPE_MAX_ENGINES];
    int n_eng = y5_parse_engine_specs(device, threads, y5_ncores(), specs, Y5_PIPE_MAX_ENGINES, err, sizeof err);
    if (n_eng < 0) { fprintf(stderr, "yolov5c detect: %s\n", err); goto done; }
    int n_cpu = 0; /* engines on the CPU; the others are GPUs */
    for (int i = 0; i < n_eng; i++) n_cpu += !strcmp(specs[i].device, "cpu");
    const int any_gpu = n_cpu < n_eng;
    if (!workers) workers = default_workers(any_gpu, no_save);
    if (!writers) writers = default_writers(any_gpu, no_save);
    /* a GPU engine holds two batches at once (one in its forward, the next
     * being filled: pipeline_batch.c), so one more batch per engine in flight */
    if (!queue) queue = (any_gpu ? 3 : 2) * batch * n_eng + workers + writers;
    if (queue < 2) queue = 2;
    rc = 1;

    int n_files = 0;
    if (!from_stdin) {
        if (y5_sources_expand(srcs, n_srcs, &files, err, sizeof err)) { fprintf(stderr, "yolov5c detect: %s\n", err); goto done; }
        if (files.n == 0) { fprintf(stderr, "yolov5c detect: no images found in the given sources\n"); goto done; }
        sharded = malloc(sizeof(char *) * (size_t)files.n);
        if (!sharded) { fprintf(stderr, "yolov5c detect: out of memory\n"); goto done; }
        for (int i = 0; i < files.n; i++)
            if (i % shard_n == shard_k) sharded[n_files++] = files.paths[i];
        if (shard)
            fprintf(stderr, "shard %d/%d: %d of %d inputs\n", shard_k, shard_n, n_files, files.n);
    }
    char jbuf[4400], record[4096];
    if (!to_stdout) {
        char labels_dir[4200];
        snprintf(labels_dir, sizeof labels_dir, "%s/labels", out);
        if (y5_mkdirs(out, 0777) || y5_mkdirs(labels_dir, 0777)) {
            fprintf(stderr, "yolov5c detect: %s: cannot create output folder (%s)\n", out, strerror(errno));
            goto done;
        }
        if (!jsonl) {
            snprintf(jbuf, sizeof jbuf, "%s/detections.jsonl", out);
            jsonl = jbuf;
        }
        /* one run per folder at a time, and a resume only with the options
         * of the results it continues (core/app/outdir.h) */
        if ((lock_fd = y5_outdir_lock(out, err, sizeof err)) < 0) { fprintf(stderr, "yolov5c detect: %s\n", err); goto done; }
        /* the engines' arithmetic: FP32 on the CPU, FP16 on a GPU (both in a mixed list) */
        const char *precision = n_cpu == n_eng ? "FP32" : n_cpu == 0 ? "FP16" : "FP32+FP16";
        if (y5_run_record_text(weights, &o, record, sizeof record) ||
            (tile && (size_t)snprintf(record + strlen(record), sizeof record - strlen(record),
                                      "tile %d\ntile-overlap %.9g\ntile-full %d\n", tile, (double)tile_overlap,
                                      tile_full) >= sizeof record - strlen(record)) ||
            (size_t)snprintf(record + strlen(record), sizeof record - strlen(record), "precision %s\n", precision) >=
                sizeof record - strlen(record)) {
            fprintf(stderr, "yolov5c detect: the options are too long to record\n");
            goto done;
        }
        if (resume && !from_stdin) {
            int k = y5_run_record_check(out, record, err, sizeof err);
            if (k < 0) { fprintf(stderr, "yolov5c detect: %s\n", err); rc = 2; goto done; }
            struct stat jst;
            char jp[4500];
            snprintf(jp, sizeof jp, "%s.partial", jsonl);
            if (k == 1 && (stat(jsonl, &jst) == 0 || stat(jp, &jst) == 0))
                fprintf(stderr, "yolov5c detect: warning: %s: no record of the earlier run's options (%s); resuming "
                                "without checking that they match\n", out, Y5_OUTDIR_RECORD);
        }
    }
    y5_pipeline_opts po = {0};
    po.paths = sharded;
    po.n_paths = n_files;
    po.raw_w = raw_w;
    po.raw_h = raw_h;
    po.raw_fd = 0;
    po.out_dir = to_stdout ? NULL : out;
    po.raw_out = to_stdout;
    po.jsonl = jsonl;
    po.no_save = no_save;
    po.resume = resume;
    po.stats_json = stats;
    po.run_record = to_stdout ? NULL : record;
    po.weights = weights;
    po.engines = specs;
    po.n_engines = n_eng;
    po.det = o;
    po.batch = batch;
    po.workers = workers;
    po.writers = writers;
    po.queue = queue;
    po.tile = tile;
    po.tile_overlap = tile_overlap;
    po.tile_full = tile_full;
    po.max_memory = max_memory >= 0 ? (size_t)max_memory : default_max_memory();
    po.progress = isatty(2);
    rc = y5_pipeline_run(&po);
done:
    if (lock_fd >= 0) close(lock_fd); /* releases the folder's lock */
    free(sharded);
    y5_strlist_free(&files);
    free(classes);
    free(srcs);
    return rc;
}
