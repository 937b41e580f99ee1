/*
 * One subscriber's share of a forwarded frame, in one call: write each RTP packet (header,
 * header extensions, VP8 payload descriptor, payload), protect it with the subscriber's SRTP
 * session and send them all with one sendmmsg(2).
 *
 * streamhub/media/rtp_send.py has the same steps in Python (the fallback, and the reference
 * the tests compare this with); it explains the packet layout. In Python each packet costs a
 * struct pack, two concatenations, three cffi calls around libsrtp and a socket call: most of
 * what the hub spends per forwarded packet (issue 19).
 *
 * libsrtp is the copy inside pylibsrtp (the session's keys live there): Python passes the
 * address of its srtp_protect and of the session, so this file needs no libsrtp headers and
 * cannot disagree with pylibsrtp about its version.
 *
 * Everything runs with the GIL held and calls no Python code between packets: the static
 * buffers below are never used by two calls at once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* libsrtp 2's srtp_protect(srtp_t ctx, void *rtp_hdr, int *pkt_octet_len): it protects in
 * place and appends the authentication tag. */
typedef int (*protect_fn)(void *ctx, void *packet, int *length);

#define BATCH 64          /* packets per sendmmsg */
#define SLOT 2048         /* bytes per packet: an MTU-sized packet and libsrtp's trailer */
#define TRAILER 144       /* SRTP_MAX_TRAILER_LEN: the tag and an MKI */

static unsigned char slots[BATCH][SLOT];
static struct mmsghdr messages[BATCH];
static struct iovec vectors[BATCH];

/* Protected packets that sendmmsg did not take go back to Python, which hands them to
 * asyncio's own sendto (it buffers what would block and reports errors). */
static int
keep_unsent(PyObject **unsent, int first, int count)
{
    if (*unsent == NULL) {
        *unsent = PyList_New(0);
        if (*unsent == NULL)
            return -1;
    }
    for (int i = first; i < count; i++) {
        PyObject *packet = PyBytes_FromStringAndSize((const char *)slots[i], vectors[i].iov_len);
        if (packet == NULL || PyList_Append(*unsent, packet) < 0) {
            Py_XDECREF(packet);
            return -1;
        }
        Py_DECREF(packet);
    }
    return 0;
}

static int
as_u64(PyObject *value, unsigned long long *out)
{
    *out = PyLong_AsUnsignedLongLong(value);
    return (*out == (unsigned long long)-1 && PyErr_Occurred()) ? -1 : 0;
}

PyDoc_STRVAR(send_frame_doc,
"send_frame(protect, session, fd, address, first_byte, payload_type, seq, timestamp, ssrc,\n"
"           extensions, picture_id, parts) -> (protected_octets, payload_octets, unsent)\n"
"\n"
"Send one frame's packets (``parts``: the payloads; the last gets the marker bit) from\n"
"sequence number ``seq``. ``picture_id`` >= 0 writes a VP8 payload descriptor with that\n"
"15-bit picture id in front of each part; -1 writes none. ``protect`` and ``session`` are\n"
"the addresses of libsrtp's srtp_protect and the session (srtp_t); ``address`` a struct\n"
"sockaddr from ``sockaddr``. ``unsent``: the protected packets the socket did not take, in\n"
"order, or None.");

static PyObject *
send_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "send_frame takes 12 arguments");
        return NULL;
    }
    unsigned long long protect_address, session_address, first_byte, payload_type, seq, ts, ssrc;
    long long picture_id;
    if (as_u64(args[0], &protect_address) || as_u64(args[1], &session_address))
        return NULL;
    long fd = PyLong_AsLong(args[2]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (as_u64(args[4], &first_byte) || as_u64(args[5], &payload_type) || as_u64(args[6], &seq)
        || as_u64(args[7], &ts) || as_u64(args[8], &ssrc))
        return NULL;
    picture_id = PyLong_AsLongLong(args[10]);
    if (picture_id == -1 && PyErr_Occurred())
        return NULL;
    PyObject *address = args[3], *extensions = args[9], *parts = args[11];
    if (!PyBytes_Check(address) || !PyBytes_Check(extensions) || !PyList_Check(parts)) {
        PyErr_SetString(PyExc_TypeError, "address and extensions are bytes, parts a list");
        return NULL;
    }
    if (protect_address == 0 || session_address == 0 || fd < 0 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "no SRTP session or socket");
        return NULL;
    }
    protect_fn protect = (protect_fn)(uintptr_t)protect_address;
    void *session = (void *)(uintptr_t)session_address;
    const char *ext = PyBytes_AS_STRING(extensions);
    Py_ssize_t ext_len = PyBytes_GET_SIZE(extensions);
    Py_ssize_t descriptor = picture_id >= 0 ? 4 : 0;
    Py_ssize_t count = PyList_GET_SIZE(parts);
    /* The list is not touched by Python code while this runs (the GIL is held throughout). */
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *part = PyList_GET_ITEM(parts, i);
        if (!PyBytes_Check(part)) {
            PyErr_SetString(PyExc_TypeError, "parts are bytes");
            return NULL;
        }
        if (12 + ext_len + descriptor + PyBytes_GET_SIZE(part) + TRAILER > SLOT) {
            PyErr_SetString(PyExc_ValueError, "packet is too long");
            return NULL;
        }
    }

    unsigned long long protected_octets = 0, payload_octets = 0;
    PyObject *unsent = NULL;
    int failed = 0;  /* once the socket refuses one packet, the rest go to Python in order */
    for (Py_ssize_t start = 0; start < count; start += BATCH) {
        int batch = (int)(count - start < BATCH ? count - start : BATCH);
        for (int i = 0; i < batch; i++) {
            Py_ssize_t index = start + i;
            PyObject *part = PyList_GET_ITEM(parts, index);
            unsigned char *p = slots[i];
            unsigned int number = (unsigned int)((seq + index) & 0xFFFF);
            p[0] = (unsigned char)first_byte;
            p[1] = (unsigned char)(payload_type | (index == count - 1 ? 0x80 : 0));
            p[2] = (unsigned char)(number >> 8);
            p[3] = (unsigned char)number;
            p[4] = (unsigned char)(ts >> 24);
            p[5] = (unsigned char)(ts >> 16);
            p[6] = (unsigned char)(ts >> 8);
            p[7] = (unsigned char)ts;
            p[8] = (unsigned char)(ssrc >> 24);
            p[9] = (unsigned char)(ssrc >> 16);
            p[10] = (unsigned char)(ssrc >> 8);
            p[11] = (unsigned char)ssrc;
            Py_ssize_t length = 12;
            memcpy(p + length, ext, ext_len);
            length += ext_len;
            if (descriptor) {
                p[length] = index == 0 ? 0x90 : 0x80;
                p[length + 1] = 0x80;
                p[length + 2] = (unsigned char)(0x80 | ((picture_id >> 8) & 0x7F));
                p[length + 3] = (unsigned char)picture_id;
                length += 4;
            }
            Py_ssize_t size = PyBytes_GET_SIZE(part);
            memcpy(p + length, PyBytes_AS_STRING(part), size);
            length += size;
            payload_octets += (unsigned long long)(descriptor + size);
            int out_length = (int)length;
            int status = protect(session, p, &out_length);
            if (status != 0) {
                Py_XDECREF(unsent);
                PyErr_Format(PyExc_RuntimeError, "srtp_protect refused the packet (%d)", status);
                return NULL;
            }
            protected_octets += (unsigned long long)out_length;
            vectors[i].iov_base = p;
            vectors[i].iov_len = (size_t)out_length;
            memset(&messages[i].msg_hdr, 0, sizeof(messages[i].msg_hdr));
            messages[i].msg_hdr.msg_name = (void *)PyBytes_AS_STRING(address);
            messages[i].msg_hdr.msg_namelen = (socklen_t)PyBytes_GET_SIZE(address);
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        int sent = 0;
        while (!failed && sent < batch) {
            int n = sendmmsg((int)fd, &messages[sent], (unsigned int)(batch - sent), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                failed = 1;  /* would block, or an error: asyncio's sendto sees it too */
            } else if (n == 0) {
                failed = 1;
            } else {
                sent += n;
            }
        }
        if (sent < batch && keep_unsent(&unsent, sent, batch) < 0) {
            Py_XDECREF(unsent);
            return NULL;
        }
    }
    if (unsent == NULL) {
        unsent = Py_None;
        Py_INCREF(unsent);
    }
    return Py_BuildValue("KKN", protected_octets, payload_octets, unsent);
}

PyDoc_STRVAR(sockaddr_doc,
"sockaddr(host, port) -> bytes\n"
"\n"
"The struct sockaddr (IPv4 or IPv6, with a scope) for a numeric address, as send_frame\n"
"takes it. ValueError for a name that is not a numeric address.");

static PyObject *
sockaddr(PyObject *module, PyObject *args)
{
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port))
        return NULL;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int status = getaddrinfo(host, service, &hints, &found);
    if (status != 0 || found == NULL) {
        PyErr_Format(PyExc_ValueError, "not a numeric address: %s", host);
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return result;
}

static PyMethodDef methods[] = {
    {"send_frame", (PyCFunction)(void (*)(void))send_frame, METH_FASTCALL, send_frame_doc},
    {"sockaddr", sockaddr, METH_VARARGS, sockaddr_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "streamhub.media._rtpsend",
    "A forwarded frame's packets for one subscriber: written, SRTP-protected and sent in C.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__rtpsend(void)
{
    return PyModule_Create(&module_def);
}
