/* convert.c - .pt -> .y5w (see convert.h). */
#include "convert/convert.h"

#include <string.h>

#include "convert/ptmodel.h"

int y5_convert_to_desc(const char *in_pt, int fp16, y5_model_desc *desc, char *err, size_t errlen) {
    memset(desc, 0, sizeof *desc);
    y5_pt *pt;
    if (y5_pt_open(in_pt, &pt, err, errlen) != 0) return -1;
    int rc = y5_pt_build(pt, fp16, desc, err, errlen);
    y5_pt_close(pt);
    return rc;
}

void y5_convert_free_desc(y5_model_desc *desc) { y5_pt_desc_free(desc); }

int y5_convert(const char *in_pt, const char *out_y5w, int fp16, char *err, size_t errlen) {
    y5_model_desc desc;
    if (y5_convert_to_desc(in_pt, fp16, &desc, err, errlen) != 0) return -1;
    int rc = y5w_write(out_y5w, &desc, err, errlen);
    y5_convert_free_desc(&desc);
    return rc;
}
