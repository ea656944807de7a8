/* yolov5c.h - the public API of libyolov5c.
 *
 *   y5_engine *e = y5_engine_open("yolov5m.y5w", &opts, err, sizeof err);
 *   y5_image img; y5_image_load("bus.jpg", &img, err, sizeof err);
 *   y5_det dets[1000];
 *   int n = y5_detect(e, &img, &dopts, dets, 1000, err, sizeof err);
 *
 * Boxes come back in original image pixels. An engine is not thread-safe:
 * use one per thread (they can share nothing but the mapped weight file). */
#ifndef YOLOV5C_H
#define YOLOV5C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A decoded image: RGB u8, HWC, row-major. */
typedef struct {
    int w, h;
    uint8_t *px;
} y5_image;

int y5_image_load(const char *path, y5_image *img, char *err, size_t errlen);
void y5_image_free(y5_image *img);
int y5_image_write(const char *path, const y5_image *img, char *err, size_t errlen);

/* One detection: box corners, confidence (obj * cls), class id. */
typedef struct {
    float x1, y1, x2, y2;
    float conf;
    int cls;
} y5_det;

/* NMS options, ultralytics' detect.py defaults from y5_nms_defaults(). */
typedef struct {
    float conf_thres;     /* 0.25 */
    float iou_thres;      /* 0.45 */
    int max_det;          /* 1000 */
    int max_nms;          /* 30000 */
    int agnostic;
    int multi_label;
    const int *classes;   /* keep only these classes when n_classes > 0 */
    int n_classes;
} y5_nms_opts;
void y5_nms_defaults(y5_nms_opts *o);

typedef struct y5_engine y5_engine;

typedef struct {
    const char *device;   /* "cpu" (default), "cuda", "cuda:N" */
    int threads;          /* CPU threads; <= 0: all cores */
} y5_engine_opts;

/* Opens a .y5w weight file and builds the engine. NULL + message on error. */
y5_engine *y5_engine_open(const char *weights, const y5_engine_opts *o, char *err, size_t errlen);
void y5_engine_close(y5_engine *e);

/* Model facts. */
int y5_engine_nc(const y5_engine *e);
const char (*y5_engine_names(const y5_engine *e))[64];
/* The model's largest stride (32 for P5 models, 64 for P6): input sides
 * must be multiples of it, and the rect letterbox pads to it. */
int y5_engine_stride(const y5_engine *e);
/* Its inference size: the training size when the checkpoint recorded it,
 * else 640, rounded up to a multiple of the stride. */
int y5_engine_imgsz(const y5_engine *e);
/* Forward FLOPs (multiply-add = 2) for one image of h x w. */
double y5_engine_flops(const y5_engine *e, int h, int w);

/* Low level: plan for a batch of n images of h x w (multiples of the stride; memory
 * planned once and reused while the shape stays), fill the input (NHWC
 * float, RGB, 0..1), run, read the raw Detect output (n x rows x (5+nc)). */
int y5_engine_plan(y5_engine *e, int n, int h, int w, char *err, size_t errlen);
float *y5_engine_input(y5_engine *e);
int y5_engine_forward(y5_engine *e, char *err, size_t errlen);
const float *y5_engine_pred(y5_engine *e, int *rows, int *no);
/* When set, class scores of rows whose objectness is <= obj_min are left at
 * 0 instead of computed (NMS never reads them): a large saving at detect.py's
 * conf 0.25. 0 (the default) computes everything. */
void y5_engine_set_lazy_cls(y5_engine *e, float obj_min);

/* High level: letterbox (rect unless square), forward, NMS, scale back.
 * imgsz_h/w: rounded up to multiples of the model's stride; 0 = the
 * model's own size (y5_engine_imgsz). Returns the count (<= max_out) or -1. */
typedef struct {
    int imgsz_h, imgsz_w;  /* 640, 640 */
    int square;            /* 0: rect (detect.py auto=True) */
    y5_nms_opts nms;
} y5_detect_opts;
void y5_detect_defaults(y5_detect_opts *o);
int y5_detect(y5_engine *e, const y5_image *img, const y5_detect_opts *o,
              y5_det *out, int max_out, char *err, size_t errlen);

/* Converts an ultralytics .pt checkpoint to a .y5w file (fp16: store FP16). */
int y5_convert(const char *in_pt, const char *out_y5w, int fp16, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
