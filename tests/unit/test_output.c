/* test_output.c - label files, JSON lines, atomic writes. */
#include "tests/t.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/app/output.h"

static char *path_in(const char *name) {
    static char bufs[4][1024];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 1024, "%s/%s", t_tmpdir(), name);
    return b;
}

/* Number of entries of the test's temp dir whose name contains s. */
static int count_entries(const char *s) {
    DIR *d = opendir(t_tmpdir());
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strstr(e->d_name, s)) n++;
    closedir(d);
    return n;
}

T_TEST(labels_format_as_detect_py) {
    /* golden yolov5n bus detections (original pixels) */
    y5_det d[2] = {{55.213108f, 397.668732f, 210.818985f, 889.383362f, 0.875760f, 0},
                   {22.967339f, 227.983170f, 805.708191f, 780.541138f, 0.491809f, 5}};
    char err[512];
    const char *p = path_in("bus.txt");
    T_REQUIRE(y5_write_labels(p, d, 2, 810, 1080, err, sizeof err) == 0, "%s", err);
    char *txt = t_read_file(p, NULL);
    T_REQUIRE(txt, "no file");
    /* expected lines computed as detect.py does (rounded boxes, float32
     * xyxy2xywh / gn, '%g ' * 6, reversed(det)) */
    const char *want = "5 0.511728 0.46713 0.966667 0.512037 0.491809\n"
                       "0 0.164198 0.595833 0.192593 0.45463 0.87576\n";
    T_CHECK(!strcmp(txt, want), "got:\n%s\nwant:\n%s", txt, want);
    free(txt);
    y5_det z = {435.760406f, 433.874542f, 503.000641f, 712.018311f, 0.268471f, 27};
    T_REQUIRE(y5_write_labels(p, &z, 1, 1280, 720, err, sizeof err) == 0, "%s", err);
    txt = t_read_file(p, NULL);
    T_CHECK(txt && !strcmp(txt, "27 0.366797 0.795833 0.0523437 0.386111 0.268471\n"), "got %s", txt);
    free(txt);
    /* no detections: an empty file (replaces the old one) */
    T_REQUIRE(y5_write_labels(p, d, 0, 810, 1080, err, sizeof err) == 0, "%s", err);
    size_t len = 99;
    txt = t_read_file(p, &len);
    T_CHECK(txt && len == 0, "empty label file: %zu bytes", len);
    free(txt);
    T_CHECK(count_entries(".tmp.") == 0, "temp files left");
}

T_TEST(json_line_escaping_and_numbers) {
    char names[3][64] = {"person", "say \"hi\"\\", "caf\xc3\xa9"};
    y5_det d[3] = {{55.213108f, 397.668732f, 210.818985f, 889.383362f, 0.875760f, 0},
                   {1.f, 2.f, 3.f, 4.f, 0.5f, 1},
                   {0.f, 0.f, 10.004f, 10.006f, 0.123456f, 2}};
    char *s = y5_json_line("dir/a\"b\\c\n\t\x01\xff.jpg", 810, 1080, d, 3, (const char(*)[64])names, 3);
    T_REQUIRE(s, "null");
    const char *want =
        "{\"image\": \"dir/a\\\"b\\\\c\\n\\t\\u0001\\udcff.jpg\", \"width\": 810, \"height\": 1080, \"detections\": ["
        "{\"class\": 0, \"name\": \"person\", \"conf\": 0.87576, \"box\": [55.21, 397.67, 210.82, 889.38]}, "
        "{\"class\": 1, \"name\": \"say \\\"hi\\\"\\\\\", \"conf\": 0.50000, \"box\": [1.00, 2.00, 3.00, 4.00]}, "
        "{\"class\": 2, \"name\": \"caf\xc3\xa9\", \"conf\": 0.12346, \"box\": [0.00, 0.00, 10.00, 10.01]}]}\n";
    T_CHECK(!strcmp(s, want), "got:\n%s\nwant:\n%s", s, want);
    free(s);
    /* no names, a class beyond nc, non-finite numbers, no detections */
    y5_det e = {NAN, 1.f, INFINITY, 2.f, 0.25f, 7};
    s = y5_json_line("x.jpg", 1, 2, &e, 1, NULL, 0);
    T_CHECK(s && !strcmp(s, "{\"image\": \"x.jpg\", \"width\": 1, \"height\": 2, \"detections\": [{\"class\": 7, "
                            "\"name\": \"7\", \"conf\": 0.25000, \"box\": [null, 1.00, null, 2.00]}]}\n"),
            "got %s", s);
    free(s);
    s = y5_json_line("x.jpg", 1, 2, NULL, 0, NULL, 0);
    T_CHECK(s && !strcmp(s, "{\"image\": \"x.jpg\", \"width\": 1, \"height\": 2, \"detections\": []}\n"), "got %s",
            s);
    free(s);
}

T_TEST(atomic_write_replaces_and_leaves_no_temp) {
    char err[512];
    const char *p = path_in("out.bin");
    T_REQUIRE(y5_write_file_atomic(p, "hello", 5, err, sizeof err) == 0, "%s", err);
    T_REQUIRE(y5_write_file_atomic(p, "bye", 3, err, sizeof err) == 0, "%s", err);
    size_t len = 0;
    char *txt = t_read_file(p, &len);
    T_CHECK(txt && len == 3 && !memcmp(txt, "bye", 3), "content");
    free(txt);
    T_CHECK(count_entries(".tmp.") == 0 && count_entries("out.bin") == 1, "only the target in the folder");

    /* open + abort: nothing left, target untouched */
    y5_atomic_file a;
    T_REQUIRE(y5_atomic_open(&a, p, err, sizeof err) == 0, "%s", err);
    fputs("partial", a.f);
    T_CHECK(count_entries(".tmp.") == 1, "temp exists while open");
    y5_atomic_abort(&a);
    T_CHECK(count_entries(".tmp.") == 0, "abort removes the temp");
    txt = t_read_file(p, &len);
    T_CHECK(txt && len == 3, "target untouched by abort");
    free(txt);

    /* streaming use */
    T_REQUIRE(y5_atomic_open(&a, p, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 1000; i++) fprintf(a.f, "%d\n", i);
    T_REQUIRE(y5_atomic_commit(&a, err, sizeof err) == 0, "%s", err);
    T_CHECK(a.f == NULL, "closed");
    txt = t_read_file(p, &len);
    T_CHECK(txt && len == 3890, "streamed %zu bytes", len);
    free(txt);
}

T_TEST(atomic_write_fails_cleanly) {
    char err[512] = "";
    /* folder missing */
    const char *p = path_in("no/such/dir/x.txt");
    T_CHECK(y5_write_file_atomic(p, "x", 1, err, sizeof err) == -1, "missing folder must fail");
    T_CHECK(strstr(err, p) == err && strstr(err, "no such file"), "message: %s", err);
    /* target is a folder: the rename fails, the temp must go */
    const char *dir = path_in("adir");
    T_REQUIRE(mkdir(dir, 0755) == 0, "mkdir");
    err[0] = 0;
    T_CHECK(y5_write_file_atomic(dir, "x", 1, err, sizeof err) == -1, "rename over a folder must fail");
    T_CHECK(strstr(err, dir) == err, "message: %s", err);
    T_CHECK(count_entries(".tmp.") == 0, "temp removed after a failed commit");
    y5_det d = {0, 0, 1, 1, 0.5f, 0};
    T_CHECK(y5_write_labels(dir, &d, 1, 10, 10, err, sizeof err) == -1, "labels over a folder must fail");
    T_CHECK(count_entries(".tmp.") == 0, "temp removed (labels)");
    /* read-only folder (meaningless as root, who may write anywhere) */
    if (geteuid() != 0) {
        const char *ro = path_in("ro");
        T_REQUIRE(mkdir(ro, 0555) == 0, "mkdir ro");
        char f[1100];
        snprintf(f, sizeof f, "%s/x.txt", ro);
        err[0] = 0;
        T_CHECK(y5_write_file_atomic(f, "x", 1, err, sizeof err) == -1, "read-only folder must fail");
        T_CHECK(strstr(err, "ermission"), "message: %s", err);
        chmod(ro, 0755);
    }
    y5_atomic_file a;
    T_CHECK(y5_atomic_open(&a, "", err, sizeof err) == -1, "empty path");
}
