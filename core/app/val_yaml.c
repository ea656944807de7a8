/* val_yaml.c - the data YAML of ultralytics (data/coco.yaml and the like),
 * as far as val reads it: top-level 'path', 'val' (the first entry when a
 * list), 'nc' and 'names' (inline list, inline {i: name} map, block
 * "  - name" or "  i: name" lines; inline lists may span lines).
 *
 * Why not a YAML library: yolov5c links no dependency beyond libjpeg and
 * stb, and these files use a small, fixed subset. Everything else (other
 * keys, nested entries, 'download' scripts) is skipped. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/val.h"
#include "core/app/val_internal.h"

/* Removes a '#' comment that is outside quotes and starts a token. */
static void strip_comment(char *s) {
    char q = 0;
    for (char *p = s; *p; p++) {
        if (q) { if (*p == q) q = 0; continue; }
        if (*p == '\'' || *p == '"') { q = *p; continue; }
        if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) { *p = 0; return; }
    }
}

/* A copy of s, trimmed, without one pair of matching outer quotes. */
static char *unquote_dup(const char *s0) {
    char *tmp = strdup(s0);
    if (!tmp) return NULL;
    char *s = y5_val_trim(tmp);
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        s[n - 1] = 0;
        s++;
    }
    char *r = strdup(s);
    free(tmp);
    return r;
}

/* Sets names[idx] (idx < 0: appends), growing the list with NULL holes. */
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
        char *item = y5_val_trim(start);
        if (*item) {
            int idx = -1;
            if (is_map) {
                char *c = strchr(item, ':');
                if (!c) return -1;
                *c = 0;
                idx = atoi(y5_val_trim(item));
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

/* The reader's state between lines. */
typedef struct {
    y5_data_yaml *y;
    const char *file;
    char *acc;          /* an inline names list/map spanning lines, so far */
    size_t acc_len;
    int acc_map;        /* acc is a {map}, not a [list] */
    int in_names_block; /* after "names:" with nothing on the line */
    char *err;
    size_t errlen;
} yaml_reader;

static int fail_oom(yaml_reader *r) {
    snprintf(r->err, r->errlen, "%s: out of memory", r->file);
    return -1;
}

static int fail_names(yaml_reader *r) {
    snprintf(r->err, r->errlen, "%s: bad names", r->file);
    return -1;
}

/* A line that continues an inline "[...]" or "{...}": parsed once closed. */
static int continue_inline(yaml_reader *r, const char *line) {
    size_t add = strlen(line);
    char *na = realloc(r->acc, r->acc_len + add + 2);
    if (!na) return fail_oom(r);
    r->acc = na;
    r->acc[r->acc_len++] = ' ';
    memcpy(r->acc + r->acc_len, line, add + 1);
    r->acc_len += add;
    char *close = strrchr(r->acc, r->acc_map ? '}' : ']');
    if (close) {
        *close = 0;
        if (parse_inline_names(r->y, r->acc + 1, r->acc_map)) return fail_names(r);
        free(r->acc);
        r->acc = NULL;
    }
    return 0;
}

/* An indented line (t: trimmed): "- name" or "i: name" inside a names block;
 * nested keys of any other entry are skipped. */
static int indented_line(yaml_reader *r, char *t) {
    if (!r->in_names_block) return 0;
    if (t[0] == '-') return names_push(r->y, t + 1, -1) ? fail_oom(r) : 0;
    char *c = strchr(t, ':');
    if (!c) return 0;
    *c = 0;
    char *k = y5_val_trim(t), *end;
    long idx = strtol(k, &end, 10);
    if (end != k && !*end && idx >= 0 && names_push(r->y, c + 1, (int)idx)) return fail_oom(r);
    return 0;
}

/* "names: ..." - inline (maybe continued on later lines), or a block below. */
static int names_key(yaml_reader *r, char *val) {
    y5_data_yaml *y = r->y;
    for (int i = 0; i < y->n_names; i++) free(y->names[i]);
    y->n_names = 0;
    if (val[0] == '[' || val[0] == '{') {
        r->acc_map = val[0] == '{';
        char *close = strrchr(val, r->acc_map ? '}' : ']');
        if (close) {
            *close = 0;
            if (parse_inline_names(y, val + 1, r->acc_map)) return fail_names(r);
        } else {
            r->acc_len = strlen(val);
            if (!(r->acc = strdup(val))) return fail_oom(r);
        }
    } else if (!*val) {
        r->in_names_block = 1;
    }
    return 0;
}

/* A top-level "key: value" line (t: trimmed). */
static int top_level_line(yaml_reader *r, char *t) {
    y5_data_yaml *y = r->y;
    r->in_names_block = 0;
    char *c = strchr(t, ':');
    if (!c) return 0;
    *c = 0;
    char *key = y5_val_trim(t), *val = y5_val_trim(c + 1);
    if (!strcmp(key, "path")) {
        free(y->path);
        if (!(y->path = unquote_dup(val))) return fail_oom(r);
    } else if (!strcmp(key, "val")) {
        free(y->val);
        if (val[0] == '[') { /* a list: the first entry */
            char *body = val + 1, *e = strpbrk(body, ",]");
            if (e) *e = 0;
            y->val = unquote_dup(body);
        } else {
            y->val = unquote_dup(val);
        }
        if (!y->val) return fail_oom(r);
    } else if (!strcmp(key, "nc")) {
        y->nc = atoi(val);
    } else if (!strcmp(key, "names")) {
        return names_key(r, val);
    }
    return 0;
}

int y5_data_yaml_read(const char *file, y5_data_yaml *y, char *err, size_t errlen) {
    memset(y, 0, sizeof *y);
    size_t len;
    char *text = y5_val_read_text(file, &len);
    if (!text) { snprintf(err, errlen, "%s: cannot read (%s)", file, strerror(errno ? errno : EIO)); return -1; }
    yaml_reader r = {.y = y, .file = file, .err = err, .errlen = errlen};
    int rc = -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[n - 1] = 0;
        strip_comment(line);
        if (r.acc) {
            if (continue_inline(&r, line)) goto done;
            continue;
        }
        char *t = y5_val_trim(line);
        if (!*t || !strcmp(t, "---")) continue;
        if (isspace((unsigned char)line[0]) ? indented_line(&r, t) : top_level_line(&r, t)) goto done;
    }
    if (r.acc) { snprintf(err, errlen, "%s: unterminated names list", file); goto done; }
    for (int i = 0; i < y->n_names; i++)
        if (!y->names[i] && !(y->names[i] = strdup(""))) { fail_oom(&r); goto done; }
    if (!y->nc) y->nc = y->n_names;
    if (!y->val) { snprintf(err, errlen, "%s: no 'val' entry", file); goto done; }
    rc = 0;
done:
    free(r.acc);
    free(text);
    if (rc) y5_data_yaml_free(y);
    return rc;
}
