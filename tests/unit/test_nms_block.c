/* test_nms_block.c - the GPU NMS's thread bodies (cuda/nms_block.h, the
 * functions cuda/kernels_nms.cu's kernels call) executed on the CPU, against
 * core/post/nms.c: no GPU needed.
 *
 * nms_block_vs_cpu: random predictions (0 to 3000 rows, 1 to 8 classes) made
 *   to be hard: clusters of heavily overlapping boxes, exact duplicates,
 *   empty boxes, confidences from a coarse grid (ties between rows and
 *   between classes), NaN class scores; random options (single and multi
 *   label, agnostic or not, class filters, conf 0.001..0.6, IoU 0.3..0.9,
 *   max_det / max_out / max_nms below the candidate count). Each image goes
 *   the batch path's way: y5n_cand_row over the rows in a shuffled order
 *   (the atomics' append order is arbitrary), the keys sorted ascending
 *   (what cub's radix sort does), y5n_prep, then the block: every thread of
 *   phase A, then every thread of phase B, then phase C, chunk after chunk,
 *   with the threads of a phase run forwards, backwards or shuffled. The kept
 *   boxes must equal y5_nms's bit for bit.
 * nms_block_keys_and_cap: the confidence key's order and round trip, and
 *   y5n_batch_cap's budget. */
#include <stdlib.h>
#include <string.h>

#include "core/post/nms.h"
#include "cuda/nms_block.h"
#include "tests/t.h"

static unsigned long long rs = 0x9E3779B97F4A7C15ull;
static unsigned rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (unsigned)(rs >> 32);
}
static float urand(void) { return (float)(rnd() >> 8) / 16777216.0f; }

static void shuffle(int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd() % (unsigned)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int cmp_u64(const void *a, const void *b) {
    const unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* A score: from a grid of 17 values (ties) or continuous. */
static float score(int coarse) { return coarse ? (float)(rnd() % 17) / 16.0f : urand(); }

static void make_pred(float *pred, int rows, int nc, int coarse) {
    const int no = 5 + nc, k = 1 + (int)(rnd() % 40);
    float cx[40], cy[40], sz[40];
    for (int c = 0; c < k; c++) {
        cx[c] = urand() * 640;
        cy[c] = urand() * 640;
        sz[c] = 8 + urand() * 120;
    }
    for (int r = 0; r < rows; r++) {
        float *p = pred + (size_t)r * no;
        const unsigned kind = rnd() % 16;
        if (r > 0 && kind == 0) { /* an exact duplicate of an earlier row's box */
            memcpy(p, pred + (size_t)(rnd() % (unsigned)r) * no, 4 * sizeof(float));
        } else {
            const int c = (int)(rnd() % (unsigned)k);
            p[0] = cx[c] + (urand() - 0.5f) * sz[c] * 0.3f;
            p[1] = cy[c] + (urand() - 0.5f) * sz[c] * 0.3f;
            p[2] = sz[c] * (0.7f + 0.6f * urand());
            p[3] = sz[c] * (0.7f + 0.6f * urand());
            if (kind == 1) p[2] = 0; /* empty boxes: 0 / 0 IoU */
            if (kind == 2) p[3] = 0;
        }
        p[4] = score(coarse);
        for (int j = 0; j < nc; j++) p[5 + j] = score(coarse);
        if (kind == 3) p[5 + rnd() % (unsigned)nc] = __builtin_nanf(""); /* NaN class score: the row drops */
    }
}

/* Thread order within a phase: 0 forwards, 1 backwards, 2 shuffled. */
static void order_threads(int *ord, int how) {
    for (int t = 0; t < Y5N_THREADS; t++) ord[t] = how == 1 ? Y5N_THREADS - 1 - t : t;
    if (how == 2) shuffle(ord, Y5N_THREADS);
}

/* The batch path for one image, on the CPU: candidates, sort, prep, block.
 * Returns the kept count (boxes in out), -1 out of memory. */
static int block_path(const float *pred, int rows, int nc, const y5_nms_opts *o, y5_det *out, int max_out,
                      int how) {
    const int no = 5 + nc, multi = o->multi_label && nc > 1;
    const int limit = o->max_det < max_out ? o->max_det : max_out;
    if (rows <= 0 || limit <= 0) return 0;
    const size_t cap = multi ? (size_t)rows * nc : (size_t)rows;
    unsigned long long *keys = malloc(cap * sizeof *keys);
    int *rord = malloc((size_t)rows * sizeof *rord);
    unsigned char *cls_ok = NULL;
    if (!keys || !rord) {
        free(keys);
        free(rord);
        return -1;
    }
    if (o->classes && o->n_classes > 0) {
        cls_ok = calloc((size_t)nc, 1);
        if (!cls_ok) {
            free(keys);
            free(rord);
            return -1;
        }
        for (int k = 0; k < o->n_classes; k++)
            if (o->classes[k] >= 0 && o->classes[k] < nc) cls_ok[o->classes[k]] = 1;
    }
    for (int r = 0; r < rows; r++) rord[r] = r;
    shuffle(rord, rows);
    unsigned int count = 0;
    for (int i = 0; i < rows; i++)
        y5n_cand_row(pred + (size_t)rord[i] * no, (unsigned)rord[i], nc, o->conf_thres, multi, cls_ok, keys, &count,
                     (unsigned)cap);
    int rc = -1;
    if (count > cap) goto done; /* cannot happen: at most 1 (nc) per row */
    qsort(keys, count, sizeof *keys, cmp_u64);
    const int n = o->max_nms > 0 && count > (unsigned)o->max_nms ? o->max_nms : (int)count;
    y5n_box *box = malloc(((size_t)n + 1) * sizeof *box), *kbox = malloc((size_t)limit * sizeof *kbox);
    float *area = malloc(((size_t)n + 1) * sizeof *area), *karea = malloc((size_t)limit * sizeof *karea);
    y5_det *det = malloc(((size_t)n + 1) * sizeof *det);
    if (box && kbox && area && karea && det) {
        for (int i = 0; i < n; i++) y5n_prep(keys[i], pred, nc, no, o->agnostic, box + i, area + i, det + i);
        /* threshold as the kernels get it */
        y5n_block k = {box, area, det, n, limit, y5_nms_py_threshold(o->iou_thres), kbox, karea, out};
        y5n_chunk s;
        int ord[Y5N_THREADS];
        y5n_block_init(&s);
        while (y5n_block_more(&s, &k)) { /* each loop: the barriers of the kernel's loop */
            order_threads(ord, how);
            for (int t = 0; t < Y5N_THREADS; t++) y5n_phase_a(&s, &k, ord[t]);
            order_threads(ord, how);
            for (int t = 0; t < Y5N_THREADS; t++) y5n_phase_b(&s, &k, ord[t]);
            y5n_phase_c(&s, &k);
        }
        rc = s.nk;
    }
    free(box);
    free(kbox);
    free(area);
    free(karea);
    free(det);
done:
    free(keys);
    free(rord);
    free(cls_ok);
    return rc;
}

T_TEST(nms_block_vs_cpu) {
    enum { CASES = 1000, MAXR = 3000, MAXNC = 8 };
    float *pred = malloc(sizeof(float) * MAXR * (5 + MAXNC));
    y5_det *a = malloc(sizeof(y5_det) * MAXR * MAXNC), *b = malloc(sizeof(y5_det) * MAXR * MAXNC);
    T_REQUIRE(pred && a && b, "out of memory");
    static const float confs[] = {0.001f, 0.05f, 0.25f, 0.4f, 0.6f};
    long long kept_total = 0, cand_cases = 0, limited = 0, chunks_many = 0;
    for (int cs = 0; cs < CASES && !t_failed_now(); cs++) {
        const int rows = cs % 50 == 0 ? 0 : cs % 7 == 0 ? (int)(rnd() % 64) : (int)(rnd() % (MAXR + 1));
        const int nc = 1 + (int)(rnd() % MAXNC);
        make_pred(pred, rows, nc, rnd() % 2);
        y5_nms_opts o;
        y5_nms_defaults(&o);
        o.conf_thres = confs[rnd() % 5];
        o.iou_thres = rnd() % 2 ? 0.3f + 0.05f * (float)(rnd() % 13) : 0.3f + 0.6f * urand();
        o.agnostic = rnd() % 2;
        o.multi_label = rnd() % 3 == 0;
        int classes[4];
        if (rnd() % 4 == 0) {
            o.n_classes = 1 + (int)(rnd() % 4);
            for (int k = 0; k < o.n_classes; k++) classes[k] = (int)(rnd() % (unsigned)(nc + 1)) - (k == 3);
            o.classes = classes;
        }
        switch (rnd() % 4) {
        case 0: o.max_det = 1 + (int)(rnd() % 40); break;
        case 1: o.max_det = 1 + (int)(rnd() % (unsigned)(rows + 1)); break;
        default: break;
        }
        int max_out = rnd() % 4 == 0 ? 1 + (int)(rnd() % 100) : MAXR * MAXNC;
        if (rnd() % 5 == 0) o.max_nms = rnd() % 2 ? 0 : 1 + (int)(rnd() % 300);
        const int how = (int)(rnd() % 3);
        const int nb = block_path(pred, rows, nc, &o, a, max_out, how);
        const int ncpu = y5_nms(NULL, pred, rows, nc, &o, b, max_out);
        T_REQUIRE(nb >= 0 && ncpu >= 0, "case %d: out of memory", cs);
        T_CHECK(nb == ncpu, "case %d (%d rows, %d classes, multi %d, agnostic %d, conf %g, iou %.9g, max_det %d, "
                "max_out %d, max_nms %d, %d filter classes, threads %d): block %d boxes, nms.c %d",
                cs, rows, nc, o.multi_label, o.agnostic, (double)o.conf_thres, (double)o.iou_thres, o.max_det, max_out,
                o.max_nms, o.n_classes, how, nb, ncpu);
        for (int i = 0; i < nb && i < ncpu; i++)
            if (memcmp(&a[i], &b[i], sizeof a[i])) {
                T_CHECK(0, "case %d: box %d: block cls %d conf %.9g (%.9g %.9g %.9g %.9g), nms.c cls %d conf %.9g "
                        "(%.9g %.9g %.9g %.9g)", cs, i, a[i].cls, (double)a[i].conf, (double)a[i].x1,
                        (double)a[i].y1, (double)a[i].x2, (double)a[i].y2, b[i].cls, (double)b[i].conf,
                        (double)b[i].x1, (double)b[i].y1, (double)b[i].x2, (double)b[i].y2);
                break;
            }
        kept_total += nb;
        cand_cases += nb > 0;
        limited += nb == (o.max_det < max_out ? o.max_det : max_out);
        chunks_many += nb > Y5N_CHUNK;
    }
    printf("    %d cases, %lld with boxes, %lld stopped at max_det/max_out, %lld kept more than one chunk; "
           "%lld boxes%s\n", CASES, cand_cases, limited, chunks_many, kept_total, t_failed_now() ? "" : ", identical");
    free(pred);
    free(a);
    free(b);
}

T_TEST(nms_block_keys_and_cap) {
    /* ascending key = descending confidence, and the key gives the float back */
    for (int i = 0; i < 100000; i++) {
        float x = urand() * 2 - 0.5f, y = urand() * 2 - 0.5f;
        if (i % 100 == 0) y = x;
        const unsigned kx = y5n_conf_key(x), ky = y5n_conf_key(y);
        T_CHECK((x > y) == (kx < ky) && (x == y) == (kx == ky), "keys of %.9g and %.9g", (double)x, (double)y);
        T_CHECK(y5n_conf_of_key(kx) == x, "round trip of %.9g", (double)x);
        if (t_failed_now()) return;
    }
    /* the batch's key slots fit its budget, all of them when they can */
    const unsigned long long MB = 1ull << 20;
    T_CHECK(y5n_batch_cap(8, 25200, 30000, 256 * MB) == 25200, "single label, batch 8 at 640");
    T_CHECK(y5n_batch_cap(0, 25200, 30000, 256 * MB) == 0 && y5n_batch_cap(8, 0, 30000, 256 * MB) == 0, "empty");
    T_CHECK(y5n_batch_cap(8, 1, 30000, 8) == 0, "no room for one slot");
    for (int i = 0; i < 2000; i++) {
        const int images = 1 + (int)(rnd() % 64), max_nms = rnd() % 3 ? (int)(rnd() % 40000) : 0;
        const unsigned long long full = 1 + rnd() % 4000000, bound = (1 + rnd() % 512) * MB;
        const unsigned long long cap = y5n_batch_cap(images, full, max_nms, bound);
        const unsigned long long mn = max_nms > 0 ? (unsigned long long)max_nms : full;
        const unsigned long long fn = cap < mn ? cap : mn;
        const unsigned long long need = cap * Y5N_KEY_BYTES + fn * Y5N_PREP_BYTES;
        const unsigned long long need_full = full * Y5N_KEY_BYTES + (full < mn ? full : mn) * Y5N_PREP_BYTES;
        T_CHECK(cap <= full && need * (unsigned long long)images <= bound, "%d images, %llu slots wanted, max_nms %d, "
                "%llu MB: %llu slots take %llu bytes", images, full, max_nms, bound / MB, cap, need * images);
        T_CHECK(cap == full || need_full * (unsigned long long)images > bound, "%d images, %llu slots fit %llu MB, got %llu",
                images, full, bound / MB, cap);
        if (t_failed_now()) return;
    }
}
