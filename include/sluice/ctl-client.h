/*
 * The client side of the control protocol (sluice/ctl-proto.h), as used by
 * sluicectl: one blocking exchange with the agent under a deadline, and
 * decoders that check the results of the list and show commands (untrusted
 * input) before anything is printed.
 */
#ifndef SLUICE_CTL_CLIENT_H
#define SLUICE_CTL_CLIENT_H 1

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sluice/ctl-proto.h"
#include "sluice/egress-model.h"

/* Room for a socket path, including the null terminator (sun_path). */
#define CTL_SOCKET_PATH_MAX 108

/* Connects to the agent's control socket 'socket_path', sends 'request'
 * and reads the response, all within 'timeout_ms' milliseconds.  Returns 0
 * with the decoded response in 'response' (whatever its status; the caller
 * destroys it), or a positive errno value with a one-line message naming
 * 'socket_path' in 'err': ENAMETOOLONG for a path of CTL_SOCKET_PATH_MAX
 * bytes or more, the connect() error if the agent is not reachable,
 * ETIMEDOUT if the deadline passed, ECONNRESET if the agent hung up without
 * answering, EPROTO or EPROTONOSUPPORT for a malformed response or another
 * protocol version. */
int ctl_client_call(const char *socket_path, int timeout_ms,
                    const json_t *request, struct ctl_response *response,
                    char *err, size_t err_size);

/* The status of one pool: POOL_STATUS in sluice/ctl-proto.h. */
struct ctl_pool_status {
    struct egress_pool *pool; /* The pool. */
    uint64_t total;           /* Addresses in the pool. */
    uint64_t used;            /* Addresses taken by egresses. */
    char **egresses;          /* Names of the egresses using the pool. */
    size_t n_egresses;        /* Number of 'egresses'. */
};

/* The status of one egress: EGRESS_STATUS in sluice/ctl-proto.h. */
struct ctl_egress_status {
    struct egress *egress; /* The egress. */
    uint32_t ip;           /* The IP in effect, 0 if none (JSON null). */
    char *node;            /* The node holding 'ip', or NULL. */
    char *since;           /* Since when 'node' holds it, or NULL. */
    char **pods;           /* "namespace/name" of the selected pods. */
    size_t n_pods;         /* Number of 'pods'. */
};

/* A list of pools or egresses. */
struct ctl_pool_list {
    struct ctl_pool_status *pools; /* Array of 'n' statuses. */
    size_t n;
};

struct ctl_egress_list {
    struct ctl_egress_status *egresses; /* Array of 'n' statuses. */
    size_t n;
};

/* Decoders of the results of "pool.show", "pool.list", "egress.show",
 * "egress.list" and "egress.create".  Each checks 'json' (the "result"
 * object of a successful response) and fills its output argument.  The
 * pool and egress objects go through egress_pool_from_json() and
 * egress_from_json(); names of egresses and nodes must be valid names, IPs
 * dotted quads, counts nonnegative integers, "since" and pod names
 * printable ASCII without spaces or commas (at most 512 bytes); members the
 * protocol does not define are ignored.  Return 0, or EPROTO (ENOMEM) with
 * a one-line reason (printable ASCII) in 'err', in which case the output
 * argument holds nothing to free. */
int ctl_pool_status_from_json(const json_t *json,
                              struct ctl_pool_status *status, char *err,
                              size_t err_size);
int ctl_pool_list_from_json(const json_t *json, struct ctl_pool_list *list,
                            char *err, size_t err_size);
int ctl_egress_status_from_json(const json_t *json,
                                struct ctl_egress_status *status, char *err,
                                size_t err_size);
int ctl_egress_list_from_json(const json_t *json, struct ctl_egress_list *list,
                              char *err, size_t err_size);

/* Decodes the result of "egress.create" into '*ip' (the egress's IP). */
int ctl_egress_created_from_json(const json_t *json, uint32_t *ip, char *err,
                                 size_t err_size);

/* Free what the decoders stored (the structures themselves are the
 * caller's). */
void ctl_pool_status_destroy(struct ctl_pool_status *status);
void ctl_pool_list_destroy(struct ctl_pool_list *list);
void ctl_egress_status_destroy(struct ctl_egress_status *status);
void ctl_egress_list_destroy(struct ctl_egress_list *list);

#endif /* sluice/ctl-client.h */
