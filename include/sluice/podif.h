/*
 * Pod interface plumbing: the veth pair that connects a pod's network
 * namespace to the node, configured over rtnetlink (libnl-route-3) without
 * spawning any process.
 *
 * The container end is created directly inside the pod's netns under its
 * final name (CNI_IFNAME) and with its MTU, in the same RTM_NEWLINK request
 * as the host end, so the pair appears atomically: either both ends exist
 * or neither does, and no temporary name or move is needed.  TX checksum
 * offload is turned off on both ends, which the Open vSwitch userspace
 * datapath requires.
 *
 * Every function that can fail returns 0 or a positive errno value and, if
 * 'errp' is nonnull, stores in '*errp' a malloc()ed message that names the
 * pod netns and interface concerned (the caller frees it), or NULL on
 * success.  Every function always returns to the caller's network
 * namespace before returning.
 *
 * The module is not thread-safe: it switches the calling thread's network
 * namespace for the duration of a call.
 */
#ifndef SLUICE_PODIF_H
#define SLUICE_PODIF_H 1

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* Holds the resources reused across calls: a NETLINK_ROUTE socket in the
 * caller's ("host") network namespace and a handle on that namespace. */
struct podif_ctx;

/* What to plumb into a pod. */
struct podif_spec {
    const char *netns;       /* Pod netns path (CNI_NETNS), e.g.
                              * /var/run/netns/x or /proc/PID/ns/net. */
    const char *host_ifname; /* Host-side veth name, 1 to 15 chars. */
    const char *ifname;      /* Pod-side interface name (CNI_IFNAME). */
    struct in_addr addr;     /* Pod IPv4 address. */
    uint8_t prefix_len;      /* Prefix length of 'addr', 1 to 32. */
    struct in_addr gateway;  /* Default gateway; INADDR_ANY for none.  It
                              * is added "onlink" if it is outside the
                              * prefix. */
    uint32_t mtu;            /* MTU of both ends, 68 to 65535. */
};

/* What podif_create() made. */
struct podif_result {
    uint8_t mac[6];   /* Pod-side MAC address. */
    int host_ifindex; /* Host-side veth ifindex. */
};

/* Creates a context in the calling thread's current network namespace and
 * stores it in '*ctxp'.  Returns 0 or a positive errno value (and
 * '*ctxp' = NULL). */
int podif_ctx_create(struct podif_ctx **ctxp);

/* Frees 'ctx' (which may be NULL). */
void podif_ctx_destroy(struct podif_ctx *ctx);

/* Creates the veth pair described by 'spec': 'spec->host_ifname' up in the
 * host netns, 'spec->ifname' in 'spec->netns' with 'spec->addr' /
 * 'spec->prefix_len', up, and a default route via 'spec->gateway'; both
 * with MTU 'spec->mtu' and TX checksum offload off.  Fills in '*result'.
 * On failure nothing is left behind (the pair is deleted if it was
 * created).  Returns 0 or a positive errno value, with a message in
 * '*errp'. */
int podif_create(struct podif_ctx *ctx, const struct podif_spec *spec,
                 struct podif_result *result, char **errp);

/* Deletes the veth pair whose host end is 'host_ifname' (both ends go).
 * An interface that does not exist is not an error (CNI DEL is
 * idempotent).  Returns 0 or a positive errno value, with a message in
 * '*errp'. */
int podif_delete(struct podif_ctx *ctx, const char *host_ifname, char **errp);

/* Deletes interface 'ifname' in the pod netns 'netns' (for a veth, both
 * ends go), for when the host-side name is unknown.  A missing netns or
 * interface is not an error.  Returns 0 or a positive errno value, with a
 * message in '*errp'. */
int podif_delete_in_netns(struct podif_ctx *ctx, const char *netns,
                          const char *ifname, char **errp);

/* Verifies that the plumbing described by 'spec' is in place: in
 * 'spec->netns', 'spec->ifname' exists and is up, has 'spec->addr' /
 * 'spec->prefix_len', and a default route via 'spec->gateway' (if
 * nonzero) exists; and 'spec->host_ifname' exists in the host netns.
 * 'spec->mtu' is not checked.  Returns 0, or a positive errno value with a
 * message in '*errp' that says what is wrong (ENOENT for something
 * missing, EINVAL for something different). */
int podif_check(struct podif_ctx *ctx, const struct podif_spec *spec,
                char **errp);

/* In the host netns: turns TX checksum offload off on the existing link
 * 'name' (e.g. the gateway port OVS created), sets its MTU to 'mtu', brings
 * it up and gives it 'addr'/'prefix_len' (replacing the same address if
 * present, so repeating the call is harmless).  Returns 0 or a positive
 * errno value with a message in '*errp' (caller frees) if 'errp' is
 * nonnull. */
int podif_configure_host_link(struct podif_ctx *ctx, const char *name,
                              struct in_addr addr, uint8_t prefix_len,
                              uint32_t mtu, char **errp);

/* In the host netns: adds (replacing) or deletes the route 'dst'/32 via
 * link 'dev'.  Deleting a missing route succeeds.  Returns 0 or a positive
 * errno value with a message in '*errp'. */
int podif_host_route(struct podif_ctx *ctx, bool add, struct in_addr dst,
                     const char *dev, char **errp);

/* Deletes every static /32 route via 'dev' (what podif_host_route() adds),
 * as left by an earlier run.  Returns 0 or a positive errno value with a
 * message in '*errp'. */
int podif_flush_host_routes(struct podif_ctx *ctx, const char *dev,
                            char **errp);

/* Sends one gratuitous ARP for 'ip' out of 'dev', from its MAC.  Returns
 * 0 or a positive errno value with a message in '*errp'. */
int podif_send_garp(const char *dev, struct in_addr ip, char **errp);

/* Writes into 'name' the host-side interface name for the pod
 * 'pod_namespace'/'pod_name' in container 'container_id': up to the first
 * 6 characters of the pod name reduced to [a-z0-9-] (so an admin can
 * recognise the pod), "-", then 8 hex digits of a hash of all three inputs
 * (so names are unique per container and a restarted sandbox never
 * collides with its predecessor's leftovers), e.g. "web-1-3f9a2c1d".  The
 * result is at most 15 characters.  Any argument may be empty; none may be
 * NULL. */
void podif_host_ifname(const char *pod_namespace, const char *pod_name,
                       const char *container_id, char name[IFNAMSIZ]);

#endif /* sluice/podif.h */
