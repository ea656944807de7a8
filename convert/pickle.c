/* pickle.c - the pickle VM of pickle.h.
 *
 * Opcode semantics follow CPython's Lib/pickle.py (the _Unpickler load_*
 * methods); they are re-stated next to each case below. Marks are kept on a
 * separate mark stack: MARK opens a new "frame", and ops that pop (or read
 * the top) never reach below the innermost mark, which is CPython's rule too.
 * All objects live in an arena owned by the pkl_doc. */
#include "convert/pickle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_MAX ((size_t)1 << 22)
#define MARK_MAX ((size_t)1 << 20)
#define MEMO_MAX ((size_t)1 << 22)
#define ARENA_LIMIT ((size_t)1 << 31)
#define BLOCK_SIZE ((size_t)1 << 16)

/* ---- arena ---------------------------------------------------------------- */

typedef struct blk {
    struct blk *next;
    size_t cap, used, pad; /* 4 words: data below stays 16-byte aligned */
} blk;

struct pkl_doc {
    blk *head;
    size_t total;
};

static void *arena_alloc(pkl_doc *d, size_t n) {
    n = (n + 15u) & ~(size_t)15u;
    if (n == 0) n = 16;
    blk *b = d->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        if (d->total + cap > ARENA_LIMIT) return NULL;
        b = malloc(sizeof(blk) + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = d->head;
        d->head = b;
        d->total += cap;
    }
    void *p = (unsigned char *)(b + 1) + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void pkl_free(pkl_doc *d) {
    if (!d) return;
    blk *b = d->head;
    while (b) {
        blk *nx = b->next;
        free(b);
        b = nx;
    }
    free(d);
}

/* ---- VM state ------------------------------------------------------------- */

typedef struct {
    const uint8_t *b;
    size_t len, pos;
    size_t op_pos;
    int op;
    pkl_doc *doc;
    pkl_obj **stack;
    size_t sp, scap;
    size_t *marks;
    size_t mp, mcap;
    pkl_obj **memo;
    size_t memo_cap, memo_count;
    char *err;
    size_t errlen;
    int failed;
} vm;

static int verr(vm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verr(vm *m, const char *fmt, ...) {
    if (m->failed) return -1;
    m->failed = 1;
    if (m->err && m->errlen) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (m->op >= 0) {
            if (m->op >= 33 && m->op < 127)
                snprintf(m->err, m->errlen, "pickle: %s at offset %zu (opcode '%c')", msg, m->op_pos, m->op);
            else
                snprintf(m->err, m->errlen, "pickle: %s at offset %zu (opcode 0x%02x)", msg, m->op_pos, m->op);
        } else {
            snprintf(m->err, m->errlen, "pickle: %s", msg);
        }
    }
    return -1;
}

static pkl_obj *new_obj(vm *m, pkl_type t) {
    pkl_obj *o = arena_alloc(m->doc, sizeof *o);
    if (!o) {
        verr(m, "out of memory (pickle too large)");
        return NULL;
    }
    o->type = t;
    return o;
}

static pkl_obj *new_str(vm *m, pkl_type t, const uint8_t *s, size_t n) {
    pkl_obj *o = new_obj(m, t);
    if (!o) return NULL;
    char *c = arena_alloc(m->doc, n + 1);
    if (!c) {
        verr(m, "out of memory (pickle too large)");
        return NULL;
    }
    if (n) memcpy(c, s, n);
    c[n] = 0;
    o->u.str.s = c;
    o->u.str.len = n;
    return o;
}

static const char *arena_strdup(vm *m, const char *s, size_t n) {
    char *c = arena_alloc(m->doc, n + 1);
    if (!c) {
        verr(m, "out of memory (pickle too large)");
        return NULL;
    }
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

/* Appends to a tuple/list/set. */
static int seq_push(vm *m, pkl_obj *s, pkl_obj *v) {
    if (s->u.seq.n == s->u.seq.cap) {
        size_t nc = s->u.seq.cap ? s->u.seq.cap * 2 : 4;
        pkl_obj **nv = arena_alloc(m->doc, nc * sizeof *nv);
        if (!nv) return verr(m, "out of memory (pickle too large)");
        if (s->u.seq.n) memcpy(nv, s->u.seq.v, s->u.seq.n * sizeof *nv);
        s->u.seq.v = nv;
        s->u.seq.cap = nc;
    }
    s->u.seq.v[s->u.seq.n++] = v;
    return 0;
}

/* Appends a key/value pair; lookups take the last match, so re-setting a key
 * behaves like Python's assignment for every reader of the dict. */
static int dict_set(vm *m, pkl_obj *d, pkl_obj *k, pkl_obj *v) {
    if (d->u.dict.n == d->u.dict.cap) {
        size_t nc = d->u.dict.cap ? d->u.dict.cap * 2 : 4;
        pkl_obj **nk = arena_alloc(m->doc, nc * sizeof *nk);
        pkl_obj **nv = arena_alloc(m->doc, nc * sizeof *nv);
        if (!nk || !nv) return verr(m, "out of memory (pickle too large)");
        if (d->u.dict.n) {
            memcpy(nk, d->u.dict.k, d->u.dict.n * sizeof *nk);
            memcpy(nv, d->u.dict.v, d->u.dict.n * sizeof *nv);
        }
        d->u.dict.k = nk;
        d->u.dict.v = nv;
        d->u.dict.cap = nc;
    }
    d->u.dict.k[d->u.dict.n] = k;
    d->u.dict.v[d->u.dict.n] = v;
    d->u.dict.n++;
    return 0;
}

/* ---- stack, marks, memo --------------------------------------------------- */

static size_t frame_base(const vm *m) { return m->mp ? m->marks[m->mp - 1] : 0; }

static int push(vm *m, pkl_obj *o) {
    if (!o) return -1;
    if (m->sp == m->scap) {
        if (m->scap >= STACK_MAX) return verr(m, "stack too deep (more than %zu items)", STACK_MAX);
        size_t nc = m->scap ? m->scap * 2 : 256;
        pkl_obj **ns = realloc(m->stack, nc * sizeof *ns);
        if (!ns) return verr(m, "out of memory");
        m->stack = ns;
        m->scap = nc;
    }
    m->stack[m->sp++] = o;
    return 0;
}

static pkl_obj *pop(vm *m) {
    if (m->sp <= frame_base(m)) {
        verr(m, "stack underflow");
        return NULL;
    }
    return m->stack[--m->sp];
}

static pkl_obj *top(vm *m) {
    if (m->sp <= frame_base(m)) {
        verr(m, "stack underflow");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

/* The item just below stack index s (a popped mark's position), which must
 * lie inside the now current frame. */
static pkl_obj *below(vm *m, size_t s) {
    if (s <= frame_base(m)) {
        verr(m, "stack underflow");
        return NULL;
    }
    return m->stack[s - 1];
}

static int push_mark(vm *m) {
    if (m->mp == m->mcap) {
        if (m->mcap >= MARK_MAX) return verr(m, "too many nested marks");
        size_t nc = m->mcap ? m->mcap * 2 : 64;
        size_t *nm = realloc(m->marks, nc * sizeof *nm);
        if (!nm) return verr(m, "out of memory");
        m->marks = nm;
        m->mcap = nc;
    }
    m->marks[m->mp++] = m->sp;
    return 0;
}

/* Pops the innermost mark; *start = index of the first item above it. */
static int pop_mark(vm *m, size_t *start) {
    *start = m->sp;
    if (!m->mp) return verr(m, "MARK missing");
    *start = m->marks[--m->mp];
    return 0;
}

static int memo_put(vm *m, uint64_t idx, pkl_obj *o) {
    if (!o) return -1;
    if (idx >= MEMO_MAX) return verr(m, "memo index %llu too large", (unsigned long long)idx);
    if (idx >= m->memo_cap) {
        size_t nc = m->memo_cap ? m->memo_cap : 256;
        while (nc <= idx) nc *= 2;
        if (nc > MEMO_MAX) nc = MEMO_MAX;
        pkl_obj **nm = realloc(m->memo, nc * sizeof *nm);
        if (!nm) return verr(m, "out of memory");
        memset(nm + m->memo_cap, 0, (nc - m->memo_cap) * sizeof *nm);
        m->memo = nm;
        m->memo_cap = nc;
    }
    if (!m->memo[idx]) m->memo_count++;
    m->memo[idx] = o;
    return 0;
}

static int memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx])
        return verr(m, "memo index %llu was never set", (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

/* ---- reading the byte stream ---------------------------------------------- */

static int need(vm *m, uint64_t n) {
    if (n > m->len - m->pos) return verr(m, "truncated (needs %llu more bytes, %zu left)", (unsigned long long)n, m->len - m->pos);
    return 0;
}
static uint32_t rd_u8(vm *m) { return m->b[m->pos++]; }
static uint32_t rd_u16(vm *m) {
    uint32_t v = (uint32_t)m->b[m->pos] | ((uint32_t)m->b[m->pos + 1] << 8);
    m->pos += 2;
    return v;
}
static uint32_t rd_u32(vm *m) {
    const uint8_t *p = m->b + m->pos;
    m->pos += 4;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd_u64(vm *m) {
    uint64_t lo = rd_u32(m);
    uint64_t hi = rd_u32(m);
    return lo | (hi << 32);
}

/* A text line (protocol 0 style) without its '\n'. */
static int rd_line(vm *m, const uint8_t **s, size_t *n) {
    *s = NULL;
    *n = 0;
    const uint8_t *start = m->b + m->pos;
    const uint8_t *nl = memchr(start, '\n', m->len - m->pos);
    if (!nl) return verr(m, "truncated (line without newline)");
    *s = start;
    *n = (size_t)(nl - start);
    m->pos += *n + 1;
    return 0;
}

static pkl_obj *new_int(vm *m, int64_t v) {
    pkl_obj *o = new_obj(m, PKL_INT);
    if (o) o->u.i.v = v;
    return o;
}

/* Little-endian two's complement of n bytes (LONG1 / LONG4). */
static pkl_obj *decode_long(vm *m, const uint8_t *p, uint64_t n) {
    pkl_obj *o = new_obj(m, PKL_INT);
    if (!o || n == 0) return o;
    if (n <= 8) {
        uint64_t v = 0;
        for (uint64_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
        if (n < 8 && (p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
        o->u.i.v = (int64_t)v;
        return o;
    }
    /* longer: fits when every byte past the 8th is the sign extension */
    uint8_t ext = (p[7] & 0x80) ? 0xff : 0x00;
    for (uint64_t i = 8; i < n; i++) {
        if (p[i] != ext) {
            o->u.i.big = 1;
            return o;
        }
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    o->u.i.v = (int64_t)v;
    return o;
}

/* Parses a decimal integer from a text line ("I", "L", "g", "p"). */
static int parse_dec(const uint8_t *s, size_t n, int64_t *v, int *big) {
    char tmp[64];
    while (n && (s[n - 1] == 'L' || s[n - 1] == '\r' || s[n - 1] == ' ')) n--;
    if (n == 0 || n >= sizeof tmp) {
        if (n >= sizeof tmp) {
            *big = 1;
            *v = 0;
            return 1;
        }
        return 0;
    }
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long long x = strtoll(tmp, &end, 10);
    if (*end != 0) return 0;
    *big = errno == ERANGE;
    *v = x;
    return 1;
}

/* ---- interpreted callables ------------------------------------------------ */

static int streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

static int tuple_ints(const pkl_obj *t, int64_t *out, int *n) {
    if (!t || (t->type != PKL_TUPLE && t->type != PKL_LIST) || t->u.seq.n > PKL_MAX_DIMS) return 0;
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const pkl_obj *e = t->u.seq.v[i];
        if (e->type != PKL_INT || e->u.i.big) return 0;
        out[i] = e->u.i.v;
    }
    *n = (int)t->u.seq.n;
    return 1;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, ...) or NULL when the
 * arguments are not what torch writes (the caller then keeps it opaque). */
static pkl_obj *make_tensor(vm *m, pkl_obj *args) {
    if (!args || args->type != PKL_TUPLE || args->u.seq.n < 4) return NULL;
    pkl_obj **a = args->u.seq.v;
    if (a[0]->type != PKL_STORAGE || a[1]->type != PKL_INT || a[1]->u.i.big || a[1]->u.i.v < 0) return NULL;
    int64_t shape[PKL_MAX_DIMS], stride[PKL_MAX_DIMS];
    int nd = 0, ns = 0;
    if (!tuple_ints(a[2], shape, &nd) || !tuple_ints(a[3], stride, &ns) || nd != ns) return NULL;
    for (int i = 0; i < nd; i++)
        if (shape[i] < 0 || stride[i] < 0) return NULL;
    pkl_obj *t = new_obj(m, PKL_TENSOR);
    if (!t) return NULL;
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i.v;
    t->u.tensor.ndim = nd;
    for (int i = 0; i < nd; i++) {
        t->u.tensor.shape[i] = shape[i];
        t->u.tensor.stride[i] = stride[i];
    }
    return t;
}

static pkl_obj *new_opaque(vm *m, pkl_obj *cls, pkl_obj *args) {
    pkl_obj *o = new_obj(m, PKL_OBJECT);
    if (o) {
        o->u.obj.cls = cls;
        o->u.obj.args = args;
    }
    return o;
}

static pkl_obj *do_reduce(vm *m, pkl_obj *fn, pkl_obj *args) {
    if (fn->type == PKL_GLOBAL) {
        const char *mod = fn->u.global.module, *name = fn->u.global.name;
        int targs = args && args->type == PKL_TUPLE;
        if (streq(mod, "torch._utils")) {
            if (streq(name, "_rebuild_tensor_v2") || streq(name, "_rebuild_tensor")) {
                pkl_obj *t = make_tensor(m, args);
                if (t || m->failed) return t;
            } else if (streq(name, "_rebuild_parameter") || streq(name, "_rebuild_parameter_with_state")) {
                if (targs && args->u.seq.n >= 1 && args->u.seq.v[0]->type == PKL_TENSOR) {
                    args->u.seq.v[0]->u.tensor.param = 1;
                    return args->u.seq.v[0];
                }
            }
        } else if (streq(mod, "collections") && streq(name, "OrderedDict")) {
            pkl_obj *d = new_obj(m, PKL_DICT);
            if (!d) return NULL;
            if (targs && args->u.seq.n >= 1) {
                pkl_obj *src = args->u.seq.v[0];
                if (src->type == PKL_LIST || src->type == PKL_TUPLE) {
                    for (size_t i = 0; i < src->u.seq.n; i++) {
                        pkl_obj *kv = src->u.seq.v[i];
                        if ((kv->type == PKL_TUPLE || kv->type == PKL_LIST) && kv->u.seq.n == 2)
                            if (dict_set(m, d, kv->u.seq.v[0], kv->u.seq.v[1]) != 0) return NULL;
                    }
                } else if (src->type == PKL_DICT) {
                    for (size_t i = 0; i < src->u.dict.n; i++)
                        if (dict_set(m, d, src->u.dict.k[i], src->u.dict.v[i]) != 0) return NULL;
                }
            }
            return d;
        } else if ((streq(mod, "__builtin__") || streq(mod, "builtins")) &&
                   (streq(name, "set") || streq(name, "frozenset"))) {
            pkl_obj *s = new_obj(m, PKL_SET);
            if (!s) return NULL;
            if (targs && args->u.seq.n >= 1) {
                pkl_obj *src = args->u.seq.v[0];
                if (src->type == PKL_LIST || src->type == PKL_TUPLE || src->type == PKL_SET)
                    for (size_t i = 0; i < src->u.seq.n; i++)
                        if (seq_push(m, s, src->u.seq.v[i]) != 0) return NULL;
            }
            return s;
        }
    }
    return new_opaque(m, fn, args);
}

/* persistent_load: torch's ('storage', StorageType, key, location, numel). */
static pkl_obj *persistent_load(vm *m, pkl_obj *pid) {
    if (pid->type == PKL_TUPLE && pid->u.seq.n >= 5) {
        pkl_obj **a = pid->u.seq.v;
        if (pkl_str_eq(a[0], "storage") && a[1]->type == PKL_GLOBAL &&
            (a[2]->type == PKL_STR || (a[2]->type == PKL_INT && !a[2]->u.i.big)) && a[3]->type == PKL_STR &&
            a[4]->type == PKL_INT && !a[4]->u.i.big && a[4]->u.i.v >= 0) {
            pkl_obj *s = new_obj(m, PKL_STORAGE);
            if (!s) return NULL;
            s->u.storage.dtype = a[1]->u.global.name;
            if (a[2]->type == PKL_STR) {
                s->u.storage.key = a[2]->u.str.s;
            } else {
                char tmp[32];
                int k = snprintf(tmp, sizeof tmp, "%lld", (long long)a[2]->u.i.v);
                s->u.storage.key = arena_strdup(m, tmp, (size_t)k);
                if (!s->u.storage.key) return NULL;
            }
            s->u.storage.location = a[3]->u.str.s;
            s->u.storage.numel = a[4]->u.i.v;
            return s;
        }
    }
    pkl_obj *w = new_obj(m, PKL_PID);
    if (w) w->u.pid = pid;
    return w;
}

/* The target of SETITEM(S): a dict, or an opaque object's dictitems. */
static pkl_obj *dict_target(vm *m, pkl_obj *t) {
    if (t->type == PKL_DICT) return t;
    if (t->type == PKL_OBJECT) {
        if (!t->u.obj.dictitems) t->u.obj.dictitems = new_obj(m, PKL_DICT);
        return t->u.obj.dictitems;
    }
    verr(m, "cannot set items on a %s", pkl_type_name(t->type));
    return NULL;
}

/* The target of APPEND(S) / ADDITEMS. */
static pkl_obj *seq_target(vm *m, pkl_obj *t, int set) {
    if ((!set && t->type == PKL_LIST) || (set && t->type == PKL_SET)) return t;
    if (t->type == PKL_OBJECT) {
        if (!t->u.obj.items) t->u.obj.items = new_obj(m, PKL_LIST);
        return t->u.obj.items;
    }
    verr(m, "cannot %s a %s", set ? "add items to" : "append to", pkl_type_name(t->type));
    return NULL;
}

static pkl_obj *seq_from(vm *m, pkl_type t, size_t start) {
    pkl_obj *o = new_obj(m, t);
    if (!o) return NULL;
    size_t n = m->sp - start;
    if (n) {
        o->u.seq.v = arena_alloc(m->doc, n * sizeof(pkl_obj *));
        if (!o->u.seq.v) {
            verr(m, "out of memory (pickle too large)");
            return NULL;
        }
        memcpy(o->u.seq.v, m->stack + start, n * sizeof(pkl_obj *));
        o->u.seq.n = o->u.seq.cap = n;
    }
    m->sp = start;
    return o;
}

static pkl_obj *new_global(vm *m, const uint8_t *mod, size_t nm, const uint8_t *name, size_t nn) {
    pkl_obj *g = new_obj(m, PKL_GLOBAL);
    if (!g) return NULL;
    g->u.global.module = arena_strdup(m, (const char *)mod, nm);
    g->u.global.name = arena_strdup(m, (const char *)name, nn);
    if (!g->u.global.module || !g->u.global.name) return NULL;
    return g;
}

/* ---- the interpreter ------------------------------------------------------ */

static pkl_obj *run(vm *m) {
    for (;;) {
        if (m->pos >= m->len) {
            m->op = -1;
            verr(m, "truncated (no STOP opcode before the end, %zu bytes)", m->len);
            return NULL;
        }
        m->op_pos = m->pos;
        m->op = m->b[m->pos++];
        int rc = 0;
        switch (m->op) {
        case 0x80: /* PROTO */
            if (need(m, 1)) return NULL;
            {
                uint32_t v = rd_u8(m);
                if (v > 5) rc = verr(m, "unsupported pickle protocol %u", v);
            }
            break;
        case 0x95: /* FRAME: a length hint; frames need no special handling */
            if (need(m, 8)) return NULL;
            m->pos += 8;
            break;
        case '.': { /* STOP */
            pkl_obj *r = pop(m);
            return r;
        }
        case '(': rc = push_mark(m); break;
        case '0': /* POP: an item, or the mark when the frame is empty */
            if (m->sp > frame_base(m)) {
                m->sp--;
            } else {
                size_t s;
                rc = pop_mark(m, &s);
            }
            break;
        case '1': { /* POP_MARK */
            size_t s;
            rc = pop_mark(m, &s);
            if (!rc) m->sp = s;
            break;
        }
        case '2': { /* DUP */
            pkl_obj *t = top(m);
            rc = t ? push(m, t) : -1;
            break;
        }
        case 'N': rc = push(m, new_obj(m, PKL_NONE)); break;
        case 0x88: /* NEWTRUE */
        case 0x89: { /* NEWFALSE */
            pkl_obj *o = new_obj(m, PKL_BOOL);
            if (o) o->u.b = m->op == 0x88;
            rc = push(m, o);
            break;
        }
        case 'J': /* BININT */
            if (need(m, 4)) return NULL;
            rc = push(m, new_int(m, (int32_t)rd_u32(m)));
            break;
        case 'K': /* BININT1 */
            if (need(m, 1)) return NULL;
            rc = push(m, new_int(m, rd_u8(m)));
            break;
        case 'M': /* BININT2 */
            if (need(m, 2)) return NULL;
            rc = push(m, new_int(m, rd_u16(m)));
            break;
        case 0x8a: /* LONG1 */
        case 0x8b: { /* LONG4 */
            uint64_t n;
            if (m->op == 0x8a) {
                if (need(m, 1)) return NULL;
                n = rd_u8(m);
            } else {
                if (need(m, 4)) return NULL;
                int32_t s = (int32_t)rd_u32(m);
                if (s < 0) {
                    verr(m, "negative LONG4 length");
                    return NULL;
                }
                n = (uint64_t)s;
            }
            if (need(m, n)) return NULL;
            const uint8_t *p = m->b + m->pos;
            m->pos += (size_t)n;
            rc = push(m, decode_long(m, p, n));
            break;
        }
        case 'I': /* INT (text): "00"/"01" are False/True */
        case 'L': { /* LONG (text) */
            const uint8_t *s;
            size_t n;
            if (rd_line(m, &s, &n)) return NULL;
            if (m->op == 'I' && n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
                pkl_obj *o = new_obj(m, PKL_BOOL);
                if (o) o->u.b = s[1] == '1';
                rc = push(m, o);
                break;
            }
            int64_t v;
            int big = 0;
            if (!parse_dec(s, n, &v, &big)) {
                verr(m, "bad integer text");
                return NULL;
            }
            pkl_obj *o = new_int(m, v);
            if (o) o->u.i.big = big;
            rc = push(m, o);
            break;
        }
        case 'F': { /* FLOAT (text) */
            const uint8_t *s;
            size_t n;
            char tmp[64];
            if (rd_line(m, &s, &n)) return NULL;
            if (n == 0 || n >= sizeof tmp) {
                verr(m, "bad float text");
                return NULL;
            }
            memcpy(tmp, s, n);
            tmp[n] = 0;
            char *end;
            double d = strtod(tmp, &end);
            if (end == tmp) {
                verr(m, "bad float text");
                return NULL;
            }
            pkl_obj *o = new_obj(m, PKL_FLOAT);
            if (o) o->u.f = d;
            rc = push(m, o);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            if (need(m, 8)) return NULL;
            uint64_t v = 0;
            for (int i = 0; i < 8; i++) v = (v << 8) | m->b[m->pos + (size_t)i];
            m->pos += 8;
            double d;
            memcpy(&d, &v, 8);
            pkl_obj *o = new_obj(m, PKL_FLOAT);
            if (o) o->u.f = d;
            rc = push(m, o);
            break;
        }
        case 'X': /* BINUNICODE */
        case 0x8c: /* SHORT_BINUNICODE */
        case 0x8d: /* BINUNICODE8 */
        case 'T': /* BINSTRING */
        case 'U': /* SHORT_BINSTRING */
        case 'B': /* BINBYTES */
        case 'C': /* SHORT_BINBYTES */
        case 0x8e: /* BINBYTES8 */
        case 0x96: { /* BYTEARRAY8 */
            uint64_t n;
            int lw = (m->op == 0x8c || m->op == 'U' || m->op == 'C') ? 1
                     : (m->op == 0x8d || m->op == 0x8e || m->op == 0x96) ? 8 : 4;
            if (need(m, (uint64_t)lw)) return NULL;
            if (lw == 1) {
                n = rd_u8(m);
            } else if (lw == 8) {
                n = rd_u64(m);
            } else {
                n = rd_u32(m);
                if (m->op == 'T' && (int32_t)n < 0) {
                    verr(m, "negative BINSTRING length");
                    return NULL;
                }
            }
            if (need(m, n)) return NULL;
            pkl_type t = (m->op == 'X' || m->op == 0x8c || m->op == 0x8d) ? PKL_STR : PKL_BYTES;
            rc = push(m, new_str(m, t, m->b + m->pos, (size_t)n));
            m->pos += (size_t)n;
            break;
        }
        case 'S': /* STRING (text, quoted; escapes kept as written) */
        case 'V': { /* UNICODE (text, raw-unicode-escape kept as written) */
            const uint8_t *s;
            size_t n;
            if (rd_line(m, &s, &n)) return NULL;
            if (m->op == 'S') {
                if (n < 2 || (s[0] != '\'' && s[0] != '"') || s[n - 1] != s[0]) {
                    verr(m, "bad STRING text");
                    return NULL;
                }
                s++;
                n -= 2;
            }
            rc = push(m, new_str(m, m->op == 'S' ? PKL_BYTES : PKL_STR, s, n));
            break;
        }
        case ')': rc = push(m, new_obj(m, PKL_TUPLE)); break;
        case ']': rc = push(m, new_obj(m, PKL_LIST)); break;
        case '}': rc = push(m, new_obj(m, PKL_DICT)); break;
        case 0x8f: rc = push(m, new_obj(m, PKL_SET)); break; /* EMPTY_SET */
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            size_t n = (size_t)(m->op - 0x84);
            if (m->sp - frame_base(m) < n) {
                verr(m, "stack underflow");
                return NULL;
            }
            rc = push(m, seq_from(m, PKL_TUPLE, m->sp - n));
            break;
        }
        case 't': /* TUPLE */
        case 'l': /* LIST */
        case 0x91: { /* FROZENSET */
            size_t s;
            if (pop_mark(m, &s)) return NULL;
            rc = push(m, seq_from(m, m->op == 't' ? PKL_TUPLE : m->op == 'l' ? PKL_LIST : PKL_SET, s));
            break;
        }
        case 'd': { /* DICT */
            size_t s;
            if (pop_mark(m, &s)) return NULL;
            if ((m->sp - s) % 2) {
                verr(m, "odd number of items for DICT");
                return NULL;
            }
            pkl_obj *d = new_obj(m, PKL_DICT);
            if (!d) return NULL;
            for (size_t i = s; i < m->sp; i += 2)
                if (dict_set(m, d, m->stack[i], m->stack[i + 1])) return NULL;
            m->sp = s;
            rc = push(m, d);
            break;
        }
        case 'a': { /* APPEND */
            pkl_obj *v = pop(m);
            pkl_obj *t = v ? top(m) : NULL;
            pkl_obj *l = t ? seq_target(m, t, 0) : NULL;
            rc = l ? seq_push(m, l, v) : -1;
            break;
        }
        case 'e': /* APPENDS */
        case 0x90: { /* ADDITEMS */
            size_t s;
            if (pop_mark(m, &s)) return NULL;
            pkl_obj *t = below(m, s);
            pkl_obj *l = t ? seq_target(m, t, m->op == 0x90) : NULL;
            if (!l) return NULL;
            for (size_t i = s; i < m->sp && !rc; i++) rc = seq_push(m, l, m->stack[i]);
            m->sp = s;
            break;
        }
        case 's': { /* SETITEM */
            pkl_obj *v = pop(m);
            pkl_obj *k = v ? pop(m) : NULL;
            pkl_obj *t = k ? top(m) : NULL;
            pkl_obj *d = t ? dict_target(m, t) : NULL;
            rc = d ? dict_set(m, d, k, v) : -1;
            break;
        }
        case 'u': { /* SETITEMS */
            size_t s;
            if (pop_mark(m, &s)) return NULL;
            if ((m->sp - s) % 2) {
                verr(m, "odd number of items for SETITEMS");
                return NULL;
            }
            pkl_obj *t = below(m, s);
            pkl_obj *d = t ? dict_target(m, t) : NULL;
            if (!d) return NULL;
            for (size_t i = s; i < m->sp && !rc; i += 2) rc = dict_set(m, d, m->stack[i], m->stack[i + 1]);
            m->sp = s;
            break;
        }
        case 'c': { /* GLOBAL: "module\nname\n" */
            const uint8_t *a, *b;
            size_t na, nb;
            if (rd_line(m, &a, &na) || rd_line(m, &b, &nb)) return NULL;
            rc = push(m, new_global(m, a, na, b, nb));
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            pkl_obj *name = pop(m);
            pkl_obj *mod = name ? pop(m) : NULL;
            if (!mod) return NULL;
            if (mod->type != PKL_STR || name->type != PKL_STR) {
                verr(m, "STACK_GLOBAL needs two strings");
                return NULL;
            }
            rc = push(m, new_global(m, (const uint8_t *)mod->u.str.s, mod->u.str.len,
                                    (const uint8_t *)name->u.str.s, name->u.str.len));
            break;
        }
        case 'R': { /* REDUCE: callable(*args) */
            pkl_obj *args = pop(m);
            pkl_obj *fn = args ? pop(m) : NULL;
            if (!fn) return NULL;
            rc = push(m, do_reduce(m, fn, args));
            break;
        }
        case 0x81: { /* NEWOBJ: cls.__new__(cls, *args) */
            pkl_obj *args = pop(m);
            pkl_obj *cls = args ? pop(m) : NULL;
            if (!cls) return NULL;
            rc = push(m, new_opaque(m, cls, args));
            break;
        }
        case 0x92: { /* NEWOBJ_EX: cls, args, kwargs */
            pkl_obj *kw = pop(m);
            pkl_obj *args = kw ? pop(m) : NULL;
            pkl_obj *cls = args ? pop(m) : NULL;
            if (!cls) return NULL;
            rc = push(m, new_opaque(m, cls, args));
            break;
        }
        case 'i': { /* INST: "module\nname\n", args since the mark */
            const uint8_t *a, *b;
            size_t na, nb, s;
            if (rd_line(m, &a, &na) || rd_line(m, &b, &nb)) return NULL;
            if (pop_mark(m, &s)) return NULL;
            pkl_obj *args = seq_from(m, PKL_TUPLE, s);
            pkl_obj *cls = args ? new_global(m, a, na, b, nb) : NULL;
            rc = cls ? push(m, new_opaque(m, cls, args)) : -1;
            break;
        }
        case 'o': { /* OBJ: mark, cls, args... */
            size_t s;
            if (pop_mark(m, &s)) return NULL;
            if (m->sp == s) {
                verr(m, "OBJ without a class");
                return NULL;
            }
            pkl_obj *cls = m->stack[s];
            pkl_obj *args = seq_from(m, PKL_TUPLE, s + 1);
            m->sp = s;
            rc = args ? push(m, new_opaque(m, cls, args)) : -1;
            break;
        }
        case 'b': { /* BUILD: setstate on the object below */
            pkl_obj *state = pop(m);
            pkl_obj *t = state ? top(m) : NULL;
            if (!t) return NULL;
            if (t->type == PKL_OBJECT) {
                t->u.obj.state = state;
            } else if (t->type == PKL_DICT && state->type == PKL_DICT) {
                for (size_t i = 0; i < state->u.dict.n && !rc; i++)
                    rc = dict_set(m, t, state->u.dict.k[i], state->u.dict.v[i]);
            }
            /* BUILD on anything else (a tensor's extra state, ...) is ignored */
            break;
        }
        case 'Q': { /* BINPERSID */
            pkl_obj *pid = pop(m);
            if (!pid) return NULL;
            rc = push(m, persistent_load(m, pid));
            break;
        }
        case 'P': { /* PERSID (text) */
            const uint8_t *s;
            size_t n;
            if (rd_line(m, &s, &n)) return NULL;
            pkl_obj *pid = new_str(m, PKL_STR, s, n);
            rc = pid ? push(m, persistent_load(m, pid)) : -1;
            break;
        }
        case 'q': /* BINPUT */
            if (need(m, 1)) return NULL;
            {
                uint32_t idx = rd_u8(m);
                pkl_obj *t = top(m);
                rc = t ? memo_put(m, idx, t) : -1;
            }
            break;
        case 'r': /* LONG_BINPUT */
            if (need(m, 4)) return NULL;
            {
                uint32_t idx = rd_u32(m);
                pkl_obj *t = top(m);
                rc = t ? memo_put(m, idx, t) : -1;
            }
            break;
        case 0x94: { /* MEMOIZE */
            pkl_obj *t = top(m);
            rc = t ? memo_put(m, m->memo_count, t) : -1;
            break;
        }
        case 'p': /* PUT (text) */
        case 'g': { /* GET (text) */
            const uint8_t *s;
            size_t n;
            int64_t v;
            int big = 0;
            if (rd_line(m, &s, &n)) return NULL;
            if (!parse_dec(s, n, &v, &big) || big || v < 0) {
                verr(m, "bad memo index text");
                return NULL;
            }
            if (m->op == 'g') {
                rc = memo_get(m, (uint64_t)v);
            } else {
                pkl_obj *t = top(m);
                rc = t ? memo_put(m, (uint64_t)v, t) : -1;
            }
            break;
        }
        case 'h': /* BINGET */
            if (need(m, 1)) return NULL;
            rc = memo_get(m, rd_u8(m));
            break;
        case 'j': /* LONG_BINGET */
            if (need(m, 4)) return NULL;
            rc = memo_get(m, rd_u32(m));
            break;
        case 0x82: /* EXT1 */
        case 0x83: /* EXT2 */
        case 0x84: /* EXT4 */
            verr(m, "extension registry opcodes are not supported");
            return NULL;
        case 0x97: /* NEXT_BUFFER */
        case 0x98: /* READONLY_BUFFER */
            verr(m, "out-of-band buffers are not supported");
            return NULL;
        default: {
            unsigned op = (unsigned)m->op;
            m->op = -1; /* the message names it already */
            verr(m, "unknown opcode 0x%02x at offset %zu", op, m->op_pos);
            return NULL;
        }
        }
        if (rc || m->failed) {
            if (!m->failed) verr(m, "internal error");
            return NULL;
        }
    }
}

int pkl_load(const void *buf, size_t len, pkl_doc **doc, pkl_obj **root, char *err, size_t errlen) {
    *doc = NULL;
    *root = NULL;
    vm m;
    memset(&m, 0, sizeof m);
    m.b = buf;
    m.len = buf ? len : 0;
    m.err = err;
    m.errlen = errlen;
    m.op = -1;
    m.doc = calloc(1, sizeof *m.doc);
    if (!m.doc) {
        verr(&m, "out of memory");
        return -1;
    }
    if (m.len == 0) {
        verr(&m, "empty");
        pkl_free(m.doc);
        return -1;
    }
    pkl_obj *r = run(&m);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (!r || m.failed) {
        if (!m.failed) verr(&m, "internal error");
        pkl_free(m.doc);
        return -1;
    }
    *doc = m.doc;
    *root = r;
    return 0;
}

/* ---- accessors ------------------------------------------------------------ */

int pkl_str_eq(const pkl_obj *o, const char *s) {
    if (!o || o->type != PKL_STR) return 0;
    size_t n = strlen(s);
    return o->u.str.len == n && memcmp(o->u.str.s, s, n) == 0;
}

pkl_obj *pkl_dict_get(const pkl_obj *d, const char *key) {
    if (!d || d->type != PKL_DICT) return NULL;
    for (size_t i = d->u.dict.n; i-- > 0;)
        if (pkl_str_eq(d->u.dict.k[i], key)) return d->u.dict.v[i];
    return NULL;
}

pkl_obj *pkl_dict_get_int(const pkl_obj *d, int64_t key) {
    if (!d || d->type != PKL_DICT) return NULL;
    for (size_t i = d->u.dict.n; i-- > 0;) {
        const pkl_obj *k = d->u.dict.k[i];
        if (k->type == PKL_INT && !k->u.i.big && k->u.i.v == key) return d->u.dict.v[i];
    }
    return NULL;
}

pkl_obj *pkl_attr(const pkl_obj *o, const char *name) {
    if (!o || o->type != PKL_OBJECT || !o->u.obj.state) return NULL;
    const pkl_obj *st = o->u.obj.state;
    if (st->type == PKL_DICT) return pkl_dict_get(st, name);
    if (st->type == PKL_TUPLE) {
        for (size_t i = 0; i < st->u.seq.n && i < 2; i++) {
            pkl_obj *v = pkl_dict_get(st->u.seq.v[i], name);
            if (v) return v;
        }
    }
    return NULL;
}

const pkl_obj *pkl_class(const pkl_obj *o) {
    if (!o || o->type != PKL_OBJECT || !o->u.obj.cls || o->u.obj.cls->type != PKL_GLOBAL) return NULL;
    return o->u.obj.cls;
}

int pkl_is_class(const pkl_obj *o, const char *module, const char *name) {
    const pkl_obj *c = pkl_class(o);
    return c && streq(c->u.global.module, module) && streq(c->u.global.name, name);
}

const char *pkl_type_name(pkl_type t) {
    switch (t) {
    case PKL_NONE: return "NoneType";
    case PKL_BOOL: return "bool";
    case PKL_INT: return "int";
    case PKL_FLOAT: return "float";
    case PKL_STR: return "str";
    case PKL_BYTES: return "bytes";
    case PKL_TUPLE: return "tuple";
    case PKL_LIST: return "list";
    case PKL_SET: return "set";
    case PKL_DICT: return "dict";
    case PKL_GLOBAL: return "global";
    case PKL_OBJECT: return "object";
    case PKL_STORAGE: return "storage";
    case PKL_TENSOR: return "tensor";
    case PKL_PID: return "persistent id";
    }
    return "?";
}

const char *pkl_describe(const pkl_obj *o, char *buf, size_t n) {
    if (!n) return buf;
    if (!o) {
        snprintf(buf, n, "nothing");
    } else if (o->type == PKL_GLOBAL) {
        snprintf(buf, n, "%s.%s", o->u.global.module, o->u.global.name);
    } else if (o->type == PKL_OBJECT) {
        const pkl_obj *c = pkl_class(o);
        if (c) snprintf(buf, n, "%s.%s", c->u.global.module, c->u.global.name);
        else snprintf(buf, n, "object");
    } else {
        snprintf(buf, n, "%s", pkl_type_name(o->type));
    }
    return buf;
}

int pkl_as_int(const pkl_obj *o, int64_t *v) {
    if (!o) return 0;
    if (o->type == PKL_INT && !o->u.i.big) {
        *v = o->u.i.v;
        return 1;
    }
    if (o->type == PKL_BOOL) {
        *v = o->u.b;
        return 1;
    }
    return 0;
}

int pkl_as_float(const pkl_obj *o, double *v) {
    int64_t i;
    if (!o) return 0;
    if (o->type == PKL_FLOAT) {
        *v = o->u.f;
        return 1;
    }
    if (pkl_as_int(o, &i)) {
        *v = (double)i;
        return 1;
    }
    return 0;
}
