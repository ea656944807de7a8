/* test_pipeline.c - the detect pipeline end to end (the built binary): the
 * outputs do not depend on workers, writers, batch size or engine count;
 * a run killed (by the test, SIGKILL) and resumed with --resume ends
 * byte-identical to an uninterrupted one without redoing finished images;
 * shards cover the input exactly once; raw RGB24 frames stream through
 * stdin/stdout (and through ffmpeg). Small inputs at imgsz 320 so the
 * suite stays fast under ASan too. */
#include "tests/t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/image/image.h"
#include "core/image/letterbox.h"
#include "core/app/pipeline.h"
#include "core/app/pipeline_internal.h"

/* ---- helpers ---- */

static int crop_to(const y5_image *src, int x, int y, int w, int h, const char *path) {
    y5_image c = {w, h, malloc((size_t)w * h * 3)};
    if (!c.px) return -1;
    for (int r = 0; r < h; r++) memcpy(c.px + (size_t)r * w * 3, src->px + ((size_t)(y + r) * src->w + x) * 3, (size_t)w * 3);
    char err[512];
    int rc = y5_image_write(path, &c, err, sizeof err);
    free(c.px);
    return rc;
}

/* dir/in: 10 images of different aspect ratios (and so letterbox shapes):
 * bus, zidane, six coco64 images, a wide crop (.png) and a tall crop. */
static int make_inputs(const char *dir) {
    static const char *coco[] = {"000000000009", "000000000025", "000000000030",
                                 "000000000034", "000000000036", "000000000042"};
    if (t_sh("mkdir -p '%s/in' && cp '%s' '%s' '%s/in/'", dir, t_shared_path("images/bus.jpg"),
           t_shared_path("images/zidane.jpg"), dir))
        return -1;
    for (size_t i = 0; i < sizeof coco / sizeof coco[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "data/coco64/images/%s.jpg", coco[i]);
        if (t_sh("cp '%s' '%s/in/'", t_shared_path(rel), dir)) return -1;
    }
    y5_image a, b;
    char err[512], p[1024];
    if (y5_image_load(t_shared_path("images/zidane.jpg"), &a, err, sizeof err)) return -1;
    if (y5_image_load(t_shared_path("images/bus.jpg"), &b, err, sizeof err)) { y5_image_free(&a); return -1; }
    snprintf(p, sizeof p, "%s/in/wide_crop.png", dir);
    int rc = crop_to(&a, 100, 200, 900, 260, p);
    snprintf(p, sizeof p, "%s/in/tall_crop.jpg", dir);
    rc |= crop_to(&b, 0, 100, 300, 900, p);
    y5_image_free(&a);
    y5_image_free(&b);
    return rc;
}

static int run_detect(const char *args, const char *env, char **log) {
    const char *w = t_model_y5w("yolov5n");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s detect --weights %s --imgsz 320 %s", env ? env : "", t_bin(), w, args);
    return t_run(cmd, log);
}

/* diff -r of two result folders (empty string: identical). */
static int same_tree(const char *a, const char *b) { return t_sh("diff -r '%s' '%s' >/dev/null", a, b) == 0; }

/* d/in (make_inputs) and the reference run over it into d/ref with OPTS.
 * 0, or -1 (its log, when it ran, in *log: the caller frees it). */
static int make_reference(const char *d, char *ref, size_t cap, const char *opts, char **log) {
    *log = NULL;
    if (make_inputs(d)) return -1;
    char args[4096];
    snprintf(ref, cap, "%s/ref", d);
    snprintf(args, sizeof args, "--source %s/in --out %s %s", d, ref, opts);
    return run_detect(args, NULL, log) == 0 ? 0 : -1;
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

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int no_leftovers(const char *dir) {
    return t_sh("find '%s' -name '*.tmp*' -o -name '*.partial' -o -name '*.prev' | grep -q .", dir) != 0;
}

#define NEED_MODEL()                                                         \
    T_NEED_SHARED();                                                         \
    const char *model_ = t_model_y5w("yolov5n");                            \
    T_REQUIRE(model_, "conversion failed"); (void)model_

/* ---- option parsing (in process) ---- */

T_TEST(pipeline_parse_devices_and_shards) {
    y5_engine_spec s[8];
    char err[256];
    int n = y5_parse_engine_specs("cpu", NULL, 8, s, 8, err, sizeof err);
    T_CHECK(n == 1 && !strcmp(s[0].device, "cpu") && s[0].threads == 0, "cpu: n=%d t=%d", n, s[0].threads);
    n = y5_parse_engine_specs("cpu,cpu", NULL, 8, s, 8, err, sizeof err);
    T_CHECK(n == 2 && s[0].threads == 4 && s[1].threads == 4, "cpu,cpu on 8 cores: %d %d", s[0].threads, s[1].threads);
    n = y5_parse_engine_specs("cpu,cpu,cpu", "4", 8, s, 8, err, sizeof err);
    T_CHECK(n == 3 && s[0].threads == 2 && s[1].threads == 1 && s[2].threads == 1, "4 over 3: %d %d %d", s[0].threads,
            s[1].threads, s[2].threads);
    n = y5_parse_engine_specs("cpu,cpu", "3,1", 8, s, 8, err, sizeof err);
    T_CHECK(n == 2 && s[0].threads == 3 && s[1].threads == 1, "given: %d %d", s[0].threads, s[1].threads);
    n = y5_parse_engine_specs("0,0", NULL, 8, s, 8, err, sizeof err);
    T_CHECK(n == 2 && !strcmp(s[0].device, "cuda:0") && !strcmp(s[1].device, "cuda:0"), "0,0: %s", s[0].device);
    n = y5_parse_engine_specs("cuda:1,cpu", NULL, 8, s, 8, err, sizeof err);
    T_CHECK(n == 2 && !strcmp(s[0].device, "cuda:1") && !strcmp(s[1].device, "cpu") && s[1].threads == 0, "mixed");
    T_CHECK(y5_parse_engine_specs("cpu,", NULL, 8, s, 8, err, sizeof err) < 0 && strstr(err, "empty"), "%s", err);
    T_CHECK(y5_parse_engine_specs("cpu,cpu", "1,2,3", 8, s, 8, err, sizeof err) < 0, "3 thread counts for 2 engines");
    T_CHECK(y5_parse_engine_specs("cpu", "x", 8, s, 8, err, sizeof err) < 0, "bad --threads");
    int k, m;
    T_CHECK(!y5_parse_shard("0/3", &k, &m) && k == 0 && m == 3, "0/3");
    T_CHECK(!y5_parse_shard("2/3", &k, &m) && k == 2 && m == 3, "2/3");
    T_CHECK(y5_parse_shard("3/3", &k, &m) < 0 && y5_parse_shard("-1/3", &k, &m) < 0 && y5_parse_shard("1", &k, &m) < 0 &&
                y5_parse_shard("1/0", &k, &m) < 0 && y5_parse_shard("1/2x", &k, &m) < 0,
            "bad shards accepted");
}

T_TEST(pipeline_option_errors) {
    NEED_MODEL();
    struct { const char *args, *expect; int rc; } cases[] = {
        {"--source %S --out %D/o --shard 3/3", "--shard", 2},
        {"--source - --out %D/o", "--raw", 2},
        {"--source %S --out -", "--out -", 2},
        {"--source %S --out %D/o --raw 10x10", "--raw", 2},
        {"--source - --raw 10 --out -", "--raw 10", 2},
        {"--source - --raw 8x8 --out - --resume", "--resume", 2},
        {"--source %S --out %D/o --device cpu,,cpu", "empty", 2},
        {"--source %S --out %D/o --batch 0", "--batch", 2},
        {"--source %S --out %D/o --device cpu,vulkan", "vulkan", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        t_expand(cases[i].args, NULL, args, sizeof args);
        char *log = NULL;
        int rc = run_detect(args, NULL, &log);
        T_CHECK(rc == cases[i].rc, "'%s': exit %d, want %d: %s", args, rc, cases[i].rc, log ? log : "");
        T_CHECK(log && strstr(log, cases[i].expect), "'%s': message does not name '%s': %s", args, cases[i].expect,
                log ? log : "");
        free(log);
    }
}

/* The engines open while the decode workers run (pipeline.c). With each
 * opening made 1.5 s slower (Y5_PIPE_OPEN_DELAY_MS), two engines still open
 * at once (the run takes one delay, not two), images are decoded meanwhile
 * (the stats count them) and the outputs are the plain run's. An engine that
 * cannot open stops the run while decoding is under way: exit 1, its
 * one-line error, nothing written. */
T_TEST(pipeline_engines_open_while_decoding) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    char args[4096], ref[1024], out[1024], js[1100];
    char *log = NULL;
    T_REQUIRE(make_reference(d, ref, sizeof ref, "--threads 2", &log) == 0, "reference run: %s", log ? log : "");
    free(log);
    int rc;

    snprintf(out, sizeof out, "%s/slow", d);
    snprintf(js, sizeof js, "%s/slow.json", d);
    snprintf(args, sizeof args, "--source %s/in --out %s --device cpu,cpu --queue 4 --stats-json %s", d, out, js);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = run_detect(args, "Y5_PIPE_OPEN_DELAY_MS=1500", &log);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double took = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    T_CHECK(rc == 0, "slow opening: exit %d: %s", rc, log ? log : "");
    T_CHECK(same_tree(ref, out), "slow opening: outputs differ from the reference (diff -r %s %s)", ref, out);
    /* one delay, not two in a row (the engines' own opening and the 10
     * images at 320 take well under a second here, under ASan too) */
    T_CHECK(took < 2.9, "two engines, each opening 1.5 s late, took %.2f s: not opened at once", took);
    const char *m = log ? strstr(log, "with the decode workers running") : NULL;
    T_CHECK(m, "the report does not say the decode workers ran while the engines opened: %s", log ? log : "");
    free(log);
    size_t len = 0;
    char *st = t_read_file(js, &len);
    const char *pf = st ? strstr(st, "\"prefetched\": ") : NULL;
    const int prefetched = pf ? atoi(pf + 14) : -1;
    /* 1.5 s is ample for four small images; the queue (4) bounds them */
    T_CHECK(prefetched >= 1 && prefetched <= 4, "prefetched %d images while the engines opened (want 1..4)", prefetched);
    free(st);

    snprintf(out, sizeof out, "%s/bad", d);
    snprintf(args, sizeof args, "--source %s/in --out %s --device cpu,vulkan --queue 4", d, out);
    rc = run_detect(args, "Y5_PIPE_OPEN_DELAY_MS=300", &log);
    T_CHECK(rc == 1, "an engine that cannot open: exit %d, want 1: %s", rc, log ? log : "");
    int lines = 0;
    for (const char *q = log; q && (q = strstr(q, "yolov5c detect:")); q++) lines++;
    T_CHECK(lines == 1 && strstr(log, "vulkan"), "want one error line naming vulkan: %s", log ? log : "");
    free(log);
    const int written = t_sh("find '%s' -type f ! -name .yolov5c.lock | grep -q .", out) == 0; /* the folder's lock is cli_detect's */
    T_CHECK(!written, "an engine that cannot open: files written in %s", out);

    /* A broken image decoded while the engines open: its line follows the
     * banner (it is held until the run begins), and a run that never begins
     * (an engine cannot open) does not report it at all. */
    const int mixed = t_sh("mkdir -p '%s/mixed' && cp \"$(ls -d '%s'/in/* | head -1)\" '%s/mixed/' && "
                           "printf 'not a jpeg' > '%s/mixed/broken.jpg'", d, d, d, d);
    T_REQUIRE(mixed == 0, "setup");
    snprintf(out, sizeof out, "%s/mixed_out", d);
    snprintf(args, sizeof args, "--source %s/mixed --out %s --device cpu --queue 4", d, out);
    rc = run_detect(args, "Y5_PIPE_OPEN_DELAY_MS=400", &log);
    const char *banner = log ? strstr(log, "detect: 2 images") : NULL, *skip = log ? strstr(log, "skipped: ") : NULL;
    /* (exit 1: an image failed; the other one is done) */
    T_CHECK(banner && skip && banner < skip && strstr(log, "done: 2 images, 1 failed"),
            "the broken image's line before the banner, or the run not done (exit %d): %s", rc, log ? log : "");
    free(log);
    snprintf(out, sizeof out, "%s/mixed_bad", d);
    snprintf(args, sizeof args, "--source %s/mixed --out %s --device cpu,vulkan --queue 4", d, out);
    rc = run_detect(args, "Y5_PIPE_OPEN_DELAY_MS=400", &log);
    T_CHECK(rc == 1 && log && !strstr(log, "skipped") && strstr(log, "vulkan"),
            "a run that did not begin reported an image (exit %d): %s", rc, log ? log : "");
    free(log);
}

/* The hold's bounds (pipeline_slots.c), which a run reaches only with a
 * great many failing images decoded while the engines open: lines are kept
 * whole up to Y5_PIPE_HELD_MAX bytes and the rest counted; a message longer
 * than one line's buffer is cut and still ends its line. */
T_TEST(pipeline_log_hold_bounds) {
    y5_pipe p;
    memset(&p, 0, sizeof p);
    T_REQUIRE(pthread_mutex_init(&p.print_mu, NULL) == 0, "setup");
    y5_pipe_log_hold(&p);
    char longmsg[3001];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    y5_pipe_log(&p, "%s\n", longmsg);
    T_CHECK(p.held.n == 2047 && p.held.p[2046] == '\n', "a cut message: %zu bytes held, last '%c'", p.held.n,
            p.held.n ? p.held.p[p.held.n - 1] : '?');
    const int lines = 2000; /* 48 bytes each: 96 KB, past the 64 KiB */
    for (int i = 0; i < lines; i++) y5_pipe_log(&p, "[%04d/2000] skipped: %-26s\n", i, "broken.jpg: not an image");
    const size_t kept = (p.held.n - 2047) / 48;
    const int whole = (p.held.n - 2047) % 48 == 0 && p.held.p[p.held.n - 1] == '\n';
    T_CHECK(p.held.n <= Y5_PIPE_HELD_MAX && whole, "held %zu bytes: not whole lines within %d", p.held.n,
            Y5_PIPE_HELD_MAX);
    T_CHECK(kept + (size_t)p.held_dropped == (size_t)lines && p.held_dropped > 0,
            "%zu lines kept and %lld counted, want %d in all", kept, p.held_dropped, lines);
    y5_pipe_log_release(&p, 0);
    T_CHECK(!p.log_held && !p.held.p && p.held_dropped == 0, "the release left the hold or its lines");
    pthread_mutex_destroy(&p.print_mu);
}

/* ---- determinism ---- */

/* The first engine's closing line: batches run, and of those, filled
 * during the previous one's forward (-1 when missing). */
static void engine_counts(const char *log, long long *batches, long long *overlapped) {
    const char *e = log ? strstr(log, "images in ") : NULL;
    const char *f = e ? strstr(e, "batches, ") : NULL;
    *batches = e ? atoll(e + 10) : -1;
    *overlapped = f ? atoll(f + 9) : -1;
}

/* detect over d/SRC into d/TAG with OPTS and ENV: exit 0 and the same
 * result tree as REF. Returns its log (the caller frees it). */
static char *run_variant(const char *d, const char *src, const char *ref, const char *tag, const char *opts,
                         const char *env) {
    char out[1024], args[4096];
    char *log = NULL;
    snprintf(out, sizeof out, "%s/%s", d, tag);
    snprintf(args, sizeof args, "--source %s/%s --out %s %s", d, src, out, opts);
    int rc = run_detect(args, env, &log);
    T_CHECK(rc == 0, "%s'%s': exit %d: %s", env, opts, rc, log ? log : "");
    T_CHECK(same_tree(ref, out), "%s'%s': outputs differ from the reference (diff -r %s %s)", env, opts, ref, out);
    return log;
}

T_TEST(pipeline_outputs_independent_of_workers_batch_engines) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    char args[4096], ref[1024], out[1024], p[1200];
    char *log = NULL;
    snprintf(p, sizeof p, "--workers 1 --writers 1 --batch 1 --threads 2 --stats-json %s/ref.json", d);
    T_REQUIRE(make_reference(d, ref, sizeof ref, p, &log) == 0, "reference run: %s", log ? log : "");
    int rc;
    T_CHECK(log && strstr(log, "bound by:") && strstr(log, "read+decode") && strstr(log, "forward") &&
                strstr(log, "draw+encode+write") && strstr(log, "busy"),
            "no stage accounting: %s", log ? log : "");
    T_CHECK(log && strstr(log, "done: 10 images, 0 failed"), "closing line: %s", log ? log : "");
    free(log);
    log = NULL;
    snprintf(p, sizeof p, "%s/ref.json", d);
    char *js = t_read_file(p, NULL);
    T_CHECK(js && strstr(js, "\"bound_by\"") && strstr(js, "\"h2d\": null") && strstr(js, "\"forward\": {"),
            "stats json: %s", js ? js : "(missing)");
    /* the steady state after the engine's 2 warm-up batches (10 batches of 1):
     * a window, busy and forward fractions with forward <= busy <= 1 */
    const char *af = js ? strstr(js, "\"after_warmup\": {") : NULL;
    double win = -1, busy = -1, fwd = -1;
    const int got = af ? sscanf(af, "\"after_warmup\": {\"window_s\": %lf, \"busy\": %lf, \"forward\": %lf", &win,
                                &busy, &fwd) : 0;
    T_CHECK(got == 3, "no after_warmup: %s", js ? js : "");
    T_CHECK(win > 0 && fwd > 0 && fwd <= busy + 1e-4 && busy <= 1.0001, "after_warmup: window %g busy %g forward %g",
            win, busy, fwd);
    /* CPU accounting: the decode and write threads' CPU time per image is
     * at most their wall time per image; the process's CPU over the wall
     * fits the machine's cores */
    for (int k = 0; k < 2 && js; k++) {
        const char *key = k ? "\"write\": {" : "\"read_decode\": {";
        const char *st = strstr(js, key);
        double tot = -1, per = -1, cpu = -1;
        int wk = 0;
        int n = st ? sscanf(strchr(st, '{'), "{\"total_s\": %lf, \"workers\": %d, \"per_worker_s\": %*f, \"per_image_ms\": %lf, "
                                           "\"cpu_per_image_ms\": %lf", &tot, &wk, &per, &cpu) : 0;
        T_CHECK(n == 4 && cpu > 0 && cpu <= per * 1.02 + 2.0, "%s cpu %g ms vs wall %g ms per image (%d fields): %s", key,
                cpu, per, n, js);
    }
    const char *cu = js ? strstr(js, "\"cpu\": {") : NULL;
    double ps = -1, busy_c = -1;
    int cores = 0;
    const int got_cpu = cu ? sscanf(cu, "\"cpu\": {\"process_s\": %lf, \"cores\": %d, \"cores_busy\": %lf", &ps, &cores,
                                    &busy_c) : 0;
    T_CHECK(got_cpu == 3 && ps > 0 && cores > 0 && busy_c > 0 && busy_c <= cores * 1.05 + 0.1,
            "process cpu: %g s, %d cores, %g busy", ps, cores, busy_c);
    free(js);
    snprintf(p, sizeof p, "%s/detections.jsonl", ref);
    T_CHECK(count_lines(p) == 10, "jsonl lines: %d", count_lines(p));
    T_CHECK(no_leftovers(ref), "temp/partial files left in %s", ref);
    /* lines in input (sorted path) order */
    char *j = t_read_file(p, NULL);
    T_REQUIRE(j, "no jsonl");
    const char *order[] = {"000000000009", "000000000025", "000000000030", "000000000034", "000000000036",
                           "000000000042", "bus.jpg", "tall_crop", "wide_crop", "zidane"};
    const char *at = j;
    for (size_t i = 0; i < 10; i++) {
        const char *q = strstr(at, order[i]);
        T_CHECK(q != NULL, "jsonl not in input order at %s", order[i]);
        if (q) at = q;
    }
    free(j);

    const char *variants[] = {
        "--workers 3 --writers 3 --batch 1 --threads 2",
        "--workers 2 --writers 1 --batch 4 --threads 2",
        "--workers 3 --writers 2 --batch 4 --queue 2",
        "--device cpu,cpu --workers 1 --writers 3 --batch 1",
        "--device cpu,cpu --threads 1,1 --workers 3 --writers 3 --batch 4",
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        snprintf(out, sizeof out, "v%zu", v);
        /* partial groups wait until no more images can arrive: batches do
         * not depend on how fast this machine decodes */
        log = run_variant(d, "in", ref, out, variants[v], "Y5_PIPE_FLUSH_MS=600000 ");
        if (strstr(variants[v], "--batch 4") && !strstr(variants[v], "--queue 2")) {
            /* 10 images in 6 letterbox shapes (2 + 3 + 2 + 1 + 1 + 1): 6 batches */
            const char *e = log ? strstr(log, "images in ") : NULL;
            int batches = e ? atoi(e + 10) : 0;
            if (strstr(variants[v], "cpu,cpu")) {
                const char *e2 = e ? strstr(e + 10, "images in ") : NULL;
                batches += e2 ? atoi(e2 + 10) : 100;
            }
            T_CHECK(batches == 6, "'%s': %d batches for 10 images, want 6: %s", variants[v], batches, log ? log : "");
        }
        free(log);
        log = NULL;
    }

    /* The engine loop with overlap (the next batch filled before the
     * running one is finished: a GPU engine's default) forced on the CPU
     * engine: the same outputs. With 0 nothing overlaps; with 1 a batch can
     * only overlap a predecessor of its own shape and size. Eight copies of
     * one image plus the ten make batches of one shape in a row. */
    const int made = t_sh("mkdir -p '%s/in2' && cp '%s'/in/* '%s/in2/' && for i in 1 2 3 4 5 6 7 8; do cp '%s' "
                          "'%s/in2/bus_'$i.jpg; done", d, d, d, t_shared_path("images/bus.jpg"), d);
    T_REQUIRE(made == 0, "could not make the second input folder");
    char ref2[1024];
    snprintf(ref2, sizeof ref2, "%s/ref2", d);
    snprintf(args, sizeof args, "--source %s/in2 --out %s --workers 1 --writers 1 --batch 1 --threads 2", d, ref2);
    rc = run_detect(args, "Y5_PIPE_OVERLAP=0", &log);
    T_REQUIRE(rc == 0, "overlap reference: exit %d: %s", rc, log ? log : "");
    long long nb, no, overlapped = 0;
    engine_counts(log, &nb, &no);
    T_CHECK(nb > 0 && no == 0, "Y5_PIPE_OVERLAP=0: %lld of %lld batches overlapped: %s", no, nb, log ? log : "");
    free(log);
    log = NULL;
    const char *ov[] = {"--workers 3 --writers 2 --batch 2 --threads 2", "--workers 4 --writers 1 --batch 1 --threads 2",
                        "--workers 2 --writers 2 --batch 3 --queue 7"}; /* room for two batches of 3 */
    for (size_t v = 0; v < sizeof ov / sizeof ov[0]; v++) {
        snprintf(out, sizeof out, "ov%zu", v);
        log = run_variant(d, "in2", ref2, out, ov[v], "Y5_PIPE_OVERLAP=1 Y5_PIPE_FLUSH_MS=600000 ");
        engine_counts(log, &nb, &no);
        overlapped += no > 0 ? no : 0;
        T_CHECK(nb > 0 && no >= 0 && no < nb, "overlap '%s': %lld of %lld batches overlapped: %s", ov[v], no, nb,
                log ? log : "");
        printf("    Y5_PIPE_OVERLAP=1 %s: %lld of %lld batches filled during the previous forward\n", ov[v], no, nb);
        free(log);
        log = NULL;
    }
    /* the overlapped order really ran: over the three variants, some batch
     * was filled while its predecessor was still unfinished (each forward
     * here takes longer than decoding the next images does) */
    T_CHECK(overlapped > 0, "Y5_PIPE_OVERLAP=1: no batch was filled during the previous one's forward");
}

/* ---- resume ---- */

/* The 10 inputs of make_inputs in input (sorted path) order. The resume
 * test names them one by one on the command line rather than by folder,
 * because a folder lists regular files only and one of them will be a FIFO. */
static const char *const INPUT_NAMES[10] = {"000000000009.jpg", "000000000025.jpg", "000000000030.jpg",
                                            "000000000034.jpg", "000000000036.jpg", "000000000042.jpg",
                                            "bus.jpg",          "tall_crop.jpg",    "wide_crop.png",
                                            "zidane.jpg"};

static void input_list(const char *d, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < 10 && n < cap; i++) n += (size_t)snprintf(out + n, cap - n, " '%s/in/%s'", d, INPUT_NAMES[i]);
}

/* Swaps input i for a FIFO of the same name (the real file kept in
 * d/stash), or back. A decode worker that reaches the FIFO blocks in open()
 * until a writer appears, which never happens: the images before it finish
 * and are emitted, and the in-order emitter stops there, so a run over it
 * can be killed with exactly i images done whatever the machine's speed. */
static int fifo_swap(const char *d, int i, int to_fifo) {
    char real[1200], kept[1200];
    snprintf(real, sizeof real, "%s/in/%s", d, INPUT_NAMES[i]);
    snprintf(kept, sizeof kept, "%s/stash_%s", d, INPUT_NAMES[i]);
    if (to_fifo) return rename(real, kept) || mkfifo(real, 0600) ? -1 : 0;
    return unlink(real) || rename(kept, real) ? -1 : 0;
}

/* Starts `yolov5c detect ... ARGS` in the background with stdout and
 * stderr into logpath; returns its pid (exec: the shell becomes detect), or
 * -1. */
static pid_t start_detect(const char *args, const char *logpath) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exec %s detect --weights %s --imgsz 320 %s >'%s' 2>&1", t_bin(), t_model_y5w("yolov5n"),
             args, logpath);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits (polling, at most timeout_s) until path holds n complete lines,
 * then kills pid with SIGKILL and reaps it. Returns 1 when the lines were
 * there and the process was still running when the kill came (killed by
 * it), 0 on the timeout, -1 when the process ended by itself first. */
static int kill_after_lines(pid_t pid, const char *path, int n, double timeout_s) {
    struct timespec t0, now, nap = {0, 10 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st, reached = 0;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) return -1;
        if (count_lines(path) >= n) { reached = 1; break; }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > timeout_s) break;
        nanosleep(&nap, NULL);
    }
    kill(pid, SIGKILL);
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) return -1; /* it exited on its own before the kill */
    return reached;
}

/* --resume's own errors are reported (they go through the run's log,
 * which holds the early decodes' lines while the engines open: a hold over
 * --resume's preparation dropped them, exit 1 with no word). Here the
 * earlier results' .prev cannot be replaced: a folder has its name. */
T_TEST(pipeline_resume_error_is_shown) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    char args[4096];
    char *log = NULL;
    const int made = t_sh("mkdir -p '%s/in' && cp '%s' '%s/in/a.jpg' && cp '%s' '%s/in/b.jpg'", d,
                          t_shared_path("images/bus.jpg"), d, t_shared_path("images/zidane.jpg"), d);
    T_REQUIRE(made == 0, "setup");
    snprintf(args, sizeof args, "--source %s/in --out %s/o", d, d);
    T_REQUIRE(run_detect(args, NULL, NULL) == 0, "first run failed");
    const int more = t_sh("cp '%s' '%s/in/c.jpg' && mkdir -p '%s/o/detections.jsonl.prev/x'", t_shared_path("images/bus.jpg"),
                          d, d);
    T_REQUIRE(more == 0, "setup");
    snprintf(args, sizeof args, "--source %s/in --out %s/o --resume", d, d);
    const int rc = run_detect(args, NULL, &log);
    T_CHECK(rc == 1 && log && strstr(log, "detections.jsonl.prev") && strstr(log, "is a directory"),
            "exit %d, want 1 and the .prev error: %s", rc, log ? log : "");
    free(log);
}

/* A killed run resumed: nothing lost, nothing redone. The test kills the
 * process itself (SIGKILL) once detections.jsonl.partial shows that some
 * but not all images were done; a FIFO input (fifo_swap) holds the run at
 * a known image so that the kill always lands mid-run, however fast or
 * loaded the machine. The images behind the FIFO are still decoded, run and
 * written meanwhile, so the kill also finds writers at arbitrary points. */
T_TEST(pipeline_resume_after_kill) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    T_REQUIRE(make_inputs(d) == 0, "could not make the inputs");
    char args[4096], ref[1024], out[1024], p[1200], logp[1200], src[2048];
    char *log = NULL;
    input_list(d, src, sizeof src);
    snprintf(ref, sizeof ref, "%s/ref", d);
    snprintf(out, sizeof out, "%s/out", d);
    snprintf(logp, sizeof logp, "%s/killed.log", d);
    snprintf(args, sizeof args, "--source%s --out %s --workers 2 --writers 2", src, ref);
    T_REQUIRE(run_detect(args, NULL, NULL) == 0, "reference run failed");

    /* killed once the 3 images before the FIFO (input 3) are fully written */
    T_REQUIRE(fifo_swap(d, 3, 1) == 0, "cannot make a FIFO in %s/in", d);
    snprintf(args, sizeof args, "--source%s --out %s --workers 2 --writers 2", src, out);
    snprintf(p, sizeof p, "%s/detections.jsonl.partial", out);
    pid_t pid = start_detect(args, logp);
    T_REQUIRE(pid > 0, "cannot start yolov5c detect");
    int k = kill_after_lines(pid, p, 3, 120);
    log = t_read_file(logp, NULL);
    T_REQUIRE(k == 1, "%s before the kill: %s", k < 0 ? "the run ended by itself" : "no 3 lines in 120 s",
              log ? log : "");
    free(log);
    log = NULL;
    T_REQUIRE(fifo_swap(d, 3, 0) == 0, "cannot put input 3 back");
    snprintf(p, sizeof p, "%s/detections.jsonl", out);
    T_CHECK(!exists(p), "detections.jsonl exists after a kill");
    snprintf(p, sizeof p, "%s/detections.jsonl.partial", out);
    T_CHECK(count_lines(p) == 3, ".partial has %d lines, want 3", count_lines(p));
    /* a torn last line, as a SIGKILL in mid-write could leave */
    FILE *f = fopen(p, "ab");
    T_REQUIRE(f, "cannot append to %s", p);
    fputs("{\"image\": \"", f);
    fputs(d, f);
    fputs("/in/zidane.jpg\", \"width\": 12", f);
    fclose(f);
    /* the first three images' outputs must not be rewritten: same inodes */
    const char *first[3] = {"000000000009", "000000000025", "000000000030"};
    ino_t ino[3];
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s/labels/%s.txt", out, first[i]);
        T_REQUIRE(stat(p, &st) == 0, "%s missing after the kill", p);
        ino[i] = st.st_ino;
    }

    snprintf(args, sizeof args, "--source%s --out %s --workers 3 --writers 1 --batch 2 --resume", src, out);
    int rc = run_detect(args, NULL, &log);
    T_CHECK(rc == 0, "resume exited %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "resume: 3 of 10 images already complete"), "resume line: %s", log ? log : "");
    T_CHECK(log && strstr(log, "done: 10 images, 0 failed, 3 already complete (skipped)"), "closing line: %s",
            log ? log : "");
    free(log);
    log = NULL;
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s/labels/%s.txt", out, first[i]);
        T_CHECK(stat(p, &st) == 0 && st.st_ino == ino[i], "%s was rewritten by the resumed run", p);
    }
    T_CHECK(same_tree(ref, out), "resumed outputs differ from an uninterrupted run (diff -r %s %s)", ref, out);
    T_CHECK(no_leftovers(out), "temp/partial files left in %s", out);

    /* a second kill during a resumed run, then a resume of a finished job:
     * bus (input 6) and zidane (input 9, now a FIFO) are to be redone; the
     * kill comes once bus and the carried lines of inputs 7 and 8 are out */
    int rm = t_sh("rm -f '%s'/labels/zidane.txt '%s'/bus.jpg", out, out);
    T_REQUIRE(rm == 0, "rm");
    T_REQUIRE(fifo_swap(d, 9, 1) == 0, "cannot make a FIFO in %s/in", d);
    snprintf(args, sizeof args, "--source%s --out %s --resume", src, out);
    snprintf(p, sizeof p, "%s/detections.jsonl.partial", out);
    pid = start_detect(args, logp);
    T_REQUIRE(pid > 0, "cannot start yolov5c detect");
    k = kill_after_lines(pid, p, 9, 120);
    log = t_read_file(logp, NULL);
    T_REQUIRE(k == 1, "second kill: %s: %s", k < 0 ? "the run ended by itself" : "no 9 lines in 120 s",
              log ? log : "");
    T_CHECK(log && strstr(log, "resume: 8 of 10"), "second kill: %s", log ? log : "");
    free(log);
    log = NULL;
    T_REQUIRE(fifo_swap(d, 9, 0) == 0, "cannot put input 9 back");
    T_CHECK(count_lines(p) == 9, "second kill: .partial has %d lines, want 9", count_lines(p));
    snprintf(args, sizeof args, "--source%s --out %s --resume", src, out);
    rc = run_detect(args, NULL, &log);
    /* zidane's line is in the first resumed run's detections.jsonl, but
     * its label is gone: redone */
    T_CHECK(rc == 0 && log && strstr(log, "resume: 9 of 10"), "second resume: exit %d: %s", rc, log ? log : "");
    free(log);
    log = NULL;
    T_CHECK(same_tree(ref, out), "outputs differ after two kills");
    rc = run_detect(args, NULL, &log);
    T_CHECK(rc == 0 && log && strstr(log, "resume: 10 of 10"), "resume of a finished job: %s", log ? log : "");
    free(log);
    T_CHECK(same_tree(ref, out), "outputs differ after resuming a finished job");
    T_CHECK(no_leftovers(out), "temp/partial files left in %s", out);
}

/* ---- shards ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The lines of a file, sorted, joined: a canonical multiset. */
static char *sorted_lines(const char *const *paths, int n) {
    char *all[64];
    int k = 0;
    char *bufs[8] = {0};
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        bufs[i] = t_read_file(paths[i], NULL);
        if (!bufs[i]) continue;
        for (char *s = bufs[i], *e; *s && k < 64; s = e + 1) {
            e = strchr(s, '\n');
            if (!e) break;
            *e = 0;
            all[k++] = s;
            total += (size_t)(e - s) + 1;
        }
    }
    qsort(all, (size_t)k, sizeof *all, cmp_str);
    char *r = malloc(total + 1), *o = r;
    for (int i = 0; r && i < k; i++) o += sprintf(o, "%s\n", all[i]);
    if (r) *o = 0;
    for (int i = 0; i < n; i++) free(bufs[i]);
    return r;
}

T_TEST(pipeline_shards_cover_inputs_once) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    T_REQUIRE(make_inputs(d) == 0, "could not make the inputs");
    char args[4096], p[1200];
    char *log = NULL;
    snprintf(args, sizeof args, "--source %s/in --out %s/all --no-save", d, d);
    T_REQUIRE(run_detect(args, NULL, NULL) == 0, "unsharded run failed");
    char sp[3][1200];
    const char *spp[3];
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "--source %s/in --out %s/s%d --no-save --shard %d/3", d, d, k, k);
        int rc = run_detect(args, NULL, &log);
        T_CHECK(rc == 0, "shard %d: exit %d: %s", k, rc, log ? log : "");
        int want = k == 0 ? 4 : 3; /* 10 inputs: indexes k, k+3, ... */
        char msg[64];
        snprintf(msg, sizeof msg, "shard %d/3: %d of 10 inputs", k, want);
        T_CHECK(log && strstr(log, msg), "shard %d: no '%s': %s", k, msg, log ? log : "");
        free(log);
        log = NULL;
        snprintf(sp[k], sizeof sp[k], "%s/s%d/detections.jsonl", d, k);
        spp[k] = sp[k];
        T_CHECK(count_lines(sp[k]) == want, "shard %d: %d lines", k, count_lines(sp[k]));
    }
    /* every label file in exactly one shard, identical to the unsharded one */
    int dup = t_sh("cd '%s' && ls s0/labels s1/labels s2/labels | grep txt | sort | uniq -d | grep -q .", d) == 0;
    T_CHECK(!dup, "a label file is in two shards");
    int merged = t_sh("cd '%s' && mkdir m && cp s0/labels/* s1/labels/* s2/labels/* m/ && diff -r m all/labels >/dev/null", d);
    T_CHECK(merged == 0, "merged shard labels differ from the unsharded run");
    snprintf(p, sizeof p, "%s/all/detections.jsonl", d);
    const char *one[1] = {p};
    char *a = sorted_lines(one, 1), *b = sorted_lines(spp, 3);
    T_CHECK(a && b && !strcmp(a, b), "merged shard jsonl != unsharded jsonl (as sets of lines)");
    free(a);
    free(b);
}

/* ---- raw frames ---- */

/* 3 frames of 320x240: bus resized, the same mirrored, bus again. */
static int make_frames(const char *path) {
    y5_image b;
    char err[512];
    if (y5_image_load(t_shared_path("images/bus.jpg"), &b, err, sizeof err)) return -1;
    const int W = 320, H = 240;
    uint8_t *f = malloc((size_t)W * H * 3 * 3);
    if (!f) { y5_image_free(&b); return -1; }
    /* crop the bus to 4:3 (810 x 607 from the top) then resize */
    int ch = b.w * 3 / 4;
    y5_resize_linear_u8(b.px + (size_t)200 * b.w * 3, b.w, ch, f, W, H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(f + (size_t)W * H * 3 + ((size_t)y * W + x) * 3, f + ((size_t)y * W + (W - 1 - x)) * 3, 3);
    memcpy(f + (size_t)W * H * 3 * 2, f, (size_t)W * H * 3);
    y5_image_free(&b);
    FILE *o = fopen(path, "wb");
    int rc = o && fwrite(f, 1, (size_t)W * H * 9, o) == (size_t)W * H * 9 ? 0 : -1;
    if (o && fclose(o)) rc = -1;
    free(f);
    return rc;
}

T_TEST(pipeline_raw_frames_stdin_stdout) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    char in[1024], outp[1024], cmd[8192], jl[1024];
    snprintf(in, sizeof in, "%s/frames.rgb", d);
    snprintf(outp, sizeof outp, "%s/out.rgb", d);
    snprintf(jl, sizeof jl, "%s/frames.jsonl", d);
    T_REQUIRE(make_frames(in) == 0, "could not make frames");
    const size_t fb = 320 * 240 * 3;
    char *log = NULL;
    snprintf(cmd, sizeof cmd, "(cat '%s' | %s detect --weights %s --imgsz 320 --source - --raw 320x240 --out - --jsonl %s "
                              "--workers 2 --writers 2 --batch 2 > '%s')",
             in, t_bin(), t_model_y5w("yolov5n"), jl, outp);
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "done: 3 frames, 0 failed"), "closing line: %s", log ? log : "");
    free(log);
    log = NULL;
    size_t ni = 0, no = 0;
    uint8_t *a = t_read_file(in, &ni), *b = t_read_file(outp, &no);
    T_REQUIRE(a && b, "cannot read frames");
    T_CHECK(no == 3 * fb, "output is %zu bytes, want exactly 3 frames (%zu)", no, 3 * fb);
    if (no == 3 * fb) {
        size_t diff0 = 0;
        for (size_t i = 0; i < fb; i++) diff0 += a[i] != b[i];
        T_CHECK(diff0 > 1000, "frame 0 has no boxes drawn (%zu bytes differ)", diff0);
        T_CHECK(!memcmp(b, b + 2 * fb, fb), "identical input frames gave different output frames");
        T_CHECK(memcmp(b, b + fb, fb), "frames 0 and 1 equal (the mirror was not drawn on?)");
    }
    free(a);
    free(b);
    T_CHECK(count_lines(jl) == 3, "--jsonl: %d lines", count_lines(jl));
    char *j = t_read_file(jl, NULL);
    T_CHECK(j && strstr(j, "\"frame_000000\"") && strstr(j, "\"frame_000002\"") && strstr(j, "\"width\": 320"),
            "jsonl: %s", j ? j : "");
    free(j);

    /* a trailing partial frame: message, the whole frames still out, exit 1 */
    snprintf(cmd, sizeof cmd, "((cat '%s'; head -c 1000 '%s') | %s detect --weights %s --imgsz 320 --source - --raw 320x240 "
                              "--out - > '%s')",
             in, in, t_bin(), t_model_y5w("yolov5n"), outp);
    rc = t_run(cmd, &log);
    T_CHECK(rc == 1, "partial frame: exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "partial frame") && !strstr(log, "Sanitizer") && !strstr(log, "runtime error"),
            "partial frame message: %s", log ? log : "");
    free(log);
    log = NULL;
    struct stat st;
    T_CHECK(stat(outp, &st) == 0 && (size_t)st.st_size == 3 * fb, "partial frame: output %lld bytes",
            (long long)st.st_size);

    /* raw frames into a results folder */
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --imgsz 320 --source - --raw 320x240 --out %s/rawdir < '%s'", t_bin(),
             t_model_y5w("yolov5n"), d, in);
    rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "raw to folder: exit %d: %s", rc, log ? log : "");
    free(log);
    char p[1200];
    snprintf(p, sizeof p, "%s/rawdir/labels/frame_000002.txt", d);
    T_CHECK(exists(p), "%s missing", p);
    snprintf(p, sizeof p, "%s/rawdir/frame_000001.jpg", d);
    T_CHECK(exists(p), "%s missing", p);
}

T_TEST(pipeline_ffmpeg_round_trip) {
    NEED_MODEL();
    if (t_sh("command -v ffmpeg >/dev/null 2>&1"))
        T_SKIP("ffmpeg not installed (scripts/deps.sh installs it; run make deps)");
    const char *d = t_tmpdir();
    char in[1024], cmd[8192];
    snprintf(in, sizeof in, "%s/frames.rgb", d);
    T_REQUIRE(make_frames(in) == 0, "could not make frames");
    int enc = t_sh("ffmpeg -loglevel error -y -f rawvideo -pix_fmt rgb24 -s 320x240 -i '%s' -c:v mpeg4 '%s/in.mp4'", in, d);
    T_REQUIRE(enc == 0, "ffmpeg could not encode the test clip");
    char *log = NULL, bin[4096];
    if (!realpath(t_bin(), bin)) snprintf(bin, sizeof bin, "%s", t_bin());
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ffmpeg -loglevel error -i in.mp4 -f rawvideo -pix_fmt rgb24 - | %s detect --weights %s --imgsz 320 "
             "--source - --raw 320x240 --out - 2>det.log | ffmpeg -loglevel error -y -f rawvideo -pix_fmt rgb24 -s 320x240 "
             "-i - -c:v mpeg4 out.mp4 && cat det.log",
             d, bin, t_model_y5w("yolov5n"));
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "pipeline exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "done: 3 frames, 0 failed"), "detect log: %s", log ? log : "");
    free(log);
    log = NULL;
    snprintf(cmd, sizeof cmd, "ffmpeg -loglevel error -i '%s/out.mp4' -f rawvideo -pix_fmt rgb24 - | wc -c", d);
    rc = t_run(cmd, &log);
    long bytes = log ? atol(log) : -1;
    T_CHECK(rc == 0 && bytes == 3L * 320 * 240 * 3, "out.mp4 decodes to %ld bytes, want 3 frames: %s", bytes,
            log ? log : "");
    free(log);
}

/* ---- NMS queued with the forward (y5_engine_nms_submit / _take) ---- */

#include "core/engine/engine.h"

/* On the CPU engine (the backend has no nms_submit) submit queues nothing and
 * take is y5_engine_nms, bit for bit: the pipeline calls the two for every
 * engine, so the CPU path must not change. */
T_TEST(pipeline_engine_nms_take_cpu) {
    NEED_MODEL();
    char err[1024];
    y5_engine_opts eo = {"cpu", 2};
    y5_engine *e = y5_engine_open(model_, &eo, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    static const char *const files[2] = {"images/bus.jpg", "images/zidane.jpg"};
    y5_image img[2];
    memset(img, 0, sizeof img);
    int ok = y5_engine_plan(e, 2, 320, 320, err, sizeof err) == 0;
    for (int i = 0; i < 2 && ok; i++) {
        y5_letterbox_geom g;
        ok = y5_image_load(t_shared_path(files[i]), &img[i], err, sizeof err) == 0;
        if (ok) y5_letterbox_plan(img[i].w, img[i].h, 320, 320, 0, 32, &g);
        if (ok) ok = y5_engine_put_image(e, i, &img[i], &g, err, sizeof err) == 0;
    }
    y5_nms_opts o;
    y5_nms_defaults(&o);
    o.conf_thres = 0.1f;
    if (ok)
        ok = y5_engine_forward_submit(e, err, sizeof err) == 0 && y5_engine_nms_submit(e, &o, 300, err, sizeof err) == 0 &&
             y5_engine_forward_wait(e, err, sizeof err) == 0;
    T_CHECK(ok, "%s", err);
    T_CHECK(!e->nms_queued, "the CPU engine queued an NMS");
    static y5_det a[300], b[300];
    for (int i = 0; i < 2 && ok; i++) {
        int na = y5_engine_nms_take(e, i, &o, img[i].w, img[i].h, a, 300);
        int nb = y5_engine_nms(e, i, &o, img[i].w, img[i].h, b, 300);
        T_CHECK(na > 0 && na == nb && !memcmp(a, b, sizeof(y5_det) * (size_t)na), "%s: take %d boxes, nms %d", files[i],
                na, nb);
    }
    for (int i = 0; i < 2; i++) y5_image_free(&img[i]);
    y5_engine_close(e);
}

/* ---- an engine whose device fails ---- */

/* Y5_FAULT_ENGINE=I:N: engine I's forward after N good ones fails as a
 * dead device's would (pipeline.c; on CUDA a trapping kernel, below on the
 * GPU). With another engine working, the failed and the taken batches run
 * there: every image completes, byte-identical to a run without the fault,
 * with or without the overlapped fill (Y5_PIPE_OVERLAP=1 makes the dying
 * engine hold a filled batch that never ran). With none left the run stops
 * at once rather than failing every later batch: exit 1, the .partial kept,
 * and --resume finishes the job to the same bytes. */
T_TEST(pipeline_engine_device_failure) {
    NEED_MODEL();
    const char *d = t_tmpdir();
    T_REQUIRE(make_inputs(d) == 0, "could not make the inputs");
    char ref[1024], args[4096], p[1200];
    char *log = NULL;
    snprintf(ref, sizeof ref, "%s/ref", d);
    snprintf(args, sizeof args, "--source %s/in --out %s --batch 2", d, ref);
    T_REQUIRE(run_detect(args, NULL, NULL) == 0, "reference run failed");

    static const struct { const char *env, *opts; int dead; } two[] = {
        {"Y5_FAULT_ENGINE=1:1 ", "--device cpu,cpu --batch 2", 1},
        {"Y5_FAULT_ENGINE=0:0 ", "--device cpu,cpu --batch 3", 0},
        {"Y5_FAULT_ENGINE=0:2 Y5_PIPE_OVERLAP=1 ", "--device cpu,cpu --batch 1", 0},
    };
    for (size_t v = 0; v < sizeof two / sizeof two[0]; v++) {
        char tag[32], o2[512], want[128];
        snprintf(want, sizeof want, "engine %d (cpu) stopped: its device failed", two[v].dead);
        /* which engine takes which batch is the scheduler's: should the
         * doomed engine get too few to reach its fault, run it again */
        for (int tries = 0; tries < 5; tries++) {
            snprintf(tag, sizeof tag, "two%zu_%d", v, tries);
            snprintf(o2, sizeof o2, "%s --stats-json %s/%s.json", two[v].opts, d, tag);
            log = run_variant(d, "in", ref, tag, o2, two[v].env);
            if (!log || strstr(log, want)) break;
            free(log);
            log = NULL;
        }
        T_CHECK(log && strstr(log, want) && strstr(log, "its images go to the other engines") &&
                    strstr(log, "done: 10 images, 0 failed"),
                "%s%s: %s", two[v].env, two[v].opts, log ? log : "");
        free(log);
        snprintf(p, sizeof p, "%s/%s.json", d, tag);
        char *js = t_read_file(p, NULL);
        const char *e0 = js ? strstr(js, "\"device_failed\": ") : NULL;
        const char *e1 = e0 ? strstr(e0 + 1, "\"device_failed\": ") : NULL;
        T_CHECK(e0 && e1 && !strncmp((two[v].dead ? e1 : e0) + 17, "true", 4) &&
                    !strncmp((two[v].dead ? e0 : e1) + 17, "false", 5),
                "%s: stats json engines: %s", tag, js ? js : "(missing)");
        free(js);
    }

    /* the paths where a failed image keeps more than its letterboxed input:
     * a tiled image (its tile passes fail on the dead engine, the image
     * starts over elsewhere) and the engine's own letterbox with --no-save
     * (the decoded pixels must outlive the failed forward) */
    static const struct { const char *env, *opts; } more[] = {
        {"", "--device cpu,cpu --batch 2 --tile 320"},
        {"", "--device cpu,cpu --batch 2 --tile 320 --no-tile-full"},
        {"Y5_PIPE_LETTERBOX=engine ", "--device cpu,cpu --batch 2 --no-save"},
    };
    for (size_t v = 0; v < sizeof more / sizeof more[0]; v++) {
        char a[1024], env[256];
        snprintf(a, sizeof a, "%s/more%zu_ref", d, v);
        snprintf(args, sizeof args, "--source %s/in --out %s %s", d, a, more[v].opts);
        T_CHECK(run_detect(args, more[v].env, NULL) == 0, "%s%s: reference run failed", more[v].env, more[v].opts);
        snprintf(env, sizeof env, "%sY5_FAULT_ENGINE=0:1 ", more[v].env);
        for (int tries = 0; tries < 5; tries++) {
            char tag[32];
            snprintf(tag, sizeof tag, "more%zu_%d", v, tries);
            snprintf(args, sizeof args, "%s --stats-json %s/%s.json", more[v].opts, d, tag);
            log = run_variant(d, "in", a, tag, args, env);
            if (!log || strstr(log, "engine 0 (cpu) stopped: its device failed")) break;
            free(log);
            log = NULL;
        }
        T_CHECK(log && strstr(log, "engine 0 (cpu) stopped: its device failed") && strstr(log, "done: 10 images, 0 failed"),
                "%s%s: %s", env, more[v].opts, log ? log : "");
        free(log);
        log = NULL;
    }

    char out[1024];
    snprintf(out, sizeof out, "%s/one", d);
    snprintf(args, sizeof args, "--source %s/in --out %s --batch 2 --workers 1", d, out);
    int rc = run_detect(args, "Y5_FAULT_ENGINE=0:1 Y5_PIPE_FLUSH_MS=600000 ", &log);
    T_CHECK(rc == 1, "one engine, device failed: exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "engine 0 (cpu) stopped: its device failed (injected device fault") &&
                strstr(log, "no engine left, stopping") && strstr(log, "every engine's device failed: stopped with 2 of 10") &&
                strstr(log, "run again with --resume"),
            "one engine: %s", log ? log : "");
    /* stopped at once: the two images of the failed batch are reported, not every later one */
    int reported = 0;
    for (const char *q = log; q && (q = strstr(q, "] failed: ")); q++) reported++;
    T_CHECK(reported == 2, "%d images reported failed, want the failed batch's 2: %s", reported, log ? log : "");
    free(log);
    log = NULL;
    snprintf(p, sizeof p, "%s/detections.jsonl", out);
    T_CHECK(!exists(p), "detections.jsonl written by a run that stopped");
    snprintf(p, sizeof p, "%s/detections.jsonl.partial", out);
    T_CHECK(count_lines(p) == 2, ".partial has %d lines, want the first batch's 2", count_lines(p));
    snprintf(args, sizeof args, "--source %s/in --out %s --batch 2 --resume", d, out);
    rc = run_detect(args, NULL, &log);
    T_CHECK(rc == 0 && log && strstr(log, "resume: 2 of 10"), "resume: exit %d: %s", rc, log ? log : "");
    free(log);
    T_CHECK(same_tree(ref, out), "resumed outputs differ from a run without the fault (diff -r %s %s)", ref, out);
    T_CHECK(no_leftovers(out), "temp/partial files left in %s", out);
}

#ifdef Y5_HAVE_CUDA
#include "cuda/cuda_backend.h"

/* A real device fault: the CUDA engine's forward after 2 good ones runs
 * behind a kernel that traps (the context's error is sticky, as after an
 * illegal address), its backend's healthy probe must say so, and the CPU
 * engine beside it finishes every image. */
T_TEST(gpu_pipeline_device_fault_to_cpu) {
    if (y5_cuda_device_count() <= 0) T_SKIP("no CUDA device: %s", y5_cuda_no_device_reason());
    NEED_MODEL();
    const char *d = t_tmpdir();
    T_REQUIRE(make_inputs(d) == 0, "could not make the inputs");
    char args[4096], p[1200];
    char *log = NULL;
    snprintf(args, sizeof args, "--source %s/in --out %s/o --device cuda,cpu --batch 2 --stats-json %s/s.json", d, d, d);
    int rc = run_detect(args, "Y5_FAULT_ENGINE=0:2 ", &log);
    T_CHECK(rc == 0, "exit %d: %s", rc, log ? log : "");
    T_CHECK(log && strstr(log, "engine 0 (cuda) stopped: its device failed") && strstr(log, "done: 10 images, 0 failed"),
            "%s", log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/o/detections.jsonl", d);
    T_CHECK(count_lines(p) == 10, "jsonl lines: %d", count_lines(p));
    snprintf(p, sizeof p, "%s/s.json", d);
    char *js = t_read_file(p, NULL);
    const char *e0 = js ? strstr(js, "\"device_failed\": ") : NULL;
    T_CHECK(e0 && !strncmp(e0 + 17, "true", 4), "stats json: %s", js ? js : "(missing)");
    free(js);
}

/* Two CUDA engines on the one card open at once (each on its own thread:
 * the CUDA context, cuBLAS's library load, the weights' upload), as in
 * bench/pipeline.sh's --device cuda,cuda; the run's outputs equal one
 * engine's, and the stats name both engines with every image counted once.
 * The CPU test pipeline_engines_open_while_decoding proves the openings
 * overlap; this one that two CUDA openings at once are safe. */
T_TEST(gpu_pipeline_two_engines_open_at_once) {
    if (y5_cuda_device_count() <= 0) T_SKIP("no CUDA device: %s", y5_cuda_no_device_reason());
    NEED_MODEL();
    const char *d = t_tmpdir();
    char ref[1024], js[1100], opts[1400];
    char *log = NULL;
    T_REQUIRE(make_reference(d, ref, sizeof ref, "--device cuda --batch 2", &log) == 0, "reference run: %s",
              log ? log : "");
    free(log);
    snprintf(js, sizeof js, "%s/two.json", d);
    snprintf(opts, sizeof opts, "--device cuda,cuda --batch 2 --stats-json %s", js);
    /* the delay holds both openings back alike, so neither is done before the other starts */
    log = run_variant(d, "in", ref, "two", opts, "Y5_PIPE_OPEN_DELAY_MS=200 ");
    T_CHECK(log && strstr(log, "done: 10 images, 0 failed"), "closing line: %s", log ? log : "");
    free(log);
    char *st = t_read_file(js, NULL);
    int engines = 0;
    long long images = 0;
    for (const char *q = st; q && (q = strstr(q, "{\"device\": \"cuda")); q++) {
        const char *im = strstr(q, "\"images\": ");
        engines++;
        images += im ? atoll(im + 10) : -1000;
    }
    T_CHECK(engines == 2 && images == 10, "stats: %d cuda engines, %lld images (want 2 and 10): %s", engines, images,
            st ? st : "(missing)");
    free(st);
}

/* On a GPU each batch's NMS is queued behind its forward and read after the
 * one wait: the outputs equal those of NMS image by image (Y5_NMS_BATCH=0),
 * with batches of 4 (full ones of the eight bus copies and partial ones of
 * the other shapes) and of 1, and options that reach the NMS's limits and
 * filters (max_det, agnostic, a class filter). */
/* "N images' NMS queued with the forward" of the closing report (-1: no such line) */
static long long nms_batched(const char *log) {
    const char *p = log ? strstr(log, "images' NMS queued with the forward") : NULL;
    if (!p) return -1;
    while (p > log && p[-1] == ' ') p--;
    while (p > log && p[-1] >= '0' && p[-1] <= '9') p--;
    return atoll(p);
}

T_TEST(gpu_pipeline_nms_batch_same_outputs) {
    if (y5_cuda_device_count() <= 0) T_SKIP("no CUDA device: %s", y5_cuda_no_device_reason());
    NEED_MODEL();
    const char *d = t_tmpdir();
    T_REQUIRE(make_inputs(d) == 0, "could not make the inputs");
    const int made = t_sh("mkdir -p '%s/in2' && cp '%s'/in/* '%s/in2/' && for i in 1 2 3 4 5 6 7 8; do cp '%s' "
                          "'%s/in2/bus_'$i.jpg; done", d, d, d, t_shared_path("images/bus.jpg"), d);
    T_REQUIRE(made == 0, "could not make the input folder");
    static const char *const opts[] = {"", "--max-det 3 --agnostic", "--classes 0,5 --conf 0.1"};
    for (size_t v = 0; v < sizeof opts / sizeof opts[0]; v++) {
        char ref[1024], args[4096], tag[32];
        char *log = NULL;
        snprintf(ref, sizeof ref, "%s/ref%zu", d, v);
        snprintf(args, sizeof args, "--source %s/in2 --out %s --device cuda --batch 4 %s", d, ref, opts[v]);
        int rc = run_detect(args, "Y5_NMS_BATCH=0 Y5_PIPE_FLUSH_MS=600000", &log);
        T_REQUIRE(rc == 0, "Y5_NMS_BATCH=0 '%s': exit %d: %s", opts[v], rc, log ? log : "");
        /* the closing report counts the images whose NMS was read from a batch queued with the forward:
         * none when it is off (take would fall back silently either way, so the count is what shows it ran) */
        T_CHECK(nms_batched(log) == 0, "Y5_NMS_BATCH=0 '%s': %lld images from a queued batch NMS", opts[v], nms_batched(log));
        free(log);
        for (int bsz = 1; bsz <= 4; bsz += 3) {
            char o2[512];
            snprintf(tag, sizeof tag, "b%d_%zu", bsz, v);
            snprintf(o2, sizeof o2, "--device cuda --batch %d %s", bsz, opts[v]);
            char *l2 = run_variant(d, "in2", ref, tag, o2, "Y5_PIPE_FLUSH_MS=600000 ");
            T_CHECK(nms_batched(l2) > 0, "batch %d '%s': no image's NMS came from the queued batch NMS", bsz, opts[v]);
            free(l2);
        }
    }
}
#endif
