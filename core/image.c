/* image.c - decode (stb_image, any format it reads) to RGB u8 HWC, encode by
 * extension (stb_image_write) through an atomic file write.
 *
 * Decoding follows cv2.imread where it matters for detection parity: grey and
 * alpha images become RGB (alpha dropped), and a JPEG's EXIF orientation is
 * applied (cv2.imread does so unless IMREAD_IGNORE_ORIENTATION). The pixel
 * values themselves differ from libjpeg's by up to a few levels (stb's IDCT
 * and chroma upsampling are not libjpeg's; golden/README.md measures it). */
#include "image.h"
#include "output.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>

/* Images with more pixels than this are refused before decoding (3 bytes per
 * pixel: 768 MiB of RGB). */
#define Y5_MAX_PIXELS ((int64_t)1 << 28)

static void set_err(char *err, size_t errlen, const char *path, const char *what) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, what);
}

/* strerror with a lower-case first letter ("no such file or directory"). */
static void set_errno(char *err, size_t errlen, const char *path, int e) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", strerror(e));
    if (buf[0] && isupper((unsigned char)buf[0]) && !(buf[1] && isupper((unsigned char)buf[1])))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    set_err(err, errlen, path, buf);
}

/* Reads a whole file. Returns malloc'd bytes or NULL (errno set). */
static uint8_t *read_all(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); errno = e; return NULL; }
    if (S_ISDIR(st.st_mode)) { close(fd); errno = EISDIR; return NULL; }
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    uint8_t *b = malloc(cap);
    if (!b) { close(fd); errno = ENOMEM; return NULL; }
    for (;;) {
        if (n == cap) {
            size_t nc = cap * 2;
            uint8_t *nb = realloc(b, nc);
            if (!nb) { free(b); close(fd); errno = ENOMEM; return NULL; }
            b = nb;
            cap = nc;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(b);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return b;
}

/* ---- EXIF orientation (JPEG APP1) ---- */

static unsigned rd16(const uint8_t *p, int le) { return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The orientation tag (1..8) of a JPEG's first Exif APP1 segment, 1 when
 * absent or unreadable. Walks the marker segments up to the first SOS. */
int y5_jpeg_exif_orientation(const uint8_t *b, size_t n) {
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return 1;
    size_t p = 2;
    while (p + 4 <= n) {
        if (b[p] != 0xFF) return 1;
        unsigned m = b[p + 1];
        if (m == 0xFF) { p++; continue; }                 /* fill byte */
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { p += 2; continue; }
        if (m == 0xDA || m == 0xD9) return 1;             /* scan data: no Exif before it */
        size_t len = (size_t)b[p + 2] << 8 | b[p + 3];
        if (len < 2 || p + 2 + len > n) return 1;
        const uint8_t *s = b + p + 4;
        size_t sl = len - 2;
        if (m == 0xE1 && sl >= 14 && !memcmp(s, "Exif\0\0", 6)) {
            const uint8_t *t = s + 6;                      /* TIFF header */
            size_t tl = sl - 6;
            int le;
            if (t[0] == 'I' && t[1] == 'I') le = 1;
            else if (t[0] == 'M' && t[1] == 'M') le = 0;
            else return 1;
            if (rd16(t + 2, le) != 42) return 1;
            uint32_t ifd = rd32(t + 4, le);
            if ((uint64_t)ifd + 2 > tl) return 1;
            unsigned cnt = rd16(t + ifd, le);
            for (unsigned i = 0; i < cnt; i++) {
                uint64_t e = (uint64_t)ifd + 2 + 12ull * i;
                if (e + 12 > tl) return 1;
                if (rd16(t + e, le) == 0x0112) {
                    unsigned type = rd16(t + e + 2, le);
                    unsigned v = type == 3 ? rd16(t + e + 8, le) : type == 4 ? (unsigned)rd32(t + e + 8, le) : 1;
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        p += 2 + len;
    }
    return 1;
}

/* Applies orientation o (EXIF 1..8) as cv2.imread does (flip / transpose). */
static int apply_orientation(y5_image *img, int o) {
    if (o <= 1 || o > 8) return 0;
    int w = img->w, h = img->h;
    int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    uint8_t *out = malloc((size_t)ow * oh * 3);
    if (!out) return -1;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;                /* flip horizontally */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;        /* rotate 180 */
            case 4: sx = x; sy = h - 1 - y; break;                /* flip vertically */
            case 5: sx = y; sy = x; break;                        /* transpose */
            case 6: sx = y; sy = h - 1 - x; break;                /* rotate 90 clockwise */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;        /* transverse */
            default: sx = w - 1 - y; sy = x; break;               /* 8: rotate 90 counter-clockwise */
            }
            const uint8_t *s = img->px + ((size_t)sy * w + sx) * 3;
            uint8_t *d = out + ((size_t)y * ow + x) * 3;
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
        }
    }
    free(img->px);
    img->px = out;
    img->w = ow;
    img->h = oh;
    return 0;
}

/* stb_image 2.27 (Debian's) writes past its Huffman size table when a DHT
 * segment declares more than 256 codes (found by tests/test_fuzz.c under
 * UBSan). Reject such files before stb sees them: every FF C4 marker in a
 * JPEG starts a DHT segment (entropy-coded bytes stuff FF as FF 00), whose
 * tables must each hold at most 256 codes and fit in the segment. */
static int jpeg_huffman_tables_ok(const uint8_t *b, size_t len) {
    if (len < 2 || b[0] != 0xFF || b[1] != 0xD8) return 1; /* not a JPEG */
    for (size_t i = 2; i + 3 < len; i++) {
        if (b[i] != 0xFF || b[i + 1] != 0xC4) continue;
        size_t seg = (size_t)b[i + 2] << 8 | b[i + 3], p = i + 4, end = i + 2 + seg;
        if (seg < 2 || end > len) return 0;
        while (p < end) {
            if (p + 17 > end) return 0;
            unsigned total = 0;
            for (int k = 0; k < 16; k++) total += b[p + 1 + k];
            if (total > 256 || p + 17 + total > end) return 0;
            p += 17 + total;
        }
        i = end - 1;
    }
    return 1;
}

int y5_image_load_mem(const uint8_t *bytes, size_t len, const char *name, y5_image *img, char *err, size_t errlen) {
    char msg[256];
    img->w = img->h = 0;
    img->px = NULL;
    if (!name) name = "(memory)";
    if (!bytes || len == 0) { set_err(err, errlen, name, "empty file"); return -1; }
    if (len > (size_t)INT_MAX) { set_err(err, errlen, name, "file too large to decode (over 2 GiB)"); return -1; }
    if (!jpeg_huffman_tables_ok(bytes, len)) {
        set_err(err, errlen, name, "cannot decode image (corrupt JPEG: bad Huffman table)");
        return -1;
    }
    int w = 0, h = 0, c = 0;
    if (!stbi_info_from_memory(bytes, (int)len, &w, &h, &c)) {
        const char *why = stbi_failure_reason();
        if (why && !strcmp(why, "unknown image type"))
            snprintf(msg, sizeof msg, "not an image (unknown format)");
        else
            snprintf(msg, sizeof msg, "cannot decode image (%s)", why ? why : "unknown error");
        set_err(err, errlen, name, msg);
        return -1;
    }
    if (w <= 0 || h <= 0 || (int64_t)w * h > Y5_MAX_PIXELS) {
        snprintf(msg, sizeof msg, "image too large (%dx%d; at most %lld pixels)", w, h, (long long)Y5_MAX_PIXELS);
        set_err(err, errlen, name, msg);
        return -1;
    }
    int cn = 0;
    uint8_t *px = stbi_load_from_memory(bytes, (int)len, &w, &h, &cn, 3);
    if (!px) {
        const char *why = stbi_failure_reason();
        snprintf(msg, sizeof msg, "cannot decode image (%s%s)", why ? why : "unknown error",
                 why && (!strcmp(why, "expected marker") || strstr(why, "corrupt") || strstr(why, "Corrupt") ||
                         !strcmp(why, "outofdata") || strstr(why, "bad"))
                     ? "; truncated or corrupt file?" : "");
        set_err(err, errlen, name, msg);
        return -1;
    }
    /* stb allocates with malloc (the default STBI_MALLOC), so free() works. */
    img->w = w;
    img->h = h;
    img->px = px;
    int o = y5_jpeg_exif_orientation(bytes, len);
    if (o > 1 && apply_orientation(img, o)) {
        y5_image_free(img);
        set_err(err, errlen, name, "out of memory");
        return -1;
    }
    return 0;
}

int y5_image_load(const char *path, y5_image *img, char *err, size_t errlen) {
    img->w = img->h = 0;
    img->px = NULL;
    size_t len = 0;
    uint8_t *b = read_all(path, &len);
    if (!b) { set_errno(err, errlen, path, errno); return -1; }
    int rc = y5_image_load_mem(b, len, path, img, err, errlen);
    free(b);
    return rc;
}

void y5_image_free(y5_image *img) {
    if (!img) return;
    free(img->px);
    img->px = NULL;
    img->w = img->h = 0;
}

/* ---- encoding ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} membuf;

static void membuf_put(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->oom || size <= 0) return;
    if (m->n + (size_t)size > m->cap) {
        size_t nc = m->cap ? m->cap : 1 << 16;
        while (nc < m->n + (size_t)size) nc *= 2;
        uint8_t *np = realloc(m->p, nc);
        if (!np) { m->oom = 1; return; }
        m->p = np;
        m->cap = nc;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static int ext_is(const char *path, const char *ext) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return 0;
    return strcasecmp(dot + 1, ext) == 0;
}

int y5_image_write(const char *path, const y5_image *img, char *err, size_t errlen) {
    if (!img || !img->px || img->w <= 0 || img->h <= 0 || (int64_t)img->w * img->h > Y5_MAX_PIXELS) {
        set_err(err, errlen, path, "no image to write");
        return -1;
    }
    membuf m = {0};
    int ok;
    if (ext_is(path, "png"))
        ok = stbi_write_png_to_func(membuf_put, &m, img->w, img->h, 3, img->px, img->w * 3);
    else if (ext_is(path, "bmp"))
        ok = stbi_write_bmp_to_func(membuf_put, &m, img->w, img->h, 3, img->px);
    else /* .jpg, .jpeg and anything else */
        ok = stbi_write_jpg_to_func(membuf_put, &m, img->w, img->h, 3, img->px, 95);
    if (!ok || m.oom || m.n == 0) {
        free(m.p);
        set_err(err, errlen, path, m.oom ? "out of memory while encoding" : "image encoding failed");
        return -1;
    }
    int rc = y5_write_file_atomic(path, m.p, m.n, err, errlen);
    free(m.p);
    return rc;
}
