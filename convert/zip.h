/* zip.h - a read-only zip archive reader over a buffer already in memory
 * (the mmapped .pt file). Only what torch.save writes is supported: entries
 * stored without compression (method 0); ZIP64 end records and extra fields
 * are understood. Every offset and length is checked against the buffer;
 * nothing is copied: entry data points into the caller's buffer, which must
 * outlive the y5_zip. Errors are one line without a path prefix (the caller
 * adds "x.pt: "). */
#ifndef Y5_ZIP_H
#define Y5_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;   /* into the buffer; NOT NUL-terminated: use name_len */
    size_t name_len;
    uint16_t method;    /* 0 = stored, 8 = deflate, ... */
    uint16_t flags;
    uint32_t crc32;
    uint64_t csize;     /* compressed size (from the central directory) */
    uint64_t size;      /* uncompressed size */
    uint64_t data_off;  /* offset of the entry's data in the buffer */
} y5_zip_entry;

typedef struct {
    const uint8_t *buf;
    size_t len;
    y5_zip_entry *entries;
    size_t n;
} y5_zip;

/* Parses the end records and the central directory, and checks every local
 * header. Returns 0, or -1 with a message in err (e.g. "not a zip archive",
 * "truncated or damaged zip archive (...)"). */
int y5_zip_open(y5_zip *z, const void *buf, size_t len, char *err, size_t errlen);
void y5_zip_close(y5_zip *z);

/* Exact name match; NULL when absent. */
const y5_zip_entry *y5_zip_find(const y5_zip *z, const char *name);

/* The bytes of a stored entry. Returns 0, or -1 with "entry 'NAME' is
 * compressed (method 8); only stored entries are supported" (or encrypted). */
int y5_zip_data(const y5_zip *z, const y5_zip_entry *e, const uint8_t **data, uint64_t *size, char *err,
                size_t errlen);

/* CRC-32 (IEEE 802.3, as in zip) of a buffer. */
uint32_t y5_zip_crc32(const void *buf, size_t len);

#endif
