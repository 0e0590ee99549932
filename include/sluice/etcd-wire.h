/*
 * The wire format of etcd's JSON/HTTP gateway, without any I/O: base64,
 * 64-bit integers, key ranges, and the parsing of replies, error bodies
 * and watch streams.  Used by agent/etcd.c and by its unit tests.
 *
 * Facts about the gateway of etcd 3.4 (checked against etcd-server 3.4.23):
 * keys and values are standard base64 with padding; int64 fields
 * (revisions, counts, lease IDs, TTLs) come as JSON strings ("12") and are
 * accepted as strings or numbers; fields with their zero value are omitted
 * (a PUT event has no "type", a failed txn no "succeeded", a range that
 * finds nothing no "kvs" and no "count"); errors come as
 * {"error":"...","message":"...","code":N} with an HTTP error status, or
 * inside a stream as {"error":{"grpc_code":N,"http_code":...,"message":...,
 * "http_status":...}}; streaming replies (watch, lease keepalive) are one
 * JSON object per line, each {"result":{...}}.
 */
#ifndef SLUICE_ETCD_WIRE_H
#define SLUICE_ETCD_WIRE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/etcd.h"

struct json_t;

/* Base64 (RFC 4648, standard alphabet, with padding). */

/* Returns a malloc'd NUL-terminated encoding of the 'n' bytes at 'data'. */
char *etcd_base64_encode(const void *data, size_t n);

/* Decodes the 'len' characters at 'text' into a malloc'd buffer, stored
 * with its size in '*datap' and '*np' (NUL-terminated past the end).
 * Returns 0, or EINVAL (with '*datap' NULL) if 'text' is not canonical
 * padded base64: bad character or length, misplaced padding, non-zero
 * trailing bits. */
int etcd_base64_decode(const char *text, size_t len, char **datap, size_t *np);

/* Stores the int64 value of 'json', a JSON integer or a string of decimal
 * digits with an optional '-', in '*value' and returns true, or returns
 * false (out of range, not an integer, or NULL). */
bool etcd_json_int64(const struct json_t *json, int64_t *value);

/* Returns the end of the range of keys that start with the 'len' bytes at
 * 'key' (malloc'd, length in '*end_len'): 'key' with its last byte below
 * 0xff incremented and what follows dropped, or "\0" (all keys from 'key'
 * on) if there is no such byte. */
char *etcd_prefix_range_end(const char *key, size_t len, size_t *end_len);

/* Returns the positive errno value that corresponds to gRPC status
 * 'code' (see etcd.h). */
int etcd_grpc_code_to_errno(int code);

/* If the 'len' bytes at 'body' are a gateway error object, in either
 * form, stores its gRPC code (0 if absent) in '*code' and its malloc'd
 * message in '*message' and returns true; otherwise returns false. */
bool etcd_parse_error(const char *body, size_t len, int *code, char **message);

/* Parses the JSON reply 'body' ('len' bytes) of a range, put, deleterange
 * or txn request, as 'type' says.  The keys in it must start with the
 * 'prefix', which is stripped.  Stores a new result in '*resultp' and
 * returns 0, or returns EPROTO with a malloc'd reason in '*msg'. */
int etcd_parse_result(enum etcd_op_type type, const char *body, size_t len,
                      const char *prefix, struct etcd_result **resultp,
                      char **msg);

/* Frees 'result' (which may be NULL). */
void etcd_result_destroy(struct etcd_result *result);

/* Parses the reply to a lease grant into '*id' and '*ttl'.  Returns 0, or
 * EPROTO with a malloc'd reason in '*msg'. */
int etcd_parse_lease_grant(const char *body, size_t len, int64_t *id,
                           int64_t *ttl, char **msg);

/* Parses the reply to a lease keepalive ({"result":{...}}) into '*ttl' (0
 * if the lease was not found).  Returns 0, or EPROTO with a malloc'd
 * reason in '*msg'. */
int etcd_parse_lease_keepalive(const char *body, size_t len, int64_t *ttl,
                               char **msg);

/* Splitting a stream of concatenated (or newline-separated) JSON objects
 * into the objects, whatever the chunks it arrives in. */

struct etcd_stream;

/* Returns a new stream that holds at most 'max' bytes of unfinished
 * input. */
struct etcd_stream *etcd_stream_create(size_t max);

/* Frees 's' (which may be NULL). */
void etcd_stream_destroy(struct etcd_stream *s);

/* Forgets all input of 's'. */
void etcd_stream_reset(struct etcd_stream *s);

/* Appends the 'n' bytes at 'data' to 's'.  Returns 0, or EMSGSIZE if the
 * unfinished input would exceed the maximum. */
int etcd_stream_feed(struct etcd_stream *s, const void *data, size_t n);

/* Finds the next complete top-level JSON object in 's': stores its start
 * and length in '*value' and '*len' (valid until the next call on 's')
 * and returns 0; returns EAGAIN if there is none yet, or EPROTO if the
 * input is not a sequence of objects (the stream is then unusable until
 * reset). */
int etcd_stream_next(struct etcd_stream *s, const char **value, size_t *len);

/* One message of a watch stream. */
struct etcd_watch_response {
    int64_t revision;         /* Header revision (0 if absent). */
    bool created;             /* The watch was just created. */
    bool canceled;            /* The server canceled the watch... */
    int64_t compact_revision; /* ...because of this compaction (if > 0). */
    char *cancel_reason;      /* Or this reason, or NULL. */
    struct etcd_event *events;
    size_t n_events;

    /* A stream error instead of a result. */
    bool is_error;
    int error_code;      /* gRPC code. */
    char *error_message; /* Never NULL if 'is_error'. */
};

/* Parses the watch stream message 'json' ('len' bytes), stripping 'prefix'
 * from keys.  Stores a new response in '*responsep' and returns 0, or
 * returns EPROTO with a malloc'd reason in '*msg'.  A response that has
 * no events, is not "created" and not "canceled" is a progress
 * notification: all events up to its revision have been sent. */
int etcd_parse_watch_response(const char *json, size_t len, const char *prefix,
                              struct etcd_watch_response **responsep,
                              char **msg);

/* Frees 'response' (which may be NULL). */
void etcd_watch_response_destroy(struct etcd_watch_response *response);

#endif /* sluice/etcd-wire.h */
