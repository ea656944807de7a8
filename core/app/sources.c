/* sources.c - --source arguments to a sorted, de-duplicated list of files.
 *
 *   image file   taken as is, whatever its extension (decoding will tell)
 *   folder       its image files (by extension, any case; hidden files
 *                skipped, as glob.glob in ultralytics does), not recursive
 *   glob         glob(3) (quoted on the shell); its image files
 *   @list.txt    one path per line, '#' comments and blank lines ignored,
 *                relative paths against the list's folder; each line is a
 *                file, folder or glob as above
 * Errors: "ARG: no such file or directory", "PATTERN: glob matched no files",
 * "LIST:LINE: PATH: no such file or directory". An empty folder is not an
 * error. Order: byte-wise (strcmp) as Python's sorted() on the paths. */
#include "core/app/sources.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/base/errmsg.h"

static const char *const IMG_EXT[] = {"jpg", "jpeg", "png", "bmp", "tga", "gif", "psd",
                                      "hdr", "pic", "pnm", "ppm", "pgm"};

static int is_image_name(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || !dot[1]) return 0;
    for (size_t i = 0; i < sizeof IMG_EXT / sizeof IMG_EXT[0]; i++)
        if (!strcasecmp(dot + 1, IMG_EXT[i])) return 1;
    return 0;
}

static int has_glob_chars(const char *s) { return strpbrk(s, "*?[") != NULL; }

static void oom(char *err, size_t errlen) { snprintf(err, errlen, "out of memory"); }

/* dir + "/" + name, without doubling the slash. */
static char *join(const char *dir, const char *name) {
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + slash + nl + 1);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    if (slash) p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

static int add_folder(const char *dir, y5_strlist *out, const char *label, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) {
        y5_fail_path(err, errlen, label, "cannot read folder (%s)", strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden: ultralytics' glob skips them too */
        if (!is_image_name(e->d_name)) continue;
        char *p = join(dir, e->d_name);
        if (!p) { oom(err, errlen); rc = -1; break; }
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && y5_strlist_push(out, p)) {
            free(p);
            oom(err, errlen);
            rc = -1;
            break;
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int add_glob(const char *pattern, y5_strlist *out, const char *label, char *err, size_t errlen) {
    glob_t g;
    memset(&g, 0, sizeof g);
    int r = glob(pattern, 0, NULL, &g);
    if (r == GLOB_NOMATCH) {
        globfree(&g);
        y5_fail_path(err, errlen, label, "glob matched no files");
        return -1;
    }
    if (r != 0) {
        globfree(&g);
        y5_fail_path(err, errlen, label, "%s", r == GLOB_NOSPACE ? "out of memory" : "glob failed (read error)");
        return -1;
    }
    int added = 0, rc = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        const char *p = g.gl_pathv[i];
        if (!is_image_name(p) || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (y5_strlist_push(out, p)) { oom(err, errlen); rc = -1; break; }
        added++;
    }
    globfree(&g);
    if (!rc && !added) {
        y5_fail_path(err, errlen, label, "glob matched no image files");
        rc = -1;
    }
    return rc;
}

/* One path argument (not @list): file, folder or glob. label names it in
 * messages. */
static int add_path(const char *arg, y5_strlist *out, const char *label, char *err, size_t errlen) {
    struct stat st;
    if (stat(arg, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return add_folder(arg, out, label, err, errlen);
        if (y5_strlist_push(out, arg)) { oom(err, errlen); return -1; }
        return 0;
    }
    if (has_glob_chars(arg)) return add_glob(arg, out, label, err, errlen);
    y5_fail_path(err, errlen, label, "no such file or directory");
    return -1;
}

static int add_list(const char *arg, y5_strlist *out, char *err, size_t errlen) {
    const char *lp = arg + 1;
    FILE *f = fopen(lp, "r");
    if (!f) {
        y5_fail_path(err, errlen, arg, "%s", errno == ENOENT ? "no such file or directory" : strerror(errno));
        return -1;
    }
    /* the list's folder, for relative entries */
    char *base = NULL;
    const char *slash = strrchr(lp, '/');
    if (slash) {
        size_t bl = (size_t)(slash - lp) + 1;
        base = malloc(bl + 1);
        if (!base) { fclose(f); oom(err, errlen); return -1; }
        memcpy(base, lp, bl);
        base[bl] = 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *e = line + len;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        char *full = (s[0] == '/' || !base) ? strdup(s) : join(base, s);
        if (!full) { oom(err, errlen); rc = -1; break; }
        char label[4600];
        snprintf(label, sizeof label, "%s:%d: %s", lp, lineno, full);
        rc = add_path(full, out, label, err, errlen);
        free(full);
        if (rc) break;
    }
    free(line);
    free(base);
    fclose(f);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int y5_sources_expand(char *const *args, int n_args, y5_strlist *out, char *err, size_t errlen) {
    for (int i = 0; i < n_args; i++) {
        const char *a = args[i];
        if (!a || !*a) continue;
        int rc = a[0] == '@' && a[1] ? add_list(a, out, err, errlen) : add_path(a, out, a, err, errlen);
        if (rc) return -1;
    }
    if (out->n > 1) {
        qsort(out->paths, (size_t)out->n, sizeof(char *), cmp_str);
        int k = 1;
        for (int i = 1; i < out->n; i++) {
            if (strcmp(out->paths[i], out->paths[k - 1])) out->paths[k++] = out->paths[i];
            else free(out->paths[i]);
        }
        out->n = k;
    }
    return 0;
}
