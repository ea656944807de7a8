/* json.h - JSON text: strings and Python-compatible floats.
 *
 * Two string escapings, because two consumers want different things:
 *   Y5_JSON_UTF8   detections.jsonl: valid UTF-8 passes through; a byte that
 *                  is not valid UTF-8 becomes \udcXX (Python's
 *                  surrogateescape), so the line stays JSON and distinct
 *                  paths stay distinct (the resume index keys lines by it);
 *   Y5_JSON_ASCII  val --save-json: exactly Python's json.dumps
 *                  (ensure_ascii=True), everything >= 0x7f as \uXXXX, so
 *                  the file is byte-identical to val.py's. */
#ifndef Y5_JSON_H
#define Y5_JSON_H

#include <stddef.h>
#include "core/base/strbuf.h"

enum { Y5_JSON_UTF8 = 0, Y5_JSON_ASCII = 1 };

/* Appends str (NULL: "") as a quoted JSON string. */
void y5_json_str(y5_sbuf *s, const char *str, int mode);

/* Python's repr(float) (shortest round trip; fixed notation between 1e-4
 * and 1e16), as json.dumps writes a float. */
void y5_py_repr(double x, char *out, size_t cap);
/* round(x, nd) then repr, as Python. */
void y5_py_round_repr(double x, int nd, char *out, size_t cap);

#endif
