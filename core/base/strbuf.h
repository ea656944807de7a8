/* strbuf.h - a growable NUL-terminated byte string and a growable list of
 * owned strings: the two builders every writer of text output shares.
 *
 * Out of memory is sticky (oom set, later appends do nothing), so a writer
 * appends freely and checks once at the end. */
#ifndef Y5_STRBUF_H
#define Y5_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p;       /* NUL-terminated once anything was appended; NULL before */
    size_t n, cap;
    int oom;
} y5_sbuf;

void y5_sb_put(y5_sbuf *s, const char *str, size_t len);
void y5_sb_puts(y5_sbuf *s, const char *str);
/* One number through printf's fmt ("%.5f"); not finite: "null" (JSON). */
void y5_sb_num(y5_sbuf *s, const char *fmt, double v);
void y5_sb_free(y5_sbuf *s);

typedef struct {
    char **paths;
    int n, cap;
} y5_strlist;

/* Appends a copy of s; 0 or -1 (out of memory). */
int y5_strlist_push(y5_strlist *l, const char *s);
void y5_strlist_free(y5_strlist *l);

#endif
