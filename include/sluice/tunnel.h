/*
 * Overlay tunnels: encapsulation types and the MTU arithmetic that keeps
 * a full-size pod packet from being fragmented or black-holed once it is
 * wrapped for the underlay.
 */
#ifndef SLUICE_TUNNEL_H
#define SLUICE_TUNNEL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tunnel_type {
    TUNNEL_GENEVE,
    TUNNEL_VXLAN,
};

/* Parses "geneve" or "vxlan".  Returns 0 or EINVAL. */
int tunnel_type_from_string(const char *, enum tunnel_type *);

/* Returns "geneve" or "vxlan", the OVS interface type. */
const char *tunnel_type_to_string(enum tunnel_type);

/* Returns the bytes that encapsulation adds to a pod's IP packet: outer
 * IP (20, or 40 with an IPv6 underlay), UDP (8), the tunnel header (VXLAN
 * 8, Geneve 8 plus 'geneve_options' bytes of options, a multiple of 4) and
 * the inner Ethernet header (14). */
unsigned int tunnel_overhead(enum tunnel_type, bool ipv6_underlay,
                             unsigned int geneve_options);

/* Computes the pod MTU for an uplink of 'uplink_mtu'.  Returns 0 and
 * stores it in '*pod_mtu', or EINVAL if what remains is below the IPv4
 * minimum of 576 or the options length is not a multiple of 4. */
int tunnel_pod_mtu(unsigned int uplink_mtu, enum tunnel_type,
                   bool ipv6_underlay, unsigned int geneve_options,
                   unsigned int *pod_mtu);

#endif /* sluice/tunnel.h */
