/* pipeline_write.c - the writer workers: draw the boxes, write the label
 * file and the annotated image (each atomically: temp file + rename), and
 * build the image's detections.jsonl line for the emitter.
 *
 * Drawing and encoding cost as much as a small model's forward, so they run
 * on their own pool, in any order; only the in-order outputs (JSON lines,
 * raw frames) wait for the emitter (pipeline_slots.c). Several inputs with
 * one output name (a/x.jpg, b/x.jpg -> labels/x.txt) would race here, so
 * the inputs a later one shadows are marked before the run and write
 * nothing to that name: the last in input order wins, as when they were
 * processed one by one. */
#include "core/app/pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/app/output.h"
#include "core/base/clock.h"
#include "core/base/threadpool.h"
#include "core/image/draw.h"

/* Writes one image's files and builds its JSON line (mu NOT held). A
 * failure is reported here and marks it failed: the emitter then writes no
 * line for it, so --resume redoes it. */
static void write_item(y5_pipe *p, y5_pipe_item *it) {
    const y5_pipeline_opts *o = p->o;
    char err[1024], name[4200], path[8600];
    y5_pipe_item_name(p, it, name, sizeof name);
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
        y5_pipe_item_tag(p, it, tag, sizeof tag);
        y5_pipe_log(p, "%s failed: %s\n", tag, err);
        it->fail = 1;
    }
}

/* The writer thread: takes images from the write queue until it is empty
 * and every engine has stopped. */
void *y5_pipe_writer_main(void *arg) {
    y5_pipe *p = arg;
    y5_flush_denormals();
    double acc = 0, cpu = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->wq_n == 0 && p->engines_alive > 0) pthread_cond_wait(&p->cv_write, &p->mu);
        if (p->wq_n == 0) break;
        y5_pipe_item *it = p->wq[p->wq_head];
        p->wq_head = (p->wq_head + 1) % p->window;
        p->wq_n--;
        pthread_mutex_unlock(&p->mu);
        double t0 = y5_now_s(), c0 = y5_thread_cpu_s();
        write_item(p, it);
        acc += y5_now_s() - t0;
        cpu += y5_thread_cpu_s() - c0;
        pthread_mutex_lock(&p->mu);
        y5_pipe_finish_item(p, it);
    }
    p->stage[Y5_ST_WRITE] += acc;
    p->stage_cpu[Y5_ST_WRITE] += cpu;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Several inputs with one output name (a/x.jpg, b/x.jpg -> labels/x.txt):
 * the last in input order wins, as when they were processed one by one.
 * Sorting (name, index) pairs finds every name that a later input reuses:
 * pass 0 for label stems (bit 1), pass 1 for image names (bit 2). */
typedef struct { char *name; int idx; } named;
static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

int y5_pipe_mark_shadowed(y5_pipe *p) {
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
