/* test_zip.c - the zip reader (convert/zip.c): archives built here (plain
 * and torch-like ZIP64), compressed entries, truncation at every length,
 * damaged fields, random damage, and the real checkpoints. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/t.h"
#include "convert/zip.h"

/* ---- a small zip writer (t_zip_item in tests/t.h lets test_convert.c use it) ---- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} zbuf;

static void zb_put(zbuf *z, const void *p, size_t n) {
    if (z->n + n > z->cap) {
        size_t c = z->cap ? z->cap * 2 : 4096;
        while (c < z->n + n) c *= 2;
        z->b = realloc(z->b, c);
        z->cap = c;
    }
    if (n) memcpy(z->b + z->n, p, n);
    z->n += n;
}
static void zb_u16(zbuf *z, uint32_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    zb_put(z, b, 2);
}
static void zb_u32(zbuf *z, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    zb_put(z, b, 4);
}
static void zb_u64(zbuf *z, uint64_t v) {
    zb_u32(z, (uint32_t)v);
    zb_u32(z, (uint32_t)(v >> 32));
}

uint8_t *t_zip_build(const t_zip_item *items, int n, int torch_like, size_t *len) {
    zbuf z = {0};
    uint64_t *offs = calloc((size_t)n + 1, sizeof *offs);
    for (int i = 0; i < n; i++) {
        const t_zip_item *it = &items[i];
        size_t nl = strlen(it->name);
        uint32_t crc = y5_zip_crc32(it->data, it->len);
        offs[i] = z.n;
        zb_u32(&z, 0x04034b50u);
        zb_u16(&z, torch_like ? 45 : 20);
        zb_u16(&z, torch_like ? 0x0808 : 0);
        zb_u16(&z, it->method);
        zb_u16(&z, 0);
        zb_u16(&z, 0);
        zb_u32(&z, torch_like ? 0 : crc);
        zb_u32(&z, torch_like ? 0 : (uint32_t)it->len);
        zb_u32(&z, torch_like ? 0 : (uint32_t)it->len);
        zb_u16(&z, (uint32_t)nl);
        /* torch pads the local extra field ("FB" + 'Z's) so data is 64-aligned */
        size_t here = z.n + 2 + nl, pad = 0;
        if (torch_like) {
            pad = (64 - (here + 4) % 64) % 64;
            zb_u16(&z, (uint32_t)(4 + pad));
        } else {
            zb_u16(&z, 0);
        }
        zb_put(&z, it->name, nl);
        if (torch_like) {
            zb_put(&z, "FB", 2);
            zb_u16(&z, (uint32_t)pad);
            for (size_t k = 0; k < pad; k++) zb_put(&z, "Z", 1);
        }
        zb_put(&z, it->data, it->len);
        if (torch_like) { /* ZIP64 data descriptor */
            zb_u32(&z, 0x08074b50u);
            zb_u32(&z, crc);
            zb_u64(&z, it->len);
            zb_u64(&z, it->len);
        }
    }
    uint64_t cd_off = z.n;
    for (int i = 0; i < n; i++) {
        const t_zip_item *it = &items[i];
        size_t nl = strlen(it->name);
        zb_u32(&z, 0x02014b50u);
        zb_u16(&z, torch_like ? 45 : 20);
        zb_u16(&z, torch_like ? 45 : 20);
        zb_u16(&z, torch_like ? 0x0808 : 0);
        zb_u16(&z, it->method);
        zb_u16(&z, 0);
        zb_u16(&z, 0);
        zb_u32(&z, y5_zip_crc32(it->data, it->len));
        /* torch-like: sizes and offset through the ZIP64 extra field */
        zb_u32(&z, torch_like ? 0xffffffffu : (uint32_t)it->len);
        zb_u32(&z, torch_like ? 0xffffffffu : (uint32_t)it->len);
        zb_u16(&z, (uint32_t)nl);
        zb_u16(&z, torch_like ? 28 : 0);
        zb_u16(&z, 0);
        zb_u16(&z, 0);
        zb_u16(&z, 0);
        zb_u32(&z, 0);
        zb_u32(&z, torch_like ? 0xffffffffu : (uint32_t)offs[i]);
        zb_put(&z, it->name, nl);
        if (torch_like) {
            zb_u16(&z, 1);
            zb_u16(&z, 24);
            zb_u64(&z, it->len);
            zb_u64(&z, it->len);
            zb_u64(&z, offs[i]);
        }
    }
    uint64_t cd_size = z.n - cd_off;
    if (torch_like) {
        uint64_t e64 = z.n;
        zb_u32(&z, 0x06064b50u);
        zb_u64(&z, 44);
        zb_u16(&z, 45);
        zb_u16(&z, 45);
        zb_u32(&z, 0);
        zb_u32(&z, 0);
        zb_u64(&z, (uint64_t)n);
        zb_u64(&z, (uint64_t)n);
        zb_u64(&z, cd_size);
        zb_u64(&z, cd_off);
        zb_u32(&z, 0x07064b50u);
        zb_u32(&z, 0);
        zb_u64(&z, e64);
        zb_u32(&z, 1);
    }
    zb_u32(&z, 0x06054b50u);
    zb_u16(&z, 0);
    zb_u16(&z, 0);
    zb_u16(&z, torch_like ? 0xffff : (uint32_t)n);
    zb_u16(&z, torch_like ? 0xffff : (uint32_t)n);
    zb_u32(&z, torch_like ? 0xffffffffu : (uint32_t)cd_size);
    zb_u32(&z, torch_like ? 0xffffffffu : (uint32_t)cd_off);
    zb_u16(&z, 0);
    free(offs);
    *len = z.n;
    /* an exactly-sized copy, so the sanitizer sees any over-read */
    uint8_t *out = malloc(z.n ? z.n : 1);
    memcpy(out, z.b, z.n);
    free(z.b);
    return out;
}

/* ---- tests ------------------------------------------------------------------------- */

static const char PKL[] = "\x80\x02K\x2a.";
static const char TXT[] = "3\n";

static void sample_items(t_zip_item it[3]) {
    it[0] = (t_zip_item){"archive/data.pkl", PKL, sizeof PKL - 1, 0};
    it[1] = (t_zip_item){"archive/data/0", "\x00\x3c\x00\x40", 4, 0};
    it[2] = (t_zip_item){"archive/version", TXT, 2, 0};
}

static void check_sample(const uint8_t *b, size_t n, int torch_like) {
    y5_zip z;
    char err[256];
    T_REQUIRE(y5_zip_open(&z, b, n, err, sizeof err) == 0, "open (%s): %s", torch_like ? "torch-like" : "plain", err);
    T_CHECK(z.n == 3, "entries %zu", z.n);
    const y5_zip_entry *e = y5_zip_find(&z, "archive/data/0");
    T_REQUIRE(e, "find");
    const uint8_t *d;
    uint64_t sz;
    T_REQUIRE(y5_zip_data(&z, e, &d, &sz, err, sizeof err) == 0, "data: %s", err);
    T_CHECK(sz == 4 && memcmp(d, "\x00\x3c\x00\x40", 4) == 0, "content");
    T_CHECK(y5_zip_crc32(d, sz) == e->crc32, "crc");
    if (torch_like) {
        uintptr_t mis = (uintptr_t)(d - b) & 63u;
        T_CHECK(mis == 0, "torch-like data not 64-aligned");
    }
    e = y5_zip_find(&z, "archive/version");
    T_REQUIRE(e && y5_zip_data(&z, e, &d, &sz, err, sizeof err) == 0, "version entry");
    T_CHECK(sz == 2 && d[0] == '3', "version content");
    T_CHECK(y5_zip_find(&z, "archive/data") == NULL && y5_zip_find(&z, "archive/data/01") == NULL &&
                y5_zip_find(&z, "") == NULL, "find must match exactly");
    y5_zip_close(&z);
}

T_TEST(zip_crc32) {
    T_CHECK(y5_zip_crc32("123456789", 9) == 0xCBF43926u, "check value");
    T_CHECK(y5_zip_crc32("", 0) == 0, "empty");
}

T_TEST(zip_stored_entries) {
    t_zip_item it[3];
    sample_items(it);
    size_t n;
    uint8_t *b = t_zip_build(it, 3, 0, &n);
    check_sample(b, n, 0);
    free(b);
}

T_TEST(zip_zip64_torch_layout) {
    t_zip_item it[3];
    sample_items(it);
    size_t n;
    uint8_t *b = t_zip_build(it, 3, 1, &n);
    check_sample(b, n, 1);
    free(b);
}

T_TEST(zip_compressed_entry) {
    t_zip_item it[2] = {{"x/data.pkl", "\x78\x9c\x03\x00", 4, 8}, {"x/version", TXT, 2, 0}};
    size_t n;
    uint8_t *b = t_zip_build(it, 2, 0, &n);
    y5_zip z;
    char err[256];
    T_REQUIRE(y5_zip_open(&z, b, n, err, sizeof err) == 0, "open: %s", err);
    const y5_zip_entry *e = y5_zip_find(&z, "x/data.pkl");
    const uint8_t *d;
    uint64_t sz;
    T_REQUIRE(e, "find");
    T_CHECK(y5_zip_data(&z, e, &d, &sz, err, sizeof err) != 0, "compressed entry accepted");
    T_CHECK(strstr(err, "entry 'x/data.pkl' is compressed (method 8)"), "message '%s'", err);
    e = y5_zip_find(&z, "x/version");
    T_CHECK(e && y5_zip_data(&z, e, &d, &sz, err, sizeof err) == 0, "stored entry beside it");
    y5_zip_close(&z);
    free(b);
}

T_TEST(zip_not_a_zip) {
    y5_zip z;
    char err[256];
    T_CHECK(y5_zip_open(&z, "", 0, err, sizeof err) != 0 && strcmp(err, "not a zip archive") == 0, "empty: %s", err);
    const char *txt = "just some text that is long enough to hold an end record, but is not a zip at all";
    T_CHECK(y5_zip_open(&z, txt, strlen(txt), err, sizeof err) != 0 && strcmp(err, "not a zip archive") == 0,
            "text: %s", err);
    uint8_t junk[300];
    memset(junk, 0xAB, sizeof junk);
    memcpy(junk, "PK\x03\x04", 4);
    T_CHECK(y5_zip_open(&z, junk, sizeof junk, err, sizeof err) != 0 && strstr(err, "truncated or damaged"),
            "local header only: %s", err);
}

/* Every prefix of an archive: an error or a consistent archive, no crash. */
T_TEST(zip_truncated_every_length) {
    t_zip_item it[3];
    sample_items(it);
    for (int torch_like = 0; torch_like < 2; torch_like++) {
        size_t n;
        uint8_t *b = t_zip_build(it, 3, torch_like, &n);
        int opened = 0;
        for (size_t len = 0; len < n; len++) {
            uint8_t *c = malloc(len ? len : 1);
            memcpy(c, b, len);
            y5_zip z;
            char err[256] = "";
            if (y5_zip_open(&z, c, len, err, sizeof err) == 0) {
                opened++;
                for (size_t k = 0; k < z.n; k++) {
                    const uint8_t *d;
                    uint64_t sz;
                    if (y5_zip_data(&z, &z.entries[k], &d, &sz, err, sizeof err) == 0)
                        T_CHECK(d >= c && d + sz <= c + len, "entry outside the buffer");
                }
                y5_zip_close(&z);
            } else {
                T_CHECK(err[0] != 0, "no message at length %zu", len);
            }
            free(c);
        }
        T_CHECK(opened == 0, "%d truncated archives opened", opened);
        free(b);
    }
}

T_TEST(zip_damaged_fields) {
    t_zip_item it[3];
    sample_items(it);
    size_t n;
    uint8_t *good = t_zip_build(it, 3, 0, &n);
    uint8_t *b = malloc(n);
    size_t eocd = n - 22;
    y5_zip z;
    char err[256];
#define DAMAGE(label, stmt, want)                                                                     \
    do {                                                                                              \
        memcpy(b, good, n);                                                                           \
        stmt;                                                                                         \
        err[0] = 0;                                                                                   \
        int rc_ = y5_zip_open(&z, b, n, err, sizeof err);                                             \
        if (rc_ == 0) y5_zip_close(&z);                                                               \
        T_CHECK(rc_ != 0 && strstr(err, want), "%s: rc %d, '%s' (want '%s')", label, rc_, err, want); \
    } while (0)
    DAMAGE("cd offset", (b[eocd + 16] = 0xff, b[eocd + 19] = 0x7f), "central directory");
    DAMAGE("cd size", b[eocd + 14] = 0x10, "central directory");
    DAMAGE("entry count", (b[eocd + 10] = 0xf0, b[eocd + 8] = 0xf0), "entries");
    DAMAGE("multi disk", b[eocd + 4] = 1, "multi-disk");
    DAMAGE("central sig", b[good[eocd + 16] | (good[eocd + 17] << 8)] = 'X', "central directory entry 0");
    {
        size_t cd = good[eocd + 16] | (good[eocd + 17] << 8);
        DAMAGE("local offset", b[cd + 42] = 0x7f, "local header");
        DAMAGE("csize", (b[cd + 20] = 0xff, b[cd + 21] = 0xff, b[cd + 22] = 0xff), "data of 'archive/data.pkl'");
        DAMAGE("name length", (b[cd + 28] = 0xff, b[cd + 29] = 0xff), "overruns");
    }
    DAMAGE("local sig", b[0] = 'Q', "local header");
#undef DAMAGE
    free(b);
    free(good);
}

T_TEST(zip_fuzz) {
    t_zip_item it[3];
    sample_items(it);
    uint64_t r = 0x243F6A8885A308D3ull;
    int opened = 0, iters = 4000;
    for (int i = 0; i < iters; i++) {
        size_t n;
        uint8_t *b = t_zip_build(it, 3, i % 2, &n);
        int flips = 1 + i % 5;
        for (int k = 0; k < flips; k++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            size_t at = (size_t)(r % n);
            if (i % 3 == 0 && n > 200) at = n - 1 - (size_t)(r % 200); /* the end records */
            b[at] = (uint8_t)(r >> 32);
        }
        y5_zip z;
        char err[256];
        if (y5_zip_open(&z, b, n, err, sizeof err) == 0) {
            opened++;
            for (size_t k = 0; k < z.n; k++) {
                const uint8_t *d;
                uint64_t sz;
                if (y5_zip_data(&z, &z.entries[k], &d, &sz, err, sizeof err) == 0)
                    T_CHECK(d >= b && d + sz <= b + n, "entry outside the buffer");
            }
            y5_zip_close(&z);
        }
        free(b);
    }
    printf("    %d of %d damaged archives still opened\n", opened, iters);
}

T_TEST(zip_real_checkpoints) {
    T_NEED_SHARED();
    const char *files[2] = {"models/yolov5n.pt", "models/yolov5m-synth.pt"};
    const char *prefix[2] = {"archive/", "yolov5m-synth/"};
    size_t want[2] = {360, 492};
    for (int f = 0; f < 2; f++) {
        size_t n;
        uint8_t *b = t_read_file(t_shared_path(files[f]), &n);
        T_REQUIRE(b, "read %s", files[f]);
        y5_zip z;
        char err[256], name[128];
        T_REQUIRE(y5_zip_open(&z, b, n, err, sizeof err) == 0, "%s: %s", files[f], err);
        T_CHECK(z.n == want[f], "%s: %zu entries", files[f], z.n);
        size_t pl = strlen(prefix[f]);
        int stored = 0, aligned = 0;
        for (size_t k = 0; k < z.n; k++) {
            const y5_zip_entry *e = &z.entries[k];
            T_CHECK(e->name_len > pl && memcmp(e->name, prefix[f], pl) == 0, "entry outside the folder");
            stored += e->method == 0;
            aligned += (e->data_off & 63u) == 0;
        }
        T_CHECK(stored == (int)z.n && aligned == (int)z.n, "%d stored, %d aligned of %zu", stored, aligned, z.n);
        snprintf(name, sizeof name, "%sdata.pkl", prefix[f]);
        const y5_zip_entry *e = y5_zip_find(&z, name);
        const uint8_t *d;
        uint64_t sz;
        T_REQUIRE(e && y5_zip_data(&z, e, &d, &sz, err, sizeof err) == 0, "data.pkl");
        T_CHECK(y5_zip_crc32(d, sz) == e->crc32, "data.pkl crc");
        T_CHECK(sz > 2 && d[0] == 0x80 && d[1] == 2, "pickle protocol 2");
        snprintf(name, sizeof name, "%sversion", prefix[f]);
        e = y5_zip_find(&z, name);
        T_CHECK(e && y5_zip_data(&z, e, &d, &sz, err, sizeof err) == 0 && sz >= 1 && d[0] == '3', "version");
        y5_zip_close(&z);
        free(b);
    }
}
