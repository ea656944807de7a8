/* pipeline_resume.c - --resume: which inputs a killed run finished, and
 * their detections.jsonl lines carried into the new run.
 *
 * An input is complete when its outputs are on disk (label file, and the
 * annotated image unless --no-save; both are written atomically) and its
 * line is in the earlier detections.jsonl, .partial or .prev (an incomplete
 * last line, as a kill in mid-write leaves, is ignored). The earlier files
 * are indexed by a 64-bit hash of the image key -> file offset, so no line
 * is kept in memory whatever the input count. The lines of the complete
 * inputs are copied, in input order, into OUT/detections.jsonl.prev, written
 * atomically before the new .partial truncates the old one (a second kill
 * loses nothing), and the emitter copies each from there when its turn
 * comes; every other input is processed again. */
#include "core/app/pipeline_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/app/output.h"

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The index: open addressing, linear probing, a power-of-two capacity kept
 * at most half full. */
typedef struct {
    uint64_t h;
    int64_t off;
    uint32_t len;
    int src; /* which earlier file holds the line (0 .jsonl, 1 .prev, 2 .partial); -1: empty */
} rent;

typedef struct {
    rent *t;
    size_t cap, n;
} rtab;

/* The image key of a detections.jsonl line: the bytes of the JSON string
 * after {"image": (escaped as written). 0, or -1 for a foreign line. */
static int line_key(const char *s, size_t n, size_t *ks, size_t *kl) {
    static const char pre[] = "{\"image\": \"";
    const size_t pl = sizeof pre - 1;
    if (n < pl || memcmp(s, pre, pl)) return -1;
    for (size_t i = pl; i < n; i++) {
        if (s[i] == '\\') { i++; continue; }
        if (s[i] == '"') { *ks = pl; *kl = i - pl; return 0; }
    }
    return -1;
}

static int rtab_put(rtab *t, uint64_t h, int64_t off, uint32_t len, int src) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        rent *nt = malloc(nc * sizeof *nt);
        if (!nt) return -1;
        for (size_t i = 0; i < nc; i++) nt[i].src = -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (t->t[i].src < 0) continue;
            size_t j = t->t[i].h & (nc - 1);
            while (nt[j].src >= 0) j = (j + 1) & (nc - 1);
            nt[j] = t->t[i];
        }
        free(t->t);
        t->t = nt;
        t->cap = nc;
    }
    size_t j = h & (t->cap - 1);
    while (t->t[j].src >= 0 && t->t[j].h != h) j = (j + 1) & (t->cap - 1);
    if (t->t[j].src < 0) t->n++;
    t->t[j].h = h;
    t->t[j].off = off;
    t->t[j].len = len;
    t->t[j].src = src; /* a later source replaces an earlier one */
    return 0;
}

static const rent *rtab_get(const rtab *t, uint64_t h) {
    if (!t->cap) return NULL;
    size_t j = h & (t->cap - 1);
    while (t->t[j].src >= 0) {
        if (t->t[j].h == h) return &t->t[j];
        j = (j + 1) & (t->cap - 1);
    }
    return NULL;
}

/* Indexes the complete lines of one file (an incomplete last line is
 * ignored). */
static int scan_jsonl(FILE *f, int src, rtab *t) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t off = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        size_t ks, kl;
        if (line[len - 1] == '\n' && len < (ssize_t)UINT32_MAX && !line_key(line, (size_t)len, &ks, &kl) &&
            rtab_put(t, y5_fnv1a(line + ks, kl), off, (uint32_t)len, src)) {
            rc = -1;
            break;
        }
        off += len;
    }
    free(line);
    return rc;
}

/* Removes temp files ("NAME.tmp.PID.N") that a killed run left in dir. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (end == t + 5 || *end != '.' || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* its writer may still be alive */
        char path[8600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* The outputs of input i are complete on disk (label, image unless
 * --no-save). */
static int outputs_complete(const y5_pipe *p, int i) {
    const y5_pipeline_opts *o = p->o;
    char st[4200], path[8600];
    y5_out_stem(o->paths[i], st, sizeof st);
    snprintf(path, sizeof path, "%s/labels/%s.txt", o->out_dir, st);
    if (!file_exists(path)) return 0;
    if (o->no_save) return 1;
    y5_out_image_name(o->paths[i], st, sizeof st);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, st);
    return file_exists(path);
}


/* Indexes the earlier results, oldest to newest, so that a line in a newer
 * file replaces the same image's line in an older one. f[s] stays open
 * (NULL where the file does not exist) for the copies. 0, or -1 (out of
 * memory). */
static int index_earlier(y5_pipe *p, FILE *f[3], rtab *t) {
    const char *srcs[3] = {p->jpath, p->jprev, p->jpartial}; /* oldest to newest */
    for (int s = 0; s < 3; s++) {
        f[s] = fopen(srcs[s], "rb");
        if (f[s] && scan_jsonl(f[s], s, t)) return -1;
    }
    return 0;
}

/* Where the carried lines go: .prev, and a buffer for one line. */
typedef struct {
    y5_atomic_file a;
    char *buf;
    size_t cap;
    int64_t off;          /* bytes written to a so far */
} carry;

/* Carries input i's line into .prev when its outputs are complete and an
 * earlier file holds the line whole (re-read and its key compared, so a
 * hash collision cannot carry a wrong line). Sets prev_off/prev_len[i].
 * Returns 1 when carried, 0 when input i is to be processed again, -1 on
 * a fatal error. */
static int carry_line(y5_pipe *p, const rtab *t, FILE *const f[3], int i, carry *c) {
    const y5_pipeline_opts *o = p->o;
    int rc = 0;
    char *kl_line = y5_json_line(o->paths[i], 0, 0, NULL, 0, NULL, 0);
    size_t ks, kl;
    if (!kl_line || line_key(kl_line, strlen(kl_line), &ks, &kl)) { free(kl_line); return 0; }
    const rent *r = rtab_get(t, y5_fnv1a(kl_line + ks, kl));
    if (r && outputs_complete(p, i)) {
        if (c->cap < r->len) {
            free(c->buf);
            c->cap = r->len;
            c->buf = malloc(c->cap);
            if (!c->buf) { c->cap = 0; free(kl_line); return -1; }
        }
        char *buf = c->buf;
        size_t ks2, kl2;
        if (pread(fileno(f[r->src]), buf, r->len, r->off) == (ssize_t)r->len &&
            !line_key(buf, r->len, &ks2, &kl2) && kl2 == kl && !memcmp(buf + ks2, kl_line + ks, kl) &&
            buf[r->len - 1] == '\n') {
            if (fwrite(buf, 1, r->len, c->a.f) != r->len) {
                y5_pipe_log(p, "yolov5c detect: %s: write failed\n", p->jprev);
                rc = -1;
            } else {
                p->prev_off[i] = c->off;
                p->prev_len[i] = r->len;
                c->off += r->len;
                rc = 1;
            }
        }
    }
    free(kl_line);
    return rc;
}

int y5_pipe_resume_prepare(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    char err[1024];
    remove_stale_temps(o->out_dir);
    char lab[4200];
    snprintf(lab, sizeof lab, "%s/labels", o->out_dir);
    remove_stale_temps(lab);

    FILE *f[3] = {0};
    rtab t = {0};
    int rc = index_earlier(p, f, &t), skipped = 0;
    p->prev_off = malloc(sizeof(int64_t) * (size_t)(o->n_paths ? o->n_paths : 1));
    p->prev_len = malloc(sizeof(uint32_t) * (size_t)(o->n_paths ? o->n_paths : 1));
    if (rc || !p->prev_off || !p->prev_len) {
        y5_pipe_log(p, "yolov5c detect: --resume: out of memory indexing the earlier results\n");
        rc = -1;
    }
    carry c = {0};
    int aopen = 0;
    if (!rc && t.n) {
        if (y5_atomic_open(&c.a, p->jprev, err, sizeof err)) { y5_pipe_log(p, "yolov5c detect: %s\n", err); rc = -1; }
        else aopen = 1;
    }
    for (int i = 0; !rc && i < o->n_paths; i++) {
        p->prev_off[i] = -1;
        p->prev_len[i] = 0;
        if (!t.n) continue;
        int k = carry_line(p, &t, f, i, &c);
        if (k < 0) rc = -1;
        else skipped += k;
    }
    free(c.buf);
    free(t.t);
    if (aopen) {
        if (rc) y5_atomic_abort(&c.a);
        else if (y5_atomic_commit(&c.a, err, sizeof err)) { y5_pipe_log(p, "yolov5c detect: %s\n", err); rc = -1; }
    }
    for (int s = 0; s < 3; s++)
        if (f[s]) fclose(f[s]);
    if (rc) return -1;
    if (skipped) {
        p->prev_fd = open(p->jprev, O_RDONLY | O_CLOEXEC);
        if (p->prev_fd < 0) { y5_pipe_log(p, "yolov5c detect: %s: %s\n", p->jprev, strerror(errno)); return -1; }
    } else {
        unlink(p->jprev);
        free(p->prev_off);
        free(p->prev_len);
        p->prev_off = NULL;
        p->prev_len = NULL;
    }
    return skipped;
}
