/* errmsg.h - the one-line "PATH: problem" error messages every parser returns. */
#ifndef Y5_ERRMSG_H
#define Y5_ERRMSG_H

#include <stddef.h>

/* Writes "<path>: <formatted message>" into err (when err and errlen are
 * set) and returns -1, so a parser can `return y5_fail_path(...)`. The
 * message is one line whatever the path holds: control characters (a file
 * name may contain a newline) are escaped as \n, \t, \r or \xNN, so a log
 * reader that splits on newlines sees one message per line. */
int y5_fail_path(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies s into out (cap bytes, always terminated), escaping control
 * characters as y5_fail_path does; bytes >= 0x80 (UTF-8) are kept. An
 * escape that does not fit whole is dropped. Returns out. */
char *y5_escape_ctl(const char *s, char *out, size_t cap);

#endif
