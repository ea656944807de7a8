/* test_tune_cache.c - the conv tuning cache file (cuda/tune_cache.c): what
 * one process measured comes back whole in the next, only under the same
 * stamp (build and card), and a damaged or hostile file costs nothing but
 * its bad lines. Plain C: runs on every machine, GPU or not. */
#include "tests/t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/tune_cache.h"

static y5_tune_rec rec(int cin, int cout, int k, int n, int run, float ms0) {
    y5_tune_rec r;
    memset(&r, 0, sizeof r);
    r.cin = cin, r.cout = cout, r.k = k, r.s = 1, r.p = k / 2, r.n = n, r.h = 80, r.w = 64;
    r.ld_in = cin, r.ld_out = 2 * cout, r.ld_res = 0, r.act = 1, r.align = 0, r.run = run;
    r.ms[0] = ms0, r.ms[1] = -1.0f, r.ms[2] = 0.125f, r.ms[3] = 0.0625f, r.ms[4] = 0.25f;
    return r;
}

T_TEST(tune_cache_round_trip_and_stamp) {
    const char *d = t_tmpdir();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/a/b/tune.txt", d); /* folders made on write */
    y5_tune_rec w[3] = {rec(64, 128, 3, 32, 2, 0.5f), rec(255, 256, 1, 1, 0, 0.03125f), rec(8, 48, 6, 8, 3, 2.0f)};
    w[2].s = 2, w[2].p = 2, w[2].ld_res = 48;
    T_REQUIRE(y5_tune_cache_write(path, "exe 1-2, NVIDIA H100 (sm_90, 79 GiB), 132 SMs", w, 3, err, sizeof err) == 0,
              "write: %s", err);
    y5_tune_rec *r = NULL;
    int n = -1;
    T_CHECK(y5_tune_cache_read(path, "exe 1-2, NVIDIA H100 (sm_90, 79 GiB), 132 SMs", &r, &n) == 0 && n == 3,
            "read back %d entries, want 3", n);
    for (int i = 0; i < n && i < 3; i++) {
        T_CHECK(y5_tune_same_key(&r[i], &w[i]) && r[i].run == w[i].run, "entry %d: key or run differs", i);
        for (int j = 0; j < Y5_TUNE_RUNS; j++)
            T_CHECK(r[i].ms[j] == w[i].ms[j], "entry %d ms[%d]: %g, want %g", i, j, (double)r[i].ms[j], (double)w[i].ms[j]);
    }
    free(r);
    /* another build or card: nothing, also a stamp that only starts the same */
    static const char *const other[] = {"exe 1-3, NVIDIA H100 (sm_90, 79 GiB), 132 SMs",
                                        "exe 1-2, NVIDIA H100 (sm_90, 79 GiB), 132 SM", "exe 1-2, NVIDIA H200"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        r = NULL;
        n = -1;
        T_CHECK(y5_tune_cache_read(path, other[i], &r, &n) == 0 && n == 0 && !r, "stamp '%s': %d entries", other[i], n);
        free(r);
    }
    /* one conv shape with another activation or another view alignment is
     * another key: a choice checked on one epilogue is not reused for another */
    y5_tune_rec v[3] = {w[0], w[0], w[0]};
    v[1].act = 0;
    v[2].align = 1 << 3; /* the output one half off 16 bytes */
    T_CHECK(!y5_tune_same_key(&v[0], &v[1]) && !y5_tune_same_key(&v[0], &v[2]), "act or align not in the key");
    T_REQUIRE(y5_tune_cache_write(path, "S", v, 3, err, sizeof err) == 0, "write: %s", err);
    r = NULL;
    T_CHECK(y5_tune_cache_read(path, "S", &r, &n) == 0 && n == 3, "%d entries of one shape with 3 keys, want 3", n);
    for (int i = 0; i < n && i < 3; i++)
        T_CHECK(r[i].act == v[i].act && r[i].align == v[i].align, "entry %d: act %d align %d", i, r[i].act, r[i].align);
    free(r);
    /* no file */
    snprintf(path, sizeof path, "%s/missing.txt", d);
    T_CHECK(y5_tune_cache_read(path, "s", &r, &n) == 0 && n == 0, "a missing file gave %d entries", n);
    /* a path that cannot be written: a message, no crash */
    snprintf(path, sizeof path, "%s/file", d);
    T_REQUIRE(t_write_file(path, "x", 1) == 0, "setup");
    char under[1100];
    snprintf(under, sizeof under, "%s/file/tune.txt", d); /* a folder that is a file */
    err[0] = 0;
    T_CHECK(y5_tune_cache_write(under, "s", w, 1, err, sizeof err) == -1 && strstr(err, "tune.txt"), "%s", err);
}

T_TEST(tune_cache_hostile_lines) {
    const char *d = t_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/tune.txt", d);
    char big[3000];
    memset(big, '7', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = 0;
    char text[8192];
    snprintf(text, sizeof text,
             "yolov5c-tune 3 S\n"
             "64 128 3 1 1 32 80 64 64 256 0 1 0 2 0.5 -1 0.125 0.0625 0.25\n"   /* good */
             "64 128 3 1 1 32 80 64 64 256 0 1 0 1 0.5 -1 0.125 0.0625 0.25\n"   /* the same key again: the first wins */
             "garbage\n"
             "65 128 3 1 1 32 80 64 64 256 0 2 0.5 -1 0.125 0.0625 0.25\n"       /* no act, align (version 2's line) */
             "66 128 3 1 1 32 80 64 64 256 0 1 0 2 0.5 -1 0.125 0.0625 0.25 9\n" /* one too many */
             "-64 128 3 1 1 32 80 64 64 256 0 1 0 2 0.5 -1 0.125 0.0625 0.25\n"  /* negative channels */
             "67 128 3 1 1 32 80 64 64 256 0 1 0 7 0.5 -1 0.125 0.0625 0.25\n"   /* no such run */
             "68 128 3 1 1 32 80 64 64 256 0 1 0 -1 0.5 -1 0.125 0.0625 0.25\n"  /* no such run */
             "69 128 3 1 1 99999999 80 64 64 256 0 1 0 2 0.5 -1 0.1 0.1 0.1\n"  /* a batch of 10^8 */
             "70 128 3 1 1 32 80 64 64 256 0 1 0 2 nan -1 0.125 0.0625 0.25\n"   /* NaN time */
             "71 128 3 1 1 32 80 64 64 256 -3 1 0 2 0.5 -1 0.125 0.0625 0.25\n"  /* negative residual stride */
             "72 128 3 1 1 32 80 64 64 256 0 5 0 2 0.5 -1 0.125 0.0625 0.25\n"   /* no such activation */
             "73 128 3 1 1 32 80 64 64 256 0 -1 0 2 0.5 -1 0.125 0.0625 0.25\n"  /* no such activation */
             "74 128 3 1 1 32 80 64 64 256 0 1 512 2 0.5 -1 0.125 0.0625 0.25\n" /* align past three 3-bit fields */
             "75 128 3 1 1 32 80 64 64 256 0 1 -8 2 0.5 -1 0.125 0.0625 0.25\n"  /* negative align */
             "%s"                                                       /* 3000 bytes of digits */
             "8 48 6 2 2 8 80 64 8 48 48 4 511 4 2 -1 -1 1.5 0.75\n"           /* good, after all that */
             "1 1 1 1 0 1 1 1 1 1 0 0 0 0 0 0 0 0 0",                      /* good, no final newline */
             big);
    T_REQUIRE(t_write_file(path, text, strlen(text)) == 0, "setup");
    y5_tune_rec *r = NULL;
    int n = -1;
    T_CHECK(y5_tune_cache_read(path, "S", &r, &n) == 0 && n == 3, "%d entries kept, want the 3 good ones", n);
    if (n == 3) {
        T_CHECK(r[0].run == 2 && r[0].cin == 64 && r[0].ld_out == 256, "first entry: run %d", r[0].run);
        T_CHECK(r[1].k == 6 && r[1].s == 2 && r[1].ld_res == 48 && r[1].act == 4 && r[1].align == 511 && r[1].run == 4 &&
                    r[1].ms[3] == 1.5f && r[1].ms[4] == 0.75f,
                "second entry");
        T_CHECK(r[2].cin == 1 && r[2].p == 0, "the last line without its newline");
    }
    free(r);
    /* a stamp line that is not ours, a truncated file, an empty one: nothing */
    static const char *const bad[] = {"yolov5c-tune 4 S\n1 1 1 1 0 1 1 1 1 1 0 0 0 0 0 0 0 0 0\n",
                                      "yolov5c-tune 2 S\n1 1 1 1 0 1 1 1 1 1 0 0 0 0 0 0 0\n", /* version 2 */
                                      "yolov5c-tune 1 S\n1 1 1 1 0 1 1 1 1 1 0 0 0 0 0 0\n",   /* version 1 */
                                      "yolov5c-tu", "", "yolov5c-tune 3 S"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        T_REQUIRE(t_write_file(path, bad[i], strlen(bad[i])) == 0, "setup");
        r = NULL;
        n = -1;
        T_CHECK(y5_tune_cache_read(path, "S", &r, &n) == 0 && n == 0, "file %zu: %d entries", i, n);
        free(r);
    }
}

/* A file of more entries than any cache holds, keys repeated next to their
 * first line and 5000 entries after it (with another run), and keys that
 * differ in one field only: the first of
 * each key is kept, in file order, up to the 65536 entries a file may hold.
 * The keys are looked up in a table (tune_cache.c's key_set), which this
 * fills past several of its growths; a table that lost or merged keys, or
 * let a repeated key through, changes the count or an entry. */
T_TEST(tune_cache_many_entries_first_wins) {
    const char *d = t_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/big.txt", d);
    FILE *f = fopen(path, "w");
    T_REQUIRE(f != NULL, "setup");
    fprintf(f, "yolov5c-tune 3 S\n");
    const int distinct = 70000; /* > 65536 */
    for (int i = 0; i < distinct; i++) {
        /* key i: cin 1 + i / 8, ld_res i % 8: neighbours differ in one field */
        const int cin = 1 + i / 8, res = i % 8;
        fprintf(f, "%d 64 1 1 0 1 20 20 %d 64 %d 1 0 1 0.5 -1 -1 -1 -1\n", cin, cin, res);
        if (i % 3 == 0) /* the same key again at once, another run: ignored */
            fprintf(f, "%d 64 1 1 0 1 20 20 %d 64 %d 1 0 2 -1 0.25 -1 -1 -1\n", cin, cin, res);
        if (i >= 5000 && i % 7 == 0) /* a key 5000 entries back, far from its first (before the cap): ignored */
            fprintf(f, "%d 64 1 1 0 1 20 20 %d 64 %d 1 0 3 -1 -1 0.1 -1 -1\n", 1 + (i - 5000) / 8, 1 + (i - 5000) / 8,
                    (i - 5000) % 8);
    }
    T_REQUIRE(fclose(f) == 0, "setup");
    y5_tune_rec *r = NULL;
    int n = -1;
    T_REQUIRE(y5_tune_cache_read(path, "S", &r, &n) == 0 && n == 65536, "%d entries, want 65536", n);
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++)
        if (r[i].cin != 1 + i / 8 || r[i].ld_in != r[i].cin || r[i].ld_res != i % 8 || r[i].run != 1 || r[i].ms[0] != 0.5f)
            bad = i;
    T_CHECK(bad < 0, "entry %d: cin %d ld_res %d run %d, want cin %d ld_res %d run 1", bad, bad >= 0 ? r[bad].cin : 0,
            bad >= 0 ? r[bad].ld_res : 0, bad >= 0 ? r[bad].run : 0, 1 + bad / 8, bad % 8);
    /* a merge at that scale (its keys are found in a key_set too): a file of
     * entries 0..29999, merged with 20000..39999 re-tuned (run 4): 40000
     * entries, the merged ones winning where both have a key */
    char err[512], mpath[1100];
    snprintf(mpath, sizeof mpath, "%s/merge.txt", d);
    T_REQUIRE(y5_tune_cache_write(mpath, "S", r, 30000, err, sizeof err) == 0, "write: %s", err);
    for (int i = 20000; i < 40000; i++) r[i].run = 4;
    T_REQUIRE(y5_tune_cache_merge(mpath, "S", r + 20000, 20000, err, sizeof err) == 0, "merge: %s", err);
    free(r);
    r = NULL;
    T_REQUIRE(y5_tune_cache_read(mpath, "S", &r, &n) == 0 && n == 40000, "%d entries after the merge, want 40000", n);
    int run4 = 0, run1 = 0;
    for (int i = 0; i < n; i++) {
        const int k = (r[i].cin - 1) * 8 + r[i].ld_res; /* the key's index */
        if (k >= 20000 && k < 40000 && r[i].run == 4) run4++;
        else if (k < 20000 && r[i].run == 1) run1++;
    }
    T_CHECK(run4 == 20000 && run1 == 20000, "after the merge: %d re-tuned, %d kept, want 20000 each", run4, run1);
    free(r);
    /* and each key once in the file (the reader would hide a repeat: the first wins) */
    size_t len = 0;
    char *text = t_read_file(mpath, &len);
    size_t lines = 0;
    for (size_t i = 0; text && i < len; i++) lines += text[i] == '\n';
    free(text);
    T_CHECK(lines == 40001, "the merged file has %zu lines, want the stamp and 40000 entries", lines);
}

T_TEST(tune_cache_path_from_env) {
    char buf[512];
    const char *keep[3] = {getenv("Y5_TUNE_CACHE"), getenv("XDG_CACHE_HOME"), getenv("HOME")};
    char *saved[3];
    for (int i = 0; i < 3; i++) saved[i] = keep[i] ? strdup(keep[i]) : NULL;
    const char *card = "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB), 132 SMs";
    setenv("Y5_TUNE_CACHE", "/x/t.txt", 1);
    const char *p = y5_tune_cache_path(buf, sizeof buf, card);
    T_CHECK(p && !strcmp(p, "/x/t.txt"), "Y5_TUNE_CACHE: %s", p ? p : "(null)");
    setenv("Y5_TUNE_CACHE", "0", 1);
    T_CHECK(!y5_tune_cache_path(buf, sizeof buf, card), "Y5_TUNE_CACHE=0 still names a file");
    unsetenv("Y5_TUNE_CACHE");
    setenv("XDG_CACHE_HOME", "/c", 1);
    p = y5_tune_cache_path(buf, sizeof buf, card);
    T_CHECK(p && !strncmp(p, "/c/yolov5c/tune3-", 17) && strlen(p) == 17 + 16 + 4 && !strcmp(p + 33, ".txt"),
            "XDG_CACHE_HOME: %s", p ? p : "(null)");
    /* one file per kind of card: another card, another name; the same, the same */
    char other[512];
    const char *q = y5_tune_cache_path(other, sizeof other, "NVIDIA H200 (sm_90, 139 GiB), 132 SMs");
    T_CHECK(p && q && strcmp(p, q), "two cards share the file %s", q ? q : "(null)");
    q = y5_tune_cache_path(other, sizeof other, card);
    T_CHECK(p && q && !strcmp(p, q), "one card, two names: %s, %s", p ? p : "", q ? q : "");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/h", 1);
    p = y5_tune_cache_path(buf, sizeof buf, card);
    T_CHECK(p && !strncmp(p, "/h/.cache/yolov5c/tune3-", 24), "HOME: %s", p ? p : "(null)");
    setenv("HOME", "relative", 1);
    T_CHECK(!y5_tune_cache_path(buf, sizeof buf, card), "a relative HOME names a file");
    char tiny[8];
    setenv("HOME", "/h", 1);
    T_CHECK(!y5_tune_cache_path(tiny, sizeof tiny, card), "a path longer than the buffer was returned cut");
    const char *names[3] = {"Y5_TUNE_CACHE", "XDG_CACHE_HOME", "HOME"};
    for (int i = 0; i < 3; i++) {
        if (saved[i]) setenv(names[i], saved[i], 1);
        else unsetenv(names[i]);
        free(saved[i]);
    }
}

/* Two processes' entries under one stamp both survive a merge (the second
 * wins where both measured a key); an entry never tuned (all times -1) is
 * never written; another stamp's file is replaced, not mixed in. */
T_TEST(tune_cache_merge_keeps_both) {
    const char *d = t_tmpdir();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/m/tune.txt", d);
    y5_tune_rec a[2] = {rec(64, 128, 3, 32, 2, 0.5f), rec(96, 96, 1, 32, 1, 0.25f)};
    y5_tune_rec b[2] = {rec(64, 128, 3, 32, 3, 0.4f), rec(192, 384, 3, 1, 0, 0.1f)};
    y5_tune_rec u = rec(8, 48, 6, 1, 0, -1.0f);
    u.ms[2] = u.ms[3] = u.ms[4] = -1.0f; /* not tuned */
    T_REQUIRE(y5_tune_cache_merge(path, "S", a, 2, err, sizeof err) == 0, "%s", err);
    y5_tune_rec bu[3] = {b[0], b[1], u};
    T_REQUIRE(y5_tune_cache_merge(path, "S", bu, 3, err, sizeof err) == 0, "%s", err);
    y5_tune_rec *r = NULL;
    int n = -1;
    T_CHECK(y5_tune_cache_read(path, "S", &r, &n) == 0 && n == 3, "%d entries after two merges, want 3", n);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (y5_tune_same_key(&r[i], &a[0])) {
            seen |= 1;
            T_CHECK(r[i].run == 3, "the later merge did not win: run %d", r[i].run);
        }
        if (y5_tune_same_key(&r[i], &a[1])) seen |= 2;
        if (y5_tune_same_key(&r[i], &b[1])) seen |= 4;
        T_CHECK(!y5_tune_same_key(&r[i], &u), "the untuned entry was written");
    }
    T_CHECK(seen == 7, "entries missing after the merges (%d)", seen);
    free(r);
    T_REQUIRE(y5_tune_cache_merge(path, "T", &b[1], 1, err, sizeof err) == 0, "%s", err);
    r = NULL;
    T_CHECK(y5_tune_cache_read(path, "T", &r, &n) == 0 && n == 1, "another stamp: %d entries, want its 1", n);
    free(r);
    r = NULL;
    T_CHECK(y5_tune_cache_read(path, "S", &r, &n) == 0 && n == 0, "the old stamp's entries are still read: %d", n);
    free(r);
    const int tmp_left = t_sh("ls '%s/m' | grep -q '\\.tmp\\.'", d) == 0;
    T_CHECK(!tmp_left, "a temporary file was left in %s/m", d);
}
