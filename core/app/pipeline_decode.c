/* pipeline_decode.c - the decode workers: claim the next input, read and
 * decode it (a file, or one raw RGB24 frame from stdin), letterbox it to u8
 * and put it in the ready pool for the engines.
 *
 * Decode and letterbox run here, on a pool of CPU threads, because they are
 * the per-image CPU cost that would otherwise keep an engine idle; the
 * letterboxed u8 image (a third of the f32 size) is what waits in a slot.
 * Y5_PIPE_LETTERBOX=engine moves the letterbox onto the engine thread
 * (pipeline_batch.c), to measure which placement is faster.
 *
 * Raw frames have no index of their own: a frame is "the next W*H*3 bytes",
 * so a worker holds raw_mu from its claim until its read is done, and at the
 * end of the stream until source_done is set, so claims and reads stay in
 * step and no index past the end is ever claimed. */
#include "core/app/pipeline_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/threadpool.h"

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

/* Claims the next input's slot once the window has room (DECODING, counted
 * in in_decode), or returns NULL when there is nothing left to claim. With
 * --resume an input that is complete already goes straight to DONE here and
 * the next one is claimed. Returns with mu released; for raw frames raw_mu
 * is still held (read_frame releases it). */
static y5_pipe_item *claim_next(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    const int raw = o->raw_w > 0;
    for (;;) {
        if (raw) pthread_mutex_lock(&p->raw_mu); /* claim + read in order */
        pthread_mutex_lock(&p->mu);
        while (!p->source_done && p->next_claim >= p->emitted + p->window) pthread_cond_wait(&p->cv_claim, &p->mu);
        if (p->source_done) {
            pthread_mutex_unlock(&p->mu);
            if (raw) pthread_mutex_unlock(&p->raw_mu);
            return NULL;
        }
        long long idx = p->next_claim++;
        y5_pipe_item *it = &p->slots[idx % p->window];
        memset(it, 0, sizeof *it);
        it->idx = idx;
        it->state = Y5_SLOT_DECODING;
        if (!raw && p->next_claim >= o->n_paths) {
            p->source_done = 1;
            pthread_cond_broadcast(&p->cv_claim);
        }
        if (!raw && p->prev_off && p->prev_off[idx] >= 0) { /* --resume: complete already */
            it->skip = 1;
            y5_pipe_finish_item(p, it);
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->in_decode++;
        pthread_mutex_unlock(&p->mu);
        return it;
    }
}

/* Reads the claimed raw frame into it->img. Returns 1 when the stream ended
 * (EOF, a partial frame or an error: this index does not exist), with
 * raw_mu still held; 0 with raw_mu released. */
static int read_frame(y5_pipe *p, y5_pipe_item *it) {
    const y5_pipeline_opts *o = p->o;
    const size_t frame_bytes = (size_t)o->raw_w * o->raw_h * 3;
    int eof = 0;
    y5_pipe_mem_acquire(p, it, y5_pipe_mem_need(p, 0, o->raw_w, o->raw_h, 1, 0)); /* in order: raw_mu is held */
    it->img.px = malloc(frame_bytes);
    if (!it->img.px) { /* cannot skip a frame without losing the stream's framing: stop */
        y5_pipe_log(p, "yolov5c detect: out of memory for a %dx%d frame; stopping\n", o->raw_w, o->raw_h);
        eof = 1;
        p->partial_frame = -1;
    } else {
        ssize_t got = read_full(o->raw_fd, it->img.px, frame_bytes);
        if (got == (ssize_t)frame_bytes) { it->img.w = o->raw_w; it->img.h = o->raw_h; }
        else {
            eof = 1;
            if (got < 0) {
                y5_pipe_log(p, "yolov5c detect: stdin: read error (%s)\n", strerror(errno));
                p->partial_frame = -1;
            } else if (got > 0) {
                p->partial_frame = (int)got;
            }
        }
    }
    /* at the end of the stream raw_mu stays held until source_done is set
     * (end_of_stream), so no other worker claims an index past it */
    if (!eof) pthread_mutex_unlock(&p->raw_mu);
    return eof;
}

/* The raw stream ended at it->idx: frees the slot, fixes the total and
 * stops the claims. Releases raw_mu, which read_frame left held. */
static void end_of_stream(y5_pipe *p, y5_pipe_item *it, int bad) {
    y5_pipe_item_release(it);
    pthread_mutex_lock(&p->mu);
    y5_pipe_mem_release(p, it);
    it->state = Y5_SLOT_FREE;
    p->n_total = it->idx;
    p->next_claim = it->idx; /* raw_mu, still held, serialised the claims: nothing after idx was claimed */
    p->in_decode--;
    if (p->partial_frame || bad) p->n_failed++; /* reported at the end */
    p->source_done = 1;
    pthread_cond_broadcast(&p->cv_claim);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_cond_broadcast(&p->cv_main);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->raw_mu);
}

/* Reads the input file, reserves its memory (--max-memory: this may wait)
 * and decodes it into it->img. *waited: the seconds spent waiting. Returns
 * 1 with a message in err on failure. */
static int load_image(y5_pipe *p, y5_pipe_item *it, char *err, size_t errlen, double *waited) {
    const char *path = p->o->paths[it->idx];
    size_t len = 0;
    uint8_t *bytes = y5_image_read_file(path, &len, err, errlen);
    if (!bytes) return 1;
    int w = 0, h = 0;
    size_t need = len; /* an unreadable header: the decode below fails and says why */
    if (p->mem_max && y5_image_info_mem(bytes, len, &w, &h) == 0 && (int64_t)w * h <= ((int64_t)1 << 28)) {
        int jpeg = len >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
        need = y5_pipe_mem_need(p, len, w, h, jpeg, jpeg && y5_jpeg_exif_orientation(bytes, len) > 1);
    }
    *waited = y5_pipe_mem_acquire(p, it, need);
    int bad = y5_image_load_mem(bytes, len, path, &it->img, err, errlen) != 0;
    free(bytes);
    return bad;
}

/* Plans the letterbox of a decoded image and, unless the engine does it,
 * letterboxes it into it->lb (scratch grows as needed and is reused).
 * Returns 1 with a message in err on failure. */
static int letterbox_item(y5_pipe *p, y5_pipe_item *it, void **scratch, size_t *scratch_cap, char *err, size_t errlen,
                          double t1, double c1, double *acc, double *cpu) {
    const y5_pipeline_opts *o = p->o;
    int bad = 0;
    it->w0 = it->img.w;
    it->h0 = it->img.h;
    y5_letterbox_plan(it->w0, it->h0, p->imgsz_h, p->imgsz_w, !o->det.square, p->stride, &it->g);
    it->tiled = y5_pipe_tile_count(p, it->w0, it->h0) > 1;
    if (p->lb_on_engine || (it->tiled && !o->tile_full)) return 0; /* no full-image pass: no letterbox */
    size_t sc = y5_letterbox_scratch(&it->g);
    if (sc > *scratch_cap) {
        free(*scratch);
        *scratch = malloc(sc);
        *scratch_cap = *scratch ? sc : 0;
    }
    it->lb = malloc((size_t)it->g.out_w * it->g.out_h * 3);
    if (!it->lb || (sc && !*scratch)) { snprintf(err, errlen, "out of memory"); bad = 1; }
    else y5_letterbox_u8(&it->img, &it->g, it->lb, *scratch);
    if (!bad && o->no_save && !o->raw_out && !it->tiled) y5_image_free(&it->img); /* nothing will draw on it
                                                                                  * (tiles are cut from it later) */
    acc[Y5_ST_LETTERBOX] += y5_now_s() - t1;
    cpu[Y5_ST_LETTERBOX] += y5_thread_cpu_s() - c1;
    return bad;
}

/* Puts a decoded image in the ready pool, or reports a failed one and
 * finishes it. */
static void hand_off(y5_pipe *p, y5_pipe_item *it, int bad, const char *err) {
    char tag[64];
    pthread_mutex_lock(&p->mu);
    p->in_decode--;
    if (bad) {
        y5_pipe_item_tag(p, it, tag, sizeof tag);
        pthread_mutex_unlock(&p->mu);
        y5_pipe_log(p, "%s skipped: %s\n", tag, err);
        pthread_mutex_lock(&p->mu);
        it->fail = 1;
        y5_pipe_finish_item(p, it);
    } else if (p->no_engine) { /* every engine's device failed (pipeline_batch.c): not run */
        it->fail = 1;
        y5_pipe_finish_item(p, it);
    } else {
        y5_pipe_ready_insert(p, it);
    }
    pthread_cond_broadcast(&p->cv_ready);
    pthread_mutex_unlock(&p->mu);
}

void *y5_pipe_decoder_main(void *arg) {
    y5_pipe *p = arg;
    const y5_pipeline_opts *o = p->o;
    y5_flush_denormals();
    double acc[Y5_ST_N] = {0}, cpu[Y5_ST_N] = {0};
    void *scratch = NULL;
    size_t scratch_cap = 0;
    char err[1024];
    const int raw = o->raw_w > 0;
    y5_pipe_item *it;
    while ((it = claim_next(p))) {
        double t0 = y5_now_s(), c0 = y5_thread_cpu_s();
        int bad = 0, eof = 0;
        double waited = 0;
        if (raw) eof = read_frame(p, it);
        else bad = load_image(p, it, err, sizeof err, &waited);
        double t1 = y5_now_s(), c1 = y5_thread_cpu_s();
        acc[Y5_ST_DECODE] += t1 - t0 - waited;
        cpu[Y5_ST_DECODE] += c1 - c0;
        if (eof) { /* this index does not exist: the stream ended */
            end_of_stream(p, it, bad);
            break;
        }
        if (!bad) bad = letterbox_item(p, it, &scratch, &scratch_cap, err, sizeof err, t1, c1, acc, cpu);
        hand_off(p, it, bad, err);
    }
    free(scratch);
    pthread_mutex_lock(&p->mu);
    for (int s = 0; s < Y5_ST_N; s++) {
        p->stage[s] += acc[s];
        p->stage_cpu[s] += cpu[s];
    }
    pthread_cond_broadcast(&p->cv_ready);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}
