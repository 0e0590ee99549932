/*
 * OVSDB client for the Open_vSwitch database of the local ovsdb-server,
 * spoken directly as JSON-RPC (RFC 7047) over a unix socket on the agent's
 * libuv loop.  It does not use OVS's ovsdb-idl.
 *
 * A client keeps one connection open for the life of the agent and
 * reconnects with exponential backoff when it drops.  It monitors these
 * tables and columns and keeps an in-memory replica of their rows:
 *
 *     Open_vSwitch: other_config, external_ids
 *     Bridge:       name, ports, other_config, external_ids, datapath_type
 *     Port:         name, interfaces, external_ids
 *     Interface:    name, type, ofport, ofport_request, options,
 *                   external_ids, error, bfd_status
 *
 * Every row change is reported to the owner.  After each (re)connection the
 * replica is reconciled with the server's state: rows that appeared, changed
 * or vanished while the client was away are reported as inserts,
 * modifications and deletions, then the 'connected' callback runs, after
 * which the replica is complete and the owner can walk it to resync.
 *
 * The pod ADD/DEL operations below are each one transaction (one round
 * trip).  All functions must be called on the loop's thread.  No callback is
 * ever invoked from within the call that registered it.
 *
 * The result values that are JSON use jansson's json_t, declared here as an
 * incomplete 'struct json_t' so that this header can be included next to
 * Open vSwitch's own JSON header.
 */
#ifndef SLUICE_OVSDB_H
#define SLUICE_OVSDB_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct uv_loop_s;
struct ovsdb_client;
struct ovsdb_row;

/* Incoming messages (and so the read buffer) are limited to this size; a
 * larger message fails the connection. */
#define OVSDB_MAX_MESSAGE (64u * 1024 * 1024)

/* Default reconnection backoff: the first retry comes after the minimum, and
 * each failure doubles the delay up to the maximum. */
#define OVSDB_BACKOFF_MIN_MS 100
#define OVSDB_BACKOFF_MAX_MS 5000

/* The monitored tables. */
enum ovsdb_table {
    OVSDB_OPEN_VSWITCH,
    OVSDB_BRIDGE,
    OVSDB_PORT,
    OVSDB_INTERFACE,
    OVSDB_N_TABLES
};

enum ovsdb_row_event {
    OVSDB_ROW_INSERT, /* 'old_row' is NULL. */
    OVSDB_ROW_MODIFY, /* Both rows are given. */
    OVSDB_ROW_DELETE, /* 'new_row' is NULL. */
};

/* What the owner is told.  Any member may be NULL. */
struct ovsdb_client_cbs {
    /* The connection is up and the replica is in sync with the server (all
     * row events of the reconciliation have been delivered).  Called again
     * after every reconnection. */
    void (*connected)(void *aux);

    /* The connection that 'connected' announced was lost; 'error' is a
     * positive errno value and 'reason' says what happened.  The replica
     * keeps its last known state until the next reconciliation. */
    void (*disconnected)(void *aux, int error, const char *reason);

    /* One row of 'table' was inserted, modified or deleted.  The rows are
     * valid only during the call; the replica already holds 'new_row'. */
    void (*row_changed)(void *aux, enum ovsdb_table table,
                        enum ovsdb_row_event event,
                        const struct ovsdb_row *old_row,
                        const struct ovsdb_row *new_row);
};

/* Creates a client on 'loop' that connects to the ovsdb-server unix socket
 * at 'path' (e.g. "$OVS_RUNDIR/db.sock") and keeps reconnecting until it is
 * destroyed.  'cbs' is copied; 'aux' is passed to every callback.  Stores
 * the client in '*clientp' and returns 0, or returns a positive errno value
 * (ENAMETOOLONG if 'path' does not fit a socket address). */
int ovsdb_client_create(struct uv_loop_s *loop, const char *path,
                        const struct ovsdb_client_cbs *cbs, void *aux,
                        struct ovsdb_client **clientp);

/* Closes the connection and frees 'client' without calling any callback:
 * pending transactions and ofport waits are dropped.  Must not be called
 * from within one of the client's callbacks.  The memory is released by
 * libuv close callbacks, so the loop must run afterwards (as it must before
 * uv_loop_close() anyway).  'client' may be NULL. */
void ovsdb_client_destroy(struct ovsdb_client *client);

/* Sets the reconnection backoff of 'client' to start at 'min_ms' and double
 * up to 'max_ms' (both at least 1).  Takes effect at the next failure. */
void ovsdb_client_set_backoff(struct ovsdb_client *client, unsigned min_ms,
                              unsigned max_ms);

/* Returns true if 'client' is connected and its replica is in sync, that
 * is, between a 'connected' and a 'disconnected' callback.  Transactions
 * are accepted only then. */
bool ovsdb_client_is_connected(const struct ovsdb_client *client);

/* Completion of a transaction.  'error' is 0 on success, EIO if the server
 * rejected the request or one of its operations, ECONNRESET if the
 * connection was lost first.  'result' is the server's result array (NULL
 * if there was none), valid only during the call.  'msg' is NULL on
 * success, otherwise a one-line description such as
 * "constraint violation: ... (in insert Interface)". */
typedef void ovsdb_transact_cb(void *aux, int error, struct json_t *result,
                               const char *msg);

/* Sends the operations in the JSON array 'ops' (RFC 7047 section 5.2, the
 * database name is added) as one "transact" request; 'ops' is not stolen.
 * 'cb' is called with 'aux' when the reply arrives.  Returns 0, or a
 * positive errno value (ENOTCONN if not connected, EINVAL if 'ops' is not
 * an array), in which case 'cb' is never called. */
int ovsdb_client_transact(struct ovsdb_client *client, struct json_t *ops,
                          ovsdb_transact_cb *cb, void *aux);

/* Completion of a high-level operation: 'error' is 0 or a positive errno
 * value (EIO: rejected by the server; ENOENT: no such bridge or row;
 * ECONNRESET: connection lost), and
 * 'msg' is NULL on success, otherwise a message with context, e.g.
 * "add port web-1-3f9a to br-int: constraint violation: ...". */
typedef void ovsdb_done_cb(void *aux, int error, const char *msg);

/* A port to add.  Maps are NULL-terminated arrays of alternating keys and
 * values, e.g. {"iface-id", "web-1", NULL}; NULL means empty. */
struct ovsdb_port_spec {
    const char *name;                /* Port and Interface name. */
    const char *type;                /* "" (system), "internal", "geneve",
                                      * "vxlan", "patch"...; NULL is "". */
    const char *const *options;      /* Interface options. */
    const char *const *external_ids; /* On both the Port and Interface. */
    int ofport_request;              /* 1...65279, or 0 for any. */
};

/* Adds the port and interface described by 'spec' to the bridge named
 * 'bridge' in one transaction, and calls 'cb' with 'aux' when it is done.
 * If a port with that name is already on 'bridge' (per the replica), its
 * Interface and Port are instead updated in place to match 'spec' (type,
 * options, ofport_request and external_ids are replaced), so repeating an
 * add is harmless and keeps the ofport.  A missing bridge gives 'cb'
 * ENOENT.  Use ovsdb_client_wait_ofport() to learn the ofport.  Returns 0,
 * or a positive errno value (ENOTCONN; EINVAL for a malformed 'spec';
 * EEXIST if the replica shows the port on another bridge), in which case
 * 'cb' is never called. */
int ovsdb_client_add_port(struct ovsdb_client *client, const char *bridge,
                          const struct ovsdb_port_spec *spec,
                          ovsdb_done_cb *cb, void *aux);

/* Deletes the port named 'name' (and its interfaces) from whichever bridge
 * holds it, in one transaction, and calls 'cb' with 'aux' when it is done.
 * Deleting a port that does not exist succeeds; the server confirms its
 * absence.  Returns 0, or a positive errno value (ENOTCONN, EINVAL), in
 * which case 'cb' is never called. */
int ovsdb_client_del_port(struct ovsdb_client *client, const char *name,
                          ovsdb_done_cb *cb, void *aux);

/* Changes the string-to-string map 'column' of one row in one transaction:
 * the row is the single Open_vSwitch row (then 'row_name' is ignored) or the
 * Bridge, Port or Interface named 'row_name'.  Each key-value pair of the
 * NULL-terminated alternating array 'set' is set (replacing any old value),
 * then each key in the NULL-terminated array 'remove' is removed; either may
 * be NULL.  E.g. column "other_config", set {"flow-restore-wait", "true",
 * NULL}.  'cb' gets ENOENT if the row does not exist.  Returns 0, or a
 * positive errno value (ENOTCONN, EINVAL), in which case 'cb' is never
 * called. */
int ovsdb_client_update_map(struct ovsdb_client *client,
                            enum ovsdb_table table, const char *row_name,
                            const char *column, const char *const *set,
                            const char *const *remove, ovsdb_done_cb *cb,
                            void *aux);

/* Completion of ovsdb_client_wait_ofport(): 'error' is 0 with the
 * interface's 'ofport' (> 0), EIO if ovs-vswitchd reported an error for the
 * interface (in 'msg'), or ETIMEDOUT.  'msg' names the interface. */
typedef void ovsdb_ofport_cb(void *aux, int error, int64_t ofport,
                             const char *msg);

/* Calls 'cb' with 'aux' once the replica shows the Interface named 'name'
 * with an ofport > 0 (at once, from the loop, if it already does), or with
 * an error that ovs-vswitchd set in a version of the row newer than this
 * call, or after 'timeout_ms' milliseconds.  Waits survive reconnections.
 * Returns 0, or a positive errno value (EINVAL), in which case 'cb' is never
 * called. */
int ovsdb_client_wait_ofport(struct ovsdb_client *client, const char *name,
                             unsigned timeout_ms, ovsdb_ofport_cb *cb,
                             void *aux);

/* Replica access.  Rows are owned by the client and stay valid until the
 * next loop callback of the client. */

/* Returns the row of 'table' whose _uuid is 'uuid', or NULL. */
const struct ovsdb_row *ovsdb_client_find(const struct ovsdb_client *client,
                                          enum ovsdb_table table,
                                          const char *uuid);

/* Returns the row of 'table' (Bridge, Port or Interface) whose name is
 * 'name', or NULL. */
const struct ovsdb_row *
ovsdb_client_find_by_name(const struct ovsdb_client *client,
                          enum ovsdb_table table, const char *name);

/* Iterates over the rows of 'table' in no particular order: returns the
 * first row if 'prev' is NULL, otherwise the row after 'prev', or NULL at
 * the end. */
const struct ovsdb_row *ovsdb_client_next(const struct ovsdb_client *client,
                                          enum ovsdb_table table,
                                          const struct ovsdb_row *prev);

/* Returns the number of rows of 'table' in the replica. */
size_t ovsdb_client_count(const struct ovsdb_client *client,
                          enum ovsdb_table table);

/* Returns the name of 'table' as the database spells it. */
const char *ovsdb_table_name(enum ovsdb_table table);

/* Returns the _uuid of 'row' as a 36-character string. */
const char *ovsdb_row_uuid(const struct ovsdb_row *row);

/* Returns the "name" column of 'row', or NULL for Open_vSwitch. */
const char *ovsdb_row_name(const struct ovsdb_row *row);

/* Returns the value of the string (or optional string) 'column' of 'row',
 * or NULL if it is absent, empty or not a string. */
const char *ovsdb_row_get_string(const struct ovsdb_row *row,
                                 const char *column);

/* Stores the value of the integer (or optional integer) 'column' of 'row'
 * in '*value' and returns true, or returns false if it is absent or empty
 * (e.g. "ofport" before ovs-vswitchd has assigned one). */
bool ovsdb_row_get_int(const struct ovsdb_row *row, const char *column,
                       int64_t *value);

/* Returns the value for 'key' in the string map 'column' of 'row', or
 * NULL. */
const char *ovsdb_row_map_get(const struct ovsdb_row *row, const char *column,
                              const char *key);

/* Iterates over the string map 'column' of 'row': '*pos' must start at 0.
 * Stores the next pair in '*key' and '*value' and returns true, or returns
 * false at the end. */
bool ovsdb_row_map_next(const struct ovsdb_row *row, const char *column,
                        size_t *pos, const char **key, const char **value);

/* Iterates over the set of strings or UUIDs 'column' of 'row' (e.g. a
 * Bridge's "ports"): '*pos' must start at 0.  Stores the next element (a
 * UUID as its string) in '*elem' and returns true, or returns false at the
 * end. */
bool ovsdb_row_set_next(const struct ovsdb_row *row, const char *column,
                        size_t *pos, const char **elem);

/* Returns the value of 'column' of 'row' in the RFC 7047 wire format, or
 * NULL if not monitored.  The value belongs to the row. */
const struct json_t *ovsdb_row_get_column(const struct ovsdb_row *row,
                                          const char *column);

#endif /* sluice/ovsdb.h */
