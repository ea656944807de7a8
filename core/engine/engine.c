/* engine.c - the public engine API: weights -> backend -> planned graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/clock.h"
#include "core/base/debug_env.h"
#include "core/engine/engine.h"
#include "core/image/letterbox.h"
#include "layers/layers.h"
#ifdef Y5_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif

y5_engine *y5_engine_open(const char *weights, const y5_engine_opts *o, char *err, size_t errlen) {
    y5_engine_opts def = {0};
    if (!o) o = &def;
    y5_engine *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, errlen, "out of memory"); return NULL; }
    if (y5w_open(weights, &e->wf, err, errlen)) { free(e); return NULL; }
    const char *dev = o->device && *o->device ? o->device : "cpu";
    if (!strcmp(dev, "cpu")) {
        e->be = y5_backend_cpu_create(o->threads, err, errlen);
    } else if (!strncmp(dev, "cuda", 4) || (dev[0] >= '0' && dev[0] <= '9')) {
#ifdef Y5_HAVE_CUDA
        /* "cuda", "cuda:N" or "N" */
        const char *num = dev[0] == 'c' ? (dev[4] == ':' ? dev + 5 : dev + 4) : dev;
        char *end = NULL;
        long idx = *num ? strtol(num, &end, 10) : 0;
        if (*num && (end == num || *end || idx < 0 || idx > 1024))
            snprintf(err, errlen, "--device %s: expected cpu, cuda, cuda:N or N", dev);
        else
            e->be = y5_backend_cuda_create((int)idx, err, errlen);
#else
        snprintf(err, errlen, "--device %s: this build has no CUDA backend (build with nvcc present, see README)", dev);
#endif
    } else {
        snprintf(err, errlen, "--device %s: unknown device (use cpu, cuda or cuda:N)", dev);
    }
    if (!e->be) { y5w_close(&e->wf); free(e); return NULL; }
    char gerr[512];
    if (y5_graph_load(&e->g, e->be, &e->wf.desc, y5_layer_table, gerr, sizeof gerr)) {
        snprintf(err, errlen, "%s: %s", weights, gerr);
        y5_engine_close(e);
        return NULL;
    }
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
    free(e);
}

const y5_model_desc *y5_engine_desc(const y5_engine *e) { return &e->wf.desc; }
const y5_graph *y5_engine_graph(const y5_engine *e) { return &e->g; }
int y5_engine_nc(const y5_engine *e) { return (int)e->wf.desc.nc; }
const char (*y5_engine_names(const y5_engine *e))[64] { return (const char(*)[64])e->wf.desc.names; }

void y5_engine_set_lazy_cls(y5_engine *e, float obj_min) {
    e->lazy_obj_min = obj_min;
    e->g.det.lazy_obj_min = obj_min;
}

int y5_engine_plan(y5_engine *e, int n, int h, int w, char *err, size_t errlen) {
    if (e->planned && e->n == n && e->h == h && e->w == w) return 0;
    if (n < 1 || h < 32 || w < 32 || h % 32 || w % 32) {
        snprintf(err, errlen, "input %dx%dx%d: sides must be multiples of 32 and at least 32", n, w, h);
        return -1;
    }
    if ((double)n * h * w > 1e9) {
        snprintf(err, errlen, "input %dx%dx%d: more than 1e9 pixels per forward (use a smaller batch or size)", n, w, h);
        return -1;
    }
    e->planned = 0;
    size_t elems, scratch;
    e->g.err = err;
    e->g.errlen = errlen;
    e->g.det.lazy_obj_min = e->lazy_obj_min;
    if (y5_graph_plan(&e->g, n, h, w, &elems, &scratch)) return -1;
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


static void run_op(y5_engine *e, const y5_op *op) {
    y5_backend *b = e->be;
    switch (op->kind) {
    case Y5_OP_CONV:
        b->ops->conv(b, e->g.convs[op->conv].handle, &op->vin[0], &op->vout, op->has_res ? &op->vres : NULL, op->silu);
        break;
    case Y5_OP_MAXPOOL: b->ops->maxpool(b, &op->vin[0], &op->vout, op->k); break;
    case Y5_OP_UPSAMPLE: b->ops->upsample(b, &op->vin[0], &op->vout, op->scale); break;
    case Y5_OP_COPY: b->ops->copy(b, &op->vin[0], &op->vout); break;
    case Y5_OP_DECODE: {
        e->g.det.lazy_obj_min = e->lazy_obj_min;
        b->ops->decode(b, op->vin, &e->g.det);
        break;
    }
    }
}

int y5_engine_forward_timed(y5_engine *e, double *op_ms, char *err, size_t errlen) {
    if (!e->planned) { snprintf(err, errlen, "engine: forward before plan"); return -1; }
    y5_view in = {e->g.bufs[e->g.input_buf].off, e->n, e->h, e->w, 3, 3};
#ifdef Y5_HAVE_CUDA
    /* CUDA: replay the forward captured for this plan (captured on first use) */
    if (!op_ms && y5_cuda_is(e->be) && !y5_debug_env()->no_cuda_graph) {
        int r = y5_cuda_graph_launch(e->be, e->lazy_obj_min, err, errlen);
        if (r < 0) return -1;
        if (r == 0) {
            if (y5_cuda_graph_begin(e->be, err, errlen)) return -1;
            if (e->be->ops->input_commit(e->be, &in, err, errlen)) {
                y5_cuda_graph_end(e->be, NULL, 0);
                return -1;
            }
            for (int i = 0; i < e->g.n_ops; i++) run_op(e, &e->g.ops[i]);
            if (y5_cuda_graph_end(e->be, err, errlen)) return -1;
        }
        return e->be->ops->sync(e->be, err, errlen);
    }
#endif
    if (e->be->ops->input_commit(e->be, &in, err, errlen)) return -1;
    for (int i = 0; i < e->g.n_ops; i++) {
        double t0 = op_ms ? y5_now_ms() : 0;
        run_op(e, &e->g.ops[i]);
        if (op_ms) {
            if (e->be->ops->sync(e->be, err, errlen)) return -1;
            op_ms[i] = y5_now_ms() - t0;
        }
    }
    return e->be->ops->sync(e->be, err, errlen);
}

int y5_engine_forward(y5_engine *e, char *err, size_t errlen) { return y5_engine_forward_timed(e, NULL, err, errlen); }

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
#ifdef Y5_HAVE_CUDA
    if (e->planned && y5_cuda_is(e->be) && !y5_debug_env()->cpu_nms) {
        char err[512];
        int n = y5_cuda_nms(e->be, b, e->g.det.rows, e->g.det.no, o, out, max_out, err, sizeof err);
        if (n < 0) fprintf(stderr, "yolov5c: %s\n", err);
        if (n > 0) y5_scale_boxes(out, n, e->h, e->w, h0, w0);
        return n;
    }
#endif
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

int y5_engine_put_image(y5_engine *e, int b, const y5_image *img, const void *geom, char *err, size_t errlen) {
    const y5_letterbox_geom *g = geom;
#ifdef Y5_HAVE_CUDA
    /* CUDA: u8 upload + letterbox on the GPU, straight into the half input
     * (the next forward then skips the host staging upload) */
    if (y5_cuda_is(e->be) && !y5_debug_env()->cpu_letterbox) {
        y5_view in = {e->g.bufs[e->g.input_buf].off, e->n, e->h, e->w, 3, 3};
        return y5_cuda_letterbox(e->be, &in, b, img->px, img->w, img->h, g->new_w, g->new_h, g->top, g->left, err,
                                 errlen) ? -1 : 0;
    }
#endif
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
    y5_letterbox_geom g;
    y5_letterbox_plan(img->w, img->h, o->imgsz_h, o->imgsz_w, !o->square, 32, &g);
    if (y5_engine_plan(e, 1, g.out_h, g.out_w, err, errlen)) return -1;
    y5_engine_set_lazy_cls(e, o->nms.conf_thres);
    if (y5_engine_put_image(e, 0, img, &g, err, errlen)) return -1;
    if (y5_engine_forward(e, err, errlen)) return -1;
    int n = y5_engine_nms(e, 0, &o->nms, img->w, img->h, out, max_out);
    if (n < 0) snprintf(err, errlen, "out of memory in NMS");
    return n;
}
