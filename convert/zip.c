/* zip.c - zip reader for torch.save archives (see zip.h).
 *
 * Layout reminders (PKWARE APPNOTE): the end of central directory record
 * (EOCD, "PK\5\6", 22 bytes + comment) ends the file; when any of its fields
 * overflows, or the writer chose ZIP64 (torch does), a ZIP64 EOCD locator
 * ("PK\6\7", 20 bytes) sits right before it and points at the ZIP64 EOCD
 * record ("PK\6\6"). The central directory holds one 46-byte header ("PK\1\2")
 * + name + extra + comment per entry; 0xFFFFFFFF sizes/offsets are then in
 * the ZIP64 extra field (id 1) in the order usize, csize, offset. Each entry's
 * data follows its local header ("PK\3\4", 30 bytes + name + extra); torch
 * sets flag bit 3 (sizes in a data descriptor after the data) and leaves the
 * local sizes 0, so the central directory's sizes are the ones used. */
#include "convert/zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static int zfail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int zfail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* [off, off+n) inside a buffer of len bytes, without overflow. */
static int in_buf(uint64_t off, uint64_t n, size_t len) { return off <= len && n <= (uint64_t)len - off; }

/* A printable, bounded copy of an entry name for messages. */
static void name_for_msg(char *dst, size_t dstlen, const char *name, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)name[i];
        dst[k++] = (c >= 32 && c < 127) ? (char)c : '?';
    }
    if (n > k && k >= 4 && dstlen > 4) memcpy(dst + k - 3, "...", 3);
    dst[k < dstlen ? k : dstlen - 1] = 0;
}

int y5_zip_open(y5_zip *z, const void *vbuf, size_t len, char *err, size_t errlen) {
    const uint8_t *buf = vbuf;
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    int looks_zip = len >= 4 && rd32(buf) == SIG_LOCAL;
    if (len < 22) {
        if (looks_zip) return zfail(err, errlen, "truncated or damaged zip archive (%zu bytes)", len);
        return zfail(err, errlen, "not a zip archive");
    }

    /* find the EOCD: scan back over at most a 65535-byte comment */
    size_t eocd = (size_t)-1;
    size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > lo;) {
        if (rd32(buf + i) == SIG_EOCD && (uint64_t)i + 22 + rd16(buf + i + 20) <= len) {
            eocd = i;
            break;
        }
    }
    if (eocd == (size_t)-1) {
        if (looks_zip)
            return zfail(err, errlen, "truncated or damaged zip archive (end of central directory not found)");
        return zfail(err, errlen, "not a zip archive");
    }
    const uint8_t *e = buf + eocd;
    uint64_t n_entries = rd16(e + 10);
    uint64_t cd_size = rd32(e + 12);
    uint64_t cd_off = rd32(e + 16);
    uint16_t disk = rd16(e + 4), cd_disk = rd16(e + 6);
    if ((disk != 0 && disk != 0xffff) || (cd_disk != 0 && cd_disk != 0xffff))
        return zfail(err, errlen, "multi-disk zip archives are not supported");

    /* ZIP64 */
    if (eocd >= 20 && rd32(buf + eocd - 20) == SIG_LOC64) {
        uint64_t off64 = rd64(buf + eocd - 20 + 8);
        if (!in_buf(off64, 56, len) || rd32(buf + off64) != SIG_EOCD64)
            return zfail(err, errlen, "truncated or damaged zip archive (bad ZIP64 end record)");
        const uint8_t *e64 = buf + off64;
        n_entries = rd64(e64 + 32);
        cd_size = rd64(e64 + 40);
        cd_off = rd64(e64 + 48);
    } else if (n_entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        return zfail(err, errlen, "truncated or damaged zip archive (ZIP64 locator missing)");
    }
    if (!in_buf(cd_off, cd_size, len))
        return zfail(err, errlen,
                     "truncated or damaged zip archive (central directory at %llu+%llu, file has %zu bytes)",
                     (unsigned long long)cd_off, (unsigned long long)cd_size, len);
    if (n_entries > cd_size / 46)
        return zfail(err, errlen, "truncated or damaged zip archive (%llu entries cannot fit in %llu bytes)",
                     (unsigned long long)n_entries, (unsigned long long)cd_size);
    if (n_entries == 0) return 0;
    z->entries = calloc((size_t)n_entries, sizeof *z->entries);
    if (!z->entries) return zfail(err, errlen, "out of memory");

    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t k = 0; k < n_entries; k++) {
        if (!in_buf(p, 46, len) || p + 46 > end || rd32(buf + p) != SIG_CENTRAL) {
            zfail(err, errlen, "truncated or damaged zip archive (bad central directory entry %llu)",
                  (unsigned long long)k);
            y5_zip_close(z);
            return -1;
        }
        const uint8_t *c = buf + p;
        y5_zip_entry *en = &z->entries[k];
        en->flags = rd16(c + 8);
        en->method = rd16(c + 10);
        en->crc32 = rd32(c + 16);
        en->csize = rd32(c + 20);
        en->size = rd32(c + 24);
        uint16_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        uint64_t lho = rd32(c + 42);
        uint64_t rec = 46u + nlen + xlen + clen;
        if (p + rec > end) {
            zfail(err, errlen, "truncated or damaged zip archive (central directory entry %llu overruns)",
                  (unsigned long long)k);
            y5_zip_close(z);
            return -1;
        }
        en->name = (const char *)c + 46;
        en->name_len = nlen;
        /* ZIP64 extra field */
        const uint8_t *x = c + 46 + nlen, *xend = x + xlen;
        while (xend - x >= 4) {
            uint16_t id = rd16(x), sz = rd16(x + 2);
            if (xend - x - 4 < sz) break;
            if (id == 1) {
                const uint8_t *f = x + 4, *fend = x + 4 + sz;
                int bad = 0;
                if (en->size == 0xffffffffu) {
                    if (fend - f >= 8) { en->size = rd64(f); f += 8; } else bad = 1;
                }
                if (en->csize == 0xffffffffu) {
                    if (fend - f >= 8) { en->csize = rd64(f); f += 8; } else bad = 1;
                }
                if (lho == 0xffffffffu) {
                    if (fend - f >= 8) { lho = rd64(f); f += 8; } else bad = 1;
                }
                if (bad) {
                    zfail(err, errlen, "truncated or damaged zip archive (bad ZIP64 field in entry %llu)",
                          (unsigned long long)k);
                    y5_zip_close(z);
                    return -1;
                }
            }
            x += 4 + sz;
        }
        /* local header */
        char nm[96];
        name_for_msg(nm, sizeof nm, en->name, en->name_len);
        if (!in_buf(lho, 30, len) || rd32(buf + lho) != SIG_LOCAL) {
            zfail(err, errlen, "truncated or damaged zip archive (local header of '%s' missing)", nm);
            y5_zip_close(z);
            return -1;
        }
        uint64_t doff = lho + 30u + rd16(buf + lho + 26) + rd16(buf + lho + 28);
        if (!in_buf(doff, en->csize, len)) {
            zfail(err, errlen, "truncated or damaged zip archive (data of '%s' at %llu+%llu, file has %zu bytes)",
                  nm, (unsigned long long)doff, (unsigned long long)en->csize, len);
            y5_zip_close(z);
            return -1;
        }
        en->data_off = doff;
        p += rec;
    }
    z->n = (size_t)n_entries;
    return 0;
}

void y5_zip_close(y5_zip *z) {
    if (!z) return;
    free(z->entries);
    z->entries = NULL;
    z->n = 0;
}

const y5_zip_entry *y5_zip_find(const y5_zip *z, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < z->n; i++) {
        const y5_zip_entry *e = &z->entries[i];
        if (e->name_len == n && memcmp(e->name, name, n) == 0) return e;
    }
    return NULL;
}

int y5_zip_data(const y5_zip *z, const y5_zip_entry *e, const uint8_t **data, uint64_t *size, char *err,
                size_t errlen) {
    char nm[96];
    name_for_msg(nm, sizeof nm, e->name, e->name_len);
    if (e->flags & 1u) return zfail(err, errlen, "entry '%s' is encrypted; not supported", nm);
    if (e->method != 0)
        return zfail(err, errlen, "entry '%s' is compressed (method %u); only stored entries are supported", nm,
                     e->method);
    if (e->csize != e->size)
        return zfail(err, errlen, "entry '%s' is damaged (stored, but sizes %llu and %llu differ)", nm,
                     (unsigned long long)e->csize, (unsigned long long)e->size);
    if (!in_buf(e->data_off, e->size, z->len))
        return zfail(err, errlen, "entry '%s' lies outside the archive", nm);
    *data = z->buf + e->data_off;
    *size = e->size;
    return 0;
}

uint32_t y5_zip_crc32(const void *vbuf, size_t len) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const uint8_t *p = vbuf;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) c = table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}
