/* map.c - val.py's scorer (ultralytics v7.0 utils/metrics.py + val.py's
 * process_batch), see map.h. */
#include "core/app/map.h"

#include <stdlib.h>
#include <string.h>

/* ---- thresholds and IoU ---- */

void y5_map_iouv(float iouv[Y5_MAP_NIOU]) {
    /* torch linspace kernel: step = (end - start) / (steps - 1) in the
     * tensor's type; the first half counts up from start, the second half
     * down from end. */
    const float start = 0.5f, end = 0.95f;
    const float step = (end - start) / (float)(Y5_MAP_NIOU - 1);
    const int half = Y5_MAP_NIOU / 2;
    for (int i = 0; i < Y5_MAP_NIOU; i++)
        iouv[i] = i < half ? start + step * (float)i : end - step * (float)(Y5_MAP_NIOU - i - 1);
}

float y5_map_box_iou(const y5_map_label *l, const y5_det *d) {
    /* inter = (min(a2, b2) - max(a1, b1)).clamp(0).prod(2);
     * iou = inter / ((a2 - a1).prod(2) + (b2 - b1).prod(2) - inter + eps) */
    float w = (l->x2 < d->x2 ? l->x2 : d->x2) - (l->x1 > d->x1 ? l->x1 : d->x1);
    float h = (l->y2 < d->y2 ? l->y2 : d->y2) - (l->y1 > d->y1 ? l->y1 : d->y1);
    if (!(w > 0.f)) w = 0.f;
    if (!(h > 0.f)) h = 0.f;
    const float inter = w * h;
    const float area_l = (l->x2 - l->x1) * (l->y2 - l->y1);
    const float area_d = (d->x2 - d->x1) * (d->y2 - d->y1);
    const float den = area_l + area_d - inter + 1e-7f;
    return inter / den;
}

/* ---- numpy pieces ---- */

static inline int np_less(double a, double b) { return a < b || (b != b && a == a); } /* NaNs last */

static void swap_int(int *a, int *b) {
    int t = *a;
    *a = *b;
    *b = t;
}

/* numpy's heapsort fallback of the introsort, on idx[0..n) (1-based heap). */
static void np_aheapsort(const double *v, int *idx, int n) {
#define A(k) idx[(k) - 1]
    for (int l = n / 2; l > 0; l--) {
        int t = A(l), i = l, j = 2 * l;
        while (j <= n) {
            if (j < n && np_less(v[A(j)], v[A(j + 1)])) j++;
            if (!np_less(v[t], v[A(j)])) break;
            A(i) = A(j);
            i = j;
            j += j;
        }
        A(i) = t;
    }
    while (n > 1) {
        int t = A(n);
        A(n) = A(1);
        n--;
        int i = 1, j = 2;
        while (j <= n) {
            if (j < n && np_less(v[A(j)], v[A(j + 1)])) j++;
            if (!np_less(v[t], v[A(j)])) break;
            A(i) = A(j);
            i = j;
            j += j;
        }
        A(i) = t;
    }
#undef A
}

/* The order np.argsort (kind 'quicksort') gives on x86 without AVX-512:
 * introsort = median-of-three quicksort over index ranges, the larger part
 * deferred on a stack, ranges of at most 16 elements finished by insertion
 * sort, heapsort once the depth budget 2*floor(log2 n) is spent. Ties come
 * out in that algorithm's order, which is what val.py sees (rectangular
 * batch grouping, confidence ties). */
void y5_np_argsort(const double *v, int n, int *idx) {
    for (int i = 0; i < n; i++) idx[i] = i;
    if (n < 2) return;
    int stack[256], sp = 0; /* pairs (lo, hi) */
    int dstack[128], dp = 0;
    int depth = 0;
    for (unsigned m = (unsigned)n; m > 1; m >>= 1) depth++;
    depth *= 2;
    int lo = 0, hi = n - 1;
    for (;;) {
        if (depth < 0) {
            np_aheapsort(v, idx + lo, hi - lo + 1);
        } else {
            while (hi - lo > 15) {
                int mid = lo + ((hi - lo) >> 1);
                if (np_less(v[idx[mid]], v[idx[lo]])) swap_int(&idx[mid], &idx[lo]);
                if (np_less(v[idx[hi]], v[idx[mid]])) swap_int(&idx[hi], &idx[mid]);
                if (np_less(v[idx[mid]], v[idx[lo]])) swap_int(&idx[mid], &idx[lo]);
                const double pivot = v[idx[mid]];
                int i = lo, j = hi - 1;
                swap_int(&idx[mid], &idx[j]);
                for (;;) {
                    do i++; while (np_less(v[idx[i]], pivot));
                    do j--; while (np_less(pivot, v[idx[j]]));
                    if (i >= j) break;
                    swap_int(&idx[i], &idx[j]);
                }
                swap_int(&idx[i], &idx[hi - 1]);
                if (i - lo < hi - i) {
                    stack[sp++] = i + 1;
                    stack[sp++] = hi;
                    hi = i - 1;
                } else {
                    stack[sp++] = lo;
                    stack[sp++] = i - 1;
                    lo = i + 1;
                }
                dstack[dp++] = --depth;
            }
            for (int i = lo + 1; i <= hi; i++) {
                const int vi = idx[i];
                const double key = v[vi];
                int j = i;
                while (j > lo && np_less(key, v[idx[j - 1]])) {
                    idx[j] = idx[j - 1];
                    j--;
                }
                idx[j] = vi;
            }
        }
        if (sp == 0) break;
        hi = stack[--sp];
        lo = stack[--sp];
        depth = dstack[--dp];
    }
}

/* Largest j with xp[j] <= x (xp sorted), -1 when x < xp[0]. */
static int last_le(const double *xp, int n, double x) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + ((hi - lo) >> 1);
        if (x >= xp[mid]) lo = mid + 1;
        else hi = mid;
    }
    return lo - 1;
}

double y5_np_interp(double x, const double *xp, const double *fp, int n, double left, double right) {
    if (n <= 0) return 0.0;
    if (x < xp[0]) return left;
    if (x > xp[n - 1]) return right;
    int j = last_le(xp, n, x);
    if (j < 0) return left; /* NaN x */
    if (j >= n - 1) return fp[n - 1];
    if (xp[j] == x) return fp[j];
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double y = slope * (x - xp[j]) + fp[j];
    if (y != y) {
        y = slope * (x - xp[j + 1]) + fp[j + 1];
        if (y != y && fp[j] == fp[j + 1]) y = fp[j];
    }
    return y;
}

/* numpy's pairwise summation (8 accumulators up to 128 elements, halves above). */
static double pairwise(const double *a, int n) {
    if (n < 8) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int k = 0; k < 8; k++) r[k] = a[k];
        int i = 8;
        for (; i < n - n % 8; i += 8)
            for (int k = 0; k < 8; k++) r[k] += a[i + k];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    int n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

double y5_np_sum(const double *a, int n) { return 0.0 + pairwise(a, n); }

/* np.linspace(0, 1, num)[i]: i * (1 / (num - 1)), the last exactly 1. */
static double linspace01(int i, int num) { return i == num - 1 ? 1.0 : (double)i * (1.0 / (num - 1)); }

double y5_map_compute_ap(const double *recall, const double *precision, int n) {
    /* mrec = [0, recall, 1]; mpre = [1, precision, 0]; envelope from the
     * right; AP = trapz(interp(x, mrec, mpre), x), x = linspace(0, 1, 101). */
    const int m = n + 2;
    double *mrec = malloc(sizeof(double) * (size_t)m * 2);
    if (!mrec) return 0.0;
    double *mpre = mrec + m;
    mrec[0] = 0.0;
    mpre[0] = 1.0;
    for (int i = 0; i < n; i++) {
        mrec[i + 1] = recall[i];
        mpre[i + 1] = precision[i];
    }
    mrec[m - 1] = 1.0;
    mpre[m - 1] = 0.0;
    for (int i = m - 2; i >= 0; i--)
        if (mpre[i + 1] > mpre[i] || mpre[i + 1] != mpre[i + 1]) mpre[i] = mpre[i + 1]; /* np.maximum propagates NaN */
    double x[101], y[101], terms[100];
    for (int i = 0; i < 101; i++) {
        x[i] = linspace01(i, 101);
        y[i] = y5_np_interp(x[i], mrec, mpre, m, mpre[0], mpre[m - 1]);
    }
    for (int i = 0; i < 100; i++) terms[i] = (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
    free(mrec);
    return y5_np_sum(terms, 100);
}

/* ---- process_batch ---- */

int y5_map_match(const y5_det *pred, int npr, const y5_map_label *lab, int nl, uint16_t *correct) {
    for (int i = 0; i < npr; i++) correct[i] = 0;
    if (npr <= 0 || nl <= 0) return 0;
    const size_t np_ = (size_t)nl * npr;
    float *iou = malloc(np_ * sizeof(float));
    int *ml = malloc(np_ * sizeof(int)), *md = malloc(np_ * sizeof(int)), *order = malloc(np_ * sizeof(int));
    double *key = malloc(np_ * sizeof(double));
    int *best_det = malloc((size_t)npr * sizeof(int)), *best_lab = malloc((size_t)nl * sizeof(int));
    int rc = -1;
    if (!iou || !ml || !md || !order || !key || !best_det || !best_lab) goto done;
    for (int l = 0; l < nl; l++)
        for (int d = 0; d < npr; d++) iou[(size_t)l * npr + d] = y5_map_box_iou(&lab[l], &pred[d]);
    float iouv[Y5_MAP_NIOU];
    y5_map_iouv(iouv);
    for (int t = 0; t < Y5_MAP_NIOU; t++) {
        /* torch.where: (label, detection) pairs in row-major order */
        int n = 0;
        for (int l = 0; l < nl; l++)
            for (int d = 0; d < npr; d++) {
                const float v = iou[(size_t)l * npr + d];
                if (v >= iouv[t] && lab[l].cls == pred[d].cls) {
                    ml[n] = l;
                    md[n] = d;
                    key[n] = v;
                    n++;
                }
            }
        if (n == 0) continue;
        if (n == 1) { correct[md[0]] |= (uint16_t)(1u << t); continue; }
        /* matches[matches[:, 2].argsort()[::-1]] */
        y5_np_argsort(key, n, order);
        /* np.unique(matches[:, 1], return_index=True): per detection its
         * first row in that order; the result comes sorted by detection */
        for (int d = 0; d < npr; d++) best_det[d] = -1;
        for (int k = n - 1; k >= 0; k--) {
            const int m = order[k];
            if (best_det[md[m]] < 0) best_det[md[m]] = m;
        }
        /* np.unique(matches[:, 0], return_index=True): per label the first
         * of those rows, i.e. the lowest detection index */
        for (int l = 0; l < nl; l++) best_lab[l] = -1;
        for (int d = 0; d < npr; d++) {
            const int m = best_det[d];
            if (m >= 0 && best_lab[ml[m]] < 0) best_lab[ml[m]] = d;
        }
        for (int l = 0; l < nl; l++)
            if (best_lab[l] >= 0) correct[best_lab[l]] |= (uint16_t)(1u << t);
    }
    rc = 0;
done:
    free(iou);
    free(ml);
    free(md);
    free(order);
    free(key);
    free(best_det);
    free(best_lab);
    return rc;
}

/* ---- statistics ---- */

struct y5_map_stats {
    int seen;
    size_t n_pred, cap_pred;
    uint16_t *correct;
    float *conf;
    int *pcls;
    size_t n_lab, cap_lab;
    int *tcls;
};

y5_map_stats *y5_map_stats_create(void) { return calloc(1, sizeof(y5_map_stats)); }

void y5_map_stats_free(y5_map_stats *s) {
    if (!s) return;
    free(s->correct);
    free(s->conf);
    free(s->pcls);
    free(s->tcls);
    free(s);
}

static int grow_pred(y5_map_stats *s, size_t need) {
    if (need <= s->cap_pred) return 0;
    size_t c = s->cap_pred ? s->cap_pred : 1024;
    while (c < need) c *= 2;
    uint16_t *a = realloc(s->correct, c * sizeof *a);
    if (a) s->correct = a;
    float *b = realloc(s->conf, c * sizeof *b);
    if (b) s->conf = b;
    int *d = realloc(s->pcls, c * sizeof *d);
    if (d) s->pcls = d;
    if (!a || !b || !d) return -1;
    s->cap_pred = c;
    return 0;
}

static int grow_lab(y5_map_stats *s, size_t need) {
    if (need <= s->cap_lab) return 0;
    size_t c = s->cap_lab ? s->cap_lab : 1024;
    while (c < need) c *= 2;
    int *a = realloc(s->tcls, c * sizeof *a);
    if (!a) return -1;
    s->tcls = a;
    s->cap_lab = c;
    return 0;
}

int y5_map_stats_add_raw(y5_map_stats *s, const uint16_t *correct, const float *conf, const int *pcls, int npr,
                         const int *tcls, int nl) {
    s->seen++;
    if (npr < 0) npr = 0;
    if (nl < 0) nl = 0;
    /* val.py: no predictions and no labels -> nothing appended */
    if (npr == 0 && nl == 0) return 0;
    if (grow_pred(s, s->n_pred + (size_t)npr) || grow_lab(s, s->n_lab + (size_t)nl)) return -1;
    for (int i = 0; i < npr; i++) {
        s->correct[s->n_pred + i] = correct ? correct[i] : 0;
        s->conf[s->n_pred + i] = conf[i];
        s->pcls[s->n_pred + i] = pcls[i];
    }
    s->n_pred += (size_t)npr;
    for (int i = 0; i < nl; i++) s->tcls[s->n_lab + i] = tcls[i];
    s->n_lab += (size_t)nl;
    return 0;
}

int y5_map_stats_add(y5_map_stats *s, const y5_det *pred, int npr, const y5_map_label *lab, int nl) {
    if (npr < 0) npr = 0;
    if (nl < 0) nl = 0;
    uint16_t *correct = malloc(((size_t)npr + 1) * sizeof *correct);
    float *conf = malloc(((size_t)npr + 1) * sizeof *conf);
    int *pcls = malloc(((size_t)npr + 1) * sizeof *pcls), *tcls = malloc(((size_t)nl + 1) * sizeof *tcls);
    int rc = -1;
    if (!correct || !conf || !pcls || !tcls) goto done;
    for (int i = 0; i < npr; i++) {
        conf[i] = pred[i].conf;
        pcls[i] = pred[i].cls;
    }
    for (int i = 0; i < nl; i++) tcls[i] = lab[i].cls;
    if (y5_map_match(pred, npr, lab, nl, correct)) goto done;
    rc = y5_map_stats_add_raw(s, correct, conf, pcls, npr, tcls, nl);
done:
    free(correct);
    free(conf);
    free(pcls);
    free(tcls);
    return rc;
}

/* ---- ap_per_class ---- */

void y5_map_result_free(y5_map_result *r) {
    if (!r) return;
    free(r->cls);
    free(r->nt);
    free(r->p);
    free(r->r);
    free(r->f1);
    free(r->ap50);
    free(r->ap);
    free(r->ap_t);
    memset(r, 0, sizeof *r);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

#define NPX 1000

/* Per-class scratch of y5_map_compute, sized for every prediction. */
typedef struct {
    int *order;          /* predictions by descending confidence (np.argsort(-conf)) */
    double *xs;          /* -conf of one class's predictions, in that order */
    double *rec, *pre;   /* recall / precision curves, Y5_MAP_NIOU rows of npred */
    double *col_r, *col_p;
} map_scratch;

/* unique_classes, nt = np.unique(target_cls, return_counts=True): fills
 * r->n_cls, r->cls, r->nt and allocates the per-class result arrays. */
static int unique_classes(const y5_map_stats *s, y5_map_result *r) {
    int *ts = malloc((s->n_lab + 1) * sizeof(int));
    if (!ts) return -1;
    memcpy(ts, s->tcls, s->n_lab * sizeof(int));
    qsort(ts, s->n_lab, sizeof(int), cmp_int);
    int nc = 0;
    for (size_t i = 0; i < s->n_lab; i++)
        if (i == 0 || ts[i] != ts[i - 1]) nc++;
    r->n_cls = nc;
    r->cls = calloc((size_t)nc + 1, sizeof(int));
    r->nt = calloc((size_t)nc + 1, sizeof(int));
    r->p = calloc((size_t)nc + 1, sizeof(double));
    r->r = calloc((size_t)nc + 1, sizeof(double));
    r->f1 = calloc((size_t)nc + 1, sizeof(double));
    r->ap50 = calloc((size_t)nc + 1, sizeof(double));
    r->ap = calloc((size_t)nc + 1, sizeof(double));
    r->ap_t = calloc(((size_t)nc + 1) * Y5_MAP_NIOU, sizeof(double));
    if (!r->cls || !r->nt || !r->p || !r->r || !r->f1 || !r->ap50 || !r->ap || !r->ap_t) { free(ts); return -1; }
    for (size_t i = 0, k = 0; i < s->n_lab; i++) {
        if (i == 0 || ts[i] != ts[i - 1]) r->cls[k++] = ts[i];
        r->nt[k - 1]++;
    }
    free(ts);
    return 0;
}

/* ap_per_class's loop body for class index ci: its recall/precision curves
 * at every IoU threshold, their values at the px confidences (rcur, pc rows
 * ci) and its AP per threshold (r->ap_t). */
static void class_curves(const y5_map_stats *s, y5_map_result *r, int ci, const double *px, map_scratch *m,
                         double *rcur, double *pc) {
    const int npred = (int)s->n_pred, c = r->cls[ci], n_l = r->nt[ci];
    /* this class's predictions, in confidence order */
    int n_p = 0;
    long tpc[Y5_MAP_NIOU] = {0}, fpc[Y5_MAP_NIOU] = {0};
    for (int k = 0; k < npred; k++) {
        const int i = m->order[k];
        if (s->pcls[i] != c) continue;
        m->xs[n_p] = -(double)s->conf[i];
        for (int t = 0; t < Y5_MAP_NIOU; t++) {
            if (s->correct[i] >> t & 1) tpc[t]++;
            else fpc[t]++;
            m->rec[(size_t)t * npred + n_p] = (double)tpc[t] / ((double)n_l + 1e-16);
            m->pre[(size_t)t * npred + n_p] = (double)tpc[t] / (double)(tpc[t] + fpc[t]);
        }
        n_p++;
    }
    if (n_p <= 0 || n_l == 0) return; /* <= 0, not == 0: newer gcc cannot see n_p >= 0 and warns on [n_p - 1] */
    /* r = interp(-px, -conf, recall[:, 0], left=0); p likewise, left=1 */
    const double *r0 = m->rec, *p0 = m->pre;
    for (int q = 0; q < NPX; q++) {
        rcur[(size_t)ci * NPX + q] = y5_np_interp(-px[q], m->xs, r0, n_p, 0.0, r0[n_p - 1]);
        pc[(size_t)ci * NPX + q] = y5_np_interp(-px[q], m->xs, p0, n_p, 1.0, p0[n_p - 1]);
    }
    for (int t = 0; t < Y5_MAP_NIOU; t++) {
        for (int k = 0; k < n_p; k++) {
            m->col_r[k] = m->rec[(size_t)t * npred + k];
            m->col_p[k] = m->pre[(size_t)t * npred + k];
        }
        r->ap_t[(size_t)ci * Y5_MAP_NIOU + t] = y5_map_compute_ap(m->col_r, m->col_p, n_p);
    }
}

/* f1 = 2pr / (p + r + eps); i = smooth(f1.mean(0), 0.1).argmax(): the index
 * into px of the operating point where P and R are read. */
static int max_f1_index(const double *pc, const double *rcur, int nc) {
    double f1m[NPX];
    for (int q = 0; q < NPX; q++) {
        double acc = 0.0;
        for (int ci = 0; ci < nc; ci++) {
            const double p = pc[(size_t)ci * NPX + q], rr = rcur[(size_t)ci * NPX + q];
            acc += 2 * p * rr / (p + rr + 1e-16);
        }
        f1m[q] = acc / nc;
    }
    /* smooth: nf = round(1000 * 0.1 * 2) // 2 + 1 = 101 box filter over the
     * series padded with 50 copies of each end value (np.convolve 'valid') */
    const int nf = 101, half = nf / 2;
    int best = 0;
    double best_v = 0.0;
    for (int q = 0; q < NPX; q++) {
        double acc = 0.0;
        for (int k = 0; k < nf; k++) {
            int src = q + k - half;
            src = src < 0 ? 0 : src >= NPX ? NPX - 1 : src;
            acc += f1m[src] * (1.0 / nf);
        }
        if (q == 0 || acc > best_v) { /* np.argmax: the first maximum */
            best = q;
            best_v = acc;
        }
    }
    return best;
}

int y5_map_compute(const y5_map_stats *s, y5_map_result *r) {
    memset(r, 0, sizeof *r);
    r->seen = s->seen;
    r->n_labels = (int)s->n_lab;
    for (size_t i = 0; i < s->n_pred && !r->any_tp; i++)
        if (s->correct[i]) r->any_tp = 1;
    if (!r->any_tp) return 0; /* val.py: every metric stays 0, no class rows */

    const size_t np1 = s->n_pred + 1;
    int rc = -1;
    map_scratch m = {0};
    double *key = malloc(np1 * sizeof(double)), *pc = NULL, *rcur = NULL;
    m.order = malloc(np1 * sizeof(int));
    m.xs = malloc(np1 * sizeof(double));
    m.rec = malloc(np1 * Y5_MAP_NIOU * sizeof(double));
    m.pre = malloc(np1 * Y5_MAP_NIOU * sizeof(double));
    m.col_r = malloc(np1 * sizeof(double));
    m.col_p = malloc(np1 * sizeof(double));
    if (!key || !m.order || !m.xs || !m.rec || !m.pre || !m.col_r || !m.col_p) goto done;

    /* i = np.argsort(-conf) */
    for (size_t i = 0; i < s->n_pred; i++) key[i] = -(double)s->conf[i];
    y5_np_argsort(key, (int)s->n_pred, m.order);

    if (unique_classes(s, r)) goto done;
    const int nc = r->n_cls;
    pc = calloc(((size_t)nc + 1) * NPX, sizeof(double));   /* p curves */
    rcur = calloc(((size_t)nc + 1) * NPX, sizeof(double)); /* r curves */
    if (!pc || !rcur) goto done;

    double px[NPX];
    for (int q = 0; q < NPX; q++) px[q] = linspace01(q, NPX);
    for (int ci = 0; ci < nc; ci++) class_curves(s, r, ci, px, &m, rcur, pc);

    int best = max_f1_index(pc, rcur, nc);
    r->conf_at = px[best];
    for (int ci = 0; ci < nc; ci++) {
        const double p = pc[(size_t)ci * NPX + best], rr = rcur[(size_t)ci * NPX + best];
        r->p[ci] = p;
        r->r[ci] = rr;
        r->f1[ci] = 2 * p * rr / (p + rr + 1e-16);
        r->ap50[ci] = r->ap_t[(size_t)ci * Y5_MAP_NIOU];
        r->ap[ci] = y5_np_sum(&r->ap_t[(size_t)ci * Y5_MAP_NIOU], Y5_MAP_NIOU) / Y5_MAP_NIOU;
    }
    r->mp = y5_np_sum(r->p, nc) / nc;
    r->mr = y5_np_sum(r->r, nc) / nc;
    r->map50 = y5_np_sum(r->ap50, nc) / nc;
    r->map = y5_np_sum(r->ap, nc) / nc;
    rc = 0;
done:
    free(key);
    free(m.order);
    free(m.xs);
    free(m.rec);
    free(m.pre);
    free(m.col_r);
    free(m.col_p);
    free(pc);
    free(rcur);
    if (rc) y5_map_result_free(r);
    return rc;
}
