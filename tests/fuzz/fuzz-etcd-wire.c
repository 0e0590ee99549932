/* Fuzz target for the parsers of etcd's JSON gateway replies
 * (sluice/etcd-wire.h): the watch stream split into messages whatever the
 * chunks it arrives in, watch responses, range/put/delete/txn replies,
 * lease replies, error bodies, base64 and int64 values.
 *
 * Input layout: byte 0 picks the parser; for the watch stream, bytes 1 and
 * 2 choose how the rest is cut into chunks (a first cut at a position, then
 * optionally small chunks) and the stream's size limit.  Whatever is
 * accepted must keep the parsers' promises; a violation aborts. */
#include <sluice-config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/etcd-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "/sluice/"
#define MAX_MESSAGES 4096

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz-etcd-wire: %s\n", what);
    abort();
}

/* Aborts unless 'kv' keeps the promises of struct etcd_kv. */
static void
check_kv(const struct etcd_kv *kv)
{
    if (!kv->key || !kv->value || kv->key[kv->key_len] != '\0'
        || kv->value[kv->value_len] != '\0') {
        fail("key-value not NUL-terminated");
    }
}

static void
check_result(const struct etcd_result *r)
{
    for (size_t i = 0; i < r->n_kvs; i++) {
        check_kv(&r->kvs[i]);
    }
    if (r->type != ETCD_OP_TXN && r->n_responses) {
        fail("responses outside a txn");
    }
    for (size_t i = 0; i < r->n_responses; i++) {
        check_result(&r->responses[i]);
    }
}

/* Parses one watch stream message as etcd.c does. */
static void
parse_watch_message(const char *value, size_t len)
{
    struct etcd_watch_response *r;
    char *msg;
    if (etcd_parse_watch_response(value, len, PREFIX, &r, &msg)) {
        if (!msg || r) {
            fail("watch response error without a reason");
        }
        free(msg);
        return;
    }
    if (msg || !r) {
        fail("watch response without a result");
    }
    if (r->is_error && !r->error_message) {
        fail("stream error without a message");
    }
    for (size_t i = 0; i < r->n_events; i++) {
        check_kv(&r->events[i].kv);
        if (r->events[i].prev_kv) {
            check_kv(r->events[i].prev_kv);
        }
    }
    etcd_watch_response_destroy(r);
}

/* The messages found in a stream, copied. */
struct messages {
    char *text[MAX_MESSAGES];
    size_t len[MAX_MESSAGES];
    size_t n;
    int status; /* Last etcd_stream_next() or etcd_stream_feed() error. */
};

static void
messages_destroy(struct messages *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->text[i]);
    }
}

/* Takes the complete messages out of 's' into 'm'.  Returns false once the
 * stream is broken or 'm' is full. */
static bool
drain(struct etcd_stream *s, struct messages *m, bool parse)
{
    const char *value;
    size_t len;
    int error;
    while (!(error = etcd_stream_next(s, &value, &len))) {
        if (len < 2 || value[0] != '{'
            || (value[len - 1] != '}' && value[len - 1] != ']')) {
            fail("stream message is not delimited by brackets");
        }
        if (m->n == MAX_MESSAGES) {
            m->status = ENOBUFS;
            return false;
        }
        m->text[m->n] = malloc(len);
        if (!m->text[m->n]) {
            fail("out of memory");
        }
        memcpy(m->text[m->n], value, len);
        m->len[m->n++] = len;
        if (parse) {
            parse_watch_message(value, len);
        }
    }
    if (error != EAGAIN && error != EPROTO) {
        fail("unexpected etcd_stream_next() error");
    }
    m->status = error;
    return error == EAGAIN;
}

/* Feeds the 'size' bytes at 'data' to a watch stream: first 'cut' bytes,
 * then chunks of 'chunk' bytes (0: all the rest at once), parsing each
 * message.  With the default size limit, the messages and the outcome must
 * be those of feeding everything at once. */
static void
fuzz_stream(const uint8_t *data, size_t size, size_t cut, size_t chunk,
            size_t max)
{
    static struct messages chunked, whole;
    memset(&chunked, 0, sizeof chunked);
    memset(&whole, 0, sizeof whole);

    struct etcd_stream *s = etcd_stream_create(max);
    size_t pos = 0;
    bool ok = true;
    for (bool first = true; ok && pos < size; first = false) {
        size_t n = first ? cut : chunk ? chunk : size - pos;
        if (n > size - pos) {
            n = size - pos;
        }
        int error = etcd_stream_feed(s, data + pos, n);
        if (error) {
            if (error != EMSGSIZE || max == ETCD_MAX_MESSAGE) {
                fail("unexpected etcd_stream_feed() error");
            }
            chunked.status = error;
            break;
        }
        pos += n;
        ok = drain(s, &chunked, true);
    }
    if (pos == size && chunked.status != EPROTO && chunked.status != ENOBUFS
        && chunked.status != EMSGSIZE) {
        /* Empty feeds change nothing. */
        if (etcd_stream_feed(s, "", 0)) {
            fail("empty feed failed");
        }
        drain(s, &chunked, false);
    }

    if (max == ETCD_MAX_MESSAGE && chunked.status != ENOBUFS) {
        etcd_stream_reset(s);
        if (etcd_stream_feed(s, data, size)) {
            fail("feeding everything failed");
        }
        drain(s, &whole, false);
        if (whole.status != ENOBUFS) {
            if (whole.n != chunked.n || whole.status != chunked.status) {
                fprintf(stderr,
                        "whole: %zu messages, status %d; chunked: "
                        "%zu messages, status %d\n",
                        whole.n, whole.status, chunked.n, chunked.status);
                fail("chunking changed the stream's outcome");
            }
            for (size_t i = 0; i < whole.n; i++) {
                if (whole.len[i] != chunked.len[i]
                    || memcmp(whole.text[i], chunked.text[i], whole.len[i])) {
                    fail("chunking changed a message");
                }
            }
        }
    }
    etcd_stream_destroy(s);
    messages_destroy(&chunked);
    messages_destroy(&whole);
}

static void
fuzz_result(enum etcd_op_type type, const char *body, size_t len)
{
    struct etcd_result *r;
    char *msg;
    if (etcd_parse_result(type, body, len, PREFIX, &r, &msg)) {
        if (!msg || r) {
            fail("reply error without a reason");
        }
        free(msg);
        return;
    }
    if (msg || !r || r->type != type) {
        fail("reply without a result");
    }
    check_result(r);
    etcd_result_destroy(r);
}

static void
fuzz_lease(bool grant, const char *body, size_t len)
{
    int64_t id = 0, ttl = 0;
    char *msg;
    int error = grant ? etcd_parse_lease_grant(body, len, &id, &ttl, &msg)
                      : etcd_parse_lease_keepalive(body, len, &ttl, &msg);
    if (error ? !msg : msg != NULL) {
        fail("lease reply: reason does not match the outcome");
    }
    if (!error && grant && !id) {
        fail("lease grant without an ID");
    }
    free(msg);
}

static void
fuzz_error(const char *body, size_t len)
{
    int code = -1;
    char *message = NULL;
    if (etcd_parse_error(body, len, &code, &message)) {
        if (!message || code < 0 || code > 1000) {
            fail("error body without a message or with a bad code");
        }
        int e = etcd_grpc_code_to_errno(code);
        if (e <= 0) {
            fail("gRPC code maps to no errno value");
        }
        free(message);
    }
}

/* Canonical base64 decodes and encodes back to itself; any bytes encode
 * and decode back to themselves. */
static void
fuzz_base64(const char *text, size_t len)
{
    char *bytes;
    size_t n;
    if (!etcd_base64_decode(text, len, &bytes, &n)) {
        if (bytes[n] != '\0') {
            fail("decoded base64 not NUL-terminated");
        }
        char *again = etcd_base64_encode(bytes, n);
        if (strlen(again) != len || memcmp(again, text, len)) {
            fail("base64 decode/encode is not the identity");
        }
        free(again);
        free(bytes);
    } else if (bytes || n) {
        fail("failed base64 decode left output");
    }

    char *encoded = etcd_base64_encode(text, len);
    if (etcd_base64_decode(encoded, strlen(encoded), &bytes, &n) || n != len
        || memcmp(bytes, text, len)) {
        fail("base64 encode/decode is not the identity");
    }
    free(bytes);
    free(encoded);
}

/* int64 values in strings, as numbers, and key range ends. */
static void
fuzz_int64(const char *text, size_t len)
{
    json_t *s = json_stringn(text, len);
    int64_t v;
    if (s && etcd_json_int64(s, &v)) {
        /* Only an optional '-' and digits are accepted. */
        for (size_t i = 0; i < len; i++) {
            if ((text[i] < '0' || text[i] > '9') && (i || text[i] != '-')) {
                fail("int64 accepted a non-digit");
            }
        }
        long long w = strtoll(text, NULL, 10);
        if (w != v) {
            fail("int64 differs from strtoll()");
        }
    }
    json_decref(s);

    json_t *root = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    (void)etcd_json_int64(root, &v);
    json_decref(root);

    size_t end_len;
    char *end = etcd_prefix_range_end(text, len, &end_len);
    if (end_len == 1 && end[0] == '\0') {
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)text[i] != 0xff) {
                fail("range end \"\\0\" for a key that has a non-0xff "
                     "byte");
            }
        }
    } else if (!end_len || end_len > len || memcmp(end, text, end_len - 1)
               || (unsigned char)end[end_len - 1]
                      != (unsigned char)text[end_len - 1] + 1) {
        fail("bad range end");
    }
    free(end);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1024 * 1024) {
        return 0;
    }
    uint8_t which = data[0];
    data++;
    size--;

    if (which % 9 == 0) {
        /* The watch stream: two more bytes of chunking. */
        if (size < 2) {
            return 0;
        }
        size_t seed = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        size_t cut = seed % (size + 1);
        size_t chunk = data[-2] & 0x80 ? (data[-2] & 0x0f) + 1 : 0;
        size_t max = data[-2] & 0x40 ? 64 + (seed & 0x3ff) : ETCD_MAX_MESSAGE;
        fuzz_stream(data, size, cut, chunk, max);
        return 0;
    }

    /* The other parsers take the bytes as they are (with a NUL after them
     * that is not part of the input). */
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    switch (which % 9) {
    case 1:
        parse_watch_message(text, size);
        break;
    case 2:
        fuzz_result(ETCD_OP_RANGE, text, size);
        break;
    case 3:
        fuzz_result(ETCD_OP_PUT, text, size);
        break;
    case 4:
        fuzz_result(ETCD_OP_DELETE, text, size);
        break;
    case 5:
        fuzz_result(ETCD_OP_TXN, text, size);
        break;
    case 6:
        fuzz_lease(which & 0x80, text, size);
        fuzz_error(text, size);
        break;
    case 7:
        fuzz_base64(text, size);
        break;
    default:
        fuzz_int64(text, size);
        break;
    }
    free(text);
    return 0;
}
