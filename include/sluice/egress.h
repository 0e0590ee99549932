/*
 * The egress controller: egress IP pools and egresses from etcd, the
 * ownership of each egress IP, failure detection between the nodes that
 * may hold them, and the flows that steer selected pods' traffic.
 *
 * Keys (under the etcd prefix):
 *
 *     pools/NAME         pool (egress_pool_to_json())
 *     egresses/NAME      egress (egress_to_json()); the key's
 *                        create_revision gives the egress its VNI
 *     egress-ips/IP      egress name: the address is taken (allocated from
 *                        a pool, or pinned)
 *     owners/NAME        {"node", "since"}: who holds the egress IP; bound
 *                        to that node's lease and taken with a transaction,
 *                        so exactly one node holds it
 *     moves/NAME         node name: an operator asked for a move
 *     applied/NAME/NODE  the pods NODE steers through egress NAME
 *
 * Ownership.  An eligible node creates owners/NAME when it is absent.
 * Eligible nodes watch each other with BFD on per-peer tunnel ports; when
 * the holder's session goes down, the others race a transaction that
 * replaces the holder's record with their own: one wins, installs SNAT,
 * routes the address to its gateway port (its kernel then answers ARP for
 * it) and sends a gratuitous ARP.  Every node's watch of owners/ rewrites
 * its steering flows.  A node that sees another holder, or loses its
 * lease, withdraws at once.  A node that comes back does not take the
 * address back unless moved there (moves/NAME).
 */
#ifndef SLUICE_EGRESS_H
#define SLUICE_EGRESS_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct agent;
struct egress_controller;
struct etcd_client;
struct ovsdb_row;

/* One local pod, as the controller sees it. */
struct egress_pod {
    const char *pod_namespace;
    const char *pod_name;
    const char *labels;        /* JSON object text, or NULL. */
    struct in_addr ip;
    uint32_t ofport;
};

/* Starts the controller of 'agent' on 'etcd'.  Returns 0 or a positive
 * errno value. */
int egress_controller_start(struct agent *, struct etcd_client *etcd,
                            struct egress_controller **);
void egress_controller_destroy(struct egress_controller *);

/* Returns true once the controller has read the egress state. */
bool egress_controller_is_listed(const struct egress_controller *);

/* The node's lease changed (re-registration): ownership keys are bound to
 * it. */
void egress_controller_set_lease(struct egress_controller *, int64_t lease);

/* States the base flows and every steering/SNAT flow (after the flow table
 * is created, and whenever the controller's view changes). */
int egress_controller_add_flows(struct egress_controller *);

/* A pod was attached (states its steering flows, without committing) or
 * detached. */
void egress_pod_attached(struct egress_controller *, const struct egress_pod *);
void egress_pod_detached(struct egress_controller *, uint32_t ofport);

/* The set of remote nodes changed (eligibility, BFD peers, holders'
 * addresses). */
void egress_controller_peers_changed(struct egress_controller *);

/* An Interface row changed (BFD status). */
void egress_interface_changed(struct egress_controller *,
                              const struct ovsdb_row *row);

/* The control API (sluicectl, egress-ctl.c): runs 'command' with 'args'
 * against a fresh read of 'etcd' (NULL: the node has no datastore) and
 * calls 'done' with the response object ({"version", "status", "error" or
 * "result"}; NULL if out of memory). */
typedef void egress_ctl_done(void *aux, json_t *response);
void egress_ctl_run(struct agent *, struct etcd_client *etcd,
                    const char *command, const json_t *args,
                    egress_ctl_done *done, void *aux);

#endif /* sluice/egress.h */
