/* backend.c - the backend registry (device string -> backend) and the eager
 * op loop every backend's compute can fall back on.
 *
 * The only place that knows which backends this build has: a third backend
 * is one row in `registry` plus its own files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/engine/backend.h"
#ifdef Y5_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif

typedef struct {
    const char *name;   /* "cpu": exact match; indexed rows also take "name:N" and "nameN"-style prefixes */
    const char *label;  /* for "this build has no <label> backend" */
    const char *hint;   /* how to get it into a build */
    int indexed;        /* takes a device index (":N") */
    int bare_index;     /* a plain "N" means this backend */
    /* NULL: not in this build. index: device number; threads: CPU threads */
    y5_backend *(*open)(int index, int threads, char *err, size_t errlen);
} y5_backend_entry;

static y5_backend *open_cpu(int index, int threads, char *err, size_t errlen) {
    (void)index;
    return y5_backend_cpu_create(threads, err, errlen);
}

#ifdef Y5_HAVE_CUDA
static y5_backend *open_cuda(int index, int threads, char *err, size_t errlen) {
    (void)threads;
    return y5_backend_cuda_create(index, err, errlen);
}
#define Y5_OPEN_CUDA open_cuda
#else
#define Y5_OPEN_CUDA NULL
#endif

static const y5_backend_entry registry[] = {
    {"cpu", "CPU", "", 0, 0, open_cpu},
    {"cuda", "CUDA", "build with nvcc present, see README", 1, 1, Y5_OPEN_CUDA},
};
enum { N_BACKENDS = sizeof registry / sizeof registry[0] };

const char *y5_backend_registered(int i) { return i >= 0 && i < N_BACKENDS ? registry[i].name : NULL; }

/* "cpu, cuda or cuda:N" (+ " or N" style tail when with_bare): every
 * spelling the table accepts, for the error messages. */
static void accepted_list(int with_bare, char *out, size_t cap) {
    const char *items[2 * N_BACKENDS + 1];
    char indexed[N_BACKENDS][48];
    int n = 0, bare = 0;
    for (int i = 0; i < N_BACKENDS; i++) {
        items[n++] = registry[i].name;
        if (registry[i].indexed) {
            snprintf(indexed[i], sizeof indexed[i], "%s:N", registry[i].name);
            items[n++] = indexed[i];
        }
        bare |= registry[i].bare_index;
    }
    if (with_bare && bare) items[n++] = "N";
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < cap; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        int w = snprintf(out + len, cap - len, "%s%s", sep, items[i]);
        len += w > 0 ? (size_t)w : 0;
    }
}

/* The row dev names, and where its index text starts ("" when none). */
static const y5_backend_entry *find_entry(const char *dev, const char **num) {
    for (int i = 0; i < N_BACKENDS; i++) {
        const y5_backend_entry *r = &registry[i];
        size_t len = strlen(r->name);
        if (!r->indexed) {
            if (!strcmp(dev, r->name)) { *num = dev + len; return r; }
        } else if (!strncmp(dev, r->name, len)) {
            *num = dev[len] == ':' ? dev + len + 1 : dev + len;
            return r;
        }
    }
    if (dev[0] >= '0' && dev[0] <= '9')
        for (int i = 0; i < N_BACKENDS; i++)
            if (registry[i].bare_index) { *num = dev; return &registry[i]; }
    return NULL;
}

void y5_backend_preload(const char *device) {
    const char *num = "";
    const y5_backend_entry *r = device && *device ? find_entry(device, &num) : NULL;
#ifdef Y5_HAVE_CUDA
    if (r && !strcmp(r->name, "cuda")) y5_cuda_cublas_preload();
#else
    (void)r;
#endif
}

y5_backend *y5_backend_open(const char *device, int threads, char *err, size_t errlen) {
    const char *dev = device && *device ? device : "cpu";
    char list[256];
    const char *num = "";
    const y5_backend_entry *r = find_entry(dev, &num);
    if (!r) {
        accepted_list(0, list, sizeof list);
        snprintf(err, errlen, "--device %s: unknown device (use %s)", dev, list);
        return NULL;
    }
    if (!r->open) {
        snprintf(err, errlen, "--device %s: this build has no %s backend (%s)", dev, r->label, r->hint);
        return NULL;
    }
    long idx = 0;
    if (*num) {
        char *end = NULL;
        idx = strtol(num, &end, 10);
        if (end == num || *end || idx < 0 || idx > 1024) {
            accepted_list(1, list, sizeof list);
            snprintf(err, errlen, "--device %s: expected %s", dev, list);
            return NULL;
        }
    }
    return r->open((int)idx, threads, err, errlen);
}

/* ---------------------------------------------------------------- eager loop */

void y5_backend_run_op(y5_backend *b, const y5_backend_op *op) {
    const y5_backend_ops *o = b->ops;
    switch (op->kind) {
    case Y5_BE_CONV: o->conv(b, op->conv, &op->in[0], &op->out, op->has_res ? &op->res : NULL, op->act, op->slope);
        break;
    case Y5_BE_MAXPOOL: o->maxpool(b, &op->in[0], &op->out, op->k); break;
    case Y5_BE_UPSAMPLE: o->upsample(b, &op->in[0], &op->out, op->scale); break;
    case Y5_BE_COPY: o->copy(b, &op->in[0], &op->out); break;
    case Y5_BE_DECODE: o->decode(b, op->in, op->det); break;
    }
}

void y5_backend_run_ops(y5_backend *b, const y5_backend_plan *p) {
    for (int i = 0; i < p->n_ops; i++) y5_backend_run_op(b, &p->ops[i]);
}

int y5_backend_run_eager(y5_backend *b, const y5_backend_plan *p, double *op_ms, char *err, size_t errlen) {
    if (b->ops->input_commit(b, &p->input, err, errlen)) return -1;
    if (!op_ms) {
        y5_backend_run_ops(b, p);
        return b->ops->sync(b, err, errlen);
    }
    for (int i = 0; i < p->n_ops; i++) {
        double t0 = y5_now_ms();
        y5_backend_run_op(b, &p->ops[i]);
        if (b->ops->sync(b, err, errlen)) return -1;
        op_ms[i] = y5_now_ms() - t0;
    }
    return b->ops->sync(b, err, errlen);
}
