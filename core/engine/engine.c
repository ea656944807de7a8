/* engine.c - the public engine API: weights -> backend -> planned graph.
 *
 * Device-neutral: the backend comes from the registry (y5_backend_open), a
 * forward is one compute call over the plan's op list, and letterbox / NMS
 * run on the backend when it has those entries, else here on the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/clock.h"
#include "core/engine/engine.h"
#include "core/image/letterbox.h"
#include "layers/layers.h"

y5_engine *y5_engine_open(const char *weights, const y5_engine_opts *o, char *err, size_t errlen) {
    y5_engine_opts def = {0};
    if (!o) o = &def;
    y5_engine *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, errlen, "out of memory"); return NULL; }
    e->fault_in = -1;
    /* the device's libraries (CUDA: cuBLAS, 0.1 s) load on their own thread
     * while the weights are read (cuda/cublas_dl.cu says what else it can
     * overlap) */
    y5_backend_preload(o->device);
    const double t0 = y5_now_s();
    if (y5w_open(weights, &e->wf, err, errlen)) { free(e); return NULL; }
    const double t1 = y5_now_s();
    e->be = y5_backend_open(o->device, o->threads, err, errlen);
    if (!e->be) { y5w_close(&e->wf); free(e); return NULL; }
    const double t2 = y5_now_s();
    char gerr[512];
    if (y5_graph_load(&e->g, e->be, &e->wf.desc, y5_layer_table, gerr, sizeof gerr) || y5_graph_check(&e->g)) {
        snprintf(err, errlen, "%s: %s", weights, gerr);
        y5_engine_close(e);
        return NULL;
    }
    e->open_s[0] = t1 - t0;
    e->open_s[1] = t2 - t1;
    e->open_s[2] = y5_now_s() - t2;
    return e;
}

void y5_engine_close(y5_engine *e) {
    if (!e) return;
    y5_graph_free(&e->g);
    if (e->be) e->be->ops->destroy(e->be);
    y5w_close(&e->wf);
    y5_nms_ws_destroy(e->nms_ws);
    free(e->lb);
    free(e->lb_scratch);
    free(e->bops);
    free(e);
}

const y5_model_desc *y5_engine_desc(const y5_engine *e) { return &e->wf.desc; }
int y5_engine_has_input_u8(const y5_engine *e) { return e->be->ops->input_host_u8 != NULL; }

const y5_graph *y5_engine_graph(const y5_engine *e) { return &e->g; }
int y5_engine_nc(const y5_engine *e) { return (int)e->wf.desc.nc; }
int y5_engine_stride(const y5_engine *e) { return y5w_max_stride(&e->wf.desc); }
int y5_engine_imgsz(const y5_engine *e) { return y5w_imgsz(&e->wf.desc); }
const char (*y5_engine_names(const y5_engine *e))[64] { return (const char(*)[64])e->wf.desc.names; }

void y5_engine_set_lazy_cls(y5_engine *e, float obj_min) {
    e->lazy_obj_min = obj_min;
    e->g.det.lazy_obj_min = obj_min;
}

/* The graph's planned ops as the backend's op list (backend.h): same order,
 * resolved views, conv handles. */
static int backend_plan(y5_engine *e, char *err, size_t errlen) {
    const y5_graph *g = &e->g;
    if (g->n_ops > e->bops_cap) {
        y5_backend_op *p = realloc(e->bops, (size_t)g->n_ops * sizeof *p);
        if (!p) { snprintf(err, errlen, "out of memory"); return -1; }
        e->bops = p;
        e->bops_cap = g->n_ops;
    }
    static const y5_backend_op_kind kinds[] = {
        [Y5_OP_CONV] = Y5_BE_CONV, [Y5_OP_MAXPOOL] = Y5_BE_MAXPOOL, [Y5_OP_UPSAMPLE] = Y5_BE_UPSAMPLE,
        [Y5_OP_COPY] = Y5_BE_COPY, [Y5_OP_DECODE] = Y5_BE_DECODE,
    };
    for (int i = 0; i < g->n_ops; i++) {
        const y5_op *op = &g->ops[i];
        y5_backend_op *d = &e->bops[i];
        memset(d, 0, sizeof *d);
        d->kind = kinds[op->kind];
        d->conv = op->kind == Y5_OP_CONV ? g->convs[op->conv].handle : NULL;
        d->act = op->act;
        d->slope = op->slope;
        d->has_res = op->has_res;
        d->k = op->k;
        d->scale = op->scale;
        d->det = op->kind == Y5_OP_DECODE ? &e->g.det : NULL;
        memcpy(d->in, op->vin, sizeof d->in);
        d->out = op->vout;
        d->res = op->vres;
    }
    e->bplan.ops = e->bops;
    e->bplan.n_ops = g->n_ops;
    e->bplan.input = (y5_view){g->bufs[g->input_buf].off, g->n, g->h, g->w, 3, 3};
    return 0;
}

int y5_engine_plan(y5_engine *e, int n, int h, int w, char *err, size_t errlen) {
    if (e->planned && e->n == n && e->h == h && e->w == w) return 0;
    /* the model's largest stride (64 for P6): any other side would leave
     * the deepest level a fractional grid and misalign the heads */
    const int st = y5_engine_stride(e);
    if (n < 1 || h < st || w < st || h % st || w % st) {
        snprintf(err, errlen, "input %dx%dx%d: sides must be multiples of %d (the model's largest stride) and at least %d",
                 n, w, h, st, st);
        return -1;
    }
    if ((double)n * h * w > 1e9) {
        snprintf(err, errlen, "input %dx%dx%d: more than 1e9 pixels per forward (use a smaller batch or size)", n, w, h);
        return -1;
    }
    e->planned = 0;
    e->nms_queued = 0;
    size_t elems, scratch;
    e->g.err = err;
    e->g.errlen = errlen;
    e->g.det.lazy_obj_min = e->lazy_obj_min;
    if (y5_graph_plan(&e->g, n, h, w, &elems, &scratch)) return -1;
    if (backend_plan(e, err, errlen)) return -1;
    if (e->be->ops->arena(e->be, elems, scratch, (size_t)n * e->g.det.rows * e->g.det.no, err, errlen)) return -1;
    e->n = n;
    e->h = h;
    e->w = w;
    e->planned = 1;
    return 0;
}

float *y5_engine_input(y5_engine *e) {
    if (!e->planned) return NULL;
    y5_slice s = y5_graph_whole(&e->g, e->g.input_buf);
    y5_view v = {e->g.bufs[s.buf].off, e->n, e->h, e->w, 3, 3};
    return e->be->ops->input_host(e->be, &v);
}

unsigned char *y5_engine_input_u8(y5_engine *e) {
    if (!e->planned || !e->be->ops->input_host_u8) return NULL;
    y5_view v = {e->g.bufs[e->g.input_buf].off, e->n, e->h, e->w, 3, 3};
    return e->be->ops->input_host_u8(e->be, &v);
}

/* What every forward does before the backend runs it: 0, or -1 with err. */
static int forward_begin(y5_engine *e, char *err, size_t errlen) {
    if (!e->planned) { snprintf(err, errlen, "engine: forward before plan"); return -1; }
    if (e->fault_in == 0 || (e->faulted && !e->be->ops->inject_fault)) {
        e->fault_in = -1;
        e->faulted = 1;
        if (!e->be->ops->inject_fault) {
            snprintf(err, errlen, "injected device fault (Y5_FAULT_ENGINE)");
            return -1;
        }
        e->be->ops->inject_fault(e->be); /* the forward below fails as after a real fault */
    } else if (e->fault_in > 0) {
        e->fault_in--;
    }
    e->nms_queued = 0;                       /* a new pred: a queued NMS was of the old one */
    e->g.det.lazy_obj_min = e->lazy_obj_min; /* the decode ops point at g.det */
    return 0;
}

int y5_engine_forward_timed(y5_engine *e, double *op_ms, char *err, size_t errlen) {
    if (forward_begin(e, err, errlen)) return -1;
    return e->be->ops->compute(e->be, &e->bplan, op_ms, err, errlen);
}

int y5_engine_forward(y5_engine *e, char *err, size_t errlen) { return y5_engine_forward_timed(e, NULL, err, errlen); }

int y5_engine_async(const y5_engine *e) { return e->be->ops->compute_async != NULL; }

int y5_engine_forward_submit(y5_engine *e, char *err, size_t errlen) {
    if (!y5_engine_async(e)) return y5_engine_forward(e, err, errlen);
    if (forward_begin(e, err, errlen)) return -1;
    return e->be->ops->compute_async(e->be, &e->bplan, err, errlen);
}

int y5_engine_healthy(y5_engine *e) {
    if (e->faulted && !e->be->ops->inject_fault) return 0;
    return e->be->ops->healthy ? e->be->ops->healthy(e->be) : 1;
}

void y5_engine_inject_fault(y5_engine *e, long long n) { e->fault_in = n >= 0 ? n : -1; }

int y5_engine_input_upload(y5_engine *e, char *err, size_t errlen) {
    if (!e->planned || !e->be->ops->input_upload) return 0;
    return e->be->ops->input_upload(e->be, &e->bplan.input, err, errlen);
}

int y5_engine_forward_wait(y5_engine *e, char *err, size_t errlen) {
    return y5_engine_async(e) ? e->be->ops->sync(e->be, err, errlen) : 0;
}

const float *y5_engine_pred(y5_engine *e, int *rows, int *no) {
    if (!e->planned) return NULL;
    if (rows) *rows = e->g.det.rows;
    if (no) *no = e->g.det.no;
    return e->be->ops->pred_host(e->be, (size_t)e->n * e->g.det.rows * e->g.det.no);
}

double y5_engine_flops(const y5_engine *ec, int h, int w) {
    y5_engine *e = (y5_engine *)ec;
    char err[256];
    int n = e->n, ph = e->h, pw = e->w, was = e->planned;
    size_t elems, scratch;
    e->g.err = err;
    e->g.errlen = sizeof err;
    if (y5_graph_plan(&e->g, 1, h, w, &elems, &scratch)) {
        e->planned = 0; /* the graph holds the failed plan now: re-plan the old shape */
        if (was) y5_engine_plan(e, n, ph, pw, err, sizeof err);
        return -1;
    }
    double f = 0;
    for (int i = 0; i < e->g.n_ops; i++) f += y5_op_flops(&e->g, &e->g.ops[i]);
    e->planned = 0;
    if (was) y5_engine_plan(e, n, ph, pw, err, sizeof err);
    return f;
}

void y5_detect_defaults(y5_detect_opts *o) {
    memset(o, 0, sizeof *o);
    o->imgsz_h = o->imgsz_w = 640;
    y5_nms_defaults(&o->nms);
}

int y5_engine_nms(y5_engine *e, int b, const y5_nms_opts *o, int w0, int h0, y5_det *out, int max_out) {
    if (e->planned && e->be->ops->nms) {
        char err[512];
        int n = e->be->ops->nms(e->be, b, e->g.det.rows, e->g.det.no, o, out, max_out, err, sizeof err);
        if (n < 0) fprintf(stderr, "yolov5c: %s\n", err);
        if (n > 0) y5_scale_boxes(out, n, e->h, e->w, h0, w0);
        return n;
    }
    int rows, no;
    const float *pred = y5_engine_pred(e, &rows, &no);
    if (!pred) return -1;
    if (!e->nms_ws || e->nms_rows < rows || e->nms_multi != o->multi_label) {
        y5_nms_ws_destroy(e->nms_ws);
        e->nms_ws = y5_nms_ws_create(rows, no - 5, o->multi_label);
        if (!e->nms_ws) return -1;
        e->nms_rows = rows;
        e->nms_multi = o->multi_label;
    }
    int n = y5_nms(e->nms_ws, pred + (size_t)b * rows * no, rows, no - 5, o, out, max_out);
    if (n > 0) y5_scale_boxes(out, n, e->h, e->w, h0, w0);
    return n;
}

int y5_engine_nms_submit(y5_engine *e, const y5_nms_opts *o, int max_out, char *err, size_t errlen) {
    e->nms_queued = 0;
    if (!e->planned || !e->be->ops->nms_submit || !e->be->ops->nms_take) return 0;
    y5_nms_opts def;
    if (!o) { y5_nms_defaults(&def); o = &def; }
    int rc = e->be->ops->nms_submit(e->be, e->n, e->g.det.rows, e->g.det.no, o, max_out, err, errlen);
    if (rc < 0) return -1;
    if (rc > 0) {
        e->nms_queued = 1;
        e->nms_q_opts = *o;
        e->nms_q_max_out = max_out;
    }
    return 0;
}

/* Options equal field by field (the class list by address: the caller
 * passes the same options to submit and take). */
static int same_nms_opts(const y5_nms_opts *a, const y5_nms_opts *b) {
    return a->conf_thres == b->conf_thres && a->iou_thres == b->iou_thres && a->max_det == b->max_det &&
           a->max_nms == b->max_nms && a->agnostic == b->agnostic && a->multi_label == b->multi_label &&
           a->n_classes == b->n_classes && (a->n_classes <= 0 || a->classes == b->classes);
}

int y5_engine_nms_take(y5_engine *e, int b, const y5_nms_opts *o, int w0, int h0, y5_det *out, int max_out) {
    if (!e->nms_queued || !o || !same_nms_opts(o, &e->nms_q_opts) || max_out > e->nms_q_max_out || b < 0 ||
        b >= e->n)
        return y5_engine_nms(e, b, o, w0, h0, out, max_out);
    char err[512];
    int n = e->be->ops->nms_take(e->be, b, out, max_out, err, sizeof err);
    if (n < 0) fprintf(stderr, "yolov5c: %s\n", err);
    else e->nms_batched++;
    if (n > 0) y5_scale_boxes(out, n, e->h, e->w, h0, w0);
    return n;
}

int y5_engine_put_image(y5_engine *e, int b, const y5_image *img, const void *geom, char *err, size_t errlen) {
    const y5_letterbox_geom *g = geom;
    /* a device letterbox writes straight into the device input (the next
     * forward then skips the host staging upload) */
    if (e->be->ops->letterbox) {
        y5_view in = {e->g.bufs[e->g.input_buf].off, e->n, e->h, e->w, 3, 3};
        return e->be->ops->letterbox(e->be, &in, b, img->px, img->w, img->h, g->new_w, g->new_h, g->top, g->left, err,
                                     errlen) ? -1 : 0;
    }
    size_t px = (size_t)g->out_w * g->out_h * 3;
    if (e->lb_cap < px) {
        free(e->lb);
        e->lb = malloc(px);
        e->lb_cap = e->lb ? px : 0;
    }
    size_t sc = y5_letterbox_scratch(g);
    if (e->lb_scratch_cap < sc) {
        free(e->lb_scratch);
        e->lb_scratch = malloc(sc);
        e->lb_scratch_cap = e->lb_scratch ? sc : 0;
    }
    if (!e->lb || (sc && !e->lb_scratch)) {
        snprintf(err, errlen, "out of memory (letterbox of a %dx%d image)", img->w, img->h);
        return -1;
    }
    y5_letterbox_u8(img, g, e->lb, e->lb_scratch);
    y5_u8_to_unit_f32(e->lb, px, y5_engine_input(e) + (size_t)b * px);
    return 0;
}

int y5_detect(y5_engine *e, const y5_image *img, const y5_detect_opts *o, y5_det *out, int max_out,
              char *err, size_t errlen) {
    y5_detect_opts def;
    if (!o) { y5_detect_defaults(&def); o = &def; }
    /* imgsz 0: the model's own size; sides rounded up to the model's stride
     * (ultralytics' check_img_size), and the rect letterbox pads to it */
    const int st = y5_engine_stride(e);
    int sh = o->imgsz_h > 0 ? o->imgsz_h : y5_engine_imgsz(e), sw = o->imgsz_w > 0 ? o->imgsz_w : y5_engine_imgsz(e);
    sh = (sh + st - 1) / st * st;
    sw = (sw + st - 1) / st * st;
    y5_letterbox_geom g;
    y5_letterbox_plan(img->w, img->h, sh, sw, !o->square, st, &g);
    if (y5_engine_plan(e, 1, g.out_h, g.out_w, err, errlen)) return -1;
    y5_engine_set_lazy_cls(e, o->nms.conf_thres);
    if (y5_engine_put_image(e, 0, img, &g, err, errlen)) return -1;
    if (y5_engine_forward(e, err, errlen)) return -1;
    int n = y5_engine_nms(e, 0, &o->nms, img->w, img->h, out, max_out);
    if (n < 0) snprintf(err, errlen, "out of memory in NMS");
    return n;
}
