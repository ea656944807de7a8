/* val_internal.h - what the files of yolov5c val share and nobody else uses.
 *
 * val is split along val.py's own seams: the data YAML (val_yaml.c), the
 * image list, labels and rectangular batches (val_data.c), the COCO JSON
 * writer (val_json.c) and the run loop (val.c); the INTER_AREA resize is
 * image code (core/image/resize_area.c). The public interface stays val.h. */
#ifndef Y5_VAL_INTERNAL_H
#define Y5_VAL_INTERNAL_H

#include <stddef.h>

#include <yolov5c.h> /* y5_det */
#include "core/base/strbuf.h"

/* ---- val_data.c: small text-file helpers the YAML reader shares ---- */

/* The whole file, NUL-terminated (malloc'd; *len, when set, excludes the
 * NUL). NULL when it cannot be read. */
char *y5_val_read_text(const char *path, size_t *len);
/* Strips leading and trailing white space in place; returns the new start. */
char *y5_val_trim(char *s);

/* ---- val_json.c: --save-json, byte-identical to val.py's json.dump ---- */

/* Opens the list ("["). */
void y5_val_json_begin(y5_sbuf *s);
/* save_one_json for one image: its n detections (original pixels, xyxy)
 * as COCO records; nc == 80 maps classes to COCO's 91 category ids.
 * *count: records written so far (the separator depends on it). */
void y5_val_json_image(y5_sbuf *s, const char *path, const y5_det *d, int n, int nc, int *count);
/* Closes the list and writes it to path atomically. Returns 0 or -1. */
int y5_val_json_save(y5_sbuf *s, const char *path, char *err, size_t errlen);

#endif
