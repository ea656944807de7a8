/* outdir.h - what guards a detect output folder between runs: a lock, so
 * two runs never write one folder at once, and a record of the options
 * that shape its results, so --resume never mixes results made with
 * different ones.
 *
 *   OUT/.yolov5c.lock  flock()ed for the whole run (an empty file; the
 *                      lock, not the file, is what counts, so a killed run
 *                      leaves nothing to clean up)
 *   OUT/.yolov5c-run   "key value" lines: the weights' checksum, imgsz,
 *                      square, conf, iou, max-det, classes, agnostic, the
 *                      --tile settings of a tiled run, and the engines'
 *                      precision (FP32 on the CPU, FP16 on a GPU: their
 *                      boxes differ slightly; a record without that line,
 *                      from an older version, is not checked for it);
 *                      written atomically when a run starts its outputs */
#ifndef Y5_OUTDIR_H
#define Y5_OUTDIR_H

#include <stddef.h>

#include <yolov5c.h>

#define Y5_OUTDIR_LOCK ".yolov5c.lock"
#define Y5_OUTDIR_RECORD ".yolov5c-run"

/* Takes the folder's lock without waiting. Returns the open descriptor
 * (keep it open for the run; closing it, or exiting, releases the lock),
 * or -1 with "DIR: ..." in err (another run holds it, or it cannot be
 * created). */
int y5_outdir_lock(const char *dir, char *err, size_t errlen);

/* The record's text for a run of these weights and options. 0, or -1 when
 * it does not fit in cap. The weights are named by the checksum of their
 * .y5w header (FORMAT.md: over the whole file), so a copy or a rename is the
 * same model and a re-conversion with other settings is not. */
int y5_run_record_text(const char *weights, const y5_detect_opts *o, char *buf, size_t cap);

/* Compares the record in dir with text. 0: they match; 1: dir has no
 * record (an earlier run of an older version, or none at all); -1: they
 * differ or the record is unreadable, with "DIR: --resume: ..." naming the
 * first difference in err. */
int y5_run_record_check(const char *dir, const char *text, char *err, size_t errlen);

/* Writes the record atomically. 0, or -1 with a message in err. */
int y5_run_record_write(const char *dir, const char *text, char *err, size_t errlen);

#endif
