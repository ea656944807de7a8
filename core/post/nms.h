/* nms.h - candidates, class-aware NMS and back-scaling, as detect.py/val.py.
 *
 * pred rows are [cx, cy, w, h, obj, cls_0 .. cls_{nc-1}] after sigmoid and
 * decode (network-input pixels). Rules (ultralytics v7.0 non_max_suppression):
 * keep obj > conf; cls *= obj (float32); single label: conf, cls = max;
 * multi-label: every (row, class) with obj*cls > conf; keep conf > conf_thres;
 * optional class filter; sort by conf descending (stable), at most max_nms;
 * boxes offset by cls * 7680 (0 when agnostic); greedy NMS suppressing
 * IoU > iou_thres; first max_det kept. */
#ifndef Y5_NMS_H
#define Y5_NMS_H

#include <stddef.h>
#include <yolov5c.h> /* y5_det, y5_nms_opts, y5_nms_defaults */

#ifdef __cplusplus
extern "C" { /* also called by the CUDA NMS (cuda/kernels_nms.cu) */
#endif

/* The double Python had for a threshold the user typed: the shortest decimal
 * that reads back as this float (0.45f -> 0.45). Every NMS compares its IoU
 * in double against this (CPU, GPU, and the GPU block's CPU test). */
double y5_nms_py_threshold(float t);

/* Workspace sized for n_rows prediction rows of nc classes: allocate once,
 * reuse per image. */
typedef struct y5_nms_ws y5_nms_ws;
y5_nms_ws *y5_nms_ws_create(int n_rows, int nc, int multi_label);
void y5_nms_ws_destroy(y5_nms_ws *ws);

/* Returns the number of detections written to out (<= max_out, <= max_det),
 * in NMS order (confidence descending). */
int y5_nms(y5_nms_ws *ws, const float *pred, int n_rows, int nc, const y5_nms_opts *o,
           y5_det *out, int max_out);

/* NMS over detections in image pixels (nms_merge.c: --tile's merge of its
 * passes), in place: sorted by confidence (stable), class-aware unless
 * agnostic, IoU > iou_thres suppressed, at most max_det kept. cut (NULL:
 * none) flags the fragments: boxes that touch a tile side lying inside the
 * image (Y5_CUT_* bits), i.e. pieces of an object a tile border cut. A
 * fragment and a box of its class whose intersection covers more than
 * ios_thres of the smaller of the two are one object: they merge into the
 * kept box (the union of both, the kept one's confidence). Returns the
 * count, or -1 out of memory. */
enum { Y5_CUT_LEFT = 1, Y5_CUT_RIGHT = 2, Y5_CUT_TOP = 4, Y5_CUT_BOTTOM = 8 };
int y5_nms_merge(y5_det *d, const unsigned char *cut, int n, float iou_thres, float ios_thres, int agnostic,
                 int max_det);

/* Intersection over the smaller box's area (0 when either is empty). */
float y5_ios(const y5_det *a, const y5_det *b);

/* IoU of two boxes as torchvision computes it. */
float y5_iou(const y5_det *a, const y5_det *b);

/* scale_boxes: from network input (in_h x in_w) back to the original
 * (h0 x w0): gain = min(in_h/h0, in_w/w0), pads (in - orig*gain)/2, clip. */
void y5_scale_boxes(y5_det *d, int n, int in_h, int in_w, int h0, int w0);

#ifdef __cplusplus
}
#endif

#endif
