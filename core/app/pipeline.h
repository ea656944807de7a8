/* pipeline.h - many images at full speed: the `detect` pipeline.
 *
 *   decode workers ──► ready pool ──► engine threads ──► writer workers ──► in-order emitter
 *   (read, decode,     (grouped by     (one y5_engine      (draw, encode,     (detections.jsonl
 *    letterbox u8)      input shape)    each: u8->f32,      image + label,     .partial, raw
 *                                       forward, NMS)       JSON line)         frames to stdout)
 *
 * Every image lives in one of `queue` slots from the moment a decode worker
 * claims it until the emitter has written its line, and a worker may claim
 * image i only while i < (images emitted) + queue: memory stays bounded by
 * the slot count whatever the number of inputs, and the reorder buffer of
 * the in-order outputs is the slot array itself. Results never depend on
 * worker, writer, batch or engine counts: each image is letterboxed, run,
 * NMS'd and written alone (a batch is only a set of independent images of
 * one input shape) and the in-order outputs follow the input list.
 *
 * Batches: an idle engine takes B ready images of one letterboxed shape
 * (the group holding the oldest image first); a smaller group is run as a
 * partial batch when nothing more can arrive (end of input, or the slots are
 * all taken) or when its oldest image has waited Y5_PIPE_FLUSH_MS (the
 * environment variable of that name overrides it; the tests set it high so
 * that batch composition does not depend on timing). */
#ifndef Y5_PIPELINE_H
#define Y5_PIPELINE_H

#include <stdio.h>
#include <yolov5c.h>

#define Y5_PIPE_MAX_ENGINES 64
#define Y5_PIPE_FLUSH_MS 100

typedef struct {
    char device[32];  /* "cpu" or "cuda:N" */
    int threads;      /* CPU threads of this engine (0: all cores) */
} y5_engine_spec;

/* Parses --device "cpu", "cpu,cpu", "0,0", "cuda:1,cuda:1", "cuda" into
 * specs and spreads --threads over the CPU entries: threads is "" / "0"
 * (all cores split evenly), "N" (N split evenly, at least 1 each) or
 * "A,B,..." (one per --device entry). Returns the count, or -1 with a
 * message in err. */
int y5_parse_engine_specs(const char *devices, const char *threads, int ncores, y5_engine_spec *out, int max,
                          char *err, size_t errlen);

/* Shard "K/N" (0 <= K < N). Returns 0 or -1. */
int y5_parse_shard(const char *v, int *k, int *n);

typedef struct {
    /* inputs: files (sorted, already sharded) or raw RGB24 frames */
    char **paths;
    int n_paths;
    int raw_w, raw_h;          /* > 0: frames of raw_w x raw_h x 3 bytes from raw_fd */
    int raw_fd;
    /* outputs */
    const char *out_dir;       /* annotated images + labels/; NULL with raw_out */
    int raw_out;               /* annotated frames to stdout, in order */
    const char *jsonl;         /* final detections.jsonl path, NULL: none */
    int no_save;
    int resume;
    const char *stats_json;
    /* the options record of out_dir (core/app/outdir.h), written just before
     * the outputs start; NULL: none */
    const char *run_record;
    /* model and execution */
    const char *weights;
    const y5_engine_spec *engines;
    int n_engines;
    y5_detect_opts det;
    int batch, workers, writers, queue;
    size_t max_memory;
    int tile;                  /* > 0: --tile: images larger than this cut into tiles of this size */
    double tile_overlap;       /* --tile-overlap: fraction of a tile shared with its neighbour */
    int tile_full;             /* with --tile: also the full-image pass (default on) */         /* bytes the images in flight may hold (estimated); 0: no byte bound */
    int progress;              /* 1: bar (stderr is a terminal), 0: plain lines */
} y5_pipeline_opts;

/* Runs the whole detect job. Messages go to stderr only. Returns 0 when
 * every image succeeded, 1 otherwise (a bad image, a write error, ...). */
int y5_pipeline_run(const y5_pipeline_opts *o);

/* Output names shared with the CLI: DIR/<image name> and labels/<stem>.txt. */
void y5_out_image_name(const char *in, char *out, size_t cap);
void y5_out_stem(const char *in, char *out, size_t cap);

#endif
