/* tune_cache.h - Y5_CONV_IMPL=tune's choices kept on disk between runs.
 *
 * Tuning times every conv path at a plan's warm-up (backend_cuda.cu, "conv
 * tuning"): for yolov5m at 1088x1920 and batch 8 about twenty forwards'
 * worth of work, paid again by every process. The file keeps what one
 * process measured for the next, as TensorRT's timing cache does. It is
 * only valid for the same build (the kernels and the checks that accepted
 * them) on the same kind of card: its first line names both (the stamp),
 * and a file with another stamp is ignored whole (and replaced on the next
 * write). A cached choice is used without timing or checking it again.
 *
 * Plain C with no CUDA types, so the suite tests it on any machine
 * (tests/unit/test_tune_cache.c): the file is the user's, its bytes are not
 * trusted; a malformed line is skipped, a malformed file read as empty.
 *
 * The default file name carries the format's version (tune3-<hash>.txt), so
 * builds of two versions on one machine keep a file each.
 * Format (text): "yolov5c-tune 3 <stamp>\n", then one line per entry:
 * cin cout k s p n h w ld_in ld_out ld_res act align run ms0 ms1 ms2 ms3 ms4
 * (a time per run, Y5_CUDA_RUN_* order; version 1 had no v4, ms4, version 2
 * no act and align). */
#ifndef Y5_TUNE_CACHE_H
#define Y5_TUNE_CACHE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One tuned conv shape: the key (conv shape, batch, input size, the views'
 * channel strides, ld_res 0: no residual; the activation, y5_act_kind; and
 * the views' offsets modulo 8 halves, align = in | out << 3 | res << 6,
 * since an own kernel takes 16-byte or narrower loads and stores by them:
 * a choice checked on one epilogue is not reused for another), the chosen
 * run (Y5_CUDA_RUN_*, cuda_backend.h) and each run's milliseconds (-1: not
 * run or rejected). */
#define Y5_TUNE_RUNS 5
/* The file's first line starts with this, then the stamp (format 3: the
 * key has act and align; a file of an earlier format is another's, ignored). */
#define Y5_TUNE_MAGIC "yolov5c-tune 3 "
typedef struct y5_tune_rec {
    int cin, cout, k, s, p, n, h, w, ld_in, ld_out, ld_res, act, align;
    int run;
    float ms[Y5_TUNE_RUNS];
} y5_tune_rec;

/* 1 when a and b have the same key. */
int y5_tune_same_key(const y5_tune_rec *a, const y5_tune_rec *b);

/* The cache file: $Y5_TUNE_CACHE, else tune3-<hash of card>.txt in
 * $XDG_CACHE_HOME/yolov5c or $HOME/.cache/yolov5c (one file per kind of
 * card, so two kinds do not replace each other's); NULL when none can be
 * named (or Y5_TUNE_CACHE is "0": no cache). */
const char *y5_tune_cache_path(char *buf, size_t cap, const char *card);

/* The entries of the file at path whose stamp is `stamp` (a missing file, or
 * another stamp: none). *out is malloc'd (NULL when *n is 0). 0, or -1 out of
 * memory. */
int y5_tune_cache_read(const char *path, const char *stamp, y5_tune_rec **out, int *n);

/* Writes the n entries under stamp, whole or not at all (a temporary file
 * of this process and call renamed into place; missing folders made).
 * Entries whose times are all -1 (not tuned) are left out. 0, or -1 with a
 * message. */
int y5_tune_cache_write(const char *path, const char *stamp, const y5_tune_rec *r, int n, char *err, size_t errlen);

/* Adds the n entries to the file under stamp, keeping the entries other
 * processes wrote there under the same stamp (n's win on equal keys): the
 * read, merge and write under an exclusive lock on path.lock, so two
 * processes closing at once lose nothing. 0, or -1 with a message. */
int y5_tune_cache_merge(const char *path, const char *stamp, const y5_tune_rec *r, int n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
