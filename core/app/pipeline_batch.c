/* pipeline_batch.c - the ready pool's batching and the engine threads.
 *
 * Each engine thread owns one y5_engine (a CPU backend with its own threads,
 * or one GPU) and loops: take a batch from the ready pool, copy (device,
 * over a few fill threads) or convert (CPU) its u8 images into the network
 * input, run forward and NMS, hand the images to the writers; on a GPU the
 * next batch is filled while the current one's forward runs (the engine
 * loop at the end says how). A batch is only a set of independent images of
 * one letterboxed shape, so results never depend on how images were grouped.
 *
 * An idle engine takes B ready images of one shape (the group holding the
 * oldest image first); a smaller group runs as a partial batch when nothing
 * more can arrive (end of input, or every slot taken) or when its oldest
 * image has waited flush_s (Y5_PIPE_FLUSH_MS): waiting longer would only
 * leave the engine idle. */
#include "core/app/pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/debug_env.h"
#include "core/base/threadpool.h"

static int same_shape(const y5_pipe_item *a, const y5_pipe_item *b) {
    if (a == b) return 1;
    if (a->tiled || b->tiled) return 0; /* a tiled image runs alone: its tiles are its batches */
    return a->g.out_h == b->g.out_h && a->g.out_w == b->g.out_w;
}

/* Removes up to B ready images of ready[i]'s shape (from i on, in input
 * order) into out. mu held. */
static int take_group(y5_pipe *p, int i, int B, y5_pipe_item **out) {
    y5_pipe_item *ref = p->ready[i];
    int k = 0, w = 0;
    for (int j = 0; j < p->n_ready; j++) {
        y5_pipe_item *x = p->ready[j];
        if (j >= i && k < B && same_shape(x, ref)) out[k++] = x;
        else p->ready[w++] = x;
    }
    p->n_ready = w;
    return k;
}

/* The next batch for an idle engine, or 0 with *deadline set when a group
 * should wait a little for more images of its shape. mu held. */
static int pick_batch(y5_pipe *p, y5_pipe_item **out, double *deadline) {
    *deadline = 0;
    if (p->n_ready == 0) return 0;
    const int B = p->o->batch;
    for (int i = 0; i < p->n_ready; i++) {
        if (p->ready[i]->tiled) return take_group(p, i, 1, out); /* a whole batch (or many) by itself */
        int seen = 0, cnt = 0;
        for (int j = 0; j < i && !seen; j++) seen = same_shape(p->ready[j], p->ready[i]);
        if (seen) continue;
        for (int j = i; j < p->n_ready; j++) cnt += same_shape(p->ready[j], p->ready[i]);
        if (cnt >= B) return take_group(p, i, B, out);
    }
    /* no full group: can more images still arrive? */
    int more = p->mem_waiting == 0 && /* a worker waiting for memory waits for these very images */
               (p->in_decode > 0 || (!p->source_done && p->next_claim < p->emitted + p->window));
    double due = p->ready[0]->t_ready + p->flush_s;
    if (!more || y5_now_s() >= due) return take_group(p, 0, B, out);
    *deadline = due;
    return 0;
}

/* Each image of the batch in FILL_PARTS parts, spread over the engine's fill
 * threads: a copy into the u8 staging, or the u8 -> float conversion. */
#define FILL_PARTS 4
typedef struct {
    y5_pipe_item **b;
    size_t px;
    unsigned char *in8; /* the u8 staging, or NULL: */
    float *in;          /* the float input (images without a letterboxed u8 are skipped) */
} fill_ctx;

static void fill_part(void *ctx, int task, int worker) {
    (void)worker;
    const fill_ctx *f = ctx;
    const int i = task / FILL_PARTS, part = task % FILL_PARTS;
    const unsigned char *src = f->b[i]->lb;
    if (!src) return;
    /* parts of whole pixels (3 bytes), so each part starts on a pixel */
    const size_t npx = f->px / 3, lo = npx * part / FILL_PARTS * 3, hi = npx * (part + 1) / FILL_PARTS * 3;
    if (f->in8) memcpy(f->in8 + (size_t)i * f->px + lo, src + lo, hi - lo);
    else y5_u8_to_unit_f32(src + lo, hi - lo, f->in + (size_t)i * f->px + lo);
}

/* Fills the engine's input with the batch (planned for k images of h x w):
 * the letterboxed u8 images as they are when the backend takes u8 (CUDA:
 * a quarter of the FP32 upload, /255 on the GPU, no conversion on this
 * thread), else u8 -> f32 of each; with Y5_PIPE_LETTERBOX=engine, a
 * letterbox straight into its batch slot. *lb_s: the seconds spent
 * letterboxing, which count as letterbox time, not forward time. */
static int fill_input(y5_pipe_engine *E, y5_pipe_item **b, int k, char *err, size_t errlen, double *lb_s) {
    const size_t px = (size_t)b[0]->g.out_h * b[0]->g.out_w * 3;
    int all_u8 = 1, any_u8 = 0; /* one input source per forward */
    for (int i = 0; i < k; i++) all_u8 &= b[i]->lb != NULL, any_u8 |= b[i]->lb != NULL;
    unsigned char *in8 = all_u8 ? y5_engine_input_u8(E->e) : NULL;
    if (all_u8 && !in8 && y5_engine_has_input_u8(E->e)) {
        /* the backend has a u8 staging and could not hand it out: its own
         * error (e.g. the previous forward failed on the device), not a
         * detour through the FP32 input */
        if (y5_engine_forward_wait(E->e, err, errlen) == 0) snprintf(err, errlen, "no u8 input staging (out of memory)");
        return -1;
    }
    fill_ctx f = {b, px, in8, NULL};
    if (in8) {
        y5_pool_run(E->fill, k * FILL_PARTS, fill_part, &f);
        return 0;
    }
    if (any_u8 && !all_u8 && E->e->be->ops->letterbox) {
        /* the device letterbox would make the forward skip the host staging
         * the other images were converted into; batches never mix so today */
        snprintf(err, errlen, "internal: a batch mixes letterboxed and engine-letterboxed images");
        return -1;
    }
    float *in = y5_engine_input(E->e);
    if (any_u8) {
        if (!in) { snprintf(err, errlen, "no engine input (out of memory)"); return -1; }
        f.in = in;
        y5_pool_run(E->fill, k * FILL_PARTS, fill_part, &f);
    }
    for (int i = 0; i < k; i++) {
        if (b[i]->lb) continue; /* converted above */
        double tl = y5_now_s(); /* Y5_PIPE_LETTERBOX=engine: letterbox here, into the batch slot */
        if (y5_engine_put_image(E->e, i, &b[i]->img, &b[i]->g, err, errlen)) return -1;
        /* the pixels stay until the forward succeeded (batch_finish frees
         * them): a device that dies in it leaves them to run elsewhere */
        *lb_s += y5_now_s() - tl;
    }
    return 0;
}

/* NMS of each image of a forward that succeeded (rc 0) into its own
 * it->dets; on failure every image is marked failed. The staging u8 input
 * is freed once its NMS succeeded: a failed image keeps it, to run again on
 * another engine if this one's device died (requeue_failed; the slot's
 * release frees it otherwise). err: the last failure's message. The NMS was queued
 * with the forward when the backend can (batch_submit): take then reads the
 * results the forward's wait already brought back; otherwise it runs the
 * NMS here, image by image. */
static void batch_nms(y5_pipe_engine *E, y5_pipe_item **b, int k, int rc, char *err, size_t errlen) {
    const y5_pipeline_opts *o = E->p->o;
    for (int i = 0; i < k; i++) {
        y5_pipe_item *it = b[i];
        if (rc) { it->fail = 1; continue; }
        int n = y5_engine_nms_take(E->e, i, &o->det.nms, it->w0, it->h0, E->dets, o->det.nms.max_det);
        if (n < 0) {
            snprintf(err, errlen, "out of memory in NMS");
            it->fail = 1;
            continue;
        }
        free(it->lb);
        it->lb = NULL;
        it->dets = malloc(sizeof(y5_det) * (size_t)(n > 0 ? n : 1));
        if (!it->dets) { snprintf(err, errlen, "out of memory"); it->fail = 1; continue; }
        memcpy(it->dets, E->dets, sizeof(y5_det) * (size_t)n);
        it->n_dets = n;
    }
}

/* Nothing will draw on the image (the tiles of a tiled one are cut). */
static int o_no_draw(const y5_pipe *p) { return p->o->no_save && !p->o->raw_out; }

/* No engine can run anything any more: the sources stop (unclaimed inputs
 * stay unclaimed), the ready images fail unrun, and so do the images still
 * in decode when they arrive (pipeline_decode.c's hand_off); finish() then
 * keeps detections.jsonl.partial for --resume. mu held (finish_item may
 * release it, but with no_engine set nothing adds to the pool). */
static void stop_without_engines(y5_pipe *p) {
    p->no_engine = 1;
    p->source_done = 1;
    while (p->n_ready > 0) {
        y5_pipe_item *it = p->ready[--p->n_ready];
        it->fail = 1;
        y5_pipe_finish_item(p, it);
    }
    pthread_cond_broadcast(&p->cv_claim);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_cond_broadcast(&p->cv_write);
    pthread_cond_broadcast(&p->cv_main);
}

/* Engine E's device failed for good (y5_engine_healthy said so after a
 * failed forward: a sticky CUDA fault, a GPU gone). Without this every
 * later batch would fail on it one by one. It takes no more batches; the
 * images it holds go to the engines still working (batch_finish,
 * give_back), and with none left the run stops. mu held. */
static void engine_lost(y5_pipe_engine *E, const char *err) {
    y5_pipe *p = E->p;
    if (E->dead) return;
    E->dead = 1;
    p->engines_working--;
    y5_pipe_log(p, "yolov5c detect: engine %d (%s) stopped: its device failed (%s); %s\n", E->id, E->spec->device, err,
                p->engines_working > 0 ? "its images go to the other engines" : "no engine left, stopping");
    if (p->engines_working == 0) stop_without_engines(p);
}

/* A batch the dead engine E took but never ran (filled while the failed
 * one's forward ran): back to the pool, or failed unrun with no engine
 * left (or no input left to run: Y5_PIPE_LETTERBOX=engine with --no-save
 * frees the image once it is in the engine's input). mu held. */
static void give_back(y5_pipe *p, y5_pipe_item **b, int k) {
    for (int i = 0; i < k; i++) {
        y5_pipe_item *it = b[i];
        p->in_engine--;
        if (p->engines_working > 0 && (it->lb || it->img.px)) {
            y5_pipe_ready_insert(p, it);
        } else {
            it->fail = 1;
            y5_pipe_finish_item(p, it);
        }
    }
    pthread_cond_broadcast(&p->cv_ready);
}

/* After a failure on E: if its device cannot run any more, it stops
 * (engine_lost). mu NOT held. */
static void probe_engine(y5_pipe_engine *E, const char *err) {
    if (E->dead || y5_engine_healthy(E->e)) return;
    pthread_mutex_lock(&E->p->mu);
    engine_lost(E, err);
    pthread_mutex_unlock(&E->p->mu);
}

/* The failed images of a batch whose engine's device died: back to the pool
 * (hand_over puts them there) for an engine still working, each image
 * once (an image that kills a second device fails: it may be what kills
 * them), if it still has its input; what a tiled image's passes found is
 * dropped, its retry starts over. mu NOT held. */
static void requeue_failed(y5_pipe_engine *E, y5_pipe_item **b, int k) {
    y5_pipe *p = E->p;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < k; i++) {
        y5_pipe_item *it = b[i];
        if (!it->fail || it->retried || p->engines_working == 0 || !(it->lb || it->img.px)) continue;
        it->fail = 0;
        it->retried = it->requeue = 1;
        free(it->dets);
        it->dets = NULL;
        it->n_dets = 0;
    }
    pthread_mutex_unlock(&p->mu);
}

/* One batch on an engine, from its input to its NMS, in two halves so that
 * the next batch's input can be filled while a device runs this one's
 * forward (y5_engine_forward_submit / _wait). */
typedef struct {
    y5_pipe_item **b;
    int k, rc, full, tiled;
    double fwd_s;  /* in the forward calls (submit + wait): the upload, the graph and the wait on a GPU */
    double busy_s; /* this thread's work on it (fill, forward calls, NMS), waits for images excluded */
    char err[1024];
} y5_batch_run;

/* Plan and fill: the host half before the forward. mu NOT held. */
static void batch_fill(y5_pipe_engine *E, y5_batch_run *r, double *acc) {
    y5_pipe *p = E->p;
    const int k = r->k;
    y5_pipe_item **b = r->b;
    double t0 = y5_now_s(), lb_s = 0;
    r->tiled = k == 1 && b[0]->tiled;
    r->full = !r->tiled || p->o->tile_full;
    r->fwd_s = r->busy_s = 0;
    r->err[0] = 0;
    r->rc = r->full ? y5_engine_plan(E->e, k, b[0]->g.out_h, b[0]->g.out_w, r->err, sizeof r->err) : 0;
    if (!r->rc && r->full) r->rc = fill_input(E, b, k, r->err, sizeof r->err, &lb_s);
    /* its upload starts now, beside the running forward (when flying) */
    if (!r->rc && r->full) r->rc = y5_engine_input_upload(E->e, r->err, sizeof r->err);
    const double t1 = y5_now_s();
    acc[Y5_ST_LETTERBOX] += lb_s;
    acc[Y5_ST_FORWARD] += t1 - t0 - lb_s; /* plan and fill count as forward, as the upload they prepare */
    r->busy_s += t1 - t0;
}

/* The forward, and right behind it on the device the NMS of every image of
 * the batch (y5_engine_nms_submit): on a GPU the batch then costs the one
 * wait in batch_finish, where image-by-image NMS would wait for the device
 * twice per image between this forward and the next. A tiled image keeps
 * the per-image path: its full pass is one image and its tiles run their
 * own forwards (pipeline_tiles.c). */
static void batch_submit(y5_pipe_engine *E, y5_batch_run *r, double *acc) {
    if (r->rc || !r->full) return;
    const double t0 = y5_now_s();
    r->rc = y5_engine_forward_submit(E->e, r->err, sizeof r->err);
    if (!r->rc && !r->tiled) {
        const y5_nms_opts *nms = &E->p->o->det.nms;
        char err[512];
        /* not queued (e.g. no device memory for its buffers): take runs each
         * image's NMS after the wait instead, the same boxes; a dead device
         * shows in the wait */
        if (y5_engine_nms_submit(E->e, nms, nms->max_det, err, sizeof err) && !E->nms_warned) {
            E->nms_warned = 1;
            y5_pipe_log(E->p, "yolov5c detect: engine %d (%s): the batch NMS could not be queued (%s); NMS runs image "
                              "by image\n", E->id, E->spec->device, err);
        }
    }
    const double d = y5_now_s() - t0;
    acc[Y5_ST_FORWARD] += d;
    r->fwd_s += d;
    r->busy_s += d;
}

/* Wait, NMS, tiles, the engine's statistics and the failures' log lines. */
static void batch_finish(y5_pipe_engine *E, y5_batch_run *r, double *acc) {
    y5_pipe *p = E->p;
    y5_pipe_item **b = r->b;
    const int k = r->k;
    char tag[64];
    double t0 = y5_now_s();
    if (!r->rc && r->full) r->rc = y5_engine_forward_wait(E->e, r->err, sizeof r->err);
    /* a failed forward on a device that cannot run any more: the engine
     * stops, and its images were not at fault */
    if (r->rc && r->full) probe_engine(E, r->err);
    double t1 = y5_now_s();
    acc[Y5_ST_FORWARD] += t1 - t0;
    r->fwd_s += t1 - t0;
    if (r->full) batch_nms(E, b, k, r->rc, r->err, sizeof r->err);
    double t2 = y5_now_s();
    acc[Y5_ST_NMS] += t2 - t1;
    E->busy += r->busy_s + (t2 - t0);
    E->batches += r->full;
    if (r->tiled && !b[0]->fail && y5_pipe_run_tiles(E, b[0], acc, r->err, sizeof r->err)) b[0]->fail = 1;
    /* an NMS or a tile pass that failed after a good forward: the device
     * may have died there too (asked once per batch) */
    int failed = 0;
    for (int i = 0; i < k; i++) failed |= b[i]->fail;
    if (failed && !r->rc) probe_engine(E, r->err);
    if (E->dead) requeue_failed(E, b, k);
    for (int i = 0; i < k; i++) E->images += !b[i]->requeue; /* a requeued image counts where it runs again */
    for (int i = 0; i < k; i++) /* nothing draws on it and no retry needs it: the pixels go now */
        if (o_no_draw(p) && !b[i]->fail && !b[i]->requeue && (b[i]->tiled || !b[i]->lb)) y5_image_free(&b[i]->img);
    /* steady state: from the end of the engine's Y5_PIPE_WARMUP_BATCHES-th
     * batch to the end of its last (a later new shape still pays its own
     * eager forward and capture inside the window); forward = the forward
     * calls alone, tiles' included (on a GPU: the upload, the graph and the
     * wait for it) */
    const double te = y5_now_s();
    E->fwd_s += r->fwd_s;
    if (++E->runs == Y5_PIPE_WARMUP_BATCHES) {
        E->warm_t0 = te;
        E->warm_busy0 = E->busy;
        E->warm_fwd0 = E->fwd_s;
        E->warm_images0 = E->images;
    } else if (E->runs > Y5_PIPE_WARMUP_BATCHES) {
        E->warm_t1 = te;
        E->warm_busy = E->busy - E->warm_busy0;
        E->warm_fwd = E->fwd_s - E->warm_fwd0;
        E->warm_images = E->images - E->warm_images0;
    }
    for (int i = 0; i < k; i++)
        if (b[i]->fail) {
            y5_pipe_item_tag(p, b[i], tag, sizeof tag);
            char name[4200];
            y5_pipe_item_name(p, b[i], name, sizeof name);
            y5_pipe_log(p, "%s failed: %s: %s\n", tag, name, r->err);
        }
}

/* The batch's images to the writers (or finished, when failed; or back to
 * the ready pool, when their engine's device failed). mu held. */
static void hand_over(y5_pipe *p, y5_pipe_item **b, int k) {
    for (int i = 0; i < k; i++) {
        y5_pipe_item *it = b[i];
        p->in_engine--;
        if (it->requeue && p->engines_working == 0) { /* the last working engine died meanwhile */
            it->requeue = 0;
            it->fail = 1;
        }
        if (it->requeue) {
            it->requeue = 0;
            y5_pipe_ready_insert(p, it);
        } else if (it->fail) {
            y5_pipe_finish_item(p, it);
        } else {
            it->state = Y5_SLOT_WRITING;
            p->wq[(p->wq_head + p->wq_n) % p->window] = it;
            p->wq_n++;
            pthread_cond_signal(&p->cv_write);
        }
    }
    pthread_cond_broadcast(&p->cv_ready); /* requeued images; idle engines wait for in_engine to drain */
}

/* Finishes batch r and hands it over. mu NOT held. */
static void retire(y5_pipe_engine *E, y5_batch_run *r, double *acc) {
    batch_finish(E, r, acc);
    pthread_mutex_lock(&E->p->mu);
    hand_over(E->p, r->b, r->k);
    pthread_mutex_unlock(&E->p->mu);
}

/* Whether batch n may be filled while batch a's forward runs: the same plan
 * (no re-plan under a running forward), both whole untiled batches that
 * take the letterboxed u8 input (its staging is double-buffered; the other
 * inputs are not), and a's forward submitted without error. */
static int can_overlap(const y5_batch_run *a, y5_pipe_item **n, int k) {
    if (a->rc || !a->full || a->tiled || a->k != k || n[0]->tiled) return 0;
    for (int i = 0; i < k; i++)
        if (!n[i]->lb || n[i]->g.out_h != a->b[0]->g.out_h || n[i]->g.out_w != a->b[0]->g.out_w) return 0;
    return 1;
}

/* The engine thread: batches until the ready pool is empty and nothing
 * more can arrive, then the writers are told this engine is gone.
 *
 * With overlap (an engine whose forward runs asynchronously, the GPU's, or
 * Y5_PIPE_OVERLAP=1): while batch A's forward runs, the thread takes the
 * next batch B and fills its input (the other half of the u8 staging), then
 * waits for A, runs A's NMS, submits B and hands A to the writers. The
 * device then idles only for A's NMS instead of for the whole fill; on a
 * GPU A's NMS was queued behind A's forward, so the wait brings its results
 * and "runs A's NMS" is copying them out (one synchronisation per batch,
 * batch_submit). Without
 * it each batch runs start to end before the next is taken. Results are the
 * same either way: every batch is a set of independent images. */
void *y5_pipe_engine_main(void *arg) {
    y5_pipe_engine *E = arg;
    y5_pipe *p = E->p;
    y5_flush_denormals();
    double acc[Y5_ST_N] = {0};
    const int env = y5_debug_env()->pipe_overlap;
    const int overlap = env >= 0 ? env : y5_engine_async(E->e);
    y5_batch_run runs[2], *cur = &runs[0], *nxt = &runs[1];
    cur->b = malloc(sizeof(y5_pipe_item *) * (size_t)p->o->batch);
    nxt->b = malloc(sizeof(y5_pipe_item *) * (size_t)p->o->batch);
    const int have = cur->b && nxt->b;
    int flying = 0; /* cur holds a submitted batch not yet finished */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        double deadline = 0;
        int k = have ? pick_batch(p, nxt->b, &deadline) : 0;
        if (k == 0) {
            if (flying) { /* nothing to fill meanwhile: finish the running batch now, not after a wait */
                pthread_mutex_unlock(&p->mu);
                retire(E, cur, acc);
                pthread_mutex_lock(&p->mu);
                flying = 0;
                if (E->dead) break;
                continue;
            }
            /* done when nothing is ready, decoding or held by an engine (an
             * engine whose device dies gives its images back to the pool) */
            if (p->n_ready == 0 && p->source_done && p->in_decode == 0 && p->in_engine == 0) break;
            if (!have) break;
            if (deadline > 0) {
                struct timespec ts = y5_pipe_deadline(deadline);
                pthread_cond_timedwait(&p->cv_ready, &p->mu, &ts);
            } else {
                pthread_cond_wait(&p->cv_ready, &p->mu);
            }
            continue;
        }
        for (int i = 0; i < k; i++) nxt->b[i]->state = Y5_SLOT_ENGINE;
        p->in_engine += k;
        nxt->k = k;
        pthread_mutex_unlock(&p->mu);
        if (flying && !can_overlap(cur, nxt->b, k)) {
            retire(E, cur, acc);
            flying = 0;
        }
        if (!E->dead) {
            E->overlapped += flying;
            batch_fill(E, nxt, acc); /* while cur's forward runs, when flying */
            if (flying) batch_finish(E, cur, acc); /* wait and NMS before the next forward overwrites the pred */
        }
        if (E->dead) { /* cur's forward found the device gone: nxt never runs here */
            pthread_mutex_lock(&p->mu);
            if (flying) hand_over(p, cur->b, cur->k);
            give_back(p, nxt->b, k);
            break;
        }
        batch_submit(E, nxt, acc);
        if (flying) { /* handed over after the submit: the GPU is not kept waiting for the writers' lock */
            pthread_mutex_lock(&p->mu);
            hand_over(p, cur->b, cur->k);
            pthread_mutex_unlock(&p->mu);
        }
        y5_batch_run *t = cur;
        cur = nxt;
        nxt = t;
        flying = 1;
        if (!overlap) { /* start to end, as before overlap existed */
            retire(E, cur, acc);
            flying = 0;
        }
        pthread_mutex_lock(&p->mu);
        if (E->dead) break;
    }
    for (int s = 0; s < Y5_ST_N; s++) p->stage[s] += acc[s];
    p->engines_alive--;
    pthread_cond_broadcast(&p->cv_write);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_mutex_unlock(&p->mu);
    free(runs[0].b);
    free(runs[1].b);
    return NULL;
}
