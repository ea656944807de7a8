/* test_robust.c - issue 10's defects, through the binary: a checkpoint whose
 * 'model' is no model object (#1), a model that cannot be planned (#3), two
 * runs on one --out (#5), --resume with other options (#6), and the
 * messages of #7 (control characters in names, an unknown last option,
 * convert on a .y5w, info --weights, the pixel limit). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/t.h"
#include "weights/y5w.h"

/* occurrences of sub in s */
static int count_sub(const char *s, const char *sub) {
    int n = 0;
    for (const char *p = s ? strstr(s, sub) : NULL; p; p = strstr(p + 1, sub)) n++;
    return n;
}

/* #1: the error path used to read the pickle arena after freeing it.
 * MALLOC_PERTURB_ fills freed memory, so the read gives a wrong type name
 * even without ASan (under ASan it is a heap-use-after-free report). */
T_TEST(robust_convert_model_not_a_model_object) {
    static const struct {
        const char *pkl, *type;
        size_t len;
    } cases[] = {
        {"\x80\x02}X\x05\x00\x00\x00modelNs.", "NoneType", 16},
        {"\x80\x02}X\x05\x00\x00\x00model](K\x01K\x02" "es.", "list", 22},
        {"\x80\x02}X\x05\x00\x00\x00modelK\x07s.", "int", 17},
    };
    const char *d = t_tmpdir();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        t_zip_item it[1] = {{"archive/data.pkl", cases[k].pkl, cases[k].len, 0}};
        size_t n;
        uint8_t *z = t_zip_build(it, 1, 1, &n);
        char in[600], cmd[2048], want[800];
        snprintf(in, sizeof in, "%s/m%zu.pt", d, k);
        T_REQUIRE(t_write_file(in, z, n) == 0, "write");
        free(z);
        snprintf(cmd, sizeof cmd, "MALLOC_PERTURB_=165 %s convert %s %s/m.y5w", t_bin(), in, d);
        char *log = NULL;
        int rc = t_run(cmd, &log);
        snprintf(want, sizeof want, "yolov5c convert: %s: not a yolov5 checkpoint ('model' is a %s, not a model object)\n",
                 in, cases[k].type);
        T_CHECK(rc == 1 && log && !strcmp(log, want), "%s: exit %d, '%s' (want '%s')", cases[k].type, rc,
                log ? log : "", want);
        free(log);
    }
}

/* Writes a copy of the yolov5n weights with one fault: 1 = layer 2 (C3)
 * reads layer 0 (16 channels, it expects 32), 2 = the first Detect stride
 * doubled. NULL when the model is missing. */
static const char *broken_model(int fault) {
    const char *w = t_model_y5w("yolov5n");
    if (!w) return NULL;
    static char path[700];
    char err[1024];
    y5w_file f;
    if (y5w_open(w, &f, err, sizeof err)) { printf("    %s\n", err); return NULL; }
    if (fault == 1) f.desc.layers[2].from[0] = 0;
    else f.desc.strides[0] *= 2;
    snprintf(path, sizeof path, "%s/broken%d.y5w", t_tmpdir(), fault);
    int rc = y5w_write(path, &f.desc, err, sizeof err);
    if (rc) printf("    %s\n", err);
    y5w_close(&f);
    return rc ? NULL : path;
}

/* #3: refused once, when the model is opened, not once per image (and not
 * passed by info with "GFLOPs -0.00"). */
T_TEST(robust_unplannable_model_refused_at_load) {
    T_NEED_SHARED();
    for (int fault = 1; fault <= 2; fault++) {
        const char *w = broken_model(fault);
        T_REQUIRE(w, "broken model %d", fault);
        char cmd[4096];
        char *log = NULL;
        snprintf(cmd, sizeof cmd, "%s info %s", t_bin(), w);
        int rc = t_run(cmd, &log);
        T_CHECK(rc == 1 && log && !strstr(log, "GFLOPs") && strstr(log, w) && strstr(log, fault == 1 ? "layer 2" : "stride"),
                "fault %d: info exit %d: %s", fault, rc, log ? log : "");
        free(log);
        log = NULL;
        snprintf(cmd, sizeof cmd, "%s detect --weights %s --source %s %s --out %s/out%d --no-save", t_bin(), w,
                 t_shared_path("images/bus.jpg"), t_shared_path("images/zidane.jpg"), t_tmpdir(), fault);
        rc = t_run(cmd, &log);
        const char *what = fault == 1 ? "layer 2" : "(Detect)";
        T_CHECK(rc == 1 && count_sub(log, what) == 1 && count_sub(log, "\n") == 1 && !strstr(log, "bus.jpg") &&
                    !strstr(log, "done:"), "fault %d: detect exit %d, want one line before any image: %s", fault, rc,
                log ? log : "");
        free(log);
    }
}

static int file_eq(const char *path, const char *want) {
    size_t n;
    char *s = t_read_file(path, &n);
    int eq = s && n == strlen(want) && !memcmp(s, want, n);
    free(s);
    return eq;
}

/* #5: a second run on a folder another run is writing fails at once and
 * touches nothing there. The "other run" is this process holding the lock. */
T_TEST(robust_out_folder_locked_by_another_run) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char out[700], p[800], cmd[4096];
    snprintf(out, sizeof out, "%s/out", t_tmpdir());
    T_REQUIRE(mkdir(out, 0777) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/detections.jsonl.partial", out);
    T_REQUIRE(t_write_file(p, "other run\n", 10) == 0, "write");
    snprintf(p, sizeof p, "%s/.yolov5c.lock", out);
    int fd = open(p, O_RDWR | O_CREAT, 0666);
    T_REQUIRE(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "lock");
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --source %s --out %s --no-save", t_bin(), w,
             t_shared_path("images/bus.jpg"), out);
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 1 && log && strstr(log, out) && strstr(log, "another yolov5c run") && count_sub(log, "\n") == 1,
            "exit %d: %s", rc, log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/detections.jsonl.partial", out);
    T_CHECK(file_eq(p, "other run\n"), "the refused run touched the other run's detections.jsonl.partial");
    close(fd); /* the other run ends: now this one may */
    log = NULL;
    rc = t_run(cmd, &log);
    T_CHECK(rc == 0, "after the lock is released: exit %d: %s", rc, log ? log : "");
    free(log);
}

/* #6: --resume refuses options that change the results, naming the
 * difference, and leaves the earlier results alone; the same options resume. */
T_TEST(robust_resume_refuses_other_options) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    const char *d = t_tmpdir();
    char w16[700], cmd[4096], base[4096], out[700], jp[800];
    snprintf(w16, sizeof w16, "%s/n16.y5w", d);
    snprintf(cmd, sizeof cmd, "%s convert %s %s --fp16 2>/dev/null", t_bin(), t_shared_path("models/yolov5n.pt"), w16);
    T_REQUIRE(system(cmd) == 0, "fp16 conversion");
    snprintf(out, sizeof out, "%s/out", d);
    snprintf(base, sizeof base, "%s detect --source %s %s --out %s --no-save --conf 0.3 --classes 0,5", t_bin(),
             t_shared_path("images/bus.jpg"), t_shared_path("images/zidane.jpg"), out);
    snprintf(cmd, sizeof cmd, "%s --weights %s", base, w);
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_REQUIRE(rc == 0, "first run: exit %d: %s", rc, log ? log : "");
    free(log);
    snprintf(jp, sizeof jp, "%s/detections.jsonl", out);
    size_t n0;
    char *j0 = t_read_file(jp, &n0);
    T_REQUIRE(j0, "no detections.jsonl");
    static const struct {
        const char *opts, *want;
    } cases[] = {
        {"--conf 0.5", "--conf 0.5, but the earlier run used --conf 0.300000012"},
        {"--conf 0.3 --iou 0.3", "--iou 0.300000012, but the earlier run used --iou 0.449999988"},
        {"--imgsz 320", "--imgsz 320x320, but the earlier run used --imgsz 640x640"},
        {"--max-det 5", "--max-det 5, but the earlier run used --max-det 1000"},
        {"--classes 0", "--classes 0, but the earlier run used --classes 0,5"},
        {"--agnostic", "this run has --agnostic, but the earlier run did not have it"},
        {"--square", "this run has --square, but the earlier run did not have it"},
        {"W16", "--weights"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* later options override the base ones (--conf, --classes) */
        if (!strcmp(cases[k].opts, "W16"))
            snprintf(cmd, sizeof cmd, "%s --weights %s --resume", base, w16);
        else
            snprintf(cmd, sizeof cmd, "%s --weights %s --resume %s", base, w, cases[k].opts);
        log = NULL;
        rc = t_run(cmd, &log);
        T_CHECK(rc == 2 && log && strstr(log, "--resume with different options") && strstr(log, cases[k].want) &&
                    count_sub(log, "\n") == 1, "%s: exit %d: %s", cases[k].opts, rc, log ? log : "");
        if (!strcmp(cases[k].opts, "W16"))
            T_CHECK(log && strstr(log, w16) && strstr(log, w), "the weights are not both named: %s", log ? log : "");
        free(log);
        size_t n1;
        char *j1 = t_read_file(jp, &n1);
        T_CHECK(j1 && n1 == n0 && !memcmp(j0, j1, n0), "%s: detections.jsonl changed", cases[k].opts);
        free(j1);
    }
    /* another kind of device (FP16 on a GPU against this FP32 run): refused
     * before any engine opens, so a machine without a GPU shows it too */
    snprintf(cmd, sizeof cmd, "%s --weights %s --resume --device cuda", base, w);
    log = NULL;
    rc = t_run(cmd, &log);
    T_CHECK(rc == 2 && log && strstr(log, "--resume with different options: this run's --device computes in FP16, but "
                                          "the earlier run's computed in FP32") && count_sub(log, "\n") == 1,
            "--device cuda: exit %d: %s", rc, log ? log : "");
    free(log);
    /* a record from before the precision line: not checked */
    char rp[800];
    snprintf(rp, sizeof rp, "%s/.yolov5c-run", out);
    size_t rn;
    char *rec = t_read_file(rp, &rn);
    char *pl = rec ? strstr(rec, "precision FP32\n") : NULL;
    T_CHECK(pl, "the record has no precision line: %s", rec ? rec : "(missing)");
    if (pl) {
        memmove(pl, pl + strlen("precision FP32\n"), strlen(pl + strlen("precision FP32\n")) + 1);
        T_CHECK(t_write_file(rp, rec, strlen(rec)) == 0, "rewrite %s", rp);
        /* not even the other kind of device is refused for it (without a GPU
         * the run then fails to open one: exit 1, not the record's 2) */
        snprintf(cmd, sizeof cmd, "%s --weights %s --resume --device cuda", base, w);
        log = NULL;
        rc = t_run(cmd, &log);
        T_CHECK(rc != 2 && log && !strstr(log, "computes in"), "old record, --device cuda: exit %d: %s", rc,
                log ? log : "");
        free(log);
        T_CHECK(t_write_file(rp, rec, strlen(rec)) == 0, "rewrite %s", rp); /* a GPU run rewrote it */
        snprintf(cmd, sizeof cmd, "%s --weights %s --resume --device cpu,cpu", base, w);
        log = NULL;
        rc = t_run(cmd, &log);
        T_CHECK(rc == 0 && log && strstr(log, "2 of 2 images already complete"), "old record: exit %d: %s", rc,
                log ? log : "");
        free(log);
    }
    free(rec);
    /* the same options (classes in another order) resume */
    snprintf(cmd, sizeof cmd, "%s --weights %s --resume --classes 5,0", base, w);
    log = NULL;
    rc = t_run(cmd, &log);
    T_CHECK(rc == 0 && log && strstr(log, "2 of 2 images already complete"), "same options: exit %d: %s", rc,
            log ? log : "");
    free(log);
    free(j0);
}

/* #7: a control character in a file name is escaped, so the message stays
 * on one line. */
T_TEST(robust_message_escapes_control_characters) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    const char *d = t_tmpdir();
    char in[700], cmd[4096];
    snprintf(in, sizeof in, "%s/bad\nname\x1b.jpg", d);
    T_REQUIRE(t_write_file(in, "not an image", 12) == 0, "write");
    snprintf(cmd, sizeof cmd, "%s detect --weights %s --source '%s' --out %s/out --no-save", t_bin(), w, in, d);
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 1 && log && strstr(log, "/bad\\nname\\x1b.jpg: "), "exit %d: %s", rc, log ? log : "");
    T_CHECK(log && !strstr(log, "\nname") && !strchr(log, '\x1b'), "a raw control character in: %s", log ? log : "");
    free(log);
}

/* #7: an unknown option is called unknown, even as the last argument. */
T_TEST(robust_unknown_last_option) {
    static const char *cmds[] = {"detect --weights w.y5w --source x.jpg --bogus", "val --weights w.y5w --bogus",
                                 "bench --weights w.y5w --bogus", "info w.y5w --bogus"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s %s", t_bin(), cmds[k]);
        char *log = NULL;
        int rc = t_run(cmd, &log);
        T_CHECK(rc == 2 && log && strstr(log, "unknown option --bogus") && !strstr(log, "needs a value"),
                "%s: exit %d: %s", cmds[k], rc, log ? log : "");
        free(log);
    }
    /* a known option without its value still says so */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s detect --source x.jpg --weights", t_bin());
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 2 && log && strstr(log, "--weights needs a value"), "exit %d: %s", rc, log ? log : "");
    free(log);
}

/* #7: convert on a .y5w says what it is; info takes --weights as the other
 * commands do. */
T_TEST(robust_convert_y5w_and_info_weights) {
    T_NEED_SHARED();
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s convert %s %s/x.y5w", t_bin(), w, t_tmpdir());
    char *log = NULL;
    int rc = t_run(cmd, &log);
    T_CHECK(rc == 1 && log && strstr(log, "already a yolov5c weight file") && !strstr(log, "legacy"), "exit %d: %s", rc,
            log ? log : "");
    free(log);
    snprintf(cmd, sizeof cmd, "%s info --weights %s --imgsz 320", t_bin(), w);
    log = NULL;
    rc = t_run(cmd, &log);
    T_CHECK(rc == 0 && log && strstr(log, "GFLOPs at 320x320"), "info --weights: exit %d: %s", rc, log ? log : "");
    free(log);
}

/* #7: the image size limit is documented, with its reason. */
T_TEST(robust_pixel_limit_documented) {
    char *r = t_read_file("README.md", NULL);
    T_REQUIRE(r, "README.md not found (run from the project root)");
    T_CHECK(strstr(r, "2^28") && strstr(r, "268435456") && strstr(r, "2^30"),
            "README does not document the 2^28-pixel image limit and cv2's 2^30");
    free(r);
}
