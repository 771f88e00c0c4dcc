/*
 * netdiag.pcap._walk: the one sequential part of reading a capture, walking pcap record
 * headers / pcapng blocks. Everything else is vectorized numpy (see walker.py for the contract,
 * _pywalk.py for the pure-Python twin that a hypothesis test checks this file against).
 *
 * walk(buf, start, fmt, big_endian, max_records) -> (records: bytes, stop_offset, stop, detail)
 *   buf          any object with the buffer protocol (bytes, bytearray, mmap, numpy array)
 *   fmt          0 = pcap, 1 = pcapng
 *   records      packed little-endian structs, numpy dtype walker.RECORD_DTYPE (40 bytes):
 *                int64 data offset, uint64 raw timestamp, uint32 caplen, uint32 wirelen,
 *                uint32 interface id, uint32 epb_flags, uint32 misc (bit 0: has a comment,
 *                bit 1: simple packet block without timestamp), uint32 padding
 *   stop         0 END (buffer consumed), 1 MORE (record cut by the end of the buffer,
 *                detail = bytes it needs or 0), 2 CORRUPT (impossible length, detail = it),
 *                3 BLOCK (pcapng SHB/IDB/ISB at stop_offset for Python, detail = block type),
 *                4 LIMIT (max_records reached)
 *
 * span(buf, start, big_endian, lo_ns, hi_ns, units) -> (stop_offset, stop, detail, records,
 *                                                      inside, first_ns, last_ns)
 *   The pcap records from start, walked as walk() walks them (same stop, stop_offset, detail)
 *   without listing them: how many, how many have lo_ns <= time <= hi_ns (time: seconds * 1e9
 *   + fraction * 1e9 / units), and the earliest and latest of those times (0 when none). When
 *   all are inside, [start, stop_offset) is them all, as they lie.
 * Every read is bounds-checked against the buffer: random bytes must never crash the process.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define REC_SIZE 40
#define MAX_RECORD (16u * 1024u * 1024u)
#define MAX_BLOCK (MAX_RECORD + 4096u)

enum { STOP_END = 0, STOP_MORE = 1, STOP_CORRUPT = 2, STOP_BLOCK = 3, STOP_LIMIT = 4 };

static uint32_t rd32(const uint8_t *p, int be) {
    if (be)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static uint16_t rd16(const uint8_t *p, int be) {
    if (be)
        return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
    return (uint16_t)(((uint16_t)p[1] << 8) | p[0]);
}

static void put_rec(uint8_t *out, int64_t off, uint64_t ts, uint32_t caplen, uint32_t wirelen,
                    uint32_t iface, uint32_t flags, uint32_t misc) {
    /* Stored little-endian whatever the host, so numpy's '<' dtype reads it everywhere. */
    uint64_t o = (uint64_t)off;
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(o >> (8 * i));
    for (int i = 0; i < 8; i++) out[8 + i] = (uint8_t)(ts >> (8 * i));
    uint32_t v[6] = {caplen, wirelen, iface, flags, misc, 0};
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < 4; i++) out[16 + 4 * k + i] = (uint8_t)(v[k] >> (8 * i));
}

/* EPB options: pick epb_flags (code 2) and whether a comment (code 1) exists. */
static void epb_options(const uint8_t *p, size_t len, int be, uint32_t *flags, uint32_t *misc) {
    size_t pos = 0;
    while (pos + 4 <= len) {
        uint16_t code = rd16(p + pos, be);
        uint16_t olen = rd16(p + pos + 2, be);
        if (code == 0)
            return;
        size_t padded = ((size_t)olen + 3u) & ~(size_t)3u;
        if (pos + 4 + padded > len)
            return; /* a broken option ends the option list, not the file */
        if (code == 2 && olen == 4)
            *flags = rd32(p + pos + 4, be);
        else if (code == 1)
            *misc |= 1u;
        pos += 4 + padded;
    }
}

typedef struct {
    Py_ssize_t pos, n;
    int stop;
    uint64_t detail;
} walk_state;

/* The walk is a chain of dependent loads (each record says where the next one is), so it is
 * bound by memory latency. Records are at increasing offsets: prefetching the bytes ahead turns
 * it into a streaming read. */
#define PREFETCH_AHEAD 4096
#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

static void prefetch_to(const uint8_t *b, Py_ssize_t len, Py_ssize_t *done, Py_ssize_t pos) {
    Py_ssize_t until = pos + PREFETCH_AHEAD < len ? pos + PREFETCH_AHEAD : len;
    if (*done < pos) *done = pos;
    while (*done < until) { PREFETCH(b + *done); *done += 64; }
}

/* The pcap record at pos (pos < len): 1 and its caplen when it lies whole in the buffer, else 0
 * with the walk's stop (MORE or CORRUPT) and detail set. */
static int pcap_record(const uint8_t *b, Py_ssize_t len, Py_ssize_t pos, int be, uint32_t *caplen,
                       walk_state *st) {
    if (len - pos < 16) { st->stop = STOP_MORE; st->detail = 16; return 0; }
    *caplen = rd32(b + pos + 8, be);
    if (*caplen > MAX_RECORD) { st->stop = STOP_CORRUPT; st->detail = *caplen; return 0; }
    if ((uint64_t)(len - pos) < 16u + (uint64_t)*caplen) {
        st->stop = STOP_MORE; st->detail = 16u + (uint64_t)*caplen; return 0;
    }
    return 1;
}

static void walk_pcap(const uint8_t *b, Py_ssize_t len, int be, Py_ssize_t max, uint8_t *out,
                      walk_state *st) {
    Py_ssize_t pos = st->pos, fetched = pos;
    uint32_t caplen;
    while (1) {
        prefetch_to(b, len, &fetched, pos);
        if (pos == len) { st->stop = STOP_END; break; }
        if (st->n >= max) { st->stop = STOP_LIMIT; break; }
        if (!pcap_record(b, len, pos, be, &caplen, st)) break;
        const uint8_t *h = b + pos;
        uint64_t ts = ((uint64_t)rd32(h, be) << 32) | rd32(h + 4, be);
        put_rec(out + REC_SIZE * st->n, pos + 16, ts, caplen, rd32(h + 12, be), 0, 0, 0);
        st->n++;
        pos += 16 + (Py_ssize_t)caplen;
    }
    st->pos = pos;
}

static void walk_pcapng(const uint8_t *b, Py_ssize_t len, int be, Py_ssize_t max, uint8_t *out,
                        walk_state *st) {
    Py_ssize_t pos = st->pos, fetched = pos;
    while (1) {
        prefetch_to(b, len, &fetched, pos);
        if (pos == len) { st->stop = STOP_END; break; }
        if (st->n >= max) { st->stop = STOP_LIMIT; break; }
        if (len - pos < 12) { st->stop = STOP_MORE; st->detail = 12; break; }
        const uint8_t *h = b + pos;
        uint32_t type = rd32(h, be);
        uint32_t blen = rd32(h + 4, be);
        if (type == 0x0A0D0D0Au) { st->stop = STOP_BLOCK; st->detail = type; break; }
        if (blen < 12 || (blen & 3u) || blen > MAX_BLOCK) {
            st->stop = STOP_CORRUPT; st->detail = blen; break;
        }
        if ((uint64_t)(len - pos) < blen) { st->stop = STOP_MORE; st->detail = blen; break; }
        if (rd32(h + blen - 4, be) != blen) { st->stop = STOP_CORRUPT; st->detail = blen; break; }
        if (type == 1 || type == 5) { st->stop = STOP_BLOCK; st->detail = type; break; }
        if (type == 6 || type == 2) { /* enhanced packet block, obsolete packet block */
            if (blen < 32) { st->stop = STOP_CORRUPT; st->detail = blen; break; }
            uint32_t iface = type == 6 ? rd32(h + 8, be) : rd16(h + 8, be);
            uint64_t ts = ((uint64_t)rd32(h + 12, be) << 32) | rd32(h + 16, be);
            uint32_t caplen = rd32(h + 20, be), wirelen = rd32(h + 24, be);
            if (caplen > blen - 32) { st->stop = STOP_CORRUPT; st->detail = caplen; break; }
            uint32_t flags = 0, misc = 0;
            uint32_t padded = (caplen + 3u) & ~3u;
            if (padded <= blen - 32)
                epb_options(h + 28 + padded, blen - 32 - padded, be, &flags, &misc);
            put_rec(out + REC_SIZE * st->n, pos + 28, ts, caplen, wirelen, iface, flags, misc);
            st->n++;
        } else if (type == 3) { /* simple packet block: interface 0, no timestamp */
            if (blen < 16) { st->stop = STOP_CORRUPT; st->detail = blen; break; }
            uint32_t wirelen = rd32(h + 8, be);
            uint32_t caplen = wirelen < blen - 16 ? wirelen : blen - 16;
            put_rec(out + REC_SIZE * st->n, pos + 12, 0, caplen, wirelen, 0, 0, 2u);
            st->n++;
        }
        /* any other block (NRB, custom, DSB, unknown) carries no packet: skip it */
        pos += blen;
    }
    st->pos = pos;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t start, max_records;
    int fmt, be;
    if (!PyArg_ParseTuple(args, "y*nipn", &view, &start, &fmt, &be, &max_records))
        return NULL;
    if (start < 0 || start > view.len || max_records < 0 || (fmt != 0 && fmt != 1)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "walk: start, fmt or max_records out of range");
        return NULL;
    }
    /* No more records than the buffer can hold (>= 16 bytes per pcap record or packet block). */
    Py_ssize_t cap = (view.len - start) / 16 + 1;
    if (cap > max_records) cap = max_records;
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap * REC_SIZE);
    if (out == NULL) { PyBuffer_Release(&view); return NULL; }
    walk_state st = {start, 0, STOP_END, 0};
    const uint8_t *b = (const uint8_t *)view.buf;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 0)
        walk_pcap(b, view.len, be, cap, o, &st);
    else
        walk_pcapng(b, view.len, be, cap, o, &st);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&out, st.n * REC_SIZE) < 0) return NULL;
    return Py_BuildValue("(NniK)", out, st.pos, st.stop, (unsigned long long)st.detail);
}

typedef struct {
    Py_ssize_t n, inside;
    int64_t first, last;
} span_state;

static void span_pcap(const uint8_t *b, Py_ssize_t len, int be, int64_t lo, int64_t hi,
                      int64_t step, walk_state *st, span_state *sp) {
    Py_ssize_t pos = st->pos, fetched = pos;
    uint32_t caplen;
    while (1) {
        prefetch_to(b, len, &fetched, pos);
        if (pos == len) { st->stop = STOP_END; break; }
        if (!pcap_record(b, len, pos, be, &caplen, st)) break;
        const uint8_t *h = b + pos;
        /* seconds < 2^32 and fraction * step < 2^32 * 1000: no overflow in int64 */
        int64_t t = (int64_t)rd32(h, be) * 1000000000LL + (int64_t)rd32(h + 4, be) * step;
        if (t >= lo && t <= hi) {
            if (sp->inside == 0 || t < sp->first) sp->first = t;
            if (sp->inside == 0 || t > sp->last) sp->last = t;
            sp->inside++;
        }
        sp->n++;
        pos += 16 + (Py_ssize_t)caplen;
    }
    st->pos = pos;
}

static PyObject *span(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t start;
    int be;
    long long lo, hi, units;
    if (!PyArg_ParseTuple(args, "y*npLLL", &view, &start, &be, &lo, &hi, &units))
        return NULL;
    if (start < 0 || start > view.len || (units != 1000000 && units != 1000000000)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "span: start or units out of range");
        return NULL;
    }
    walk_state st = {start, 0, STOP_END, 0};
    span_state sp = {0, 0, 0, 0};
    const uint8_t *b = (const uint8_t *)view.buf;
    Py_BEGIN_ALLOW_THREADS
    span_pcap(b, view.len, be, (int64_t)lo, (int64_t)hi, (int64_t)(1000000000LL / units), &st,
              &sp);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(niKnnLL)", st.pos, st.stop, (unsigned long long)st.detail, sp.n,
                         sp.inside, (long long)sp.first, (long long)sp.last);
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(buf, start, fmt, big_endian, max_records) -> (records, stop_offset, stop, detail)"},
    {"span", span, METH_VARARGS,
     "span(buf, start, big_endian, lo_ns, hi_ns, units) -> (stop_offset, stop, detail, records, "
     "inside, first_ns, last_ns)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "netdiag.pcap._walk",
    "Sequential pcap/pcapng record walk (see netdiag/pcap/walker.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
