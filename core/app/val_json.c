/* val_json.c - val --save-json: the COCO results list val.py writes
 * (save_one_json + json.dump), byte for byte.
 *
 * Why byte-identical: people feed this file to pycocotools or diff it
 * against val.py's own predictions JSON, so every detail counts: image_id
 * is int(stem) when the stem is all digits, else the stem as a string;
 * category_id goes through coco80_to_coco91_class when the model has 80
 * classes; bbox is xywh with the top-left corner, each value round(x, 3),
 * score round(x, 5), written as Python's repr (core/base/json.h); strings
 * escaped as json.dumps (ensure_ascii). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/app/output.h"
#include "core/app/val_internal.h"
#include "core/base/json.h"

/* COCO category ids of the 80 training classes (coco80_to_coco91_class). */
static const int coco91[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                               22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
                               46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
                               67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};

void y5_val_json_begin(y5_sbuf *s) { y5_sb_puts(s, "["); }

/* Path.stem, and whether it is all digits (then id: int(stem) as text). */
static int image_id(const char *path, char *stem, size_t stem_cap, char *id, size_t id_cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(stem, stem_cap, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    int numeric = stem[0] != 0;
    for (const char *p = stem; *p; p++)
        if (!isdigit((unsigned char)*p)) numeric = 0;
    id[0] = 0;
    if (numeric) {
        const char *p = stem;
        while (p[0] == '0' && p[1]) p++; /* int('0009') == 9 */
        snprintf(id, id_cap, "%s", p);
    }
    return numeric;
}

void y5_val_json_image(y5_sbuf *s, const char *path, const y5_det *d, int n, int nc, int *count) {
    char stem[1024], id[1100];
    const int numeric = image_id(path, stem, sizeof stem, id, sizeof id);
    for (int i = 0; i < n; i++) {
        /* xyxy2xywh, then xy -= wh / 2 (float32) */
        const float cx = (d[i].x1 + d[i].x2) / 2, cy = (d[i].y1 + d[i].y2) / 2;
        const float w = d[i].x2 - d[i].x1, h = d[i].y2 - d[i].y1;
        const float bx = cx - w / 2, by = cy - h / 2;
        const int cat = nc == 80 && d[i].cls >= 0 && d[i].cls < 80 ? coco91[d[i].cls] : d[i].cls;
        char num[4][48], sc[48], head[64];
        y5_py_round_repr(bx, 3, num[0], sizeof num[0]);
        y5_py_round_repr(by, 3, num[1], sizeof num[1]);
        y5_py_round_repr(w, 3, num[2], sizeof num[2]);
        y5_py_round_repr(h, 3, num[3], sizeof num[3]);
        y5_py_round_repr(d[i].conf, 5, sc, sizeof sc);
        y5_sb_puts(s, *count ? ", {\"image_id\": " : "{\"image_id\": ");
        if (numeric) y5_sb_puts(s, id);
        else y5_json_str(s, stem, Y5_JSON_ASCII);
        snprintf(head, sizeof head, ", \"category_id\": %d, \"bbox\": [", cat);
        y5_sb_puts(s, head);
        for (int k = 0; k < 4; k++) {
            if (k) y5_sb_puts(s, ", ");
            y5_sb_puts(s, num[k]);
        }
        y5_sb_puts(s, "], \"score\": ");
        y5_sb_puts(s, sc);
        y5_sb_puts(s, "}");
        (*count)++;
    }
}

int y5_val_json_save(y5_sbuf *s, const char *path, char *err, size_t errlen) {
    y5_sb_puts(s, "]");
    if (s->oom) { snprintf(err, errlen, "out of memory"); return -1; }
    return y5_write_file_atomic(path, s->p, s->n, err, errlen);
}
