/* pipeline_stats.c - what the pipeline tells its user while it runs and at
 * the end: the progress bar (a terminal) or progress lines (a log), the
 * per-stage time accounting with the stage that bound the run, each
 * engine's busy fraction, and the same as JSON for --stats-json.
 *
 * Stage times are summed over the threads of each stage; total / workers
 * is the stage's wall time if it were perfectly spread, so the largest one
 * names the stage to give more threads (or a faster device). Kept in one
 * place so the text report and the JSON cannot drift apart. */
#include "core/app/pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/app/output.h"
#include "core/base/clock.h"
#include "core/base/threadpool.h"

/* Stage names in the text report and keys in --stats-json. */
static const char *const STAGE_NAME[Y5_ST_N] = {"read+decode", "letterbox", "H2D", "forward", "D2H", "NMS",
                                                "draw+encode+write"};
static const char *const STAGE_KEY[Y5_ST_N] = {"read_decode", "letterbox", "h2d", "forward", "d2h", "nms", "write"};

static void fmt_eta(double s, char *b, size_t cap) {
    if (!(s >= 0) || s > 1e7) { snprintf(b, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, cap, "%ld:%02ld", t / 60, t % 60);
}

/* One progress update: a redrawn bar on a terminal (final: erased), else a
 * plain line (none when final: the closing line follows). */
void y5_pipe_show_progress(y5_pipe *p, long long done, long long skipped, long long failed, int final) {
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

/* The model load's part inside the run's wall (the decode workers ran
 * meanwhile), and the wall after it: an engine can be busy only once it is
 * open, so its busy share is of that. */
static double load_in_wall(const y5_pipe *p) { return p->t_engines > p->t_start ? p->t_engines - p->t_start : 0.0; }
static double engines_window(const y5_pipe *p, const y5_pipe_report *r) { return r->wall - load_in_wall(p); }

double y5_pipe_proc_cpu_s(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u)) return 0;
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* The stage table of the closing report: totals, workers per stage and the
 * bounding stage (H2D/D2H are not timed separately yet: n/a). A stage's
 * wall time includes the time its threads waited for a core when more
 * threads than cores were runnable; its CPU time (measured for the
 * decode, letterbox and write threads) does not, and the process's CPU
 * over the wall says whether the cores were all busy. */
void y5_pipe_build_report(y5_pipe *p, double wall, double load, y5_pipe_report *r) {
    const y5_pipeline_opts *o = p->o;
    memset(r, 0, sizeof *r);
    r->wall = wall;
    r->load = load;
    r->proc_cpu = y5_pipe_proc_cpu_s() - p->cpu0;
    r->cores = y5_ncores();
    for (int s = 0; s < Y5_ST_N; s++) {
        r->total[s] = p->stage[s];
        const int measured = s == Y5_ST_DECODE || s == Y5_ST_WRITE || (s == Y5_ST_LETTERBOX && !p->lb_on_engine);
        r->cpu[s] = measured ? p->stage_cpu[s] : -1;
        r->workers[s] = s <= Y5_ST_LETTERBOX ? o->workers : s == Y5_ST_WRITE ? o->writers : o->n_engines;
        if (s == Y5_ST_LETTERBOX && p->lb_on_engine) r->workers[s] = o->n_engines;
        /* H2D/D2H: not separately timed by the engine API yet (none on the CPU) */
        r->na[s] = s == Y5_ST_H2D || s == Y5_ST_D2H;
    }
    r->bound = Y5_ST_FORWARD;
    double best = -1;
    for (int s = 0; s < Y5_ST_N; s++) {
        if (r->na[s]) continue;
        double v = r->total[s] / r->workers[s];
        if (v > best) { best = v; r->bound = s; }
    }
}

void y5_pipe_print_report(y5_pipe *p, const y5_pipe_report *r, long long processed) {
    const y5_pipeline_opts *o = p->o;
    fprintf(stderr, "stages (summed over threads; bound = total / workers):\n");
    fprintf(stderr, "  %-18s %9s %8s %11s %11s %11s\n", "stage", "total s", "workers", "s / worker", "ms / image",
            "cpu ms / im");
    for (int s = 0; s < Y5_ST_N; s++) {
        if (r->na[s]) { fprintf(stderr, "  %-18s %9s\n", STAGE_NAME[s], "n/a"); continue; }
        char cpu[32] = "-";
        if (r->cpu[s] >= 0 && processed) snprintf(cpu, sizeof cpu, "%.2f", r->cpu[s] * 1e3 / (double)processed);
        fprintf(stderr, "  %-18s %9.3f %8d %11.3f %11.2f %11s\n", STAGE_NAME[s], r->total[s], r->workers[s],
                r->total[s] / r->workers[s], processed ? r->total[s] * 1e3 / (double)processed : 0.0, cpu);
    }
    fprintf(stderr, "cpu: %.1f of %d cores busy on average (%.2f s of process CPU over %.2f s)\n",
            r->wall > 0 ? r->proc_cpu / r->wall : 0.0, r->cores, r->proc_cpu, r->wall);
    const double ewin = engines_window(p, r);
    for (int i = 0; i < o->n_engines; i++) {
        y5_pipe_engine *E = &p->eng[i];
        char th[32] = "";
        if (E->threads > 0) snprintf(th, sizeof th, ", %d threads", E->threads);
        fprintf(stderr, "engine %d (%s%s): busy %.0f%% of %.2f s, %lld images in %lld batches, %lld filled during the "
                "previous one's forward, %lld images' NMS queued with the forward%s\n", i, E->spec->device, th,
                ewin > 0 ? 100 * E->busy / ewin : 0.0, ewin, E->images, E->batches, E->overlapped,
                E->e ? E->e->nms_batched : 0, E->dead ? "; stopped: its device failed" : "");
        const double win = E->warm_t1 > E->warm_t0 ? E->warm_t1 - E->warm_t0 : 0;
        if (win > 0)
            fprintf(stderr, "engine %d after warm-up (its first %d batches): busy %.0f%%, in forward %.0f%% of %.2f s, "
                    "%lld images: %.2f images/s\n", i, Y5_PIPE_WARMUP_BATCHES, 100 * E->warm_busy / win,
                    100 * E->warm_fwd / win, win, E->warm_images, (double)E->warm_images / win);
    }
    const double in_wall = load_in_wall(p);
    if (in_wall > 0)
        fprintf(stderr, "bound by: %s (%.3f s per worker of %.2f s wall; model load %.2f s, its last %.2f s in the wall "
                "with the decode workers running: %d images ready when the engines were)\n", STAGE_NAME[r->bound],
                r->total[r->bound] / r->workers[r->bound], r->wall, r->load, in_wall, p->prefetched);
    else
        fprintf(stderr, "bound by: %s (%.3f s per worker of %.2f s wall; model load %.2f s before it)\n",
                STAGE_NAME[r->bound], r->total[r->bound] / r->workers[r->bound], r->wall, r->load);
}

int y5_pipe_write_stats_json(y5_pipe *p, const y5_pipe_report *r, long long processed) {
    const y5_pipeline_opts *o = p->o;
    size_t cap = 8192 + (size_t)o->n_engines * 640, n = 0;
    char *s = malloc(cap);
    if (!s) return -1;
#define PUT(...) (n += (size_t)snprintf(s + n, cap > n ? cap - n : 0, __VA_ARGS__))
    long long total = o->raw_w > 0 ? p->emitted : o->n_paths;
    PUT("{\n  \"images\": %lld,\n  \"processed\": %lld,\n  \"failed\": %lld,\n  \"skipped\": %lld,\n", total, processed,
        p->n_failed, p->n_skipped);
    PUT("  \"detections\": %lld,\n  \"wall_s\": %.6f,\n  \"load_s\": %.6f,\n  \"load_in_wall_s\": %.6f,\n"
        "  \"prefetched\": %d,\n  \"images_per_s\": %.4f,\n", p->n_dets, r->wall, r->load,
        load_in_wall(p), p->prefetched,
        r->wall > 0 ? (double)p->n_ok / r->wall : 0.0);
    PUT("  \"batch\": %d,\n  \"workers\": %d,\n  \"writers\": %d,\n  \"queue\": %d,\n  \"imgsz\": [%d, %d],\n", o->batch,
        o->workers, o->writers, p->window, p->imgsz_h, p->imgsz_w);
    const double ewin = engines_window(p, r);
    PUT("  \"engines\": [");
    for (int i = 0; i < o->n_engines; i++) {
        y5_pipe_engine *E = &p->eng[i];
        const double win = E->warm_t1 > E->warm_t0 ? E->warm_t1 - E->warm_t0 : 0;
        PUT("%s{\"device\": \"%s\", \"threads\": %d, \"busy\": %.4f, \"busy_s\": %.6f, \"images\": %lld, \"batches\": %lld, "
            "\"overlapped\": %lld, \"nms_batched\": %lld, \"device_failed\": %s, "
            "\"after_warmup\": {\"window_s\": %.6f, \"busy\": %.4f, \"forward\": %.4f, \"images\": %lld}, "
            "\"open\": {\"weights_s\": %.6f, \"device_s\": %.6f, \"layers_s\": %.6f}, \"warmup_done_s\": %.6f}",
            i ? ", " : "", E->spec->device, E->threads, ewin > 0 ? E->busy / ewin : 0.0, E->busy, E->images,
            E->batches, E->overlapped, E->e ? E->e->nms_batched : 0, E->dead ? "true" : "false", win > 0 ? win : 0.0,
            win > 0 ? E->warm_busy / win : 0.0, win > 0 ? E->warm_fwd / win : 0.0, win > 0 ? E->warm_images : 0LL,
            E->e ? E->e->open_s[0] : 0.0,
            E->e ? E->e->open_s[1] : 0.0, E->e ? E->e->open_s[2] : 0.0,
            E->warm_t0 > 0 ? E->warm_t0 - p->t_start : 0.0);
    }
    PUT("],\n  \"stages\": {");
    for (int st = 0; st < Y5_ST_N; st++) {
        if (r->na[st]) { PUT("%s\n    \"%s\": null", st ? "," : "", STAGE_KEY[st]); continue; }
        char cpu[64] = "null";
        if (r->cpu[st] >= 0) snprintf(cpu, sizeof cpu, "%.4f", processed ? r->cpu[st] * 1e3 / (double)processed : 0.0);
        PUT("%s\n    \"%s\": {\"total_s\": %.6f, \"workers\": %d, \"per_worker_s\": %.6f, \"per_image_ms\": %.4f, "
            "\"cpu_per_image_ms\": %s}",
            st ? "," : "", STAGE_KEY[st], r->total[st], r->workers[st], r->total[st] / r->workers[st],
            processed ? r->total[st] * 1e3 / (double)processed : 0.0, cpu);
    }
    PUT("\n  },\n  \"cpu\": {\"process_s\": %.6f, \"cores\": %d, \"cores_busy\": %.4f},\n  \"bound_by\": \"%s\"\n}\n",
        r->proc_cpu, r->cores, r->wall > 0 ? r->proc_cpu / r->wall : 0.0, STAGE_KEY[r->bound]);
#undef PUT
    char err[1024];
    int rc = 0;
    if (n >= cap) rc = -1;
    else if (y5_write_file_atomic(o->stats_json, s, n, err, sizeof err)) {
        y5_pipe_log(p, "yolov5c detect: --stats-json: %s\n", err);
        rc = -1;
    }
    free(s);
    return rc;
}
