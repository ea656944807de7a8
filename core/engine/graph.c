/* graph.c - loads a weight file's layers into convs through the layer table
 * (graph.h: y5_layer_def; the rows live in layers/), plans ops, buffer
 * lifetimes and the arena per shape. No layer type is named here: what a
 * type means is its row; the buffer rules that depend on a type (who may
 * write into a Concat's slot, which layer is the network's output) are row
 * flags, because they are about buffers, which this file owns. */
#include "core/engine/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int y5_graph_fail(y5_graph *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (g->err && g->errlen) vsnprintf(g->err, g->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

int y5_graph_add_conv(y5_graph *g, int li, const char *const *prefixes, int n_prefixes, int stride, int pad) {
    const y5_model_desc *d = g->desc;
    const y5_tensor *wt[8], *bt[8];
    int cout = 0, cin = -1, kh = -1;
    char name[Y5W_NAME_MAX + 16];
    if (n_prefixes > 8) return y5_graph_fail(g, "layer %d: too many stacked convs", li);
    for (int i = 0; i < n_prefixes; i++) {
        snprintf(name, sizeof name, "%sweight", prefixes[i]);
        wt[i] = y5w_find(d, li, name);
        snprintf(name, sizeof name, "%sbias", prefixes[i]);
        bt[i] = y5w_find(d, li, name);
        if (!wt[i] || !bt[i])
            return y5_graph_fail(g, "layer %d (%s): missing tensor %s%s", li,
                                 y5_layer_type_name(d->layers[li].type), prefixes[i], wt[i] ? "bias" : "weight");
        const y5_tensor *w = wt[i];
        if (w->ndim != 4 || w->shape[2] != w->shape[3] || w->shape[0] <= 0 || w->shape[1] <= 0 ||
            bt[i]->ndim != 1 || bt[i]->shape[0] != w->shape[0])
            return y5_graph_fail(g, "layer %d: tensor %sweight has an unexpected shape", li, prefixes[i]);
        if ((cin >= 0 && w->shape[1] != cin) || (kh >= 0 && w->shape[2] != kh))
            return y5_graph_fail(g, "layer %d: stacked convs %s and %s differ in shape", li, prefixes[0], prefixes[i]);
        cin = w->shape[1];
        kh = w->shape[2];
        cout += w->shape[0];
    }
    size_t per = (size_t)cin * kh * kh;
    float *w = malloc((size_t)cout * per * sizeof(float));
    float *b = malloc((size_t)cout * sizeof(float));
    if (!w || !b) { free(w); free(b); return y5_graph_fail(g, "out of memory loading layer %d", li); }
    int co = 0;
    for (int i = 0; i < n_prefixes; i++) {
        y5w_to_f32(wt[i], w + (size_t)co * per);
        y5w_to_f32(bt[i], b + co);
        co += wt[i]->shape[0];
    }
    if (grow((void **)&g->convs, &g->cap_convs, g->n_convs + 1, sizeof(y5_conv))) {
        free(w); free(b);
        return y5_graph_fail(g, "out of memory");
    }
    y5_conv *c = &g->convs[g->n_convs];
    memset(c, 0, sizeof *c);
    c->layer = li;
    c->shape.cin = cin;
    c->shape.cout = cout;
    c->shape.k = kh;
    c->shape.s = stride > 0 ? stride : 1;
    c->shape.p = pad >= 0 ? pad : kh / 2;
    c->handle = g->be->ops->conv_create(g->be, &c->shape, w, b);
    free(w);
    free(b);
    if (!c->handle) return y5_graph_fail(g, "layer %d: backend could not create a conv", li);
    return g->n_convs++;
}

/* A buffer's rows are padded to a multiple of 8 channels (16 bytes of FP16):
 * only Detect's heads (na x (nc + 5): 255 for COCO) are not already. A GEMM
 * writing 255-float rows gets no aligned kernel from cuBLAS: on an H200 the
 * 80x80 head's GEMM took 3.6x the time per FLOP of the 192-channel 1x1 beside
 * it (bench/results/gpu.md, conv lab). The pad lanes are never read. */
static int padded_ld(int c) { return c % 8 ? c + 8 - c % 8 : c; }

int y5_graph_new_buffer(y5_graph *g, int h, int w, int c) {
    if (grow((void **)&g->bufs, &g->cap_bufs, g->n_bufs + 1, sizeof(y5_buffer))) return -1;
    y5_buffer *b = &g->bufs[g->n_bufs];
    memset(b, 0, sizeof *b);
    b->n = g->n;
    b->h = h;
    b->w = w;
    b->c = c;
    b->ld = padded_ld(c);
    b->first = b->last = -1;
    return g->n_bufs++;
}

y5_slice y5_graph_whole(const y5_graph *g, int buf) {
    y5_slice s = {buf, 0, g->bufs[buf].c};
    return s;
}

y5_slice y5_graph_layer_output(y5_graph *g, int li, int h, int w, int c) {
    if (g->alias[li] >= 0) {
        y5_slice s = g->alias_slice[li];
        const y5_buffer *b = &g->bufs[s.buf];
        if (b->h == h && b->w == w && s.c == c) return s;
        g->alias[li] = -1; /* shape disagrees: the Concat will copy instead */
    }
    y5_slice s = {y5_graph_new_buffer(g, h, w, c), 0, c};
    return s;
}

void y5_graph_offer_slot(y5_graph *g, int src, y5_slice s) {
    if (src < 0 || !(g->def[src]->flags & Y5_LAYER_F_SLOT_OUTPUT) || g->alias[src] >= 0) return;
    g->alias[src] = 1;
    g->alias_slice[src] = s;
}

int y5_graph_emit(y5_graph *g, const y5_op *op) {
    if (grow((void **)&g->ops, &g->cap_ops, g->n_ops + 1, sizeof(y5_op))) return y5_graph_fail(g, "out of memory");
    g->ops[g->n_ops++] = *op;
    return 0;
}

static const y5_layer_def *find_def(const y5_layer_def *const *table, uint32_t type) {
    for (int k = 0; table[k]; k++)
        if (table[k]->type == type) return table[k];
    return NULL;
}

int y5_graph_load(y5_graph *g, y5_backend *be, const y5_model_desc *d, const y5_layer_def *const *table,
                  char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->be = be;
    g->desc = d;
    g->err = err;
    g->errlen = errlen;
    g->table = table;
    int nl = (int)d->n_layers;
    if (nl <= 0) return y5_graph_fail(g, "weight file has no layers");
    g->conv_base = calloc((size_t)nl, sizeof(int));
    g->layer_out = calloc((size_t)nl, sizeof(y5_slice));
    g->layer_h = calloc((size_t)nl, sizeof(int));
    g->layer_w = calloc((size_t)nl, sizeof(int));
    g->alias = calloc((size_t)nl, sizeof(int));
    g->alias_slice = calloc((size_t)nl, sizeof(y5_slice));
    g->def = calloc((size_t)nl, sizeof *g->def);
    if (!g->conv_base || !g->layer_out || !g->layer_h || !g->layer_w || !g->alias || !g->alias_slice || !g->def)
        return y5_graph_fail(g, "out of memory");
    int have_final = 0;
    for (int i = 0; i < nl; i++) {
        const y5_layer *L = &d->layers[i];
        g->conv_base[i] = g->n_convs;
        if (L->n_from < 1 || L->n_from > Y5W_MAX_FROM) return y5_graph_fail(g, "layer %d: bad input count %u", i, L->n_from);
        for (unsigned j = 0; j < L->n_from; j++)
            if (L->from[j] < -1 || L->from[j] >= i)
                return y5_graph_fail(g, "layer %d: input %d is not an earlier layer", i, L->from[j]);
        const y5_layer_def *def = find_def(table, L->type);
        if (!def) return y5_graph_fail(g, "layer %d: unknown layer type %u", i, L->type);
        g->def[i] = def;
        if (def->flags & Y5_LAYER_F_FINAL) {
            if (i != nl - 1) return y5_graph_fail(g, "layer %d: %s must be the last layer", i, def->name);
            have_final = 1;
        }
        if (def->load && def->load(g, i, L) < 0) return -1;
    }
    if (!have_final) {
        const char *name = "output";
        for (int k = 0; table[k]; k++)
            if (table[k]->flags & Y5_LAYER_F_FINAL) name = table[k]->name;
        return y5_graph_fail(g, "weight file has no %s layer", name);
    }
    return 0;
}

static void touch(y5_graph *g, const y5_slice *s, int op) {
    y5_buffer *b = &g->bufs[s->buf];
    if (b->first < 0 || op < b->first) b->first = op;
    if (op > b->last) b->last = op;
}

static y5_view resolve(const y5_graph *g, const y5_slice *s) {
    const y5_buffer *b = &g->bufs[s->buf];
    y5_view v = {b->off + (size_t)s->c_off, b->n, b->h, b->w, s->c, b->ld};
    return v;
}

static size_t buf_elems(const y5_buffer *b) {
    size_t e = (size_t)b->n * b->h * b->w * b->ld;
    return (e + 15) & ~(size_t)15; /* keep every buffer 64-byte aligned */
}

int y5_graph_plan(y5_graph *g, int n, int h, int w, size_t *arena_elems, size_t *scratch_bytes) {
    const y5_model_desc *d = g->desc;
    int nl = (int)d->n_layers;
    g->n_bufs = 0;
    g->n_ops = 0;
    g->n = n;
    g->h = h;
    g->w = w;
    g->input_buf = y5_graph_new_buffer(g, h, w, 3);
    if (g->input_buf < 0) return y5_graph_fail(g, "out of memory");
    g->bufs[g->input_buf].ld = 3; /* packed RGB, as the letterbox writes it (engine.c's input views) */
    g->bufs[g->input_buf].pinned = 1;
    for (int i = 0; i < nl; i++) g->alias[i] = -1;

    /* Sizes first, and the buffers that must exist before their producers
     * plan (Concat: a producer then writes straight into its channel slot;
     * see y5_graph_offer_slot). */
    for (int i = 0; i < nl; i++) {
        const y5_layer *L = &d->layers[i];
        int f0 = L->from[0];
        int ih = f0 < 0 ? h : g->layer_h[f0], iw = f0 < 0 ? w : g->layer_w[f0];
        g->def[i]->shape(g, i, L, ih, iw, &g->layer_h[i], &g->layer_w[i]);
        if (g->layer_h[i] <= 0 || g->layer_w[i] <= 0)
            return y5_graph_fail(g, "layer %d: input %dx%d is too small for this network", i, w, h);
        if (g->def[i]->reserve && g->def[i]->reserve(g, i, L) < 0) return -1;
    }
    for (int i = 0; i < nl; i++)
        if (g->def[i]->plan(g, i, &d->layers[i]) < 0) return -1;
    /* lifetimes */
    for (int i = 0; i < g->n_bufs; i++) g->bufs[i].first = g->bufs[i].last = -1;
    g->bufs[g->input_buf].first = 0;
    for (int o = 0; o < g->n_ops; o++) {
        y5_op *op = &g->ops[o];
        for (int j = 0; j < op->n_in; j++) touch(g, &op->in[j], o);
        touch(g, &op->out, o);
        if (op->has_res) touch(g, &op->res, o);
    }
    if (g->keep_all) /* debugging and per-layer checks: no memory sharing */
        for (int i = 0; i < g->n_bufs; i++) g->bufs[i].pinned = 1;
    /* place: largest first, lowest offset that does not overlap a placed
     * buffer with an intersecting lifetime (pinned buffers live throughout) */
    int nb = g->n_bufs;
    int *order = malloc((size_t)nb * sizeof(int));
    int *placed = malloc((size_t)nb * sizeof(int));
    if (!order || !placed) { free(order); free(placed); return y5_graph_fail(g, "out of memory"); }
    for (int i = 0; i < nb; i++) order[i] = i;
    for (int i = 1; i < nb; i++) { /* insertion sort by size desc, stable */
        int x = order[i], j = i - 1;
        while (j >= 0 && buf_elems(&g->bufs[order[j]]) < buf_elems(&g->bufs[x])) { order[j + 1] = order[j]; j--; }
        order[j + 1] = x;
    }
    size_t total = 0;
    int n_placed = 0;
    for (int oi = 0; oi < nb; oi++) {
        y5_buffer *b = &g->bufs[order[oi]];
        if (b->first < 0 && !b->pinned) { b->off = 0; continue; } /* unused */
        size_t sz = buf_elems(b), off = 0;
        for (int again = 1; again;) {
            again = 0;
            for (int k = 0; k < n_placed; k++) {
                const y5_buffer *q = &g->bufs[placed[k]];
                int live = b->pinned || q->pinned || !(q->last < b->first || b->last < q->first);
                if (!live) continue;
                size_t qs = buf_elems(q);
                if (off < q->off + qs && q->off < off + sz) { off = q->off + qs; again = 1; }
            }
        }
        b->off = off;
        if (off + sz > total) total = off + sz;
        placed[n_placed++] = order[oi];
    }
    free(order);
    free(placed);
    size_t scratch = 0;
    for (int o = 0; o < g->n_ops; o++) {
        y5_op *op = &g->ops[o];
        for (int j = 0; j < op->n_in; j++) op->vin[j] = resolve(g, &op->in[j]);
        op->vout = resolve(g, &op->out);
        if (op->has_res) op->vres = resolve(g, &op->res);
        if (op->kind == Y5_OP_CONV) {
            size_t s = g->be->ops->conv_scratch(g->be, g->convs[op->conv].handle, op->vin[0].n, op->vin[0].h, op->vin[0].w);
            if (s > scratch) scratch = s;
        }
    }
    *arena_elems = total;
    *scratch_bytes = scratch;
    return 0;
}

double y5_op_flops(const y5_graph *g, const y5_op *op) {
    if (op->kind != Y5_OP_CONV) return 0;
    const y5_conv_shape *s = &g->convs[op->conv].shape;
    return 2.0 * op->vout.n * op->vout.h * op->vout.w * (double)s->cout * s->cin * s->k * s->k;
}

double y5_op_bytes(const y5_graph *g, const y5_op *op, int es) {
    double b = 0;
    for (int j = 0; j < op->n_in; j++) b += (double)op->vin[j].n * op->vin[j].h * op->vin[j].w * op->vin[j].c;
    b += (double)op->vout.n * op->vout.h * op->vout.w * op->vout.c * (op->has_res ? 2 : 1);
    if (op->kind == Y5_OP_CONV) {
        const y5_conv_shape *s = &g->convs[op->conv].shape;
        b += (double)s->cout * s->cin * s->k * s->k + s->cout;
    }
    return b * es;
}

void y5_graph_free(y5_graph *g) {
    if (g->convs && g->be)
        for (int i = 0; i < g->n_convs; i++)
            if (g->convs[i].handle) g->be->ops->conv_destroy(g->be, g->convs[i].handle);
    free(g->convs);
    free(g->conv_base);
    free(g->bufs);
    free(g->ops);
    free(g->layer_out);
    free(g->layer_h);
    free(g->layer_w);
    free(g->alias);
    free(g->alias_slice);
    free(g->def);
    memset(g, 0, sizeof *g);
}

y5_slice y5_graph_input(const y5_graph *g, int li, int j) {
    int src = g->desc->layers[li].from[j];
    if (src < 0) return y5_graph_whole(g, g->input_buf);
    return g->layer_out[src];
}
