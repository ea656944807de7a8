/* pipeline_slots.c - the life of a slot and the in-order emitter.
 *
 * Images finish out of order (several decode workers, engines and writers),
 * but detections.jsonl and raw frames on stdout must follow the input order.
 * Rather than a separate reorder buffer, the slot array itself is one: slot
 * idx % window holds image idx until it is emitted, and a decode worker may
 * claim image i only while i < emitted + window. Whichever thread finishes
 * the image at the head of the order becomes the emitter (one at a time) and
 * writes every DONE image from there on, with mu released while it writes;
 * the others just mark their image DONE and go back to work.
 *
 * This file also holds what every pipeline thread uses around a slot: the
 * message line that clears the progress bar, an image's name and tag, and
 * the abort that stops the run after a fatal output error. */
#include "core/app/pipeline_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/strbuf.h"

/* write(2) until all n bytes are out (retrying short writes and EINTR). */
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

void y5_pipe_log(y5_pipe *p, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&p->print_mu);
    if (p->log_held) {
        char line[2048];
        va_start(ap, fmt);
        const int n = vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        const size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        if (n > 0 && (size_t)n >= sizeof line) line[len - 1] = '\n'; /* a cut message still ends its line */
        int kept = 0;
        if (p->held.n + len <= Y5_PIPE_HELD_MAX && !p->held.oom) {
            y5_sb_put(&p->held, line, len);
            kept = !p->held.oom;
        }
        if (!kept) p->held_dropped++; /* past the bound or out of memory: counted */
        pthread_mutex_unlock(&p->print_mu);
        return;
    }
    if (p->bar_up) { fputs("\r\033[K", stderr); p->bar_up = 0; }
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    pthread_mutex_unlock(&p->print_mu);
}

void y5_pipe_log_hold(y5_pipe *p) {
    pthread_mutex_lock(&p->print_mu);
    p->log_held = 1;
    pthread_mutex_unlock(&p->print_mu);
}

void y5_pipe_log_release(y5_pipe *p, int show) {
    pthread_mutex_lock(&p->print_mu);
    if (show && p->held.n) fputs(p->held.p, stderr);
    if (show && p->held_dropped)
        fprintf(stderr, "(%lld more message lines while the engines opened, not shown)\n", p->held_dropped);
    fflush(stderr);
    y5_sb_free(&p->held);
    p->held_dropped = 0;
    p->log_held = 0;
    pthread_mutex_unlock(&p->print_mu);
}

void y5_pipe_item_name(const y5_pipe *p, const y5_pipe_item *it, char *buf, size_t cap) {
    if (p->o->raw_w > 0) snprintf(buf, cap, "frame_%06lld", it->idx);
    else snprintf(buf, cap, "%s", p->o->paths[it->idx]);
}

void y5_pipe_item_tag(const y5_pipe *p, const y5_pipe_item *it, char *buf, size_t cap) {
    if (p->o->raw_w > 0) snprintf(buf, cap, "[frame %lld]", it->idx);
    else snprintf(buf, cap, "[%lld/%d]", it->idx + 1, p->o->n_paths);
}

void y5_pipe_item_release(y5_pipe_item *it) {
    y5_image_free(&it->img);
    free(it->lb);
    it->lb = NULL;
    free(it->dets);
    it->dets = NULL;
    free(it->line);
    it->line = NULL;
}

void y5_pipe_ready_insert(y5_pipe *p, y5_pipe_item *it) { /* sorted by idx; mu held */
    it->state = Y5_SLOT_READY;
    it->t_ready = y5_now_s();
    int i = p->n_ready;
    while (i > 0 && p->ready[i - 1]->idx > it->idx) {
        p->ready[i] = p->ready[i - 1];
        i--;
    }
    p->ready[i] = it;
    p->n_ready++;
}

void y5_pipe_set_abort(y5_pipe *p) { /* mu held */
    p->abort = 1;
    p->source_done = 1;
    pthread_cond_broadcast(&p->cv_claim);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_cond_broadcast(&p->cv_write);
    pthread_cond_broadcast(&p->cv_main);
}

/* Writes the in-order outputs of one image (mu NOT held; only the single
 * emitter runs this). Returns 0, or -1 after a fatal output error. */
static int emit_one(y5_pipe *p, y5_pipe_item *it, double *write_s) {
    const y5_pipeline_opts *o = p->o;
    double t0 = y5_now_s();
    int rc = 0;
    if (it->skip) {
        uint32_t len = p->prev_len[it->idx];
        char *buf = malloc(len ? len : 1);
        if (!buf || pread(p->prev_fd, buf, len, p->prev_off[it->idx]) != (ssize_t)len ||
            write_all(p->jfd, buf, len)) {
            y5_pipe_log(p, "yolov5c detect: %s: cannot copy a line of %s (%s)\n", p->jpartial, p->jprev, strerror(errno));
            rc = -1;
        }
        free(buf);
    } else {
        if (!it->fail && it->line && p->jfd >= 0 && write_all(p->jfd, it->line, strlen(it->line))) {
            y5_pipe_log(p, "yolov5c detect: %s: cannot write (%s)\n", p->jpartial, strerror(errno));
            rc = -1;
        }
        if (!rc && o->raw_out && it->img.px) {
            if (write_all(1, it->img.px, (size_t)it->img.w * it->img.h * 3)) {
                if (errno == EPIPE) y5_pipe_log(p, "yolov5c detect: stdout was closed by its reader; stopping\n");
                else y5_pipe_log(p, "yolov5c detect: cannot write frames to stdout (%s)\n", strerror(errno));
                rc = -1;
            }
        }
    }
    *write_s += y5_now_s() - t0;
    return rc;
}

/* Marks it DONE and, unless another thread is emitting, emits every DONE
 * image at the head of the input order. mu held on entry and on return. */
void y5_pipe_finish_item(y5_pipe *p, y5_pipe_item *it) {
    it->state = Y5_SLOT_DONE;
    if (!p->o->raw_out) { /* its pixels are gone (or go now: a failed image writes nothing) */
        if (it->fail) y5_pipe_item_release(it);
        y5_pipe_mem_release(p, it);
    }
    pthread_cond_broadcast(&p->cv_main);
    if (p->emitting) return;
    p->emitting = 1;
    for (;;) {
        y5_pipe_item *h = &p->slots[p->emitted % p->window];
        if (h->state != Y5_SLOT_DONE || h->idx != p->emitted) break;
        int aborted = p->abort;
        double wt = 0;
        pthread_mutex_unlock(&p->mu);
        int bad = aborted ? 0 : emit_one(p, h, &wt);
        y5_pipe_item_release(h);
        pthread_mutex_lock(&p->mu);
        y5_pipe_mem_release(p, h);
        p->stage[Y5_ST_WRITE] += wt;
        if (h->skip) p->n_skipped++;
        else if (h->fail || aborted || bad) p->n_failed++; /* not written whole: not done */
        else {
            p->n_ok++;
            p->n_dets += h->n_dets;
        }
        if (bad && !p->abort) y5_pipe_set_abort(p);
        h->state = Y5_SLOT_FREE;
        p->emitted++;
        pthread_cond_broadcast(&p->cv_claim);
        pthread_cond_broadcast(&p->cv_main);
        pthread_cond_broadcast(&p->cv_ready); /* a freed slot may unblock a partial batch decision */
    }
    p->emitting = 0;
}
