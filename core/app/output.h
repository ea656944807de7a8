/* output.h - result sinks and atomic file writing.
 *
 * Every output is written to "<path>.tmp.<pid>" then renamed over <path>, so
 * a reader never sees a partial file and a killed run leaves no half files. */
#ifndef Y5_OUTPUT_H
#define Y5_OUTPUT_H

#include <stddef.h>
#include <stdio.h>
#include "core/post/nms.h"

typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4200];
} y5_atomic_file;

int y5_atomic_open(y5_atomic_file *a, const char *path, char *err, size_t errlen);
/* Flushes, fsyncs, closes and renames. Returns 0 or -1 (tmp removed). */
int y5_atomic_commit(y5_atomic_file *a, char *err, size_t errlen);
void y5_atomic_abort(y5_atomic_file *a);
/* Writes bytes atomically. */
int y5_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* YOLO label file: one line per detection "cls cx cy w h conf", normalised
 * by the original size, as ultralytics --save-txt --save-conf ("%g" style
 * with 6 significant digits). */
int y5_write_labels(const char *path, const y5_det *d, int n, int w0, int h0, char *err, size_t errlen);

/* One JSON line (with trailing '\n') for detections.jsonl:
 * {"image": path, "width": W, "height": H, "detections": [{"class": id,
 *  "name": "...", "conf": c, "box": [x1, y1, x2, y2]}]}.
 * Strings escaped per JSON. Returns a malloc'd string. */
char *y5_json_line(const char *image_path, int w, int h, const y5_det *d, int n,
                   const char (*names)[64], int nc);

#endif
