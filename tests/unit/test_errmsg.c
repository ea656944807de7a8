/* test_errmsg.c - "PATH: problem" messages (core/base/errmsg.c) stay one
 * line whatever a path or a quoted name holds (issue 10 #7). */
#include <string.h>

#include "tests/t.h"
#include "core/base/errmsg.h"

T_TEST(errmsg_escapes_control_characters) {
    char err[256];
    int rc = y5_fail_path(err, sizeof err, "in/a\nb\x01\x7f.jpg", "bad %s (%d)", "x\ty\r", 3);
    T_CHECK(rc == -1, "returns -1");
    T_CHECK(!strcmp(err, "in/a\\nb\\x01\\x7f.jpg: bad x\\ty\\r (3)"), "'%s'", err);
    /* UTF-8 and backslashes are kept as they are */
    y5_fail_path(err, sizeof err, "caf\xc3\xa9\\x.png", "ok");
    T_CHECK(!strcmp(err, "caf\xc3\xa9\\x.png: ok"), "'%s'", err);
    /* a short buffer: terminated, no escape cut in half */
    char small[8];
    y5_fail_path(small, sizeof small, "ab\n", "c");
    T_CHECK(!strcmp(small, "ab\\n: c"), "'%s'", small);
    y5_fail_path(small, 6, "abc\x01", "z");
    T_CHECK(!strcmp(small, "abc"), "'%s'", small);
    char e[32];
    T_CHECK(!strcmp(y5_escape_ctl("\x1b[31m", e, sizeof e), "\\x1b[31m"), "'%s'", e);
}
