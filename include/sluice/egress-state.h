/*
 * The egress model derived from a mirror of etcd keys: pools, egresses
 * with their VNI, effective address, holder and pending move.  Both the
 * egress controller (from its watch) and the control API (from a fresh
 * read) build it the same way.
 */
#ifndef SLUICE_EGRESS_STATE_H
#define SLUICE_EGRESS_STATE_H 1

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sluice/egress-model.h"

/* One egress as derived from etcd. */
struct egress_state {
    struct egress *egress;
    uint32_t vni;              /* PIPELINE_EGRESS_VNI_BASE | id. */
    uint32_t ip;               /* Effective address (host order), or 0. */
    char owner[EGRESS_NODE_NAME_MAX + 1]; /* Holder, "" if none. */
    char since[32];            /* When the holder took it. */
    const json_t *owner_value; /* Raw owners/NAME value (in 'kv'). */
    int64_t owner_lease;       /* Lease the owners/NAME key is bound to. */
    const char *move_to;       /* moves/NAME, or NULL. */
};

/* The derived model; owns everything in it. */
struct egress_model {
    struct egress_pool **pools;
    size_t n_pools;
    struct egress **egresses;   /* Parallel to 'states'. */
    struct egress_state *states;
    size_t n_egresses;
    uint32_t *in_use;           /* Every address taken (host order). */
    size_t n_in_use;
};

/* Builds '*m' from 'kv', an object that maps keys (relative to the etcd
 * prefix) to {"v": value, "c": create_revision, "l": lease (optional)}.  Objects that do not
 * decode are logged and skipped.  'm' refers into 'kv' (owner_value), so
 * 'kv' must outlive it. */
void egress_model_build(struct egress_model *m, const json_t *kv);
void egress_model_clear(struct egress_model *m);

struct egress_state *egress_model_find(const struct egress_model *m,
                                       const char *name);
const struct egress_pool *egress_model_find_pool(const struct egress_model *m,
                                                 const char *name);

/* Returns the value of 'key' in 'kv', or NULL. */
const char *egress_kv_value(const json_t *kv, const char *key);

#endif /* sluice/egress-state.h */
