/* map.h - the detection scorer of ultralytics v7.0 val.py, pure (no I/O, no
 * engine): per-image matching (process_batch), per-class precision/recall
 * curves and AP (ap_per_class + compute_ap, 101-point 'interp'), the P/R
 * operating point at the smoothed max-F1 confidence.
 *
 *   y5_map_stats *s = y5_map_stats_create();
 *   for each image: y5_map_stats_add(s, preds, npr, labels, nl);
 *   y5_map_result r; y5_map_compute(s, &r); ... y5_map_result_free(&r);
 *
 * Predictions come in NMS order (confidence descending) and, like the labels,
 * in one pixel space (val.py: original image pixels). Arithmetic follows the
 * reference: IoU in float32 (torch box_iou, eps 1e-7), thresholds
 * torch.linspace(0.5, 0.95, 10) in float32 compared with >=, curves in
 * double with numpy's semantics (np.interp, np.trapz, pairwise sums), and
 * numpy's unstable argsort reproduced so ties order as numpy orders them. */
#ifndef Y5_MAP_H
#define Y5_MAP_H

#include <stdint.h>
#include <yolov5c.h> /* y5_det */

#define Y5_MAP_NIOU 10

/* A ground-truth box (x1 y1 x2 y2) and its class. */
typedef struct {
    float x1, y1, x2, y2;
    int cls;
} y5_map_label;

/* val.py's iouv = torch.linspace(0.5, 0.95, 10) (float32, torch's formula). */
void y5_map_iouv(float iouv[Y5_MAP_NIOU]);

/* torch box_iou of one label and one prediction, float32, eps 1e-7. */
float y5_map_box_iou(const y5_map_label *l, const y5_det *d);

/* process_batch: correct[i] gets bit t when prediction i is a true positive
 * at iouv[t]: pairs with IoU >= t and the same class, sorted by IoU
 * descending, one pair per prediction (its highest IoU), then one per label
 * (its lowest prediction index). Returns 0, -1 when out of memory. */
int y5_map_match(const y5_det *pred, int npr, const y5_map_label *lab, int nl, uint16_t *correct);

/* ---- numpy building blocks (exposed for the tests) ---- */

/* np.argsort(key) (default kind: numpy's introsort, not stable): idx[0..n). */
void y5_np_argsort(const double *key, int n, int *idx);
/* np.interp(x, xp, fp, left, right) for one x (xp non-decreasing, n >= 1). */
double y5_np_interp(double x, const double *xp, const double *fp, int n, double left, double right);
/* np.add.reduce over a contiguous double array (pairwise summation). */
double y5_np_sum(const double *a, int n);
/* compute_ap(recall, precision) of one threshold, method 'interp'. */
double y5_map_compute_ap(const double *recall, const double *precision, int n);

/* ---- accumulated statistics, val.py's `stats` ---- */

typedef struct y5_map_stats y5_map_stats;
y5_map_stats *y5_map_stats_create(void);
void y5_map_stats_free(y5_map_stats *s);

/* One image, as val.py's loop body: counts it as seen; no predictions ->
 * its labels are misses; predictions and labels -> process_batch; no
 * labels -> its predictions are false positives. Returns 0 or -1 (memory). */
int y5_map_stats_add(y5_map_stats *s, const y5_det *pred, int npr, const y5_map_label *lab, int nl);
/* The same with the match already done (correct bits per prediction). */
int y5_map_stats_add_raw(y5_map_stats *s, const uint16_t *correct, const float *conf, const int *pcls, int npr,
                         const int *tcls, int nl);

typedef struct {
    int seen;        /* images */
    int n_labels;    /* instances */
    int any_tp;      /* val.py's stats[0].any(): 0 -> every metric 0, no class rows */
    int n_cls;       /* classes scored: those present in the labels (ascending) */
    int *cls;        /* n_cls class ids */
    int *nt;         /* labels per scored class */
    double *p, *r, *f1;   /* per class at the operating point */
    double *ap50, *ap;    /* per class: AP@0.5, mean AP over 0.5:0.95 */
    double *ap_t;         /* per class x Y5_MAP_NIOU */
    double mp, mr, map50, map;
    double conf_at;  /* confidence of the operating point (px[i]) */
} y5_map_result;

/* ap_per_class over everything added. Returns 0 or -1 (memory). */
int y5_map_compute(const y5_map_stats *s, y5_map_result *r);
void y5_map_result_free(y5_map_result *r);

#endif
