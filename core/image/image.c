/* image.c - decode to RGB u8 HWC and encode by extension, through an atomic
 * file write. JPEG (decode and encode) goes through libjpeg-turbo
 * (Debian's libjpeg62-turbo, -ljpeg); every other format through stb_image /
 * stb_image_write (Debian's libstb-dev).
 *
 * Decoding follows cv2.imread (OpenCV 4.6 on libjpeg-turbo, which produced
 * the golden data): the same library with the same parameters, so a JPEG
 * decodes to exactly the bytes cv2.imread gives (golden/<image>_decoded.u8);
 * grey and alpha images become RGB (alpha dropped), and a JPEG's EXIF
 * orientation is applied (cv2.imread does so unless
 * IMREAD_IGNORE_ORIENTATION). */
#include "core/image/image.h"
#include "core/app/output.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include "core/base/errmsg.h"
#include "core/image/png_write.h"

/* Images with more pixels than this are refused before decoding (3 bytes per
 * pixel: 768 MiB of RGB). */
#define Y5_MAX_PIXELS ((int64_t)1 << 28)

static void set_err(char *err, size_t errlen, const char *path, const char *what) {
    y5_fail_path(err, errlen, path, "%s", what);
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

/* ---- JPEG through libjpeg-turbo ----
 *
 * libjpeg reports errors through error_exit, which must not return: here it
 * formats the message and longjmps back to the function that called setjmp.
 * Every object that function changes between setjmp and longjmp lives in a
 * context struct owned by its caller (never in its own automatic
 * variables), so its value is well defined after the jump. */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} y5_jerr;

static void jerr_exit(j_common_ptr c) {
    y5_jerr *e = (y5_jerr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings (level -1) are counted and otherwise silent; trace messages are
 * dropped. "Premature end of JPEG file" (the data ran out and libjpeg would
 * pad the rest with grey) ends the decode as an error: a half-grey picture is
 * not a result a batch tool should report detections on. Other warnings
 * (corrupt entropy data, extraneous bytes) still give a picture, as they do
 * with cv2.imread. */
static void jerr_emit(j_common_ptr c, int level) {
    if (level >= 0) return;
    c->err->num_warnings++;
    if (c->err->msg_code == JWRN_JPEG_EOF) {
        y5_jerr *e = (y5_jerr *)c->err;
        snprintf(e->msg, sizeof e->msg, "premature end of JPEG data; truncated or corrupt file");
        longjmp(e->jb, 1);
    }
}

static void jerr_init(y5_jerr *e) {
    jpeg_std_error(&e->pub);
    e->pub.error_exit = jerr_exit;
    e->pub.emit_message = jerr_emit;
    e->msg[0] = 0;
}

/* The message for "PATH: cannot decode image (MSG)": one line. */
static const char *jerr_text(y5_jerr *e) {
    for (char *q = e->msg; *q; q++)
        if (*q == '\n' || *q == '\r') *q = ' ';
    return e->msg[0] ? e->msg : "unknown libjpeg error";
}

static int is_jpeg(const uint8_t *b, size_t n) { return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }

typedef struct {
    struct jpeg_decompress_struct cinfo;
    y5_jerr err;
    uint8_t *px;  /* RGB output, w * h * 3 */
    uint8_t *row; /* one CMYK row (CMYK / YCCK files only) */
    int too_big;  /* the header's size is over the pixel limit */
} jdec_ctx;

/* Decodes JPEG bytes into ctx->px as RGB with the parameters cv2.imread
 * (OpenCV 4.6) uses: libjpeg's defaults (JDCT_ISLOW, fancy upsampling),
 * grey replicated to three channels by libjpeg, four-component files
 * (CMYK, YCCK) read as CMYK and converted as OpenCV does (below). Returns 0,
 * or -1 with ctx->err.msg set (ctx->too_big for the size limit). The caller
 * destroys ctx->cinfo and frees ctx->px / ctx->row. */
static int jpeg_decode(jdec_ctx *ctx, const uint8_t *bytes, size_t len) {
    struct jpeg_decompress_struct *ci = &ctx->cinfo;
    jerr_init(&ctx->err);
    ci->err = &ctx->err.pub;
    if (setjmp(ctx->err.jb)) return -1;
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, bytes, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    int64_t w = ci->image_width, h = ci->image_height;
    if (w <= 0 || h <= 0 || w * h > Y5_MAX_PIXELS) {
        ctx->too_big = 1;
        return -1;
    }
    int cmyk = ci->num_components == 4;
    ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(ci);
    if (ci->output_width != (JDIMENSION)w || ci->output_height != (JDIMENSION)h ||
        ci->output_components != (cmyk ? 4 : 3)) {
        snprintf(ctx->err.msg, sizeof ctx->err.msg, "unexpected output geometry");
        return -1;
    }
    ctx->px = malloc((size_t)w * (size_t)h * 3);
    if (cmyk) ctx->row = malloc((size_t)w * 4);
    if (!ctx->px || (cmyk && !ctx->row)) {
        snprintf(ctx->err.msg, sizeof ctx->err.msg, "out of memory");
        return -1;
    }
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = ctx->px + (size_t)ci->output_scanline * (size_t)w * 3;
        JSAMPROW r = cmyk ? ctx->row : dst;
        if (jpeg_read_scanlines(ci, &r, 1) != 1) {
            snprintf(ctx->err.msg, sizeof ctx->err.msg, "no scanline decoded");
            return -1;
        }
        if (cmyk) {
            /* OpenCV's CMYK -> BGR (the samples as Adobe writes them,
             * inverted): channel = k - ((255 - v) * k >> 8), for R from C,
             * G from M, B from Y. */
            const uint8_t *s = ctx->row;
            for (int64_t x = 0; x < w; x++, s += 4, dst += 3) {
                int k = s[3];
                dst[0] = (uint8_t)(k - (((255 - s[0]) * k) >> 8));
                dst[1] = (uint8_t)(k - (((255 - s[1]) * k) >> 8));
                dst[2] = (uint8_t)(k - (((255 - s[2]) * k) >> 8));
            }
        }
    }
    jpeg_finish_decompress(ci);
    return 0;
}

/* The size from a JPEG header (no decoding). */
static int jpeg_header_size(jdec_ctx *ctx, const uint8_t *bytes, size_t len, int *w, int *h) {
    struct jpeg_decompress_struct *ci = &ctx->cinfo;
    jerr_init(&ctx->err);
    ci->err = &ctx->err.pub;
    if (setjmp(ctx->err.jb)) return -1;
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, bytes, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    if (ci->image_width == 0 || ci->image_height == 0 || ci->image_width > INT_MAX || ci->image_height > INT_MAX)
        return -1;
    *w = (int)ci->image_width;
    *h = (int)ci->image_height;
    return 0;
}

int y5_image_info_mem(const uint8_t *bytes, size_t len, int *w, int *h) {
    *w = *h = 0;
    if (!bytes || len == 0 || len > (size_t)INT_MAX) return -1;
    if (is_jpeg(bytes, len)) {
        jdec_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        int rc = jpeg_header_size(&ctx, bytes, len, w, h);
        jpeg_destroy_decompress(&ctx.cinfo);
        if (rc) *w = *h = 0;
        return rc;
    }
    int c = 0;
    if (!stbi_info_from_memory(bytes, (int)len, w, h, &c)) { *w = *h = 0; return -1; }
    return 0;
}

static int load_jpeg(const uint8_t *bytes, size_t len, const char *name, y5_image *img, char *err, size_t errlen) {
    char msg[320];
    jdec_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    int rc = jpeg_decode(&ctx, bytes, len);
    if (rc) {
        if (ctx.too_big)
            snprintf(msg, sizeof msg, "image too large (%ux%u; at most %lld pixels)", (unsigned)ctx.cinfo.image_width,
                     (unsigned)ctx.cinfo.image_height, (long long)Y5_MAX_PIXELS);
        else
            snprintf(msg, sizeof msg, "cannot decode image (%s)", jerr_text(&ctx.err));
        set_err(err, errlen, name, msg);
        free(ctx.px);
    } else {
        img->w = (int)ctx.cinfo.output_width;
        img->h = (int)ctx.cinfo.output_height;
        img->px = ctx.px;
    }
    jpeg_destroy_decompress(&ctx.cinfo);
    free(ctx.row);
    return rc;
}


/* stb_image sizes its PNG data buffer from each IDAT chunk's declared length
 * before it reads the chunk, so a 20 KB file claiming a 1 GB chunk makes it
 * reserve 2 GB (found by tests/fuzz/fuzz_image). Walk the chunks first: every
 * declared length must fit in what the file holds. 0 = fine (or not a PNG),
 * else 1 with the problem in msg. */
static int png_chunks_bad(const uint8_t *b, size_t len, char *msg, size_t cap) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (len < 8 || memcmp(b, sig, 8)) return 0;
    size_t off = 8;
    while (off + 8 <= len) {
        uint32_t n = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 | (uint32_t)b[off + 2] << 8 | b[off + 3];
        if ((uint64_t)n + 12 > len - off) {
            snprintf(msg, cap, "cannot decode image (PNG chunk '%c%c%c%c' claims %u bytes, the file holds %zu more; "
                     "truncated or corrupt file?)", b[off + 4] >= 32 && b[off + 4] < 127 ? b[off + 4] : '?',
                     b[off + 5] >= 32 && b[off + 5] < 127 ? b[off + 5] : '?',
                     b[off + 6] >= 32 && b[off + 6] < 127 ? b[off + 6] : '?',
                     b[off + 7] >= 32 && b[off + 7] < 127 ? b[off + 7] : '?', n, len - off - 8);
            return 1;
        }
        if (!memcmp(b + off + 4, "IEND", 4)) return 0;
        off += (size_t)n + 12;
    }
    return 0; /* ends without IEND: stb decides (it reports truncation itself) */
}

int y5_image_load_mem(const uint8_t *bytes, size_t len, const char *name, y5_image *img, char *err, size_t errlen) {
    char msg[256];
    img->w = img->h = 0;
    img->px = NULL;
    if (!name) name = "(memory)";
    if (!bytes || len == 0) { set_err(err, errlen, name, "empty file"); return -1; }
    if (len > (size_t)INT_MAX) { set_err(err, errlen, name, "file too large to decode (over 2 GiB)"); return -1; }
    if (is_jpeg(bytes, len)) {
        if (load_jpeg(bytes, len, name, img, err, errlen)) return -1;
        int o = y5_jpeg_exif_orientation(bytes, len);
        if (o > 1 && apply_orientation(img, o)) {
            y5_image_free(img);
            set_err(err, errlen, name, "out of memory");
            return -1;
        }
        return 0;
    }
    /* every other format: stb_image (never a JPEG) */
    if (png_chunks_bad(bytes, len, msg, sizeof msg)) {
        set_err(err, errlen, name, msg);
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
                 why && (strstr(why, "corrupt") || strstr(why, "Corrupt") || !strcmp(why, "outofdata") ||
                         strstr(why, "bad"))
                     ? "; truncated or corrupt file?" : "");
        set_err(err, errlen, name, msg);
        return -1;
    }
    /* stb allocates with malloc (the default STBI_MALLOC), so free() works. */
    img->w = w;
    img->h = h;
    img->px = px;
    return 0;
}

uint8_t *y5_image_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    *len = 0;
    uint8_t *b = read_all(path, len);
    if (!b) set_errno(err, errlen, path, errno);
    return b;
}

int y5_image_load(const char *path, y5_image *img, char *err, size_t errlen) {
    img->w = img->h = 0;
    img->px = NULL;
    size_t len = 0;
    uint8_t *b = y5_image_read_file(path, &len, err, errlen);
    if (!b) return -1;
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

static int file_sink(void *ctx, const void *bytes, size_t n) {
    return fwrite(bytes, 1, n, (FILE *)ctx) == n ? 0 : -1;
}

static int ext_is(const char *path, const char *ext) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return 0;
    return strcasecmp(dot + 1, ext) == 0;
}

typedef struct {
    struct jpeg_compress_struct cinfo;
    y5_jerr err;
    struct jpeg_destination_mgr dest;
    uint8_t *buf; /* the encoded bytes so far (always the live buffer) */
    size_t cap, len;
} jenc_ctx;

/* A growing memory destination of our own (libjpeg's jpeg_mem_dest keeps
 * the live buffer to itself until the end, so an error half-way would leave
 * the caller a stale pointer). */
static jenc_ctx *dest_ctx(j_compress_ptr ci) {
    return (jenc_ctx *)((char *)ci->dest - offsetof(jenc_ctx, dest));
}
static void dest_init(j_compress_ptr ci) {
    jenc_ctx *c = dest_ctx(ci);
    c->dest.next_output_byte = c->buf;
    c->dest.free_in_buffer = c->cap;
}
static boolean dest_grow(j_compress_ptr ci) { /* called with the whole buffer full */
    jenc_ctx *c = dest_ctx(ci);
    size_t nc = c->cap * 2;
    uint8_t *nb = realloc(c->buf, nc);
    if (!nb) {
        ci->err->msg_code = JERR_OUT_OF_MEMORY;
        ci->err->error_exit((j_common_ptr)ci);
    }
    c->buf = nb;
    c->dest.next_output_byte = nb + c->cap;
    c->dest.free_in_buffer = nc - c->cap;
    c->cap = nc;
    return TRUE;
}
static void dest_term(j_compress_ptr ci) {
    jenc_ctx *c = dest_ctx(ci);
    c->len = c->cap - c->dest.free_in_buffer;
}

/* Encodes RGB as cv2.imwrite does by default: baseline JPEG, quality 95,
 * YCbCr 4:2:0, JDCT_ISLOW, no Huffman optimisation (libjpeg's defaults). The
 * caller destroys ctx->cinfo and frees ctx->buf. */
static int jpeg_encode(jenc_ctx *ctx, const y5_image *img) {
    struct jpeg_compress_struct *ci = &ctx->cinfo;
    jerr_init(&ctx->err);
    ci->err = &ctx->err.pub;
    if (setjmp(ctx->err.jb)) return -1;
    jpeg_create_compress(ci);
    /* a first guess of 1 byte per pixel (q95 photos take 0.3-0.6) */
    ctx->cap = (size_t)img->w * (size_t)img->h + 4096;
    ctx->buf = malloc(ctx->cap);
    if (!ctx->buf) {
        snprintf(ctx->err.msg, sizeof ctx->err.msg, "out of memory");
        return -1;
    }
    ctx->dest.init_destination = dest_init;
    ctx->dest.empty_output_buffer = dest_grow;
    ctx->dest.term_destination = dest_term;
    ci->dest = &ctx->dest;
    ci->image_width = (JDIMENSION)img->w;
    ci->image_height = (JDIMENSION)img->h;
    ci->input_components = 3;
    ci->in_color_space = JCS_RGB;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, 95, TRUE);
    ci->comp_info[0].h_samp_factor = 2; /* 4:2:0 (also libjpeg's default) */
    ci->comp_info[0].v_samp_factor = 2;
    ci->comp_info[1].h_samp_factor = ci->comp_info[1].v_samp_factor = 1;
    ci->comp_info[2].h_samp_factor = ci->comp_info[2].v_samp_factor = 1;
    jpeg_start_compress(ci, TRUE);
    while (ci->next_scanline < ci->image_height) {
        JSAMPROW r = img->px + (size_t)ci->next_scanline * (size_t)img->w * 3;
        jpeg_write_scanlines(ci, &r, 1);
    }
    jpeg_finish_compress(ci);
    return 0;
}

int y5_image_write(const char *path, const y5_image *img, char *err, size_t errlen) {
    if (!img || !img->px || img->w <= 0 || img->h <= 0 || (int64_t)img->w * img->h > Y5_MAX_PIXELS) {
        set_err(err, errlen, path, "no image to write");
        return -1;
    }
    if (!ext_is(path, "png") && !ext_is(path, "bmp")) { /* .jpg, .jpeg and anything else */
        if (img->w > JPEG_MAX_DIMENSION || img->h > JPEG_MAX_DIMENSION) {
            set_err(err, errlen, path, "image too large for JPEG (over 65500 pixels on a side)");
            return -1;
        }
        jenc_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        int rc = jpeg_encode(&ctx, img);
        if (rc || ctx.len == 0) {
            char msg[320];
            snprintf(msg, sizeof msg, "JPEG encoding failed (%s)", rc ? jerr_text(&ctx.err) : "no output");
            set_err(err, errlen, path, msg);
            rc = -1;
        } else {
            rc = y5_write_file_atomic(path, ctx.buf, ctx.len, err, errlen);
        }
        jpeg_destroy_compress(&ctx.cinfo);
        free(ctx.buf);
        return rc;
    }
    if (ext_is(path, "png")) { /* streamed straight into the file: png_write.h says why not stb */
        y5_atomic_file a;
        if (y5_atomic_open(&a, path, err, errlen)) return -1;
        errno = 0;
        int rc = y5_png_write(img, Y5_PNG_FILTER_DEFAULT, file_sink, a.f);
        if (rc) {
            int e = errno ? errno : EIO;
            y5_atomic_abort(&a);
            if (rc == -2) set_err(err, errlen, path, "out of memory while encoding");
            else set_errno(err, errlen, path, e);
            return -1;
        }
        return y5_atomic_commit(&a, err, errlen);
    }
    membuf m = {0};
    int ok = stbi_write_bmp_to_func(membuf_put, &m, img->w, img->h, 3, img->px);
    if (!ok || m.oom || m.n == 0) {
        free(m.p);
        set_err(err, errlen, path, m.oom ? "out of memory while encoding" : "image encoding failed");
        return -1;
    }
    int rc = y5_write_file_atomic(path, m.p, m.n, err, errlen);
    free(m.p);
    return rc;
}
