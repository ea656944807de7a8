/* test_pickle.c - the pickle VM (convert/pickle.c) on hand-built byte
 * strings: scalars, strings, containers, the memo, deep nesting, the torch
 * callables, opaque foreign classes, malformed input (always an error,
 * never a crash), and the real checkpoints' data.pkl. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/t.h"
#include "convert/pickle.h"
#include "convert/zip.h"

#define LIT(s) (s), (sizeof(s) - 1)

static pkl_doc *g_doc;

/* Loads a pickle from an exactly-sized heap copy (so the sanitizer sees any
 * over-read); frees the previous document. NULL on error (message in err). */
static pkl_obj *load(const char *b, size_t n, char *err, size_t errlen) {
    pkl_free(g_doc);
    g_doc = NULL;
    char *c = malloc(n ? n : 1);
    if (n) memcpy(c, b, n);
    pkl_obj *root = NULL;
    err[0] = 0;
    int rc = pkl_load(c, n, &g_doc, &root, err, errlen);
    free(c);
    return rc == 0 ? root : NULL;
}

static void done(void) {
    pkl_free(g_doc);
    g_doc = NULL;
}

static int is_int(const pkl_obj *o, int64_t v) { return o && o->type == PKL_INT && !o->u.i.big && o->u.i.v == v; }

T_TEST(pickle_scalars) {
    char err[256];
    pkl_obj *o;
    o = load(LIT("\x80\x02K\x05."), err, sizeof err);
    T_CHECK(is_int(o, 5), "BININT1: %s", err);
    o = load(LIT("\x80\x02J\xff\xff\xff\xff."), err, sizeof err);
    T_CHECK(is_int(o, -1), "BININT -1");
    o = load(LIT("\x80\x02J\x00\x00\x00\x80."), err, sizeof err);
    T_CHECK(is_int(o, INT32_MIN), "BININT min");
    o = load(LIT("\x80\x02M\x34\x12."), err, sizeof err);
    T_CHECK(is_int(o, 0x1234), "BININT2");
    o = load(LIT("\x80\x02\x8a\x01\xff."), err, sizeof err);
    T_CHECK(is_int(o, -1), "LONG1 -1");
    o = load(LIT("\x80\x02\x8a\x00."), err, sizeof err);
    T_CHECK(is_int(o, 0), "LONG1 0");
    o = load(LIT("\x80\x02\x8a\x05\x00\x00\x00\x00\x01."), err, sizeof err);
    T_CHECK(is_int(o, (int64_t)1 << 32), "LONG1 2^32");
    o = load(LIT("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."), err, sizeof err);
    T_CHECK(o && o->type == PKL_INT && o->u.i.big, "LONG1 2^64 is big");
    o = load(LIT("\x80\x02\x8a\x09\xfe\xff\xff\xff\xff\xff\xff\xff\xff."), err, sizeof err);
    T_CHECK(is_int(o, -2), "LONG1 9-byte -2 fits");
    o = load(LIT("\x80\x02\x8b\x02\x00\x00\x00\x00\x80."), err, sizeof err);
    T_CHECK(is_int(o, -32768), "LONG4");
    o = load(LIT("N."), err, sizeof err);
    T_CHECK(o && o->type == PKL_NONE, "NONE");
    o = load(LIT("\x88."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BOOL && o->u.b == 1, "NEWTRUE");
    o = load(LIT("\x89."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BOOL && o->u.b == 0, "NEWFALSE");
    o = load(LIT("G\x3f\xf8\x00\x00\x00\x00\x00\x00."), err, sizeof err);
    T_CHECK(o && o->type == PKL_FLOAT && o->u.f == 1.5, "BINFLOAT");
    o = load(LIT("G\xbf\x50\x62\x4d\xd2\xf1\xa9\xfc."), err, sizeof err);
    T_CHECK(o && o->type == PKL_FLOAT && o->u.f == -0.001, "BINFLOAT -0.001");
    o = load(LIT("I42\n."), err, sizeof err);
    T_CHECK(is_int(o, 42), "INT text");
    o = load(LIT("I01\n."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BOOL && o->u.b, "INT text True");
    o = load(LIT("L-7L\n."), err, sizeof err);
    T_CHECK(is_int(o, -7), "LONG text");
    o = load(LIT("F2.5\n."), err, sizeof err);
    T_CHECK(o && o->type == PKL_FLOAT && o->u.f == 2.5, "FLOAT text");
    double d;
    int64_t i;
    o = load(LIT("K\x07."), err, sizeof err);
    T_CHECK(pkl_as_float(o, &d) && d == 7.0 && pkl_as_int(o, &i) && i == 7, "as_float/as_int");
    done();
}

T_TEST(pickle_strings) {
    char err[256];
    pkl_obj *o;
    o = load(LIT("\x80\x02X\x03\x00\x00\x00" "abc."), err, sizeof err);
    T_CHECK(pkl_str_eq(o, "abc"), "BINUNICODE");
    o = load(LIT("\x8c\x02hi."), err, sizeof err);
    T_CHECK(pkl_str_eq(o, "hi"), "SHORT_BINUNICODE");
    o = load(LIT("\x8d\x01\x00\x00\x00\x00\x00\x00\x00z."), err, sizeof err);
    T_CHECK(pkl_str_eq(o, "z"), "BINUNICODE8");
    o = load(LIT("X\x02\x00\x00\x00\xc3\xa9."), err, sizeof err);
    T_CHECK(o && o->type == PKL_STR && o->u.str.len == 2 && (unsigned char)o->u.str.s[0] == 0xc3, "UTF-8 kept");
    o = load(LIT("C\x03\x61\x00\x62."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 3 && o->u.str.s[1] == 0 && o->u.str.s[3] == 0,
            "SHORT_BINBYTES with a NUL");
    o = load(LIT("B\x02\x00\x00\x00xy."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 2, "BINBYTES");
    o = load(LIT("\x8e\x01\x00\x00\x00\x00\x00\x00\x00q."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 1, "BINBYTES8");
    o = load(LIT("\x96\x02\x00\x00\x00\x00\x00\x00\x00" "ab."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 2, "BYTEARRAY8");
    o = load(LIT("U\x02ok."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 2, "SHORT_BINSTRING");
    o = load(LIT("T\x01\x00\x00\x00k."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 1, "BINSTRING");
    o = load(LIT("S'text'\n."), err, sizeof err);
    T_CHECK(o && o->type == PKL_BYTES && o->u.str.len == 4 && !memcmp(o->u.str.s, "text", 4), "STRING text");
    o = load(LIT("Vh\xc3\xa9\n."), err, sizeof err);
    T_CHECK(o && o->type == PKL_STR && o->u.str.len == 3, "UNICODE text");
    done();
}

T_TEST(pickle_containers) {
    char err[256];
    pkl_obj *o;
    o = load(LIT("(K\x01K\x02K\x03t."), err, sizeof err);
    T_CHECK(o && o->type == PKL_TUPLE && o->u.seq.n == 3 && is_int(o->u.seq.v[2], 3), "TUPLE");
    o = load(LIT(")."), err, sizeof err);
    T_CHECK(o && o->type == PKL_TUPLE && o->u.seq.n == 0, "EMPTY_TUPLE");
    o = load(LIT("K\x01\x85."), err, sizeof err);
    T_CHECK(o && o->type == PKL_TUPLE && o->u.seq.n == 1, "TUPLE1");
    o = load(LIT("K\x01K\x02\x86."), err, sizeof err);
    T_CHECK(o && o->u.seq.n == 2 && is_int(o->u.seq.v[0], 1) && is_int(o->u.seq.v[1], 2), "TUPLE2 order");
    o = load(LIT("K\x01K\x02K\x03\x87."), err, sizeof err);
    T_CHECK(o && o->u.seq.n == 3 && is_int(o->u.seq.v[0], 1), "TUPLE3");
    o = load(LIT("](K\x01K\x02" "eK\x03" "a."), err, sizeof err);
    T_CHECK(o && o->type == PKL_LIST && o->u.seq.n == 3 && is_int(o->u.seq.v[0], 1) && is_int(o->u.seq.v[2], 3),
            "APPENDS + APPEND");
    o = load(LIT("(K\x01K\x02l."), err, sizeof err);
    T_CHECK(o && o->type == PKL_LIST && o->u.seq.n == 2, "LIST");
    o = load(LIT("}(X\x01\x00\x00\x00" "bK\x01X\x01\x00\x00\x00" "aK\x02X\x01\x00\x00\x00" "bK\x03u."), err, sizeof err);
    T_REQUIRE(o && o->type == PKL_DICT, "SETITEMS: %s", err);
    T_CHECK(pkl_str_eq(o->u.dict.k[0], "b") && pkl_str_eq(o->u.dict.k[1], "a"), "insertion order");
    T_CHECK(is_int(pkl_dict_get(o, "b"), 3) && is_int(pkl_dict_get(o, "a"), 2), "last assignment wins");
    T_CHECK(pkl_dict_get(o, "c") == NULL && pkl_dict_get(NULL, "a") == NULL, "absent keys");
    o = load(LIT("}X\x01\x00\x00\x00kK\x09s."), err, sizeof err);
    T_CHECK(is_int(pkl_dict_get(o, "k"), 9), "SETITEM");
    o = load(LIT("(X\x01\x00\x00\x00" "aK\x01X\x01\x00\x00\x00" "cK\x02" "d."), err, sizeof err);
    T_CHECK(o && o->type == PKL_DICT && o->u.dict.n == 2 && is_int(pkl_dict_get(o, "c"), 2), "DICT");
    o = load(LIT("}(K\x00X\x06\x00\x00\x00personK\x01X\x07\x00\x00\x00" "bicycleu."), err, sizeof err);
    T_CHECK(pkl_str_eq(pkl_dict_get_int(o, 0), "person") && pkl_str_eq(pkl_dict_get_int(o, 1), "bicycle") &&
                pkl_dict_get_int(o, 2) == NULL, "int keys");
    o = load(LIT("\x8f(K\x01K\x02\x90."), err, sizeof err);
    T_CHECK(o && o->type == PKL_SET && o->u.seq.n == 2, "EMPTY_SET + ADDITEMS: %s", err);
    o = load(LIT("(K\x01\x91."), err, sizeof err);
    T_CHECK(o && o->type == PKL_SET && o->u.seq.n == 1, "FROZENSET");
    o = load(LIT("(K\x01K\x02K\x03" "1K\x04."), err, sizeof err);
    T_CHECK(is_int(o, 4), "POP_MARK");
    o = load(LIT("K\x05K\x06" "0."), err, sizeof err);
    T_CHECK(is_int(o, 5), "POP");
    o = load(LIT("K\x05(0."), err, sizeof err);
    T_CHECK(is_int(o, 5), "POP of an empty frame pops the mark");
    done();
}

T_TEST(pickle_memo_shares_objects) {
    char err[256];
    pkl_obj *o;
    /* [] put 0; get 0; append 7 to it; (a, b) -> both the same list */
    o = load(LIT("]q\x00h\x00K\x07" "a\x86."), err, sizeof err);
    T_REQUIRE(o && o->type == PKL_TUPLE && o->u.seq.n == 2, "%s", err);
    T_CHECK(o->u.seq.v[0] == o->u.seq.v[1] && o->u.seq.v[0]->u.seq.n == 1, "BINGET must share the object");
    o = load(LIT("K\x05r\x10\x00\x00\x00j\x10\x00\x00\x00\x86."), err, sizeof err);
    T_CHECK(o && o->u.seq.n == 2 && o->u.seq.v[0] == o->u.seq.v[1], "LONG_BINPUT / LONG_BINGET");
    o = load(LIT("K\x09p3\n0g3\n."), err, sizeof err);
    T_CHECK(is_int(o, 9), "PUT / GET text: %s", err);
    o = load(LIT("K\x04\x32\x86."), err, sizeof err);
    T_CHECK(o && o->u.seq.n == 2 && o->u.seq.v[0] == o->u.seq.v[1], "DUP");
    /* protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL */
    o = load(LIT("\x80\x04\x95\x30\x00\x00\x00\x00\x00\x00\x00\x8c\x0b"
                 "collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94(\x8c\x01"
                 "a\x94K\x01u\x8c\x01zh\x02\x87."),
             err, sizeof err);
    T_REQUIRE(o && o->type == PKL_TUPLE && o->u.seq.n == 3, "protocol 4: %s", err);
    const pkl_obj *d = o->u.seq.v[0], *g = o->u.seq.v[2];
    T_CHECK(d->type == PKL_DICT && is_int(pkl_dict_get(d, "a"), 1), "OrderedDict via STACK_GLOBAL");
    T_CHECK(g->type == PKL_GLOBAL && !strcmp(g->u.global.module, "collections") &&
                !strcmp(g->u.global.name, "OrderedDict"), "memo index 2 is the global (MEMOIZE counts)");
    done();
}

T_TEST(pickle_nested_deep) {
    int depth = 20000;
    size_t n = (size_t)depth * 2 + 2;
    char *b = malloc(n);
    for (int i = 0; i <= depth; i++) b[i] = ']';
    for (int i = 0; i < depth; i++) b[depth + 1 + i] = 'a';
    b[2 * depth + 1] = '.';
    char err[256];
    pkl_obj *o = load(b, n, err, sizeof err);
    T_REQUIRE(o, "deep nesting: %s", err);
    int k = 0;
    while (o && o->type == PKL_LIST && o->u.seq.n == 1) {
        o = o->u.seq.v[0];
        k++;
    }
    T_CHECK(k == depth && o && o->u.seq.n == 0, "depth %d", k);
    /* marks nested deep too */
    int marks = 50000;
    char *m = malloc((size_t)marks * 2 + 1);
    for (int i = 0; i < marks; i++) m[i] = '(';
    for (int i = 0; i < marks; i++) m[marks + i] = 't';
    m[2 * marks] = '.';
    o = load(m, (size_t)marks * 2 + 1, err, sizeof err);
    T_CHECK(o && o->type == PKL_TUPLE, "nested marks: %s", err);
    free(m);
    free(b);
    done();
}

T_TEST(pickle_reduce_builtins) {
    char err[256];
    pkl_obj *o;
    o = load(LIT("ccollections\nOrderedDict\nq\x00)R(X\x01\x00\x00\x00kK\x01u."), err, sizeof err);
    T_CHECK(o && o->type == PKL_DICT && is_int(pkl_dict_get(o, "k"), 1), "OrderedDict(): %s", err);
    o = load(LIT("ccollections\nOrderedDict\n]((X\x01\x00\x00\x00" "aK\x01t(X\x01\x00\x00\x00" "bK\x02te\x85R."), err,
             sizeof err);
    T_CHECK(o && o->type == PKL_DICT && o->u.dict.n == 2 && is_int(pkl_dict_get(o, "b"), 2), "OrderedDict(pairs): %s",
            err);
    o = load(LIT("c__builtin__\nset\n](K\x01K\x02" "e\x85R."), err, sizeof err);
    T_CHECK(o && o->type == PKL_SET && o->u.seq.n == 2, "set([1, 2])");
    o = load(LIT("cbuiltins\nfrozenset\n](K\x01" "e\x85R."), err, sizeof err);
    T_CHECK(o && o->type == PKL_SET && o->u.seq.n == 1, "frozenset");
    done();
}

#define TENSOR_ARGS                                                                               \
    "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x06tQ" \
    "K\x00(K\x02K\x03t(K\x03K\x01t\x89" "ccollections\nOrderedDict\n)Rt"

static const char TENSOR_PKL[] = "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\nq\x00" TENSOR_ARGS "R.";
static const char PARAM_PKL[] = "\x80\x02" "ctorch._utils\n_rebuild_parameter\n"
                                "(ctorch._utils\n_rebuild_tensor_v2\n" TENSOR_ARGS "R\x89"
                                "ccollections\nOrderedDict\n)RtR.";

T_TEST(pickle_torch_tensor) {
    char err[256];
    pkl_obj *o = load(TENSOR_PKL, sizeof TENSOR_PKL - 1, err, sizeof err);
    T_REQUIRE(o && o->type == PKL_TENSOR, "tensor: %s (%s)", err, o ? pkl_type_name(o->type) : "-");
    T_CHECK(o->u.tensor.ndim == 2 && o->u.tensor.shape[0] == 2 && o->u.tensor.shape[1] == 3 &&
                o->u.tensor.stride[0] == 3 && o->u.tensor.stride[1] == 1 && o->u.tensor.offset == 0 &&
                o->u.tensor.param == 0, "layout");
    const pkl_obj *s = o->u.tensor.storage;
    T_CHECK(s->type == PKL_STORAGE && !strcmp(s->u.storage.dtype, "FloatStorage") && !strcmp(s->u.storage.key, "0") &&
                !strcmp(s->u.storage.location, "cpu") && s->u.storage.numel == 6, "storage");
    o = load(PARAM_PKL, sizeof PARAM_PKL - 1, err, sizeof err);
    T_CHECK(o && o->type == PKL_TENSOR && o->u.tensor.param == 1, "parameter: %s", err);
    /* other persistent ids are kept, wrapped */
    o = load(LIT("X\x03\x00\x00\x00" "abcQ."), err, sizeof err);
    T_CHECK(o && o->type == PKL_PID && pkl_str_eq(o->u.pid, "abc"), "foreign persistent id");
    /* _rebuild_tensor_v2 with arguments torch never writes: opaque, not an error */
    o = load(LIT("ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00))tR."), err, sizeof err);
    T_CHECK(o && o->type == PKL_OBJECT && pkl_is_class(o, "torch._utils", "_rebuild_tensor_v2"), "odd args: %s", err);
    done();
}

T_TEST(pickle_opaque_objects) {
    char err[256], d[128];
    pkl_obj *o;
    o = load(LIT("cmodels.common\nConv\n)\x81}(X\x01\x00\x00\x00" "fJ\xff\xff\xff\xffub."), err, sizeof err);
    T_REQUIRE(o && o->type == PKL_OBJECT, "NEWOBJ + BUILD: %s", err);
    T_CHECK(pkl_is_class(o, "models.common", "Conv") && !pkl_is_class(o, "models.common", "C3"), "class");
    T_CHECK(!strcmp(pkl_describe(o, d, sizeof d), "models.common.Conv"), "describe '%s'", d);
    T_CHECK(is_int(pkl_attr(o, "f"), -1) && pkl_attr(o, "g") == NULL, "attributes");
    o = load(LIT("cpathlib\nPosixPath\n(X\x04\x00\x00\x00/tmpX\x01\x00\x00\x00" "atR."), err, sizeof err);
    T_CHECK(o && pkl_is_class(o, "pathlib", "PosixPath") && o->u.obj.args && o->u.obj.args->u.seq.n == 2,
            "foreign REDUCE: %s", err);
    o = load(LIT("ccollections\ndefaultdict\nc__builtin__\nlist\n\x85R(X\x01\x00\x00\x00xK\x01u."), err, sizeof err);
    T_CHECK(o && o->type == PKL_OBJECT && is_int(pkl_dict_get(o->u.obj.dictitems, "x"), 1), "SETITEMS on an object: %s",
            err);
    o = load(LIT("cfoo\nMyList\n)\x81(K\x01K\x02" "eK\x03" "a."), err, sizeof err);
    T_CHECK(o && o->type == PKL_OBJECT && o->u.obj.items && o->u.obj.items->u.seq.n == 3, "APPENDS on an object: %s",
            err);
    o = load(LIT("cfoo\nBar\n)\x81N}(X\x01\x00\x00\x00zK\x05u\x86" "b."), err, sizeof err);
    T_CHECK(is_int(pkl_attr(o, "z"), 5), "(dict, slotstate) state: %s", err);
    o = load(LIT("cfoo\nBaz\n)}\x92."), err, sizeof err);
    T_CHECK(o && pkl_is_class(o, "foo", "Baz"), "NEWOBJ_EX: %s", err);
    o = load(LIT("(K\x01ifoo\nOld\n."), err, sizeof err);
    T_CHECK(o && pkl_is_class(o, "foo", "Old") && o->u.obj.args->u.seq.n == 1, "INST: %s", err);
    o = load(LIT("(cfoo\nOld\nK\x01K\x02o."), err, sizeof err);
    T_CHECK(o && pkl_is_class(o, "foo", "Old") && o->u.obj.args->u.seq.n == 2, "OBJ: %s", err);
    o = load(LIT("}(X\x01\x00\x00\x00qK\x01u}(X\x01\x00\x00\x00rK\x02ub."), err, sizeof err);
    T_CHECK(o && o->type == PKL_DICT && is_int(pkl_dict_get(o, "r"), 2), "BUILD on a dict merges: %s", err);
    T_CHECK(!strcmp(pkl_describe(o, d, sizeof d), "dict"), "describe dict");
    done();
}

T_TEST(pickle_malformed) {
    static const struct {
        const char *b;
        size_t n;
        const char *want;
    } cases[] = {
        {"", 0, "empty"},
        {LIT("K"), "truncated"},
        {LIT("K\x01"), "no STOP"},
        {LIT("\xff"), "unknown opcode 0xff at offset 0"},
        {LIT("K\x01\xfe."), "unknown opcode 0xfe at offset 2"},
        {LIT("R."), "stack underflow"},
        {LIT("K\x01R."), "stack underflow"},
        {LIT("t."), "MARK missing"},
        {LIT("(."), "stack underflow"},
        {LIT("K\x01(R."), "stack underflow"}, /* cannot reach below a mark */
        {LIT("h\x05."), "memo index 5 was never set"},
        {LIT("j\x00\x00\x00\x01."), "never set"},
        {LIT("K\x01K\x02" "a."), "cannot append to a int"},
        {LIT("K\x01(K\x02u."), "odd number"},
        {LIT("N(K\x01K\x02u."), "cannot set items on a NoneType"},
        {LIT("\x80\x09."), "unsupported pickle protocol 9"},
        {LIT("\x8b\xff\xff\xff\xffK."), "negative LONG4"},
        {LIT("X\xff\xff\xff\x7f" "abc."), "truncated"},
        {LIT("\x8d\xff\xff\xff\xff\xff\xff\xff\xff."), "truncated"},
        {LIT("q\x00."), "stack underflow"},
        {LIT("K\x01r\xff\xff\xff\x7f."), "too large"},
        {LIT("(\x85."), "stack underflow"},
        {LIT("\x82\x01."), "extension registry"},
        {LIT("\x97."), "out-of-band"},
        {LIT("ca\n"), "truncated"},
        {LIT("I12x\n."), "bad integer"},
        {LIT("S'abc\n."), "bad STRING"},
        {LIT("K\x01K\x02\x93."), "STACK_GLOBAL needs two strings"},
        {LIT("(o."), "OBJ without a class"},
        {LIT("\x95\x01\x00."), "truncated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        pkl_obj *o = load(cases[i].b, cases[i].n, err, sizeof err);
        T_CHECK(o == NULL, "case %zu accepted", i);
        T_CHECK(strncmp(err, "pickle: ", 8) == 0 && strstr(err, cases[i].want), "case %zu: '%s' (want '%s')", i, err,
                cases[i].want);
        T_CHECK(g_doc == NULL, "case %zu: document left after an error", i);
    }
    done();
}

/* {'model': Model object with nc and names}; the second also re-reads the
 * memo (the state dict and the names list) into the outer dict. */
static const char MODEL_PKL[] = "\x80\x02}q\x00(X\x05\x00\x00\x00modelq\x01"
                                "cmodels.yolo\nModel\nq\x02)\x81q\x03}q\x04(X\x02\x00\x00\x00nc"
                                "K\x50X\x05\x00\x00\x00namesq\x05](X\x06\x00\x00\x00personeubu.";
static const char MODEL_PKL2[] = "\x80\x02}q\x00(X\x05\x00\x00\x00modelq\x01"
                                 "cmodels.yolo\nModel\nq\x02)\x81q\x03}q\x04(X\x02\x00\x00\x00nc"
                                 "K\x50X\x05\x00\x00\x00namesq\x05](X\x06\x00\x00\x00personeubh\x04h\x05u.";

T_TEST(pickle_truncated_every_prefix) {
    const char *srcs[2] = {PARAM_PKL, MODEL_PKL};
    size_t lens[2] = {sizeof PARAM_PKL - 1, sizeof MODEL_PKL - 1};
    for (int s = 0; s < 2; s++) {
        char err[256];
        T_REQUIRE(load(srcs[s], lens[s], err, sizeof err) != NULL, "full pickle %d: %s", s, err);
        for (size_t n = 0; n < lens[s]; n++) {
            pkl_obj *o = load(srcs[s], n, err, sizeof err);
            /* a prefix may end on a STOP byte of some string... it must then be a
             * complete, valid pickle; otherwise an error */
            if (o) continue;
            T_CHECK(err[0] && !strchr(err, '\n'), "prefix %zu: no message", n);
        }
    }
    done();
}

T_TEST(pickle_fuzz) {
    const char *srcs[2] = {PARAM_PKL, MODEL_PKL2};
    size_t lens[2] = {sizeof PARAM_PKL - 1, sizeof MODEL_PKL2 - 1};
    uint64_t r = 0x853c49e6748fea9bull;
    int ok = 0, iters = getenv("Y5_ASAN") ? 5000 : 30000;
    char buf[512], err[256];
    for (int it = 0; it < iters; it++) {
        int s = it & 1;
        size_t n = lens[s];
        memcpy(buf, srcs[s], n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            buf[r % n] = (char)(r >> 24);
        }
        if (it % 7 == 0) n = (size_t)(r >> 33) % n;
        ok += load(buf, n, err, sizeof err) != NULL;
    }
    printf("    %d of %d mutated pickles still loaded\n", ok, iters);
    done();
}

T_TEST(pickle_real_checkpoints) {
    T_NEED_SHARED();
    const char *files[2] = {"models/yolov5n.pt", "models/yolov5m-synth.pt"};
    const char *cls[2] = {"Model", "DetectionModel"};
    for (int f = 0; f < 2; f++) {
        size_t n;
        uint8_t *b = t_read_file(t_shared_path(files[f]), &n);
        T_REQUIRE(b, "read");
        y5_zip z;
        char err[256];
        T_REQUIRE(y5_zip_open(&z, b, n, err, sizeof err) == 0, "%s", err);
        const uint8_t *d;
        uint64_t sz;
        T_REQUIRE(y5_zip_data(&z, &z.entries[0], &d, &sz, err, sizeof err) == 0, "%s", err);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pkl_obj *root = load((const char *)d, (size_t)sz, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        T_REQUIRE(root && root->type == PKL_DICT, "%s: %s", files[f], err);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("    %s: data.pkl (%llu bytes) in %.1f ms\n", files[f], (unsigned long long)sz, ms);
        int64_t ep;
        T_CHECK(pkl_as_int(pkl_dict_get(root, "epoch"), &ep) && ep == -1, "epoch");
        T_CHECK(pkl_dict_get(root, "ema") && pkl_dict_get(root, "ema")->type == PKL_NONE, "ema None");
        pkl_obj *model = pkl_dict_get(root, "model");
        T_REQUIRE(pkl_is_class(model, "models.yolo", cls[f]), "model class");
        pkl_obj *seq = pkl_dict_get(pkl_attr(model, "_modules"), "model");
        pkl_obj *layers = pkl_attr(seq, "_modules");
        T_REQUIRE(layers && layers->type == PKL_DICT && layers->u.dict.n == 25, "25 layers");
        pkl_obj *l0 = layers->u.dict.v[0];
        T_CHECK(pkl_is_class(l0, "models.common", "Conv"), "layer 0 Conv");
        pkl_obj *conv = pkl_dict_get(pkl_attr(l0, "_modules"), "conv");
        pkl_obj *w = pkl_dict_get(pkl_attr(conv, "_parameters"), "weight");
        T_REQUIRE(w && w->type == PKL_TENSOR, "layer 0 conv weight");
        T_CHECK(w->u.tensor.param && w->u.tensor.ndim == 4 && w->u.tensor.shape[1] == 3 && w->u.tensor.shape[2] == 6 &&
                    !strcmp(w->u.tensor.storage->u.storage.dtype, "HalfStorage"), "weight layout");
        pkl_obj *bn = pkl_dict_get(pkl_attr(l0, "_modules"), "bn");
        double eps;
        T_CHECK(pkl_as_float(pkl_attr(bn, "eps"), &eps) && eps == 0.001, "bn eps");
        pkl_obj *nbt = pkl_dict_get(pkl_attr(bn, "_buffers"), "num_batches_tracked");
        T_CHECK(nbt && nbt->type == PKL_TENSOR && nbt->u.tensor.ndim == 0 &&
                    !strcmp(nbt->u.tensor.storage->u.storage.dtype, "LongStorage"), "num_batches_tracked");
        pkl_obj *det = layers->u.dict.v[24];
        pkl_obj *an = pkl_dict_get(pkl_attr(det, "_buffers"), "anchors");
        T_CHECK(an && an->type == PKL_TENSOR && an->u.tensor.ndim == 3 && an->u.tensor.shape[2] == 2, "anchors");
        pkl_obj *names = pkl_attr(model, "names");
        T_CHECK(names && (f == 0 ? pkl_str_eq(names->u.seq.v[0], "person")
                                 : pkl_str_eq(pkl_dict_get_int(names, 0), "person")), "names[0]");
        y5_zip_close(&z);
        free(b);
    }
    done();
}
