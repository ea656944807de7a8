/* nms_merge.c - class-aware NMS over detections already in image pixels:
 * the merge of --tile's passes (core/app/pipeline_tiles.c).
 *
 * Not y5_nms's offset trick (boxes shifted by class * 7680 so one greedy pass
 * is class-aware): a 13400-pixel image is wider than the offset, so boxes of
 * two classes could suppress each other. Classes are compared explicitly
 * instead; otherwise the rules are y5_nms's: stable sort by confidence
 * descending, a box is dropped when its IoU (torchvision's) with a kept box
 * of its class exceeds iou_thres, the first max_det kept. */
#include "core/post/nms.h"

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

int y5_nms_merge(y5_det *d, int n, float iou_thres, int agnostic, int max_det) {
    if (n <= 0) return 0;
    ranked *r = malloc(sizeof(ranked) * (size_t)n);
    y5_det *kept = malloc(sizeof(y5_det) * (size_t)n);
    if (!r || !kept) { free(r); free(kept); return -1; }
    for (int i = 0; i < n; i++) r[i] = (ranked){d[i].conf, i};
    qsort(r, (size_t)n, sizeof *r, by_conf);
    int k = 0;
    for (int i = 0; i < n && k < max_det; i++) {
        const y5_det *c = &d[r[i].idx];
        int drop = 0;
        for (int j = 0; j < k && !drop; j++)
            drop = (agnostic || kept[j].cls == c->cls) && y5_iou(&kept[j], c) > iou_thres;
        if (!drop) kept[k++] = *c;
    }
    memcpy(d, kept, sizeof(y5_det) * (size_t)k);
    free(r);
    free(kept);
    return k;
}
