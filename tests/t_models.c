/* t_models.c - test helpers: converted models cached per run, running the CLI. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yolov5c.h>
#include "core/post/nms.h"
#include "tests/t.h"

static char cache_dir[512];

static void cleanup(void) {
    if (cache_dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", cache_dir);
    }
}

const char *t_model_y5w(const char *stem) {
    static char paths[8][640];
    static char stems[8][64];
    static int n;
    for (int i = 0; i < n; i++)
        if (!strcmp(stems[i], stem)) return paths[i][0] ? paths[i] : NULL;
    if (n == 8 || !t_shared()) return NULL;
    if (!cache_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(cache_dir, sizeof cache_dir, "%s/y5models.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(cache_dir)) { cache_dir[0] = 0; return NULL; }
        atexit(cleanup);
    }
    snprintf(stems[n], sizeof stems[n], "%s", stem);
    char pt[600], err[1024];
    snprintf(pt, sizeof pt, "models/%s.pt", stem);
    /* A staged copy of the shared folder (scripts/stage_gpu.sh) may carry a
     * model converted ahead (FP16 halves its size) instead of the .pt. */
    char pre[600];
    snprintf(pre, sizeof pre, "models/%s.y5w", stem);
    if (access(t_shared_path(pt), R_OK) != 0 && access(t_shared_path(pre), R_OK) == 0) {
        snprintf(paths[n], sizeof paths[n], "%s", t_shared_path(pre));
        return paths[n++];
    }
    snprintf(paths[n], sizeof paths[n], "%s/%s.y5w", cache_dir, stem);
    if (y5_convert(t_shared_path(pt), paths[n], 0, err, sizeof err)) {
        printf("    convert %s failed: %s\n", stem, err);
        paths[n][0] = 0;
    }
    n++;
    return paths[n - 1][0] ? paths[n - 1] : NULL;
}

const char *t_bin(void) {
    const char *b = getenv("Y5_BIN");
    return b && *b ? b : "build/yolov5c";
}

int t_run(const char *cmd, char **out) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int c;
    while (buf && (c = fgetc(p)) != EOF) {
        if (len + 1 >= cap) {
            char *q = realloc(buf, cap *= 2);
            if (!q) { free(buf); buf = NULL; break; }
            buf = q;
        }
        buf[len++] = (char)c;
    }
    if (buf) buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void t_expand(const char *tmpl, const char *weights, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (const char *s = tmpl; *s && n + 1 < cap; s++) {
        const char *rep = NULL;
        if (s[0] == '%' && s[1] == 'W') rep = weights ? weights : "";
        else if (s[0] == '%' && s[1] == 'D') rep = t_tmpdir();
        else if (s[0] == '%' && s[1] == 'S') rep = t_shared_path("images/zidane.jpg");
        if (rep) {
            int k = snprintf(out + n, cap - n, "%s", rep);
            n += k > 0 ? (size_t)k : 0;
            if (n >= cap) n = cap - 1;
            s++;
        } else {
            out[n++] = *s;
            out[n] = 0;
        }
    }
}

int t_read_dets(const char *path, y5_det *d, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < max && fscanf(f, "%d %f %f %f %f %f", &d[n].cls, &d[n].conf, &d[n].x1, &d[n].y1, &d[n].x2, &d[n].y2) == 6) n++;
    fclose(f);
    return n;
}

int t_unmatched(const y5_det *a, int na, const y5_det *b, int nb, float min_conf, float tol, int *considered) {
    int miss = 0;
    *considered = 0;
    for (int i = 0; i < na; i++) {
        if (a[i].conf < min_conf) continue;
        (*considered)++;
        int found = 0;
        for (int j = 0; j < nb && !found; j++)
            found = b[j].cls == a[i].cls && y5_iou(&a[i], &b[j]) >= 0.9f && fabsf(a[i].conf - b[j].conf) <= tol;
        miss += !found;
    }
    return miss;
}
