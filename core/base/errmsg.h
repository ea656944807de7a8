/* errmsg.h - the one-line "PATH: problem" error messages every parser returns. */
#ifndef Y5_ERRMSG_H
#define Y5_ERRMSG_H

#include <stddef.h>

/* Writes "<path>: <formatted message>" into err (when err and errlen are
 * set) and returns -1, so a parser can `return y5_fail_path(...)`. */
int y5_fail_path(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
