/* val.c - yolov5c val: the run loop. The set comes from val_data.c, the
 * pixels from the letterbox module, the scores from core/app/map.c.
 *
 * Why it follows ultralytics v7.0 val.py step by step (--task val, rect,
 * pad 0.5) rather than just "some mAP": the point of val is to give the
 * number a user got from val.py for the same weights and set, so every
 * step that moves a pixel or a box is val.py's:
 *   - load_image: r = imgsz / max(h0, w0); when r != 1 resized to
 *     (int(w0 r), int(h0 r)), INTER_AREA when shrinking
 *     (core/image/resize_area.c), INTER_LINEAR when growing;
 *   - letterbox into the batch's shape (auto=False, scaleup=False:
 *     y5_letterbox_plan_fixed), then u8 / 255 as torch does;
 *   - labels to letterboxed pixels and back to normalised (clipped at the
 *     border - 1e-3), then to pixels of the batch tensor, xyxy, and with the
 *     predictions to original pixels by scale_boxes(ratio_pad): subtract the
 *     letterbox half-paddings (floats), divide by the load ratio, clip;
 *   - non_max_suppression(conf, iou, multi_label=True, max_det) per image;
 *   - process_batch / ap_per_class: core/app/map.c.
 * Float32 is used where torch / numpy work in float32. */
#include "core/app/val.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/val_internal.h"
#include "core/base/clock.h"
#include "core/base/strbuf.h"
#include "core/engine/engine.h"
#include "core/image/image.h"
#include "core/image/letterbox.h"
#include "core/image/resize_area.h"
#include "core/post/nms.h"

#define VAL_PAD 0.5    /* val.py's pad for --task val */

void y5_val_defaults(y5_val_opts *o) {
    memset(o, 0, sizeof *o);
    o->imgsz = 0; /* the model's own size (y5_engine_imgsz: its training size, else 640) */
    o->batch = 32;
    o->device = "cpu";
    o->conf = 0.001f;
    o->iou = 0.6f;
    o->max_det = 300;
}

void y5_val_result_free(y5_val_result *r) {
    if (!r) return;
    y5_map_result_free(&r->m);
    free(r->names);
    free(r->nt_all);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------- load_image */

/* load_image's resize to imgsz on the long side; returns 0 or -1. */
static int load_resize(y5_image *img, int imgsz) {
    const double r = (double)imgsz / (img->w > img->h ? img->w : img->h);
    if (r == 1.0) return 0;
    int nw = (int)(img->w * r), nh = (int)(img->h * r);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    uint8_t *px = malloc((size_t)nw * nh * 3);
    if (!px) return -1;
    if (r < 1) {
        if (y5_resize_area_u8(img->px, img->w, img->h, px, nw, nh)) { free(px); return -1; }
    } else {
        y5_resize_linear_u8(img->px, img->w, img->h, px, nw, nh);
    }
    free(img->px);
    img->px = px;
    img->w = nw;
    img->h = nh;
    return 0;
}

/* ----------------------------------------------------------------- scoring */

/* scale_boxes(img1_shape, boxes, img0_shape, ratio_pad=((gain, _), (padw, padh))) in float32. */
static void scale_ratio_pad(float *x1, float *y1, float *x2, float *y2, float gain, float padw, float padh, float W,
                            float H) {
    float v[4] = {(*x1 - padw) / gain, (*y1 - padh) / gain, (*x2 - padw) / gain, (*y2 - padh) / gain};
    for (int k = 0; k < 4; k++) {
        const float hi = k % 2 ? H : W;
        if (v[k] < 0.f) v[k] = 0.f;
        else if (v[k] > hi) v[k] = hi;
    }
    *x1 = v[0];
    *y1 = v[1];
    *x2 = v[2];
    *y2 = v[3];
}

static float clipf(float v, float hi) { return v < 0.f ? 0.f : v > hi ? hi : v; }

/* The labels of one image through LoadImagesAndLabels.__getitem__ and
 * val.py into original pixels. lw, lh: ratio * loaded size; padw/padh:
 * letterbox half paddings; BW x BH: batch shape; gain: load ratio. */
static void labels_to_pixels(const y5_val_item *it, float lw, float lh, float padw, float padh, int BW, int BH,
                             float gain, int w0, int h0, y5_map_label *out) {
    const float cw = (float)((double)BW - 1e-3), chh = (float)((double)BH - 1e-3);
    const float fW = (float)BW, fH = (float)BH;
    for (int i = 0; i < it->nl; i++) {
        const float *l = it->lb + (size_t)i * 5;
        /* xywhn2xyxy(labels, ratio*w, ratio*h, padw, padh) */
        float x1 = lw * (l[1] - l[3] / 2) + padw, y1 = lh * (l[2] - l[4] / 2) + padh;
        float x2 = lw * (l[1] + l[3] / 2) + padw, y2 = lh * (l[2] + l[4] / 2) + padh;
        /* xyxy2xywhn(w=BW, h=BH, clip=True, eps=1e-3) */
        x1 = clipf(x1, cw);
        x2 = clipf(x2, cw);
        y1 = clipf(y1, chh);
        y2 = clipf(y2, chh);
        const float nx = ((x1 + x2) / 2) / fW, ny = ((y1 + y2) / 2) / fH;
        const float nw = (x2 - x1) / fW, nh = (y2 - y1) / fH;
        /* val.py: *= (width, height, width, height); xywh2xyxy */
        const float tx = nx * fW, ty = ny * fH, tw = nw * fW, th = nh * fH;
        y5_map_label *o = &out[i];
        o->x1 = tx - tw / 2;
        o->y1 = ty - th / 2;
        o->x2 = tx + tw / 2;
        o->y2 = ty + th / 2;
        o->cls = (int)l[0];
        scale_ratio_pad(&o->x1, &o->y1, &o->x2, &o->y2, gain, padw, padh, (float)w0, (float)h0);
    }
}

/* -------------------------------------------------------------- the run */

/* Per-image state of a batch, from preprocess to scoring. */
typedef struct {
    int ok;     /* decoded; 0: scored as an image without detections */
    int w0, h0; /* decoded size (cv2.imread's shape) */
    float gain, padw, padh, lw, lh;
} slot_info;

/* Everything one run holds; freed by run_close. */
typedef struct {
    const y5_val_opts *o;
    y5_val_set set;
    y5_engine *e;
    int nc, B, nb, max_det;
    int imgsz, stride;          /* --imgsz (or the model's) and val.py's max(model.stride) */
    y5_nms_opts nmso;
    y5_nms_ws *ws;             /* created at the first batch (needs the rows) */
    y5_map_stats *stats;
    y5_det *dets;              /* max_det */
    y5_map_label *labs;        /* the most labels of any image */
    slot_info *slots;          /* B */
    int *order, (*shapes)[2];  /* rectangular batches */
    y5_sbuf js;                /* --save-json text */
    int json_count, n_failed;
    double t_load, t_pre, t_inf, t_nms; /* ms, summed over the images */
} val_run;

static void run_close(val_run *v) {
    free(v->js.p);
    free(v->order);
    free(v->shapes);
    free(v->slots);
    free(v->dets);
    free(v->labs);
    y5_nms_ws_destroy(v->ws);
    y5_map_stats_free(v->stats);
    y5_engine_close(v->e);
    y5_val_set_free(&v->set);
}

/* The model, the buffers, the batch order and shapes, the NMS options. The
 * set is already loaded into v->set. Returns 0 or -1 with err set. */
static int run_open(val_run *v, y5_val_result *res, char *err, size_t errlen) {
    const y5_val_opts *o = v->o;
    const int n = v->set.n;
    y5_engine_opts eo = {o->device, o->threads};
    v->e = y5_engine_open(o->weights, &eo, err, errlen);
    if (!v->e) return -1;
    v->stride = y5_engine_stride(v->e);
    v->imgsz = o->imgsz > 0 ? o->imgsz : y5_engine_imgsz(v->e);
    if (v->imgsz % v->stride) {
        int r = (v->imgsz + v->stride - 1) / v->stride * v->stride;
        if (o->log) fprintf(o->log, "WARNING: --imgsz %d must be multiple of max stride %d, updating to %d\n", v->imgsz,
                            v->stride, r);
        v->imgsz = r;
    }
    const int nc = v->nc = y5_engine_nc(v->e);
    if (v->set.nc && v->set.nc != nc) {
        snprintf(err, errlen, "%s (%d classes) trained on different --data than what you passed (%d classes)", o->weights, nc,
                 v->set.nc);
        return -1;
    }
    res->nc = nc;
    res->names = calloc((size_t)nc, sizeof *res->names);
    res->nt_all = calloc((size_t)nc + 1, sizeof(int));
    v->stats = y5_map_stats_create();
    v->order = malloc((size_t)n * sizeof(int));
    v->shapes = malloc((size_t)v->nb * sizeof *v->shapes);
    int *wv = malloc((size_t)n * sizeof(int)), *hv = malloc((size_t)n * sizeof(int));
    v->slots = calloc((size_t)v->B, sizeof *v->slots);
    v->max_det = o->max_det > 0 ? o->max_det : 300;
    v->dets = malloc((size_t)v->max_det * sizeof(y5_det));
    int max_nl = 1;
    for (int i = 0; i < n; i++) max_nl = v->set.it[i].nl > max_nl ? v->set.it[i].nl : max_nl;
    v->labs = malloc((size_t)max_nl * sizeof(y5_map_label));
    if (!res->names || !res->nt_all || !v->stats || !v->order || !v->shapes || !wv || !hv || !v->slots || !v->dets ||
        !v->labs) {
        free(wv);
        free(hv);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char(*names)[64] = y5_engine_names(v->e);
    for (int c = 0; c < nc; c++) snprintf(res->names[c], 64, "%s", names[c]);
    for (int i = 0; i < n; i++) {
        wv[i] = v->set.it[i].w;
        hv[i] = v->set.it[i].h;
    }
    y5_val_rect_batches(wv, hv, n, v->imgsz, v->B, v->stride, VAL_PAD, v->order, v->shapes);
    free(wv);
    free(hv);
    y5_engine_set_lazy_cls(v->e, o->conf);
    if (o->save_json) y5_val_json_begin(&v->js);

    y5_nms_defaults(&v->nmso);
    v->nmso.conf_thres = o->conf;
    v->nmso.iou_thres = o->iou;
    v->nmso.max_det = v->max_det;
    v->nmso.max_nms = 30000;
    v->nmso.multi_label = 1;
    return 0;
}

/* Image j of the batch into slot j of the engine's input (BW x BH): decode,
 * load_image's resize, letterbox. An image that fails to decode is counted,
 * warned about and fed as plain padding. Returns -1 (with err) only on a
 * fatal error. */
static int preprocess_image(val_run *v, int j, const y5_val_item *it, int BW, int BH, float *input, char *err,
                            size_t errlen) {
    slot_info *si = &v->slots[j];
    char ierr[1024];
    y5_image img;
    double t0 = y5_now_ms();
    memset(si, 0, sizeof *si);
    if (y5_image_load(it->img, &img, ierr, sizeof ierr) == 0) {
        si->w0 = img.w;
        si->h0 = img.h;
        if (load_resize(&img, v->imgsz)) {
            y5_image_free(&img);
            snprintf(ierr, sizeof ierr, "%s: out of memory", it->img);
        } else {
            si->ok = 1;
        }
    }
    double t1 = y5_now_ms();
    v->t_load += t1 - t0;
    if (!si->ok) {
        fprintf(stderr, "yolov5c val: warning: %s (scored as an image without detections)\n", ierr);
        v->n_failed++;
        const size_t px = (size_t)BW * BH * 3;
        for (size_t q = 0; q < px; q++) input[(size_t)j * px + q] = 114.0f / 255.0f;
        return 0;
    }
    /* letterbox(img, (BH, BW), auto=False, scaleup=False): always BW x BH */
    y5_letterbox_geom g;
    y5_letterbox_plan_fixed(img.w, img.h, BH, BW, 0, &g);
    if (y5_engine_put_image(v->e, j, &img, &g, err, errlen)) { y5_image_free(&img); return -1; }
    si->gain = (float)((double)img.h / si->h0);
    si->padw = (float)((g.out_w - g.new_w) / 2.0); /* letterbox's returned (dw, dh) */
    si->padh = (float)((g.out_h - g.new_h) / 2.0);
    si->lw = (float)(g.r * img.w);
    si->lh = (float)(g.r * img.h);
    y5_image_free(&img);
    v->t_pre += y5_now_ms() - t1;
    return 0;
}

/* Image j of the batch scored: NMS on its predictions (none when it failed
 * to decode), boxes and labels to original pixels, val.py's stats and, with
 * --save-json, its COCO records. Returns 0 or -1 (memory, err set). */
static int score_image(val_run *v, int j, const y5_val_item *it, const float *pred, int rows, int no, int BW, int BH,
                       y5_val_result *res, char *err, size_t errlen) {
    const slot_info *si = &v->slots[j];
    y5_det *dets = v->dets;
    y5_map_label *labs = v->labs;
    double t4 = y5_now_ms();
    int npr = 0;
    if (si->ok) {
        npr = y5_nms(v->ws, pred + (size_t)j * rows * no, rows, no - 5, &v->nmso, dets, v->max_det);
        if (npr < 0) { snprintf(err, errlen, "out of memory in NMS"); return -1; }
    }
    v->t_nms += y5_now_ms() - t4;
    for (int i = 0; i < npr; i++)
        scale_ratio_pad(&dets[i].x1, &dets[i].y1, &dets[i].x2, &dets[i].y2, si->gain, si->padw, si->padh, (float)si->w0,
                        (float)si->h0);
    if (si->ok) {
        labels_to_pixels(it, si->lw, si->lh, si->padw, si->padh, BW, BH, si->gain, si->w0, si->h0, labs);
    } else {
        for (int i = 0; i < it->nl; i++) labs[i].cls = (int)it->lb[(size_t)i * 5];
    }
    for (int i = 0; i < it->nl; i++) {
        const int c = labs[i].cls;
        if (c >= 0 && c < v->nc) res->nt_all[c]++;
    }
    if (y5_map_stats_add(v->stats, dets, npr, labs, it->nl)) { snprintf(err, errlen, "out of memory"); return -1; }
    if (v->o->save_json && npr > 0) y5_val_json_image(&v->js, it->img, dets, npr, v->nc, &v->json_count);
    return 0;
}

/* Batch k: preprocess its images, one forward, score each image. */
static int run_batch(val_run *v, int k, y5_val_result *res, char *err, size_t errlen) {
    const int n = v->set.n, lo = k * v->B, cnt = (lo + v->B < n ? lo + v->B : n) - lo;
    const int BH = v->shapes[k][0], BW = v->shapes[k][1];
    if (y5_engine_plan(v->e, cnt, BH, BW, err, errlen)) return -1;
    float *input = y5_engine_input(v->e);
    for (int j = 0; j < cnt; j++)
        if (preprocess_image(v, j, &v->set.it[v->order[lo + j]], BW, BH, input, err, errlen)) return -1;
    double t2 = y5_now_ms();
    if (y5_engine_forward(v->e, err, errlen)) return -1;
    v->t_inf += y5_now_ms() - t2;
    int rows, no;
    const float *pred = y5_engine_pred(v->e, &rows, &no);
    if (!v->ws && !(v->ws = y5_nms_ws_create(rows, no - 5, 1))) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int j = 0; j < cnt; j++)
        if (score_image(v, j, &v->set.it[v->order[lo + j]], pred, rows, no, BW, BH, res, err, errlen)) return -1;
    return 0;
}

/* After the last batch: ap_per_class, the timings, the table and speed
 * lines, the JSON file. Returns 0 or -1. */
static int run_finish(val_run *v, y5_val_result *res, char *err, size_t errlen) {
    const y5_val_opts *o = v->o;
    const y5_val_set *set = &v->set;
    const int n = set->n;
    if (y5_map_compute(v->stats, &res->m)) { snprintf(err, errlen, "out of memory"); return -1; }
    res->ms_load = v->t_load / n;
    res->ms_pre = v->t_pre / n;
    res->ms_inf = v->t_inf / n;
    res->ms_nms = v->t_nms / n;
    res->n_json = v->json_count;
    if (o->log) {
        y5_val_print(o->log, res);
        fprintf(o->log, "Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape (%d, 3, %d, %d)"
                        " (image decoding %.1fms per image, not included, as val.py's dataloader)\n",
                res->ms_pre, res->ms_inf, res->ms_nms, v->B, v->imgsz, v->imgsz, res->ms_load);
        if (set->n_missing || set->n_empty || set->n_corrupt || set->n_dup)
            fprintf(o->log, "labels: %d found, %d missing, %d empty, %d corrupt, %d with duplicates removed\n",
                    set->n - set->n_missing - set->n_empty, set->n_missing, set->n_empty, set->n_corrupt, set->n_dup);
    }
    if (o->save_json) {
        if (y5_val_json_save(&v->js, o->save_json, err, errlen)) return -1;
        if (o->log) fprintf(o->log, "Saving %s... (%d detections)\n", o->save_json, v->json_count);
    }
    return 0;
}

int y5_val_run(const y5_val_opts *o, y5_val_result *res, char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    if (!o->weights || !o->data) { snprintf(err, errlen, "--weights and --data are required"); return -1; }
    if (o->imgsz && (o->imgsz < 32 || o->imgsz % 32)) {
        snprintf(err, errlen, "--imgsz %d: must be a multiple of 32", o->imgsz);
        return -1;
    }
    val_run v = {.o = o, .B = o->batch > 0 ? o->batch : 1};
    if (y5_val_load_set(o->data, o->max_images, &v.set, err, errlen)) return -1;
    v.nb = (v.set.n + v.B - 1) / v.B;
    int rc = -1;
    if (run_open(&v, res, err, errlen)) goto done;
    for (int k = 0; k < v.nb; k++)
        if (run_batch(&v, k, res, err, errlen)) goto done;
    if (run_finish(&v, res, err, errlen)) goto done;
    rc = v.n_failed ? 1 : 0;
    if (v.n_failed) snprintf(err, errlen, "%d image(s) could not be read", v.n_failed);
done:
    if (rc < 0) y5_val_result_free(res);
    run_close(&v);
    return rc;
}

/* ----------------------------------------------------------------- table */

void y5_val_print(FILE *f, const y5_val_result *r) {
    const y5_map_result *m = &r->m;
    fprintf(f, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95");
    fprintf(f, "%22s%11i%11i%11.3g%11.3g%11.3g%11.3g\n", "all", m->seen, m->n_labels, m->mp, m->mr, m->map50, m->map);
    if (m->n_labels == 0) fprintf(f, "WARNING: no labels found in val set, can not compute metrics without labels\n");
    if (r->nc > 1 && m->any_tp)
        for (int i = 0; i < m->n_cls; i++) {
            const int c = m->cls[i];
            char cname[64];
            if (c >= 0 && c < r->nc) snprintf(cname, sizeof cname, "%s", r->names[c]);
            else snprintf(cname, sizeof cname, "class %d", c);
            fprintf(f, "%22s%11i%11i%11.3g%11.3g%11.3g%11.3g\n", cname, m->seen, m->nt[i], m->p[i], m->r[i], m->ap50[i],
                    m->ap[i]);
        }
}
