/* tune_cache.c - Y5_CONV_IMPL=tune's choices on disk (tune_cache.h). */
#include "cuda/tune_cache.h"

#include "core/base/act.h"
#include "core/base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MAX_ENTRIES 65536  /* a file claiming more is not ours */
#define MAX_DIM (1 << 20)  /* larger sides, channels or batches are not a conv this backend plans */

int y5_tune_same_key(const y5_tune_rec *a, const y5_tune_rec *b) {
    return a->cin == b->cin && a->cout == b->cout && a->k == b->k && a->s == b->s && a->p == b->p && a->n == b->n &&
           a->h == b->h && a->w == b->w && a->ld_in == b->ld_in && a->ld_out == b->ld_out && a->ld_res == b->ld_res &&
           a->act == b->act && a->align == b->align;
}

const char *y5_tune_cache_path(char *buf, size_t cap, const char *card) {
    const char *e = getenv("Y5_TUNE_CACHE");
    const uint64_t h = y5_fnv1a(card ? card : "", card ? strlen(card) : 0); /* the card's name */
    int k;
    if (e && *e) {
        if (!strcmp(e, "0")) return NULL;
        k = snprintf(buf, cap, "%s", e);
    } else if ((e = getenv("XDG_CACHE_HOME")) && *e == '/') {
        k = snprintf(buf, cap, "%s/yolov5c/tune3-%016llx.txt", e, (unsigned long long)h);
    } else if ((e = getenv("HOME")) && *e == '/') {
        k = snprintf(buf, cap, "%s/.cache/yolov5c/tune3-%016llx.txt", e, (unsigned long long)h);
    } else {
        return NULL;
    }
    return k > 0 && (size_t)k < cap ? buf : NULL;
}

/* One entry line; 0 when it is well formed and plausible. */
static int parse_line(const char *s, y5_tune_rec *r) {
    int used = 0;
    memset(r, 0, sizeof *r);
    if (sscanf(s, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %f %f %f %f %f%n", &r->cin, &r->cout, &r->k, &r->s,
               &r->p, &r->n, &r->h, &r->w, &r->ld_in, &r->ld_out, &r->ld_res, &r->act, &r->align, &r->run, &r->ms[0],
               &r->ms[1], &r->ms[2], &r->ms[3], &r->ms[4], &used) != 19)
        return -1;
    for (const char *t = s + used; *t; t++)
        if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n') return -1;
    const int pos[] = {r->cin, r->cout, r->k, r->s, r->n, r->h, r->w, r->ld_in, r->ld_out};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i] < 1 || pos[i] > MAX_DIM) return -1;
    if (r->p < 0 || r->p > MAX_DIM || r->ld_res < 0 || r->ld_res > MAX_DIM) return -1;
    if (r->act < 0 || r->act >= Y5_ACT_COUNT || r->align < 0 || r->align > 0777) return -1;
    if (r->run < 0 || r->run >= Y5_TUNE_RUNS) return -1;
    for (int i = 0; i < Y5_TUNE_RUNS; i++)
        if (!(r->ms[i] >= -1.0f && r->ms[i] < 1e9f)) return -1; /* NaN fails too */
    return 0;
}

/* Entries by key: an open-addressing table of indices into an entry array
 * (-1 empty), at most half full, so a file of MAX_ENTRIES lines is read, and
 * merged, in linear time (a scan per line was quadratic: about 2e9 key
 * compares for a hostile file of that size). */
typedef struct key_set {
    int *slot;
    size_t mask;
} key_set;

static size_t key_hash(const y5_tune_rec *r) {
    const int k[] = {r->cin, r->cout, r->k, r->s, r->p, r->n, r->h, r->w, r->ld_in, r->ld_out, r->ld_res, r->act, r->align};
    return (size_t)y5_fnv1a(k, sizeof k);
}

/* The slot of r's key among recs: its index there, or an empty one (-1). */
static int *key_slot(const key_set *ks, const y5_tune_rec *recs, const y5_tune_rec *r) {
    size_t i = key_hash(r) & ks->mask;
    while (ks->slot[i] >= 0 && !y5_tune_same_key(&recs[ks->slot[i]], r)) i = (i + 1) & ks->mask;
    return &ks->slot[i];
}

/* A table for up to `room` entries' keys (at most half full), the first n
 * of recs indexed again. */
static int key_set_grow(key_set *ks, const y5_tune_rec *recs, int n, int room) {
    size_t cap = 64;
    while (cap < 2 * (size_t)room) cap *= 2;
    int *s = malloc(cap * sizeof *s);
    if (!s) return -1;
    free(ks->slot);
    ks->slot = s;
    ks->mask = cap - 1;
    for (size_t i = 0; i < cap; i++) s[i] = -1;
    for (int i = 0; i < n; i++) *key_slot(ks, recs, &recs[i]) = i;
    return 0;
}

int y5_tune_cache_read(const char *path, const char *stamp, y5_tune_rec **out, int *n) {
    *out = NULL;
    *n = 0;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return 0;
    char line[1024];
    int cap = 0, rc = 0;
    key_set ks = {NULL, 0};
    /* the stamp line, whole: the same build on the same card */
    if (!fgets(line, sizeof line, f) || strncmp(line, Y5_TUNE_MAGIC, strlen(Y5_TUNE_MAGIC)) ||
        strcspn(line + strlen(Y5_TUNE_MAGIC), "\n") != strlen(stamp) || strncmp(line + strlen(Y5_TUNE_MAGIC), stamp, strlen(stamp))) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') && !feof(f)) { /* longer than any entry: skip the rest of it */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n') {}
            continue;
        }
        y5_tune_rec r;
        if (parse_line(line, &r)) continue;
        if (ks.slot && *key_slot(&ks, *out, &r) >= 0) continue; /* the same key again: the first wins */
        if (*n == MAX_ENTRIES) break;
        if (*n == cap) {
            int nc = cap ? 2 * cap : 64;
            y5_tune_rec *t = realloc(*out, (size_t)nc * sizeof *t);
            if (!t || (*out = t, key_set_grow(&ks, t, *n, nc))) { rc = -1; break; }
            cap = nc;
        }
        *key_slot(&ks, *out, &r) = *n;
        (*out)[(*n)++] = r;
    }
    fclose(f);
    free(ks.slot);
    if (rc) { free(*out); *out = NULL; *n = 0; }
    return rc;
}

static int untuned(const y5_tune_rec *r) {
    for (int i = 0; i < Y5_TUNE_RUNS; i++)
        if (r->ms[i] >= 0.0f) return 0;
    return 1;
}

int y5_tune_cache_write(const char *path, const char *stamp, const y5_tune_rec *r, int n, char *err, size_t errlen) {
    if (!path) {
        snprintf(err, errlen, "tune cache: no usable path");
        return -1;
    }
    if (y5_mkdirs_parent(path, 0755)) return y5_fail_errno(err, errlen, path, "cannot make its folder", errno);
    y5_atomic_file a;
    if (y5_atomic_open(&a, path, err, errlen)) return -1;
    int bad = fprintf(a.f, "%s%s\n", Y5_TUNE_MAGIC, stamp) < 0;
    for (int i = 0; i < n && !bad; i++)
        bad = untuned(&r[i]) ? 0
                             : fprintf(a.f, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %.6g %.6g %.6g %.6g %.6g\n",
                                       r[i].cin, r[i].cout, r[i].k, r[i].s, r[i].p, r[i].n, r[i].h, r[i].w, r[i].ld_in,
                                       r[i].ld_out, r[i].ld_res, r[i].act, r[i].align, r[i].run, (double)r[i].ms[0],
                                       (double)r[i].ms[1], (double)r[i].ms[2], (double)r[i].ms[3], (double)r[i].ms[4]) < 0;
    if (bad) {
        const int e = errno ? errno : EIO;
        y5_atomic_abort(&a);
        return y5_fail_errno(err, errlen, path, "write failed", e);
    }
    return y5_atomic_commit(&a, err, errlen);
}

int y5_tune_cache_merge(const char *path, const char *stamp, const y5_tune_rec *r, int n, char *err, size_t errlen) {
    char lockp[4200];
    if (!path || snprintf(lockp, sizeof lockp, "%s.lock", path) >= (int)sizeof lockp) {
        snprintf(err, errlen, "tune cache: no usable path");
        return -1;
    }
    if (y5_mkdirs_parent(path, 0755)) return y5_fail_errno(err, errlen, path, "cannot make its folder", errno);
    const int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        snprintf(err, errlen, "%s: cannot lock (%s)", lockp, strerror(errno));
        if (lfd >= 0) close(lfd);
        return -1;
    }
    y5_tune_rec *old = NULL, *all = NULL;
    int n_old = 0, rc = -1;
    key_set ks = {NULL, 0};
    if (y5_tune_cache_read(path, stamp, &old, &n_old) || !(all = malloc(sizeof *all * (size_t)(n + n_old + 1)))) {
        snprintf(err, errlen, "tune cache: out of memory");
    } else {
        /* this process's tuned entries (an untuned one is never written), then
         * the file's whose key they do not have, found in their key_set */
        int m = 0;
        for (int i = 0; i < n; i++)
            if (!untuned(&r[i])) all[m++] = r[i];
        const int mine = m;
        if (key_set_grow(&ks, all, mine, mine)) {
            snprintf(err, errlen, "tune cache: out of memory");
        } else {
            for (int i = 0; i < n_old; i++)
                if (*key_slot(&ks, all, &old[i]) < 0) all[m++] = old[i];
            rc = y5_tune_cache_write(path, stamp, all, m, err, errlen);
        }
    }
    free(ks.slot);
    free(old);
    free(all);
    flock(lfd, LOCK_UN);
    close(lfd);
    return rc;
}
