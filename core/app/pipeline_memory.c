/* pipeline_memory.c - the byte budget of the images in flight (--max-memory).
 *
 * The slot count (--queue) bounds how many images are in flight, but not
 * their size: six 13400x9528 PNGs in flight took 3.4 GB. So a decode worker,
 * once it has read a file and its header (the size), reserves what the image
 * will hold while in flight - the file bytes, the decoded RGB (twice for
 * stb's formats, which inflate the filtered rows next to the output; once
 * more for a JPEG rotated by its EXIF orientation) and the letterboxed
 * input - and waits while that would take the
 * reservations over the budget. The reservation goes back when the image's
 * pixels are freed: when it is DONE (its writer has freed them), or, for
 * annotated frames to stdout, when it is emitted.
 *
 * No deadlock: an image waits only while others hold reservations, and
 * each holder finishes without waiting for any image behind it (a DONE
 * image has released, even when the emitter still waits for an older one;
 * raw frames reserve in input order under raw_mu, and hold theirs until
 * emitted, so every holder of a frame is older than the waiter). An image
 * larger than the whole budget runs when it is the only one in flight. While
 * a worker waits, the engines run partial batches rather than wait for it
 * (pipeline_batch.c), since the images they hold are what it waits for. */
#include "core/app/pipeline_internal.h"

#include "core/base/clock.h"

size_t y5_pipe_mem_need(const y5_pipe *p, size_t file_len, int w, int h, int jpeg, int rotated) {
    size_t px = (size_t)w * (size_t)h * 3;
    size_t need = file_len + px * (size_t)(jpeg ? 1 + (rotated ? 1 : 0) : 2);
    need += (size_t)p->imgsz_h * p->imgsz_w * 3; /* the letterboxed input (tiles are cut on the engine thread) */
    return need;
}

double y5_pipe_mem_acquire(y5_pipe *p, y5_pipe_item *it, size_t need) {
    if (p->mem_max == 0) return 0;
    double t0 = y5_now_s(), waited = 0;
    pthread_mutex_lock(&p->mu);
    if (p->mem_used > 0 && p->mem_used + need > p->mem_max && !p->abort) {
        p->mem_waiting++;
        p->mem_waits++;
        pthread_cond_broadcast(&p->cv_ready); /* engines: run what is ready, do not wait for this one */
        while (p->mem_used > 0 && p->mem_used + need > p->mem_max && !p->abort) pthread_cond_wait(&p->cv_claim, &p->mu);
        p->mem_waiting--;
        waited = y5_now_s() - t0;
    }
    p->mem_used += need;
    if (p->mem_used > p->mem_peak) p->mem_peak = p->mem_used;
    it->mem = need;
    pthread_mutex_unlock(&p->mu);
    return waited;
}

void y5_pipe_mem_release(y5_pipe *p, y5_pipe_item *it) { /* mu held */
    if (!it->mem) return;
    p->mem_used -= it->mem;
    it->mem = 0;
    pthread_cond_broadcast(&p->cv_claim);
}
