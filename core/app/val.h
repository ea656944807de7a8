/* val.h - yolov5c val: mAP of a model on a labelled image set, scored as
 * ultralytics v7.0 val.py does (rectangular batches, multi-label NMS,
 * core/app/map.h for the metrics).
 *
 * Where each part lives: the run loop in val.c, the set and its batches in
 * val_data.c, the data YAML in val_yaml.c, --save-json in val_json.c (what
 * they share: val_internal.h); the INTER_AREA resize in
 * core/image/resize_area.c and the letterbox in core/image/letterbox.c.
 *
 * The data is a folder (DIR/images/... with YOLO labels under DIR/labels/...,
 * or any folder of images with each label file found by val.py's rule:
 * the last "/images/" of the image path becomes "/labels/" and the
 * extension ".txt"), a .txt list of images, or a data YAML in ultralytics'
 * layout (path, val, names/nc). */
#ifndef Y5_VAL_H
#define Y5_VAL_H

#include <stddef.h>
#include <stdio.h>

#include "core/app/map.h"

/* `yolov5c val ...` (argv[0] is "val"). */
int y5_cli_val(int argc, char **argv);

/* One image of the set. */
typedef struct {
    char *img, *lab;   /* image path, label path */
    int w, h;          /* original size (EXIF-rotated as PIL's exif_size) */
    int nl;            /* labels */
    float *lb;         /* nl x 5: class cx cy w h (normalised, float32) */
} y5_val_item;

typedef struct {
    y5_val_item *it;
    int n, cap;
    int nc;              /* classes the YAML declares (0: none) */
    int n_missing, n_empty, n_corrupt, n_dup;  /* label statistics */
} y5_val_set;

/* Reads the set (images sorted by path as Python's sorted()). Images whose
 * header or labels are broken are left out with a warning on stderr, as
 * val.py's cache step does. max_images > 0 keeps only the first N paths. */
int y5_val_load_set(const char *data, int max_images, y5_val_set *s, char *err, size_t errlen);
void y5_val_set_free(y5_val_set *s);

/* Tiny YAML reader for ultralytics data files: top-level 'path', 'val'
 * (first entry if a list), 'nc', 'names' (inline list, {i: name} map, block
 * "  - name" or "  i: name"). Returns 0 or -1. Strings are malloc'd. */
typedef struct {
    char *path, *val;
    int nc;
    char **names;
    int n_names;
} y5_data_yaml;
int y5_data_yaml_read(const char *file, y5_data_yaml *y, char *err, size_t errlen);
void y5_data_yaml_free(y5_data_yaml *y);

/* val.py's rectangular batches: order[] receives the image indices sorted by
 * aspect ratio h/w (numpy's argsort), shapes[k] = {h, w} of batch k
 * (ceil(s * imgsz / stride + pad) * stride, pad 0.5). shapes needs
 * ceil(n / batch) entries. */
void y5_val_rect_batches(const int *w, const int *h, int n, int imgsz, int batch, int stride, double pad,
                         int *order, int (*shapes)[2]);

typedef struct {
    const char *weights, *data;
    int imgsz;          /* 0: the model's own size (its training size, else 640) */
    int batch;          /* 32, as val.py */
    const char *device; /* "cpu" */
    int threads;        /* 0: all cores */
    float conf, iou;    /* 0.001, 0.6 */
    int max_det;        /* 300 */
    const char *save_json; /* NULL: none */
    int max_images;     /* 0: all */
    FILE *log;          /* table and speed lines (NULL: silent) */
} y5_val_opts;
void y5_val_defaults(y5_val_opts *o);

typedef struct {
    y5_map_result m;
    int nc;                     /* model classes */
    char (*names)[64];          /* nc names (copied from the model) */
    int *nt_all;                /* labels per model class (nc entries), val.py's nt */
    int n_json;                 /* detections written with --save-json */
    double ms_load, ms_pre, ms_inf, ms_nms; /* per image */
} y5_val_result;

int y5_val_run(const y5_val_opts *o, y5_val_result *r, char *err, size_t errlen);
void y5_val_result_free(y5_val_result *r);
/* Prints the ultralytics table ('all' + one row per scored class). */
void y5_val_print(FILE *f, const y5_val_result *r);

#endif
