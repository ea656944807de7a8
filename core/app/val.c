/* val.c - yolov5c val: dataset, rectangular batches, engine, scoring.
 *
 * What val.py (ultralytics v7.0, --task val, rect, pad 0.5) does, in order:
 *   - image paths: recursive '**' '*.*' glob of the folder (or the lines of
 *     a .txt list), kept when the extension is an image format, sorted;
 *     label path: last "/images/" -> "/labels/", extension -> ".txt";
 *   - each image checked (size > 9 px, labels: 5 columns, or polygons
 *     turned into boxes, every value >= 0, coordinates <= 1, duplicate rows
 *     removed by np.unique, which also sorts them); broken ones are left out;
 *   - rect: images sorted by h/w (np.argsort), batches of B, batch shape
 *     ceil(s * imgsz / 32 + 0.5) * 32 with s from the batch's aspect ratios;
 *   - load_image: r = imgsz / max(h0, w0); when r != 1 resized to
 *     (int(w0 r), int(h0 r)), INTER_AREA when shrinking, INTER_LINEAR when
 *     growing; letterbox into the batch shape (auto=False, scaleup=False);
 *   - labels to letterboxed pixels and back to normalised (clipped at the
 *     border - 1e-3), then to pixels of the batch tensor, xyxy, and with the
 *     predictions to original pixels by scale_boxes(ratio_pad): subtract the
 *     letterbox half-paddings (floats), divide by the load ratio, clip;
 *   - non_max_suppression(conf, iou, multi_label=True, max_det) per image;
 *   - process_batch / ap_per_class: core/map.c.
 * Float32 is used where torch / numpy work in float32. */
#include "core/app/val.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/engine/engine.h"
#include "core/image/image.h"
#include "core/image/letterbox.h"
#include "core/post/nms.h"
#include "core/app/output.h"
#include "core/base/clock.h"
#include "core/base/json.h"
#include "core/base/strbuf.h"

#define STBI_NO_STDIO

/* ---------------------------------------------------------------- helpers */

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "a/b/c.yaml" -> "a/b"; "c.yaml" -> "." */
static void dir_of(const char *p, char *out, size_t cap) {
    const char *s = strrchr(p, '/');
    if (!s) snprintf(out, cap, ".");
    else if (s == p) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(s - p), p);
}

static void join_path(const char *a, const char *b, char *out, size_t cap) {
    if (b[0] == '/' || !a || !a[0]) snprintf(out, cap, "%s", b);
    else if (a[strlen(a) - 1] == '/') snprintf(out, cap, "%s%s", a, b);
    else snprintf(out, cap, "%s/%s", a, b);
}


static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(b, cap * 2 + 1);
        if (!nb) { free(b); b = NULL; break; }
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) { free(b); return NULL; }
    b[n] = 0;
    if (len) *len = n;
    return b;
}

/* ------------------------------------------------------------- data YAML */

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* Removes a '#' comment that is outside quotes and starts a token. */
static void strip_comment(char *s) {
    char q = 0;
    for (char *p = s; *p; p++) {
        if (q) { if (*p == q) q = 0; continue; }
        if (*p == '\'' || *p == '"') { q = *p; continue; }
        if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) { *p = 0; return; }
    }
}

static char *unquote_dup(const char *s0) {
    char *tmp = xstrdup(s0);
    if (!tmp) return NULL;
    char *s = trim(tmp);
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        s[n - 1] = 0;
        s++;
    }
    char *r = xstrdup(s);
    free(tmp);
    return r;
}

static int names_push(y5_data_yaml *y, const char *v, int idx) {
    if (idx < 0) idx = y->n_names;
    if (idx > 100000) return -1;
    if (idx >= y->n_names) {
        char **nn = realloc(y->names, (size_t)(idx + 1) * sizeof(char *));
        if (!nn) return -1;
        for (int i = y->n_names; i <= idx; i++) nn[i] = NULL;
        y->names = nn;
        y->n_names = idx + 1;
    }
    free(y->names[idx]);
    y->names[idx] = unquote_dup(v);
    return y->names[idx] ? 0 : -1;
}

/* Splits an inline "[a, b]" or "{0: a, 1: b}" body (brackets removed) on
 * commas outside quotes. */
static int parse_inline_names(y5_data_yaml *y, char *body, int is_map) {
    char q = 0, *start = body;
    for (char *p = body;; p++) {
        if (*p && q) { if (*p == q) q = 0; continue; }
        if (*p == '\'' || *p == '"') { q = *p; continue; }
        if (*p && *p != ',') continue;
        char save = *p;
        *p = 0;
        char *item = trim(start);
        if (*item) {
            int idx = -1;
            if (is_map) {
                char *c = strchr(item, ':');
                if (!c) return -1;
                *c = 0;
                idx = atoi(trim(item));
                item = c + 1;
            }
            if (names_push(y, item, idx)) return -1;
        }
        if (!save) break;
        start = p + 1;
    }
    return 0;
}

void y5_data_yaml_free(y5_data_yaml *y) {
    if (!y) return;
    free(y->path);
    free(y->val);
    for (int i = 0; i < y->n_names; i++) free(y->names[i]);
    free(y->names);
    memset(y, 0, sizeof *y);
}

int y5_data_yaml_read(const char *file, y5_data_yaml *y, char *err, size_t errlen) {
    memset(y, 0, sizeof *y);
    size_t len;
    char *text = read_all(file, &len);
    if (!text) { snprintf(err, errlen, "%s: cannot read (%s)", file, strerror(errno ? errno : EIO)); return -1; }
    int rc = -1;
    char *acc = NULL; /* an inline list/map spanning lines */
    size_t acc_len = 0;
    int acc_map = 0, in_names_block = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[n - 1] = 0;
        strip_comment(line);
        if (acc) { /* continuing "[...]" or "{...}" */
            size_t add = strlen(line);
            char *na = realloc(acc, acc_len + add + 2);
            if (!na) goto done;
            acc = na;
            acc[acc_len++] = ' ';
            memcpy(acc + acc_len, line, add + 1);
            acc_len += add;
            char *close = strrchr(acc, acc_map ? '}' : ']');
            if (close) {
                *close = 0;
                if (parse_inline_names(y, acc + 1, acc_map)) { snprintf(err, errlen, "%s: bad names", file); goto done; }
                free(acc);
                acc = NULL;
            }
            continue;
        }
        char *t = trim(line);
        if (!*t || !strcmp(t, "---")) continue;
        int indented = isspace((unsigned char)line[0]);
        if (indented) {
            if (!in_names_block) continue; /* nested keys of other entries */
            if (t[0] == '-') {
                if (names_push(y, t + 1, -1)) goto oom;
            } else {
                char *c = strchr(t, ':');
                if (c) {
                    *c = 0;
                    char *k = trim(t);
                    char *end;
                    long idx = strtol(k, &end, 10);
                    if (end != k && !*end && idx >= 0 && names_push(y, c + 1, (int)idx)) goto oom;
                }
            }
            continue;
        }
        in_names_block = 0;
        char *c = strchr(t, ':');
        if (!c) continue;
        *c = 0;
        char *key = trim(t), *val = trim(c + 1);
        if (!strcmp(key, "path")) {
            free(y->path);
            if (!(y->path = unquote_dup(val))) goto oom;
        } else if (!strcmp(key, "val")) {
            free(y->val);
            if (val[0] == '[') { /* a list: the first entry */
                char *body = val + 1, *e = strpbrk(body, ",]");
                if (e) *e = 0;
                y->val = unquote_dup(body);
            } else {
                y->val = unquote_dup(val);
            }
            if (!y->val) goto oom;
        } else if (!strcmp(key, "nc")) {
            y->nc = atoi(val);
        } else if (!strcmp(key, "names")) {
            for (int i = 0; i < y->n_names; i++) free(y->names[i]);
            y->n_names = 0;
            if (val[0] == '[' || val[0] == '{') {
                acc_map = val[0] == '{';
                char *close = strrchr(val, acc_map ? '}' : ']');
                if (close) {
                    *close = 0;
                    if (parse_inline_names(y, val + 1, acc_map)) { snprintf(err, errlen, "%s: bad names", file); goto done; }
                } else {
                    acc_len = strlen(val);
                    if (!(acc = xstrdup(val))) goto oom;
                }
            } else if (!*val) {
                in_names_block = 1;
            }
        }
    }
    if (acc) { snprintf(err, errlen, "%s: unterminated names list", file); goto done; }
    for (int i = 0; i < y->n_names; i++)
        if (!y->names[i] && !(y->names[i] = xstrdup(""))) goto oom;
    if (!y->nc) y->nc = y->n_names;
    if (!y->val) { snprintf(err, errlen, "%s: no 'val' entry", file); goto done; }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory", file);
done:
    free(acc);
    free(text);
    if (rc) y5_data_yaml_free(y);
    return rc;
}

/* --------------------------------------------------------- image listing */

/* ultralytics IMG_FORMATS, by the text after the last '.' of the path. */
static int is_img_path(const char *p) {
    static const char *fmts[] = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm"};
    const char *dot = strrchr(p, '.');
    if (!dot) return 0;
    char ext[8];
    size_t n = strlen(dot + 1);
    if (n >= sizeof ext) return 0;
    for (size_t i = 0; i < n; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    ext[n] = 0;
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
        if (!strcmp(ext, fmts[i])) return 1;
    return 0;
}

/* glob(DIR + '/' + '**' + '/' + '*.*', recursive=True): files with a '.'
 * in the name, no hidden entries. */
static int walk(const char *dir, y5_strlist *out, int depth) {
    if (depth > 64) return 0;
    DIR *d = opendir(dir);
    if (!d) return depth ? 0 : -1; /* an unreadable subfolder is skipped */
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        join_path(dir, e->d_name, p, sizeof p);
        struct stat st;
        if (stat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) rc = walk(p, out, depth + 1);
        else if (strchr(e->d_name, '.') && is_img_path(p)) rc = y5_strlist_push(out, p);
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The image files a val.py path names: folder (recursive) or .txt list. */
static int list_images(const char *p, y5_strlist *out, char *err, size_t errlen) {
    if (is_dir(p)) {
        if (walk(p, out, 0)) { snprintf(err, errlen, "%s: cannot list (%s)", p, strerror(errno ? errno : EIO)); return -1; }
    } else if (is_file(p)) {
        char *text = read_all(p, NULL);
        if (!text) { snprintf(err, errlen, "%s: cannot read", p); return -1; }
        char parent[4096];
        dir_of(p, parent, sizeof parent);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *t = trim(line);
            if (!*t || !is_img_path(t)) continue;
            char full[4096];
            if (!strncmp(t, "./", 2)) join_path(parent, t + 2, full, sizeof full);
            else snprintf(full, sizeof full, "%s", t);
            if (y5_strlist_push(out, full)) { free(text); snprintf(err, errlen, "out of memory"); return -1; }
        }
        free(text);
    } else {
        snprintf(err, errlen, "%s does not exist", p);
        return -1;
    }
    qsort(out->paths, (size_t)out->n, sizeof(char *), cmp_str);
    return 0;
}

/* img2label_paths */
static char *label_path(const char *img) {
    size_t n = strlen(img);
    char *out = malloc(n + 16);
    if (!out) return NULL;
    const char *hit = NULL;
    for (const char *p = strstr(img, "/images/"); p; p = strstr(p + 1, "/images/")) hit = p;
    if (hit) {
        size_t a = (size_t)(hit - img);
        memcpy(out, img, a);
        memcpy(out + a, "/labels/", 8);
        strcpy(out + a + 8, hit + 8);
    } else {
        strcpy(out, img);
    }
    char *dot = strrchr(out, '.');
    if (dot) *dot = 0;
    strcat(out, ".txt");
    return out;
}

/* ---------------------------------------------------------------- labels */

static int cmp_row5(const void *a, const void *b) {
    const float *x = a, *y = b;
    for (int k = 0; k < 5; k++)
        if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
    return 0;
}

/* verify_image_label's label part. 0 ok (missing / empty included), -1 corrupt. */
static int read_labels(y5_val_item *it, y5_val_set *s, char *why, size_t whylen) {
    it->nl = 0;
    it->lb = NULL;
    if (!is_file(it->lab)) { s->n_missing++; return 0; }
    char *text = read_all(it->lab, NULL);
    if (!text) { snprintf(why, whylen, "cannot read %s", it->lab); return -1; }
    int rc = -1, cap = 0, n = 0, seg = 0;
    float *rows = NULL;
    /* first pass: any line with more than 6 values makes them all polygons */
    char *copy = xstrdup(text);
    if (!copy) goto done;
    {
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            int k = 0;
            char *sv2 = NULL;
            for (char *tok = strtok_r(line, " \t\r\v\f", &sv2); tok; tok = strtok_r(NULL, " \t\r\v\f", &sv2)) k++;
            if (k > 6) seg = 1;
        }
    }
    {
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            float v[4096 + 1];
            int k = 0;
            char *sv2 = NULL;
            for (char *tok = strtok_r(line, " \t\r\v\f", &sv2); tok; tok = strtok_r(NULL, " \t\r\v\f", &sv2)) {
                char *end;
                double x = strtod(tok, &end);
                if (end == tok || *end) { snprintf(why, whylen, "%s: '%s' is not a number", it->lab, tok); goto done; }
                if (k > 4096) { snprintf(why, whylen, "%s: line too long", it->lab); goto done; }
                v[k++] = (float)x;
            }
            if (k == 0) continue;
            float row[5];
            if (seg) {
                if (k < 3 || (k - 1) % 2) { snprintf(why, whylen, "%s: odd polygon", it->lab); goto done; }
                float x1 = v[1], y1 = v[2], x2 = v[1], y2 = v[2];
                for (int j = 1; j + 1 < k; j += 2) {
                    x1 = v[j] < x1 ? v[j] : x1;
                    x2 = v[j] > x2 ? v[j] : x2;
                    y1 = v[j + 1] < y1 ? v[j + 1] : y1;
                    y2 = v[j + 1] > y2 ? v[j + 1] : y2;
                }
                row[0] = v[0];
                row[1] = (x1 + x2) / 2;
                row[2] = (y1 + y2) / 2;
                row[3] = x2 - x1;
                row[4] = y2 - y1;
            } else {
                if (k != 5) { snprintf(why, whylen, "%s: labels require 5 columns, %d found", it->lab, k); goto done; }
                memcpy(row, v, sizeof row);
            }
            for (int j = 0; j < 5; j++) {
                if (!(row[j] >= 0)) { snprintf(why, whylen, "%s: negative label values", it->lab); goto done; }
                if (j && !(row[j] <= 1)) { snprintf(why, whylen, "%s: non-normalized or out of bounds coordinates", it->lab); goto done; }
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                float *nr = realloc(rows, (size_t)cap * 5 * sizeof(float));
                if (!nr) { snprintf(why, whylen, "out of memory"); goto done; }
                rows = nr;
            }
            memcpy(rows + (size_t)n * 5, row, sizeof row);
            n++;
        }
    }
    if (n == 0) {
        s->n_empty++;
    } else {
        /* np.unique(lb, axis=0, return_index=True): only applied when a row
         * repeats; then the rows come out sorted. */
        float *sorted = malloc((size_t)n * 5 * sizeof(float));
        if (!sorted) { snprintf(why, whylen, "out of memory"); goto done; }
        memcpy(sorted, rows, (size_t)n * 5 * sizeof(float));
        qsort(sorted, (size_t)n, 5 * sizeof(float), cmp_row5);
        int u = 0;
        for (int i = 0; i < n; i++)
            if (i == 0 || cmp_row5(sorted + (size_t)i * 5, sorted + (size_t)(u - 1) * 5))
                memmove(sorted + (size_t)u++ * 5, sorted + (size_t)i * 5, 5 * sizeof(float));
        if (u < n) {
            fprintf(stderr, "yolov5c val: warning: %s: %d duplicate labels removed\n", it->lab, n - u);
            s->n_dup++;
            free(rows);
            rows = sorted;
            n = u;
        } else {
            free(sorted);
        }
    }
    it->lb = rows;
    it->nl = n;
    rows = NULL;
    rc = 0;
done:
    free(rows);
    free(copy);
    free(text);
    return rc;
}

/* Image size from the header (y5_image_info_mem) and EXIF rotation as PIL's exif_size
 * (orientations 6 and 8 swap the sides). */
static int image_size(const char *path, int *w, int *h, char *why, size_t whylen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(why, whylen, "cannot open (%s)", strerror(errno)); return -1; }
    size_t cap = 256 * 1024;
    uint8_t *buf = malloc(cap);
    if (!buf) { fclose(f); snprintf(why, whylen, "out of memory"); return -1; }
    size_t n = fread(buf, 1, cap, f);
    int ok = n > 0 && y5_image_info_mem(buf, n, w, h) == 0;
    if (!ok && n == cap) { /* header further in: read everything */
        free(buf);
        fclose(f);
        buf = (uint8_t *)read_all(path, &n);
        f = NULL;
        ok = buf && y5_image_info_mem(buf, n, w, h) == 0;
    }
    if (ok) {
        int o = y5_jpeg_exif_orientation(buf, n);
        if (o == 6 || o == 8) { int t = *w; *w = *h; *h = t; }
    }
    free(buf);
    if (f) fclose(f);
    if (!ok) { snprintf(why, whylen, "not a readable image"); return -1; }
    if (*w < 10 || *h < 10) { snprintf(why, whylen, "image size %dx%d <10 pixels", *w, *h); return -1; }
    return 0;
}

void y5_val_set_free(y5_val_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) {
        free(s->it[i].img);
        free(s->it[i].lab);
        free(s->it[i].lb);
    }
    free(s->it);
    memset(s, 0, sizeof *s);
}

static int has_ext(const char *p, const char *ext) {
    size_t n = strlen(p), m = strlen(ext);
    return n > m && !strcasecmp(p + n - m, ext);
}

int y5_val_load_set(const char *data, int max_images, y5_val_set *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    char src[4096];
    y5_data_yaml y;
    if (is_dir(data)) {
        char imgs[4096];
        join_path(data, "images", imgs, sizeof imgs);
        snprintf(src, sizeof src, "%s", is_dir(imgs) ? imgs : data);
    } else if (has_ext(data, ".yaml") || has_ext(data, ".yml")) {
        if (y5_data_yaml_read(data, &y, err, errlen)) return -1;
        s->nc = y.nc;
        char ydir[4096], root[4096];
        dir_of(data, ydir, sizeof ydir);
        /* 'path': relative to the YAML's folder, else to the working folder */
        if (y.path && y.path[0]) {
            join_path(ydir, y.path, root, sizeof root);
            if (!is_dir(root) && is_dir(y.path)) snprintf(root, sizeof root, "%s", y.path);
        } else {
            snprintf(root, sizeof root, "%s", ydir);
        }
        join_path(root, y.val, src, sizeof src);
        if (!is_dir(src) && !is_file(src) && !strncmp(y.val, "../", 3)) join_path(root, y.val + 3, src, sizeof src);
        y5_data_yaml_free(&y);
    } else if (is_file(data)) {
        snprintf(src, sizeof src, "%s", data); /* a .txt list of images */
    } else {
        snprintf(err, errlen, "--data %s: no such folder or file", data);
        return -1;
    }
    y5_strlist files = {0};
    if (list_images(src, &files, err, errlen)) { y5_strlist_free(&files); return -1; }
    if (files.n == 0) { snprintf(err, errlen, "%s: no images found", src); y5_strlist_free(&files); return -1; }
    int n = files.n;
    if (max_images > 0 && max_images < n) n = max_images;
    s->it = calloc((size_t)n, sizeof(y5_val_item));
    if (!s->it) { y5_strlist_free(&files); snprintf(err, errlen, "out of memory"); return -1; }
    for (int i = 0; i < n; i++) {
        y5_val_item *it = &s->it[s->n];
        char why[600];
        it->img = files.paths[i];
        files.paths[i] = NULL;
        it->lab = label_path(it->img);
        if (!it->lab) { snprintf(err, errlen, "out of memory"); y5_strlist_free(&files); return -1; }
        if (image_size(it->img, &it->w, &it->h, why, sizeof why) || read_labels(it, s, why, sizeof why)) {
            fprintf(stderr, "yolov5c val: warning: %s: ignoring corrupt image/label: %s\n", it->img, why);
            s->n_corrupt++;
            free(it->img);
            free(it->lab);
            free(it->lb);
            memset(it, 0, sizeof *it);
            continue;
        }
        s->n++;
    }
    y5_strlist_free(&files);
    if (s->n == 0) { snprintf(err, errlen, "%s: no usable images", src); y5_val_set_free(s); return -1; }
    return 0;
}

/* ---------------------------------------------------- rectangular batches */

void y5_val_rect_batches(const int *w, const int *h, int n, int imgsz, int batch, int stride, double pad,
                         int *order, int (*shapes)[2]) {
    double *ar = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!ar) return;
    for (int i = 0; i < n; i++) ar[i] = (double)h[i] / (double)w[i];
    y5_np_argsort(ar, n, order);
    const int nb = (n + batch - 1) / batch;
    for (int k = 0; k < nb; k++) {
        const int lo = k * batch, hi = lo + batch < n ? lo + batch : n;
        double mini = ar[order[lo]], maxi = ar[order[hi - 1]];
        double s[2] = {1.0, 1.0}; /* h, w */
        if (maxi < 1) s[0] = maxi;
        else if (mini > 1) s[1] = 1.0 / mini;
        for (int j = 0; j < 2; j++) shapes[k][j] = (int)ceil(s[j] * imgsz / stride + pad) * stride;
    }
    free(ar);
}

/* ------------------------------------------------------------- load_image */

/* cv2.resize INTER_AREA (shrinking) on RGB u8. Integer factors average
 * their blocks with rounding; other factors weigh each source pixel by its
 * overlap with the destination cell (OpenCV's area tables: cell size
 * min(scale, src - start), partial pixels counted when over 1e-3 px) in
 * double, rounded to nearest - close to, not bit-exact with, OpenCV. */
typedef struct {
    int d, s;
    double w;
} area_tab;

static int area_table(int ssize, int dsize, area_tab *tab) {
    const double scale = (double)ssize / dsize;
    int k = 0;
    for (int dx = 0; dx < dsize; dx++) {
        const double f1 = dx * scale, f2 = f1 + scale;
        const double cell = fmin(scale, ssize - f1);
        int s1 = (int)ceil(f1), s2 = (int)floor(f2);
        if (s2 > ssize - 1) s2 = ssize - 1;
        if (s1 > s2) s1 = s2;
        if (s1 - f1 > 1e-3) tab[k++] = (area_tab){dx, s1 - 1, (s1 - f1) / cell};
        for (int sx = s1; sx < s2; sx++) tab[k++] = (area_tab){dx, sx, 1.0 / cell};
        if (f2 - s2 > 1e-3) tab[k++] = (area_tab){dx, s2, fmin(fmin(f2 - s2, 1.0), cell) / cell};
    }
    return k;
}

static int resize_area_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    const double sx = (double)sw / dw, sy = (double)sh / dh;
    const int ix = (int)sx, iy = (int)sy;
    if (fabs(sx - ix) < 2.220446049250313e-16 && fabs(sy - iy) < 2.220446049250313e-16) {
        const int area = ix * iy;
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                for (int c = 0; c < 3; c++) {
                    int acc = 0;
                    for (int j = 0; j < iy; j++)
                        for (int i = 0; i < ix; i++) acc += src[((size_t)(y * iy + j) * sw + (size_t)(x * ix + i)) * 3 + c];
                    dst[((size_t)y * dw + x) * 3 + c] = (uint8_t)((acc + area / 2) / area);
                }
        return 0;
    }
    area_tab *tx = malloc(((size_t)sw + 2 * (size_t)dw) * sizeof *tx);
    area_tab *ty = malloc(((size_t)sh + 2 * (size_t)dh) * sizeof *ty);
    double *acc = calloc((size_t)dw * 3, sizeof(double));
    if (!tx || !ty || !acc) { free(tx); free(ty); free(acc); return -1; }
    const int nx = area_table(sw, dw, tx), ny = area_table(sh, dh, ty);
    for (int a = 0; a < ny;) {
        const int dy = ty[a].d;
        memset(acc, 0, (size_t)dw * 3 * sizeof(double));
        for (; a < ny && ty[a].d == dy; a++) {
            const uint8_t *row = src + (size_t)ty[a].s * sw * 3;
            for (int b = 0; b < nx; b++) {
                const double wgt = ty[a].w * tx[b].w;
                const uint8_t *p = row + (size_t)tx[b].s * 3;
                double *q = acc + (size_t)tx[b].d * 3;
                q[0] += wgt * p[0];
                q[1] += wgt * p[1];
                q[2] += wgt * p[2];
            }
        }
        uint8_t *out = dst + (size_t)dy * dw * 3;
        for (int i = 0; i < dw * 3; i++) {
            long v = lrint(acc[i]);
            out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tx);
    free(ty);
    free(acc);
    return 0;
}

/* load_image's resize to imgsz on the long side; returns 0 or -1. */
static int load_resize(y5_image *img, int imgsz) {
    const double r = (double)imgsz / (img->w > img->h ? img->w : img->h);
    if (r == 1.0) return 0;
    int nw = (int)(img->w * r), nh = (int)(img->h * r);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    uint8_t *px = malloc((size_t)nw * nh * 3);
    if (!px) return -1;
    if (r < 1) {
        if (resize_area_u8(img->px, img->w, img->h, px, nw, nh)) { free(px); return -1; }
    } else {
        y5_resize_linear_u8(img->px, img->w, img->h, px, nw, nh);
    }
    free(img->px);
    img->px = px;
    img->w = nw;
    img->h = nh;
    return 0;
}

/* ------------------------------------------------------------ JSON output */

/* COCO category ids of the 80 training classes (coco80_to_coco91_class). */
static const int coco91[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                               22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
                               46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
                               67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};

/* save_one_json for one image. */
static void json_image(y5_sbuf *s, const char *path, const y5_det *d, int n, int nc, int *count) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    int numeric = stem[0] != 0;
    for (const char *p = stem; *p; p++)
        if (!isdigit((unsigned char)*p)) numeric = 0;
    char id[1100] = "";
    if (numeric) {
        const char *p = stem;
        while (p[0] == '0' && p[1]) p++; /* int('0009') == 9 */
        snprintf(id, sizeof id, "%s", p);
    }
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

/* ----------------------------------------------------------------- scoring */

/* scale_boxes(img1_shape, boxes, img0_shape, ratio_pad=((gain, _), (padw, padh))) in float32. */
static void scale_ratio_pad(float *x1, float *y1, float *x2, float *y2, float gain, float padw, float padh, float W,
                            float H) {
    float v[4] = {(*x1 - padw) / gain, (*y1 - padh) / gain, (*x2 - padw) / gain, (*y2 - padh) / gain};
    for (int k = 0; k < 4; k++) {
        const float hi = k % 2 ? H : W;
        if (v[k] < 0.f) v[k] = 0.f;
        else if (v[k] > hi) v[k] = hi;
    }
    *x1 = v[0];
    *y1 = v[1];
    *x2 = v[2];
    *y2 = v[3];
}

static float clipf(float v, float hi) { return v < 0.f ? 0.f : v > hi ? hi : v; }

/* The labels of one image through LoadImagesAndLabels.__getitem__ and
 * val.py into original pixels. lw, lh: ratio * loaded size; padw/padh:
 * letterbox half paddings; BW x BH: batch shape; gain: load ratio. */
static void labels_to_pixels(const y5_val_item *it, float lw, float lh, float padw, float padh, int BW, int BH,
                             float gain, int w0, int h0, y5_map_label *out) {
    const float cw = (float)((double)BW - 1e-3), chh = (float)((double)BH - 1e-3);
    const float fW = (float)BW, fH = (float)BH;
    for (int i = 0; i < it->nl; i++) {
        const float *l = it->lb + (size_t)i * 5;
        /* xywhn2xyxy(labels, ratio*w, ratio*h, padw, padh) */
        float x1 = lw * (l[1] - l[3] / 2) + padw, y1 = lh * (l[2] - l[4] / 2) + padh;
        float x2 = lw * (l[1] + l[3] / 2) + padw, y2 = lh * (l[2] + l[4] / 2) + padh;
        /* xyxy2xywhn(w=BW, h=BH, clip=True, eps=1e-3) */
        x1 = clipf(x1, cw);
        x2 = clipf(x2, cw);
        y1 = clipf(y1, chh);
        y2 = clipf(y2, chh);
        const float nx = ((x1 + x2) / 2) / fW, ny = ((y1 + y2) / 2) / fH;
        const float nw = (x2 - x1) / fW, nh = (y2 - y1) / fH;
        /* val.py: *= (width, height, width, height); xywh2xyxy */
        const float tx = nx * fW, ty = ny * fH, tw = nw * fW, th = nh * fH;
        y5_map_label *o = &out[i];
        o->x1 = tx - tw / 2;
        o->y1 = ty - th / 2;
        o->x2 = tx + tw / 2;
        o->y2 = ty + th / 2;
        o->cls = (int)l[0];
        scale_ratio_pad(&o->x1, &o->y1, &o->x2, &o->y2, gain, padw, padh, (float)w0, (float)h0);
    }
}

void y5_val_defaults(y5_val_opts *o) {
    memset(o, 0, sizeof *o);
    o->imgsz = 640;
    o->batch = 32;
    o->device = "cpu";
    o->conf = 0.001f;
    o->iou = 0.6f;
    o->max_det = 300;
}

void y5_val_result_free(y5_val_result *r) {
    if (!r) return;
    y5_map_result_free(&r->m);
    free(r->names);
    free(r->nt_all);
    memset(r, 0, sizeof *r);
}

/* Per-image state of a batch. */
typedef struct {
    int ok;
    int w0, h0; /* decoded size (cv2.imread's shape) */
    float gain, padw, padh, lw, lh;
} slot_info;

int y5_val_run(const y5_val_opts *o, y5_val_result *res, char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    if (!o->weights || !o->data) { snprintf(err, errlen, "--weights and --data are required"); return -1; }
    if (o->imgsz < 32 || o->imgsz % 32) { snprintf(err, errlen, "--imgsz %d: must be a multiple of 32", o->imgsz); return -1; }
    const int B = o->batch > 0 ? o->batch : 1;
    y5_val_set set;
    if (y5_val_load_set(o->data, o->max_images, &set, err, errlen)) return -1;
    int rc = -1, n_failed = 0, json_count = 0;
    y5_engine *e = NULL;
    y5_map_stats *stats = NULL;
    y5_nms_ws *ws = NULL;
    y5_det *dets = NULL;
    y5_map_label *labs = NULL;
    slot_info *slots = NULL;
    int *order = NULL, (*shapes)[2] = NULL, *wv = NULL, *hv = NULL;
    y5_sbuf js = {0};
    const int n = set.n, nb = (n + B - 1) / B;

    y5_engine_opts eo = {o->device, o->threads};
    e = y5_engine_open(o->weights, &eo, err, errlen);
    if (!e) goto done;
    const int nc = y5_engine_nc(e);
    if (set.nc && set.nc != nc) {
        snprintf(err, errlen, "%s (%d classes) trained on different --data than what you passed (%d classes)", o->weights, nc,
                 set.nc);
        goto done;
    }
    res->nc = nc;
    res->names = calloc((size_t)nc, sizeof *res->names);
    res->nt_all = calloc((size_t)nc + 1, sizeof(int));
    stats = y5_map_stats_create();
    order = malloc((size_t)n * sizeof(int));
    shapes = malloc((size_t)nb * sizeof *shapes);
    wv = malloc((size_t)n * sizeof(int));
    hv = malloc((size_t)n * sizeof(int));
    slots = calloc((size_t)B, sizeof *slots);
    const int max_det = o->max_det > 0 ? o->max_det : 300;
    dets = malloc((size_t)max_det * sizeof(y5_det));
    int max_nl = 1;
    for (int i = 0; i < n; i++) max_nl = set.it[i].nl > max_nl ? set.it[i].nl : max_nl;
    labs = malloc((size_t)max_nl * sizeof(y5_map_label));
    if (!res->names || !res->nt_all || !stats || !order || !shapes || !wv || !hv || !slots || !dets || !labs) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    const char(*names)[64] = y5_engine_names(e);
    for (int c = 0; c < nc; c++) snprintf(res->names[c], 64, "%s", names[c]);
    for (int i = 0; i < n; i++) {
        wv[i] = set.it[i].w;
        hv[i] = set.it[i].h;
    }
    y5_val_rect_batches(wv, hv, n, o->imgsz, B, 32, 0.5, order, shapes);
    y5_engine_set_lazy_cls(e, o->conf);
    if (o->save_json) y5_sb_puts(&js, "[");

    y5_nms_opts nmso;
    y5_nms_defaults(&nmso);
    nmso.conf_thres = o->conf;
    nmso.iou_thres = o->iou;
    nmso.max_det = max_det;
    nmso.max_nms = 30000;
    nmso.multi_label = 1;

    double t_load = 0, t_pre = 0, t_inf = 0, t_nms = 0;
    for (int k = 0; k < nb; k++) {
        const int lo = k * B, cnt = (lo + B < n ? lo + B : n) - lo;
        const int BH = shapes[k][0], BW = shapes[k][1];
        if (y5_engine_plan(e, cnt, BH, BW, err, errlen)) goto done;
        float *input = y5_engine_input(e);
        for (int j = 0; j < cnt; j++) {
            const y5_val_item *it = &set.it[order[lo + j]];
            slot_info *si = &slots[j];
            char ierr[1024];
            y5_image img;
            double t0 = y5_now_ms();
            memset(si, 0, sizeof *si);
            if (y5_image_load(it->img, &img, ierr, sizeof ierr) == 0) {
                si->w0 = img.w;
                si->h0 = img.h;
                if (load_resize(&img, o->imgsz)) {
                    y5_image_free(&img);
                    snprintf(ierr, sizeof ierr, "%s: out of memory", it->img);
                } else {
                    si->ok = 1;
                }
            }
            double t1 = y5_now_ms();
            t_load += t1 - t0;
            if (!si->ok) {
                fprintf(stderr, "yolov5c val: warning: %s (scored as an image without detections)\n", ierr);
                n_failed++;
                const size_t px = (size_t)BW * BH * 3;
                for (size_t q = 0; q < px; q++) input[(size_t)j * px + q] = 114.0f / 255.0f;
                continue;
            }
            /* letterbox(img, (BH, BW), auto=False, scaleup=False) */
            double r = fmin((double)BH / img.h, (double)BW / img.w);
            if (r > 1.0) r = 1.0;
            y5_letterbox_geom g;
            memset(&g, 0, sizeof g);
            g.w0 = img.w;
            g.h0 = img.h;
            g.new_w = (int)nearbyint(img.w * r);
            g.new_h = (int)nearbyint(img.h * r);
            if (g.new_w < 1) g.new_w = 1;
            if (g.new_h < 1) g.new_h = 1;
            const double dw = (BW - g.new_w) / 2.0, dh = (BH - g.new_h) / 2.0;
            g.left = (int)nearbyint(dw - 0.1);
            g.right = (int)nearbyint(dw + 0.1);
            g.top = (int)nearbyint(dh - 0.1);
            g.bottom = (int)nearbyint(dh + 0.1);
            g.out_w = g.new_w + g.left + g.right;
            g.out_h = g.new_h + g.top + g.bottom;
            g.r = r;
            if (g.out_w != BW || g.out_h != BH) { /* cannot happen with r <= the fit ratio */
                snprintf(err, errlen, "%s: letterbox %dx%d does not fit the batch shape %dx%d", it->img, g.out_w, g.out_h, BW, BH);
                y5_image_free(&img);
                goto done;
            }
            if (y5_engine_put_image(e, j, &img, &g, err, errlen)) { y5_image_free(&img); goto done; }
            si->gain = (float)((double)img.h / si->h0);
            si->padw = (float)dw;
            si->padh = (float)dh;
            si->lw = (float)(r * img.w);
            si->lh = (float)(r * img.h);
            y5_image_free(&img);
            t_pre += y5_now_ms() - t1;
        }
        double t2 = y5_now_ms();
        if (y5_engine_forward(e, err, errlen)) goto done;
        double t3 = y5_now_ms();
        t_inf += t3 - t2;
        int rows, no;
        const float *pred = y5_engine_pred(e, &rows, &no);
        if (!ws && !(ws = y5_nms_ws_create(rows, no - 5, 1))) { snprintf(err, errlen, "out of memory"); goto done; }
        for (int j = 0; j < cnt; j++) {
            const y5_val_item *it = &set.it[order[lo + j]];
            const slot_info *si = &slots[j];
            double t4 = y5_now_ms();
            int npr = 0;
            if (si->ok) {
                npr = y5_nms(ws, pred + (size_t)j * rows * no, rows, no - 5, &nmso, dets, max_det);
                if (npr < 0) { snprintf(err, errlen, "out of memory in NMS"); goto done; }
            }
            t_nms += y5_now_ms() - t4;
            for (int i = 0; i < npr; i++)
                scale_ratio_pad(&dets[i].x1, &dets[i].y1, &dets[i].x2, &dets[i].y2, si->gain, si->padw, si->padh,
                                (float)si->w0, (float)si->h0);
            if (si->ok) {
                labels_to_pixels(it, si->lw, si->lh, si->padw, si->padh, BW, BH, si->gain, si->w0, si->h0, labs);
            } else {
                for (int i = 0; i < it->nl; i++) labs[i].cls = (int)it->lb[(size_t)i * 5];
            }
            for (int i = 0; i < it->nl; i++) {
                const int c = labs[i].cls;
                if (c >= 0 && c < nc) res->nt_all[c]++;
            }
            if (y5_map_stats_add(stats, dets, npr, labs, it->nl)) { snprintf(err, errlen, "out of memory"); goto done; }
            if (o->save_json && npr > 0) json_image(&js, it->img, dets, npr, nc, &json_count);
        }
    }
    if (y5_map_compute(stats, &res->m)) { snprintf(err, errlen, "out of memory"); goto done; }
    res->ms_load = t_load / n;
    res->ms_pre = t_pre / n;
    res->ms_inf = t_inf / n;
    res->ms_nms = t_nms / n;
    res->n_json = json_count;
    if (o->log) {
        y5_val_print(o->log, res);
        fprintf(o->log, "Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape (%d, 3, %d, %d)"
                        " (image decoding %.1fms per image, not included, as val.py's dataloader)\n",
                res->ms_pre, res->ms_inf, res->ms_nms, B, o->imgsz, o->imgsz, res->ms_load);
        if (set.n_missing || set.n_empty || set.n_corrupt || set.n_dup)
            fprintf(o->log, "labels: %d found, %d missing, %d empty, %d corrupt, %d with duplicates removed\n",
                    set.n - set.n_missing - set.n_empty, set.n_missing, set.n_empty, set.n_corrupt, set.n_dup);
    }
    if (o->save_json) {
        y5_sb_puts(&js, "]");
        if (js.oom) { snprintf(err, errlen, "out of memory"); goto done; }
        if (y5_write_file_atomic(o->save_json, js.p, js.n, err, errlen)) goto done;
        if (o->log) fprintf(o->log, "Saving %s... (%d detections)\n", o->save_json, json_count);
    }
    rc = n_failed ? 1 : 0;
    if (n_failed) snprintf(err, errlen, "%d image(s) could not be read", n_failed);
done:
    if (rc < 0) y5_val_result_free(res);
    free(js.p);
    free(order);
    free(shapes);
    free(wv);
    free(hv);
    free(slots);
    free(dets);
    free(labs);
    y5_nms_ws_destroy(ws);
    y5_map_stats_free(stats);
    y5_engine_close(e);
    y5_val_set_free(&set);
    return rc;
}

void y5_val_print(FILE *f, const y5_val_result *r) {
    const y5_map_result *m = &r->m;
    fprintf(f, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95");
    fprintf(f, "%22s%11i%11i%11.3g%11.3g%11.3g%11.3g\n", "all", m->seen, m->n_labels, m->mp, m->mr, m->map50, m->map);
    if (m->n_labels == 0) fprintf(f, "WARNING: no labels found in val set, can not compute metrics without labels\n");
    if (r->nc > 1 && m->any_tp)
        for (int i = 0; i < m->n_cls; i++) {
            const int c = m->cls[i];
            char cname[64];
            if (c >= 0 && c < r->nc) snprintf(cname, sizeof cname, "%s", r->names[c]);
            else snprintf(cname, sizeof cname, "class %d", c);
            fprintf(f, "%22s%11i%11i%11.3g%11.3g%11.3g%11.3g\n", cname, m->seen, m->nt[i], m->p[i], m->r[i], m->ap50[i],
                    m->ap[i]);
        }
}
