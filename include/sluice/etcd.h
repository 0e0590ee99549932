/*
 * etcd v3 client for the agent, spoken over etcd's JSON/HTTP gateway
 * (grpc-gateway: POST /v3/kv/range, /v3/kv/put, /v3/kv/deleterange,
 * /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke and
 * the streaming /v3/watch) with libcurl's multi interface driven by the
 * agent's libuv loop.
 *
 * Keys given to and returned by this API are relative to the client's key
 * prefix (e.g. "/sluice/"): the prefix is prepended on the wire and
 * stripped from results, while error messages name the full key.
 *
 * A client has a list of endpoints (e.g. "http://127.0.0.1:2379").  A
 * request starts at the endpoint that answered last and moves on to the
 * next one when it cannot reach an endpoint before sending anything, so a
 * request is never executed twice; each endpoint is tried at most once per
 * request, and each attempt is limited by the request timeout.
 *
 * Errors are positive errno values with a one-line message that has
 * context, e.g. "etcd http://127.0.0.1:2379: put /sluice/nodes/n1:
 * Connection refused".  Errors reported by etcd (gRPC status codes) map as
 * follows: NOT_FOUND -> ENOENT (e.g. unknown lease), OUT_OF_RANGE -> ERANGE
 * (compacted or future revision), INVALID_ARGUMENT -> EINVAL,
 * UNAVAILABLE -> EAGAIN (e.g. no leader), DEADLINE_EXCEEDED -> ETIMEDOUT,
 * RESOURCE_EXHAUSTED -> ENOSPC, PERMISSION_DENIED and UNAUTHENTICATED ->
 * EACCES, others -> EIO; the message then holds etcd's text and code.
 * Transport failures give the socket's errno (ECONNREFUSED...), ETIMEDOUT,
 * ECONNRESET, EPROTO (TLS) or EIO; a reply that cannot be parsed, EPROTO;
 * a reply larger than ETCD_MAX_MESSAGE, EMSGSIZE; another HTTP error, EIO.
 *
 * All functions must be called on the loop's thread.  No callback is ever
 * invoked from within the call that registered it: when a function returns
 * an error, its callback is never called.  Data passed to callbacks is valid
 * only during the call.  Callbacks may start new requests and destroy
 * watches and lease keepers (including their own), but must not destroy the
 * client.
 */
#ifndef SLUICE_ETCD_H
#define SLUICE_ETCD_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct etcd_client;
struct etcd_txn;
struct etcd_watch;
struct etcd_lease_keeper;

/* Defaults of 'struct etcd_client_options'. */
#define ETCD_DEFAULT_TIMEOUT_MS 5000
#define ETCD_BACKOFF_MIN_MS 100
#define ETCD_BACKOFF_MAX_MS 5000

/* A response (or one message of a watch stream) larger than this fails. */
#define ETCD_MAX_MESSAGE (64u * 1024 * 1024)

/* Flags of key operations. */

/* 'key' names all keys that start with it ("" with ETCD_PREFIX: all keys
 * under the client's prefix). */
#define ETCD_PREFIX 0x1

/* Range: return keys without values. */
#define ETCD_KEYS_ONLY 0x2

/* Range: return only the count. */
#define ETCD_COUNT_ONLY 0x4

/* Put, delete, watch: return the previous key-value pair(s). */
#define ETCD_PREV_KV 0x8

struct etcd_client_options {
    const char *const *endpoints; /* NULL-terminated, non-empty list of
                                   * "http://HOST:PORT" or "https://...". */
    const char *prefix;           /* Prepended to every key; NULL = "". */
    const char *ca_file;          /* TLS: CA bundle (PEM) to verify the
                                   * server, or NULL for the system's. */
    const char *cert_file;        /* TLS: client certificate (PEM) or NULL. */
    const char *key_file;         /* TLS: client key (PEM) or NULL. */
    unsigned timeout_ms;          /* Per request attempt; 0 = default. */
    unsigned backoff_min_ms;      /* Watch reconnection: first delay; 0 =
                                   * default.  Doubles on each failure... */
    unsigned backoff_max_ms;      /* ...up to this; 0 = default. */
};

/* A key-value pair.  'key' and 'value' are NUL-terminated (for
 * convenience; they may also hold NULs, hence the lengths). */
struct etcd_kv {
    char *key; /* Relative to the client's prefix. */
    size_t key_len;
    char *value; /* "" for ETCD_KEYS_ONLY and deleted keys. */
    size_t value_len;
    int64_t create_revision; /* Revision of the key's creation. */
    int64_t mod_revision;    /* Revision of its last modification. */
    int64_t version;         /* Number of modifications since created. */
    int64_t lease;           /* Attached lease ID, or 0. */
};

enum etcd_op_type {
    ETCD_OP_RANGE,
    ETCD_OP_PUT,
    ETCD_OP_DELETE,
    ETCD_OP_TXN,
};

/* The result of a range, put, delete or transaction. */
struct etcd_result {
    enum etcd_op_type type;
    int64_t revision;    /* The store's revision when it was served. */
    struct etcd_kv *kvs; /* RANGE: the pairs found, in key order.  PUT
                          * with ETCD_PREV_KV: the pair replaced (none if
                          * the key was new).  DELETE with ETCD_PREV_KV:
                          * the pairs deleted. */
    size_t n_kvs;
    int64_t count;  /* RANGE: number of keys in the range.  DELETE:
                     * number of keys deleted. */
    bool succeeded; /* TXN: the comparisons held, so the "success"
                     * operations ran (else the "failure" ones). */
    struct etcd_result *responses; /* TXN: one per operation that ran. */
    size_t n_responses;
};

/* Completion of a key operation: 'error' is 0 with 'result', or a positive
 * errno value with 'result' NULL and a message in 'msg'. */
typedef void etcd_result_cb(void *aux, int error,
                            const struct etcd_result *result, const char *msg);

/* Completion of an operation without a result ('msg' is NULL on
 * success). */
typedef void etcd_done_cb(void *aux, int error, const char *msg);

/* Creates a client on 'loop' as 'options' say (the strings are copied).
 * Stores it in '*clientp' and returns 0, or returns a positive errno value:
 * EINVAL for no endpoints or an endpoint that is not an http(s) URL. */
int etcd_client_create(struct uv_loop_s *loop,
                       const struct etcd_client_options *options,
                       struct etcd_client **clientp);

/* Frees 'client' and, with it, its remaining watches and lease keepers (the
 * owner's pointers to them become invalid), without calling any callback:
 * requests in flight are dropped.  Must not be called from a callback of
 * the client.  Memory is released by libuv close callbacks, so the loop
 * must run afterwards.  'client' may be NULL. */
void etcd_client_destroy(struct etcd_client *client);

/* Key operations.  Each returns 0 and later calls 'cb' with 'aux', or
 * returns a positive errno value (EINVAL for bad arguments, ENOMEM). */

/* Reads 'key', or with ETCD_PREFIX all keys that start with it; flags
 * ETCD_KEYS_ONLY and ETCD_COUNT_ONLY restrict what is returned.  A missing
 * key is not an error: the result has no pairs.  */
int etcd_range(struct etcd_client *client, const char *key, unsigned flags,
               etcd_result_cb *cb, void *aux);

/* Sets 'key' to the 'value_len' bytes at 'value', attached to 'lease' (0
 * for none).  With ETCD_PREV_KV the result holds the replaced pair. */
int etcd_put(struct etcd_client *client, const char *key, const void *value,
             size_t value_len, int64_t lease, unsigned flags,
             etcd_result_cb *cb, void *aux);

/* Deletes 'key', or with ETCD_PREFIX all keys that start with it.  The
 * result's 'count' is the number deleted (0 is not an error). */
int etcd_delete(struct etcd_client *client, const char *key, unsigned flags,
                etcd_result_cb *cb, void *aux);

/* Compare-and-swap helpers: one transaction each.  The result's
 * 'succeeded' says whether the write happened; if not, 'responses[0]' is a
 * range of 'key' that shows its current state (no pairs if absent). */

/* Creates 'key' with 'value' (and 'lease', 0 for none) if it does not
 * exist (create_revision == 0). */
int etcd_create(struct etcd_client *client, const char *key, const void *value,
                size_t value_len, int64_t lease, etcd_result_cb *cb,
                void *aux);

/* Sets 'key' to 'value' (and 'lease') if its mod_revision is still
 * 'mod_revision' (0: if it does not exist). */
int etcd_update_if(struct etcd_client *client, const char *key,
                   const void *value, size_t value_len, int64_t lease,
                   int64_t mod_revision, etcd_result_cb *cb, void *aux);

/* Deletes 'key' if its value is exactly the 'value_len' bytes at
 * 'value' (e.g. release an IP only if this node still owns it). */
int etcd_delete_if_value(struct etcd_client *client, const char *key,
                         const void *value, size_t value_len,
                         etcd_result_cb *cb, void *aux);

/* Generic transactions: "if all comparisons hold, run the success
 * operations, else the failure operations", atomically. */

enum etcd_compare_target {
    ETCD_CMP_VERSION, /* Number of modifications (0: absent). */
    ETCD_CMP_CREATE,  /* create_revision (0: absent). */
    ETCD_CMP_MOD,     /* mod_revision (0: absent). */
    ETCD_CMP_VALUE,   /* The value; use etcd_txn_compare_value(). */
    ETCD_CMP_LEASE,   /* Attached lease (0: none). */
};

enum etcd_compare_op {
    ETCD_CMP_EQUAL,
    ETCD_CMP_NOT_EQUAL,
    ETCD_CMP_LESS,
    ETCD_CMP_GREATER,
};

enum etcd_txn_branch {
    ETCD_TXN_SUCCESS, /* Run if all comparisons hold. */
    ETCD_TXN_FAILURE, /* Run otherwise. */
};

/* Starts a transaction on 'client' (for its key prefix).  Never NULL. */
struct etcd_txn *etcd_txn_create(const struct etcd_client *client);

/* Frees 'txn' without running it.  'txn' may be NULL. */
void etcd_txn_destroy(struct etcd_txn *txn);

/* Adds the comparison "'target' of 'key' 'op' 'value'" to 'txn'; 'target'
 * must not be ETCD_CMP_VALUE. */
void etcd_txn_compare(struct etcd_txn *txn, const char *key,
                      enum etcd_compare_target target, enum etcd_compare_op op,
                      int64_t value);

/* Adds the comparison "value of 'key' 'op' the 'value_len' bytes at
 * 'value'" (bytewise) to 'txn'.  An absent key never compares equal. */
void etcd_txn_compare_value(struct etcd_txn *txn, const char *key,
                            enum etcd_compare_op op, const void *value,
                            size_t value_len);

/* Add an operation to 'branch' of 'txn', with the arguments and flags of
 * etcd_range(), etcd_put() and etcd_delete(). */
void etcd_txn_range(struct etcd_txn *txn, enum etcd_txn_branch branch,
                    const char *key, unsigned flags);
void etcd_txn_put(struct etcd_txn *txn, enum etcd_txn_branch branch,
                  const char *key, const void *value, size_t value_len,
                  int64_t lease, unsigned flags);
void etcd_txn_delete(struct etcd_txn *txn, enum etcd_txn_branch branch,
                     const char *key, unsigned flags);

/* Sends 'txn' (always consumed) and calls 'cb' with 'aux' with a result of
 * type ETCD_OP_TXN.  Returns 0 or a positive errno value. */
int etcd_txn_commit(struct etcd_client *client, struct etcd_txn *txn,
                    etcd_result_cb *cb, void *aux);

/* Leases. */

/* Completion of a lease grant or keepalive: 'id' is the lease and 'ttl' its
 * remaining time to live in seconds. */
typedef void etcd_lease_cb(void *aux, int error, int64_t id, int64_t ttl,
                           const char *msg);

/* Grants a lease of 'ttl' seconds (> 0); 'cb' gets its ID and TTL. */
int etcd_lease_grant(struct etcd_client *client, int64_t ttl,
                     etcd_lease_cb *cb, void *aux);

/* Renews lease 'id' once; 'cb' gets its new TTL, or ENOENT if the lease
 * does not exist (expired or revoked). */
int etcd_lease_keepalive(struct etcd_client *client, int64_t id,
                         etcd_lease_cb *cb, void *aux);

/* Revokes lease 'id', deleting the keys attached to it; ENOENT if it does
 * not exist. */
int etcd_lease_revoke(struct etcd_client *client, int64_t id, etcd_done_cb *cb,
                      void *aux);

/* Loss of a kept lease: 'error' is ENOENT if etcd no longer knows it, or
 * ETIMEDOUT if no keepalive succeeded for its TTL (etcd may have expired it
 * already: keys bound to it must be considered gone). */
typedef void etcd_lease_lost_cb(void *aux, int64_t id, int error,
                                const char *msg);

/* Keeps lease 'id', granted with 'ttl' seconds, alive: sends a keepalive at
 * once and then every 'ttl'/3, and calls 'cb' once with 'aux' if the lease
 * is lost, after which the keeper does nothing more.  Stores the keeper in
 * '*keeperp' and returns 0, or returns a positive errno value. */
int etcd_lease_keeper_create(struct etcd_client *client, int64_t id,
                             int64_t ttl, etcd_lease_lost_cb *cb, void *aux,
                             struct etcd_lease_keeper **keeperp);

/* Stops keeping the lease (it is not revoked) and frees 'keeper'.  May be
 * called from any callback of the client.  'keeper' may be NULL. */
void etcd_lease_keeper_destroy(struct etcd_lease_keeper *keeper);

/* Watches. */

enum etcd_event_type {
    ETCD_EVENT_PUT,    /* 'kv' is the new pair. */
    ETCD_EVENT_DELETE, /* 'kv' has the key and the deletion's revision. */
};

struct etcd_event {
    enum etcd_event_type type;
    struct etcd_kv kv;
    struct etcd_kv *prev_kv; /* With ETCD_PREV_KV: the pair before the
                              * event (NULL if none, or if compacted). */
};

/* What the owner of a watch is told.  Any member may be NULL. */
struct etcd_watch_cbs {
    /* Events, in revision order, each reported exactly once even across
     * reconnections.  'revision' is the store's revision when sent. */
    void (*events)(void *aux, const struct etcd_event *events, size_t n_events,
                   int64_t revision);

    /* The watch is established (again, after a reconnection); etcd's
     * revision is 'revision'. */
    void (*connected)(void *aux, int64_t revision);

    /* The established stream was lost; the watch reconnects by itself with
     * backoff and resumes at etcd_watch_next_revision(). */
    void (*disconnected)(void *aux, int error, const char *msg);

    /* The watch stopped because the revisions it needs were compacted:
     * revisions before 'compact_revision' are gone.  The owner should
     * re-read the range (etcd_range()) and start a new watch from the
     * range's revision + 1. */
    void (*compacted)(void *aux, int64_t compact_revision);

    /* The watch stopped because etcd canceled it (ECANCELED) or rejected
     * it for good (EACCES, EINVAL, ENOSYS; EIO for an HTTP 4xx status), or
     * because one message exceeded ETCD_MAX_MESSAGE (EMSGSIZE). */
    void (*failed)(void *aux, int error, const char *msg);
};

/* Watches 'key' (or with ETCD_PREFIX all keys that start with it) for
 * events from 'start_revision' on (0: from the current revision when the
 * watch is first established), with the previous pairs if 'flags' has
 * ETCD_PREV_KV.  Typical use: etcd_range() with ETCD_PREFIX, then watch
 * from the result's revision + 1.  'cbs' is copied.  Stores the watch in
 * '*watchp' and returns 0, or returns a positive errno value.
 *
 * Each watch is one HTTP stream.  A server that vanishes without closing
 * it is noticed by TCP keepalives (idle 10 s, then every 5 s, so about a
 * minute with Linux's default probe count). */
int etcd_watch_create(struct etcd_client *client, const char *key,
                      unsigned flags, int64_t start_revision,
                      const struct etcd_watch_cbs *cbs, void *aux,
                      struct etcd_watch **watchp);

/* Returns the revision from which 'watch' resumes after a reconnection: 1 +
 * the last revision seen (events or progress notifications), or the start
 * revision (0 if none was given and the watch was never established). */
int64_t etcd_watch_next_revision(const struct etcd_watch *watch);

/* Stops and frees 'watch'.  May be called from any callback of the client,
 * including the watch's own.  'watch' may be NULL. */
void etcd_watch_destroy(struct etcd_watch *watch);

#endif /* sluice/etcd.h */
