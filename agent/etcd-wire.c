/*
 * The wire format of etcd's JSON/HTTP gateway: base64, int64s, replies,
 * error bodies and watch streams (see sluice/etcd-wire.h).  No I/O here.
 */
#include <sluice-config.h>

#include "sluice/etcd-wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/util.h"


/* Base64. */

static const char b64_alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns the 6-bit value of base64 digit 'c', or -1. */
static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    } else if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    } else if (c == '+') {
        return 62;
    } else if (c == '/') {
        return 63;
    }
    return -1;
}

char *
etcd_base64_encode(const void *data_, size_t n)
{
    const unsigned char *data = data_;
    if (n > (SIZE_MAX - 1) / 4 * 3 - 2) {
        abort_out_of_memory();
    }
    char *out = nofail_malloc((n + 2) / 3 * 4 + 1);
    size_t i = 0, j = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8
                     | data[i + 2];
        out[j++] = b64_alphabet[v >> 18];
        out[j++] = b64_alphabet[(v >> 12) & 63];
        out[j++] = b64_alphabet[(v >> 6) & 63];
        out[j++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        out[j++] = b64_alphabet[v >> 18];
        out[j++] = b64_alphabet[(v >> 12) & 63];
        out[j++] = '=';
        out[j++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        out[j++] = b64_alphabet[v >> 18];
        out[j++] = b64_alphabet[(v >> 12) & 63];
        out[j++] = b64_alphabet[(v >> 6) & 63];
        out[j++] = '=';
    }
    out[j] = '\0';
    return out;
}

int
etcd_base64_decode(const char *text, size_t len, char **datap, size_t *np)
{
    *datap = NULL;
    *np = 0;
    if (len % 4) {
        return EINVAL;
    }
    size_t pad = 0;
    if (len && text[len - 1] == '=') {
        pad = text[len - 2] == '=' ? 2 : 1;
    }

    char *out = nofail_malloc(len / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        size_t n_digits = last ? 4 - pad : 4;
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = 0;
            if (k < n_digits) {
                d = b64_value(text[i + k]);
                if (d < 0) {
                    free(out);
                    return EINVAL;
                }
            }
            v = v << 6 | (uint32_t)d;
        }
        /* Bits below the last full byte must be zero (canonical form). */
        if ((n_digits == 3 && (v & 0xff)) || (n_digits == 2 && (v & 0xffff))) {
            free(out);
            return EINVAL;
        }
        out[o++] = (char)(v >> 16);
        if (n_digits >= 3) {
            out[o++] = (char)((v >> 8) & 0xff);
        }
        if (n_digits == 4) {
            out[o++] = (char)(v & 0xff);
        }
    }
    out[o] = '\0';
    *datap = out;
    *np = o;
    return 0;
}

/* Numbers, ranges, errors. */

bool
etcd_json_int64(const json_t *json, int64_t *value)
{
    _Static_assert(sizeof(json_int_t) == sizeof(int64_t),
                   "json_int_t is 64 bits");
    _Static_assert(sizeof(long long) == sizeof(int64_t),
                   "long long is 64 bits");
    if (json_is_integer(json)) {
        *value = json_integer_value(json);
        return true;
    }
    if (!json_is_string(json)) {
        return false;
    }
    const char *s = json_string_value(json);
    const char *digits = *s == '-' ? s + 1 : s;
    if (*digits < '0' || *digits > '9'
        || strlen(s) != json_string_length(json)) {
        return false;
    }
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) {
        return false;
    }
    *value = v;
    return true;
}

char *
etcd_prefix_range_end(const char *key, size_t len, size_t *end_len)
{
    for (size_t i = len; i > 0; i--) {
        if ((unsigned char)key[i - 1] != 0xff) {
            char *end = nofail_malloc(i);
            memcpy(end, key, i);
            end[i - 1] = (char)((unsigned char)key[i - 1] + 1);
            *end_len = i;
            return end;
        }
    }
    char *end = nofail_malloc(1);
    end[0] = '\0';
    *end_len = 1;
    return end;
}

int
etcd_grpc_code_to_errno(int code)
{
    switch (code) {
    case 1:  /* CANCELLED */
    case 10: /* ABORTED */
        return ECANCELED;
    case 3: /* INVALID_ARGUMENT */
        return EINVAL;
    case 4: /* DEADLINE_EXCEEDED */
        return ETIMEDOUT;
    case 5: /* NOT_FOUND */
        return ENOENT;
    case 6: /* ALREADY_EXISTS */
        return EEXIST;
    case 7:  /* PERMISSION_DENIED */
    case 16: /* UNAUTHENTICATED */
        return EACCES;
    case 8: /* RESOURCE_EXHAUSTED */
        return ENOSPC;
    case 11: /* OUT_OF_RANGE */
        return ERANGE;
    case 12: /* UNIMPLEMENTED */
        return ENOSYS;
    case 14: /* UNAVAILABLE */
        return EAGAIN;
    default: /* UNKNOWN, FAILED_PRECONDITION, INTERNAL, DATA_LOSS... */
        return EIO;
    }
}

/* If 'root' is an error object of either form, fills in '*code' and
 * '*message' and returns true. */
static bool
json_parse_error(const json_t *root, int *code, char **message)
{
    const json_t *error = json_object_get(root, "error");
    if (!error) {
        return false;
    }

    const json_t *holder; /* Object with the code and message. */
    const char *code_name;
    const char *text = NULL;
    if (json_is_object(error)) {
        holder = error;
        code_name = "grpc_code";
    } else if (json_is_string(error)) {
        if (!json_string_length(error)) {
            return false; /* E.g. LeaseGrantResponse's empty "error". */
        }
        holder = root;
        code_name = "code";
        text = json_string_value(error);
    } else {
        return false;
    }

    int64_t c = 0;
    if (!etcd_json_int64(json_object_get(holder, code_name), &c) || c < 0
        || c > 1000) {
        c = 0;
    }
    const json_t *m = json_object_get(holder, "message");
    if (json_is_string(m) && json_string_length(m)) {
        text = json_string_value(m);
    }
    *code = (int)c;
    *message = nofail_strdup(text ? text : "unknown error");
    return true;
}

bool
etcd_parse_error(const char *body, size_t len, int *code, char **message)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    bool is_error
        = json_is_object(root) && json_parse_error(root, code, message);
    json_decref(root);
    return is_error;
}

/* Replies. */

/* Parses the JSON text 'body' as an object.  Returns it, or NULL with a
 * reason in '*msg'. */
static json_t *
load_object(const char *body, size_t len, char **msg)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        *msg = nofail_asprintf("malformed JSON reply: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *msg = nofail_strdup("malformed reply: not a JSON object");
        return NULL;
    }
    return root;
}

/* Stores the int64 member 'name' of 'obj' in '*value' (0 if absent).
 * Returns true, or false with a reason in '*msg' if it is malformed. */
static bool
get_int64(const json_t *obj, const char *name, int64_t *value, char **msg)
{
    const json_t *j = json_object_get(obj, name);
    *value = 0;
    if (!j || json_is_null(j)) {
        return true;
    }
    if (!etcd_json_int64(j, value)) {
        *msg = nofail_asprintf("malformed reply: \"%s\" is not an int64", name);
        return false;
    }
    return true;
}

/* Stores the boolean member 'name' of 'obj' in '*value' (false if absent).
 * Returns true, or false with a reason in '*msg'. */
static bool
get_bool(const json_t *obj, const char *name, bool *value, char **msg)
{
    const json_t *j = json_object_get(obj, name);
    *value = false;
    if (!j || json_is_null(j)) {
        return true;
    }
    if (!json_is_boolean(j)) {
        *msg = nofail_asprintf("malformed reply: \"%s\" is not a boolean", name);
        return false;
    }
    *value = json_is_true(j);
    return true;
}

/* Decodes the base64 string member 'name' of 'obj' into '*datap' and '*np'
 * ("" if absent).  Returns true, or false with a reason in '*msg'. */
static bool
get_bytes(const json_t *obj, const char *name, char **datap, size_t *np,
          char **msg)
{
    const json_t *j = json_object_get(obj, name);
    if (!j || json_is_null(j)) {
        *datap = nofail_strdup("");
        *np = 0;
        return true;
    }
    if (!json_is_string(j)
        || etcd_base64_decode(json_string_value(j), json_string_length(j),
                              datap, np)) {
        *msg = nofail_asprintf("malformed reply: \"%s\" is not base64", name);
        return false;
    }
    return true;
}

static void
kv_uninit(struct etcd_kv *kv)
{
    free(kv->key);
    free(kv->value);
}

/* Parses the KeyValue object 'j' into '*kv', stripping the 'prefix_len'
 * bytes of 'prefix' from its key.  Returns true, or false with a reason in
 * '*msg' (and '*kv' empty). */
static bool
parse_kv(const json_t *j, const char *prefix, size_t prefix_len,
         struct etcd_kv *kv, char **msg)
{
    memset(kv, 0, sizeof *kv);
    if (!json_is_object(j)) {
        *msg = nofail_strdup("malformed reply: key-value is not an object");
        return false;
    }
    if (!json_object_get(j, "key")) {
        *msg = nofail_strdup("malformed reply: key-value without a key");
        return false;
    }
    if (!get_bytes(j, "key", &kv->key, &kv->key_len, msg)) {
        return false;
    }
    if (kv->key_len < prefix_len || memcmp(kv->key, prefix, prefix_len)) {
        *msg = nofail_asprintf("malformed reply: key outside the prefix %s", prefix);
        kv_uninit(kv);
        memset(kv, 0, sizeof *kv);
        return false;
    }
    memmove(kv->key, kv->key + prefix_len, kv->key_len - prefix_len + 1);
    kv->key_len -= prefix_len;

    if (!get_bytes(j, "value", &kv->value, &kv->value_len, msg)
        || !get_int64(j, "create_revision", &kv->create_revision, msg)
        || !get_int64(j, "mod_revision", &kv->mod_revision, msg)
        || !get_int64(j, "version", &kv->version, msg)
        || !get_int64(j, "lease", &kv->lease, msg)) {
        kv_uninit(kv);
        memset(kv, 0, sizeof *kv);
        return false;
    }
    return true;
}

/* Parses the array member 'name' of 'obj' (absent = empty) into a new array
 * of pairs in '*kvsp' and '*np'.  Returns true, or false with a reason in
 * '*msg'. */
static bool
parse_kvs(const json_t *obj, const char *name, const char *prefix,
          struct etcd_kv **kvsp, size_t *np, char **msg)
{
    const json_t *arr = json_object_get(obj, name);
    *kvsp = NULL;
    *np = 0;
    if (!arr || json_is_null(arr)) {
        return true;
    }
    if (!json_is_array(arr)) {
        *msg = nofail_asprintf("malformed reply: \"%s\" is not an array", name);
        return false;
    }
    size_t n = json_array_size(arr);
    struct etcd_kv *kvs = nofail_calloc(n, sizeof *kvs);
    size_t prefix_len = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        if (!parse_kv(json_array_get(arr, i), prefix, prefix_len, &kvs[i],
                      msg)) {
            for (size_t k = 0; k < i; k++) {
                kv_uninit(&kvs[k]);
            }
            free(kvs);
            return false;
        }
    }
    *kvsp = kvs;
    *np = n;
    return true;
}

static void
result_uninit(struct etcd_result *r)
{
    for (size_t i = 0; i < r->n_kvs; i++) {
        kv_uninit(&r->kvs[i]);
    }
    free(r->kvs);
    for (size_t i = 0; i < r->n_responses; i++) {
        result_uninit(&r->responses[i]);
    }
    free(r->responses);
}

void
etcd_result_destroy(struct etcd_result *result)
{
    if (result) {
        result_uninit(result);
        free(result);
    }
}

/* Stores the revision in the "header" of 'obj' in '*revision'. */
static bool
get_header_revision(const json_t *obj, int64_t *revision, char **msg)
{
    const json_t *header = json_object_get(obj, "header");
    *revision = 0;
    if (!header || json_is_null(header)) {
        return true;
    }
    if (!json_is_object(header)) {
        *msg = nofail_strdup("malformed reply: \"header\" is not an object");
        return false;
    }
    return get_int64(header, "revision", revision, msg);
}

/* Parses the reply object 'obj' of an operation of 'type' into '*r' (zeroed
 * by the caller).  Returns true, or false with a reason in '*msg' (then
 * '*r' must still be uninitialized). */
static bool
parse_result(enum etcd_op_type type, const json_t *obj, const char *prefix,
             struct etcd_result *r, char **msg)
{
    r->type = type;
    if (!json_is_object(obj)) {
        *msg = nofail_strdup("malformed reply: response is not an object");
        return false;
    }
    if (!get_header_revision(obj, &r->revision, msg)) {
        return false;
    }

    switch (type) {
    case ETCD_OP_RANGE:
        return parse_kvs(obj, "kvs", prefix, &r->kvs, &r->n_kvs, msg)
               && get_int64(obj, "count", &r->count, msg);

    case ETCD_OP_PUT: {
        const json_t *prev = json_object_get(obj, "prev_kv");
        if (prev && !json_is_null(prev)) {
            r->kvs = nofail_calloc(1, sizeof *r->kvs);
            if (!parse_kv(prev, prefix, strlen(prefix), r->kvs, msg)) {
                return false;
            }
            r->n_kvs = 1;
        }
        return true;
    }

    case ETCD_OP_DELETE:
        return get_int64(obj, "deleted", &r->count, msg)
               && parse_kvs(obj, "prev_kvs", prefix, &r->kvs, &r->n_kvs, msg);

    case ETCD_OP_TXN: {
        if (!get_bool(obj, "succeeded", &r->succeeded, msg)) {
            return false;
        }
        const json_t *arr = json_object_get(obj, "responses");
        if (!arr || json_is_null(arr)) {
            return true;
        }
        if (!json_is_array(arr)) {
            *msg = nofail_strdup("malformed reply: \"responses\" is not an array");
            return false;
        }
        size_t n = json_array_size(arr);
        r->responses = nofail_calloc(n, sizeof *r->responses);
        for (size_t i = 0; i < n; i++) {
            static const struct {
                const char *name;
                enum etcd_op_type type;
            } kinds[] = {
                {"response_range", ETCD_OP_RANGE},
                {"response_put", ETCD_OP_PUT},
                {"response_delete_range", ETCD_OP_DELETE},
                {"response_txn", ETCD_OP_TXN},
            };
            const json_t *op = json_array_get(arr, i);
            const json_t *sub = NULL;
            enum etcd_op_type sub_type = ETCD_OP_RANGE;
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
                const json_t *j = json_object_get(op, kinds[k].name);
                if (j) {
                    sub = j;
                    sub_type = kinds[k].type;
                    break;
                }
            }
            if (!sub) {
                *msg = nofail_strdup("malformed reply: unknown txn response");
                return false;
            }
            /* Count it first, so that result_uninit() frees it. */
            r->n_responses++;
            if (!parse_result(sub_type, sub, prefix, &r->responses[i], msg)) {
                return false;
            }
        }
        return true;
    }
    }
    *msg = nofail_strdup("unknown operation type");
    return false;
}

int
etcd_parse_result(enum etcd_op_type type, const char *body, size_t len,
                  const char *prefix, struct etcd_result **resultp, char **msg)
{
    *resultp = NULL;
    *msg = NULL;
    json_t *root = load_object(body, len, msg);
    if (!root) {
        return EPROTO;
    }
    struct etcd_result *r = nofail_calloc(1, sizeof *r);
    bool ok = parse_result(type, root, prefix ? prefix : "", r, msg);
    json_decref(root);
    if (!ok) {
        etcd_result_destroy(r);
        return EPROTO;
    }
    *resultp = r;
    return 0;
}

int
etcd_parse_lease_grant(const char *body, size_t len, int64_t *id, int64_t *ttl,
                       char **msg)
{
    *msg = NULL;
    *id = *ttl = 0;
    json_t *root = load_object(body, len, msg);
    if (!root) {
        return EPROTO;
    }
    int error = 0;
    if (!get_int64(root, "ID", id, msg) || !get_int64(root, "TTL", ttl, msg)) {
        error = EPROTO;
    } else if (*id == 0) {
        *msg = nofail_strdup("malformed reply: lease grant without an ID");
        error = EPROTO;
    }
    json_decref(root);
    return error;
}

int
etcd_parse_lease_keepalive(const char *body, size_t len, int64_t *ttl,
                           char **msg)
{
    *msg = NULL;
    *ttl = 0;
    json_t *root = load_object(body, len, msg);
    if (!root) {
        return EPROTO;
    }
    int error = 0;
    const json_t *result = json_object_get(root, "result");
    if (!json_is_object(result)) {
        *msg = nofail_strdup("malformed reply: no \"result\" object");
        error = EPROTO;
    } else if (!get_int64(result, "TTL", ttl, msg)) {
        error = EPROTO;
    }
    json_decref(root);
    return error;
}

/* Streams. */

struct etcd_stream {
    char *buf; /* 'buf[start, pos)': scanned part of the next value;
                * 'buf[pos, len)': not scanned yet. */
    size_t len, cap;
    size_t start, pos;
    size_t max;     /* Limit on 'len - start'. */
    unsigned depth; /* Bracket nesting at 'pos'. */
    bool in_string; /* Inside a JSON string at 'pos'. */
    bool escape;    /* After a backslash in a string. */
    bool broken;    /* Not a sequence of objects. */
};

struct etcd_stream *
etcd_stream_create(size_t max)
{
    struct etcd_stream *s = nofail_calloc(1, sizeof *s);
    s->max = max;
    return s;
}

void
etcd_stream_destroy(struct etcd_stream *s)
{
    if (s) {
        free(s->buf);
        free(s);
    }
}

void
etcd_stream_reset(struct etcd_stream *s)
{
    size_t max = s->max;
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->max = max;
}

int
etcd_stream_feed(struct etcd_stream *s, const void *data, size_t n)
{
    if (s->start) {
        /* Drop what was consumed. */
        memmove(s->buf, s->buf + s->start, s->len - s->start);
        s->len -= s->start;
        s->pos -= s->start;
        s->start = 0;
    }
    if (n > s->max || s->len > s->max - n) {
        return EMSGSIZE;
    }
    if (!n) {
        return 0;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n) {
            cap *= 2;
        }
        s->buf = nofail_realloc(s->buf, cap);
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return 0;
}

int
etcd_stream_next(struct etcd_stream *s, const char **value, size_t *len)
{
    if (s->broken) {
        return EPROTO;
    }
    for (; s->pos < s->len; s->pos++) {
        char c = s->buf[s->pos];
        if (!s->depth) {
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                s->start = s->pos + 1;
                continue;
            }
            if (c != '{') {
                s->broken = true;
                return EPROTO;
            }
            s->start = s->pos;
            s->depth = 1;
        } else if (s->in_string) {
            if (s->escape) {
                s->escape = false;
            } else if (c == '\\') {
                s->escape = true;
            } else if (c == '"') {
                s->in_string = false;
            }
        } else if (c == '"') {
            s->in_string = true;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if (c == '}' || c == ']') {
            if (!--s->depth) {
                *value = s->buf + s->start;
                *len = s->pos + 1 - s->start;
                s->pos++;
                s->start = s->pos;
                return 0;
            }
        }
    }
    if (!s->depth) {
        /* Only whitespace is left: free its space at the next feed. */
        s->start = s->pos;
    }
    return EAGAIN;
}

/* Watch responses. */

void
etcd_watch_response_destroy(struct etcd_watch_response *r)
{
    if (r) {
        for (size_t i = 0; i < r->n_events; i++) {
            kv_uninit(&r->events[i].kv);
            if (r->events[i].prev_kv) {
                kv_uninit(r->events[i].prev_kv);
                free(r->events[i].prev_kv);
            }
        }
        free(r->events);
        free(r->cancel_reason);
        free(r->error_message);
        free(r);
    }
}

/* Parses the Event object 'j' into '*ev' (zeroed by the caller). */
static bool
parse_event(const json_t *j, const char *prefix, struct etcd_event *ev,
            char **msg)
{
    if (!json_is_object(j)) {
        *msg = nofail_strdup("malformed watch event: not an object");
        return false;
    }

    /* proto3 JSON omits the default enum value PUT (0). */
    const json_t *type = json_object_get(j, "type");
    if (!type || json_is_null(type)
        || (json_is_string(type) && !strcmp(json_string_value(type), "PUT"))
        || (json_is_integer(type) && json_integer_value(type) == 0)) {
        ev->type = ETCD_EVENT_PUT;
    } else if ((json_is_string(type)
                && !strcmp(json_string_value(type), "DELETE"))
               || (json_is_integer(type) && json_integer_value(type) == 1)) {
        ev->type = ETCD_EVENT_DELETE;
    } else {
        *msg = nofail_strdup("malformed watch event: unknown type");
        return false;
    }

    size_t prefix_len = strlen(prefix);
    if (!parse_kv(json_object_get(j, "kv"), prefix, prefix_len, &ev->kv,
                  msg)) {
        return false;
    }
    const json_t *prev = json_object_get(j, "prev_kv");
    if (prev && !json_is_null(prev)) {
        ev->prev_kv = nofail_calloc(1, sizeof *ev->prev_kv);
        if (!parse_kv(prev, prefix, prefix_len, ev->prev_kv, msg)) {
            free(ev->prev_kv);
            ev->prev_kv = NULL;
            kv_uninit(&ev->kv);
            memset(&ev->kv, 0, sizeof ev->kv);
            return false;
        }
    }
    return true;
}

int
etcd_parse_watch_response(const char *json, size_t len, const char *prefix,
                          struct etcd_watch_response **responsep, char **msg)
{
    *responsep = NULL;
    *msg = NULL;
    prefix = prefix ? prefix : "";
    json_t *root = load_object(json, len, msg);
    if (!root) {
        return EPROTO;
    }

    struct etcd_watch_response *r = nofail_calloc(1, sizeof *r);
    if (json_parse_error(root, &r->error_code, &r->error_message)) {
        r->is_error = true;
        json_decref(root);
        *responsep = r;
        return 0;
    }

    const json_t *result = json_object_get(root, "result");
    bool ok = false;
    if (!json_is_object(result)) {
        *msg = nofail_strdup("malformed watch response: no \"result\" object");
    } else if (get_header_revision(result, &r->revision, msg)
               && get_bool(result, "created", &r->created, msg)
               && get_bool(result, "canceled", &r->canceled, msg)
               && get_int64(result, "compact_revision", &r->compact_revision,
                            msg)) {
        ok = true;
        const json_t *reason = json_object_get(result, "cancel_reason");
        if (json_is_string(reason) && json_string_length(reason)) {
            r->cancel_reason = nofail_strdup(json_string_value(reason));
        }
        const json_t *events = json_object_get(result, "events");
        if (events && !json_is_null(events)) {
            if (!json_is_array(events)) {
                *msg = nofail_strdup("malformed watch response: \"events\" is "
                               "not an array");
                ok = false;
            } else {
                size_t n = json_array_size(events);
                r->events = nofail_calloc(n, sizeof *r->events);
                for (size_t i = 0; i < n && ok; i++) {
                    ok = parse_event(json_array_get(events, i), prefix,
                                     &r->events[i], msg);
                    if (ok) {
                        r->n_events++;
                    }
                }
            }
        }
    }
    json_decref(root);
    if (!ok) {
        etcd_watch_response_destroy(r);
        return EPROTO;
    }
    *responsep = r;
    return 0;
}
