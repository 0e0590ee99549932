/*
 * The OpenFlow pipeline of br-int: its named tables, and the flows each
 * feature states, written in ovs-ofctl syntax so that what the agent
 * installs reads exactly like `ovs-ofctl dump-flows br-int --names`.
 * README's "Datapath" section documents every table.
 */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H 1

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/ofctl.h"

/* Tables, in the order packets traverse them. */
enum pipeline_table {
    TABLE_CLASSIFIER = 0,    /* Where did the packet come from? */
    TABLE_SPOOF_GUARD = 1,   /* Pod port, MAC and IP must agree. */
    TABLE_ARP_RESPONDER = 2, /* Answer ARP locally, never flood. */
    TABLE_CONNTRACK = 3,     /* Connection tracking. */
    TABLE_L3_FORWARDING = 4, /* Route: local pod, host, remote node. */
    TABLE_EGRESS_MARK = 5,   /* Steer selected pods to an egress node. */
    TABLE_SNAT = 6,          /* SNAT to egress IPs on the egress node. */
    TABLE_OUTPUT = 7,        /* Output to the port chosen in reg1. */
    N_PIPELINE_TABLES
};

/* Returns the pipeline's table definitions (N_PIPELINE_TABLES of them). */
const struct ofctl_table *pipeline_tables(void);

/* Node-wide facts that flows depend on. */
struct pipeline_node {
    struct in_addr gateway_ip;  /* Pod subnet's gateway (host side). */
    uint8_t gateway_mac[6];     /* MAC of the gateway port. */
    uint32_t gateway_ofport;    /* OpenFlow port of the gateway. */
    uint32_t tunnel_ofport;     /* Flow-based tunnel port, 0 if none. */
};

/* One remote node, reached through the tunnel. */
struct pipeline_peer {
    struct in_addr ip;          /* Its underlay address (tunnel end). */
    struct in_addr subnet;      /* Its pod subnet... */
    uint8_t prefix_len;         /* ...and prefix length. */
};

/* One local pod. */
struct pipeline_pod {
    uint32_t ofport;            /* Its veth's OpenFlow port. */
    struct in_addr ip;          /* Its address. */
    uint8_t mac[6];             /* Its interface's MAC. */
};

/* Flow builders.  Each states the desired flows of one owner in 'ofctl'
 * (replacing nothing else) and returns 0 or a positive errno value, with
 * the offending flow and the parser's complaint logged. */
int pipeline_add_fixed_flows(struct ofctl *);
int pipeline_add_gateway_flows(struct ofctl *, const struct pipeline_node *);
int pipeline_add_pod_flows(struct ofctl *, const struct pipeline_node *,
                           const struct pipeline_pod *);

/* The tunnel port's catch-all: tunnel packets from addresses that are not
 * registered nodes are dropped (and counted) in Classifier. */
int pipeline_add_tunnel_flows(struct ofctl *, const struct pipeline_node *);

/* Accepts tunnel traffic from 'peer' and routes its pod subnet to it.  The
 * flows' owner is the peer's subnet, so a node that changes address is
 * restated, and one that leaves is removed, with a couple of flows. */
int pipeline_add_peer_flows(struct ofctl *, const struct pipeline_node *,
                            const struct pipeline_peer *);
void pipeline_remove_peer_flows(struct ofctl *, struct in_addr subnet);

/* Tunnel IDs (VNIs): pod-to-pod traffic carries POD_VNI; traffic that a
 * pod's node steers to an egress node carries EGRESS_VNI_BASE + the
 * egress's id, so the egress node knows which address to SNAT to.  VNI 0
 * is left to the per-peer BFD ports. */
#define PIPELINE_POD_VNI 1
#define PIPELINE_EGRESS_VNI_BASE 0x800000
#define PIPELINE_EGRESS_VNI_MASK 0x7fffff

/* Conntrack zone of egress SNAT. */
#define PIPELINE_EGRESS_ZONE 0xe9

struct pipeline_cidr {
    struct in_addr network;
    uint8_t prefix_len;
};

/* Traffic to the cluster's own pod CIDR and to the node's gateway is never
 * steered to an egress. */
int pipeline_add_egress_base_flows(struct ofctl *,
                                   const struct pipeline_node *,
                                   struct pipeline_cidr cluster);

/* One local pod selected by an egress. */
struct pipeline_pod_egress {
    uint32_t ofport;                    /* The pod's port... */
    struct in_addr pod_ip;              /* ...and address. */
    uint32_t vni;                       /* The egress's VNI. */
    bool local;                         /* This node holds the egress IP? */
    struct in_addr owner_ip;            /* Else the holder's underlay IP. */
    const struct pipeline_cidr *exempt; /* Destinations not steered. */
    size_t n_exempt;
};

/* Steers the pod's traffic that would leave through the host to the node
 * holding the egress IP (or to SNAT here), replacing earlier steering of
 * that pod; pipeline_clear_pod_egress() stops it. */
int pipeline_set_pod_egress(struct ofctl *, const struct pipeline_node *,
                            const struct pipeline_pod_egress *);
void pipeline_clear_pod_egress(struct ofctl *, uint32_t ofport);

/* On the node holding 'egress_ip': SNATs traffic tagged with 'vni' to it
 * and de-NATs the replies, which the host routes back into the gateway
 * port.  pipeline_clear_egress_snat() withdraws both. */
int pipeline_set_egress_snat(struct ofctl *, const struct pipeline_node *,
                             uint32_t vni, struct in_addr egress_ip);
void pipeline_clear_egress_snat(struct ofctl *, uint32_t vni);

/* Removes the flows of the pod on 'ofport'. */
void pipeline_remove_pod_flows(struct ofctl *, uint32_t ofport);

/* Formats 'mac' as "aa:bb:cc:dd:ee:ff" into 'buf'. */
char *pipeline_format_mac(const uint8_t mac[6], char buf[18]);

#endif /* sluice/pipeline.h */
