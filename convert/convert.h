/* convert.h - .pt checkpoint -> .y5w weight file, the whole conversion.
 *
 * Nothing is printed: every failure is a one-line message in err,
 * "PATH: problem" (the CLI prints it). */
#ifndef Y5_CONVERT_H
#define Y5_CONVERT_H

#include <stddef.h>

#include "weights/y5w.h"

/* Converts in_pt to out_y5w (written atomically). fp16: store the folded
 * weights and biases rounded to FP16; otherwise FP32. Returns 0 or -1. */
int y5_convert(const char *in_pt, const char *out_y5w, int fp16, char *err, size_t errlen);

/* The same conversion into memory (what y5_convert writes). desc owns its
 * arrays and tensor data: release with y5_convert_free_desc. */
int y5_convert_to_desc(const char *in_pt, int fp16, y5_model_desc *desc, char *err, size_t errlen);
void y5_convert_free_desc(y5_model_desc *desc);

#endif
