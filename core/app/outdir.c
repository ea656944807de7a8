/* outdir.c - the run lock and the run record of a detect output folder
 * (see outdir.h). */
#include "core/app/outdir.h"
#include "weights/y5w.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/app/output.h"
#include "core/base/errmsg.h"

int y5_outdir_lock(const char *dir, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, Y5_OUTDIR_LOCK);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return y5_fail_path(err, errlen, path, "cannot create the run lock (%s)", strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return y5_fail_path(err, errlen, dir, "another yolov5c run is writing to this folder (it holds %s); "
                                "wait for it to finish or give this run another --out", Y5_OUTDIR_LOCK);
        return y5_fail_path(err, errlen, path, "cannot lock (%s)", strerror(e));
    }
    return fd;
}

/* The checksum field of a .y5w header (weights/FORMAT.md: u64 at offset 24,
 * little-endian, after the 8-byte magic). 0, or -1 when the file cannot be
 * read or is no weight file (the engine then reports why). */
static int weights_checksum(const char *path, uint64_t *sum) {
    unsigned char h[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = pread(fd, h, sizeof h, 0);
    close(fd);
    if (n != (ssize_t)sizeof h || memcmp(h, "Y5WEIGHT", 8)) return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | h[24 + i];
    *sum = v;
    return 0;
}

/* The size a run without --imgsz uses: the training size the weight file
 * records, else 640 (as y5_engine_imgsz before its stride rounding), so
 * that a resume with the same size given explicitly matches. */
static void default_imgsz(const char *weights, int *h, int *w) {
    y5w_file f;
    char err[256];
    *h = *w = 640;
    if (y5w_open(weights, &f, err, sizeof err)) return; /* the engine reports why */
    if (f.desc.imgsz) *h = *w = (int)f.desc.imgsz;
    y5w_close(&f);
}

int y5_run_record_text(const char *weights, const y5_detect_opts *o, char *buf, size_t cap) {
    int ih = o->imgsz_h, iw = o->imgsz_w;
    if (ih <= 0 || iw <= 0) default_imgsz(weights, &ih, &iw);
    uint64_t sum = 0;
    char sums[32] = "unreadable", wname[1024], classes[1024] = "all";
    if (weights_checksum(weights, &sum) == 0) snprintf(sums, sizeof sums, "%016" PRIx64, sum);
    y5_escape_ctl(weights, wname, sizeof wname);
    if (o->nms.classes && o->nms.n_classes > 0) {
        /* sorted, without repeats: --classes 2,0 and 0,2,2 keep the same boxes */
        int nc = o->nms.n_classes, *c = malloc(sizeof(int) * (size_t)nc);
        if (!c) return -1;
        memcpy(c, o->nms.classes, sizeof(int) * (size_t)nc);
        for (int i = 1; i < nc; i++)
            for (int j = i; j > 0 && c[j - 1] > c[j]; j--) { int t = c[j]; c[j] = c[j - 1]; c[j - 1] = t; }
        size_t k = 0;
        for (int i = 0; i < nc && k < sizeof classes; i++)
            if (!i || c[i] != c[i - 1]) k += (size_t)snprintf(classes + k, sizeof classes - k, "%s%d", i ? "," : "", c[i]);
        free(c);
        if (k >= sizeof classes) return -1;
    }
    /* %.9g: a float prints back to the same float */
    int n = snprintf(buf, cap,
                     "# yolov5c detect: the options that shape this folder's results (--resume checks them)\n"
                     "weights %s\n"
                     "weights-checksum %s\n"
                     "imgsz %dx%d\n"
                     "square %d\n"
                     "conf %.9g\n"
                     "iou %.9g\n"
                     "max-det %d\n"
                     "classes %s\n"
                     "agnostic %d\n",
                     wname, sums, ih, iw, o->square ? 1 : 0, (double)o->nms.conf_thres,
                     (double)o->nms.iou_thres, o->nms.max_det, classes, o->nms.agnostic ? 1 : 0);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The value of `key` in a record text (up to the end of its line), or NULL. */
static const char *rec_get(const char *text, const char *key, size_t *len) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, key, kl) && p[kl] == ' ') {
            const char *v = p + kl + 1, *e = strchr(v, '\n');
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

/* The options a record holds, as the command line names them. Flags
 * (is_flag) read 0/1. The --tile lines are written only by tiled runs
 * (cli_detect.c), so records of untiled runs stay as they were: a missing
 * one reads as dflt. */
static const struct {
    const char *key, *opt;
    int is_flag;
    const char *dflt;
    int since_later; /* written only by later versions: an older record without it is not checked */
} KEYS[] = {
    {"weights-checksum", "--weights", 0, NULL, 0},
    {"imgsz", "--imgsz", 0, NULL, 0},
    {"square", "--square", 1, NULL, 0},
    {"conf", "--conf", 0, NULL, 0},
    {"iou", "--iou", 0, NULL, 0},
    {"max-det", "--max-det", 0, NULL, 0},
    {"classes", "--classes", 0, NULL, 0},
    {"agnostic", "--agnostic", 1, NULL, 0},
    {"tile", "--tile", 0, "0", 0},
    {"tile-overlap", "--tile-overlap", 0, "-", 0},
    {"tile-full", "--tile-full", 0, "-", 0},
    {"precision", "--device", 0, NULL, 1},
};

int y5_run_record_check(const char *dir, const char *text, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, Y5_OUTDIR_RECORD);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 1;
        return y5_fail_path(err, errlen, path, "--resume: cannot read the earlier run's options (%s)", strerror(errno));
    }
    char old[8192];
    size_t n = fread(old, 1, sizeof old - 1, f);
    fclose(f);
    old[n] = 0;
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        size_t al, bl;
        const char *a = rec_get(old, KEYS[k].key, &al), *b = rec_get(text, KEYS[k].key, &bl);
        if (KEYS[k].dflt) {
            if (!a) { a = KEYS[k].dflt; al = strlen(a); }
            if (!b) { b = KEYS[k].dflt; bl = strlen(b); }
        }
        if (!b) continue;
        if (!a && KEYS[k].since_later) continue;
        if (!a)
            return y5_fail_path(err, errlen, path, "--resume: the earlier run's record has no '%s' line (damaged?); "
                                "remove it, or use another --out", KEYS[k].key);
        if (al == bl && !memcmp(a, b, al)) continue;
        const char *opt = KEYS[k].opt;
        if (KEYS[k].is_flag)
            return y5_fail_path(err, errlen, dir, "--resume with different options: %s %s, but the earlier run %s "
                                "(resume with the same options, or use another --out)",
                                *b == '1' ? "this run has" : "this run lacks", opt,
                                *a == '1' ? "had it" : "did not have it");
        if (!strcmp(KEYS[k].key, "weights-checksum")) {
            size_t pl, ql;
            const char *p = rec_get(old, "weights", &pl), *q = rec_get(text, "weights", &ql);
            return y5_fail_path(err, errlen, dir, "--resume with different options: %s %.*s (checksum %.*s), but the "
                                "earlier run used %.*s (checksum %.*s) (resume with the same weights, or use another "
                                "--out)", opt, (int)(q ? ql : 0), q ? q : "", (int)bl, b, (int)(p ? pl : 1),
                                p ? p : "?", (int)al, a);
        }
        if (!strcmp(KEYS[k].key, "precision"))
            return y5_fail_path(err, errlen, dir, "--resume with different options: this run's --device computes in "
                                "%.*s, but the earlier run's computed in %.*s: the boxes would differ slightly between "
                                "the two parts (resume on the same kind of device, or use another --out)", (int)bl, b,
                                (int)al, a);
        return y5_fail_path(err, errlen, dir, "--resume with different options: %s %.*s, but the earlier run used "
                            "%s %.*s (resume with the same options, or use another --out)", opt, (int)bl, b, opt,
                            (int)al, a);
    }
    return 0;
}

int y5_run_record_write(const char *dir, const char *text, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, Y5_OUTDIR_RECORD);
    return y5_write_file_atomic(path, text, strlen(text), err, errlen);
}
