/* nms_merge.c - class-aware NMS over detections already in image pixels:
 * the merge of --tile's passes (core/app/pipeline_tiles.c).
 *
 * Not y5_nms's offset trick (boxes shifted by class * 7680 so one greedy pass
 * is class-aware): a 13400-pixel image is wider than the offset, so boxes of
 * two classes could suppress each other. Classes are compared explicitly
 * instead; otherwise the rules are y5_nms's: stable sort by confidence
 * descending, a box is dropped when its IoU (torchvision's) with a kept box
 * of its class exceeds iou_thres, the first max_det kept.
 *
 * Fragments: an object a tile border cuts leaves, in that tile, a box of
 * the piece it saw, touching the border. Its IoU with the whole object's box
 * (from the neighbouring tile, which saw it whole, or the full-image pass)
 * is small, so plain NMS keeps both, and an object cut in two tiles leaves
 * two halves. A fragment is therefore also compared by intersection over
 * the smaller box (SAHI's "IOS"): above ios_thres the two are one object and
 * merge into the kept box, as their union (the whole box already covers its
 * fragment; two halves make the whole), when the other box reaches past a
 * cut side of the fragment (it continues the cut object rather than sitting
 * beside it). Only fragments merge so: two whole boxes of one class (a
 * crowd) are never united. The union is still cut on the sides where a
 * fragment's cut side is its edge. */
#include "core/post/nms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float conf;
    int idx;
} ranked;

static int by_conf(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->conf != y->conf) return x->conf > y->conf ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx); /* stable */
}

/* 1 when `other` reaches past a cut side of fragment f (flags fc): the
 * continuation of the object the border cut, not a neighbour beside it. */
static int continues(const y5_det *f, unsigned char fc, const y5_det *other) {
    return ((fc & Y5_CUT_LEFT) && other->x1 < f->x1 - 1.0f) || ((fc & Y5_CUT_RIGHT) && other->x2 > f->x2 + 1.0f) ||
           ((fc & Y5_CUT_TOP) && other->y1 < f->y1 - 1.0f) || ((fc & Y5_CUT_BOTTOM) && other->y2 > f->y2 + 1.0f);
}

/* The cut sides of box b (flags bc) that are still sides of the union m. */
static unsigned char cut_sides(const y5_det *m, const y5_det *b, unsigned char bc) {
    unsigned char f = 0;
    if ((bc & Y5_CUT_LEFT) && m->x1 == b->x1) f |= Y5_CUT_LEFT;
    if ((bc & Y5_CUT_RIGHT) && m->x2 == b->x2) f |= Y5_CUT_RIGHT;
    if ((bc & Y5_CUT_TOP) && m->y1 == b->y1) f |= Y5_CUT_TOP;
    if ((bc & Y5_CUT_BOTTOM) && m->y2 == b->y2) f |= Y5_CUT_BOTTOM;
    return f;
}

float y5_ios(const y5_det *a, const y5_det *b) {
    const float iw = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1), ih = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
    if (!(iw > 0) || !(ih > 0)) return 0.0f;
    const float sa = (a->x2 - a->x1) * (a->y2 - a->y1), sb = (b->x2 - b->x1) * (b->y2 - b->y1);
    const float small = sa < sb ? sa : sb;
    return small > 0 ? iw * ih / small : 0.0f;
}

int y5_nms_merge(y5_det *d, const unsigned char *cut, int n, float iou_thres, float ios_thres, int agnostic,
                 int max_det) {
    if (n <= 0) return 0;
    ranked *r = malloc(sizeof(ranked) * (size_t)n);
    y5_det *kept = malloc(sizeof(y5_det) * (size_t)n);
    unsigned char *kcut = malloc((size_t)n);
    if (!r || !kept || !kcut) { free(r); free(kept); free(kcut); return -1; }
    for (int i = 0; i < n; i++) r[i] = (ranked){d[i].conf, i};
    qsort(r, (size_t)n, sizeof *r, by_conf);
    int k = 0;
    for (int i = 0; i < n && k < max_det; i++) {
        const y5_det *c = &d[r[i].idx];
        const unsigned char cc = cut ? cut[r[i].idx] : 0;
        /* suppressed by IoU against any kept box first: a duplicate must not
         * grow a neighbour it happens to meet earlier in the list */
        int drop = 0;
        for (int j = 0; j < k && !drop; j++)
            drop = (agnostic || kept[j].cls == c->cls) && y5_iou(&kept[j], c) > iou_thres;
        if (drop) continue;
        /* else one object with the kept box it overlaps most (IoS) among those
         * that continue it past a cut side, or that it continues */
        int best = -1;
        float best_ios = ios_thres;
        for (int j = 0; j < k; j++) {
            if (!agnostic && kept[j].cls != c->cls) continue;
            if (!continues(c, cc, &kept[j]) && !continues(&kept[j], kcut[j], c)) continue;
            const float v = y5_ios(&kept[j], c);
            if (v > best_ios) best_ios = v, best = j;
        }
        if (best >= 0) {
            y5_det *m = &kept[best]; /* the union, the kept box's confidence and class */
            const y5_det a = *m;
            m->x1 = fminf(a.x1, c->x1);
            m->y1 = fminf(a.y1, c->y1);
            m->x2 = fmaxf(a.x2, c->x2);
            m->y2 = fmaxf(a.y2, c->y2);
            kcut[best] = cut_sides(m, &a, kcut[best]) | cut_sides(m, c, cc);
            continue;
        }
        kcut[k] = cc;
        kept[k++] = *c;
    }
    memcpy(d, kept, sizeof(y5_det) * (size_t)k);
    free(r);
    free(kept);
    free(kcut);
    return k;
}
