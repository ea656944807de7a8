/* pipeline.c - the detect pipeline (see pipeline.h for the picture).
 *
 * One mutex guards the whole pipeline state (a handful of operations per
 * image, so it is never contended in practice); the heavy work - decode,
 * letterbox, forward, NMS, drawing, encoding, file writes - runs outside it.
 *
 * Slot life: FREE -> DECODING (claimed by a decode worker) -> READY (in the
 * ready pool) -> ENGINE -> WRITING -> DONE -> emitted in input order -> FREE.
 * Failed and (with --resume) already complete images go straight to DONE.
 *
 * detections.jsonl is written progressively, one complete line per image in
 * input order, to OUT/detections.jsonl.partial and renamed at the end. With
 * --resume the earlier detections.jsonl / .partial / .prev are indexed
 * (64-bit hash of the image key -> file offset; no line is kept in memory),
 * the lines of the images whose outputs are complete are carried, in input
 * order, into OUT/detections.jsonl.prev (written atomically before the new
 * .partial truncates the old one), and copied from there when their turn
 * comes; every other image is processed again. */
#include "core/base/clock.h"
#include "core/base/debug_env.h"
#include "core/app/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/image/draw.h"
#include "core/engine/engine.h"
#include "core/image/image.h"
#include "core/image/letterbox.h"
#include "core/app/output.h"
#include "core/base/threadpool.h"

/* ------------------------------------------------------------------ utils */


static struct timespec abs_deadline(double t_mono) {
    struct timespec ts;
    ts.tv_sec = (time_t)t_mono;
    ts.tv_nsec = (long)((t_mono - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    if (ts.tv_nsec < 0) ts.tv_nsec = 0;
    return ts;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes unless EOF comes first; returns the count read, -1
 * on a read error. */
static ssize_t read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void y5_out_image_name(const char *in, char *out, size_t cap) {
    const char *b = base_name(in), *dot = strrchr(b, '.');
    const char *ok[] = {".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG", ".BMP"};
    for (size_t i = 0; dot && i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(dot, ok[i])) { snprintf(out, cap, "%s", b); return; }
    snprintf(out, cap, "%s.jpg", b);
}

void y5_out_stem(const char *in, char *out, size_t cap) {
    snprintf(out, cap, "%s", base_name(in));
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

/* ------------------------------------------------------- option parsing */

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int y5_parse_engine_specs(const char *devices, const char *threads, int ncores, y5_engine_spec *out, int max,
                          char *err, size_t errlen) {
    if (!devices || !*devices) devices = "cpu";
    if (ncores < 1) ncores = 1;
    int n = 0;
    for (const char *p = devices;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char tok[32];
        if (len == 0) { snprintf(err, errlen, "--device %s: empty entry in the list", devices); return -1; }
        if (len >= sizeof tok) { snprintf(err, errlen, "--device %s: entry too long", devices); return -1; }
        if (n == max) { snprintf(err, errlen, "--device %s: at most %d engines", devices, max); return -1; }
        memcpy(tok, p, len);
        tok[len] = 0;
        memset(&out[n], 0, sizeof out[n]);
        if (all_digits(tok)) snprintf(out[n].device, sizeof out[n].device, "cuda:%s", tok); /* "0" = GPU 0 */
        else snprintf(out[n].device, sizeof out[n].device, "%s", tok);
        n++;
        if (!c) break;
        p = c + 1;
    }
    int n_cpu = 0;
    for (int i = 0; i < n; i++) n_cpu += !strcmp(out[i].device, "cpu");
    if (threads && strchr(threads, ',')) {
        int k = 0;
        for (const char *p = threads;;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > 1024 || (*end && *end != ',')) {
                snprintf(err, errlen, "--threads %s: not a list of thread counts like 2,2", threads);
                return -1;
            }
            if (k < n) out[k].threads = (int)v;
            k++;
            if (!*end) break;
            p = end + 1;
        }
        if (k != n) {
            snprintf(err, errlen, "--threads %s: %d values for %d --device entries", threads, k, n);
            return -1;
        }
        return n;
    }
    long total = 0;
    if (threads && *threads) {
        char *end;
        total = strtol(threads, &end, 10);
        if (end == threads || *end || total < 0 || total > 1024) {
            snprintf(err, errlen, "--threads %s: not a thread count in [0, 1024]", threads);
            return -1;
        }
    }
    if (n_cpu == 0) return n;
    if (total == 0 && n_cpu == 1) return n; /* 0: the backend takes every core */
    if (total == 0) total = ncores;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(out[i].device, "cpu")) continue;
        int t = (int)(total / n_cpu) + (k < total % n_cpu);
        out[i].threads = t < 1 ? 1 : t;
        k++;
    }
    return n;
}

int y5_parse_shard(const char *v, int *k, int *n) {
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || *end != '/') return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || b < 1 || b > 1000000 || a < 0 || a >= b) return -1;
    *k = (int)a;
    *n = (int)b;
    return 0;
}

/* ------------------------------------------------------------ the state */

enum { S_FREE, S_DECODING, S_READY, S_ENGINE, S_WRITING, S_DONE };
enum { ST_DECODE, ST_LETTERBOX, ST_H2D, ST_FORWARD, ST_D2H, ST_NMS, ST_WRITE, ST_N };
static const char *const STAGE_NAME[ST_N] = {"read+decode", "letterbox", "H2D", "forward", "D2H", "NMS",
                                             "draw+encode+write"};
static const char *const STAGE_KEY[ST_N] = {"read_decode", "letterbox", "h2d", "forward", "d2h", "nms", "write"};

typedef struct {
    long long idx;
    int state;
    int fail, skip;
    y5_image img;         /* decoded; freed once nothing needs the pixels */
    int w0, h0;
    y5_letterbox_geom g;
    uint8_t *lb;          /* letterboxed u8 network input (staging) */
    y5_det *dets;
    int n_dets;
    char *line;           /* JSON line */
    double t_ready;
} item;

typedef struct pipe_s pipe_t;

typedef struct {
    pipe_t *p;
    int id;
    y5_engine *e;
    const y5_engine_spec *spec;
    int threads;          /* actual CPU threads (0 for a device engine) */
    y5_det *dets;
    double busy;
    long long images, batches;
    pthread_t th;
} engine_ctx;

struct pipe_s {
    const y5_pipeline_opts *o;
    pthread_mutex_t mu, print_mu, raw_mu;
    pthread_cond_t cv_claim, cv_ready, cv_write, cv_main;

    item *slots;
    int window;
    long long next_claim, emitted, n_total; /* n_total: -1 while unknown (raw) */
    int source_done, in_decode, emitting, abort;
    item **ready;
    int n_ready;
    item **wq;
    int wq_head, wq_n, engines_alive;

    engine_ctx *eng;
    int nc;
    const char (*names)[64];

    /* outputs */
    int jfd;                              /* .partial, -1: none */
    char jpath[4200], jpartial[4300], jprev[4300];
    int prev_fd;
    int64_t *prev_off;
    uint32_t *prev_len;
    unsigned char *shadow;                /* 1: a later input writes the same label, 2: the same image */

    /* counters (mu) */
    long long n_ok, n_failed, n_skipped, n_dets, n_new_written;
    int die_after;
    int lb_on_engine;                     /* Y5_PIPE_LETTERBOX=engine: letterbox on the engine thread */
    double flush_s;                       /* a partial group waits at most this long (Y5_PIPE_FLUSH_MS) */
    int partial_frame;                    /* raw: bytes of a trailing partial frame */
    double stage[ST_N];
    double t_start;

    /* progress (print_mu) */
    int bar_up;
};

/* A message line on stderr (clears the progress bar first on a terminal). */
static void plog(pipe_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plog(pipe_t *p, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&p->print_mu);
    if (p->bar_up) { fputs("\r\033[K", stderr); p->bar_up = 0; }
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    pthread_mutex_unlock(&p->print_mu);
}

static void item_name(const pipe_t *p, const item *it, char *buf, size_t cap) {
    if (p->o->raw_w > 0) snprintf(buf, cap, "frame_%06lld", it->idx);
    else snprintf(buf, cap, "%s", p->o->paths[it->idx]);
}

static void item_tag(const pipe_t *p, const item *it, char *buf, size_t cap) {
    if (p->o->raw_w > 0) snprintf(buf, cap, "[frame %lld]", it->idx);
    else snprintf(buf, cap, "[%lld/%d]", it->idx + 1, p->o->n_paths);
}

static void item_release(item *it) {
    y5_image_free(&it->img);
    free(it->lb);
    it->lb = NULL;
    free(it->dets);
    it->dets = NULL;
    free(it->line);
    it->line = NULL;
}

static void set_abort(pipe_t *p) { /* mu held */
    p->abort = 1;
    p->source_done = 1;
    pthread_cond_broadcast(&p->cv_claim);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_cond_broadcast(&p->cv_write);
    pthread_cond_broadcast(&p->cv_main);
}

/* Writes the in-order outputs of one image (mu NOT held; only the single
 * emitter runs this). Returns 0, or -1 after a fatal output error. */
static int emit_one(pipe_t *p, item *it, double *write_s) {
    const y5_pipeline_opts *o = p->o;
    double t0 = y5_now_s();
    int rc = 0;
    if (it->skip) {
        uint32_t len = p->prev_len[it->idx];
        char *buf = malloc(len ? len : 1);
        if (!buf || pread(p->prev_fd, buf, len, p->prev_off[it->idx]) != (ssize_t)len ||
            write_all(p->jfd, buf, len)) {
            plog(p, "yolov5c detect: %s: cannot copy a line of %s (%s)\n", p->jpartial, p->jprev, strerror(errno));
            rc = -1;
        }
        free(buf);
    } else {
        if (!it->fail && it->line && p->jfd >= 0 && write_all(p->jfd, it->line, strlen(it->line))) {
            plog(p, "yolov5c detect: %s: cannot write (%s)\n", p->jpartial, strerror(errno));
            rc = -1;
        }
        if (!rc && o->raw_out && it->img.px) {
            if (write_all(1, it->img.px, (size_t)it->img.w * it->img.h * 3)) {
                if (errno == EPIPE) plog(p, "yolov5c detect: stdout was closed by its reader; stopping\n");
                else plog(p, "yolov5c detect: cannot write frames to stdout (%s)\n", strerror(errno));
                rc = -1;
            }
        }
    }
    *write_s += y5_now_s() - t0;
    return rc;
}

/* Marks it DONE and, unless another thread is emitting, emits every DONE
 * image at the head of the input order. mu held on entry and on return. */
static void finish_item(pipe_t *p, item *it) {
    it->state = S_DONE;
    pthread_cond_broadcast(&p->cv_main);
    if (p->emitting) return;
    p->emitting = 1;
    for (;;) {
        item *h = &p->slots[p->emitted % p->window];
        if (h->state != S_DONE || h->idx != p->emitted) break;
        int aborted = p->abort;
        double wt = 0;
        pthread_mutex_unlock(&p->mu);
        int bad = aborted ? 0 : emit_one(p, h, &wt);
        item_release(h);
        pthread_mutex_lock(&p->mu);
        p->stage[ST_WRITE] += wt;
        if (h->skip) p->n_skipped++;
        else if (h->fail || aborted || bad) p->n_failed++; /* not written whole: not done */
        else {
            p->n_ok++;
            p->n_dets += h->n_dets;
        }
        if (bad && !p->abort) set_abort(p);
        h->state = S_FREE;
        p->emitted++;
        if (!bad && !aborted && !h->skip && !h->fail && p->die_after > 0 && ++p->n_new_written >= p->die_after)
            _exit(137); /* tests: a kill right after N images are fully written */
        pthread_cond_broadcast(&p->cv_claim);
        pthread_cond_broadcast(&p->cv_main);
        pthread_cond_broadcast(&p->cv_ready); /* a freed slot may unblock a partial batch decision */
    }
    p->emitting = 0;
}

/* ------------------------------------------------------- decode workers */

static void ready_insert(pipe_t *p, item *it) { /* sorted by idx */
    int i = p->n_ready;
    while (i > 0 && p->ready[i - 1]->idx > it->idx) {
        p->ready[i] = p->ready[i - 1];
        i--;
    }
    p->ready[i] = it;
    p->n_ready++;
}

static void *decoder_main(void *arg) {
    pipe_t *p = arg;
    const y5_pipeline_opts *o = p->o;
    y5_flush_denormals();
    double acc[ST_N] = {0};
    void *scratch = NULL;
    size_t scratch_cap = 0;
    char err[1024], tag[64];
    const int raw = o->raw_w > 0;
    const size_t frame_bytes = raw ? (size_t)o->raw_w * o->raw_h * 3 : 0;
    for (;;) {
        if (raw) pthread_mutex_lock(&p->raw_mu); /* claim + read in order */
        pthread_mutex_lock(&p->mu);
        while (!p->source_done && p->next_claim >= p->emitted + p->window) pthread_cond_wait(&p->cv_claim, &p->mu);
        if (p->source_done) {
            pthread_mutex_unlock(&p->mu);
            if (raw) pthread_mutex_unlock(&p->raw_mu);
            break;
        }
        long long idx = p->next_claim++;
        item *it = &p->slots[idx % p->window];
        memset(it, 0, sizeof *it);
        it->idx = idx;
        it->state = S_DECODING;
        if (!raw && p->next_claim >= o->n_paths) {
            p->source_done = 1;
            pthread_cond_broadcast(&p->cv_claim);
        }
        if (!raw && p->prev_off && p->prev_off[idx] >= 0) { /* --resume: complete already */
            it->skip = 1;
            finish_item(p, it);
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->in_decode++;
        pthread_mutex_unlock(&p->mu);

        double t0 = y5_now_s();
        int bad = 0, eof = 0;
        if (raw) {
            it->img.px = malloc(frame_bytes);
            if (!it->img.px) { /* cannot skip a frame without losing the stream's framing: stop */
                plog(p, "yolov5c detect: out of memory for a %dx%d frame; stopping\n", o->raw_w, o->raw_h);
                eof = 1;
                p->partial_frame = -1;
            } else {
                ssize_t got = read_full(o->raw_fd, it->img.px, frame_bytes);
                if (got == (ssize_t)frame_bytes) { it->img.w = o->raw_w; it->img.h = o->raw_h; }
                else {
                    eof = 1;
                    if (got < 0) {
                        plog(p, "yolov5c detect: stdin: read error (%s)\n", strerror(errno));
                        p->partial_frame = -1;
                    } else if (got > 0) {
                        p->partial_frame = (int)got;
                    }
                }
            }
            /* at the end of the stream raw_mu stays held until source_done
             * is set below, so no other worker claims an index past it */
            if (!eof) pthread_mutex_unlock(&p->raw_mu);
        } else {
            bad = y5_image_load(o->paths[idx], &it->img, err, sizeof err) != 0;
        }
        double t1 = y5_now_s();
        acc[ST_DECODE] += t1 - t0;
        if (eof) { /* this index does not exist: the stream ended */
            item_release(it);
            pthread_mutex_lock(&p->mu);
            it->state = S_FREE;
            p->n_total = idx;
            p->next_claim = idx; /* raw_mu, still held, serialised the claims: nothing after idx was claimed */
            p->in_decode--;
            if (p->partial_frame || bad) p->n_failed++; /* reported at the end */
            p->source_done = 1;
            pthread_cond_broadcast(&p->cv_claim);
            pthread_cond_broadcast(&p->cv_ready);
            pthread_cond_broadcast(&p->cv_main);
            pthread_mutex_unlock(&p->mu);
            pthread_mutex_unlock(&p->raw_mu);
            break;
        }
        if (!bad) {
            it->w0 = it->img.w;
            it->h0 = it->img.h;
            y5_letterbox_plan(it->w0, it->h0, o->det.imgsz_h, o->det.imgsz_w, !o->det.square, 32, &it->g);
        }
        if (!bad && !p->lb_on_engine) {
            size_t sc = y5_letterbox_scratch(&it->g);
            if (sc > scratch_cap) {
                free(scratch);
                scratch = malloc(sc);
                scratch_cap = scratch ? sc : 0;
            }
            it->lb = malloc((size_t)it->g.out_w * it->g.out_h * 3);
            if (!it->lb || (sc && !scratch)) { snprintf(err, sizeof err, "out of memory"); bad = 1; }
            else y5_letterbox_u8(&it->img, &it->g, it->lb, scratch);
            if (!bad && o->no_save && !o->raw_out) y5_image_free(&it->img); /* nothing will draw on it */
            acc[ST_LETTERBOX] += y5_now_s() - t1;
        }
        pthread_mutex_lock(&p->mu);
        p->in_decode--;
        if (bad) {
            item_tag(p, it, tag, sizeof tag);
            pthread_mutex_unlock(&p->mu);
            plog(p, "%s skipped: %s\n", tag, err);
            pthread_mutex_lock(&p->mu);
            it->fail = 1;
            finish_item(p, it);
        } else {
            it->state = S_READY;
            it->t_ready = y5_now_s();
            ready_insert(p, it);
        }
        pthread_cond_broadcast(&p->cv_ready);
        pthread_mutex_unlock(&p->mu);
    }
    free(scratch);
    pthread_mutex_lock(&p->mu);
    for (int s = 0; s < ST_N; s++) p->stage[s] += acc[s];
    pthread_cond_broadcast(&p->cv_ready);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* --------------------------------------------------------------- engines */

static int same_shape(const item *a, const item *b) { return a->g.out_h == b->g.out_h && a->g.out_w == b->g.out_w; }

/* Removes up to B ready images of ready[i]'s shape (from i on, in input
 * order) into out. mu held. */
static int take_group(pipe_t *p, int i, int B, item **out) {
    item *ref = p->ready[i];
    int k = 0, w = 0;
    for (int j = 0; j < p->n_ready; j++) {
        item *x = p->ready[j];
        if (j >= i && k < B && same_shape(x, ref)) out[k++] = x;
        else p->ready[w++] = x;
    }
    p->n_ready = w;
    return k;
}

/* The next batch for an idle engine, or 0 with *deadline set when a group
 * should wait a little for more images of its shape. mu held. */
static int pick_batch(pipe_t *p, item **out, double *deadline) {
    *deadline = 0;
    if (p->n_ready == 0) return 0;
    const int B = p->o->batch;
    for (int i = 0; i < p->n_ready; i++) {
        int seen = 0, cnt = 0;
        for (int j = 0; j < i && !seen; j++) seen = same_shape(p->ready[j], p->ready[i]);
        if (seen) continue;
        for (int j = i; j < p->n_ready; j++) cnt += same_shape(p->ready[j], p->ready[i]);
        if (cnt >= B) return take_group(p, i, B, out);
    }
    /* no full group: can more images still arrive? */
    int more = p->in_decode > 0 || (!p->source_done && p->next_claim < p->emitted + p->window);
    double due = p->ready[0]->t_ready + p->flush_s;
    if (!more || y5_now_s() >= due) return take_group(p, 0, B, out);
    *deadline = due;
    return 0;
}

static void run_batch(engine_ctx *E, item **b, int k, double *acc) {
    pipe_t *p = E->p;
    const y5_pipeline_opts *o = p->o;
    char err[1024], tag[64];
    const int h = b[0]->g.out_h, w = b[0]->g.out_w;
    double t0 = y5_now_s();
    int rc = y5_engine_plan(E->e, k, h, w, err, sizeof err);
    if (!rc) {
        float *in = y5_engine_input(E->e);
        const size_t px = (size_t)h * w * 3;
        for (int i = 0; i < k; i++) {
            if (b[i]->lb) {
                y5_u8_to_unit_f32(b[i]->lb, px, in + (size_t)i * px);
                continue;
            }
            double tl = y5_now_s(); /* Y5_PIPE_LETTERBOX=engine: letterbox here, into the batch slot */
            if (y5_engine_put_image(E->e, i, &b[i]->img, &b[i]->g, err, sizeof err)) {
                rc = -1;
                break;
            }
            if (o->no_save && !o->raw_out) y5_image_free(&b[i]->img);
            tl = y5_now_s() - tl;
            acc[ST_LETTERBOX] += tl;
            t0 += tl;
            E->busy += tl;
        }
        if (!rc) rc = y5_engine_forward(E->e, err, sizeof err);
    }
    double t1 = y5_now_s();
    acc[ST_FORWARD] += t1 - t0;
    for (int i = 0; i < k; i++) {
        item *it = b[i];
        free(it->lb);
        it->lb = NULL;
        if (rc) { it->fail = 1; continue; }
        int n = y5_engine_nms(E->e, i, &o->det.nms, it->w0, it->h0, E->dets, o->det.nms.max_det);
        if (n < 0) {
            snprintf(err, sizeof err, "out of memory in NMS");
            it->fail = 1;
            continue;
        }
        it->dets = malloc(sizeof(y5_det) * (size_t)(n > 0 ? n : 1));
        if (!it->dets) { snprintf(err, sizeof err, "out of memory"); it->fail = 1; continue; }
        memcpy(it->dets, E->dets, sizeof(y5_det) * (size_t)n);
        it->n_dets = n;
    }
    double t2 = y5_now_s();
    acc[ST_NMS] += t2 - t1;
    E->busy += t2 - t0;
    E->images += k;
    E->batches++;
    for (int i = 0; i < k; i++)
        if (b[i]->fail) {
            item_tag(p, b[i], tag, sizeof tag);
            char name[4200];
            item_name(p, b[i], name, sizeof name);
            plog(p, "%s failed: %s: %s\n", tag, name, err);
        }
}

static void *engine_main(void *arg) {
    engine_ctx *E = arg;
    pipe_t *p = E->p;
    y5_flush_denormals();
    double acc[ST_N] = {0};
    item **batch = malloc(sizeof(item *) * (size_t)p->o->batch);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        double deadline = 0;
        int k = batch ? pick_batch(p, batch, &deadline) : 0;
        if (k == 0) {
            if (p->n_ready == 0 && p->source_done && p->in_decode == 0) break;
            if (!batch) break;
            if (deadline > 0) {
                struct timespec ts = abs_deadline(deadline);
                pthread_cond_timedwait(&p->cv_ready, &p->mu, &ts);
            } else {
                pthread_cond_wait(&p->cv_ready, &p->mu);
            }
            continue;
        }
        for (int i = 0; i < k; i++) batch[i]->state = S_ENGINE;
        pthread_mutex_unlock(&p->mu);
        run_batch(E, batch, k, acc);
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < k; i++) {
            item *it = batch[i];
            if (it->fail) {
                finish_item(p, it);
            } else {
                it->state = S_WRITING;
                p->wq[(p->wq_head + p->wq_n) % p->window] = it;
                p->wq_n++;
                pthread_cond_signal(&p->cv_write);
            }
        }
    }
    for (int s = 0; s < ST_N; s++) p->stage[s] += acc[s];
    p->engines_alive--;
    pthread_cond_broadcast(&p->cv_write);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_mutex_unlock(&p->mu);
    free(batch);
    return NULL;
}

/* --------------------------------------------------------------- writers */

static void write_item(pipe_t *p, item *it) {
    const y5_pipeline_opts *o = p->o;
    char err[1024], name[4200], path[8600];
    item_name(p, it, name, sizeof name);
    int bad = 0;
    unsigned sh = p->shadow ? p->shadow[it->idx] : 0;
    if (o->out_dir) {
        char st[4200];
        y5_out_stem(name, st, sizeof st);
        snprintf(path, sizeof path, "%s/labels/%s.txt", o->out_dir, st);
        if (!(sh & 1)) bad = y5_write_labels(path, it->dets, it->n_dets, it->w0, it->h0, err, sizeof err);
    }
    if (!bad && (o->raw_out || (o->out_dir && !o->no_save))) {
        y5_draw_detections(&it->img, it->dets, it->n_dets, p->names, p->nc);
        if (!o->raw_out && !(sh & 2)) {
            char in[4200];
            y5_out_image_name(name, in, sizeof in);
            snprintf(path, sizeof path, "%s/%s", o->out_dir, in);
            bad = y5_image_write(path, &it->img, err, sizeof err);
            if (bad && o->out_dir && !(sh & 1)) { /* the image failed: its label must not claim it is done */
                char st[4200], lp[8600];
                y5_out_stem(name, st, sizeof st);
                snprintf(lp, sizeof lp, "%s/labels/%s.txt", o->out_dir, st);
                unlink(lp);
            }
        }
    }
    if (!bad && p->jfd >= 0) {
        it->line = y5_json_line(name, it->w0, it->h0, it->dets, it->n_dets, p->names, p->nc);
        if (!it->line) { snprintf(err, sizeof err, "%s: out of memory", name); bad = 1; }
    }
    if (!o->raw_out) y5_image_free(&it->img);
    if (bad) {
        char tag[64];
        item_tag(p, it, tag, sizeof tag);
        plog(p, "%s failed: %s\n", tag, err);
        it->fail = 1;
    }
}

static void *writer_main(void *arg) {
    pipe_t *p = arg;
    y5_flush_denormals();
    double acc = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->wq_n == 0 && p->engines_alive > 0) pthread_cond_wait(&p->cv_write, &p->mu);
        if (p->wq_n == 0) break;
        item *it = p->wq[p->wq_head];
        p->wq_head = (p->wq_head + 1) % p->window;
        p->wq_n--;
        pthread_mutex_unlock(&p->mu);
        double t0 = y5_now_s();
        write_item(p, it);
        acc += y5_now_s() - t0;
        pthread_mutex_lock(&p->mu);
        finish_item(p, it);
    }
    p->stage[ST_WRITE] += acc;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---------------------------------------------------------------- resume */

typedef struct {
    uint64_t h;
    int64_t off;
    uint32_t len;
    int src; /* -1: empty */
} rent;

typedef struct {
    rent *t;
    size_t cap, n;
} rtab;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ull; }
    return h;
}

/* The image key of a detections.jsonl line: the bytes of the JSON string
 * after {"image": (escaped as written). 0, or -1 for a foreign line. */
static int line_key(const char *s, size_t n, size_t *ks, size_t *kl) {
    static const char pre[] = "{\"image\": \"";
    const size_t pl = sizeof pre - 1;
    if (n < pl || memcmp(s, pre, pl)) return -1;
    for (size_t i = pl; i < n; i++) {
        if (s[i] == '\\') { i++; continue; }
        if (s[i] == '"') { *ks = pl; *kl = i - pl; return 0; }
    }
    return -1;
}

static int rtab_put(rtab *t, uint64_t h, int64_t off, uint32_t len, int src) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        rent *nt = malloc(nc * sizeof *nt);
        if (!nt) return -1;
        for (size_t i = 0; i < nc; i++) nt[i].src = -1;
        for (size_t i = 0; i < t->cap; i++) {
            if (t->t[i].src < 0) continue;
            size_t j = t->t[i].h & (nc - 1);
            while (nt[j].src >= 0) j = (j + 1) & (nc - 1);
            nt[j] = t->t[i];
        }
        free(t->t);
        t->t = nt;
        t->cap = nc;
    }
    size_t j = h & (t->cap - 1);
    while (t->t[j].src >= 0 && t->t[j].h != h) j = (j + 1) & (t->cap - 1);
    if (t->t[j].src < 0) t->n++;
    t->t[j].h = h;
    t->t[j].off = off;
    t->t[j].len = len;
    t->t[j].src = src; /* a later source replaces an earlier one */
    return 0;
}

static const rent *rtab_get(const rtab *t, uint64_t h) {
    if (!t->cap) return NULL;
    size_t j = h & (t->cap - 1);
    while (t->t[j].src >= 0) {
        if (t->t[j].h == h) return &t->t[j];
        j = (j + 1) & (t->cap - 1);
    }
    return NULL;
}

/* Indexes the complete lines of one file (an incomplete last line is
 * ignored). */
static int scan_jsonl(FILE *f, int src, rtab *t) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t off = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        size_t ks, kl;
        if (line[len - 1] == '\n' && len < (ssize_t)UINT32_MAX && !line_key(line, (size_t)len, &ks, &kl) &&
            rtab_put(t, fnv1a(line + ks, kl), off, (uint32_t)len, src)) {
            rc = -1;
            break;
        }
        off += len;
    }
    free(line);
    return rc;
}

/* Removes temp files ("NAME.tmp.PID.N") that a killed run left in dir. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (end == t + 5 || *end != '.' || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* its writer may still be alive */
        char path[8600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* The outputs of input i are complete on disk (label, image unless
 * --no-save). */
static int outputs_complete(const pipe_t *p, int i) {
    const y5_pipeline_opts *o = p->o;
    char st[4200], path[8600];
    y5_out_stem(o->paths[i], st, sizeof st);
    snprintf(path, sizeof path, "%s/labels/%s.txt", o->out_dir, st);
    if (!file_exists(path)) return 0;
    if (o->no_save) return 1;
    y5_out_image_name(o->paths[i], st, sizeof st);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, st);
    return file_exists(path);
}

/* --resume: finds the complete images, carries their lines into .prev and
 * sets prev_off/prev_len. Returns the number skipped, or -1. */
static int resume_prepare(pipe_t *p) {
    const y5_pipeline_opts *o = p->o;
    char err[1024];
    remove_stale_temps(o->out_dir);
    char lab[4200];
    snprintf(lab, sizeof lab, "%s/labels", o->out_dir);
    remove_stale_temps(lab);

    const char *srcs[3] = {p->jpath, p->jprev, p->jpartial}; /* oldest to newest */
    FILE *f[3] = {0};
    rtab t = {0};
    int rc = 0, skipped = 0;
    for (int s = 0; s < 3 && !rc; s++) {
        f[s] = fopen(srcs[s], "rb");
        if (f[s] && scan_jsonl(f[s], s, &t)) rc = -1;
    }
    p->prev_off = malloc(sizeof(int64_t) * (size_t)(o->n_paths ? o->n_paths : 1));
    p->prev_len = malloc(sizeof(uint32_t) * (size_t)(o->n_paths ? o->n_paths : 1));
    if (rc || !p->prev_off || !p->prev_len) {
        plog(p, "yolov5c detect: --resume: out of memory indexing the earlier results\n");
        rc = -1;
    }
    y5_atomic_file a;
    int aopen = 0;
    char *buf = NULL;
    size_t bcap = 0;
    int64_t woff = 0;
    if (!rc && t.n) {
        if (y5_atomic_open(&a, p->jprev, err, sizeof err)) { plog(p, "yolov5c detect: %s\n", err); rc = -1; }
        else aopen = 1;
    }
    for (int i = 0; !rc && i < o->n_paths; i++) {
        p->prev_off[i] = -1;
        p->prev_len[i] = 0;
        if (!t.n) continue;
        char *kl_line = y5_json_line(o->paths[i], 0, 0, NULL, 0, NULL, 0);
        size_t ks, kl;
        if (!kl_line || line_key(kl_line, strlen(kl_line), &ks, &kl)) { free(kl_line); continue; }
        const rent *r = rtab_get(&t, fnv1a(kl_line + ks, kl));
        if (r && outputs_complete(p, i)) {
            if (bcap < r->len) {
                free(buf);
                bcap = r->len;
                buf = malloc(bcap);
                if (!buf) { bcap = 0; rc = -1; free(kl_line); break; }
            }
            size_t ks2, kl2;
            if (pread(fileno(f[r->src]), buf, r->len, r->off) == (ssize_t)r->len &&
                !line_key(buf, r->len, &ks2, &kl2) && kl2 == kl && !memcmp(buf + ks2, kl_line + ks, kl) &&
                buf[r->len - 1] == '\n') {
                if (fwrite(buf, 1, r->len, a.f) != r->len) {
                    plog(p, "yolov5c detect: %s: write failed\n", p->jprev);
                    rc = -1;
                } else {
                    p->prev_off[i] = woff;
                    p->prev_len[i] = r->len;
                    woff += r->len;
                    skipped++;
                }
            }
        }
        free(kl_line);
    }
    free(buf);
    free(t.t);
    if (aopen) {
        if (rc) y5_atomic_abort(&a);
        else if (y5_atomic_commit(&a, err, sizeof err)) { plog(p, "yolov5c detect: %s\n", err); rc = -1; }
    }
    for (int s = 0; s < 3; s++)
        if (f[s]) fclose(f[s]);
    if (rc) return -1;
    if (skipped) {
        p->prev_fd = open(p->jprev, O_RDONLY | O_CLOEXEC);
        if (p->prev_fd < 0) { plog(p, "yolov5c detect: %s: %s\n", p->jprev, strerror(errno)); return -1; }
    } else {
        unlink(p->jprev);
        free(p->prev_off);
        free(p->prev_len);
        p->prev_off = NULL;
        p->prev_len = NULL;
    }
    return skipped;
}

/* Several inputs with one output name (a/x.jpg, b/x.jpg -> labels/x.txt):
 * the last in input order wins, as when they were processed one by one. */
typedef struct { char *name; int idx; } named;
static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int mark_shadowed(pipe_t *p) {
    const y5_pipeline_opts *o = p->o;
    int n = o->n_paths;
    p->shadow = calloc((size_t)(n ? n : 1), 1);
    named *v = malloc(sizeof(named) * (size_t)(n ? n : 1));
    if (!p->shadow || !v) { free(v); return -1; }
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            char b[4200];
            if (pass == 0) y5_out_stem(o->paths[i], b, sizeof b);
            else y5_out_image_name(o->paths[i], b, sizeof b);
            v[k].name = strdup(b);
            v[k].idx = i;
            if (!v[k].name) { rc = -1; break; }
            k++;
        }
        if (!rc) {
            qsort(v, (size_t)k, sizeof *v, cmp_named);
            for (int i = 0; i + 1 < k; i++)
                if (!strcmp(v[i].name, v[i + 1].name)) p->shadow[v[i].idx] |= (unsigned char)(1u << pass);
        }
        for (int i = 0; i < k; i++) free(v[i].name);
    }
    free(v);
    return rc;
}

/* ------------------------------------------------------ progress, stats */

static void fmt_eta(double s, char *b, size_t cap) {
    if (!(s >= 0) || s > 1e7) { snprintf(b, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, cap, "%ld:%02ld", t / 60, t % 60);
}

static void show_progress(pipe_t *p, long long done, long long skipped, long long failed, int final) {
    const y5_pipeline_opts *o = p->o;
    double el = y5_now_s() - p->t_start;
    long long total = o->raw_w > 0 ? -1 : o->n_paths;
    double rate = el > 0 ? (double)(done - skipped) / el : 0;
    char eta[32] = "";
    if (total > 0 && rate > 0) fmt_eta((double)(total - done) / rate, eta, sizeof eta);
    pthread_mutex_lock(&p->print_mu);
    if (o->progress) {
        char bar[32];
        int w = 24, fill = total > 0 ? (int)(w * done / (total ? total : 1)) : 0;
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        if (total > 0)
            fprintf(stderr, "\r\033[K[%s] %lld/%lld  %.1f images/s  ETA %s%s", bar, done, total, rate, eta[0] ? eta : "?",
                    failed ? "  (failures above)" : "");
        else
            fprintf(stderr, "\r\033[K%lld frames  %.1f frames/s", done, rate);
        p->bar_up = 1;
        if (final) { fputs("\r\033[K", stderr); p->bar_up = 0; }
    } else if (!final) {
        if (total > 0)
            fprintf(stderr, "progress: %lld/%lld images, %lld failed, %.1f images/s, ETA %s\n", done, total, failed, rate,
                    eta[0] ? eta : "?");
        else
            fprintf(stderr, "progress: %lld frames, %.1f frames/s\n", done, rate);
    }
    fflush(stderr);
    pthread_mutex_unlock(&p->print_mu);
}

typedef struct {
    double total[ST_N];
    int workers[ST_N];
    int na[ST_N];
    int bound;
    double wall, load;
} stage_report;

static void build_report(pipe_t *p, double wall, double load, stage_report *r) {
    const y5_pipeline_opts *o = p->o;
    memset(r, 0, sizeof *r);
    r->wall = wall;
    r->load = load;
    for (int s = 0; s < ST_N; s++) {
        r->total[s] = p->stage[s];
        r->workers[s] = s <= ST_LETTERBOX ? o->workers : s == ST_WRITE ? o->writers : o->n_engines;
        if (s == ST_LETTERBOX && p->lb_on_engine) r->workers[s] = o->n_engines;
        /* H2D/D2H: not separately timed by the engine API yet (none on the CPU) */
        r->na[s] = s == ST_H2D || s == ST_D2H;
    }
    r->bound = ST_FORWARD;
    double best = -1;
    for (int s = 0; s < ST_N; s++) {
        if (r->na[s]) continue;
        double v = r->total[s] / r->workers[s];
        if (v > best) { best = v; r->bound = s; }
    }
}

static void print_report(pipe_t *p, const stage_report *r, long long processed) {
    const y5_pipeline_opts *o = p->o;
    fprintf(stderr, "stages (summed over threads; bound = total / workers):\n");
    fprintf(stderr, "  %-18s %9s %8s %11s %11s\n", "stage", "total s", "workers", "s / worker", "ms / image");
    for (int s = 0; s < ST_N; s++) {
        if (r->na[s]) { fprintf(stderr, "  %-18s %9s\n", STAGE_NAME[s], "n/a"); continue; }
        fprintf(stderr, "  %-18s %9.3f %8d %11.3f %11.2f\n", STAGE_NAME[s], r->total[s], r->workers[s],
                r->total[s] / r->workers[s], processed ? r->total[s] * 1e3 / (double)processed : 0.0);
    }
    for (int i = 0; i < o->n_engines; i++) {
        engine_ctx *E = &p->eng[i];
        char th[32] = "";
        if (E->threads > 0) snprintf(th, sizeof th, ", %d threads", E->threads);
        fprintf(stderr, "engine %d (%s%s): busy %.0f%% of %.2f s, %lld images in %lld batches\n", i, E->spec->device, th,
                r->wall > 0 ? 100 * E->busy / r->wall : 0.0, r->wall, E->images, E->batches);
    }
    fprintf(stderr, "bound by: %s (%.3f s per worker of %.2f s wall; model load %.2f s)\n", STAGE_NAME[r->bound],
            r->total[r->bound] / r->workers[r->bound], r->wall, r->load);
}

static int write_stats_json(pipe_t *p, const stage_report *r, long long processed) {
    const y5_pipeline_opts *o = p->o;
    size_t cap = 8192 + (size_t)o->n_engines * 256, n = 0;
    char *s = malloc(cap);
    if (!s) return -1;
#define PUT(...) (n += (size_t)snprintf(s + n, cap > n ? cap - n : 0, __VA_ARGS__))
    long long total = o->raw_w > 0 ? p->emitted : o->n_paths;
    PUT("{\n  \"images\": %lld,\n  \"processed\": %lld,\n  \"failed\": %lld,\n  \"skipped\": %lld,\n", total, processed,
        p->n_failed, p->n_skipped);
    PUT("  \"detections\": %lld,\n  \"wall_s\": %.6f,\n  \"load_s\": %.6f,\n  \"images_per_s\": %.4f,\n", p->n_dets,
        r->wall, r->load, r->wall > 0 ? (double)p->n_ok / r->wall : 0.0);
    PUT("  \"batch\": %d,\n  \"workers\": %d,\n  \"writers\": %d,\n  \"queue\": %d,\n  \"imgsz\": [%d, %d],\n", o->batch,
        o->workers, o->writers, p->window, o->det.imgsz_h, o->det.imgsz_w);
    PUT("  \"engines\": [");
    for (int i = 0; i < o->n_engines; i++) {
        engine_ctx *E = &p->eng[i];
        PUT("%s{\"device\": \"%s\", \"threads\": %d, \"busy\": %.4f, \"busy_s\": %.6f, \"images\": %lld, \"batches\": %lld}",
            i ? ", " : "", E->spec->device, E->threads, r->wall > 0 ? E->busy / r->wall : 0.0, E->busy, E->images,
            E->batches);
    }
    PUT("],\n  \"stages\": {");
    for (int st = 0; st < ST_N; st++) {
        if (r->na[st]) { PUT("%s\n    \"%s\": null", st ? "," : "", STAGE_KEY[st]); continue; }
        PUT("%s\n    \"%s\": {\"total_s\": %.6f, \"workers\": %d, \"per_worker_s\": %.6f, \"per_image_ms\": %.4f}",
            st ? "," : "", STAGE_KEY[st], r->total[st], r->workers[st], r->total[st] / r->workers[st],
            processed ? r->total[st] * 1e3 / (double)processed : 0.0);
    }
    PUT("\n  },\n  \"bound_by\": \"%s\"\n}\n", STAGE_KEY[r->bound]);
#undef PUT
    char err[1024];
    int rc = 0;
    if (n >= cap) rc = -1;
    else if (y5_write_file_atomic(o->stats_json, s, n, err, sizeof err)) {
        plog(p, "yolov5c detect: --stats-json: %s\n", err);
        rc = -1;
    }
    free(s);
    return rc;
}

/* ------------------------------------------------------------------- run */

int y5_pipeline_run(const y5_pipeline_opts *o) {
    pipe_t P, *p = &P;
    memset(p, 0, sizeof P);
    p->o = o;
    p->jfd = -1;
    p->prev_fd = -1;
    p->n_total = o->raw_w > 0 ? -1 : o->n_paths;
    const int raw = o->raw_w > 0;
    int rc = 1, started_threads = 0;
    pthread_t *dec = NULL, *wri = NULL;
    char err[1024];
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->print_mu, NULL);
    pthread_mutex_init(&p->raw_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv_claim, &ca);
    pthread_cond_init(&p->cv_ready, &ca);
    pthread_cond_init(&p->cv_write, &ca);
    pthread_cond_init(&p->cv_main, &ca);
    pthread_condattr_destroy(&ca);
    const char *die = getenv("Y5_TEST_DIE_AFTER");
    p->die_after = die ? atoi(die) : 0;
    p->lb_on_engine = y5_debug_env()->pipe_letterbox_engine;
    p->flush_s = (y5_debug_env()->pipe_flush_ms >= 0 ? y5_debug_env()->pipe_flush_ms : Y5_PIPE_FLUSH_MS) / 1e3;

    p->window = o->queue;
    p->slots = calloc((size_t)p->window, sizeof(item));
    p->ready = calloc((size_t)p->window, sizeof(item *));
    p->wq = calloc((size_t)p->window, sizeof(item *));
    p->eng = calloc((size_t)o->n_engines, sizeof(engine_ctx));
    dec = calloc((size_t)o->workers, sizeof(pthread_t));
    wri = calloc((size_t)o->writers, sizeof(pthread_t));
    if (!p->slots || !p->ready || !p->wq || !p->eng || !dec || !wri) {
        fprintf(stderr, "yolov5c detect: out of memory\n");
        goto out;
    }

    /* engines */
    double tl = y5_now_s();
    for (int i = 0; i < o->n_engines; i++) {
        engine_ctx *E = &p->eng[i];
        E->p = p;
        E->id = i;
        E->spec = &o->engines[i];
        y5_engine_opts eo = {E->spec->device, E->spec->threads};
        E->e = y5_engine_open(o->weights, &eo, err, sizeof err);
        if (!E->e) { fprintf(stderr, "yolov5c detect: %s\n", err); goto out; }
        y5_engine_set_lazy_cls(E->e, o->det.nms.conf_thres);
        E->threads = !strcmp(E->spec->device, "cpu") ? y5_backend_cpu_threads(E->e->be) : 0;
        E->dets = malloc(sizeof(y5_det) * (size_t)o->det.nms.max_det);
        if (!E->dets) { fprintf(stderr, "yolov5c detect: out of memory\n"); goto out; }
    }
    double load = y5_now_s() - tl;
    p->nc = y5_engine_nc(p->eng[0].e);
    p->names = y5_engine_names(p->eng[0].e);
    for (int k = 0; k < o->det.nms.n_classes; k++)
        if (o->det.nms.classes[k] >= p->nc)
            fprintf(stderr, "yolov5c detect: warning: --classes %d: the model has %d classes\n", o->det.nms.classes[k], p->nc);

    /* outputs */
    if (!raw && mark_shadowed(p)) { fprintf(stderr, "yolov5c detect: out of memory\n"); goto out; }
    if (o->jsonl) {
        snprintf(p->jpath, sizeof p->jpath, "%s", o->jsonl);
        snprintf(p->jpartial, sizeof p->jpartial, "%s.partial", o->jsonl);
        snprintf(p->jprev, sizeof p->jprev, "%s.prev", o->jsonl);
    }
    if (o->jsonl) { /* fail now, not after the whole run, when the result cannot be renamed into place */
        struct stat jst;
        if (stat(o->jsonl, &jst) == 0 && S_ISDIR(jst.st_mode)) {
            fprintf(stderr, "yolov5c detect: %s: is a directory (detections.jsonl cannot be written there)\n", o->jsonl);
            rc = 1;
            goto out;
        }
    }
    int skipped = 0;
    if (o->resume && !raw && o->jsonl) {
        skipped = resume_prepare(p);
        if (skipped < 0) goto out;
        fprintf(stderr, "resume: %d of %d images already complete, skipped\n", skipped, o->n_paths);
    } else if (o->jsonl) {
        unlink(p->jprev);
    }
    if (o->jsonl) {
        p->jfd = open(p->jpartial, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0666);
        if (p->jfd < 0) { fprintf(stderr, "yolov5c detect: %s: cannot create (%s)\n", p->jpartial, strerror(errno)); goto out; }
    }
    if (o->raw_out) signal(SIGPIPE, SIG_IGN);

    {
        char th[64] = "";
        if (p->eng[0].threads > 0) snprintf(th, sizeof th, ", %d threads", p->eng[0].threads);
        if (raw)
            fprintf(stderr, "detect: raw %dx%d RGB24 frames from stdin", o->raw_w, o->raw_h);
        else
            fprintf(stderr, "detect: %d images", o->n_paths);
        fprintf(stderr, ", %d engine%s (%s%s%s), batch %d, %d decode workers, %d writers, queue %d\n", o->n_engines,
                o->n_engines > 1 ? "s" : "", p->eng[0].spec->device, th, o->n_engines > 1 ? ", ..." : "", o->batch,
                o->workers, o->writers, p->window);
    }

    /* threads */
    p->t_start = y5_now_s();
    p->source_done = !raw && o->n_paths == 0;
    p->engines_alive = o->n_engines;
    int ok = 1;
    for (int i = 0; i < o->n_engines && ok; i++) ok = !pthread_create(&p->eng[i].th, NULL, engine_main, &p->eng[i]);
    for (int i = 0; i < o->writers && ok; i++) ok = !pthread_create(&wri[i], NULL, writer_main, p);
    for (int i = 0; i < o->workers && ok; i++) ok = !pthread_create(&dec[i], NULL, decoder_main, p);
    if (!ok) { /* cannot happen in practice; keep it simple: fail hard */
        fprintf(stderr, "yolov5c detect: cannot start threads\n");
        _exit(1);
    }
    started_threads = 1;

    /* progress (this thread) until every claimed image is emitted */
    const double period = o->progress ? 0.2 : 1.0;
    double last = y5_now_s();
    pthread_mutex_lock(&p->mu);
    while (!(p->source_done && p->in_decode == 0 && p->emitted == p->next_claim)) {
        struct timespec ts = abs_deadline(y5_now_s() + period);
        pthread_cond_timedwait(&p->cv_main, &p->mu, &ts);
        if (y5_now_s() - last >= period) {
            long long d = p->emitted, s = p->n_skipped, f = p->n_failed;
            pthread_mutex_unlock(&p->mu);
            show_progress(p, d, s, f, 0);
            last = y5_now_s();
            pthread_mutex_lock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < o->workers; i++) pthread_join(dec[i], NULL);
    for (int i = 0; i < o->n_engines; i++) pthread_join(p->eng[i].th, NULL);
    for (int i = 0; i < o->writers; i++) pthread_join(wri[i], NULL);
    double wall = y5_now_s() - p->t_start;
    show_progress(p, p->emitted, p->n_skipped, p->n_failed, 1);

    /* the end */
    int fatal = p->abort;
    if (raw && p->partial_frame > 0)
        fprintf(stderr, "yolov5c detect: stdin: the stream ended inside a frame (%d of %zu bytes); that partial frame is "
                        "ignored\n", p->partial_frame, (size_t)o->raw_w * o->raw_h * 3);
    if (p->jfd >= 0) {
        int bad = fsync(p->jfd) != 0 && errno != EINVAL;
        bad |= close(p->jfd) != 0;
        p->jfd = -1;
        if (!fatal && (bad || rename(p->jpartial, p->jpath) != 0)) {
            fprintf(stderr, "yolov5c detect: %s: cannot finish (%s)\n", p->jpath, strerror(errno));
            fatal = 1;
        }
        if (!fatal) unlink(p->jprev);
    }
    long long processed = p->emitted - p->n_skipped;
    stage_report r;
    build_report(p, wall, load, &r);
    print_report(p, &r, processed);
    int stats_bad = o->stats_json && write_stats_json(p, &r, processed);
    if (fatal && o->jsonl && !raw)
        fprintf(stderr, "yolov5c detect: stopped early; run again with --resume to finish\n");
    long long total = raw ? p->emitted + (p->partial_frame ? 1 : 0) : o->n_paths;
    char skip[96] = "";
    if (o->resume) snprintf(skip, sizeof skip, ", %lld already complete (skipped)", p->n_skipped);
    fprintf(stderr, "done: %lld %s, %lld failed%s, %lld detections, %.2f s, %.2f images/s; results in %s\n", total,
            raw ? "frames" : "images", p->n_failed, skip, p->n_dets, wall, (double)p->n_ok / (wall > 0 ? wall : 1e-9),
            o->raw_out ? "stdout" : o->out_dir ? o->out_dir : o->jsonl ? o->jsonl : "(nowhere)");
    rc = fatal || stats_bad || p->n_failed || p->emitted < (raw ? p->emitted : o->n_paths) ? 1 : 0;

out:
    (void)started_threads;
    if (p->jfd >= 0) close(p->jfd);
    if (p->prev_fd >= 0) close(p->prev_fd);
    for (int i = 0; p->eng && i < o->n_engines; i++) {
        y5_engine_close(p->eng[i].e);
        free(p->eng[i].dets);
    }
    if (p->slots)
        for (int i = 0; i < p->window; i++) item_release(&p->slots[i]);
    free(p->slots);
    free(p->ready);
    free(p->wq);
    free(p->eng);
    free(p->prev_off);
    free(p->prev_len);
    free(p->shadow);
    free(dec);
    free(wri);
    pthread_cond_destroy(&p->cv_claim);
    pthread_cond_destroy(&p->cv_ready);
    pthread_cond_destroy(&p->cv_write);
    pthread_cond_destroy(&p->cv_main);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->print_mu);
    pthread_mutex_destroy(&p->raw_mu);
    return rc;
}
