/* test_map.c - the val.py scorer (core/app/map.c) on hand-made cases whose AP is
 * worked out in the comments.
 *
 * One fact shapes every expected value: compute_ap appends the point
 * (recall 1, precision 0) and integrates np.interp over x = linspace(0, 1,
 * 101) with np.trapz. At x = 1.0 np.interp returns the value of the LAST xp
 * equal to 1.0, i.e. the appended precision 0, so the last trapezoid
 * [0.99, 1] only counts half of the envelope: a perfect class scores
 * 0.99 * 1 + 0.01 * (1 + 0) / 2 = 0.995, not 1.0 (the familiar "0.995" of
 * ultralytics). Generally, an envelope constant at v over [0, 1) gives
 * 0.995 * v. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/map.h"
#include "tests/t.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

static y5_det det(float x1, float y1, float x2, float y2, float conf, int cls) {
    y5_det d = {x1, y1, x2, y2, conf, cls};
    return d;
}

static y5_map_label lab(float x1, float y1, float x2, float y2, int cls) {
    y5_map_label l = {x1, y1, x2, y2, cls};
    return l;
}

static int score(y5_map_stats *s, y5_map_result *r) {
    int rc = y5_map_compute(s, r);
    y5_map_stats_free(s);
    return rc;
}

T_TEST(map_iouv_thresholds) {
    float t[Y5_MAP_NIOU];
    y5_map_iouv(t);
    T_CHECK(t[0] == 0.5f, "%.9g", t[0]);
    T_CHECK(t[9] == 0.95f, "%.9g", t[9]);
    for (int i = 0; i < Y5_MAP_NIOU; i++) T_CHECK(NEAR(t[i], 0.5 + 0.05 * i, 1e-6), "t[%d] = %.9g", i, t[i]);
}

/* A perfect prediction set: every label found exactly, one prediction per
 * label. Two classes (0: 2 labels on image A, 1: 1 label on image B).
 * Per class: recall 1/n .. 1, precision 1 throughout -> envelope 1 on
 * [0, 1) and 0 at x = 1 -> AP 0.995 at every IoU threshold (see the top).
 * Operating point: P = 1, R = 1 for every confidence below the lowest one. */
T_TEST(map_perfect_predictions) {
    y5_map_stats *s = y5_map_stats_create();
    T_REQUIRE(s);
    y5_map_label la[2] = {lab(10, 10, 50, 60, 0), lab(100, 100, 200, 180, 0)};
    y5_det pa[2] = {det(10, 10, 50, 60, 0.9f, 0), det(100, 100, 200, 180, 0.8f, 0)};
    y5_map_label lb[1] = {lab(5, 5, 25, 25, 1)};
    y5_det pb[1] = {det(5, 5, 25, 25, 0.7f, 1)};
    T_REQUIRE(!y5_map_stats_add(s, pa, 2, la, 2));
    T_REQUIRE(!y5_map_stats_add(s, pb, 1, lb, 1));
    y5_map_result r;
    T_REQUIRE(!score(s, &r));
    T_CHECK(r.seen == 2 && r.n_labels == 3 && r.any_tp, "seen %d labels %d", r.seen, r.n_labels);
    T_REQUIRE(r.n_cls == 2, "n_cls %d", r.n_cls);
    T_CHECK(r.cls[0] == 0 && r.cls[1] == 1 && r.nt[0] == 2 && r.nt[1] == 1, "classes");
    for (int c = 0; c < 2; c++)
        for (int t = 0; t < Y5_MAP_NIOU; t++)
            T_CHECK(NEAR(r.ap_t[c * Y5_MAP_NIOU + t], 0.995, 1e-12), "class %d t %d: %.15g", c, t, r.ap_t[c * Y5_MAP_NIOU + t]);
    T_CHECK(NEAR(r.map50, 0.995, 1e-12) && NEAR(r.map, 0.995, 1e-12), "map50 %.15g map %.15g", r.map50, r.map);
    T_CHECK(NEAR(r.mp, 1.0, 1e-12) && NEAR(r.mr, 1.0, 1e-12), "P %.15g R %.15g", r.mp, r.mr);
    y5_map_result_free(&r);
}

/* One class, 2 labels; predictions by confidence: a false positive (0.9),
 * then both true positives (0.8, 0.7).
 *   tp = [0, 1, 1]: recall = [0, 1/2, 1], precision = [0, 1/2, 2/3]
 *   mrec = [0, 0, 1/2, 1, 1], mpre = [1, 0, 1/2, 2/3, 0]
 *   envelope (running max from the right) = [1, 2/3, 2/3, 2/3, 0]
 *   np.interp: x = 0 hits the last xp equal to 0 (index 1) -> 2/3; every
 *   x in (0, 1) lies between two points of value 2/3; x = 1 -> 0.
 *   trapz = 0.99 * 2/3 + 0.01 * (2/3 + 0) / 2 = 0.995 * 2/3 = 0.663333...
 * Operating point: below confidence 0.7, P = 2/3 and R = 1, F1 = 0.8, the
 * highest F1 anywhere, first reached at px = 0 -> P = 2/3, R = 1. */
T_TEST(map_false_positive_ranked_first) {
    y5_map_stats *s = y5_map_stats_create();
    T_REQUIRE(s);
    y5_map_label l[2] = {lab(0, 0, 10, 10, 3), lab(20, 20, 40, 40, 3)};
    y5_det p[3] = {det(100, 100, 120, 120, 0.9f, 3), det(0, 0, 10, 10, 0.8f, 3), det(20, 20, 40, 40, 0.7f, 3)};
    T_REQUIRE(!y5_map_stats_add(s, p, 3, l, 2));
    y5_map_result r;
    T_REQUIRE(!score(s, &r));
    T_REQUIRE(r.n_cls == 1 && r.cls[0] == 3);
    const double want = 0.995 * 2.0 / 3.0;
    T_CHECK(NEAR(r.ap50[0], want, 1e-12), "AP50 %.15g want %.15g", r.ap50[0], want);
    T_CHECK(NEAR(r.ap[0], want, 1e-12), "AP %.15g", r.ap[0]);
    T_CHECK(NEAR(r.mp, 2.0 / 3.0, 1e-12) && NEAR(r.mr, 1.0, 1e-12), "P %.15g R %.15g", r.mp, r.mr);
    T_CHECK(NEAR(r.f1[0], 0.8, 1e-12), "F1 %.15g", r.f1[0]);
    y5_map_result_free(&r);
}

/* Same box twice (0.9 and 0.8) on one label: the higher-confidence one (lower
 * index) takes the label, the copy is a false positive at every threshold.
 * recall [1, 1], precision [1, 1/2]: mrec [0, 1, 1, 1], envelope
 * [1, 1, 1/2, 0] -> interp is 1 on [0, 1), 0 at 1 -> AP 0.995. P at the
 * operating point: below 0.8 precision is 1/2 (R 1, F1 2/3); between 0.8 and
 * 0.9 the curves interpolate (precision 1 -> 1/2) and F1 is higher there, so
 * P lies in (1/2, 1] and R = 1. */
T_TEST(map_duplicate_predictions) {
    y5_map_label l[1] = {lab(10, 10, 30, 30, 0)};
    y5_det p[2] = {det(10, 10, 30, 30, 0.9f, 0), det(10, 10, 30, 30, 0.8f, 0)};
    uint16_t c[2];
    T_REQUIRE(!y5_map_match(p, 2, l, 1, c));
    T_CHECK(c[0] == 0x3ff && c[1] == 0, "correct %#x %#x", c[0], c[1]);
    y5_map_stats *s = y5_map_stats_create();
    T_REQUIRE(s && !y5_map_stats_add(s, p, 2, l, 1));
    y5_map_result r;
    T_REQUIRE(!score(s, &r));
    T_CHECK(NEAR(r.map50, 0.995, 1e-12) && NEAR(r.map, 0.995, 1e-12), "map50 %.15g", r.map50);
    T_CHECK(r.mp > 0.5 && r.mp <= 1.0 && NEAR(r.mr, 1.0, 1e-12), "P %.15g R %.15g", r.mp, r.mr);
    y5_map_result_free(&r);
}

/* process_batch's order: per prediction its best label, then per label the
 * LOWEST prediction index, even when a later prediction overlaps it more.
 * Label [0,0,100,100]; p0 (conf 0.9) = [0,0,100,62] has IoU 0.62, p1 (0.8)
 * = [0,0,100,92] IoU 0.92. Thresholds 0.5..0.6: p0 wins, p1 is a false
 * positive; 0.65..0.9: only p1 qualifies -> p1; 0.95: nobody. */
T_TEST(map_match_lowest_index_wins) {
    y5_map_label l[1] = {lab(0, 0, 100, 100, 2)};
    y5_det p[2] = {det(0, 0, 100, 62, 0.9f, 2), det(0, 0, 100, 92, 0.8f, 2)};
    uint16_t c[2];
    T_REQUIRE(!y5_map_match(p, 2, l, 1, c));
    T_CHECK(c[0] == 0x007, "p0 %#x (want thresholds 0.5, 0.55, 0.6)", c[0]);
    T_CHECK(c[1] == 0x1f8, "p1 %#x (want 0.65 .. 0.9)", c[1]);
    /* one prediction over two labels goes to the one it overlaps more */
    y5_map_label l2[2] = {lab(0, 0, 100, 100, 0), lab(0, 0, 100, 80, 0)};
    y5_det p2[1] = {det(0, 0, 100, 82, 0.5f, 0)};
    uint16_t c2[1];
    T_REQUIRE(!y5_map_match(p2, 1, l2, 2, c2));
    T_CHECK(c2[0] == 0x3ff, "%#x", c2[0]); /* IoU with l2[1] = 80/82 > 0.95 */
}

/* IoU boundaries: label [0,0,2,1], prediction [0,0,1,1]: inter 1, union
 * 2 + 1 - 1 + 1e-7 = 2 in float32 -> IoU exactly 0.5, a true positive at 0.5
 * (>=) and at no higher threshold. A hair smaller box (IoU < 0.5) matches
 * nothing; a perfect box of another class matches nothing. */
T_TEST(map_iou_threshold_boundaries) {
    y5_map_label l[1] = {lab(0, 0, 2, 1, 0)};
    y5_det half = det(0, 0, 1, 1, 0.5f, 0);
    T_CHECK(y5_map_box_iou(&l[0], &half) == 0.5f, "iou %.9g", y5_map_box_iou(&l[0], &half));
    uint16_t c[1];
    T_REQUIRE(!y5_map_match(&half, 1, l, 1, c));
    T_CHECK(c[0] == 0x001, "%#x", c[0]);
    y5_det under = det(0, 0, 0.999f, 1, 0.5f, 0);
    T_REQUIRE(!y5_map_match(&under, 1, l, 1, c));
    T_CHECK(c[0] == 0, "%#x", c[0]);
    y5_det other = det(0, 0, 2, 1, 0.5f, 1);
    T_REQUIRE(!y5_map_match(&other, 1, l, 1, c));
    T_CHECK(c[0] == 0, "%#x", c[0]);
    /* IoU 0.72: true positive at 0.5 .. 0.7 (5 thresholds), so AP50 0.995
     * and mAP50-95 0.995 * 5 / 10 = 0.4975 */
    y5_map_label big[1] = {lab(0, 0, 100, 100, 0)};
    y5_det p72 = det(0, 0, 100, 72, 0.6f, 0);
    T_REQUIRE(!y5_map_match(&p72, 1, big, 1, c));
    T_CHECK(c[0] == 0x01f, "%#x", c[0]);
    y5_map_stats *s = y5_map_stats_create();
    T_REQUIRE(s && !y5_map_stats_add(s, &p72, 1, big, 1));
    y5_map_result r;
    T_REQUIRE(!score(s, &r));
    T_CHECK(NEAR(r.map50, 0.995, 1e-12) && NEAR(r.map, 0.4975, 1e-12), "map50 %.15g map %.15g", r.map50, r.map);
    y5_map_result_free(&r);
}

/* Images without labels: their predictions are false positives of their
 * class (a class nobody labelled is not scored at all); images without
 * predictions: their labels are misses; an image with neither only counts
 * as seen. */
T_TEST(map_empty_labels_and_predictions) {
    /* only label-less images: nothing to score, every metric 0 */
    y5_map_stats *s = y5_map_stats_create();
    T_REQUIRE(s);
    y5_det p[1] = {det(0, 0, 10, 10, 0.9f, 0)};
    T_REQUIRE(!y5_map_stats_add(s, p, 1, NULL, 0));
    T_REQUIRE(!y5_map_stats_add(s, NULL, 0, NULL, 0));
    y5_map_result r;
    T_REQUIRE(!score(s, &r));
    T_CHECK(r.seen == 2 && r.n_labels == 0 && !r.any_tp && r.n_cls == 0, "seen %d", r.seen);
    T_CHECK(r.map50 == 0 && r.map == 0 && r.mp == 0 && r.mr == 0, "metrics not 0");
    y5_map_result_free(&r);

    /* image A: label class 0 found (0.8); image B: no labels, a class-0
     * prediction at 0.6 (after the TP: AP unchanged, 0.995) and a class-7
     * one at 0.95 (class 7 has no labels: ignored); image C: a class-1
     * label, no predictions (AP 0). mAP50 = (0.995 + 0) / 2. */
    s = y5_map_stats_create();
    T_REQUIRE(s);
    y5_map_label la[1] = {lab(0, 0, 10, 10, 0)};
    y5_det pa[1] = {det(0, 0, 10, 10, 0.8f, 0)};
    y5_det pb[2] = {det(50, 50, 60, 60, 0.95f, 7), det(0, 0, 10, 10, 0.6f, 0)};
    y5_map_label lc[1] = {lab(0, 0, 10, 10, 1)};
    T_REQUIRE(!y5_map_stats_add(s, pa, 1, la, 1));
    T_REQUIRE(!y5_map_stats_add(s, pb, 2, NULL, 0));
    T_REQUIRE(!y5_map_stats_add(s, NULL, 0, lc, 1));
    T_REQUIRE(!score(s, &r));
    T_CHECK(r.seen == 3 && r.n_labels == 2 && r.n_cls == 2, "seen %d labels %d classes %d", r.seen, r.n_labels, r.n_cls);
    T_CHECK(NEAR(r.ap50[0], 0.995, 1e-12) && r.ap50[1] == 0, "AP50 %.15g %.15g", r.ap50[0], r.ap50[1]);
    T_CHECK(NEAR(r.map50, 0.995 / 2, 1e-12), "map50 %.15g", r.map50);
    T_CHECK(r.p[1] == 0 && r.r[1] == 0, "class without predictions: P %g R %g", r.p[1], r.r[1]);
    y5_map_result_free(&r);
}

/* Mixed: class 0 perfect (0.995), class 1 the false-positive-first case
 * (0.995 * 2/3): mAP50 is their mean. */
T_TEST(map_mean_over_classes) {
    y5_map_stats *s = y5_map_stats_create();
    T_REQUIRE(s);
    y5_map_label l[3] = {lab(0, 0, 10, 10, 0), lab(0, 0, 10, 10, 1), lab(20, 20, 40, 40, 1)};
    y5_det p[4] = {det(0, 0, 10, 10, 0.95f, 0), det(100, 100, 120, 120, 0.9f, 1), det(0, 0, 10, 10, 0.8f, 1),
                   det(20, 20, 40, 40, 0.7f, 1)};
    T_REQUIRE(!y5_map_stats_add(s, p, 4, l, 3));
    y5_map_result r;
    T_REQUIRE(!score(s, &r));
    const double want = (0.995 + 0.995 * 2.0 / 3.0) / 2;
    T_CHECK(NEAR(r.map50, want, 1e-12) && NEAR(r.map, want, 1e-12), "map50 %.15g want %.15g", r.map50, want);
    y5_map_result_free(&r);
}

/* np.interp with repeated xp takes the last equal point; left/right apply
 * strictly outside. */
T_TEST(map_np_interp) {
    const double xp[3] = {0, 0, 1}, fp[3] = {1, 0.5, 0};
    T_CHECK(y5_np_interp(-1, xp, fp, 3, 7, 9) == 7, "left");
    T_CHECK(y5_np_interp(0, xp, fp, 3, 7, 9) == 0.5, "repeated xp");
    T_CHECK(y5_np_interp(0.5, xp, fp, 3, 7, 9) == 0.25, "middle");
    T_CHECK(y5_np_interp(1, xp, fp, 3, 7, 9) == 0, "last");
    T_CHECK(y5_np_interp(2, xp, fp, 3, 7, 9) == 9, "right");
    const double one[1] = {0.3}, f1[1] = {4};
    T_CHECK(y5_np_interp(0.3, one, f1, 1, 1, 2) == 4 && y5_np_interp(0.2, one, f1, 1, 1, 2) == 1 &&
                y5_np_interp(0.4, one, f1, 1, 1, 2) == 2,
            "single point");
    /* compute_ap on the documented cases */
    const double rec[3] = {0, 0.5, 1}, pre[3] = {0, 0.5, 2.0 / 3.0};
    T_CHECK(NEAR(y5_map_compute_ap(rec, pre, 3), 0.995 * 2 / 3, 1e-12), "%.15g", y5_map_compute_ap(rec, pre, 3));
    const double r1[1] = {1}, p1[1] = {1};
    T_CHECK(NEAR(y5_map_compute_ap(r1, p1, 1), 0.995, 1e-12), "%.15g", y5_map_compute_ap(r1, p1, 1));
}

/* numpy's argsort: a permutation that sorts; short arrays (insertion sort)
 * keep ties in input order, as numpy does. */
T_TEST(map_np_argsort) {
    const double small[6] = {1, 0, 1, 0, 0.5, 1};
    int idx[6];
    y5_np_argsort(small, 6, idx);
    const int want[6] = {1, 3, 4, 0, 2, 5};
    for (int i = 0; i < 6; i++) T_CHECK(idx[i] == want[i], "idx[%d] = %d want %d", i, idx[i], want[i]);
    enum { N = 5000 };
    double *v = malloc(N * sizeof *v);
    int *o = malloc(N * sizeof *o), *seen = calloc(N, sizeof *seen);
    T_REQUIRE(v && o && seen);
    unsigned x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = (double)((x >> 16) % 37); /* many ties */
    }
    y5_np_argsort(v, N, o);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        if (o[i] < 0 || o[i] >= N || seen[o[i]]++) ok = 0;
        if (i && v[o[i - 1]] > v[o[i]]) ok = 0;
    }
    T_CHECK(ok, "not a sorting permutation");
    /* sorted and reversed inputs take the quicksort path without trouble */
    for (int i = 0; i < N; i++) v[i] = N - i;
    y5_np_argsort(v, N, o);
    T_CHECK(o[0] == N - 1 && o[N - 1] == 0, "reversed");
    free(v);
    free(o);
    free(seen);
}

T_TEST(map_np_sum_pairwise) {
    double a[300];
    double naive = 0;
    for (int i = 0; i < 300; i++) {
        a[i] = 1.0 / (i + 1);
        naive += a[i];
    }
    T_CHECK(NEAR(y5_np_sum(a, 300), naive, 1e-12), "%.17g vs %.17g", y5_np_sum(a, 300), naive);
    T_CHECK(y5_np_sum(a, 0) == 0 && y5_np_sum(a, 3) == a[0] + a[1] + a[2], "short sums");
}
