/* files.h - what every writer of files shares: atomic files (written whole
 * or not at all), mkdir -p, an errno turned into a "PATH: what (reason)"
 * message, and the FNV-1a hash the on-disk indexes key by.
 *
 * Atomic write: "<path>.tmp.<pid>.<n>" is created next to the target (same
 * folder, so rename is atomic), written, flushed, fsync'd, closed and renamed
 * over the target. On any failure the temp file is removed, so a reader
 * never sees a partial file and a killed run leaves no half files. */
#ifndef Y5_FILES_H
#define Y5_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4200];
} y5_atomic_file;

/* Creates the temp file; write through a->f. 0, or -1 with a message. */
int y5_atomic_open(y5_atomic_file *a, const char *path, char *err, size_t errlen);
/* Flushes, fsyncs, closes and renames. Returns 0 or -1 (tmp removed). */
int y5_atomic_commit(y5_atomic_file *a, char *err, size_t errlen);
void y5_atomic_abort(y5_atomic_file *a);
/* Writes bytes atomically. */
int y5_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* mkdir -p: path and every missing folder above it (mode before umask).
 * 0 when path is a folder at the end, else -1 with errno set. */
int y5_mkdirs(const char *path, unsigned mode);
/* y5_mkdirs of the folder holding the file path (nothing for a bare name). */
int y5_mkdirs_parent(const char *path, unsigned mode);

/* "<path>: <what> (<strerror(e)>)" into err (e == 0: no reason; what NULL:
 * the reason alone), the reason's first letter lowered as the other
 * messages write it. Returns -1. */
int y5_fail_errno(char *err, size_t errlen, const char *path, const char *what, int e);

/* 64-bit FNV-1a of n bytes. */
static inline uint64_t y5_fnv1a(const void *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#endif
