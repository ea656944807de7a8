/* test_image.c - decoding (real, truncated, bogus files), encoding round
 * trips, EXIF orientation, drawing robustness. */
#include "tests/t.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "core/image/draw.h"
#include "core/image/image.h"

static const char *tp(const char *name) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 1024, "%s/%s", t_tmpdir(), name);
    return b;
}

T_TEST(image_decode_real_jpegs) {
    T_NEED_SHARED();
    y5_image img;
    char err[512];
    T_REQUIRE(y5_image_load(t_shared_path("images/bus.jpg"), &img, err, sizeof err) == 0, "%s", err);
    T_CHECK(img.w == 810 && img.h == 1080 && img.px, "bus %dx%d", img.w, img.h);
    y5_image_free(&img);
    T_CHECK(img.px == NULL && img.w == 0, "free clears");
    T_REQUIRE(y5_image_load(t_shared_path("images/zidane.jpg"), &img, err, sizeof err) == 0, "%s", err);
    T_CHECK(img.w == 1280 && img.h == 720, "zidane %dx%d", img.w, img.h);
    y5_image_free(&img);
    T_REQUIRE(y5_image_load(t_shared_path("data/coco64/images/000000000009.jpg"), &img, err, sizeof err) == 0, "%s",
              err);
    T_CHECK(img.w > 0 && img.h > 0, "coco");
    y5_image_free(&img);
}

T_TEST(image_decode_errors_are_clean) {
    y5_image img = {0, 0, NULL};
    char err[512];
    /* missing */
    const char *p = tp("missing.jpg");
    T_CHECK(y5_image_load(p, &img, err, sizeof err) == -1 && img.px == NULL, "missing must fail");
    char want[1200];
    snprintf(want, sizeof want, "%s: no such file or directory", p);
    T_CHECK(!strcmp(err, want), "message: %s", err);
    /* a text file */
    p = tp("notes.jpg");
    T_REQUIRE(t_write_file(p, "just some text, not an image\n", 29) == 0, "write");
    T_CHECK(y5_image_load(p, &img, err, sizeof err) == -1 && img.px == NULL, "text must fail");
    T_CHECK(strstr(err, p) == err && strstr(err, "not an image"), "message: %s", err);
    /* empty */
    p = tp("empty.png");
    T_REQUIRE(t_write_file(p, "", 0) == 0, "write");
    T_CHECK(y5_image_load(p, &img, err, sizeof err) == -1, "empty must fail");
    T_CHECK(strstr(err, "empty"), "message: %s", err);
    /* a folder */
    T_CHECK(y5_image_load(t_tmpdir(), &img, err, sizeof err) == -1, "folder must fail");
    T_CHECK(strstr(err, "directory"), "message: %s", err);
    /* a truncated JPEG at several lengths */
    if (t_shared()) {
        size_t len = 0;
        uint8_t *jpg = t_read_file(t_shared_path("images/bus.jpg"), &len);
        T_REQUIRE(jpg && len > 1000, "bus.jpg");
        const size_t cuts[] = {len - 2, len / 2, 2000, 100, 3};
        for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
            p = tp("cut.jpg");
            T_REQUIRE(t_write_file(p, jpg, cuts[k]) == 0, "write");
            err[0] = 0;
            int rc = y5_image_load(p, &img, err, sizeof err);
            T_CHECK(rc == -1 && img.px == NULL && strstr(err, p) == err, "cut at %zu: rc %d, %s", cuts[k], rc, err);
            y5_image_free(&img);
        }
        /* and from memory */
        T_CHECK(y5_image_load_mem(jpg, len / 3, "mem.jpg", &img, err, sizeof err) == -1 &&
                    !strncmp(err, "mem.jpg: ", 9),
                "mem: %s", err);
        free(jpg);
    }
    /* a PNG header claiming an absurd size */
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                  0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0xC0, 0x00, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    T_CHECK(y5_image_load_mem(png, sizeof png, "huge.png", &img, err, sizeof err) == -1, "huge must fail");
    T_CHECK(strstr(err, "huge.png: ") == err, "message: %s", err);
}

static void fill_pattern(y5_image *img, int w, int h) {
    img->w = w;
    img->h = h;
    img->px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = (uint8_t)((x * 7 + y * 13) & 255);
        }
}

T_TEST(image_write_read_round_trip) {
    y5_image a, b;
    char err[512];
    fill_pattern(&a, 37, 23);
    T_REQUIRE(a.px, "oom");
    const char *exts[] = {"png", "bmp", "PNG"};
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "rt.%s", exts[k]);
        const char *p = tp(name);
        T_REQUIRE(y5_image_write(p, &a, err, sizeof err) == 0, "%s", err);
        T_REQUIRE(y5_image_load(p, &b, err, sizeof err) == 0, "%s", err);
        T_CHECK(b.w == a.w && b.h == a.h && !memcmp(a.px, b.px, (size_t)a.w * a.h * 3), "%s round trip exact", exts[k]);
        y5_image_free(&b);
    }
    /* JPEG (quality 95): same size, close pixels; unknown extension -> JPEG */
    const char *jp[] = {"rt.jpg", "rt.out"};
    for (int k = 0; k < 2; k++) {
        const char *p = tp(jp[k]);
        T_REQUIRE(y5_image_write(p, &a, err, sizeof err) == 0, "%s", err);
        size_t len = 0;
        uint8_t *bytes = t_read_file(p, &len);
        T_CHECK(bytes && len > 2 && bytes[0] == 0xFF && bytes[1] == 0xD8, "%s is a JPEG", jp[k]);
        free(bytes);
        T_REQUIRE(y5_image_load(p, &b, err, sizeof err) == 0, "%s", err);
        double mad = 0;
        for (size_t i = 0; i < (size_t)a.w * a.h * 3; i++) mad += abs((int)a.px[i] - (int)b.px[i]);
        mad /= (double)a.w * a.h * 3;
        T_CHECK(b.w == a.w && b.h == a.h && mad < 6.0, "%s: %dx%d mean |d| %.2f", jp[k], b.w, b.h, mad);
        y5_image_free(&b);
    }
    /* unwritable destination: clean error */
    T_CHECK(y5_image_write(tp("no/dir/x.png"), &a, err, sizeof err) == -1, "missing folder must fail");
    y5_image none = {0, 0, NULL};
    T_CHECK(y5_image_write(tp("none.png"), &none, err, sizeof err) == -1, "empty image must fail");
    y5_image_free(&a);
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        se += d * d;
    }
    return se == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

/* A smooth synthetic picture (gradients and soft blobs). */
static void fill_smooth(y5_image *img, int w, int h) {
    img->w = w;
    img->h = h;
    img->px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->px + ((size_t)y * w + x) * 3;
            double u = (double)x / w, v = (double)y / h;
            p[0] = (uint8_t)(40 + 180 * u);
            p[1] = (uint8_t)(30 + 150 * v + 40 * sin(6 * u));
            p[2] = (uint8_t)(128 + 100 * cos(5 * u + 3 * v));
        }
}

T_TEST(image_jpeg_round_trip_psnr) {
    y5_image a, b;
    char err[512];
    const char *p = tp("psnr.jpg");
    for (int k = 0; k < 2; k++) {
        if (k == 0) fill_smooth(&a, 321, 203); /* odd sizes: partial MCUs */
        else {
            if (!t_shared()) break;
            T_REQUIRE(y5_image_load(t_shared_path("images/bus.jpg"), &a, err, sizeof err) == 0, "%s", err);
        }
        T_REQUIRE(a.px, "oom");
        T_REQUIRE(y5_image_write(p, &a, err, sizeof err) == 0, "%s", err);
        T_REQUIRE(y5_image_load(p, &b, err, sizeof err) == 0, "%s", err);
        T_REQUIRE(b.w == a.w && b.h == a.h, "%dx%d -> %dx%d", a.w, a.h, b.w, b.h);
        double q = psnr(a.px, b.px, (size_t)a.w * a.h * 3);
        printf("    %s q95 round trip: PSNR %.2f dB\n", k ? "bus.jpg" : "synthetic", q);
        T_CHECK(q > 35.0, "PSNR %.2f dB", q);
        y5_image_free(&b);
        y5_image_free(&a);
    }
    /* what cv2.imwrite writes by default: baseline, quality 95, 4:2:0 */
    size_t len = 0;
    uint8_t *bytes = t_read_file(p, &len);
    T_REQUIRE(bytes, "read");
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr je;
    ci.err = jpeg_std_error(&je);
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, bytes, (unsigned long)len);
    T_REQUIRE(jpeg_read_header(&ci, TRUE) == JPEG_HEADER_OK, "header");
    T_CHECK(ci.num_components == 3 && ci.jpeg_color_space == JCS_YCbCr, "colour space %d", (int)ci.jpeg_color_space);
    T_CHECK(ci.comp_info[0].h_samp_factor == 2 && ci.comp_info[0].v_samp_factor == 2 &&
                ci.comp_info[1].h_samp_factor == 1 && ci.comp_info[1].v_samp_factor == 1,
            "sampling %dx%d,%dx%d", ci.comp_info[0].h_samp_factor, ci.comp_info[0].v_samp_factor,
            ci.comp_info[1].h_samp_factor, ci.comp_info[1].v_samp_factor);
    /* the standard luminance table scaled for quality 95: 16 -> 2, 11 -> 1 */
    T_CHECK(ci.quant_tbl_ptrs[0] && ci.quant_tbl_ptrs[0]->quantval[0] == 2 && ci.quant_tbl_ptrs[0]->quantval[1] == 1,
            "quant table");
    T_CHECK(!ci.progressive_mode, "baseline");
    int w = 0, h = 0;
    T_CHECK(y5_image_info_mem(bytes, len, &w, &h) == 0 && w == (int)ci.image_width && h == (int)ci.image_height,
            "info %dx%d", w, h);
    T_CHECK(y5_image_info_mem(bytes, 100, &w, &h) == -1 && w == 0 && h == 0, "info of a cut header");
    jpeg_destroy_decompress(&ci);
    free(bytes);
}

/* JPEG bytes written straight with libjpeg: grey (1 component) or CMYK (4,
 * with the Adobe marker libjpeg adds) from samples of that many channels. */
static uint8_t *libjpeg_encode(const uint8_t *px, int w, int h, int comps, size_t *len) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *out = NULL;
    unsigned long n = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, &n);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 98, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)ci.next_scanline * w * comps);
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *len = n;
    return out;
}

T_TEST(image_grey_and_cmyk_jpegs_decode_to_rgb) {
    const int w = 45, h = 31;
    char err[512];
    y5_image img;
    /* grey: replicated into R, G and B (cv2.imread IMREAD_COLOR) */
    uint8_t *g = malloc((size_t)w * h);
    T_REQUIRE(g, "oom");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) g[y * w + x] = (uint8_t)(20 + 4 * x + 2 * y);
    size_t len = 0;
    uint8_t *jpg = libjpeg_encode(g, w, h, 1, &len);
    T_REQUIRE(jpg && len > 100, "encode grey");
    const char *p = tp("grey.jpg");
    T_REQUIRE(t_write_file(p, jpg, len) == 0, "write");
    T_REQUIRE(y5_image_load(p, &img, err, sizeof err) == 0, "%s", err);
    T_CHECK(img.w == w && img.h == h, "grey %dx%d", img.w, img.h);
    int unequal = 0, far = 0;
    for (int i = 0; i < w * h && img.w == w && img.h == h; i++) {
        const uint8_t *q = img.px + (size_t)i * 3;
        unequal += q[0] != q[1] || q[1] != q[2];
        far += abs((int)q[0] - (int)g[i]) > 3;
    }
    T_CHECK(unequal == 0 && far == 0, "grey: %d pixels with unequal channels, %d far from the source", unequal, far);
    y5_image_free(&img);
    free(jpg);
    free(g);
    /* CMYK (Adobe, inverted samples): channel = k - ((255 - v) * k >> 8) as OpenCV */
    const uint8_t cmyk[4] = {200, 100, 30, 180};
    uint8_t *c = malloc((size_t)w * h * 4);
    T_REQUIRE(c, "oom");
    for (int i = 0; i < w * h; i++) memcpy(c + (size_t)i * 4, cmyk, 4);
    jpg = libjpeg_encode(c, w, h, 4, &len);
    T_REQUIRE(jpg && len > 100, "encode cmyk");
    T_REQUIRE(y5_image_load_mem(jpg, len, "cmyk.jpg", &img, err, sizeof err) == 0, "%s", err);
    int want[3];
    for (int k = 0; k < 3; k++) want[k] = cmyk[3] - (((255 - cmyk[k]) * cmyk[3]) >> 8);
    int off = 0;
    for (int i = 0; i < w * h && img.w == w && img.h == h; i++)
        for (int k = 0; k < 3; k++) off += abs((int)img.px[(size_t)i * 3 + k] - want[k]) > 2;
    T_CHECK(img.w == w && img.h == h && off == 0, "cmyk: %dx%d, %d samples off (want %d,%d,%d, got %d,%d,%d)", img.w,
            img.h, off, want[0], want[1], want[2], img.px ? img.px[0] : 0, img.px ? img.px[1] : 0,
            img.px ? img.px[2] : 0);
    y5_image_free(&img);
    free(jpg);
    free(c);
}

/* Damaged JPEGs: one line naming the file, never a picture from a truncated
 * file, never a crash. */
T_TEST(image_corrupt_jpegs_fail_cleanly) {
    y5_image a, img;
    char err[512];
    fill_smooth(&a, 200, 120);
    T_REQUIRE(a.px, "oom");
    const char *p = tp("good.jpg");
    T_REQUIRE(y5_image_write(p, &a, err, sizeof err) == 0, "%s", err);
    y5_image_free(&a);
    size_t len = 0;
    uint8_t *jpg = t_read_file(p, &len);
    T_REQUIRE(jpg && len > 1000, "read");
    uint8_t *m = malloc(len + 64);
    T_REQUIRE(m, "oom");
    /* truncated anywhere in the scan data or the header: "truncated" */
    const size_t cuts[] = {len - 1, len * 3 / 4, len / 2, 700, 200, 20, 4};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        err[0] = 0;
        int rc = y5_image_load_mem(jpg, cuts[k], "cut.jpg", &img, err, sizeof err);
        T_CHECK(rc == -1 && img.px == NULL && !strncmp(err, "cut.jpg: cannot decode image (", 30) &&
                    strstr(err, "truncated") && !strchr(err, '\n'),
                "cut at %zu of %zu: rc %d, %s", cuts[k], len, rc, err);
    }
    /* the whole file without its EOI marker is truncated too */
    T_CHECK(y5_image_load_mem(jpg, len - 2, "noeoi.jpg", &img, err, sizeof err) == -1 && strstr(err, "truncated"),
            "no EOI: %s", err);
    /* a zero-width frame header */
    memcpy(m, jpg, len);
    int patched = 0;
    for (size_t i = 2; i + 9 < len; i++)
        if (m[i] == 0xFF && m[i + 1] == 0xC0) { m[i + 7] = 0; m[i + 8] = 0; patched = 1; break; }
    T_REQUIRE(patched, "no SOF0");
    err[0] = 0;
    T_CHECK(y5_image_load_mem(m, len, "zero.jpg", &img, err, sizeof err) == -1 && img.px == NULL &&
                !strncmp(err, "zero.jpg: cannot decode image (", 31) && !strchr(err, '\n'),
            "zero width: %s", err);
    /* a Huffman table declaring more than 256 codes (what stb_image 2.27
     * overflowed on) */
    memcpy(m, jpg, len);
    patched = 0;
    for (size_t i = 2; i + 20 < len; i++)
        if (m[i] == 0xFF && m[i + 1] == 0xC4) { memset(m + i + 5, 0xFF, 16); patched = 1; break; }
    T_REQUIRE(patched, "no DHT");
    err[0] = 0;
    int rc = y5_image_load_mem(m, len, "dht.jpg", &img, err, sizeof err);
    T_CHECK(rc == -1 && img.px == NULL && !strncmp(err, "dht.jpg: cannot decode image (", 30) && !strchr(err, '\n'),
            "bad DHT: rc %d, %s", rc, err);
    y5_image_free(&img);
    /* the header claims more pixels than the limit: refused before decoding */
    memcpy(m, jpg, len);
    for (size_t i = 2; i + 9 < len; i++)
        if (m[i] == 0xFF && m[i + 1] == 0xC0) { m[i + 5] = 0xFF; m[i + 6] = 0xD0; m[i + 7] = 0xFF; m[i + 8] = 0xD0; break; }
    err[0] = 0;
    T_CHECK(y5_image_load_mem(m, len, "huge.jpg", &img, err, sizeof err) == -1 && strstr(err, "huge.jpg: image too large"),
            "huge: %s", err);
    /* only FF D8 FF is a JPEG: anything else that stb does not know */
    memcpy(m, jpg, len);
    m[2] = 0x00;
    T_CHECK(y5_image_load_mem(m, len, "sig.jpg", &img, err, sizeof err) == -1 && strstr(err, "sig.jpg: not an image"),
            "bad signature: %s", err);
    /* scan data damaged (not truncated): still a picture, as with cv2.imread */
    memcpy(m, jpg, len);
    for (size_t i = len / 2; i < len / 2 + 40; i++) m[i] = (uint8_t)(m[i] * 37 + 11) == 0xFF ? 0 : (uint8_t)(m[i] * 37 + 11);
    rc = y5_image_load_mem(m, len, "noise.jpg", &img, err, sizeof err);
    T_CHECK(rc == 0 ? img.w == 200 && img.h == 120 : strncmp(err, "noise.jpg: ", 11) == 0, "noise: rc %d, %s", rc,
            rc ? err : "");
    y5_image_free(&img);
    free(m);
    free(jpg);
}

/* Every format but JPEG is read by stb; PNG is written by png_write.c, BMP by
 * stb: both written and read
 * back exactly, a damaged PNG refused with stb's reason. */
T_TEST(image_png_goes_through_stb) {
    y5_image a, b;
    char err[512];
    fill_pattern(&a, 33, 17);
    T_REQUIRE(a.px, "oom");
    const char *p = tp("stb.png");
    T_REQUIRE(y5_image_write(p, &a, err, sizeof err) == 0, "%s", err);
    size_t len = 0;
    uint8_t *png = t_read_file(p, &len);
    T_REQUIRE(png && len > 8 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8), "not a PNG");
    T_REQUIRE(y5_image_load_mem(png, len, "stb.png", &b, err, sizeof err) == 0, "%s", err);
    T_CHECK(b.w == 33 && b.h == 17 && !memcmp(a.px, b.px, (size_t)33 * 17 * 3), "PNG exact");
    y5_image_free(&b);
    int w = 0, h = 0;
    T_CHECK(y5_image_info_mem(png, len, &w, &h) == 0 && w == 33 && h == 17, "info %dx%d", w, h);
    err[0] = 0;
    T_CHECK(y5_image_load_mem(png, len / 2, "half.png", &b, err, sizeof err) == -1 && b.px == NULL &&
                !strncmp(err, "half.png: cannot decode image (", 31) && !strchr(err, '\n'),
            "half PNG: %s", err);
    free(png);
    y5_image_free(&a);
}

/* JPEG bytes with an Exif APP1 segment (orientation o) inserted after SOI. */
static uint8_t *with_exif(const uint8_t *jpg, size_t len, int o, int big_endian, size_t *out_len) {
    uint8_t app1[2 + 2 + 6 + 8 + 2 + 12 + 4];
    size_t n = 0;
    app1[n++] = 0xFF;
    app1[n++] = 0xE1;
    size_t seglen = sizeof app1 - 2;
    app1[n++] = (uint8_t)(seglen >> 8);
    app1[n++] = (uint8_t)seglen;
    memcpy(app1 + n, "Exif\0\0", 6);
    n += 6;
    if (big_endian) {
        const uint8_t hdr[8] = {'M', 'M', 0, 42, 0, 0, 0, 8};
        memcpy(app1 + n, hdr, 8);
        n += 8;
        const uint8_t ifd[2 + 12 + 4] = {0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)o, 0, 0, 0, 0, 0, 0};
        memcpy(app1 + n, ifd, sizeof ifd);
        n += sizeof ifd;
    } else {
        const uint8_t hdr[8] = {'I', 'I', 42, 0, 8, 0, 0, 0};
        memcpy(app1 + n, hdr, 8);
        n += 8;
        const uint8_t ifd[2 + 12 + 4] = {1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)o, 0, 0, 0, 0, 0, 0, 0};
        memcpy(app1 + n, ifd, sizeof ifd);
        n += sizeof ifd;
    }
    uint8_t *b = malloc(len + n);
    memcpy(b, jpg, 2);
    memcpy(b + 2, app1, n);
    memcpy(b + 2 + n, jpg + 2, len - 2);
    *out_len = len + n;
    return b;
}

T_TEST(image_exif_orientation_applied) {
    y5_image a, ref, got;
    char err[512];
    fill_pattern(&a, 40, 24);
    const char *p = tp("o.jpg");
    T_REQUIRE(y5_image_write(p, &a, err, sizeof err) == 0, "%s", err);
    size_t len = 0;
    uint8_t *jpg = t_read_file(p, &len);
    T_REQUIRE(jpg, "read");
    T_CHECK(y5_jpeg_exif_orientation(jpg, len) == 1, "no exif -> 1");
    T_REQUIRE(y5_image_load_mem(jpg, len, "plain", &ref, err, sizeof err) == 0, "%s", err);
    const int W = ref.w, H = ref.h;
    for (int o = 1; o <= 8; o++) {
        size_t n = 0;
        uint8_t *b = with_exif(jpg, len, o, o & 1, &n);
        T_CHECK(y5_jpeg_exif_orientation(b, n) == o, "tag %d read back as %d", o, y5_jpeg_exif_orientation(b, n));
        T_REQUIRE(y5_image_load_mem(b, n, "exif", &got, err, sizeof err) == 0, "%s", err);
        int ow = o >= 5 ? H : W, oh = o >= 5 ? W : H;
        T_CHECK(got.w == ow && got.h == oh, "o=%d: %dx%d", o, got.w, got.h);
        int bad = 0;
        for (int y = 0; y < oh && got.w == ow; y++)
            for (int x = 0; x < ow; x++) {
                int sx, sy;
                switch (o) {
                case 1: sx = x; sy = y; break;
                case 2: sx = W - 1 - x; sy = y; break;
                case 3: sx = W - 1 - x; sy = H - 1 - y; break;
                case 4: sx = x; sy = H - 1 - y; break;
                case 5: sx = y; sy = x; break;
                case 6: sx = y; sy = H - 1 - x; break;
                case 7: sx = W - 1 - y; sy = H - 1 - x; break;
                default: sx = W - 1 - y; sy = x; break;
                }
                bad += memcmp(got.px + ((size_t)y * ow + x) * 3, ref.px + ((size_t)sy * W + sx) * 3, 3) != 0;
            }
        T_CHECK(bad == 0, "o=%d: %d pixels misplaced", o, bad);
        y5_image_free(&got);
        free(b);
    }
    /* o=6 rotates clockwise: the original's top-left lands top-right */
    free(jpg);
    y5_image_free(&ref);
    y5_image_free(&a);
}

/* An image with guard bytes around its pixels, to catch writes out of bounds
 * even without ASan. */
typedef struct {
    uint8_t *block;
    y5_image img;
} guarded;

#define GUARD 4096
static void guarded_make(guarded *g, int w, int h) {
    size_t n = (size_t)w * h * 3;
    g->block = malloc(n + 2 * GUARD);
    memset(g->block, 0xA5, n + 2 * GUARD);
    g->img.w = w;
    g->img.h = h;
    g->img.px = g->block + GUARD;
    memset(g->img.px, 0, n);
}
static int guarded_ok(const guarded *g) {
    size_t n = (size_t)g->img.w * g->img.h * 3;
    for (size_t i = 0; i < GUARD; i++)
        if (g->block[i] != 0xA5 || g->block[GUARD + n + i] != 0xA5) return 0;
    return 1;
}

T_TEST(draw_stays_in_bounds) {
    char names[3][64] = {"person", "a very long class name that does not fit anywhere", "caf\xc3\xa9 \x01\xff"};
    y5_det dets[] = {
        {0, 0, 0, 0, 0.9f, 0},
        {-50, -50, 5000, 5000, 0.8f, 1},
        {NAN, 1, INFINITY, -INFINITY, 0.7f, 2},
        {1e30f, -1e30f, 3e9f, 2, 0.6f, 0},
        {2, 2, 1, 1, 0.5f, -3},
        {0, 0, 1, 1, 0.4f, 1000},
    };
    const int sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {2, 3}, {16, 16}, {33, 5}, {640, 480}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        guarded g;
        guarded_make(&g, sizes[s][0], sizes[s][1]);
        T_REQUIRE(g.block, "oom");
        y5_draw_detections(&g.img, dets, (int)(sizeof dets / sizeof dets[0]), (const char(*)[64])names, 3);
        y5_draw_detections(&g.img, dets, 6, NULL, 0);
        const uint8_t c[3] = {1, 2, 3};
        y5_draw_rect(&g.img, -100, -100, 100000, 100000, 7, c);
        y5_draw_rect(&g.img, 5, 5, -5, -5, -1, c);
        y5_draw_rect(&g.img, -2147483647 - 1, -2147483647 - 1, 2147483647, 2147483647, 2147483647, c);
        y5_draw_text(&g.img, -3, -3, "Hello, world! 0.87 \xe2\x82\xac", 3, c);
        y5_draw_text(&g.img, 2147483000, 2147483000, "far away", 1000, c);
        y5_draw_text(&g.img, -2147483000, 0, "far away", 1, c);
        T_CHECK(guarded_ok(&g), "%dx%d: wrote outside the pixels", sizes[s][0], sizes[s][1]);
        free(g.block);
    }
    y5_image none = {0, 0, NULL};
    y5_draw_detections(&none, dets, 1, NULL, 0);
}

T_TEST(draw_box_and_label) {
    guarded g;
    guarded_make(&g, 200, 160);
    memset(g.img.px, 0, (size_t)200 * 160 * 3);
    y5_det d = {40.2f, 60.f, 120.f, 140.f, 0.87f, 3};
    char names[4][64] = {"a", "b", "c", "car"};
    y5_draw_detections(&g.img, &d, 1, (const char(*)[64])names, 4);
    uint8_t col[3];
    y5_class_color(3, col);
    T_CHECK(col[0] == 0xFF && col[1] == 0xB2 && col[2] == 0x1D, "palette[3] FFB21D");
    y5_class_color(23, col);
    T_CHECK(col[0] == 0xFF && col[1] == 0xB2 && col[2] == 0x1D, "palette cycles");
    y5_class_color(-1, col);
    T_CHECK(col[0] == 0xFF && col[1] == 0x37 && col[2] == 0xC7, "negative class wraps");
    y5_class_color(3, col);
    /* lw = max(round((160 + 200 + 3) / 2 * 0.003), 2) = 2: left edge at x = 40 (39..40) */
    const uint8_t *left = g.img.px + ((size_t)100 * 200 + 40) * 3;
    T_CHECK(!memcmp(left, col, 3), "left edge pixel %d,%d,%d", left[0], left[1], left[2]);
    const uint8_t *inside = g.img.px + ((size_t)100 * 200 + 80) * 3;
    T_CHECK(inside[0] == 0 && inside[1] == 0 && inside[2] == 0, "inside untouched");
    /* label above the box: class colour background with white text */
    int white = 0, colour = 0;
    for (int y = 0; y < 60; y++)
        for (int x = 40; x < 120; x++) {
            const uint8_t *p = g.img.px + ((size_t)y * 200 + x) * 3;
            white += p[0] == 255 && p[1] == 255 && p[2] == 255;
            colour += !memcmp(p, col, 3);
        }
    T_CHECK(white > 20 && colour > 200, "label: %d white, %d colour pixels", white, colour);
    int tw = y5_text_width("car 0.87", 2);
    T_CHECK(tw == y5_draw_text(&g.img, 0, 0, "car 0.87", 2, col) && tw > 0 && y5_text_height(2) > 0, "width %d", tw);
    T_CHECK(y5_text_width("\xc3\xa9", 1) == y5_text_width("?", 1), "UTF-8 drawn as one '?'");
    T_CHECK(guarded_ok(&g), "guards");
    free(g.block);
}

/* A 60-byte PNG whose IDAT claims 1.6 GB: found by tests/fuzz/fuzz_image
 * (stb_image reserved 2 GiB for it before reading). Refused before stb runs,
 * with the chunk named; a valid PNG with the same header still decodes. */
T_TEST(image_png_chunk_longer_than_file) {
    uint8_t b[64];
    size_t n = 0;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    memcpy(b, sig, 8);
    n = 8;
    static const uint8_t ihdr[25] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 48, 0, 0, 0, 64, 8, 2, 0, 0, 0,
                                     0x12, 0x34, 0x56, 0x78};
    memcpy(b + n, ihdr, sizeof ihdr);
    n += sizeof ihdr;
    static const uint8_t idat[12] = {0x60, 0x82, 0x00, 0x00, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0x01, 0x02};
    memcpy(b + n, idat, sizeof idat);
    n += sizeof idat;
    y5_image img = {0};
    char err[512];
    T_CHECK(y5_image_load_mem(b, n, "hostile.png", &img, err, sizeof err) != 0, "decoded");
    T_CHECK(strstr(err, "hostile.png: ") == err && strstr(err, "PNG chunk 'IDAT' claims 1619132416 bytes"), "%s", err);
    T_CHECK(!strchr(err, '\n'), "multi-line");
    y5_image_free(&img);
}
