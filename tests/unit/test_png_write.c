/* test_png_write.c - the streaming PNG encoder (core/image/png_write.c):
 * every filter, odd sizes, several bands and IDAT chunks; each output
 * decoded back to the same pixels (stb_image), every chunk CRC and the zlib
 * Adler-32 checked against plain reference implementations here. */
#include "tests/t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image.h>

#include "core/image/image.h"
#include "core/image/png_write.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static int to_buf(void *ctx, const void *b, size_t n) {
    buf *m = ctx;
    if (m->n + n > m->cap) {
        size_t c = m->cap ? m->cap : 4096;
        while (c < m->n + n) c *= 2;
        uint8_t *q = realloc(m->p, c);
        if (!q) return -1;
        m->p = q;
        m->cap = c;
    }
    memcpy(m->p + m->n, b, n);
    m->n += n;
    return 0;
}

static int fail_sink(void *ctx, const void *b, size_t n) {
    (void)b;
    (void)n;
    return --*(int *)ctx < 0 ? -1 : 0;
}

static uint32_t crc_ref(const uint8_t *p, size_t n) { /* bit by bit */
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Walks the chunks: CRCs, IHDR, the IDAT count, and the zlib stream's
 * Adler-32 over what it inflates to. Returns 0 or a failing step (> 0). */
static int check_png(const uint8_t *p, size_t n, int w, int h, int *idats) {
    if (n < 8 || memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return 1;
    size_t off = 8, zn = 0;
    uint8_t *z = malloc(n);
    int seen_end = 0;
    *idats = 0;
    while (off + 12 <= n && !seen_end) {
        uint32_t len = be32(p + off);
        if (off + 12 + len > n) { free(z); return 2; }
        if (crc_ref(p + off + 4, len + 4) != be32(p + off + 8 + len)) { free(z); return 3; }
        const uint8_t *type = p + off + 4, *d = p + off + 8;
        if (!memcmp(type, "IHDR", 4) && (be32(d) != (uint32_t)w || be32(d + 4) != (uint32_t)h || d[8] != 8 || d[9] != 2)) {
            free(z);
            return 4;
        }
        if (!memcmp(type, "IDAT", 4)) { memcpy(z + zn, d, len); zn += len; ++*idats; }
        seen_end = !memcmp(type, "IEND", 4);
        off += 12 + len;
    }
    int outlen = 0;
    char *raw = stbi_zlib_decode_malloc((const char *)z, (int)zn, &outlen);
    int rc = 0;
    if (!seen_end || off != n) rc = 5;
    else if (!raw || outlen != h * (w * 3 + 1)) rc = 6;
    else {
        uint32_t a = 1, b = 0;
        for (int i = 0; i < outlen; i++) { a = (a + (uint8_t)raw[i]) % 65521; b = (b + a) % 65521; }
        if ((b << 16 | a) != be32(z + zn - 4)) rc = 7;
    }
    free(raw);
    free(z);
    return rc;
}

/* A picture with smooth areas, edges and noise (so every filter and both
 * literals and matches occur). */
static void make(y5_image *im, int w, int h, unsigned seed) {
    im->w = w;
    im->h = h;
    im->px = malloc((size_t)w * h * 3 + 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = im->px + ((size_t)y * w + x) * 3;
            seed = seed * 1103515245u + 12345u;
            int noisy = (x / 16 + y / 16) % 3 == 0;
            q[0] = (uint8_t)(x * 7 + y);
            q[1] = noisy ? (uint8_t)(seed >> 16) : (uint8_t)(y * 3);
            q[2] = x > w / 2 ? 114 : (uint8_t)(x ^ y);
        }
}

T_TEST(png_write_round_trips_every_filter_and_size) {
    static const int sizes[][2] = {{1, 1}, {1, 7}, {5, 1}, {33, 17}, {700, 600}, {1500, 300}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        y5_image a;
        make(&a, sizes[s][0], sizes[s][1], (unsigned)s);
        T_REQUIRE(a.px, "oom");
        for (int f = Y5_PNG_FILTER_DEFAULT; f <= Y5_PNG_FILTER_PAETH; f++) {
            buf m = {0};
            T_REQUIRE(y5_png_write(&a, f, to_buf, &m) == 0, "write %dx%d filter %d", a.w, a.h, f);
            int idats = 0, bad = check_png(m.p, m.n, a.w, a.h, &idats);
            T_CHECK(bad == 0, "%dx%d filter %d: structure check %d", a.w, a.h, f, bad);
            y5_image b = {0};
            char err[512];
            T_CHECK(y5_image_load_mem(m.p, m.n, "t.png", &b, err, sizeof err) == 0 && b.w == a.w && b.h == a.h &&
                        !memcmp(a.px, b.px, (size_t)a.w * a.h * 3),
                    "%dx%d filter %d: pixels differ", a.w, a.h, f);
            if (a.w == 700 && f == Y5_PNG_FILTER_NONE) /* 1.26 MB of raw rows, a third noise: over one IDAT */
                T_CHECK(idats >= 2, "700x600: %d IDAT chunks", idats);
            y5_image_free(&b);
            free(m.p);
        }
        y5_image_free(&a);
    }
}

T_TEST(png_write_reports_a_failing_sink) {
    y5_image a;
    make(&a, 64, 64, 1);
    T_REQUIRE(a.px, "oom");
    for (int after = 0; after < 3; after++) {
        int budget = after;
        T_CHECK(y5_png_write(&a, Y5_PNG_FILTER_DEFAULT, fail_sink, &budget) == -1, "sink failing after %d writes",
                after);
    }
    y5_image_free(&a);
}
