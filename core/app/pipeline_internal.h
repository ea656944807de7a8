/* pipeline_internal.h - the state the detect pipeline's files share.
 *
 * Private to core/app/pipeline*.c: cli_detect.c and the tests see only
 * pipeline.h. The pipeline is one struct (y5_pipe) guarded by one mutex, and
 * each file owns one kind of thread or one phase of the run:
 *
 *   pipeline.c          y5_pipeline_run: set up, start and join the threads, finish
 *   pipeline_opts.c     --device/--threads/--shard parsing, output names
 *   pipeline_slots.c    slot life, messages, the in-order emitter
 *   pipeline_decode.c   decode workers (files or raw frames -> letterboxed u8)
 *   pipeline_batch.c    the ready pool's batching and the engine threads
 *   pipeline_write.c    writer workers (labels, annotated images, JSON lines)
 *   pipeline_resume.c   --resume: index earlier results, carry complete lines
 *   pipeline_stats.c    progress line/bar, stage accounting, --stats-json
 *   pipeline_memory.c   --max-memory: the byte budget of the images in flight
 *   pipeline_tiles.c    --tile: one giant image as overlapping tiles, merged
 *
 * Locking: mu guards every field marked (mu) and all slot states; print_mu
 * serialises stderr with the progress bar; raw_mu orders raw-frame reads with
 * their claims. The heavy work (decode, letterbox, forward, NMS, drawing,
 * encoding, file writes) always runs with mu released.
 *
 * Slot life: FREE -> DECODING (claimed by a decode worker) -> READY (in the
 * ready pool) -> ENGINE -> WRITING -> DONE -> emitted in input order -> FREE.
 * Failed and (with --resume) already complete images go straight to DONE. */
#ifndef Y5_PIPELINE_INTERNAL_H
#define Y5_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/app/pipeline.h"
#include "core/base/strbuf.h"
#include "core/engine/engine.h"
#include "core/image/image.h"
#include "core/image/letterbox.h"
#include "weights/y5w.h"

enum { Y5_SLOT_FREE, Y5_SLOT_DECODING, Y5_SLOT_READY, Y5_SLOT_ENGINE, Y5_SLOT_WRITING, Y5_SLOT_DONE };

/* The timed stages, in data-path order (names in pipeline_stats.c). */
enum { Y5_ST_DECODE, Y5_ST_LETTERBOX, Y5_ST_H2D, Y5_ST_FORWARD, Y5_ST_D2H, Y5_ST_NMS, Y5_ST_WRITE, Y5_ST_N };

/* One image (or raw frame) in flight: slot idx % window. */
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
    size_t mem;           /* bytes reserved in the --max-memory budget (pipeline_memory.c) */
    int tiled;            /* --tile cut it into more than one tile: the engine runs it alone (pipeline_tiles.c) */
    int retried;          /* put back in the ready pool once after its engine's device failed */
    int requeue;          /* batch_finish: back to the ready pool (hand_over does it) */
} y5_pipe_item;

typedef struct y5_pipe y5_pipe;

/* One engine thread and its y5_engine. */
typedef struct {
    y5_pipe *p;
    int id;
    y5_engine *e;
    const y5_engine_spec *spec;
    int threads;          /* actual CPU threads (0 for a device engine) */
    y5_det *dets;
    struct y5_pool *fill; /* a device engine's threads that fill its input (pipeline_batch.c); NULL: this thread */
    double busy;
    long long runs;              /* batches finished (batch_finish) */
    double fwd_s;                /* seconds in forward calls (tiles' included) */
    double warm_t0, warm_t1;     /* end of its warm-up batches, end of its last (0: none yet) */
    double warm_busy0, warm_fwd0; /* busy and fwd_s at warm_t0 */
    double warm_busy, warm_fwd;  /* after the warm-up: busy time, forward calls' time */
    long long warm_images0, warm_images; /* images at warm_t0; images run after it (by warm_t1) */
    long long images, batches;
    long long overlapped;        /* batches filled while the previous batch's forward ran (pipeline_batch.c) */
    int dead;                    /* its device failed for good: it took no more batches (pipeline_batch.c) */
    int nms_warned;              /* said once that its batch NMS could not be queued */
    int open_inline;             /* opened on the main thread (no opening thread to join) */
    int open_rc;                 /* its opening (pipeline.c: the engines open in parallel): 0, or -1 */
    char open_err[1024];         /* why it did not open */
    pthread_t th;                /* its opening thread, then its batch loop */
} y5_pipe_engine;

/* Threads that copy a batch into a device engine's pinned u8 staging: at
 * 1088x1920 a batch of 8 is 50 MB, several ms for one thread while the GPU
 * waits. */
#define Y5_PIPE_FILL_THREADS 4

/* Batches an engine runs before its steady state is timed: a device runs a
 * shape's first forward eagerly and captures its graph on the second. */
#define Y5_PIPE_WARMUP_BATCHES 2

struct y5_pipe {
    const y5_pipeline_opts *o;
    pthread_mutex_t mu, print_mu, raw_mu;
    pthread_cond_t cv_claim, cv_ready, cv_write, cv_main;

    /* slots and queues (mu) */
    y5_pipe_item *slots;
    int window;
    long long next_claim, emitted, n_total; /* n_total: -1 while unknown (raw) */
    int source_done, in_decode, emitting, abort;
    y5_pipe_item **ready;                 /* the ready pool, sorted by idx */
    int n_ready;
    y5_pipe_item **wq;                    /* the writers' ring queue */
    int wq_head, wq_n, engines_alive;
    int engines_working;                  /* engines whose device has not failed (pipeline_batch.c) */
    int in_engine;                        /* images taken by an engine and not yet handed over */
    int no_engine;                        /* every engine's device failed: nothing more is run */

    y5_pipe_engine *eng;
    pthread_t *dec, *wri;                 /* decode workers, writers */
    int dec_started;                      /* the decode workers run already (pipeline.c: while the engines open) */
    int prefetched;                       /* images ready when the engines were (decoded while they opened) */
    double t_engines;                     /* when every engine was open (y5_now_s; before t_start when no
                                           * decode worker started early) */
    y5w_file model;                       /* the weight file's metadata for the pipeline (model_open: mapped) */
    int model_open;
    int nc;
    const char (*names)[64];

    /* outputs */
    int jfd;                              /* .partial, -1: none */
    char jpath[4200], jpartial[4300], jprev[4300];
    int prev_fd;                          /* --resume: the carried lines (.prev), -1: none */
    int64_t *prev_off;                    /* per input: offset of its line in .prev, -1: process it */
    uint32_t *prev_len;
    unsigned char *shadow;                /* 1: a later input writes the same label, 2: the same image */

    /* counters (mu) */
    long long n_ok, n_failed, n_skipped, n_dets;
    int imgsz_h, imgsz_w, stride;         /* letterbox target and stride: --imgsz (or the model's size)
                                           * rounded up to the model's largest stride */
    int lb_on_engine;                     /* Y5_PIPE_LETTERBOX=engine: letterbox on the engine thread */
    double flush_s;                       /* a partial group waits at most this long (Y5_PIPE_FLUSH_MS) */
    int partial_frame;                    /* raw: bytes of a trailing partial frame */
    double stage[Y5_ST_N];
    double stage_cpu[Y5_ST_N]; /* the same stages' thread CPU time (decode, letterbox, write; 0: not measured) */
    double cpu0;               /* process user + system CPU seconds when the run's clock started */
    double t_start;            /* the run's clock: from the first worker thread's start (the decode workers',
                                * while the engines open, or all threads' at once) to the end */

    /* --max-memory (mu): budget (0: none), reserved now, the most reserved at
     * once, workers waiting now, waits in all */
    size_t mem_max, mem_used, mem_peak;
    int mem_waiting;
    long long mem_waits;

    /* progress (print_mu) */
    int bar_up;
    /* messages held while the engines open (print_mu): the run begins, and
     * its banner is printed, only once every engine is open, so a line such
     * as "[3/300] skipped: ..." from an early decode waits for it (and is
     * dropped if the run never begins); at most Y5_PIPE_HELD_MAX bytes, the
     * lines past it counted */
    int log_held;
    y5_sbuf held;
    long long held_dropped;
};
#define Y5_PIPE_HELD_MAX (64 * 1024)

/* An absolute CLOCK_MONOTONIC time for pthread_cond_timedwait (the
 * condition variables are created on that clock). */
static inline struct timespec y5_pipe_deadline(double t_mono) {
    struct timespec ts;
    ts.tv_sec = (time_t)t_mono;
    ts.tv_nsec = (long)((t_mono - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    if (ts.tv_nsec < 0) ts.tv_nsec = 0;
    return ts;
}

/* pipeline_slots.c */
/* A message line on stderr (clears the progress bar first on a terminal). */
void y5_pipe_log(y5_pipe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From now on y5_pipe_log holds its lines (log_held). */
void y5_pipe_log_hold(y5_pipe *p);
/* Ends the hold: prints the held lines (show) or drops them, and frees them. */
void y5_pipe_log_release(y5_pipe *p, int show);
/* The image's name in outputs ("frame_000123" for raw frames) and its tag
 * in messages ("[4/10]", "[frame 123]"). */
void y5_pipe_item_name(const y5_pipe *p, const y5_pipe_item *it, char *buf, size_t cap);
void y5_pipe_item_tag(const y5_pipe *p, const y5_pipe_item *it, char *buf, size_t cap);
/* Frees what the slot holds (pixels, staging, detections, line). */
void y5_pipe_item_release(y5_pipe_item *it);
/* Puts an image in the ready pool (READY, its wait starting now; the pool
 * kept in input order): decoded, or back from an engine whose device
 * failed. mu held. */
void y5_pipe_ready_insert(y5_pipe *p, y5_pipe_item *it);
/* Stops the run after a fatal output error: wakes every thread. mu held. */
void y5_pipe_set_abort(y5_pipe *p);
/* Marks it DONE and emits every DONE image at the head of the input order
 * (unless another thread is emitting). mu held on entry and on return. */
void y5_pipe_finish_item(y5_pipe *p, y5_pipe_item *it);

/* pipeline_memory.c: what an image of w x h (file_len bytes, a JPEG or
 * not, rotated by EXIF or not) holds in flight; reserving it (waits while
 * it would take the reservations over mem_max, unless nothing else is
 * reserved; returns the seconds waited; mu NOT held); giving it back (mu
 * held). */
size_t y5_pipe_mem_need(const y5_pipe *p, size_t file_len, int w, int h, int jpeg, int rotated);
double y5_pipe_mem_acquire(y5_pipe *p, y5_pipe_item *it, size_t need);
void y5_pipe_mem_release(y5_pipe *p, y5_pipe_item *it);

/* pipeline_tiles.c: how many tiles --tile cuts a w x h image into (1 without
 * --tile); the tile passes of a tiled image on engine E, appended to the
 * full pass's it->dets and merged. 0, or -1 with a message in err. */
int y5_pipe_tile_count(const y5_pipe *p, int w, int h);
int y5_pipe_run_tiles(y5_pipe_engine *E, y5_pipe_item *it, double *acc, char *err, size_t errlen);

/* The thread bodies (arg: the y5_pipe; for engines its y5_pipe_engine). */
void *y5_pipe_decoder_main(void *arg);  /* pipeline_decode.c */
void *y5_pipe_engine_main(void *arg);   /* pipeline_batch.c */
void *y5_pipe_writer_main(void *arg);   /* pipeline_write.c */

/* pipeline_write.c: sets p->shadow for inputs whose label or image name a
 * later input also writes. 0, or -1 out of memory. */
int y5_pipe_mark_shadowed(y5_pipe *p);

/* pipeline_resume.c: finds the complete images, carries their lines into
 * .prev and sets prev_off/prev_len/prev_fd. Returns the number skipped, or
 * -1 (message printed). */
int y5_pipe_resume_prepare(y5_pipe *p);

/* pipeline_stats.c */
typedef struct {
    double total[Y5_ST_N];
    double cpu[Y5_ST_N]; /* thread CPU seconds of the stage, or -1 where not measured */
    int workers[Y5_ST_N];
    int na[Y5_ST_N];
    int bound;
    double wall, load;
    double proc_cpu;     /* process user + system CPU seconds over the wall */
    int cores;           /* online cores */
} y5_pipe_report;

void y5_pipe_show_progress(y5_pipe *p, long long done, long long skipped, long long failed, int final);
void y5_pipe_build_report(y5_pipe *p, double wall, double load, y5_pipe_report *r);
/* The process's user + system CPU seconds so far. */
double y5_pipe_proc_cpu_s(void);
void y5_pipe_print_report(y5_pipe *p, const y5_pipe_report *r, long long processed);
/* --stats-json. 0, or -1 (message printed). */
int y5_pipe_write_stats_json(y5_pipe *p, const y5_pipe_report *r, long long processed);

#endif
