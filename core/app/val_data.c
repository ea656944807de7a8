/* val_data.c - the labelled set val scores: which images, which labels,
 * and in which batches, as ultralytics v7.0 val.py's LoadImagesAndLabels
 * builds them (--task val, rect=True, pad 0.5).
 *
 *   - image paths: recursive '**' '*.*' glob of the folder (or the lines of
 *     a .txt list), kept when the extension is an image format, sorted as
 *     Python's sorted(); a data YAML names the folder or list ('path' +
 *     'val');
 *   - label path: the last "/images/" -> "/labels/", extension -> ".txt";
 *   - each image checked as the cache step does (size >= 10 px; labels: 5
 *     columns, or polygons turned into boxes, every value >= 0,
 *     coordinates <= 1, duplicate rows removed by np.unique, which also
 *     sorts them); broken ones are left out with a warning;
 *   - rect: images sorted by h/w (np.argsort), batches of B, batch shape
 *     ceil(s * imgsz / stride + pad) * stride from the batch's aspect ratios.
 * Why so literal: the set, its order and its batch shapes decide which
 * pixels the network sees and so the mAP; any drift shows in the table. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/app/map.h"
#include "core/app/val.h"
#include "core/app/val_internal.h"
#include "core/base/strbuf.h"
#include "core/image/image.h"

/* ------------------------------------------------------------ file helpers */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int has_ext(const char *p, const char *ext) {
    size_t n = strlen(p), m = strlen(ext);
    return n > m && !strcasecmp(p + n - m, ext);
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

char *y5_val_read_text(const char *path, size_t *len) {
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

char *y5_val_trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
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

/* The lines of a .txt list that name images; "./x" is relative to the
 * list's folder. */
static int list_from_txt(const char *p, y5_strlist *out, char *err, size_t errlen) {
    char *text = y5_val_read_text(p, NULL);
    if (!text) { snprintf(err, errlen, "%s: cannot read", p); return -1; }
    char parent[4096];
    dir_of(p, parent, sizeof parent);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *t = y5_val_trim(line);
        if (!*t || !is_img_path(t)) continue;
        char full[4096];
        if (!strncmp(t, "./", 2)) join_path(parent, t + 2, full, sizeof full);
        else snprintf(full, sizeof full, "%s", t);
        if (y5_strlist_push(out, full)) { free(text); snprintf(err, errlen, "out of memory"); return -1; }
    }
    free(text);
    return 0;
}

/* The image files a val.py path names: folder (recursive) or .txt list. */
static int list_images(const char *p, y5_strlist *out, char *err, size_t errlen) {
    if (is_dir(p)) {
        if (walk(p, out, 0)) { snprintf(err, errlen, "%s: cannot list (%s)", p, strerror(errno ? errno : EIO)); return -1; }
    } else if (is_file(p)) {
        if (list_from_txt(p, out, err, errlen)) return -1;
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

#define LABEL_SEPS " \t\r\v\f"
#define MAX_LABEL_VALUES 4096

static int cmp_row5(const void *a, const void *b) {
    const float *x = a, *y = b;
    for (int k = 0; k < 5; k++)
        if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
    return 0;
}

/* verify_image_label: any line with more than 6 values makes every line a
 * polygon. Tokenises a copy, so text is left intact. -1: out of memory. */
static int labels_are_polygons(const char *text) {
    char *copy = strdup(text);
    if (!copy) return -1;
    int seg = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int k = 0;
        char *sv2 = NULL;
        for (char *tok = strtok_r(line, LABEL_SEPS, &sv2); tok; tok = strtok_r(NULL, LABEL_SEPS, &sv2)) k++;
        if (k > 6) seg = 1;
    }
    free(copy);
    return seg;
}

/* One label line (tokenised in place) -> row {class cx cy w h}: 5 columns,
 * or a polygon's bounding box when seg. Returns 1 (row set), 0 (a blank
 * line) or -1 with why set. */
static int parse_label_line(char *line, int seg, const char *lab, float row[5], char *why, size_t whylen) {
    float v[MAX_LABEL_VALUES + 1];
    int k = 0;
    char *sv2 = NULL;
    for (char *tok = strtok_r(line, LABEL_SEPS, &sv2); tok; tok = strtok_r(NULL, LABEL_SEPS, &sv2)) {
        char *end;
        double x = strtod(tok, &end);
        if (end == tok || *end) { snprintf(why, whylen, "%s: '%s' is not a number", lab, tok); return -1; }
        if (k > MAX_LABEL_VALUES) { snprintf(why, whylen, "%s: line too long", lab); return -1; }
        v[k++] = (float)x;
    }
    if (k == 0) return 0;
    if (seg) { /* segments2boxes: the polygon's extent as cx cy w h */
        if (k < 3 || (k - 1) % 2) { snprintf(why, whylen, "%s: odd polygon", lab); return -1; }
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
        if (k != 5) { snprintf(why, whylen, "%s: labels require 5 columns, %d found", lab, k); return -1; }
        memcpy(row, v, 5 * sizeof(float));
    }
    for (int j = 0; j < 5; j++) {
        if (!(row[j] >= 0)) { snprintf(why, whylen, "%s: negative label values", lab); return -1; }
        if (j && !(row[j] <= 1)) { snprintf(why, whylen, "%s: non-normalized or out of bounds coordinates", lab); return -1; }
    }
    return 1;
}

/* np.unique(lb, axis=0, return_index=True) as verify_image_label applies
 * it: only when a row repeats, and then the rows come out sorted. *rows
 * and *n are replaced in that case (with a warning). -1: out of memory. */
static int drop_duplicate_labels(float **rows, int *n, const char *lab, y5_val_set *s) {
    float *sorted = malloc((size_t)*n * 5 * sizeof(float));
    if (!sorted) return -1;
    memcpy(sorted, *rows, (size_t)*n * 5 * sizeof(float));
    qsort(sorted, (size_t)*n, 5 * sizeof(float), cmp_row5);
    int u = 0;
    for (int i = 0; i < *n; i++)
        if (i == 0 || cmp_row5(sorted + (size_t)i * 5, sorted + (size_t)(u - 1) * 5))
            memmove(sorted + (size_t)u++ * 5, sorted + (size_t)i * 5, 5 * sizeof(float));
    if (u == *n) { free(sorted); return 0; }
    fprintf(stderr, "yolov5c val: warning: %s: %d duplicate labels removed\n", lab, *n - u);
    s->n_dup++;
    free(*rows);
    *rows = sorted;
    *n = u;
    return 0;
}

/* verify_image_label's label part. 0 ok (missing / empty included), -1 corrupt. */
static int read_labels(y5_val_item *it, y5_val_set *s, char *why, size_t whylen) {
    it->nl = 0;
    it->lb = NULL;
    if (!is_file(it->lab)) { s->n_missing++; return 0; }
    char *text = y5_val_read_text(it->lab, NULL);
    if (!text) { snprintf(why, whylen, "cannot read %s", it->lab); return -1; }
    int rc = -1, cap = 0, n = 0;
    float *rows = NULL;
    const int seg = labels_are_polygons(text);
    if (seg < 0) { snprintf(why, whylen, "out of memory"); goto done; }
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        float row[5];
        const int got = parse_label_line(line, seg, it->lab, row, why, whylen);
        if (got < 0) goto done;
        if (got == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            float *nr = realloc(rows, (size_t)cap * 5 * sizeof(float));
            if (!nr) { snprintf(why, whylen, "out of memory"); goto done; }
            rows = nr;
        }
        memcpy(rows + (size_t)n * 5, row, sizeof row);
        n++;
    }
    if (n == 0) s->n_empty++;
    else if (drop_duplicate_labels(&rows, &n, it->lab, s)) { snprintf(why, whylen, "out of memory"); goto done; }
    it->lb = rows;
    it->nl = n;
    rows = NULL;
    rc = 0;
done:
    free(rows);
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
        buf = (uint8_t *)y5_val_read_text(path, &n);
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

/* -------------------------------------------------------------- the set */

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

/* --data -> the folder or .txt list of images (src), and the classes a
 * data YAML declares (*nc, else left alone). */
static int resolve_source(const char *data, char *src, size_t cap, int *nc, char *err, size_t errlen) {
    if (is_dir(data)) {
        char imgs[4096];
        join_path(data, "images", imgs, sizeof imgs);
        snprintf(src, cap, "%s", is_dir(imgs) ? imgs : data);
    } else if (has_ext(data, ".yaml") || has_ext(data, ".yml")) {
        y5_data_yaml y;
        if (y5_data_yaml_read(data, &y, err, errlen)) return -1;
        *nc = y.nc;
        char ydir[4096], root[4096];
        dir_of(data, ydir, sizeof ydir);
        /* 'path': relative to the YAML's folder, else to the working folder */
        if (y.path && y.path[0]) {
            join_path(ydir, y.path, root, sizeof root);
            if (!is_dir(root) && is_dir(y.path)) snprintf(root, sizeof root, "%s", y.path);
        } else {
            snprintf(root, sizeof root, "%s", ydir);
        }
        join_path(root, y.val, src, cap);
        if (!is_dir(src) && !is_file(src) && !strncmp(y.val, "../", 3)) join_path(root, y.val + 3, src, cap);
        y5_data_yaml_free(&y);
    } else if (is_file(data)) {
        snprintf(src, cap, "%s", data); /* a .txt list of images */
    } else {
        snprintf(err, errlen, "--data %s: no such folder or file", data);
        return -1;
    }
    return 0;
}

int y5_val_load_set(const char *data, int max_images, y5_val_set *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    char src[4096];
    if (resolve_source(data, src, sizeof src, &s->nc, err, errlen)) return -1;
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
