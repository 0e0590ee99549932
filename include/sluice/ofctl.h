/*
 * The OpenFlow layer: the desired flow table of one bridge, what is
 * installed on it, and the connection that keeps the two equal.
 *
 * Feature code states the flows it wants, grouped by an owner (a feature
 * and an object, e.g. "pod 5"), in the syntax of ovs-ofctl.  Nothing is
 * sent until ofctl_commit(), which sends the difference between desired
 * and installed flows as one atomic, ordered bundle followed by a barrier,
 * and reports back when the switch has applied it.
 *
 * Cookies say who installed a flow:
 *
 *     bits 63..56  round: bumped at every agent start
 *     bits 55..48  feature (enum ofctl_feature)
 *     bits 47..0   object id within the feature
 *
 * On the first connection of a process the new round's flows are added
 * and the previous round's are deleted in one bundle, so traffic never
 * sees an empty table.  On a reconnection (ovs-vswitchd restarted) all
 * flows are deleted and re-added, again in one atomic bundle.
 *
 * The connection is driven by the agent's libuv loop; libopenvswitch only
 * encodes and decodes messages.
 */
#ifndef SLUICE_OFCTL_H
#define SLUICE_OFCTL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Features, as they appear in cookie bits 55..48. */
enum ofctl_feature {
    OFCTL_FEATURE_PIPELINE = 1, /* Table-miss and fixed flows. */
    OFCTL_FEATURE_GATEWAY = 2,  /* The host gateway port. */
    OFCTL_FEATURE_POD = 3,      /* One local pod; object = ofport. */
    OFCTL_FEATURE_NODE = 4,     /* One remote node; object = node id. */
    OFCTL_FEATURE_TUNNEL = 5,   /* Tunnel ports. */
    OFCTL_FEATURE_EGRESS = 6,   /* One egress; object = egress id. */
};

#define OFCTL_OBJECT_MASK ((UINT64_C(1) << 48) - 1)

/* Returns the owner id of 'object' of 'feature'. */
static inline uint64_t
ofctl_owner(enum ofctl_feature feature, uint64_t object)
{
    return ((uint64_t) feature << 48) | (object & OFCTL_OBJECT_MASK);
}

/* One table of the pipeline. */
struct ofctl_table {
    uint8_t id;       /* OpenFlow table number. */
    const char *name; /* Name shown by ovs-ofctl --names. */
};

struct ofctl;

/* Called when a commit has been applied by the switch (error 0) or has
 * failed (positive errno value: ENOTCONN when not connected, EPROTO when
 * the switch rejected a flow). */
typedef void ofctl_commit_cb(void *aux, int error);

/* Called whenever every desired flow is installed after a (re)connection,
 * and with 'synced' false when the connection is lost. */
typedef void ofctl_sync_cb(void *aux, bool synced);

/* Creates the flow state for the bridge whose OpenFlow management socket is
 * 'mgmt_path' (e.g. /var/run/openvswitch/br-int.mgmt), naming 'n_tables'
 * 'tables'.  Flows installed from now on carry 'round' in their cookies;
 * flows of 'stale_round' (or of no round, if it is negative) are deleted by
 * the first sync.  The connection is made by ofctl_start(). */
struct ofctl *ofctl_create(uv_loop_t *loop, const char *mgmt_path,
                           const struct ofctl_table *tables, size_t n_tables,
                           uint8_t round, int stale_round,
                           ofctl_sync_cb *sync_cb, void *aux);

/* Connects and keeps reconnecting, with backoff, until destroyed. */
void ofctl_start(struct ofctl *);

/* Closes the connection and frees everything.  Pending commit callbacks are
 * called with ECANCELED. */
void ofctl_destroy(struct ofctl *);

/* Adds 'flow' (ovs-ofctl syntax, e.g. "table=SpoofGuard,priority=200,
 * in_port=5,ip,nw_src=10.1.0.5 actions=goto_table:Conntrack") to the
 * desired flows of 'owner'.  Returns 0, or EINVAL with a message in
 * '*errorp' (caller frees) if it does not parse, or EEXIST if another owner
 * has a flow with the same table, priority and match. */
int ofctl_add_flow(struct ofctl *, uint64_t owner, const char *flow,
                   char **errorp);

/* Removes every desired flow of 'owner'. */
void ofctl_remove_owner(struct ofctl *, uint64_t owner);

/* Returns the number of desired flows of 'owner'. */
size_t ofctl_owner_n_flows(const struct ofctl *, uint64_t owner);

/* Sends what changed since the last commit as one atomic bundle and calls
 * 'cb' (if nonnull) once the switch has applied it.  With nothing to send
 * and nothing in flight, calls 'cb' before returning. */
void ofctl_commit(struct ofctl *, ofctl_commit_cb *cb, void *aux);

/* Returns true if connected and every desired flow has been installed
 * (or is in flight after the initial sync). */
bool ofctl_is_synced(const struct ofctl *);

/* Counters, for status output and benchmarks. */
struct ofctl_stats {
    uint64_t n_desired;     /* Flows desired now. */
    uint64_t n_flow_mods;   /* Flow mods sent since start. */
    uint64_t n_bundles;     /* Bundles committed since start. */
    uint64_t n_syncs;       /* Full syncs since start. */
    uint64_t n_errors;      /* Errors received from the switch. */
};
void ofctl_get_stats(const struct ofctl *, struct ofctl_stats *);

/* Writes every desired flow, one per line in ovs-ofctl add-flows syntax
 * with its cookie, to 'file'.  Returns 0 or an errno value. */
int ofctl_dump_desired(const struct ofctl *, const char *file);

#endif /* sluice/ofctl.h */
