/* test_sources.c - --source expansion: files, folders, globs, @lists. */
#include "tests/t.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/app/sources.h"

static const char *tp(const char *name) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 1024, "%s/%s", t_tmpdir(), name);
    return b;
}

static void touch(const char *name) {
    FILE *f = fopen(tp(name), "w");
    if (f) { fputs("x", f); fclose(f); }
}

static int expand1(const char *arg, y5_strlist *l, char *err, size_t errlen) {
    char *a = (char *)arg;
    return y5_sources_expand(&a, 1, l, err, errlen);
}

static void make_tree(void) {
    mkdir(tp("imgs"), 0755);
    mkdir(tp("imgs/sub"), 0755);
    mkdir(tp("imgs/dir.jpg"), 0755); /* a folder with an image extension */
    mkdir(tp("empty"), 0755);
    touch("imgs/b.jpg");
    touch("imgs/a.PNG");
    touch("imgs/c.jpeg");
    touch("imgs/notes.txt");
    touch("imgs/noext");
    touch("imgs/.hidden.jpg");
    touch("imgs/sub/d.jpg");
    touch("x.bmp");
    touch("data.bin");
}

T_TEST(sources_folder_file_dedup_sorted) {
    make_tree();
    y5_strlist l = {0};
    char err[512];
    T_REQUIRE(expand1(tp("imgs"), &l, err, sizeof err) == 0, "%s", err);
    T_CHECK(l.n == 3, "folder: %d files", l.n);
    if (l.n == 3) {
        T_CHECK(!strcmp(l.paths[0], tp("imgs/a.PNG")) && !strcmp(l.paths[1], tp("imgs/b.jpg")) &&
                    !strcmp(l.paths[2], tp("imgs/c.jpeg")),
                "order: %s %s %s", l.paths[0], l.paths[1], l.paths[2]);
    }
    y5_strlist_free(&l);

    /* a trailing slash does not double it */
    char withslash[1100];
    snprintf(withslash, sizeof withslash, "%s/", tp("imgs"));
    T_REQUIRE(expand1(withslash, &l, err, sizeof err) == 0, "%s", err);
    T_CHECK(l.n == 3 && !strcmp(l.paths[0], tp("imgs/a.PNG")), "slash: %s", l.n ? l.paths[0] : "-");
    y5_strlist_free(&l);

    /* folder + a file inside it again + an explicit non-image file: de-duplicated, sorted */
    char *args[4] = {(char *)tp("imgs/b.jpg"), (char *)tp("imgs"), (char *)tp("data.bin"), (char *)tp("imgs/b.jpg")};
    T_REQUIRE(y5_sources_expand(args, 4, &l, err, sizeof err) == 0, "%s", err);
    T_CHECK(l.n == 4, "n=%d", l.n);
    for (int i = 1; i < l.n; i++) T_CHECK(strcmp(l.paths[i - 1], l.paths[i]) < 0, "sorted, unique at %d", i);
    y5_strlist_free(&l);

    /* an empty folder is not an error */
    T_CHECK(expand1(tp("empty"), &l, err, sizeof err) == 0 && l.n == 0, "empty folder");
    y5_strlist_free(&l);
}

T_TEST(sources_glob) {
    make_tree();
    y5_strlist l = {0};
    char err[512];
    T_REQUIRE(expand1(tp("imgs/*.jp*g"), &l, err, sizeof err) == 0, "%s", err);
    /* dir.jpg is a folder: not taken */
    T_CHECK(l.n == 2 && !strcmp(l.paths[0], tp("imgs/b.jpg")) && !strcmp(l.paths[1], tp("imgs/c.jpeg")), "n=%d",
            l.n);
    y5_strlist_free(&l);
    T_REQUIRE(expand1(tp("*/*.jpg"), &l, err, sizeof err) == 0, "%s", err);
    T_CHECK(l.n == 1, "*/*.jpg: n=%d", l.n);
    y5_strlist_free(&l);
    const char *pat = tp("imgs/*.gif");
    T_CHECK(expand1(pat, &l, err, sizeof err) == -1, "no match must fail");
    char want[1200];
    snprintf(want, sizeof want, "%s: glob matched no files", pat);
    T_CHECK(!strcmp(err, want), "message: %s", err);
    y5_strlist_free(&l);
    T_CHECK(expand1(tp("imgs/*.txt"), &l, err, sizeof err) == -1, "matches but no images must fail");
    y5_strlist_free(&l);
}

T_TEST(sources_list_file) {
    make_tree();
    FILE *f = fopen(tp("list.txt"), "w");
    T_REQUIRE(f, "list");
    fprintf(f, "# images to run\n\nimgs/b.jpg\r\n  x.bmp  \n%s\nimgs/sub\n# imgs/missing.jpg\nimgs/*.jpeg\n",
            tp("imgs/a.PNG"));
    fclose(f);
    y5_strlist l = {0};
    char err[512], arg[1100];
    snprintf(arg, sizeof arg, "@%s", tp("list.txt"));
    T_REQUIRE(expand1(arg, &l, err, sizeof err) == 0, "%s", err);
    T_CHECK(l.n == 5, "n=%d", l.n);
    const char *want[5] = {tp("imgs/a.PNG"), tp("imgs/b.jpg"), tp("imgs/c.jpeg"), tp("imgs/sub/d.jpg"), tp("x.bmp")};
    for (int i = 0; i < l.n && i < 5; i++) T_CHECK(!strcmp(l.paths[i], want[i]), "%d: %s want %s", i, l.paths[i], want[i]);
    y5_strlist_free(&l);

    f = fopen(tp("bad.txt"), "w");
    T_REQUIRE(f, "list");
    fprintf(f, "imgs/b.jpg\nimgs/missing.jpg\n");
    fclose(f);
    snprintf(arg, sizeof arg, "@%s", tp("bad.txt"));
    T_CHECK(expand1(arg, &l, err, sizeof err) == -1, "missing entry must fail");
    T_CHECK(strstr(err, ":2: ") && strstr(err, "missing.jpg: no such file or directory"), "message: %s", err);
    y5_strlist_free(&l);

    snprintf(arg, sizeof arg, "@%s", tp("nolist.txt"));
    T_CHECK(expand1(arg, &l, err, sizeof err) == -1, "missing list must fail");
    char want_msg[1200];
    snprintf(want_msg, sizeof want_msg, "%s: no such file or directory", arg);
    T_CHECK(!strcmp(err, want_msg), "message: %s", err);
    y5_strlist_free(&l);
}

T_TEST(sources_missing_path) {
    y5_strlist l = {0};
    char err[512];
    const char *p = tp("nothing.jpg");
    T_CHECK(expand1(p, &l, err, sizeof err) == -1, "missing must fail");
    char want[1200];
    snprintf(want, sizeof want, "%s: no such file or directory", p);
    T_CHECK(!strcmp(err, want), "message: %s", err);
    y5_strlist_free(&l);
    T_CHECK(y5_strlist_push(&l, "a") == 0 && y5_strlist_push(&l, "b") == 0 && l.n == 2, "push");
    y5_strlist_free(&l);
    T_CHECK(l.n == 0 && l.paths == NULL, "freed");
}
