/* strbuf.c - growable string and string list (see strbuf.h). */
#include "core/base/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sb_reserve(y5_sbuf *s, size_t more) {
    if (s->oom || s->n + more + 1 <= s->cap) return;
    size_t c = s->cap ? s->cap : 256;
    while (c < s->n + more + 1) c *= 2;
    char *np = realloc(s->p, c);
    if (!np) { s->oom = 1; return; }
    s->p = np;
    s->cap = c;
}

void y5_sb_put(y5_sbuf *s, const char *str, size_t len) {
    sb_reserve(s, len);
    if (s->oom) return;
    memcpy(s->p + s->n, str, len);
    s->n += len;
    s->p[s->n] = 0;
}

void y5_sb_puts(y5_sbuf *s, const char *str) { y5_sb_put(s, str, strlen(str)); }

void y5_sb_num(y5_sbuf *s, const char *fmt, double v) {
    char buf[64];
    if (!isfinite(v)) { y5_sb_puts(s, "null"); return; }
    int k = snprintf(buf, sizeof buf, fmt, v);
    if (k > 0) y5_sb_put(s, buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1);
}

void y5_sb_free(y5_sbuf *s) {
    free(s->p);
    memset(s, 0, sizeof *s);
}

int y5_strlist_push(y5_strlist *l, const char *s) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 16;
        char **np = realloc(l->paths, (size_t)nc * sizeof(char *));
        if (!np) return -1;
        l->paths = np;
        l->cap = nc;
    }
    char *c = strdup(s);
    if (!c) return -1;
    l->paths[l->n++] = c;
    return 0;
}

void y5_strlist_free(y5_strlist *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = l->cap = 0;
}
