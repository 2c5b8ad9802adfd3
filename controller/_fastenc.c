/* controller._fastenc: session-entry P4Runtime ``Update`` messages serialised in C.
 *
 * The C twin of ``controller.translate._FastEncoder`` (the reference, and the fallback when
 * this module is not built). ``Encoder`` is constructed once from the Python encoder's own
 * precomputed tables (field header bytes per value length, table/action id prefixes, the
 * agent id bytes, the TTL field, the role codes), so both serialise with the same bytes;
 * per entry it reads the entry's attributes, converts dotted quads with inet_aton (the
 * function behind Python's socket.inet_aton) and writes one buffer.
 *
 * ``update(kind, e, agent_id=None)`` and ``delete(key, agent_id=None)`` return the serialised
 * ``Update`` exactly as the Python encoder does, or ``None`` wherever the Python encoder
 * returns ``None`` (a value the pipeline cannot hold: slot, epoch, window shift out of range,
 * a non-TCP rewrite, missing deltas, a two-path or peer_cut IN entry) and wherever it would
 * raise (a malformed address, a negative or over-long value, an agent id outside 0..255):
 * the caller then takes the contract path, which raises the proper error.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#define HMAX 40   /* longest header accepted from the tables */
#define FMAX 40   /* most fields per table / parameters per action */
#define NLEN 9    /* headers per field: value lengths 0..8 */
#define BUFSZ 4096

/* value ids: rewrite block (prefix "" at 0, "new_" at NEW), entry values, match values */
enum {
    V_SRC_ADDR, V_DST_ADDR, V_SRC_PORT, V_DST_PORT, V_SEQ, V_ACK, V_TSVAL, V_TSECR, V_WIN,
    V_REWRITE_N,
    V_NEW = V_REWRITE_N,
    V_SLOT = 2 * V_REWRITE_N, V_ROLE, V_EPOCH, V_PEER_CUT, V_PEER_CUT_VALID,
    M_SRC_ADDR, M_DST_ADDR, M_PROTO, M_SRC_PORT, M_DST_PORT, M_AGENT,
    V_COUNT
};

static const char *const REWRITE_NAMES[V_REWRITE_N] = {
    "src_addr", "dst_addr", "src_port", "dst_port", "seq_delta", "ack_delta",
    "tsval_delta", "tsecr_delta", "win_shift",
};

typedef struct {
    uint8_t len;
    uint8_t b[8];
} val_t;

typedef struct {
    uint8_t len;
    uint8_t b[HMAX];
} hdr_t;

typedef struct {
    int vid; /* -1: a name this encoder does not know (the Python encoder raises KeyError) */
    hdr_t by_len[NLEN];
} field_t;

typedef struct {
    hdr_t pre;
    int n;
    field_t f[FMAX];
} block_t;

enum { T_OUT, T_IN, T_N };
enum { A_OUT_REWRITE, A_OUT_TWO_PATH, A_IN_REWRITE, A_N };

typedef struct {
    PyObject_HEAD
    block_t tbl[T_N];
    block_t act[A_N];
    val_t agent;
    hdr_t ttl;
    PyObject *roles;   /* dict Role -> bytes */
    PyObject *dir_in;  /* Direction.IN */
    PyObject *dir_out; /* Direction.OUT */
    PyObject *tcp;     /* the TCP protocol number */
    long long slot_space;
    long long max_win_shift;
    long delete_kind;
} Encoder;

static PyObject *S_slot, *S_epoch, *S_rewrite, *S_deltas, *S_role, *S_key, *S_new_rewrite,
    *S_new_deltas, *S_peer_cut, *S_direction, *S_match, *S_src_ip, *S_dst_ip, *S_proto,
    *S_src_port, *S_dst_port, *S_seq, *S_ack, *S_tsval, *S_tsecr, *S_win_shift, *S_agent_id;

/* -- values ---------------------------------------------------------------------------- */

/* Canonical P4Runtime bytestring of v (as the Python ``_cb``): minimal big-endian, 0 -> 00. */
static inline void cb(val_t *o, uint64_t v) {
    int n = 1;
    while (n < 8 && (v >> (8 * n)) != 0)
        n++;
    o->len = (uint8_t)n;
    for (int i = 0; i < n; i++)
        o->b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A non-negative int of at most 64 bits; 0 (no exception set) for anything else. */
static inline int get_u64(PyObject *x, uint64_t *out) {
    if (!PyLong_Check(x))
        return 0;
    unsigned long long v = PyLong_AsUnsignedLongLong(x);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* Any int modulo 2^32 (Python ``v & 0xFFFFFFFF``). */
static inline int get_m32(PyObject *x, uint64_t *out) {
    if (!PyLong_Check(x))
        return 0;
    unsigned long long v = PyLong_AsUnsignedLongLongMask(x);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = v & 0xFFFFFFFFull;
    return 1;
}

static inline int get_ll(PyObject *x, long long *out) {
    if (!PyLong_Check(x))
        return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

/* The attribute as an owned reference, or NULL with the error cleared. */
static inline PyObject *attr(PyObject *o, PyObject *name) {
    PyObject *r = PyObject_GetAttr(o, name);
    if (r == NULL)
        PyErr_Clear();
    return r;
}

static int attr_u64(PyObject *o, PyObject *name, val_t *v) {
    PyObject *x = attr(o, name);
    if (x == NULL)
        return 0;
    uint64_t u;
    int ok = get_u64(x, &u);
    Py_DECREF(x);
    if (ok)
        cb(v, u);
    return ok;
}

static int attr_m32(PyObject *o, PyObject *name, val_t *v) {
    PyObject *x = attr(o, name);
    if (x == NULL)
        return 0;
    uint64_t u;
    int ok = get_m32(x, &u);
    Py_DECREF(x);
    if (ok)
        cb(v, u);
    return ok;
}

/* The plain form a.b.c.d (decimal, 0..255, no leading zeros): what inet_aton gives for it,
 * without its general parser (octal, hex, fewer parts); 0 for anything else. */
static inline int quad(const char *s, Py_ssize_t n, uint64_t *out) {
    uint32_t a = 0;
    int parts = 0;
    Py_ssize_t i = 0;
    while (parts < 4) {
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        unsigned x = (unsigned)(s[i++] - '0');
        if (x == 0 && i < n && s[i] >= '0' && s[i] <= '9')
            return 0; /* a leading zero: octal for inet_aton */
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            x = x * 10 + (unsigned)(s[i++] - '0');
            if (x > 255)
                return 0;
        }
        a = a << 8 | x;
        if (++parts < 4) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i != n)
        return 0;
    *out = a;
    return 1;
}

/* A dotted quad (socket.inet_aton's syntax) as its canonical bytes. */
static int attr_ip(PyObject *o, PyObject *name, val_t *v) {
    PyObject *x = attr(o, name);
    if (x == NULL)
        return 0;
    int ok = 0;
    if (PyUnicode_Check(x)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(x, &n);
        struct in_addr a;
        uint64_t u;
        if (s == NULL)
            PyErr_Clear();
        else if (quad(s, n, &u)) {
            cb(v, u);
            ok = 1;
        } else if ((size_t)n == strlen(s) && inet_aton(s, &a)) {
            cb(v, ntohl(a.s_addr));
            ok = 1;
        }
    }
    Py_DECREF(x);
    return ok;
}

/* The rewrite block at ``base`` from tuple t and deltas d (``_FastEncoder._rewrite``). */
static int rewrite(Encoder *self, val_t *vals, int base, PyObject *t, PyObject *d) {
    if (d == Py_None)
        return 0;
    PyObject *proto = attr(t, S_proto);
    if (proto == NULL)
        return 0;
    int eq = PyObject_RichCompareBool(proto, self->tcp, Py_EQ);
    Py_DECREF(proto);
    if (eq != 1) {
        if (eq < 0)
            PyErr_Clear();
        return 0;
    }
    PyObject *ws = attr(d, S_win_shift);
    if (ws == NULL)
        return 0;
    long long w;
    int ok = get_ll(ws, &w);
    Py_DECREF(ws);
    if (!ok || w < -self->max_win_shift || w > self->max_win_shift)
        return 0;
    cb(&vals[base + V_WIN], (uint64_t)w & 0xFF);
    return attr_ip(t, S_src_ip, &vals[base + V_SRC_ADDR])
        && attr_ip(t, S_dst_ip, &vals[base + V_DST_ADDR])
        && attr_u64(t, S_src_port, &vals[base + V_SRC_PORT])
        && attr_u64(t, S_dst_port, &vals[base + V_DST_PORT])
        && attr_m32(d, S_seq, &vals[base + V_SEQ])
        && attr_m32(d, S_ack, &vals[base + V_ACK])
        && attr_m32(d, S_tsval, &vals[base + V_TSVAL])
        && attr_m32(d, S_tsecr, &vals[base + V_TSECR]);
}

/* The match values of five-tuple m (``_FastEncoder._match``'s values). */
static int match_vals(val_t *vals, PyObject *m) {
    return attr_ip(m, S_src_ip, &vals[M_SRC_ADDR]) && attr_ip(m, S_dst_ip, &vals[M_DST_ADDR])
        && attr_u64(m, S_proto, &vals[M_PROTO]) && attr_u64(m, S_src_port, &vals[M_SRC_PORT])
        && attr_u64(m, S_dst_port, &vals[M_DST_PORT]);
}

/* -- writing --------------------------------------------------------------------------- */

static inline int varint_len(size_t n) {
    int k = 1;
    while (n >= 0x80) {
        n >>= 7;
        k++;
    }
    return k;
}

static inline uint8_t *put_varint(uint8_t *p, size_t n) {
    while (n >= 0x80) {
        *p++ = (uint8_t)(n | 0x80);
        n >>= 7;
    }
    *p++ = (uint8_t)n;
    return p;
}

static inline uint8_t *put(uint8_t *p, const uint8_t *b, size_t n) {
    memcpy(p, b, n);
    return p + n;
}

/* A block (table match or action params): prefix, then header + value per field; NULL when a
 * field's value is not set (the Python encoder's KeyError). */
static uint8_t *put_block(uint8_t *p, const block_t *blk, const val_t *vals, uint64_t set) {
    p = put(p, blk->pre.b, blk->pre.len);
    for (int i = 0; i < blk->n; i++) {
        const field_t *f = &blk->f[i];
        if (f->vid < 0 || !(set >> f->vid & 1))
            return NULL;
        const val_t *v = &vals[f->vid];
        p = put(p, f->by_len[v->len].b, f->by_len[v->len].len);
        p = put(p, v->b, v->len);
    }
    return p;
}

/* Update{type=kind, entity=Entity{table_entry=<te>}} as a bytes object. */
static PyObject *finish(long kind, const uint8_t *te, size_t te_len) {
    size_t ent = 1 + varint_len(te_len) + te_len;
    size_t total = 1 + varint_len((size_t)kind) + 1 + varint_len(ent) + ent;
    PyObject *r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (r == NULL)
        return NULL;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(r);
    *p++ = 0x08;
    p = put_varint(p, (size_t)kind);
    *p++ = 0x12;
    p = put_varint(p, ent);
    *p++ = 0x12;
    p = put_varint(p, te_len);
    memcpy(p, te, te_len);
    return r;
}

/* agent_id argument: NULL/None -> the encoder's; 0..255 -> its bytes; else 0. */
static int agent_arg(Encoder *self, PyObject *a, val_t *out) {
    if (a == NULL || a == Py_None) {
        *out = self->agent;
        return 1;
    }
    long long v;
    if (!get_ll(a, &v) || v < 0 || v > 255)
        return 0;
    cb(out, (uint64_t)v);
    return 1;
}

/* (positional..., agent_id=) of a METH_FASTCALL | METH_KEYWORDS method with npos required
 * positional arguments; -1 with TypeError set when the call does not fit. */
static int parse_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int npos,
                      const char *fname, PyObject **agent) {
    *agent = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs == npos + 1 && nkw == 0)
        *agent = args[npos];
    else if (nargs == npos && nkw == 1
             && PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), S_agent_id) == 0)
        *agent = args[npos];
    else if (!(nargs == npos && nkw == 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes %d positional arguments and agent_id", fname,
                     npos);
        return -1;
    }
    return 0;
}

static PyObject *Encoder_update(Encoder *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    PyObject *agent_obj;
    if (parse_args(args, nargs, kwnames, 2, "update", &agent_obj) < 0)
        return NULL;
    PyObject *e = args[1];
    val_t vals[V_COUNT];
    uint64_t set = 0;
    long long kind, slot, epoch;
    PyObject *r = NULL, *x = NULL, *t = NULL, *d = NULL, *key = NULL, *m = NULL;
    PyObject *dir = NULL, *nr = NULL, *pc = NULL;
    int tb, ac;

    if (!get_ll(args[0], &kind) || kind < 0 || kind >= 16384)
        Py_RETURN_NONE;
    if (!agent_arg(self, agent_obj, &vals[M_AGENT]))
        Py_RETURN_NONE;
    set |= 1ull << M_AGENT;
    x = attr(e, S_slot);
    if (x == NULL || !get_ll(x, &slot) || slot < 0 || slot >= self->slot_space)
        goto none;
    Py_CLEAR(x);
    x = attr(e, S_epoch);
    if (x == NULL || !get_ll(x, &epoch) || epoch < 0 || epoch > 0xFFFFFFFFll)
        goto none;
    Py_CLEAR(x);
    if ((t = attr(e, S_rewrite)) == NULL || (d = attr(e, S_deltas)) == NULL
        || !rewrite(self, vals, 0, t, d))
        goto none;
    Py_CLEAR(t);
    Py_CLEAR(d);
    set |= ((1ull << V_REWRITE_N) - 1);
    cb(&vals[V_SLOT], (uint64_t)slot);
    cb(&vals[V_EPOCH], (uint64_t)epoch);
    if ((x = attr(e, S_role)) == NULL)
        goto none;
    {
        PyObject *rb = PyDict_GetItemWithError(self->roles, x); /* borrowed */
        if (rb == NULL) {
            PyErr_Clear();
            goto none;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(rb);
        vals[V_ROLE].len = (uint8_t)n;
        memcpy(vals[V_ROLE].b, PyBytes_AS_STRING(rb), (size_t)n);
    }
    Py_CLEAR(x);
    set |= 1ull << V_SLOT | 1ull << V_ROLE | 1ull << V_EPOCH;
    if ((key = attr(e, S_key)) == NULL || (dir = attr(key, S_direction)) == NULL
        || (nr = attr(e, S_new_rewrite)) == NULL || (pc = attr(e, S_peer_cut)) == NULL)
        goto none;
    if (dir == self->dir_in) {
        if (nr != Py_None || pc != Py_None)
            goto none;
        tb = T_IN;
        ac = A_IN_REWRITE;
    } else {
        tb = T_OUT;
        ac = A_OUT_REWRITE;
        uint64_t cut = 0;
        if (pc != Py_None && !get_m32(pc, &cut))
            goto none;
        cb(&vals[V_PEER_CUT], cut);
        cb(&vals[V_PEER_CUT_VALID], pc != Py_None);
        set |= 1ull << V_PEER_CUT | 1ull << V_PEER_CUT_VALID;
        if (nr != Py_None) {
            ac = A_OUT_TWO_PATH;
            if ((d = attr(e, S_new_deltas)) == NULL || !rewrite(self, vals, V_NEW, nr, d))
                goto none;
            Py_CLEAR(d);
            set |= ((1ull << V_REWRITE_N) - 1) << V_NEW;
        }
    }
    if ((m = attr(key, S_match)) == NULL || !match_vals(vals, m))
        goto none;
    set |= 1ull << M_SRC_ADDR | 1ull << M_DST_ADDR | 1ull << M_PROTO | 1ull << M_SRC_PORT
        | 1ull << M_DST_PORT;
    {
        uint8_t abuf[BUFSZ], tbuf[BUFSZ];
        uint8_t *ap = put_block(abuf, &self->act[ac], vals, set);
        if (ap == NULL)
            goto none;
        size_t alen = (size_t)(ap - abuf);
        size_t ta = 1 + varint_len(alen) + alen; /* TableAction{action} */
        uint8_t *p = put_block(tbuf, &self->tbl[tb], vals, set);
        if (p == NULL || (size_t)(p - tbuf) + 12 + ta + self->ttl.len > BUFSZ)
            goto none;
        *p++ = 0x1a;
        p = put_varint(p, ta);
        *p++ = 0x0a;
        p = put_varint(p, alen);
        p = put(p, abuf, alen);
        p = put(p, self->ttl.b, self->ttl.len);
        r = finish((long)kind, tbuf, (size_t)(p - tbuf));
    }
    goto done;
none:
    r = Py_NewRef(Py_None);
done:
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(d);
    Py_XDECREF(key);
    Py_XDECREF(m);
    Py_XDECREF(dir);
    Py_XDECREF(nr);
    Py_XDECREF(pc);
    return r;
}

static PyObject *Encoder_delete(Encoder *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames) {
    PyObject *agent_obj;
    if (parse_args(args, nargs, kwnames, 1, "delete", &agent_obj) < 0)
        return NULL;
    val_t vals[V_COUNT];
    uint64_t set = 1ull << M_SRC_ADDR | 1ull << M_DST_ADDR | 1ull << M_PROTO
        | 1ull << M_SRC_PORT | 1ull << M_DST_PORT | 1ull << M_AGENT;
    if (!agent_arg(self, agent_obj, &vals[M_AGENT]))
        Py_RETURN_NONE;
    PyObject *dir = attr(args[0], S_direction);
    if (dir == NULL)
        Py_RETURN_NONE;
    int tb = dir == self->dir_out ? T_OUT : T_IN;
    Py_DECREF(dir);
    PyObject *m = attr(args[0], S_match);
    if (m == NULL)
        Py_RETURN_NONE;
    int ok = match_vals(vals, m);
    Py_DECREF(m);
    if (!ok)
        Py_RETURN_NONE;
    uint8_t tbuf[BUFSZ];
    uint8_t *p = put_block(tbuf, &self->tbl[tb], vals, set);
    if (p == NULL)
        Py_RETURN_NONE;
    return finish(self->delete_kind, tbuf, (size_t)(p - tbuf));
}

/* -- construction ---------------------------------------------------------------------- */

static int value_id(const char *name, int match) {
    if (match) {
        static const char *const M[] = {"src_addr", "dst_addr", "proto", "src_port", "dst_port",
                                        "agent_id"};
        for (int i = 0; i < 6; i++)
            if (strcmp(name, M[i]) == 0)
                return M_SRC_ADDR + i;
        return -1;
    }
    int base = 0;
    if (strncmp(name, "new_", 4) == 0) {
        name += 4;
        base = V_NEW;
    }
    for (int i = 0; i < V_REWRITE_N; i++)
        if (strcmp(name, REWRITE_NAMES[i]) == 0)
            return base + i;
    if (base)
        return -1;
    static const char *const E[] = {"slot", "role", "epoch", "peer_cut", "peer_cut_valid"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, E[i]) == 0)
            return V_SLOT + i;
    return -1;
}

static int set_hdr(hdr_t *h, PyObject *b, const char *what) {
    if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) > HMAX) {
        PyErr_Format(PyExc_ValueError, "%s: bytes of at most %d expected", what, HMAX);
        return -1;
    }
    h->len = (uint8_t)PyBytes_GET_SIZE(b);
    memcpy(h->b, PyBytes_AS_STRING(b), h->len);
    return 0;
}

/* (prefix bytes, [(name, [header bytes by value length 0..8]), ...]) */
static int set_block(block_t *blk, PyObject *spec, int match) {
    PyObject *pre, *fields;
    if (!PyArg_ParseTuple(spec, "OO", &pre, &fields) || set_hdr(&blk->pre, pre, "prefix") < 0)
        return -1;
    PyObject *seq = PySequence_Fast(fields, "fields: a sequence expected");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > FMAX) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d fields", FMAX);
        return -1;
    }
    blk->n = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *heads;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UO", &name, &heads))
            goto fail;
        const char *s = PyUnicode_AsUTF8(name);
        if (s == NULL)
            goto fail;
        blk->f[i].vid = value_id(s, match);
        if (!PySequence_Check(heads) || PySequence_Size(heads) != NLEN) {
            PyErr_Format(PyExc_ValueError, "field %s: %d headers expected", s, NLEN);
            goto fail;
        }
        for (int k = 0; k < NLEN; k++) {
            PyObject *h = PySequence_GetItem(heads, k);
            int rc = h == NULL ? -1 : set_hdr(&blk->f[i].by_len[k], h, s);
            Py_XDECREF(h);
            if (rc < 0)
                goto fail;
        }
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"tables", "actions", "agent", "ttl", "roles", "dir_in", "dir_out",
                         "tcp", "slot_space", "max_win_shift", "delete_kind", NULL};
    PyObject *tables, *actions, *agent, *ttl, *roles, *dir_in, *dir_out, *tcp;
    long long slot_space, max_win_shift;
    long delete_kind;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOSSO!OOOLLl", kw, &tables, &actions, &agent,
                                     &ttl, &PyDict_Type, &roles, &dir_in, &dir_out, &tcp,
                                     &slot_space, &max_win_shift, &delete_kind))
        return -1;
    if (!PyTuple_Check(tables) || PyTuple_GET_SIZE(tables) != T_N || !PyTuple_Check(actions)
        || PyTuple_GET_SIZE(actions) != A_N) {
        PyErr_SetString(PyExc_ValueError,
                        "tables: (OUT_SESSION, IN_SESSION); actions: (OUT_REWRITE, "
                        "OUT_TWO_PATH, IN_REWRITE)");
        return -1;
    }
    for (int i = 0; i < T_N; i++)
        if (set_block(&self->tbl[i], PyTuple_GET_ITEM(tables, i), 1) < 0)
            return -1;
    for (int i = 0; i < A_N; i++)
        if (set_block(&self->act[i], PyTuple_GET_ITEM(actions, i), 0) < 0)
            return -1;
    if (PyBytes_GET_SIZE(agent) < 1 || PyBytes_GET_SIZE(agent) > 8) {
        PyErr_SetString(PyExc_ValueError, "agent: 1 to 8 bytes");
        return -1;
    }
    self->agent.len = (uint8_t)PyBytes_GET_SIZE(agent);
    memcpy(self->agent.b, PyBytes_AS_STRING(agent), self->agent.len);
    if (set_hdr(&self->ttl, ttl, "ttl") < 0)
        return -1;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(roles, &pos, &k, &v))
        if (!PyBytes_Check(v) || PyBytes_GET_SIZE(v) < 1 || PyBytes_GET_SIZE(v) > 8) {
            PyErr_SetString(PyExc_ValueError, "roles: values of 1 to 8 bytes");
            return -1;
        }
    Py_XSETREF(self->roles, Py_NewRef(roles));
    Py_XSETREF(self->dir_in, Py_NewRef(dir_in));
    Py_XSETREF(self->dir_out, Py_NewRef(dir_out));
    Py_XSETREF(self->tcp, Py_NewRef(tcp));
    self->slot_space = slot_space;
    self->max_win_shift = max_win_shift;
    self->delete_kind = delete_kind;
    if (delete_kind < 0 || delete_kind >= 16384) {
        PyErr_SetString(PyExc_ValueError, "delete_kind out of range");
        return -1;
    }
    return 0;
}

static int Encoder_traverse(Encoder *self, visitproc visit, void *arg) {
    Py_VISIT(self->roles);
    Py_VISIT(self->dir_in);
    Py_VISIT(self->dir_out);
    Py_VISIT(self->tcp);
    return 0;
}

static int Encoder_clear(Encoder *self) {
    Py_CLEAR(self->roles);
    Py_CLEAR(self->dir_in);
    Py_CLEAR(self->dir_out);
    Py_CLEAR(self->tcp);
    return 0;
}

static void Encoder_dealloc(Encoder *self) {
    PyObject_GC_UnTrack(self);
    Encoder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Encoder_methods[] = {
    {"update", (PyCFunction)(void (*)(void))Encoder_update, METH_FASTCALL | METH_KEYWORDS,
     "update(kind, e, agent_id=None): the serialised INSERT/MODIFY Update of MappingEntry e, "
     "or None (take the contract path)."},
    {"delete", (PyCFunction)(void (*)(void))Encoder_delete, METH_FASTCALL | METH_KEYWORDS,
     "delete(key, agent_id=None): the serialised DELETE Update of EntryKey key, or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "controller._fastenc.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Session-entry Update encoder built from _FastEncoder's precomputed tables.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_traverse = (traverseproc)Encoder_traverse,
    .tp_clear = (inquiry)Encoder_clear,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "controller._fastenc",
    "Session-entry P4Runtime Update encoder in C (see controller.translate._FastEncoder).", -1,
    NULL,
};

#define INTERN(var, s)                                                                         \
    if ((var = PyUnicode_InternFromString(s)) == NULL)                                         \
        return NULL;

PyMODINIT_FUNC PyInit__fastenc(void) {
    INTERN(S_slot, "slot");
    INTERN(S_epoch, "epoch");
    INTERN(S_rewrite, "rewrite");
    INTERN(S_deltas, "deltas");
    INTERN(S_role, "role");
    INTERN(S_key, "key");
    INTERN(S_new_rewrite, "new_rewrite");
    INTERN(S_new_deltas, "new_deltas");
    INTERN(S_peer_cut, "peer_cut");
    INTERN(S_direction, "direction");
    INTERN(S_match, "match");
    INTERN(S_src_ip, "src_ip");
    INTERN(S_dst_ip, "dst_ip");
    INTERN(S_proto, "proto");
    INTERN(S_src_port, "src_port");
    INTERN(S_dst_port, "dst_port");
    INTERN(S_seq, "seq");
    INTERN(S_ack, "ack");
    INTERN(S_tsval, "tsval");
    INTERN(S_tsecr, "tsecr");
    INTERN(S_win_shift, "win_shift");
    INTERN(S_agent_id, "agent_id");
    if (PyType_Ready(&EncoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
