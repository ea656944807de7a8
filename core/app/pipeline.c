/* pipeline.c - y5_pipeline_run: one detect job from start to end (see
 * pipeline.h for the picture, pipeline_internal.h for the state and the map
 * of the other pipeline_*.c files).
 *
 * The run is a straight sequence - start the engines opening (each on its
 * own thread, all at once), read the model's metadata and start the decode
 * workers meanwhile, wait for the engines, prepare the outputs (with
 * --resume: index the earlier results), start the engine loops and writers,
 * show the progress from this thread until every claimed image is emitted,
 * join, finish detections.jsonl and report - so it lives apart from the
 * threads' own loops: each step is one function here, and a failure before
 * threads start just unwinds through pipe_free. */
#include "core/app/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/app/outdir.h"
#include "core/app/pipeline_internal.h"
#include "core/base/clock.h"
#include "core/base/threadpool.h"
#include "core/base/debug_env.h"

/* Locks, condition variables (on CLOCK_MONOTONIC, for the timed waits),
 * the debug switches and the slot arrays. 0, or -1 out of memory. */
static int pipe_init(y5_pipe *p, const y5_pipeline_opts *o) {
    memset(p, 0, sizeof *p);
    p->o = o;
    p->jfd = -1;
    p->prev_fd = -1;
    p->n_total = o->raw_w > 0 ? -1 : o->n_paths;
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
    p->source_done = o->raw_w <= 0 && o->n_paths == 0;
    p->engines_alive = p->engines_working = o->n_engines;
    p->lb_on_engine = y5_debug_env()->pipe_letterbox_engine;
    p->flush_s = (y5_debug_env()->pipe_flush_ms >= 0 ? y5_debug_env()->pipe_flush_ms : Y5_PIPE_FLUSH_MS) / 1e3;

    p->window = o->queue;
    p->mem_max = o->max_memory;
    p->slots = calloc((size_t)p->window, sizeof(y5_pipe_item));
    p->ready = calloc((size_t)p->window, sizeof(y5_pipe_item *));
    p->wq = calloc((size_t)p->window, sizeof(y5_pipe_item *));
    p->eng = calloc((size_t)o->n_engines, sizeof(y5_pipe_engine));
    p->dec = calloc((size_t)o->workers, sizeof(pthread_t));
    p->wri = calloc((size_t)o->writers, sizeof(pthread_t));
    if (!p->slots || !p->ready || !p->wq || !p->eng || !p->dec || !p->wri) {
        fprintf(stderr, "yolov5c detect: out of memory\n");
        return -1;
    }
    return 0;
}

static void pipe_free(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    if (p->jfd >= 0) close(p->jfd);
    if (p->prev_fd >= 0) close(p->prev_fd);
    for (int i = 0; p->eng && i < o->n_engines; i++) {
        y5_engine_close(p->eng[i].e);
        if (p->eng[i].fill) y5_pool_destroy(p->eng[i].fill);
        free(p->eng[i].dets);
    }
    if (p->slots)
        for (int i = 0; i < p->window; i++) y5_pipe_item_release(&p->slots[i]);
    free(p->slots);
    free(p->ready);
    y5_sb_free(&p->held);
    free(p->wq);
    free(p->eng);
    free(p->prev_off);
    free(p->prev_len);
    free(p->shadow);
    free(p->dec);
    free(p->wri);
    if (p->model_open) y5w_close(&p->model);
    pthread_cond_destroy(&p->cv_claim);
    pthread_cond_destroy(&p->cv_ready);
    pthread_cond_destroy(&p->cv_write);
    pthread_cond_destroy(&p->cv_main);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->print_mu);
    pthread_mutex_destroy(&p->raw_mu);
}

/* One engine's opening, on its own thread (engine_open_main): the engines
 * open in parallel (a GPU's start - context, weights, libraries - is most of
 * a short run's time, and with several GPUs it would add up one after the
 * other) while the decode workers already read and decode the first images
 * (start_decoders). Sets E->open_rc, and E->open_err when it fails. */
static void *engine_open_main(void *arg) {
    y5_pipe_engine *E = arg;
    const y5_pipeline_opts *o = E->p->o;
    y5_engine_opts eo = {E->spec->device, E->spec->threads};
    E->open_rc = -1;
    const double delay = y5_debug_env()->pipe_open_delay_ms;
    if (delay > 0) {
        struct timespec ts = {(time_t)(delay / 1e3), (long)((delay - 1e3 * (long)(delay / 1e3)) * 1e6)};
        nanosleep(&ts, NULL);
    }
    E->e = y5_engine_open(o->weights, &eo, E->open_err, sizeof E->open_err);
    if (!E->e) return NULL;
    y5_engine_set_lazy_cls(E->e, o->det.nms.conf_thres);
    if (y5_debug_env()->fault_engine == E->id) y5_engine_inject_fault(E->e, y5_debug_env()->fault_after);
    E->threads = !strcmp(E->spec->device, "cpu") ? y5_backend_cpu_threads(E->e->be) : 0;
    E->dets = malloc(sizeof(y5_det) * (size_t)o->det.nms.max_det);
    /* fill threads for a device engine only: a CPU engine's conversion is
     * small beside its forward, and its --threads are the user's to set
     * (fill_input runs the parts on the engine thread when there is no pool) */
    E->fill = E->threads == 0 ? y5_pool_create(Y5_PIPE_FILL_THREADS) : NULL;
    if (!E->dets || (E->threads == 0 && !E->fill)) {
        snprintf(E->open_err, sizeof E->open_err, "out of memory");
        return NULL;
    }
    E->open_rc = 0;
    return NULL;
}

/* Starts every engine's opening thread (one that cannot start opens here,
 * now). */
static void start_engines_opening(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    for (int i = 0; i < o->n_engines; i++) {
        y5_pipe_engine *E = &p->eng[i];
        E->p = p;
        E->id = i;
        E->spec = &o->engines[i];
        E->open_rc = -1;
        if (pthread_create(&E->th, NULL, engine_open_main, E)) {
            engine_open_main(E);
            E->open_inline = 1; /* nothing to join */
        }
    }
}

/* Waits for the openings; *load: the seconds from t0 until every engine is
 * open. 0, or -1 with the first failed engine's message printed (quiet:
 * nothing printed, the caller has said what failed already). */
static int finish_engines_opening(y5_pipe *p, double t0, double *load, int quiet) {
    int rc = 0;
    for (int i = 0; i < p->o->n_engines; i++) {
        y5_pipe_engine *E = &p->eng[i];
        if (!E->open_inline) pthread_join(E->th, NULL);
        if (E->open_rc && !rc && !quiet) fprintf(stderr, "yolov5c detect: %s\n", E->open_err);
        if (E->open_rc) rc = -1;
        /* the engines read the file on their own: one replaced meanwhile would
         * disagree with the metadata the decode workers letterbox with */
        if (!E->open_rc && !quiet && !rc &&
            (y5_engine_nc(E->e) != p->nc || y5_engine_stride(E->e) != p->stride ||
             y5_engine_imgsz(E->e) != y5w_imgsz(&p->model.desc))) {
            fprintf(stderr, "yolov5c detect: %s: the file changed while it was being read; run again\n", p->o->weights);
            rc = -1;
        }
    }
    p->t_engines = y5_now_s(); /* every engine is open (or failed) */
    *load = p->t_engines - t0;
    return rc;
}

/* The model's stride, input size, classes and names, from the weight file
 * itself (the engines are still opening): what the decode workers need to
 * letterbox and the writers to name classes. --imgsz (0: the model's own
 * size) is rounded up to the model's largest stride, as ultralytics'
 * check_img_size: 64 for a P6 model. 0, or -1 (message printed). */
static int open_model(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    char err[1024];
    if (y5w_open(o->weights, &p->model, err, sizeof err)) {
        fprintf(stderr, "yolov5c detect: %s\n", err);
        return -1;
    }
    p->model_open = 1;
    const y5_model_desc *d = &p->model.desc;
    p->stride = y5w_max_stride(d);
    p->imgsz_h = o->det.imgsz_h > 0 ? o->det.imgsz_h : y5w_imgsz(d);
    p->imgsz_w = o->det.imgsz_w > 0 ? o->det.imgsz_w : y5w_imgsz(d);
    if (p->imgsz_h % p->stride || p->imgsz_w % p->stride) {
        int h = (p->imgsz_h + p->stride - 1) / p->stride * p->stride, w = (p->imgsz_w + p->stride - 1) / p->stride * p->stride;
        fprintf(stderr, "yolov5c detect: warning: --imgsz %dx%d is not a multiple of the model's stride %d, using %dx%d\n",
                p->imgsz_h, p->imgsz_w, p->stride, h, w);
        p->imgsz_h = h;
        p->imgsz_w = w;
    }
    p->nc = (int)d->nc;
    p->names = (const char(*)[64])d->names;
    for (int k = 0; k < o->det.nms.n_classes; k++)
        if (o->det.nms.classes[k] >= p->nc)
            fprintf(stderr, "yolov5c detect: warning: --classes %d: the model has %d classes\n", o->det.nms.classes[k], p->nc);
    return 0;
}

/* Starts the decode workers (and the run's clock, unless it runs already). */
static void start_decoders(y5_pipe *p) {
    if (p->t_start == 0) { /* the run's clock starts with its first worker: what the stages count, it counts */
        p->t_start = y5_now_s();
        p->cpu0 = y5_pipe_proc_cpu_s();
    }
    int n = 0;
    while (n < p->o->workers && !pthread_create(&p->dec[n], NULL, y5_pipe_decoder_main, p)) n++;
    if (n < p->o->workers) { /* cannot happen in practice; keep it simple: fail hard */
        fprintf(stderr, "yolov5c detect: cannot start threads\n");
        _exit(1);
    }
    p->dec_started = 1;
}

/* Stops decode workers started ahead of a run that then failed to begin:
 * no more claims; the images in flight finish into the ready pool, which
 * pipe_free empties. */
static void stop_decoders(y5_pipe *p) {
    if (!p->dec_started) return;
    pthread_mutex_lock(&p->mu);
    y5_pipe_set_abort(p);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->o->workers; i++) pthread_join(p->dec[i], NULL);
    p->dec_started = 0;
}

/* Everything the outputs need before the first image: shadowed names,
 * with --resume the earlier results, and a fresh detections.jsonl.partial.
 * 0, or -1 (message printed). */
static int open_outputs(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    const int raw = o->raw_w > 0;
    if (!raw && y5_pipe_mark_shadowed(p)) { fprintf(stderr, "yolov5c detect: out of memory\n"); return -1; }
    if (o->jsonl) {
        snprintf(p->jpath, sizeof p->jpath, "%s", o->jsonl);
        snprintf(p->jpartial, sizeof p->jpartial, "%s.partial", o->jsonl);
        snprintf(p->jprev, sizeof p->jprev, "%s.prev", o->jsonl);
    }
    if (o->jsonl) { /* fail now, not after the whole run, when the result cannot be renamed into place */
        struct stat jst;
        if (stat(o->jsonl, &jst) == 0 && S_ISDIR(jst.st_mode)) {
            fprintf(stderr, "yolov5c detect: %s: is a directory (detections.jsonl cannot be written there)\n", o->jsonl);
            return -1;
        }
    }
    if (o->resume && !raw && o->jsonl) {
        int skipped = y5_pipe_resume_prepare(p);
        if (skipped < 0) return -1;
        fprintf(stderr, "resume: %d of %d images already complete, skipped\n", skipped, o->n_paths);
    } else if (o->jsonl) {
        unlink(p->jprev);
    }
    if (o->run_record && o->out_dir) { /* now, not earlier: only a run that rewrites the outputs changes it */
        char err[1024];
        if (y5_run_record_write(o->out_dir, o->run_record, err, sizeof err)) {
            fprintf(stderr, "yolov5c detect: %s\n", err);
            return -1;
        }
    }
    if (o->jsonl) {
        p->jfd = open(p->jpartial, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0666);
        if (p->jfd < 0) {
            fprintf(stderr, "yolov5c detect: %s: cannot create (%s)\n", p->jpartial, strerror(errno));
            return -1;
        }
    }
    if (o->raw_out) signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE error, reported, not a silent death */
    return 0;
}

static void print_banner(const y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    char th[64] = "";
    if (p->eng[0].threads > 0) snprintf(th, sizeof th, ", %d threads", p->eng[0].threads);
    if (o->raw_w > 0)
        fprintf(stderr, "detect: raw %dx%d RGB24 frames from stdin", o->raw_w, o->raw_h);
    else
        fprintf(stderr, "detect: %d images", o->n_paths);
    fprintf(stderr, ", %d engine%s (%s%s%s), batch %d, %d decode workers, %d writers, queue %d\n", o->n_engines,
            o->n_engines > 1 ? "s" : "", p->eng[0].spec->device, th, o->n_engines > 1 ? ", ..." : "", o->batch,
            o->workers, o->writers, p->window);
}

/* Starts the engine and writer threads (and the decode workers, unless they
 * run already), shows the progress from this thread until every claimed
 * image is emitted, and joins them all. Returns the run's wall time: from
 * its first worker's start, so with the decode workers started while the
 * engines opened the opening's overlapped part is in it, as is every stage
 * time the report divides by it. */
static double run_threads(y5_pipe *p) {
    const y5_pipeline_opts *o = p->o;
    if (p->t_start == 0) { /* no decode worker started early: the clock starts with the engines' loops */
        p->t_start = y5_now_s();
        p->cpu0 = y5_pipe_proc_cpu_s();
    }
    pthread_mutex_lock(&p->mu);
    p->prefetched = p->n_ready;
    pthread_mutex_unlock(&p->mu);
    int ok = 1;
    for (int i = 0; i < o->n_engines && ok; i++) ok = !pthread_create(&p->eng[i].th, NULL, y5_pipe_engine_main, &p->eng[i]);
    for (int i = 0; i < o->writers && ok; i++) ok = !pthread_create(&p->wri[i], NULL, y5_pipe_writer_main, p);
    if (ok && !p->dec_started) start_decoders(p);
    if (!ok) { /* cannot happen in practice; keep it simple: fail hard */
        fprintf(stderr, "yolov5c detect: cannot start threads\n");
        _exit(1);
    }

    const double period = o->progress ? 0.2 : 1.0;
    double last = y5_now_s();
    pthread_mutex_lock(&p->mu);
    while (!(p->source_done && p->in_decode == 0 && p->emitted == p->next_claim)) {
        struct timespec ts = y5_pipe_deadline(y5_now_s() + period);
        pthread_cond_timedwait(&p->cv_main, &p->mu, &ts);
        if (y5_now_s() - last >= period) {
            long long d = p->emitted, s = p->n_skipped, f = p->n_failed;
            pthread_mutex_unlock(&p->mu);
            y5_pipe_show_progress(p, d, s, f, 0);
            last = y5_now_s();
            pthread_mutex_lock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < o->workers; i++) pthread_join(p->dec[i], NULL);
    for (int i = 0; i < o->n_engines; i++) pthread_join(p->eng[i].th, NULL);
    for (int i = 0; i < o->writers; i++) pthread_join(p->wri[i], NULL);
    return y5_now_s() - p->t_start;
}

/* After the threads: detections.jsonl.partial synced and renamed into
 * place (unless the run stopped early), the stage report, --stats-json and
 * the closing line. Returns the exit status of the job. */
static int finish(y5_pipe *p, double wall, double load) {
    const y5_pipeline_opts *o = p->o;
    const int raw = o->raw_w > 0;
    y5_pipe_show_progress(p, p->emitted, p->n_skipped, p->n_failed, 1);
    int fatal = p->abort || p->no_engine; /* no engine left: incomplete, as after an abort */
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
    y5_pipe_report r;
    y5_pipe_build_report(p, wall, load, &r);
    y5_pipe_print_report(p, &r, processed);
    int stats_bad = o->stats_json && y5_pipe_write_stats_json(p, &r, processed);
    if (p->no_engine)
        fprintf(stderr, "yolov5c detect: every engine's device failed: stopped with %lld of %lld %s done\n",
                p->n_ok + p->n_skipped, raw ? p->emitted : o->n_paths, raw ? "frames" : "images");
    if (fatal && o->jsonl && !raw)
        fprintf(stderr, "yolov5c detect: stopped early; run again with --resume to finish\n");
    long long total = raw ? p->emitted + (p->partial_frame ? 1 : 0) : o->n_paths;
    char skip[96] = "";
    if (o->resume) snprintf(skip, sizeof skip, ", %lld already complete (skipped)", p->n_skipped);
    if (p->no_engine && !raw) /* the inputs no decode worker claimed once no engine was left */
        snprintf(skip + strlen(skip), sizeof skip - strlen(skip), ", %lld not started", o->n_paths - p->emitted);
    fprintf(stderr, "done: %lld %s, %lld failed%s, %lld detections, %.2f s, %.2f images/s; results in %s\n", total,
            raw ? "frames" : "images", p->n_failed, skip, p->n_dets, wall, (double)p->n_ok / (wall > 0 ? wall : 1e-9),
            o->raw_out ? "stdout" : o->out_dir ? o->out_dir : o->jsonl ? o->jsonl : "(nowhere)");
    return fatal || stats_bad || p->n_failed || p->emitted < (raw ? p->emitted : o->n_paths) ? 1 : 0;
}

int y5_pipeline_run(const y5_pipeline_opts *o) {
    y5_pipe P;
    int rc = 1;
    double load = 0;
    if (pipe_init(&P, o)) {
        pipe_free(&P);
        return 1;
    }
    /* The engines open (in parallel) while the decode workers start on the
     * first images: by the time a GPU is up its first batches are ready.
     * Not with --resume (which inputs to skip is known only once the outputs
     * are prepared) nor raw frames from stdin. Nothing is written before
     * every engine is open: a failed opening leaves the outputs as they were. */
    const double t0 = y5_now_s();
    start_engines_opening(&P);
    int bad = open_model(&P);
    if (!bad && !o->resume && o->raw_w <= 0) {
        /* an early decode's messages follow the banner; only then: --resume's
         * own errors (open_outputs) go through the same log and must show */
        y5_pipe_log_hold(&P);
        start_decoders(&P);
    }
    bad |= finish_engines_opening(&P, t0, &load, bad);
    if (!bad) bad = open_outputs(&P);
    if (bad) {
        stop_decoders(&P);
        y5_pipe_log_release(&P, 0); /* about a run that did not happen */
    } else {
        print_banner(&P);
        y5_pipe_log_release(&P, 1);
        double wall = run_threads(&P);
        rc = finish(&P, wall, load);
    }
    pipe_free(&P);
    return rc;
}
