/* test_val.c - yolov5c val: dataset reading, rectangular batches, the data
 * YAML reader, and mAP parity with ultralytics v7.0 val.py on the DEV split
 * (../shared/data/coco64, golden/map_reference.json). Under ASan
 * (Y5_ASAN set) the parity runs use a few images and only check that the
 * numbers are sane. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/val.h"
#include "tests/t.h"

/* Four images (w x h): 640x480 (ar .75), 480x640 (1.333), 640x427 (.667),
 * 640x640 (1). Sorted by h/w: 2, 0, 3, 1. Batch 2: {2, 0} all < 1 ->
 * s = [.75, 1] -> h = ceil(.75 * 20 + .5) * 32 = 16 * 32 = 512,
 * w = ceil(20.5) * 32 = 672; {3, 1}: neither all < 1 nor all > 1 -> 672x672.
 * Batch 1: 427/640 -> ceil(13.84) = 14 -> 448x672; 480x640 -> 512x672;
 * square -> 672x672; 640/480 tall -> s = [1, .75] -> 672x512. */
T_TEST(val_rect_batch_shapes) {
    const int w[4] = {640, 480, 640, 640}, h[4] = {480, 640, 427, 640};
    int order[4], shapes[4][2];
    y5_val_rect_batches(w, h, 4, 640, 2, 32, 0.5, order, shapes);
    T_CHECK(order[0] == 2 && order[1] == 0 && order[2] == 3 && order[3] == 1, "order %d %d %d %d", order[0], order[1],
            order[2], order[3]);
    T_CHECK(shapes[0][0] == 512 && shapes[0][1] == 672, "batch 0: %dx%d", shapes[0][0], shapes[0][1]);
    T_CHECK(shapes[1][0] == 672 && shapes[1][1] == 672, "batch 1: %dx%d", shapes[1][0], shapes[1][1]);
    y5_val_rect_batches(w, h, 4, 640, 1, 32, 0.5, order, shapes);
    const int want[4][2] = {{448, 672}, {512, 672}, {672, 672}, {672, 512}};
    for (int k = 0; k < 4; k++)
        T_CHECK(shapes[k][0] == want[k][0] && shapes[k][1] == want[k][1], "b1 %d: %dx%d", k, shapes[k][0], shapes[k][1]);
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

T_TEST(val_data_yaml) {
    char p[1024], err[512];
    y5_data_yaml y;
    snprintf(p, sizeof p, "%s/a.yaml", t_tmpdir());
    T_REQUIRE(!write_text(p, "# comment\npath: ../datasets/coco128  # dataset root\ntrain: images/train2017\n"
                             "val: images/train2017\ntest:  # optional\n\nnames:\n  0: person\n  1: bicycle\n  2: 'traffic light'\n"
                             "download: https://example.com/x.zip\n"));
    T_REQUIRE(!y5_data_yaml_read(p, &y, err, sizeof err), "%s", err);
    T_CHECK(y.path && !strcmp(y.path, "../datasets/coco128"), "path %s", y.path ? y.path : "(null)");
    T_CHECK(y.val && !strcmp(y.val, "images/train2017"), "val %s", y.val ? y.val : "(null)");
    T_CHECK(y.n_names == 3 && y.nc == 3, "names %d nc %d", y.n_names, y.nc);
    if (y.n_names == 3) T_CHECK(!strcmp(y.names[0], "person") && !strcmp(y.names[2], "traffic light"), "names");
    y5_data_yaml_free(&y);

    snprintf(p, sizeof p, "%s/b.yaml", t_tmpdir());
    T_REQUIRE(!write_text(p, "val: [a/val.txt, b/val.txt]\nnc: 4\nnames: ['a', \"b, c\",\n  d, e]\n"));
    T_REQUIRE(!y5_data_yaml_read(p, &y, err, sizeof err), "%s", err);
    T_CHECK(y.val && !strcmp(y.val, "a/val.txt"), "val %s", y.val ? y.val : "(null)");
    T_CHECK(y.nc == 4 && y.n_names == 4, "nc %d names %d", y.nc, y.n_names);
    if (y.n_names == 4) T_CHECK(!strcmp(y.names[1], "b, c") && !strcmp(y.names[3], "e"), "names %s %s", y.names[1], y.names[3]);
    y5_data_yaml_free(&y);

    snprintf(p, sizeof p, "%s/c.yaml", t_tmpdir());
    T_REQUIRE(!write_text(p, "names:\n  - cat\n  - dog\n"));
    T_CHECK(y5_data_yaml_read(p, &y, err, sizeof err) < 0, "a YAML without 'val' must fail");
}

/* The DEV split as val.py's cache sees it: 64 images, 63 label files, 542
 * instances (map_reference.json). */
T_TEST(val_load_coco64) {
    T_NEED_SHARED();
    y5_val_set s;
    char err[512];
    T_REQUIRE(!y5_val_load_set(t_shared_path("data/coco64"), 0, &s, err, sizeof err), "%s", err);
    int inst = 0;
    for (int i = 0; i < s.n; i++) inst += s.it[i].nl;
    T_CHECK(s.n == 64 && s.n_missing == 1 && s.n_corrupt == 0 && inst == 542, "n %d missing %d corrupt %d instances %d",
            s.n, s.n_missing, s.n_corrupt, inst);
    T_CHECK(s.n > 0 && strstr(s.it[0].img, "000000000009.jpg") && strstr(s.it[0].lab, "labels/000000000009.txt"),
            "first %s -> %s", s.n ? s.it[0].img : "", s.n ? s.it[0].lab : "");
    y5_val_set_free(&s);

    /* the same through a data YAML */
    char p[1024], body[1200];
    snprintf(p, sizeof p, "%s/d.yaml", t_tmpdir());
    snprintf(body, sizeof body, "path: %s\nval: images\nnames: {0: person}\n", t_shared_path("data/coco64"));
    T_REQUIRE(!write_text(p, body));
    T_REQUIRE(!y5_val_load_set(p, 5, &s, err, sizeof err), "%s", err);
    T_CHECK(s.n == 5 && s.nc == 1, "n %d nc %d", s.n, s.nc);
    y5_val_set_free(&s);
}

/* Finds the yolov5n result for a batch size in map_reference.json. */
static int reference(int batch, double *map50, double *map) {
    size_t len;
    char *j = t_read_file(t_shared_path("golden/map_reference.json"), &len);
    if (!j) return -1;
    int rc = -1;
    for (char *p = strstr(j, "\"weights\": \"models/yolov5n.pt\""); p; p = strstr(p + 1, "\"weights\": \"models/yolov5n.pt\"")) {
        char *b = strstr(p, "\"batch_size\":"), *m50 = strstr(p, "\"mAP50\":"), *m = strstr(p, "\"mAP50-95\":");
        if (!b || !m50 || !m || atoi(b + 13) != batch) continue;
        *map50 = strtod(m50 + 8, NULL);
        *map = strtod(m + 11, NULL);
        rc = 0;
        break;
    }
    free(j);
    return rc;
}

static void parity_on(int batch, const char *device, double tol) {
    T_NEED_SHARED();
    const int asan = getenv("Y5_ASAN") != NULL;
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "yolov5n conversion failed");
    double ref50 = 0, ref = 0;
    T_REQUIRE(!reference(batch, &ref50, &ref), "no yolov5n batch %d entry in map_reference.json", batch);
    y5_val_opts o;
    y5_val_defaults(&o);
    o.weights = w;
    o.data = t_shared_path("data/coco64");
    o.batch = batch;
    o.threads = 2;
    o.device = device;
    if (asan) o.max_images = batch == 1 ? 4 : 8; /* ASan is ~10x slower: a smoke run */
    y5_val_result r;
    char err[1024];
    int rc = y5_val_run(&o, &r, err, sizeof err);
    T_REQUIRE(rc == 0, "val failed: %s", err);
    printf("    [%s] yolov5n coco64 batch %d%s: mAP50 %.5f (ref %.5f, d %+.5f)  mAP50-95 %.5f (ref %.5f, d %+.5f)  P %.5f R %.5f\n",
           device, batch, asan ? " (ASan subset)" : "", r.m.map50, ref50, r.m.map50 - ref50, r.m.map, ref, r.m.map - ref, r.m.mp,
           r.m.mr);
    printf("    speed per image: %.1f ms pre, %.1f ms inference, %.1f ms NMS\n", r.ms_pre, r.ms_inf, r.ms_nms);
    if (asan) {
        T_CHECK(r.m.seen == o.max_images, "seen %d", r.m.seen);
        T_CHECK(r.m.map50 > 0.1 && r.m.map50 <= 1 && r.m.map > 0 && r.m.map <= r.m.map50, "map50 %g map %g", r.m.map50, r.m.map);
    } else {
        T_CHECK(r.m.seen == 64 && r.m.n_labels == 542, "seen %d labels %d", r.m.seen, r.m.n_labels);
        T_CHECK(fabs(r.m.map50 - ref50) <= tol, "mAP50 %.5f vs %.5f", r.m.map50, ref50);
        T_CHECK(fabs(r.m.map - ref) <= tol, "mAP50-95 %.5f vs %.5f", r.m.map, ref);
    }
    y5_val_result_free(&r);
}

static void parity(int batch) { parity_on(batch, "cpu", 0.005); }
T_TEST(val_coco64_yolov5n_batch8) { parity(8); }
T_TEST(val_coco64_yolov5n_batch1) { parity(1); }

#ifdef Y5_HAVE_CUDA
#include "cuda/cuda_backend.h"
/* FP16 on the GPU: within 0.01 of the reference (the target). */
T_TEST(gpu_val_coco64_yolov5n_batch8) {
    if (y5_cuda_device_count() <= 0) T_SKIP("no CUDA device: %s", y5_cuda_no_device_reason());
    parity_on(8, "cuda", 0.01);
}
#endif

/* The command line: table, exit status, COCO JSON (image_id from the
 * numeric stem, 80 -> 91 category ids, 3 / 5 decimals). */
T_TEST(val_cli_save_json) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "yolov5n conversion failed");
    char cmd[4096], json[1024];
    snprintf(json, sizeof json, "%s/pred.json", t_tmpdir());
    snprintf(cmd, sizeof cmd, "%s val --weights %s --data %s --max-images 3 --batch 2 --threads 2 --save-json %s", t_bin(), w,
             t_shared_path("data/coco64"), json);
    char *out = NULL;
    int rc = t_run(cmd, &out);
    T_CHECK(rc == 0, "exit %d: %s", rc, out ? out : "");
    T_CHECK(out && strstr(out, "mAP50-95") && strstr(out, "                   all          3 "), "%s", out ? out : "");
    free(out);
    size_t len;
    char *j = t_read_file(json, &len);
    T_REQUIRE(j, "no %s", json);
    T_CHECK(len > 2 && j[0] == '[' && j[len - 1] == ']', "not a JSON list");
    /* the 3 first images are 000000000009, 25, 30 */
    T_CHECK(strstr(j, "{\"image_id\": 9, \"category_id\": ") && strstr(j, "{\"image_id\": 25, ") && !strstr(j, "\"image_id\": 34,"),
            "image ids");
    /* every score has at most 5 decimals, every bbox value at most 3 */
    int bad = 0;
    for (char *p = strstr(j, "\"score\": "); p; p = strstr(p + 1, "\"score\": ")) {
        char *d = strchr(p + 9, '.'), *e = strpbrk(p + 9, "},");
        if (d && e && d < e && e - d - 1 > 5 && !memchr(p + 9, 'e', (size_t)(e - p - 9))) bad++;
    }
    T_CHECK(!bad, "%d scores with more than 5 decimals", bad);
    free(j);
    /* bad usage */
    snprintf(cmd, sizeof cmd, "%s val --weights %s", t_bin(), w);
    rc = t_run(cmd, NULL);
    T_CHECK(rc == 2, "missing --data: exit %d", rc);
}

/* issue 14: val runs with every checkpoint generation (the synthetic
 * models' mAP means nothing; what matters is that it runs through: the P6
 * model's rect batch shapes are multiples of 64, at its 640 default). Under
 * ASan a few images. */
static void val_runs(const char *model) {
    T_NEED_SHARED();
    const char *w = t_model_y5w(model);
    T_REQUIRE(w, "%s conversion failed", model);
    y5_val_opts o;
    y5_val_defaults(&o);
    o.weights = w;
    o.data = t_shared_path("data/coco64");
    o.batch = 8;
    o.threads = 2;
    o.max_images = getenv("Y5_ASAN") ? 4 : 0;
    y5_val_result r;
    char err[1024];
    int rc = y5_val_run(&o, &r, err, sizeof err);
    T_REQUIRE(rc == 0, "val failed: %s", err);
    int want = o.max_images ? o.max_images : 64;
    printf("    %s coco64: %d images, %d labels, mAP50 %.5f mAP50-95 %.5f (synthetic weights: meaningless)\n", model,
           r.m.seen, r.m.n_labels, r.m.map50, r.m.map);
    T_CHECK(r.m.seen == want, "seen %d of %d", r.m.seen, want);
    T_CHECK(r.m.map50 >= 0 && r.m.map50 <= 1 && r.m.map >= 0 && r.m.map <= r.m.map50 + 1e-12, "map50 %g map %g",
            r.m.map50, r.m.map);
    y5_val_result_free(&r);
}
T_TEST(val_coco64_runs_yolov5s6_synth) { val_runs("yolov5s6-synth"); }
T_TEST(val_coco64_runs_yolov5s_v50_synth) { val_runs("yolov5s-v50-synth"); }
T_TEST(val_coco64_runs_yolov5s_custom_synth) { val_runs("yolov5s-custom-synth"); }
