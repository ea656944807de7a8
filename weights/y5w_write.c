/* y5w_write.c - writes a y5_model_desc as a .y5w file (weights/FORMAT.md).
 *
 * The description is validated first (the same rules the reader applies), the
 * file is written to a temporary name next to the target with the checksum
 * computed on the way, the checksum field is patched, and the temporary file
 * is renamed over the target. */
#include "core/base/errmsg.h"
#include "weights/y5w.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void wr64(uint8_t *p, uint64_t v) {
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}
static void wrf32(uint8_t *p, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    wr32(p, v);
}
static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }


static int validate(const char *path, const y5_model_desc *d, char *err, size_t errlen) {
    if (d->n_layers < 1 || d->n_layers > 4096 || !d->layers)
        return y5_fail_path(err, errlen, path, "cannot write: %u layers (expected 1..4096)", d->n_layers);
    if (d->nc < 1 || d->nc > 65536 || !d->names)
        return y5_fail_path(err, errlen, path, "cannot write: %u classes (expected 1..65536 with names)", d->nc);
    if (d->nl > 8 || d->na > 8)
        return y5_fail_path(err, errlen, path, "cannot write: nl %u, na %u (at most 8 each)", d->nl, d->na);
    if (d->n_tensors > 1048576 || (d->n_tensors && !d->tensors))
        return y5_fail_path(err, errlen, path, "cannot write: %u tensors", d->n_tensors);
    if (d->imgsz > 16384) return y5_fail_path(err, errlen, path, "cannot write: training size %u", d->imgsz);
    if (!memchr(d->generation, 0, sizeof d->generation))
        return y5_fail_path(err, errlen, path, "cannot write: generation text not terminated");
    /* the reader's own field checks (weights/y5w_read.c): never write a file
     * it would refuse */
    for (uint32_t i = 0; i < d->n_layers; i++) {
        char why[256];
        if (y5w_check_layer(d, i, why, sizeof why) != 0)
            return y5_fail_path(err, errlen, path, "cannot write: %s", why);
    }
    for (uint32_t j = 0; j < d->nc; j++)
        if (!memchr(d->names[j], 0, Y5W_NAME_MAX))
            return y5_fail_path(err, errlen, path, "cannot write: class name %u not terminated", j);
    for (uint32_t i = 0; i < d->n_tensors; i++) {
        const y5_tensor *t = &d->tensors[i];
        if (!memchr(t->name, 0, Y5W_NAME_MAX) || !t->name[0])
            return y5_fail_path(err, errlen, path, "cannot write: tensor %u has a bad name", i);
        if (t->layer < 0 || (uint32_t)t->layer >= d->n_layers)
            return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' of layer %d out of range", t->name, t->layer);
        size_t es = y5w_dtype_size(t->dtype);
        if (!es) return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' has dtype %u", t->name, t->dtype);
        if (t->ndim < 1 || t->ndim > 4)
            return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' has ndim %u", t->name, t->ndim);
        uint64_t n = 1;
        for (uint32_t k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 1)
                return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' dim %u is %d", t->name, k, t->shape[k]);
            if (n > ((uint64_t)1 << 40) / (uint64_t)t->shape[k])
                return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' is too large", t->name);
            n *= (uint64_t)t->shape[k];
        }
        if (n * es != t->nbytes)
            return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' has %llu bytes for %llu elements", t->name,
                        (unsigned long long)t->nbytes, (unsigned long long)n);
        if (!t->data) return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' has no data", t->name);
        for (uint32_t k = 0; k < i; k++)
            if (d->tensors[k].layer == t->layer && strcmp(d->tensors[k].name, t->name) == 0)
                return y5_fail_path(err, errlen, path, "cannot write: tensor '%s' of layer %d appears twice", t->name,
                            t->layer);
    }
    return 0;
}

typedef struct {
    int fd;
    y5w_sum sum;
    uint64_t written;
} out_t;

static int out_write(out_t *o, const void *buf, size_t n) {
    const uint8_t *p = buf;
    y5w_sum_update(&o->sum, buf, n);
    while (n) {
        ssize_t w = write(o->fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        o->written += (uint64_t)w;
    }
    return 0;
}

static int out_pad(out_t *o, uint64_t to) {
    static const uint8_t zeros[64];
    while (o->written < to) {
        uint64_t n = to - o->written;
        if (n > sizeof zeros) n = sizeof zeros;
        if (out_write(o, zeros, (size_t)n) != 0) return -1;
    }
    return 0;
}

int y5w_write(const char *path, const y5_model_desc *d, char *err, size_t errlen) {
    if (!path || !d) return y5_fail_path(err, errlen, path ? path : "(null)", "cannot write: no model");
    if (validate(path, d, err, errlen) != 0) return -1;

    /* layout */
    uint64_t meta_off = Y5W_HEADER_SIZE;
    uint64_t layers_off = meta_off + Y5W_META_SIZE;
    uint64_t names_off = layers_off + (uint64_t)d->n_layers * Y5W_LAYER_REC;
    uint64_t tensors_off = names_off + (uint64_t)d->nc * Y5W_NAME_REC;
    uint64_t data_off = align_up(tensors_off + (uint64_t)d->n_tensors * Y5W_TENSOR_REC, Y5W_ALIGN);
    uint64_t cur = data_off;
    uint64_t *offs = calloc(d->n_tensors ? d->n_tensors : 1, sizeof *offs);
    uint8_t *head = calloc(1, (size_t)data_off);
    if (!offs || !head) {
        free(offs);
        free(head);
        return y5_fail_path(err, errlen, path, "out of memory");
    }
    for (uint32_t i = 0; i < d->n_tensors; i++) {
        cur = align_up(cur, Y5W_ALIGN);
        offs[i] = cur;
        cur += d->tensors[i].nbytes;
    }
    uint64_t file_size = align_up(cur, Y5W_ALIGN);
    uint64_t data_size = file_size - data_off;

    /* header (checksum field left zero) */
    memcpy(head, Y5W_MAGIC, 8);
    wr32(head + 8, Y5W_VERSION);
    wr32(head + 12, Y5W_HEADER_SIZE);
    wr64(head + 16, file_size);
    wr64(head + 32, meta_off);
    wr32(head + 40, Y5W_META_SIZE);
    wr64(head + 48, layers_off);
    wr32(head + 56, d->n_layers);
    wr32(head + 60, Y5W_LAYER_REC);
    wr64(head + 64, names_off);
    wr32(head + 72, d->nc);
    wr32(head + 76, Y5W_NAME_REC);
    wr64(head + 80, tensors_off);
    wr32(head + 88, d->n_tensors);
    wr32(head + 92, Y5W_TENSOR_REC);
    wr64(head + 96, data_off);
    wr64(head + 104, data_size);

    /* meta */
    uint8_t *mt = head + meta_off;
    wr32(mt, d->nc);
    wr32(mt + 4, d->nl);
    wr32(mt + 8, d->na);
    for (int l = 0; l < 8; l++)
        for (int a = 0; a < 16; a++) wrf32(mt + 16 + 4 * (16 * l + a), d->anchors[l][a]);
    for (int l = 0; l < 8; l++) wrf32(mt + 528 + 4 * l, d->strides[l]);
    size_t slen = strnlen(d->source, sizeof d->source - 1);
    memcpy(mt + 560, d->source, slen);
    wr32(mt + 816, d->imgsz);
    memcpy(mt + 824, d->generation, strnlen(d->generation, sizeof d->generation - 1));

    /* layers */
    for (uint32_t i = 0; i < d->n_layers; i++) {
        const y5_layer *L = &d->layers[i];
        uint8_t *r = head + layers_off + (uint64_t)i * Y5W_LAYER_REC;
        wr32(r, L->type);
        wr32(r + 4, L->n_from);
        for (uint32_t j = 0; j < Y5W_MAX_FROM; j++) wr32(r + 8 + 4 * j, j < L->n_from ? (uint32_t)L->from[j] : 0u);
        wr32(r + 40, (uint32_t)L->c_in);
        wr32(r + 44, (uint32_t)L->c_out);
        wr32(r + 48, (uint32_t)L->k);
        wr32(r + 52, (uint32_t)L->s);
        wr32(r + 56, (uint32_t)L->p);
        wr32(r + 60, (uint32_t)L->n);
        wr32(r + 64, (uint32_t)L->shortcut);
        wr32(r + 68, (uint32_t)L->scale);
        wr32(r + 72, L->act);
        wrf32(r + 76, L->act_slope);
        for (int j = 0; j < Y5W_MAX_POOLS; j++) wr32(r + 80 + 4 * j, (uint32_t)L->pools[j]);
    }

    /* names */
    for (uint32_t j = 0; j < d->nc; j++) {
        uint8_t *r = head + names_off + (uint64_t)j * Y5W_NAME_REC;
        memcpy(r, d->names[j], strnlen(d->names[j], Y5W_NAME_MAX - 1));
    }

    /* tensor table */
    for (uint32_t i = 0; i < d->n_tensors; i++) {
        const y5_tensor *t = &d->tensors[i];
        uint8_t *r = head + tensors_off + (uint64_t)i * Y5W_TENSOR_REC;
        wr32(r, (uint32_t)t->layer);
        wr32(r + 4, t->dtype);
        wr32(r + 8, t->ndim);
        for (uint32_t k = 0; k < 4; k++) wr32(r + 16 + 4 * k, k < t->ndim ? (uint32_t)t->shape[k] : 0u);
        wr64(r + 32, offs[i]);
        wr64(r + 40, t->nbytes);
        memcpy(r + 48, t->name, strnlen(t->name, Y5W_NAME_MAX - 1));
    }

    /* write to a temporary file next to the target */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(offs);
        free(head);
        return y5_fail_path(err, errlen, path, "out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    out_t o = {.fd = mkstemp(tmp)};
    if (o.fd < 0) {
        int e = errno;
        free(offs);
        free(head);
        free(tmp);
        return y5_fail_path(err, errlen, path, "cannot create a temporary file next to it (%s)", strerror(e));
    }
    fchmod(o.fd, 0644);
    y5w_sum_init(&o.sum);
    int rc = out_write(&o, head, (size_t)data_off);
    for (uint32_t i = 0; rc == 0 && i < d->n_tensors; i++) {
        rc = out_pad(&o, offs[i]);
        if (rc == 0) rc = out_write(&o, d->tensors[i].data, (size_t)d->tensors[i].nbytes);
    }
    if (rc == 0) rc = out_pad(&o, file_size);
    if (rc == 0) {
        uint8_t cs[8];
        wr64(cs, y5w_sum_final(&o.sum));
        if (pwrite(o.fd, cs, 8, 24) != 8) rc = -1;
    }
    int e = errno;
    if (close(o.fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        y5_fail_path(err, errlen, path, "write failed (%s)", strerror(e));
    }
    free(offs);
    free(head);
    free(tmp);
    return rc;
}
