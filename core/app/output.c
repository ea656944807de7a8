/* output.c - YOLO label files, JSON lines (each written atomically:
 * core/base/files.h). */
#include "core/app/output.h"
#include "core/base/errmsg.h"
#include "core/base/json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
            y5_fail_errno(err, errlen, path, "write failed", e);
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
