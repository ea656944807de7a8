/* ptmodel.h - reads a yolov5 .pt checkpoint (torch.save zip + pickled module
 * tree) and turns it into a y5_model_desc: the layer table, the conv tensors
 * with BatchNorm folded in (FP32 arithmetic, as ultralytics' fuse_conv_and_bn),
 * Detect's anchors (pixels) and strides, class names, each layer's
 * activation. Module classes: Conv, C3 (+ Bottleneck), SPPF, Upsample,
 * Concat, Detect (v6.0+), and Focus, SPP of v4.0-v5.0 (rewritten exactly
 * onto a Conv and SPPF / SPP); activations SiLU, LeakyReLU, ReLU,
 * Hardswish, Identity.
 *
 * Errors are one line "PATH: problem", naming the layer and the tensor or
 * attribute where one is involved, e.g.
 *   "x.pt: layer 7: unknown module type models.common.BottleneckCSP"
 *   "x.pt: layer 3 (C3): missing tensor cv1.conv.weight". */
#ifndef Y5_PTMODEL_H
#define Y5_PTMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "weights/y5w.h"

typedef struct y5_pt y5_pt;

/* Maps the file, reads the archive and the pickle, finds the model object
 * ('ema' when it is a model object, else 'model') and its layer list. */
int y5_pt_open(const char *path, y5_pt **out, char *err, size_t errlen);
void y5_pt_close(y5_pt *pt);

/* Number of top-level layers (model.model). */
int y5_pt_n_layers(const y5_pt *pt);

/* Builds the description. fp16: store the folded tensors rounded to FP16
 * (round to nearest even); else FP32. Tensor data, layers, tensors and
 * names are heap memory owned by desc: release with y5_pt_desc_free. */
int y5_pt_build(y5_pt *pt, int fp16, y5_model_desc *desc, char *err, size_t errlen);
void y5_pt_desc_free(y5_model_desc *desc);

/* A raw (unfused) tensor of top-level layer `layer`, by its state_dict path
 * inside that layer: "conv.weight", "bn.running_var", "cv1.bn.bias",
 * "m.0.cv2.conv.weight", "m.1.bias", "anchors". *data is malloc'd FP32
 * (caller frees), row-major; shape has up to 8 dims. */
int y5_pt_raw_tensor(y5_pt *pt, int layer, const char *path, float **data, uint64_t *numel, int *ndim,
                     int64_t shape[8], char *err, size_t errlen);

/* A numeric attribute of a module inside a layer, e.g. (0, "bn", "eps");
 * module_path "" is the layer itself. Returns 1 when found. */
int y5_pt_module_number(y5_pt *pt, int layer, const char *module_path, const char *attr, double *v);

#endif
