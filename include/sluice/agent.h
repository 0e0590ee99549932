/*
 * sluiced, the node agent: the state every part of it shares, and its
 * life cycle.
 *
 * Start-up, in order: open the IPAM store; connect to OVSDB; ensure br-int
 * and the gateway port; bump the flow round; rebuild the pod table from the
 * Interface rows' external_ids (cross-checked with the IPAM store); state
 * every flow and sync them to br-int in one bundle; then clear
 * other_config:flow-restore-wait and report ready.  CNI requests that
 * arrive before that are answered "try again later".
 */
#ifndef SLUICE_AGENT_H
#define SLUICE_AGENT_H 1

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "sluice/agent-config.h"
#include "sluice/peers.h"
#include "sluice/pipeline.h"
#include "sluice/tunnel.h"

struct cni_request;
struct cni_env;

struct agent {
    uv_loop_t *loop;
    struct agent_config config;
    struct ipam *ipam;
    struct podif_ctx *podif;
    struct ovsdb_client *ovsdb;
    struct ofctl *ofctl;
    struct rpc_server *cni;      /* The CNI shim's socket. */
    struct pipeline_node node;   /* Gateway facts for flow builders. */
    bool overlay;                /* Tunnels to other nodes? */
    enum tunnel_type tunnel_type;
    struct in_addr node_ip;      /* Underlay address, with an overlay. */
    struct in_addr pod_network;  /* Pod CIDR's network address. */
    uint8_t pod_prefix_len;      /* Its prefix length. */

    bool node_ready;             /* Bridge and gateway set up? */
    bool flows_synced;           /* Every flow installed on br-int? */
    bool ready;                  /* Serving CNI ADDs? */
    char not_ready_reason[128];  /* Why not, for STATUS and errors. */

    struct pod *pods;            /* Pod table (pods.c). */
    size_t n_pods;

    struct peers peers;          /* Remote nodes, from the datastore. */
    uv_idle_t peers_changed;     /* Batches the work after peer changes. */
    uv_timer_t sync_wait;        /* Bounds the wait for egress state. */
    bool switch_connecting;      /* ofctl_start() called? */
    struct cluster *cluster;     /* Datastore membership, or NULL. */
    struct egress_controller *egress; /* With a datastore, else NULL. */
    struct rpc_server *ctl;      /* sluicectl's socket. */
    int fatal_error;             /* Why the agent stopped by itself. */
};

/* Starts the agent described by 'config' (taken over) on 'loop'.  Returns
 * 0 or a positive errno value after logging why. */
int agent_start(struct agent *, uv_loop_t *loop, struct agent_config *config);

/* Stops the agent, leaving the datapath as it is (pods keep their
 * traffic).  The loop must run afterwards for handles to close. */
void agent_stop(struct agent *);

/* Connects the flow table to the switch (its first sync replaces the
 * previous round's flows); called once every flow source is in. */
void agent_connect_switch(struct agent *);

/* Recomputes 'agent->ready' after a change. */
void agent_update_ready(struct agent *);

/* Makes the flows toward remote node 'peer' (added or changed) match it,
 * or removes those of the node named 'name'.  Both commit at once. */
void agent_peer_update(struct agent *, const struct peer *peer);
void agent_peer_remove(struct agent *, const char *name);

/* Marks every peer stale before a full listing from the datastore, and
 * removes those the listing did not mention after it. */
void agent_peers_resync_begin(struct agent *);
void agent_peers_resync_end(struct agent *);

/* Pods (pods.c). */

/* Handles one CNI request from the shim. */
void pods_handle_cni(void *agent, struct cni_request *,
                     const struct cni_env *env, const char *config,
                     size_t config_len);

/* Rebuilds the pod table from OVSDB and the IPAM store after a start, and
 * states every pod's flows.  Ports without an IPAM allocation and
 * allocations without a port are removed.  Returns 0 or an errno value. */
int pods_recover(struct agent *);

/* An Interface row changed: fixes a pod whose port got another number
 * than the one asked for. */
struct ovsdb_row;
void pods_interface_changed(struct agent *, const struct ovsdb_row *);

/* States the flows of every pod again (after the flow table is created). */
int pods_add_all_flows(struct agent *);

/* Calls 'cb' with 'aux' for every pod whose flows are stated (attached,
 * or being attached). */
struct egress_pod;
void pods_for_each(struct agent *,
                   void (*cb)(struct agent *, const struct egress_pod *,
                              void *aux),
                   void *aux);

/* Frees the pod table (not the pods' datapath state). */
void pods_destroy(struct agent *);

#endif /* sluice/agent.h */
