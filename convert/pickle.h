/* pickle.h - a pickle virtual machine that builds an object graph instead of
 * Python objects. Enough for torch.save checkpoints (protocol 2) and the
 * protocol 3/4/5 opcodes newer writers emit.
 *
 * Nothing is ever called: a REDUCE / NEWOBJ of an unknown class becomes an
 * opaque PKL_OBJECT (class + args + BUILD state + any items appended or set
 * on it), so foreign classes (paths in 'opt', ...) load fine. A few callables
 * are interpreted:
 *   torch._utils._rebuild_tensor_v2 / _rebuild_tensor  -> PKL_TENSOR
 *   torch._utils._rebuild_parameter(_with_state)      -> its tensor (param = 1)
 *   collections.OrderedDict                           -> PKL_DICT
 *   __builtin__/builtins set, frozenset               -> PKL_SET
 * A persistent id ('storage', <torch XStorage>, key, location, numel) becomes
 * a PKL_STORAGE; any other persistent id a PKL_PID wrapping it.
 *
 * Objects are shared by reference exactly as the memo shares them (a BINGET
 * of a dict gives the same pkl_obj), and may form cycles: walk with care.
 * All memory belongs to the pkl_doc; pkl_free releases it. A malformed
 * pickle is an error ("pickle: ... at offset N"), never a crash; the VM's
 * stack, marks and memo are bounded. */
#ifndef Y5_PICKLE_H
#define Y5_PICKLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PKL_NONE = 0,
    PKL_BOOL,
    PKL_INT,
    PKL_FLOAT,
    PKL_STR,     /* unicode text (UTF-8 bytes) */
    PKL_BYTES,   /* bytes / bytearray / protocol-1 binary strings */
    PKL_TUPLE,
    PKL_LIST,
    PKL_SET,     /* set or frozenset */
    PKL_DICT,    /* insertion-ordered; OrderedDict too */
    PKL_GLOBAL,  /* a class or function reference: module + name */
    PKL_OBJECT,  /* an instance we did not interpret */
    PKL_STORAGE, /* a torch storage persistent id */
    PKL_TENSOR,  /* a rebuilt torch tensor / parameter */
    PKL_PID      /* any other persistent id */
} pkl_type;

#define PKL_MAX_DIMS 8

typedef struct pkl_obj pkl_obj;
struct pkl_obj {
    pkl_type type;
    union {
        int b;          /* PKL_BOOL */
        struct {
            int64_t v;
            int big;    /* 1: did not fit in 64 bits (v is meaningless) */
        } i;            /* PKL_INT */
        double f;       /* PKL_FLOAT */
        struct {
            const char *s; /* NUL-terminated copy (may contain NULs itself) */
            size_t len;
        } str;          /* PKL_STR, PKL_BYTES */
        struct {
            pkl_obj **v;
            size_t n, cap;
        } seq;          /* PKL_TUPLE, PKL_LIST, PKL_SET */
        struct {
            pkl_obj **k, **v;
            size_t n, cap;
        } dict;         /* PKL_DICT */
        struct {
            const char *module, *name;
        } global;       /* PKL_GLOBAL */
        struct {
            pkl_obj *cls;       /* usually a PKL_GLOBAL */
            pkl_obj *args;      /* usually a PKL_TUPLE; may be NULL */
            pkl_obj *state;     /* from BUILD; NULL when none */
            pkl_obj *items;     /* PKL_LIST of APPEND(S)/ADDITEMS onto it, or NULL */
            pkl_obj *dictitems; /* PKL_DICT of SETITEM(S) onto it, or NULL */
        } obj;          /* PKL_OBJECT */
        struct {
            const char *dtype;    /* storage class name, e.g. "HalfStorage" */
            const char *key;      /* archive entry data/<key> */
            const char *location; /* "cpu", "cuda:0" */
            int64_t numel;
        } storage;      /* PKL_STORAGE */
        struct {
            pkl_obj *storage;     /* a PKL_STORAGE */
            int64_t offset;       /* in elements */
            int ndim;
            int64_t shape[PKL_MAX_DIMS];
            int64_t stride[PKL_MAX_DIMS];
            int param;            /* rebuilt as an nn.Parameter */
        } tensor;       /* PKL_TENSOR */
        pkl_obj *pid;   /* PKL_PID */
    } u;
};

typedef struct pkl_doc pkl_doc;

/* Runs the pickle in buf[0..len) to its STOP. On success *doc owns all
 * objects and *root is the result; on failure returns -1 with a message in
 * err and *doc is NULL. */
int pkl_load(const void *buf, size_t len, pkl_doc **doc, pkl_obj **root, char *err, size_t errlen);
void pkl_free(pkl_doc *doc);

/* Accessors: all tolerate NULL and wrong types (they return NULL / 0). */

/* dict[key] for a string key (the last one set wins); NULL when absent. */
pkl_obj *pkl_dict_get(const pkl_obj *dict, const char *key);
/* dict[key] for an integer key. */
pkl_obj *pkl_dict_get_int(const pkl_obj *dict, int64_t key);
/* An attribute of an object: its BUILD state's entry (state dict, or the
 * first element of a (dict, slotstate) tuple). */
pkl_obj *pkl_attr(const pkl_obj *obj, const char *name);
/* The class of an object as a PKL_GLOBAL, or NULL. */
const pkl_obj *pkl_class(const pkl_obj *obj);
/* 1 when obj is an object whose class is module.name. */
int pkl_is_class(const pkl_obj *obj, const char *module, const char *name);
/* "module.name" of an object's class, or the pickle type name for anything
 * else ("dict", "NoneType", ...). */
const char *pkl_describe(const pkl_obj *obj, char *buf, size_t n);
const char *pkl_type_name(pkl_type t);

/* Scalar helpers: 1 on success. pkl_as_int accepts int and bool;
 * pkl_as_float accepts float, int and bool. */
int pkl_as_int(const pkl_obj *o, int64_t *v);
int pkl_as_float(const pkl_obj *o, double *v);
/* 1 when o is a str equal to s. */
int pkl_str_eq(const pkl_obj *o, const char *s);

#endif
