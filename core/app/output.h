/* output.h - result sinks: YOLO label files and JSON lines, each written
 * whole or not at all (the atomic files of core/base/files.h). */
#ifndef Y5_OUTPUT_H
#define Y5_OUTPUT_H

#include <stddef.h>
#include <stdio.h>
#include "core/base/files.h" /* atomic files: every sink writes through them */
#include "core/post/nms.h"

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
