/* test_cli.c - the yolov5c binary end to end: detect from the JPEGs, bad
 * inputs, options. Runs the built binary ($Y5_BIN). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/t.h"

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* No file in dir may carry a temp suffix (".tmp."). */
static int no_temp_files(const char *dir) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.tmp*' | grep -q .", dir);
    return system(cmd) != 0;
}

static int count_lines(const char *path) {
    size_t len;
    char *s = t_read_file(path, &len);
    if (!s) return -1;
    int n = 0;
    for (size_t i = 0; i < len; i++) n += s[i] == '\n';
    free(s);
    return n;
}

T_TEST(cli_detect_end_to_end_jpeg) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char cmd[4096], out[1024], p[1200];
    snprintf(out, sizeof out, "%s/run", t_tmpdir());
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --source %s %s --out %s --threads 2", t_bin(), w,
             t_shared_path("images/bus.jpg"), t_shared_path("images/zidane.jpg"), out);
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "exit %d: %s", rc, log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/bus.jpg", out);
    T_CHECK(exists(p), "annotated bus.jpg missing");
    snprintf(p, sizeof p, "%s/labels/zidane.txt", out);
    T_CHECK(count_lines(p) == 3, "zidane labels: %d lines", count_lines(p));
    snprintf(p, sizeof p, "%s/labels/bus.txt", out);
    T_CHECK(count_lines(p) == 5, "bus labels: %d lines", count_lines(p));
    snprintf(p, sizeof p, "%s/detections.jsonl", out);
    T_CHECK(count_lines(p) == 2, "jsonl: %d lines", count_lines(p));
    char *j = t_read_file(p, NULL);
    T_REQUIRE(j, "no jsonl");
    T_CHECK(strstr(j, "\"name\": \"person\"") || strstr(j, "\"name\":\"person\""), "no person in %s", j);
    T_CHECK(strstr(j, "\"width\": 810") || strstr(j, "\"width\":810"), "bus width missing");
    free(j);
    T_CHECK(no_temp_files(out), "temp files left");
}

T_TEST(cli_detect_skips_bad_image_and_fails) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    const char *d = t_tmpdir();
    char cmd[4096], out[1024], p[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/in && cp %s %s/in/a.jpg && echo 'not an image' > %s/in/b.jpg && head -c 20000 %s > %s/in/c.jpg",
             d, t_shared_path("images/zidane.jpg"), d, d, t_shared_path("images/bus.jpg"), d);
    T_REQUIRE(system(cmd) == 0, "setup");
    snprintf(out, sizeof out, "%s/out", d);
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --source %s/in --out %s --no-save", t_bin(), w, d, out);
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 1, "exit %d (want 1)", rc);
    T_CHECK(log && strstr(log, "b.jpg"), "the bad file is not named: %s", log ? log : "");
    T_CHECK(log && strstr(log, "3 images, 2 failed") , "closing line: %s", log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/labels/a.txt", out);
    T_CHECK(count_lines(p) == 3, "good image not written");
    snprintf(p, sizeof p, "%s/labels/b.txt", out);
    T_CHECK(!exists(p), "label written for the bad image");
    snprintf(p, sizeof p, "%s/a.jpg", out);
    T_CHECK(!exists(p), "--no-save wrote an image");
    snprintf(p, sizeof p, "%s/detections.jsonl", out);
    T_CHECK(count_lines(p) == 1, "jsonl lines: %d", count_lines(p));
    T_CHECK(no_temp_files(out), "temp files left");
}

T_TEST(cli_errors_are_one_line) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char cmd[4096];
    struct { const char *args, *expect; int rc; } cases[] = {
        {"detect --weights %W --source /nonexistent/x.jpg --out %D/o1", "nonexistent", 1},
        {"detect --weights %D/missing.y5w --source %S --out %D/o2", "missing.y5w", 1},
        {"detect --weights %W --source %S --out /proc/y5_cannot_write", "y5_cannot_write", 1},
        {"detect --weights %W --source %S --out %D/o3 --conf 2", "--conf", 2},
        {"detect --weights %W --source %S --out %D/o4 --imgsz abc", "--imgsz", 2},
        {"detect --weights %W --source %S --out %D/o5 --device vulkan", "vulkan", 1},
        {"detect --weights %W --source %S --out %D/o6 --bogus", "--bogus", 2},
        {"info %D/missing.y5w", "missing.y5w", 1},
        {"convert %D/missing.pt %D/x.y5w", "missing.pt", 1},
        {"convert %S %D/x.y5w", "zidane.jpg", 1},
        {"frobnicate", "unknown command", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        t_expand(cases[i].args, w, args, sizeof args);
        snprintf(cmd, sizeof cmd, "%s %s", t_bin(), args);
        char *log = NULL;
        int rc = t_run(cmd, &log);
        T_CHECK(rc == cases[i].rc, "'%s': exit %d, want %d: %s", args, rc, cases[i].rc, log ? log : "");
        T_CHECK(log && strstr(log, cases[i].expect), "'%s': message does not name '%s': %s", args, cases[i].expect, log ? log : "");
        T_CHECK(log && !strstr(log, "Sanitizer") && !strstr(log, "runtime error"), "'%s' crashed: %s", args, log ? log : "");
        free(log);
    }
}

T_TEST(cli_imgsz_rounds_up_with_warning) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --source %s --out %s/o --imgsz 600 --no-save", t_bin(), w,
             t_shared_path("images/zidane.jpg"), t_tmpdir());
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "warning") && strstr(log, "608"), "no rounding warning: %s", log ? log : "");
    free(log);
}

T_TEST(cli_info_and_bench) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char cmd[4096], *log = NULL;
    snprintf(cmd, sizeof cmd, "%s info %s", t_bin(), w);
    T_CHECK(t_run(cmd, &log) == 0, "info failed: %s", log ? log : "");
    T_CHECK(log && strstr(log, "Detect") && strstr(log, "person") && strstr(log, "GFLOPs"), "info output: %s", log ? log : "");
    free(log);
    snprintf(cmd, sizeof cmd, "%s bench --weights %s --imgsz 320 --iters 1 --warmup 0 --profile", t_bin(), w);
    T_CHECK(t_run(cmd, &log) == 0, "bench failed: %s", log ? log : "");
    T_CHECK(log && strstr(log, "median ms") && strstr(log, "per-layer profile") && strstr(log, "SPPF"), "bench output: %s",
            log ? log : "");
    free(log);
}

/* bench --peak-tflops/--peak-gbs: each profile row's roofline is
 * max(FLOPs / compute ceiling, bytes / memory ceiling), recomputed here
 * from the CSV's own GFLOP and GB columns; a lone ceiling is refused. */
T_TEST(cli_bench_roofline) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char cmd[4096], csv[1024], *log = NULL;
    snprintf(csv, sizeof csv, "%s/roof.csv", t_tmpdir());
    snprintf(cmd, sizeof cmd, "%s bench --weights %s --imgsz 256 --iters 1 --warmup 0 --threads 2 --peak-tflops 0.5 "
             "--peak-gbs 20 --profile-out %s", t_bin(), w, csv);
    T_CHECK(t_run(cmd, &log) == 0, "bench failed: %s", log ? log : "");
    T_CHECK(log && strstr(log, "roof ms") && strstr(log, "roofline of the layers"), "no roofline: %s", log ? log : "");
    free(log);
    FILE *f = fopen(csv, "r");
    T_REQUIRE(f, "no %s", csv);
    char line[512];
    int rows = 0, bounds[2] = {0, 0};
    T_CHECK(fgets(line, sizeof line, f) && strstr(line, "gbytes,roof_ms,roof_pct,bound"), "header: %s", line);
    while (fgets(line, sizeof line, f)) {
        int l;
        char ty[32], shape[64], bound[16]; /* bound: up to the next comma (a CUDA run adds ,"impl") */
        double gflop, ms, gfs, gbs, pct, gbytes, roof_ms, roof_pct;
        if (sscanf(line, "%d,%31[^,],%63[^,],%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%15[^,\n]", &l, ty, shape, &gflop, &ms, &gfs,
                   &gbs, &pct, &gbytes, &roof_ms, &roof_pct, bound) != 12) {
            T_CHECK(0, "row: %s", line);
            continue;
        }
        rows++;
        const double t_f = gflop / 0.5, t_b = 1e3 * gbytes / 20, want = t_f > t_b ? t_f : t_b;
        T_CHECK(fabs(roof_ms - want) <= 1e-4 + 1e-3 * want, "layer %d: roof %.6f ms, want %.6f", l, roof_ms, want);
        if (ms > 0 && want > 0) /* within the CSV's rounding of ms (4 places), roof ms (5) and the % (2) */
            T_CHECK(fabs(roof_pct - 100 * roof_ms / ms) <= 0.006 + roof_pct * (5.1e-5 / ms + 5.1e-6 / roof_ms),
                    "layer %d: roof %% %.2f of %.4f ms", l, roof_pct, ms);
        if (want > 0) {
            T_CHECK(!strcmp(bound, t_f > t_b ? "compute" : "memory"), "layer %d: bound %s", l, bound);
            bounds[t_f > t_b]++;
        }
    }
    fclose(f);
    T_CHECK(rows == 25, "%d profile rows, want yolov5n's 25 layers", rows);
    T_CHECK(bounds[0] > 0 && bounds[1] > 0, "ceilings chosen to give both kinds of layer: %d memory, %d compute",
            bounds[0], bounds[1]);
    snprintf(cmd, sizeof cmd, "%s bench --weights %s --peak-tflops 1", t_bin(), w);
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 2 && log && strstr(log, "go together"), "a lone ceiling: exit %d: %s", rc, log ? log : "");
    free(log);
}

/* issue 14: info names the generation, activation, levels and strides of
 * each checkpoint family; detect on a P6 model letterboxes to multiples of
 * 64 and rounds --imgsz up to them with a warning. */
static void info_has(const char *model, const char *const *want, int n) {
    const char *w = t_model_y5w(model);
    T_REQUIRE(w, "%s conversion failed", model);
    char cmd[4096], *log = NULL;
    snprintf(cmd, sizeof cmd, "%s info %s", t_bin(), w);
    T_CHECK(t_run(cmd, &log) == 0, "info failed: %s", log ? log : "");
    for (int i = 0; i < n; i++) T_CHECK(log && strstr(log, want[i]), "%s: no '%s' in: %s", model, want[i], log ? log : "");
    free(log);
}

T_TEST(cli_info_generations) {
    T_NEED_SHARED();
    static const char *const n[] = {"model: v6.0-v6.1 (Model); activation SiLU; 3 detect levels, strides 8 16 32 (input sides multiples of 32); imgsz 640"};
    static const char *const s6[] = {"v6.2+ (DetectionModel)", "4 detect levels, strides 8 16 32 64",
                                     "multiples of 64", "[436,615 739,380 925,792]"};
    static const char *const v50[] = {"v4.0-v5.0 (Model, Focus, SPP)", "activation SiLU", "k6 s2 p2", "SPPF"};
    static const char *const cu[] = {"activation LeakyReLU(0.1)", "classes (3): 0:red, 1:green, 2:blue",
                                     "[7,9.10156 11.2031,21 23.0938,16.0938]"};
    info_has("yolov5n", n, 1);
    info_has("yolov5s6-synth", s6, 4);
    info_has("yolov5s-v50-synth", v50, 4);
    info_has("yolov5s-custom-synth", cu, 3);
}

T_TEST(cli_detect_p6_imgsz_rounds_to_64) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5s6-synth");
    T_REQUIRE(w, "conversion failed");
    char cmd[4096], *log = NULL;
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --source %s --out %s/p6 --imgsz 672 --no-save --stats-json %s/p6.json",
             t_bin(), w, t_shared_path("images/zidane.jpg"), t_tmpdir(), t_tmpdir());
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "stride 64") && strstr(log, "704x704"), "no rounding warning: %s", log ? log : "");
    free(log);
    char p[1024];
    snprintf(p, sizeof p, "%s/p6.json", t_tmpdir());
    char *js = t_read_file(p, NULL);
    T_CHECK(js && strstr(js, "\"imgsz\": [704, 704]"), "stats: %s", js ? js : "(none)");
    free(js);
}
