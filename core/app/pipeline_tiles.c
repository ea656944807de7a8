/* pipeline_tiles.c - --tile: one large image as overlapping tiles.
 *
 * At --imgsz 640 a 13400x9528 image is shrunk 21x and small objects vanish.
 * With --tile T --tile-overlap F the decode worker marks an image that
 * needs more than one tile (core/app/tiles.h: the grid); the engine thread
 * that takes it (alone: pipeline_batch.c) first runs the usual full-image
 * pass unless --no-tile-full (it finds the objects larger than a tile,
 * which every tile sees only in pieces), then cuts the tiles, B (--batch)
 * per forward, each letterboxed from T x T to the network size like an
 * image of its own, NMS'd per tile, its boxes moved by the tile's origin,
 * and finally merges every pass by class-aware NMS over the whole image
 * (core/post/nms.h: y5_nms_merge), where the fragments a tile border cut
 * (boxes on an inner tile side) merge with the box of their whole object,
 * and keeps --max-det.
 *
 * The tiles are cut here, on the engine thread, a batch at a time, rather
 * than by the decode worker: a 13400x9528 image at 640 with 0.2 overlap is
 * 27 x 19 = 513 tiles, 630 MB of network input if they all waited in the
 * slot, against 1.2 MB per tile here. An image that fits one tile is not
 * tiled at all (the same boxes as without --tile). */
#include "core/app/pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/tiles.h"
#include "core/base/clock.h"
#include "core/post/nms.h"

int y5_pipe_tile_count(const y5_pipe *p, int w, int h) {
    const y5_pipeline_opts *o = p->o;
    if (o->tile <= 0) return 1;
    return y5_tile_origins(w, o->tile, o->tile_overlap, NULL) * y5_tile_origins(h, o->tile, o->tile_overlap, NULL);
}

/* A box of a tile closer than this to one of the tile's sides that lies
 * inside the image is a fragment (the border cut its object): boxes are
 * clipped to the tile, so a cut object's box ends on the side. */
#define CUT_EPS 2.0f
/* Intersection over the smaller box above which a fragment and a box of
 * its class are one object (nms_merge.c). Chosen on bench/giant.sh's
 * labelled mosaic (bench/results/giant.md). */
#define TILE_IOS 0.5f

/* Appends n detections of the tw x th tile at (dx, dy) of a W x H image,
 * moved into image pixels, to it->dets, and their fragment flags to
 * (*cut)[] (0 for the dets already there: the full-image pass). 0, or -1
 * out of memory. */
static int append(y5_pipe_item *it, int *cap, unsigned char **cut, const y5_det *d, int n, int dx, int dy, int tw,
                  int th, int W, int H) {
    if (it->n_dets + n > *cap || !*cut) {
        int nc = *cap ? *cap : 256;
        while (nc < it->n_dets + n) nc *= 2;
        y5_det *q = realloc(it->dets, sizeof(y5_det) * (size_t)nc);
        if (!q) return -1;
        it->dets = q;
        unsigned char *c = realloc(*cut, (size_t)nc);
        if (!c) return -1;
        if (!*cut) memset(c, 0, (size_t)it->n_dets); /* the full-image pass: whole boxes */
        *cut = c;
        *cap = nc;
    }
    for (int i = 0; i < n; i++) {
        y5_det x = d[i];
        const float box[4] = {x.x1, x.y1, x.x2, x.y2};
        const unsigned char f = (unsigned char)y5_tile_cut_sides(box, dx, dy, tw, th, W, H, CUT_EPS);
        x.x1 += (float)dx;
        x.x2 += (float)dx;
        x.y1 += (float)dy;
        x.y2 += (float)dy;
        (*cut)[it->n_dets] = f;
        it->dets[it->n_dets++] = x;
    }
    return 0;
}

int y5_pipe_run_tiles(y5_pipe_engine *E, y5_pipe_item *it, double *acc, char *err, size_t errlen) {
    y5_pipe *p = E->p;
    const y5_pipeline_opts *o = p->o;
    const int W = it->img.w, H = it->img.h, T = o->tile, B = o->batch;
    const int tw = W < T ? W : T, th = H < T ? H : T;
    int nx = y5_tile_origins(W, T, o->tile_overlap, NULL), ny = y5_tile_origins(H, T, o->tile_overlap, NULL);
    int *xs = malloc(sizeof(int) * (size_t)nx), *ys = malloc(sizeof(int) * (size_t)ny);
    y5_image tile = {tw, th, malloc((size_t)tw * th * 3)};
    int cap = it->n_dets, rc = -1;
    unsigned char *cut = NULL; /* fragment flags, parallel to it->dets */
    if (!xs || !ys || !tile.px) { snprintf(err, errlen, "out of memory for the tiles"); goto out; }
    y5_tile_origins(W, T, o->tile_overlap, xs);
    y5_tile_origins(H, T, o->tile_overlap, ys);
    y5_letterbox_geom g;
    y5_letterbox_plan(tw, th, p->imgsz_h, p->imgsz_w, !o->det.square, p->stride, &g);
    const int n = nx * ny;
    for (int t0 = 0; t0 < n; t0 += B) {
        const int k = n - t0 < B ? n - t0 : B;
        double ta = y5_now_s();
        if (y5_engine_plan(E->e, k, g.out_h, g.out_w, err, errlen)) goto out;
        for (int i = 0; i < k; i++) { /* cut and letterbox each tile into its batch slot */
            const int x0 = xs[(t0 + i) % nx], y0 = ys[(t0 + i) / nx];
            for (int r = 0; r < th; r++)
                memcpy(tile.px + (size_t)r * tw * 3, it->img.px + ((size_t)(y0 + r) * W + x0) * 3, (size_t)tw * 3);
            if (y5_engine_put_image(E->e, i, &tile, &g, err, errlen)) goto out;
        }
        double tb = y5_now_s();
        if (y5_engine_forward(E->e, err, errlen)) goto out;
        double tc = y5_now_s();
        for (int i = 0; i < k; i++) {
            const int x0 = xs[(t0 + i) % nx], y0 = ys[(t0 + i) / nx];
            int nd = y5_engine_nms(E->e, i, &o->det.nms, tw, th, E->dets, o->det.nms.max_det);
            if (nd < 0 || append(it, &cap, &cut, E->dets, nd, x0, y0, tw, th, W, H)) {
                snprintf(err, errlen, "out of memory in NMS");
                goto out;
            }
        }
        double td = y5_now_s();
        acc[Y5_ST_LETTERBOX] += tb - ta;
        acc[Y5_ST_FORWARD] += tc - tb;
        acc[Y5_ST_NMS] += td - tc;
        E->busy += td - ta;
        E->fwd_s += tc - tb;
        E->batches++;
    }
    double tm = y5_now_s();
    int kept = y5_nms_merge(it->dets, cut, it->n_dets, o->det.nms.iou_thres, TILE_IOS, o->det.nms.agnostic,
                            o->det.nms.max_det);
    if (kept < 0) { snprintf(err, errlen, "out of memory in NMS"); goto out; }
    it->n_dets = kept;
    acc[Y5_ST_NMS] += y5_now_s() - tm;
    E->busy += y5_now_s() - tm;
    rc = 0;
out:
    free(cut);
    free(xs);
    free(ys);
    free(tile.px);
    return rc;
}
