/* output.c - atomic files, YOLO label files, JSON lines.
 *
 * Atomic write: "<path>.tmp.<pid>.<n>" is created next to the target (same
 * folder, so rename is atomic), written, flushed, fsync'd, closed and renamed
 * over the target. On any failure the temp file is removed. */
#include "core/app/output.h"
#include "core/base/errmsg.h"
#include "core/base/json.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *path, const char *what, int e) {
    if (!err || !errlen) return;
    if (e) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", strerror(e));
        if (buf[0] && isupper((unsigned char)buf[0]) && !(buf[1] && isupper((unsigned char)buf[1])))
            buf[0] = (char)tolower((unsigned char)buf[0]);
        if (what)
            y5_fail_path(err, errlen, path, "%s (%s)", what, buf);
        else
            y5_fail_path(err, errlen, path, "%s", buf);
    } else {
        y5_fail_path(err, errlen, path, "%s", what ? what : "error");
    }
}

static atomic_uint tmp_counter;

int y5_atomic_open(y5_atomic_file *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) { set_err(err, errlen, "(null)", "empty output path", 0); return -1; }
    size_t pl = strlen(path);
    if (pl >= sizeof a->path) { set_err(err, errlen, path, "path too long", 0); return -1; }
    memcpy(a->path, path, pl + 1);
    unsigned k = atomic_fetch_add(&tmp_counter, 1u);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld.%u", path, (long)getpid(), k);
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        set_err(err, errlen, path, "cannot create", errno);
        a->tmp[0] = 0;
        return -1;
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        a->tmp[0] = 0;
        set_err(err, errlen, path, "cannot open", e);
        return -1;
    }
    return 0;
}

int y5_atomic_commit(y5_atomic_file *a, char *err, size_t errlen) {
    if (!a->f) { set_err(err, errlen, a->path[0] ? a->path : "(null)", "file not open", 0); return -1; }
    int e = 0;
    const char *what = NULL;
    if (fflush(a->f) != 0 || ferror(a->f)) { e = errno ? errno : EIO; what = "write failed"; }
    if (!e && fsync(fileno(a->f)) != 0) { e = errno; what = "fsync failed"; }
    if (fclose(a->f) != 0 && !e) { e = errno ? errno : EIO; what = "close failed"; }
    a->f = NULL;
    if (!e && rename(a->tmp, a->path) != 0) { e = errno; what = "cannot rename the temp file over it"; }
    if (e) {
        unlink(a->tmp);
        a->tmp[0] = 0;
        set_err(err, errlen, a->path, what, e);
        return -1;
    }
    a->tmp[0] = 0;
    return 0;
}

void y5_atomic_abort(y5_atomic_file *a) {
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
    }
    if (a->tmp[0]) {
        unlink(a->tmp);
        a->tmp[0] = 0;
    }
}

int y5_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    y5_atomic_file a;
    if (y5_atomic_open(&a, path, err, errlen)) return -1;
    if (len && fwrite(data, 1, len, a.f) != len) {
        int e = errno ? errno : EIO;
        y5_atomic_abort(&a);
        set_err(err, errlen, path, "write failed", e);
        return -1;
    }
    return y5_atomic_commit(&a, err, errlen);
}

/* ---- YOLO labels ---- */

int y5_write_labels(const char *path, const y5_det *d, int n, int w0, int h0, char *err, size_t errlen) {
    y5_atomic_file a;
    if (y5_atomic_open(&a, path, err, errlen)) return -1;
    /* detect.py --save-txt --save-conf: boxes rounded (torch.round, half to
     * even) after scale_boxes, xyxy2xywh and / [w, h, w, h] in float32,
     * '%g ' * 6 per line, written for reversed(det) (lowest confidence
     * first). An image without detections gets an empty file (detect.py
     * writes none; an empty label file means "no objects" to YOLO tools). */
    const float W = (float)w0, H = (float)h0;
    for (int i = n - 1; i >= 0; i--) {
        float x1 = nearbyintf(d[i].x1), y1 = nearbyintf(d[i].y1);
        float x2 = nearbyintf(d[i].x2), y2 = nearbyintf(d[i].y2);
        float cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, bw = x2 - x1, bh = y2 - y1;
        cx /= W; cy /= H; bw /= W; bh /= H;
        if (fprintf(a.f, "%g %g %g %g %g %g\n", (double)(float)d[i].cls, (double)cx, (double)cy, (double)bw,
                    (double)bh, (double)d[i].conf) < 0) {
            int e = errno ? errno : EIO;
            y5_atomic_abort(&a);
            set_err(err, errlen, path, "write failed", e);
            return -1;
        }
    }
    return y5_atomic_commit(&a, err, errlen);
}

/* ---- JSON ---- */

char *y5_json_line(const char *image_path, int w, int h, const y5_det *d, int n, const char (*names)[64], int nc) {
    y5_sbuf s = {0};
    char buf[64];
    y5_sb_puts(&s, "{\"image\": ");
    y5_json_str(&s, image_path, Y5_JSON_UTF8);
    snprintf(buf, sizeof buf, ", \"width\": %d, \"height\": %d, \"detections\": [", w, h);
    y5_sb_puts(&s, buf);
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%s{\"class\": %d, \"name\": ", i ? ", " : "", d[i].cls);
        y5_sb_puts(&s, buf);
        if (names && d[i].cls >= 0 && d[i].cls < nc) {
            char nm[65];
            memcpy(nm, names[d[i].cls], 64);
            nm[64] = 0;
            y5_json_str(&s, nm, Y5_JSON_UTF8);
        } else {
            snprintf(buf, sizeof buf, "\"%d\"", d[i].cls);
            y5_sb_puts(&s, buf);
        }
        y5_sb_puts(&s, ", \"conf\": ");
        y5_sb_num(&s, "%.5f", (double)d[i].conf);
        y5_sb_puts(&s, ", \"box\": [");
        const float v[4] = {d[i].x1, d[i].y1, d[i].x2, d[i].y2};
        for (int k = 0; k < 4; k++) {
            if (k) y5_sb_puts(&s, ", ");
            y5_sb_num(&s, "%.2f", (double)v[k]);
        }
        y5_sb_puts(&s, "]}");
    }
    y5_sb_puts(&s, "]}\n");
    if (s.oom) {
        free(s.p);
        return NULL;
    }
    return s.p;
}
