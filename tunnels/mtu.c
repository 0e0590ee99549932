#include <sluice-config.h>

#include "sluice/tunnel.h"

#include <errno.h>
#include <string.h>

int
tunnel_type_from_string(const char *s, enum tunnel_type *type)
{
    if (!strcmp(s, "geneve")) {
        *type = TUNNEL_GENEVE;
    } else if (!strcmp(s, "vxlan")) {
        *type = TUNNEL_VXLAN;
    } else {
        return EINVAL;
    }
    return 0;
}

const char *
tunnel_type_to_string(enum tunnel_type type)
{
    return type == TUNNEL_VXLAN ? "vxlan" : "geneve";
}

unsigned int
tunnel_overhead(enum tunnel_type type, bool ipv6_underlay,
                unsigned int geneve_options)
{
    enum {
        IPV4_HEADER = 20,
        IPV6_HEADER = 40,
        UDP_HEADER = 8,
        VXLAN_HEADER = 8,
        GENEVE_HEADER = 8,
        INNER_ETHERNET = 14,
    };
    unsigned int tunnel = (type == TUNNEL_VXLAN ? VXLAN_HEADER
                           : GENEVE_HEADER + geneve_options);
    return ((ipv6_underlay ? IPV6_HEADER : IPV4_HEADER) + UDP_HEADER
            + tunnel + INNER_ETHERNET);
}

int
tunnel_pod_mtu(unsigned int uplink_mtu, enum tunnel_type type,
               bool ipv6_underlay, unsigned int geneve_options,
               unsigned int *pod_mtu)
{
    if (geneve_options % 4 || geneve_options > 252) {
        return EINVAL;
    }
    unsigned int overhead = tunnel_overhead(type, ipv6_underlay,
                                            geneve_options);
    if (uplink_mtu < overhead + 576) {
        return EINVAL;
    }
    *pod_mtu = uplink_mtu - overhead;
    return 0;
}
