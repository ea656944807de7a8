/* errmsg.c - see errmsg.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/errmsg.h"

char *y5_escape_ctl(const char *s, char *out, size_t cap) {
    if (!cap) return out;
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        size_t n;
        if (*p >= 0x20 && *p != 0x7f) {
            esc[0] = (char)*p;
            n = 1;
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            esc[0] = '\\';
            esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            n = 2;
        } else {
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *p);
        }
        if (k + n >= cap) break;
        memcpy(out + k, esc, n);
        k += n;
    }
    out[k] = 0;
    return out;
}

int y5_fail_path(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    if (!err || !errlen) return -1;
    /* formatted whole first, then escaped into err: the message part may
     * quote names from the file (zip entries, class names) as well */
    char *raw = malloc(errlen);
    if (!raw) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int k = snprintf(raw, errlen, "%s: ", path);
    if (k < 0) k = 0;
    if ((size_t)k < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw + k, errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    y5_escape_ctl(raw, err, errlen);
    free(raw);
    return -1;
}
