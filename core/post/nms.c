/* nms.c - ultralytics v7.0 non_max_suppression + scale_boxes, in the same
 * float32 arithmetic (torch CPU + torchvision.ops.nms):
 *
 *   candidates: obj > conf (float32 compare); cls *= obj (float32);
 *   single label: conf, j = max over classes (first maximum); keep conf > thr;
 *   multi label: every (row, class) with obj*cls > thr, row-major order;
 *   class filter; boxes x1 = cx - w/2 ... (float32);
 *   sort by conf descending (stable here; torch's argsort is not, but the
 *   golden data has no ties), at most max_nms;
 *   offset c = cls * 7680 (0 if agnostic) added to the box in float32, areas
 *   (x2-x1)*(y2-y1) of the offset boxes; greedy in order: a box is dropped
 *   when inter / (area_i + area_j - inter) > iou_thres (float IoU compared in
 *   double with the threshold as Python wrote it) with any kept box;
 *   first max_det kept.
 * Checking each candidate against the kept boxes is the same as
 * torchvision's "suppress all later boxes" loop (a suppressed box never
 * suppresses), and stops as soon as max_det boxes are kept. */
#include "core/post/nms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WH 7680.0f

void y5_nms_defaults(y5_nms_opts *o) {
    memset(o, 0, sizeof *o);
    o->conf_thres = 0.25f;
    o->iou_thres = 0.45f;
    o->max_det = 1000;
    o->max_nms = 30000;
}

struct y5_nms_ws {
    size_t cap;     /* candidates */
    int *row, *cls, *order, *tmp;
    float *conf;
    size_t kcap;    /* kept boxes */
    float *kb;      /* 5 per kept box: offset x1 y1 x2 y2, area */
};

static int ws_reserve(y5_nms_ws *ws, size_t n) {
    if (n <= ws->cap) return 0;
    size_t c = ws->cap ? ws->cap : 1024;
    while (c < n) c *= 2;
    int *row = realloc(ws->row, c * sizeof(int));
    if (row) ws->row = row;
    int *cls = realloc(ws->cls, c * sizeof(int));
    if (cls) ws->cls = cls;
    int *order = realloc(ws->order, c * sizeof(int));
    if (order) ws->order = order;
    int *tmp = realloc(ws->tmp, c * sizeof(int));
    if (tmp) ws->tmp = tmp;
    float *conf = realloc(ws->conf, c * sizeof(float));
    if (conf) ws->conf = conf;
    if (!row || !cls || !order || !tmp || !conf) return -1;
    ws->cap = c;
    return 0;
}

static int ws_reserve_kept(y5_nms_ws *ws, size_t n) {
    if (n <= ws->kcap) return 0;
    size_t c = ws->kcap ? ws->kcap : 256;
    while (c < n) c *= 2;
    float *kb = realloc(ws->kb, c * 5 * sizeof(float));
    if (!kb) return -1;
    ws->kb = kb;
    ws->kcap = c;
    return 0;
}

y5_nms_ws *y5_nms_ws_create(int n_rows, int nc, int multi_label) {
    y5_nms_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return NULL;
    size_t n = n_rows > 0 ? (size_t)n_rows : 1;
    /* Multi-label can yield up to rows * nc candidates; start at 4 per row
     * and grow on demand (kept afterwards). */
    if (multi_label && nc > 1) n *= 4;
    if (ws_reserve(ws, n) || ws_reserve_kept(ws, 1024)) {
        y5_nms_ws_destroy(ws);
        return NULL;
    }
    return ws;
}

void y5_nms_ws_destroy(y5_nms_ws *ws) {
    if (!ws) return;
    free(ws->row);
    free(ws->cls);
    free(ws->order);
    free(ws->tmp);
    free(ws->conf);
    free(ws->kb);
    free(ws);
}

/* Stable merge sort of idx[0..n) by key descending. */
static void sort_desc_stable(int *idx, int *tmp, const float *key, size_t n) {
    int *a = idx, *b = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = key[a[j]] > key[a[i]] ? a[j++] : a[i++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        int *t = a; a = b; b = t;
    }
    if (a != idx) memcpy(idx, a, n * sizeof(int));
}

double y5_nms_py_threshold(float t) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)t);
        if (strtof(buf, NULL) == t) return strtod(buf, NULL);
    }
    return (double)t;
}

static int class_wanted(const y5_nms_opts *o, int c) {
    if (!o->classes || o->n_classes <= 0) return 1;
    for (int k = 0; k < o->n_classes; k++)
        if (o->classes[k] == c) return 1;
    return 0;
}

int y5_nms(y5_nms_ws *ws, const float *pred, int n_rows, int nc, const y5_nms_opts *o, y5_det *out, int max_out) {
    y5_nms_opts def;
    if (!o) { y5_nms_defaults(&def); o = &def; }
    if (!pred || n_rows <= 0 || nc < 1 || max_out <= 0 || o->max_det <= 0) return 0;
    y5_nms_ws *own = NULL;
    if (!ws) {
        ws = own = y5_nms_ws_create(n_rows, nc, o->multi_label);
        if (!ws) return -1;
    }
    const int no = 5 + nc;
    const float thr = o->conf_thres;
    const int multi = o->multi_label && nc > 1;
    size_t n = 0;
    int rc = 0;
    if (ws_reserve(ws, (size_t)n_rows)) { rc = -1; goto done; }

    for (int r = 0; r < n_rows; r++) {
        const float *p = pred + (size_t)r * no;
        const float obj = p[4];
        if (!(obj > thr)) continue;
        if (multi) {
            for (int c = 0; c < nc; c++) {
                float s = p[5 + c] * obj;
                if (!(s > thr) || !class_wanted(o, c)) continue;
                if (n == ws->cap && ws_reserve(ws, n + 1)) { rc = -1; goto done; }
                ws->row[n] = r;
                ws->cls[n] = c;
                ws->conf[n] = s;
                n++;
            }
        } else {
            float best = p[5] * obj;
            int bc = 0;
            for (int c = 1; c < nc; c++) {
                float s = p[5 + c] * obj;
                if (s > best || s != s) { best = s; bc = c; } /* NaN propagates, as torch's max */
            }
            if (!(best > thr) || !class_wanted(o, bc)) continue;
            ws->row[n] = r;
            ws->cls[n] = bc;
            ws->conf[n] = best;
            n++;
        }
    }
    if (n == 0) goto done;

    for (size_t i = 0; i < n; i++) ws->order[i] = (int)i;
    sort_desc_stable(ws->order, ws->tmp, ws->conf, n);
    if (o->max_nms > 0 && n > (size_t)o->max_nms) n = (size_t)o->max_nms;

    const double iou_thr = y5_nms_py_threshold(o->iou_thres);
    const int limit = o->max_det < max_out ? o->max_det : max_out;
    if (ws_reserve_kept(ws, (size_t)limit < n ? (size_t)limit : n)) { rc = -1; goto done; }
    int kept = 0;
    for (size_t t = 0; t < n && kept < limit; t++) {
        const int i = ws->order[t];
        const float *p = pred + (size_t)ws->row[i] * no;
        const float hw = p[2] / 2, hh = p[3] / 2;
        const float x1 = p[0] - hw, y1 = p[1] - hh, x2 = p[0] + hw, y2 = p[1] + hh;
        const float off = o->agnostic ? 0.f : (float)ws->cls[i] * MAX_WH;
        const float ox1 = x1 + off, oy1 = y1 + off, ox2 = x2 + off, oy2 = y2 + off;
        const float area = (ox2 - ox1) * (oy2 - oy1);
        int suppressed = 0;
        for (int k = 0; k < kept; k++) {
            const float *kb = ws->kb + (size_t)k * 5;
            const float xx1 = kb[0] > ox1 ? kb[0] : ox1;
            const float yy1 = kb[1] > oy1 ? kb[1] : oy1;
            const float xx2 = kb[2] < ox2 ? kb[2] : ox2;
            const float yy2 = kb[3] < oy2 ? kb[3] : oy2;
            const float w = xx2 - xx1 > 0.f ? xx2 - xx1 : 0.f;
            const float h = yy2 - yy1 > 0.f ? yy2 - yy1 : 0.f;
            const float inter = w * h;
            const float uni = kb[4] + area - inter;
            /* 0 / 0 (two empty boxes) is NaN in torchvision: never above */
            if (uni != 0.f && (double)(inter / uni) > iou_thr) { suppressed = 1; break; }
        }
        if (suppressed) continue;
        float *kb = ws->kb + (size_t)kept * 5;
        kb[0] = ox1; kb[1] = oy1; kb[2] = ox2; kb[3] = oy2; kb[4] = area;
        out[kept].x1 = x1;
        out[kept].y1 = y1;
        out[kept].x2 = x2;
        out[kept].y2 = y2;
        out[kept].conf = ws->conf[i];
        out[kept].cls = ws->cls[i];
        kept++;
    }
    rc = kept;
done:
    y5_nms_ws_destroy(own);
    return rc;
}

float y5_iou(const y5_det *a, const y5_det *b) {
    const float aa = (a->x2 - a->x1) * (a->y2 - a->y1);
    const float ab = (b->x2 - b->x1) * (b->y2 - b->y1);
    const float xx1 = a->x1 > b->x1 ? a->x1 : b->x1;
    const float yy1 = a->y1 > b->y1 ? a->y1 : b->y1;
    const float xx2 = a->x2 < b->x2 ? a->x2 : b->x2;
    const float yy2 = a->y2 < b->y2 ? a->y2 : b->y2;
    const float w = xx2 - xx1 > 0.f ? xx2 - xx1 : 0.f;
    const float h = yy2 - yy1 > 0.f ? yy2 - yy1 : 0.f;
    const float inter = w * h, uni = aa + ab - inter;
    return uni != 0.f ? inter / uni : NAN; /* torchvision: 0 / 0 */
}

static float clampf(float v, float hi) {
    /* torch clamp_(0, hi): NaN stays NaN */
    if (v < 0.f) return 0.f;
    if (v > hi) return hi;
    return v;
}

void y5_scale_boxes(y5_det *d, int n, int in_h, int in_w, int h0, int w0) {
    if (n <= 0 || h0 <= 0 || w0 <= 0) return;
    /* Python floats (double) for gain and pads; torch applies them to the
     * float32 boxes as float32 scalars. */
    double gh = (double)in_h / h0, gw = (double)in_w / w0;
    double gain = gh < gw ? gh : gw;
    double pad_x = (in_w - w0 * gain) / 2, pad_y = (in_h - h0 * gain) / 2;
    const float px = (float)pad_x, py = (float)pad_y, g = (float)gain;
    const float W = (float)w0, H = (float)h0;
    for (int i = 0; i < n; i++) {
        float x1 = (d[i].x1 - px) / g, y1 = (d[i].y1 - py) / g;
        float x2 = (d[i].x2 - px) / g, y2 = (d[i].y2 - py) / g;
        d[i].x1 = clampf(x1, W);
        d[i].y1 = clampf(y1, H);
        d[i].x2 = clampf(x2, W);
        d[i].y2 = clampf(y2, H);
    }
}
