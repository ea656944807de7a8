/* png_write.c - the streaming PNG encoder of png_write.h.
 *
 * Layout of the output: signature, IHDR, IDAT chunks of at most 1 MiB of
 * zlib data each, IEND. The zlib stream is one deflate block with the fixed
 * Huffman codes (RFC 1951 3.2.6): a dynamic code would save some size but
 * needs the symbol statistics of a whole block first, and speed is the point
 * here. LZ77 is greedy with a one-entry hash of the next 4 bytes, inside one
 * band of rows at a time (the hash forgets older bands, whose bytes are gone:
 * a match never crosses into freed memory, and the loss is a few matches per
 * MiB). The CRC is slice-by-8 and Adler-32 is chunked, so neither shows in
 * the profile next to the matching. */
#include "core/image/png_write.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IDAT_CAP (1u << 20) /* zlib bytes per IDAT chunk */
#define BAND_BYTES (1u << 20) /* filtered bytes compressed per band (at least one row) */
#define HASH_BITS 15
#define WINDOW 32768u
#define MAX_MATCH 258u

static uint32_t crc_tab[8][256];
static uint16_t lit_code[288]; /* fixed Huffman codes, bit-reversed for the LSB-first stream */
static uint8_t lit_len[288];
static uint32_t len_code[MAX_MATCH + 1]; /* length 3..258: symbol code | extra bits << its length */
static uint8_t len_bits[MAX_MATCH + 1];
static uint32_t dist_code[WINDOW + 1]; /* distance 1..32768: 5-bit code | extra bits << 5 */
static uint8_t dist_bits[WINDOW + 1];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static unsigned reverse_bits(unsigned c, int n) {
    unsigned r = 0;
    for (int i = 0; i < n; i++, c >>= 1) r = r << 1 | (c & 1);
    return r;
}

static void init_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][n] = c;
    }
    for (int n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++) crc_tab[k][n] = crc_tab[0][crc_tab[k - 1][n] & 0xff] ^ (crc_tab[k - 1][n] >> 8);
    for (int s = 0; s < 288; s++) {
        unsigned code, n;
        if (s < 144) code = 0x30 + s, n = 8;
        else if (s < 256) code = 0x190 + (s - 144), n = 9;
        else if (s < 280) code = s - 256, n = 7;
        else code = 0xC0 + (s - 280), n = 8;
        lit_code[s] = (uint16_t)reverse_bits(code, (int)n);
        lit_len[s] = (uint8_t)n;
    }
    static const uint16_t lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                       31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const uint8_t lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    for (int j = 0; j < 29; j++) {
        unsigned end = j == 27 ? 258 : j == 28 ? 259 : lbase[j + 1]; /* 258 has its own symbol, 285 */
        for (unsigned L = lbase[j]; L < end; L++) {
            int s = 257 + j;
            len_code[L] = lit_code[s] | (L - lbase[j]) << lit_len[s];
            len_bits[L] = (uint8_t)(lit_len[s] + lext[j]);
        }
    }
    static const uint16_t dbase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,    65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    for (int j = 0; j < 30; j++) {
        unsigned end = j == 29 ? WINDOW + 1 : dbase[j + 1], ext = j < 4 ? 0 : (unsigned)(j / 2 - 1);
        for (unsigned d = dbase[j]; d < end; d++) {
            dist_code[d] = reverse_bits((unsigned)j, 5) | (d - dbase[j]) << 5;
            dist_bits[d] = (uint8_t)(5 + ext);
        }
    }
}

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n) {
    c = ~c;
    while (n >= 8) {
        uint32_t a = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^ crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
            crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

typedef struct {
    y5_png_sink sink;
    void *ctx;
    int failed;
    uint8_t *chunk;   /* [length][IDAT][data ... up to IDAT_CAP + 8][crc] */
    size_t n;         /* data bytes in chunk */
    uint64_t bits;    /* pending output bits, LSB first */
    int nbits;
    uint32_t ad_a, ad_b; /* Adler-32 of the uncompressed (filtered) stream */
} pngw;

/* One whole chunk (length, type, data, CRC) to the sink; buf holds the
 * type at buf[4..8) and the data after it, with 4 spare bytes at the end. */
static void emit_chunk(pngw *w, uint8_t *buf, size_t n) {
    if (w->failed) return;
    put_be32(buf, (uint32_t)n);
    put_be32(buf + 8 + n, crc_update(0, buf + 4, n + 4));
    if (w->sink(w->ctx, buf, n + 12)) w->failed = 1;
}

static void flush_idat(pngw *w) {
    if (w->n == 0) return;
    emit_chunk(w, w->chunk, w->n);
    w->n = 0;
}

/* Adds n (<= 32) bits; moves whole 32-bit words into the chunk. */
static inline void put_bits(pngw *w, uint32_t v, int n) {
    w->bits |= (uint64_t)v << w->nbits;
    w->nbits += n;
    if (w->nbits >= 32) {
        uint8_t *o = w->chunk + 8 + w->n;
        o[0] = (uint8_t)w->bits;
        o[1] = (uint8_t)(w->bits >> 8);
        o[2] = (uint8_t)(w->bits >> 16);
        o[3] = (uint8_t)(w->bits >> 24);
        w->n += 4;
        w->bits >>= 32;
        w->nbits -= 32;
        if (w->n >= IDAT_CAP) flush_idat(w);
    }
}

static void put_byte_aligned(pngw *w, uint8_t b) { /* only when nbits % 8 == 0 */
    put_bits(w, b, 8);
}

static void adler_update(pngw *w, const uint8_t *p, size_t n) {
    uint32_t a = w->ad_a, b = w->ad_b;
    while (n) {
        size_t k = n < 5552 ? n : 5552; /* the most bytes before b can overflow */
        n -= k;
        while (k--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    w->ad_a = a;
    w->ad_b = b;
}

static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Length of the common prefix of a and b, at most max. */
static inline size_t match_len(const uint8_t *a, const uint8_t *b, size_t max) {
    size_t L = 0;
    while (L + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a + L, 8);
        memcpy(&y, b + L, 8);
        if (x != y) return L + (size_t)(__builtin_ctzll(x ^ y) >> 3); /* little-endian: first differing byte */
        L += 8;
    }
    while (L < max && a[L] == b[L]) L++;
    return L;
}

/* LZ77 + fixed Huffman over one band b[0..n) whose first byte is stream
 * position g; head: the hash of the last position (+1) of each 4-byte value. */
static void compress_band(pngw *w, const uint8_t *b, size_t n, uint32_t g, uint32_t *head) {
    size_t i = 0;
    while (i + 4 <= n && !w->failed) {
        uint32_t v = load32(b + i);
        uint32_t h = (v * 2654435761u) >> (32 - HASH_BITS);
        uint32_t c = head[h];
        head[h] = g + (uint32_t)i + 1;
        if (c > g) { /* in this band */
            size_t cp = c - 1 - g, d = i - cp;
            if (d <= WINDOW && load32(b + cp) == v) {
                size_t max = n - i < MAX_MATCH ? n - i : MAX_MATCH;
                size_t L = 4 + match_len(b + cp + 4, b + i + 4, max - 4);
                put_bits(w, len_code[L], len_bits[L]);
                put_bits(w, dist_code[d], dist_bits[d]);
                i += L;
                continue;
            }
        }
        put_bits(w, lit_code[b[i]], lit_len[b[i]]);
        i++;
    }
    for (; i < n; i++) put_bits(w, lit_code[b[i]], lit_len[b[i]]);
}

/* One row filtered (PNG filter type f) into out[0..n); up: the row above
 * (zeros for the first). */
static void filter_row(int f, const uint8_t *x, const uint8_t *up, uint8_t *out, size_t n) {
    size_t i;
    switch (f) {
    case Y5_PNG_FILTER_SUB:
        for (i = 0; i < 3 && i < n; i++) out[i] = x[i];
        for (; i < n; i++) out[i] = (uint8_t)(x[i] - x[i - 3]);
        break;
    case Y5_PNG_FILTER_UP:
        for (i = 0; i < n; i++) out[i] = (uint8_t)(x[i] - up[i]);
        break;
    case Y5_PNG_FILTER_AVG:
        for (i = 0; i < 3 && i < n; i++) out[i] = (uint8_t)(x[i] - (up[i] >> 1));
        for (; i < n; i++) out[i] = (uint8_t)(x[i] - ((x[i - 3] + up[i]) >> 1));
        break;
    case Y5_PNG_FILTER_PAETH:
        for (i = 0; i < 3 && i < n; i++) out[i] = (uint8_t)(x[i] - up[i]); /* a = c = 0: predictor is b */
        for (; i < n; i++) {
            int a = x[i - 3], b = up[i], c = up[i - 3];
            int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
            int pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            out[i] = (uint8_t)(x[i] - pred);
        }
        break;
    default:
        memcpy(out, x, n);
    }
}

int y5_png_write(const y5_image *img, int filter, y5_png_sink sink, void *ctx) {
    pthread_once(&tables_once, init_tables);
    if (filter < Y5_PNG_FILTER_NONE || filter > Y5_PNG_FILTER_PAETH) filter = Y5_PNG_FILTER_UP;
    const size_t rowb = (size_t)img->w * 3, line = rowb + 1;
    size_t band_rows = BAND_BYTES / line;
    if (band_rows < 1) band_rows = 1;
    if (band_rows > (size_t)img->h) band_rows = (size_t)img->h;
    pngw w = {sink, ctx, 0, NULL, 0, 0, 0, 1, 0};
    w.chunk = malloc(IDAT_CAP + 8 + 16);
    uint8_t *band = malloc(band_rows * line);
    uint8_t *zero = calloc(rowb, 1);
    uint32_t *head = calloc((size_t)1 << HASH_BITS, sizeof(uint32_t));
    int rc = -2;
    if (!w.chunk || !band || !zero || !head) goto out;

    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    uint8_t hdr[8 + 13 + 4];
    memcpy(hdr + 4, "IHDR", 4);
    put_be32(hdr + 8, (uint32_t)img->w);
    put_be32(hdr + 12, (uint32_t)img->h);
    hdr[16] = 8; /* bit depth */
    hdr[17] = 2; /* RGB */
    hdr[18] = hdr[19] = hdr[20] = 0; /* deflate, adaptive filtering (per-row type byte), no interlace */
    if (sink(ctx, sig, 8)) w.failed = 1;
    emit_chunk(&w, hdr, 13);

    memcpy(w.chunk + 4, "IDAT", 4);
    put_byte_aligned(&w, 0x78); /* zlib: deflate, 32K window */
    put_byte_aligned(&w, 0x01); /* no preset dictionary, fastest; (0x7801 % 31 == 0) */
    put_bits(&w, 1 | 1 << 1, 3); /* BFINAL = 1, BTYPE = 01: fixed Huffman */
    uint32_t g = 0;
    for (size_t y0 = 0; y0 < (size_t)img->h && !w.failed; y0 += band_rows) {
        size_t nr = (size_t)img->h - y0 < band_rows ? (size_t)img->h - y0 : band_rows;
        for (size_t r = 0; r < nr; r++) {
            size_t y = y0 + r;
            const uint8_t *x = img->px + y * rowb, *up = y ? x - rowb : zero;
            band[r * line] = (uint8_t)filter;
            filter_row(filter, x, up, band + r * line + 1, rowb);
        }
        adler_update(&w, band, nr * line);
        compress_band(&w, band, nr * line, g, head);
        g += (uint32_t)(nr * line);
    }
    put_bits(&w, lit_code[256], lit_len[256]); /* end of block */
    if (w.nbits % 8) put_bits(&w, 0, 8 - w.nbits % 8);
    uint32_t adler = w.ad_b << 16 | w.ad_a;
    for (int k = 3; k >= 0; k--) put_byte_aligned(&w, (uint8_t)(adler >> (8 * k)));
    while (w.nbits > 0) { /* the last whole bytes */
        w.chunk[8 + w.n++] = (uint8_t)w.bits;
        w.bits >>= 8;
        w.nbits -= 8;
    }
    flush_idat(&w);
    uint8_t iend[12];
    memcpy(iend + 4, "IEND", 4);
    emit_chunk(&w, iend, 0);
    rc = w.failed ? -1 : 0;
out:
    free(w.chunk);
    free(band);
    free(zero);
    free(head);
    return rc;
}
