/*
 * The control protocol between sluicectl (the operator CLI) and the node
 * agent sluiced: egress IP pools and egresses (see sluice/egress-model.h).
 *
 * Transport.  A unix stream socket, by default CTL_PROTO_DEFAULT_SOCKET
 * (created by the agent, root-only, mode 0600).  sluicectl picks the socket
 * from, in this order: its "-s PATH" / "--socket PATH" option, the
 * environment variable CTL_PROTO_SOCKET_ENV (SLUICE_CTL_SOCKET) if set and
 * nonempty, the default.  The client connects, sends one request frame and
 * reads one response frame; then the connection is closed.  Frames are
 * those of the CNI shim protocol (sluice/cni-proto.h): a 4-byte big-endian
 * length followed by that many bytes of JSON, at most CTL_PROTO_MAX_FRAME
 * bytes.  sluicectl gives up after CTL_PROTO_DEFAULT_TIMEOUT_S seconds.
 *
 * Request (version 1):
 *     {"version": 1, "command": "pool.create", "args": {...}}
 * "args" is always an object (possibly empty).
 *
 * Response (version 1):
 *     {"version": 1, "status": 0, "result": {...}}         success
 *     {"version": 1, "status": N, "error": "one line"}     failure
 * Status CTL_STATUS_INVALID (2): the request is invalid or refused by
 * validation (bad arguments, overlapping ranges, unknown pool or egress, a
 * pool in use); CTL_STATUS_FAILED (1): any other failure (datastore
 * unreachable, ...).  "error" is a single human-readable line.
 *
 * Commands, their "args" and their "result" (POOL is a pool as encoded by
 * egress_pool_to_json(), EGRESS an egress as encoded by egress_to_json()):
 *
 *   pool.create   {"pool": POOL}              {}
 *   pool.list     {}                          {"pools": [POOL_STATUS, ...]}
 *   pool.show     {"name": "p1"}              POOL_STATUS
 *   pool.delete   {"name": "p1"}              {}
 *       (status 2, with an error naming the egress, if an egress uses it)
 *   egress.create {"egress": EGRESS}          {"ip": "198.18.0.100"}
 *   egress.list   {}                          {"egresses": [EGRESS_STATUS]}
 *   egress.show   {"name": "e1"}              EGRESS_STATUS
 *   egress.delete {"name": "e1"}              {}
 *   egress.move   {"name": "e1", "node": "n3"} {}
 *
 * where
 *
 *   POOL_STATUS   {"pool": POOL, "total": N, "used": M,
 *                  "egresses": ["e1", ...]}
 *     'total' addresses in the pool, 'used' of them taken by egresses,
 *     'egresses' the names of the egresses that use the pool.
 *
 *   EGRESS_STATUS {"egress": EGRESS, "ip": "198.18.0.100",
 *                  "node": "n2" or null,
 *                  "since": "2026-11-23T11:30:00Z" or null,
 *                  "pods": ["default/web-1", ...]}
 *     'ip' the egress IP in effect (explicit or allocated; null if none
 *     could be allocated), 'node' the node that holds it and 'since' when
 *     it took it (RFC 3339, UTC; both null, or absent, while no node holds
 *     it), 'pods' the "namespace/name" of the pods the egress applies to.
 *
 * sluicectl treats a success without "result" as an empty result, a
 * failure without "error" as "the agent failed with status N", and ignores
 * members of POOL_STATUS and EGRESS_STATUS it does not know.
 */
#ifndef SLUICE_CTL_PROTO_H
#define SLUICE_CTL_PROTO_H 1

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#include "sluice/cni-proto.h"

#define CTL_PROTO_VERSION 1
#define CTL_PROTO_DEFAULT_SOCKET "/run/sluice/ctl.sock"
#define CTL_PROTO_SOCKET_ENV "SLUICE_CTL_SOCKET"
#define CTL_PROTO_DEFAULT_TIMEOUT_S 10

/* Largest frame either side accepts (the frame codec's own limit). */
#define CTL_PROTO_MAX_FRAME CNI_PROTO_MAX_FRAME

/* Response statuses. */
#define CTL_STATUS_OK 0      /* Success: "result" holds the answer. */
#define CTL_STATUS_FAILED 1  /* Any failure other than the one below. */
#define CTL_STATUS_INVALID 2 /* Invalid request or refused by validation. */

/* Command names. */
#define CTL_CMD_POOL_CREATE "pool.create"
#define CTL_CMD_POOL_LIST "pool.list"
#define CTL_CMD_POOL_SHOW "pool.show"
#define CTL_CMD_POOL_DELETE "pool.delete"
#define CTL_CMD_EGRESS_CREATE "egress.create"
#define CTL_CMD_EGRESS_LIST "egress.list"
#define CTL_CMD_EGRESS_SHOW "egress.show"
#define CTL_CMD_EGRESS_DELETE "egress.delete"
#define CTL_CMD_EGRESS_MOVE "egress.move"

/* Longest "error" line kept by ctl_response_parse() and written by
 * ctl_response_error(), in bytes. */
#define CTL_ERROR_MAX 1024

/* A decoded response. */
struct ctl_response {
    int status;     /* CTL_STATUS_*, or another positive value. */
    json_t *result; /* On success, the "result" object (owned); else NULL. */
    char *error;    /* On failure, the "error" line (owned); else NULL. */
};

/* Builds a version-1 request for 'command' with 'args' (an object, or NULL
 * for an empty one; the reference is stolen).  Returns a new reference, or
 * NULL if out of memory. */
json_t *ctl_request_new(const char *command, json_t *args);

/* Decodes the request body 'body' of 'len' bytes (for the agent).  On
 * success returns 0 and stores the command into '*commandp' (a string the
 * caller frees) and the args object into '*argsp' (a new reference; an
 * empty object if the request had none).  Otherwise returns EINVAL (or
 * ENOMEM) with a one-line reason in 'err', suitable as the "error" of a
 * CTL_STATUS_INVALID response; a version other than CTL_PROTO_VERSION is
 * refused with a message naming the version spoken here. */
int ctl_request_parse(const char *body, size_t len, char **commandp,
                      json_t **argsp, char *err, size_t err_size);

/* Builds a success response around 'result' (an object, or NULL for an
 * empty one; the reference is stolen).  Returns a new reference, or NULL if
 * out of memory. */
json_t *ctl_response_ok(json_t *result);

/* Builds a failure response with 'status' (CTL_STATUS_FAILED or
 * CTL_STATUS_INVALID) and a formatted message, made a single line (control
 * characters become '?') of at most CTL_ERROR_MAX bytes.  Returns a new
 * reference, or NULL if out of memory. */
json_t *ctl_response_error(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Decodes the response body 'body' of 'len' bytes (untrusted input) into
 * 'response'.  Returns 0 on success (whatever the status), EPROTO for a
 * malformed response, EPROTONOSUPPORT for another protocol version, or
 * ENOMEM, with a one-line reason in 'err'.  A failure's "error" is made a
 * single printable line (control characters become '?', long messages end
 * in "...").  On error 'response' holds nothing to free. */
int ctl_response_parse(const char *body, size_t len,
                       struct ctl_response *response, char *err,
                       size_t err_size);

/* Frees what 'response' holds. */
void ctl_response_destroy(struct ctl_response *response);

/* Formats a message into 'err' ('err_size' bytes, at least 4) as one line
 * of printable ASCII: other bytes become '?', and a message that does not
 * fit ends in "...".  Does nothing if 'err' is NULL. */
void ctl_vformat_error(char *err, size_t err_size, const char *fmt,
                       va_list args) __attribute__((format(printf, 3, 0)));

#endif /* sluice/ctl-proto.h */
