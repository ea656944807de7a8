/* json.c - JSON strings in the two escapings of json.h, Python float repr. */
#include "core/base/json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of a valid UTF-8 sequence at p (1..4), 0 if invalid. */
static int utf8_len(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/* Y5_JSON_UTF8 (see json.h). */
static void json_utf8(y5_sbuf *s, const char *str) {
    y5_sb_put(s, "\"", 1);
    const unsigned char *p = (const unsigned char *)(str ? str : "");
    while (*p) {
        unsigned c = *p;
        char esc[8];
        if (c == '"') { y5_sb_put(s, "\\\"", 2); p++; }
        else if (c == '\\') { y5_sb_put(s, "\\\\", 2); p++; }
        else if (c < 0x20) {
            switch (c) {
            case '\n': y5_sb_put(s, "\\n", 2); break;
            case '\r': y5_sb_put(s, "\\r", 2); break;
            case '\t': y5_sb_put(s, "\\t", 2); break;
            case '\b': y5_sb_put(s, "\\b", 2); break;
            case '\f': y5_sb_put(s, "\\f", 2); break;
            default:
                snprintf(esc, sizeof esc, "\\u%04x", c);
                y5_sb_put(s, esc, 6);
            }
            p++;
        } else {
            int l = utf8_len(p);
            if (l) { y5_sb_put(s, (const char *)p, (size_t)l); p += l; }
            else {
                snprintf(esc, sizeof esc, "\\udc%02x", c);
                y5_sb_put(s, esc, 6);
                p++;
            }
        }
    }
    y5_sb_put(s, "\"", 1);
}

/* Y5_JSON_ASCII: json.dumps of a str (ensure_ascii). */
static void json_ascii(y5_sbuf *s, const char *str) {
    const char *t = str ? str : "";
    y5_sb_puts(s, "\"");
    const unsigned char *p = (const unsigned char *)t;
    while (*p) {
        unsigned cp = *p;
        int len = 1;
        if (cp >= 0xf0 && p[1] && p[2] && p[3]) { cp = (cp & 7u) << 18 | (p[1] & 63u) << 12 | (p[2] & 63u) << 6 | (p[3] & 63u); len = 4; }
        else if (cp >= 0xe0 && p[1] && p[2]) { cp = (cp & 15u) << 12 | (p[1] & 63u) << 6 | (p[2] & 63u); len = 3; }
        else if (cp >= 0xc0 && p[1]) { cp = (cp & 31u) << 6 | (p[1] & 63u); len = 2; }
        char u[16];
        if (cp == '"') y5_sb_puts(s, "\\\"");
        else if (cp == '\\') y5_sb_puts(s, "\\\\");
        else if (cp == '\n') y5_sb_puts(s, "\\n");
        else if (cp == '\r') y5_sb_puts(s, "\\r");
        else if (cp == '\t') y5_sb_puts(s, "\\t");
        else if (cp == '\b') y5_sb_puts(s, "\\b");
        else if (cp == '\f') y5_sb_puts(s, "\\f");
        else if (cp < 0x20 || cp >= 0x7f) {
            if (cp >= 0x10000) {
                unsigned v = cp - 0x10000;
                snprintf(u, sizeof u, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                snprintf(u, sizeof u, "\\u%04x", cp);
            }
            y5_sb_puts(s, u);
        } else {
            char c = (char)cp;
            y5_sb_put(s, &c, 1);
        }
        p += len;
    }
    y5_sb_puts(s, "\"");
}

void y5_json_str(y5_sbuf *s, const char *str, int mode) {
    if (mode == Y5_JSON_ASCII) json_ascii(s, str);
    else json_utf8(s, str);
}

void y5_py_repr(double x, char *out, size_t cap) {
    if (x != x) { snprintf(out, cap, "NaN"); return; }
    if (isinf(x)) { snprintf(out, cap, x > 0 ? "Infinity" : "-Infinity"); return; }
    if (x == 0) { snprintf(out, cap, signbit(x) ? "-0.0" : "0.0"); return; }
    char e[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    const char *q = e;
    int neg = *q == '-';
    if (neg) q++;
    char dig[32];
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (isdigit((unsigned char)*q)) dig[nd++] = *q;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = 0;
    int ex = atoi(q + 1), decpt = ex + 1;
    char *o = out;
    size_t left = cap;
#define EMIT(...) do { int w_ = snprintf(o, left, __VA_ARGS__); if (w_ < 0 || (size_t)w_ >= left) return; o += w_; left -= (size_t)w_; } while (0)
    if (neg) EMIT("-");
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            EMIT("0.");
            for (int i = 0; i < -decpt; i++) EMIT("0");
            EMIT("%s", dig);
        } else if (decpt >= nd) {
            EMIT("%s", dig);
            for (int i = nd; i < decpt; i++) EMIT("0");
            EMIT(".0");
        } else {
            EMIT("%.*s.%s", decpt, dig, dig + decpt);
        }
    } else {
        EMIT("%c", dig[0]);
        if (nd > 1) EMIT(".%s", dig + 1);
        EMIT("e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
#undef EMIT
}

void y5_py_round_repr(double x, int nd, char *out, size_t cap) {
    char t[64];
    snprintf(t, sizeof t, "%.*f", nd, x);
    y5_py_repr(strtod(t, NULL), out, cap);
}
