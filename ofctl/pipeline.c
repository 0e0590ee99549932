#include <sluice-config.h>

#include "sluice/pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/log.h"

SLOG_MODULE(pipeline);

static const struct ofctl_table tables[N_PIPELINE_TABLES] = {
    {TABLE_CLASSIFIER, "Classifier"},
    {TABLE_SPOOF_GUARD, "SpoofGuard"},
    {TABLE_ARP_RESPONDER, "ARPResponder"},
    {TABLE_CONNTRACK, "Conntrack"},
    {TABLE_L3_FORWARDING, "L3Forwarding"},
    {TABLE_EGRESS_MARK, "EgressMark"},
    {TABLE_SNAT, "SNAT"},
    {TABLE_OUTPUT, "Output"},
};

const struct ofctl_table *
pipeline_tables(void)
{
    return tables;
}

char *
pipeline_format_mac(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
             mac[2], mac[3], mac[4], mac[5]);
    return buf;
}

/* Formats a flow and adds it for 'owner'.  Returns 0 or an errno value. */
static int __attribute__((format(printf, 3, 4)))
add_flow(struct ofctl *ofctl, uint64_t owner, const char *fmt, ...)
{
    char flow[1024];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(flow, sizeof flow, fmt, args);
    va_end(args);
    if (n < 0 || (size_t) n >= sizeof flow) {
        SLOG_ERR("flow for owner %#llx longer than %zu bytes",
                 (unsigned long long) owner, sizeof flow);
        return ENAMETOOLONG;
    }

    char *error;
    int retval = ofctl_add_flow(ofctl, owner, flow, &error);
    if (retval) {
        SLOG_ERR("cannot add flow \"%s\": %s", flow,
                 error ? error : "out of memory");
        free(error);
    }
    return retval;
}

/* An ARP reply from 'mac'/'ip' to whoever asked, out the port it came in. */
#define ARP_REPLY_ACTIONS(MAC, IP)                                          \
    "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"                              \
    "set_field:" MAC "->eth_src,"                                           \
    "set_field:2->arp_op,"                                                  \
    "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"                              \
    "set_field:" MAC "->arp_sha,"                                           \
    "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"                              \
    "set_field:" IP "->arp_spa,"                                            \
    "IN_PORT"

int
pipeline_add_fixed_flows(struct ofctl *ofctl)
{
    uint64_t owner = ofctl_owner(OFCTL_FEATURE_PIPELINE, 0);
    int error = 0;

    /* Whatever no other flow claims is dropped, by a flow an admin can see
     * counting. */
    error = error ? error : add_flow(ofctl, owner,
        "table=Classifier,priority=0 actions=drop");
    error = error ? error : add_flow(ofctl, owner,
        "table=SpoofGuard,priority=0 actions=drop");
    error = error ? error : add_flow(ofctl, owner,
        "table=ARPResponder,priority=0 actions=drop");
    error = error ? error : add_flow(ofctl, owner,
        "table=Conntrack,priority=0 actions=goto_table:L3Forwarding");
    error = error ? error : add_flow(ofctl, owner,
        "table=L3Forwarding,priority=0 actions=drop");
    error = error ? error : add_flow(ofctl, owner,
        "table=EgressMark,priority=0 actions=goto_table:SNAT");
    error = error ? error : add_flow(ofctl, owner,
        "table=SNAT,priority=0 actions=goto_table:Output");
    error = error ? error : add_flow(ofctl, owner,
        "table=Output,priority=0 actions=output:NXM_NX_REG1[]");
    return error;
}

int
pipeline_add_gateway_flows(struct ofctl *ofctl,
                           const struct pipeline_node *node)
{
    uint64_t owner = ofctl_owner(OFCTL_FEATURE_GATEWAY, 0);
    char ip[INET_ADDRSTRLEN], mac[18];
    inet_ntop(AF_INET, &node->gateway_ip, ip, sizeof ip);
    pipeline_format_mac(node->gateway_mac, mac);
    uint32_t port = node->gateway_ofport;
    int error = 0;

    /* The host is trusted: its traffic skips SpoofGuard. */
    error = error ? error : add_flow(ofctl, owner,
        "table=Classifier,priority=200,in_port=%u,arp "
        "actions=goto_table:ARPResponder", port);
    error = error ? error : add_flow(ofctl, owner,
        "table=Classifier,priority=200,in_port=%u,ip "
        "actions=goto_table:Conntrack", port);

    /* Pods resolve their default gateway here. */
    error = error ? error : add_flow(ofctl, owner,
        "table=ARPResponder,priority=200,arp,arp_op=1,arp_tpa=%s "
        "actions=" ARP_REPLY_ACTIONS("%s", "%s"), ip, mac, mac, ip);

    /* Traffic for the host, and anything not routed elsewhere, leaves
     * through the gateway into the host's stack. */
    error = error ? error : add_flow(ofctl, owner,
        "table=L3Forwarding,priority=100,ip,nw_dst=%s "
        "actions=set_field:%s->eth_dst,set_field:%u->reg1,"
        "goto_table:EgressMark", ip, mac, port);
    error = error ? error : add_flow(ofctl, owner,
        "table=L3Forwarding,priority=10,ip "
        "actions=set_field:%s->eth_dst,set_field:%u->reg1,"
        "goto_table:EgressMark", mac, port);
    return error;
}

int
pipeline_add_pod_flows(struct ofctl *ofctl, const struct pipeline_node *node,
                       const struct pipeline_pod *pod)
{
    uint64_t owner = ofctl_owner(OFCTL_FEATURE_POD, pod->ofport);
    char ip[INET_ADDRSTRLEN], mac[18], gw_mac[18];
    inet_ntop(AF_INET, &pod->ip, ip, sizeof ip);
    pipeline_format_mac(pod->mac, mac);
    pipeline_format_mac(node->gateway_mac, gw_mac);
    uint32_t port = pod->ofport;
    int error = 0;

    error = error ? error : add_flow(ofctl, owner,
        "table=Classifier,priority=100,in_port=%u "
        "actions=goto_table:SpoofGuard", port);

    /* A pod may send IP only from its own MAC and IP, and ARP only about
     * itself; everything else it sends is dropped by the table miss. */
    error = error ? error : add_flow(ofctl, owner,
        "table=SpoofGuard,priority=200,ip,in_port=%u,dl_src=%s,nw_src=%s "
        "actions=goto_table:Conntrack", port, mac, ip);
    error = error ? error : add_flow(ofctl, owner,
        "table=SpoofGuard,priority=200,arp,in_port=%u,dl_src=%s,"
        "arp_spa=%s,arp_sha=%s actions=goto_table:ARPResponder",
        port, mac, ip, mac);

    /* Neighbours (other pods, the host) learn the pod's MAC from OVS. */
    error = error ? error : add_flow(ofctl, owner,
        "table=ARPResponder,priority=200,arp,arp_op=1,arp_tpa=%s "
        "actions=" ARP_REPLY_ACTIONS("%s", "%s"), ip, mac, mac, ip);

    /* Routed to the pod: the gateway is the previous hop. */
    error = error ? error : add_flow(ofctl, owner,
        "table=L3Forwarding,priority=200,ip,nw_dst=%s "
        "actions=set_field:%s->eth_src,set_field:%s->eth_dst,"
        "set_field:%u->reg1,goto_table:EgressMark", ip, gw_mac, mac, port);

    if (error) {
        ofctl_remove_owner(ofctl, owner);
    }
    return error;
}

void
pipeline_remove_pod_flows(struct ofctl *ofctl, uint32_t ofport)
{
    ofctl_remove_owner(ofctl, ofctl_owner(OFCTL_FEATURE_POD, ofport));
}

int
pipeline_add_tunnel_flows(struct ofctl *ofctl,
                          const struct pipeline_node *node)
{
    return add_flow(ofctl, ofctl_owner(OFCTL_FEATURE_TUNNEL, 0),
                    "table=Classifier,priority=150,in_port=%u actions=drop",
                    node->tunnel_ofport);
}

static uint64_t
peer_owner(struct in_addr subnet)
{
    return ofctl_owner(OFCTL_FEATURE_NODE, ntohl(subnet.s_addr));
}

int
pipeline_add_peer_flows(struct ofctl *ofctl, const struct pipeline_node *node,
                        const struct pipeline_peer *peer)
{
    uint64_t owner = peer_owner(peer->subnet);
    char ip[INET_ADDRSTRLEN], subnet[INET_ADDRSTRLEN], gw_mac[18],
        peer_gw_mac[18];
    inet_ntop(AF_INET, &peer->ip, ip, sizeof ip);
    inet_ntop(AF_INET, &peer->subnet, subnet, sizeof subnet);
    pipeline_format_mac(node->gateway_mac, gw_mac);

    /* The remote gateway's MAC follows from its IP, as ours does. */
    uint32_t peer_gw = ntohl(peer->subnet.s_addr) + 1;
    uint8_t mac[6] = {0x0a, 0x58, peer_gw >> 24, peer_gw >> 16, peer_gw >> 8,
                      peer_gw};
    pipeline_format_mac(mac, peer_gw_mac);

    /* Replacing all of the owner's flows keeps a changed peer exact. */
    ofctl_remove_owner(ofctl, owner);
    int error = add_flow(ofctl, owner,
        "table=Classifier,priority=200,in_port=%u,tun_src=%s "
        "actions=goto_table:Conntrack", node->tunnel_ofport, ip);
    error = error ? error : add_flow(ofctl, owner,
        "table=L3Forwarding,priority=150,ip,nw_dst=%s/%u "
        "actions=set_field:%s->tun_dst,set_field:%d->tun_id,"
        "set_field:%s->eth_src,set_field:%s->eth_dst,set_field:%u->reg1,"
        "goto_table:EgressMark",
        subnet, peer->prefix_len, ip, PIPELINE_POD_VNI, gw_mac, peer_gw_mac,
        node->tunnel_ofport);
    if (error) {
        ofctl_remove_owner(ofctl, owner);
    }
    return error;
}

void
pipeline_remove_peer_flows(struct ofctl *ofctl, struct in_addr subnet)
{
    ofctl_remove_owner(ofctl, peer_owner(subnet));
}

/* Owners of egress flows: object bits 47..40 say which kind. */
#define EGRESS_BASE_OBJECT 0
#define EGRESS_POD_OBJECT(OFPORT) ((UINT64_C(1) << 40) | (OFPORT))
#define EGRESS_SNAT_OBJECT(VNI) ((UINT64_C(2) << 40) | (VNI))

int
pipeline_add_egress_base_flows(struct ofctl *ofctl,
                               const struct pipeline_node *node,
                               struct pipeline_cidr cluster)
{
    uint64_t owner = ofctl_owner(OFCTL_FEATURE_EGRESS, EGRESS_BASE_OBJECT);
    char net[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &cluster.network, net, sizeof net);
    inet_ntop(AF_INET, &node->gateway_ip, gw, sizeof gw);
    int error = add_flow(ofctl, owner,
        "table=EgressMark,priority=300,ip,nw_dst=%s/%u "
        "actions=goto_table:SNAT", net, cluster.prefix_len);
    error = error ? error : add_flow(ofctl, owner,
        "table=EgressMark,priority=300,ip,nw_dst=%s "
        "actions=goto_table:SNAT", gw);
    /* Steered traffic for an egress this node does not hold (a failover
     * in progress) is dropped rather than leaving with the pod's address. */
    error = error ? error : add_flow(ofctl, owner,
        "table=SNAT,priority=50,ip,tun_id=%#x/%#x actions=drop",
        PIPELINE_EGRESS_VNI_BASE, PIPELINE_EGRESS_VNI_BASE);
    return error;
}

int
pipeline_set_pod_egress(struct ofctl *ofctl, const struct pipeline_node *node,
                        const struct pipeline_pod_egress *pe)
{
    uint64_t owner = ofctl_owner(OFCTL_FEATURE_EGRESS,
                                 EGRESS_POD_OBJECT(pe->ofport));
    char pod_ip[INET_ADDRSTRLEN], owner_ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &pe->pod_ip, pod_ip, sizeof pod_ip);
    inet_ntop(AF_INET, &pe->owner_ip, owner_ip, sizeof owner_ip);

    ofctl_remove_owner(ofctl, owner);
    int error = 0;
    for (size_t i = 0; !error && i < pe->n_exempt; i++) {
        char net[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &pe->exempt[i].network, net, sizeof net);
        error = add_flow(ofctl, owner,
            "table=EgressMark,priority=200,ip,nw_src=%s,nw_dst=%s/%u "
            "actions=goto_table:SNAT", pod_ip, net, pe->exempt[i].prefix_len);
    }
    /* Only what L3Forwarding sent to the host (reg1 = gateway) leaves the
     * cluster. */
    if (!error && pe->local) {
        error = add_flow(ofctl, owner,
            "table=EgressMark,priority=100,ip,reg1=%u,nw_src=%s "
            "actions=set_field:%u->tun_id,goto_table:SNAT",
            node->gateway_ofport, pod_ip, pe->vni);
    } else if (!error && !pe->owner_ip.s_addr) {
        /* No holder yet: drop rather than leave with the node's address. */
        error = add_flow(ofctl, owner,
            "table=EgressMark,priority=100,ip,reg1=%u,nw_src=%s "
            "actions=drop", node->gateway_ofport, pod_ip);
    } else if (!error) {
        error = add_flow(ofctl, owner,
            "table=EgressMark,priority=100,ip,reg1=%u,nw_src=%s "
            "actions=set_field:%s->tun_dst,set_field:%u->tun_id,"
            "set_field:%u->reg1,goto_table:Output",
            node->gateway_ofport, pod_ip, owner_ip, pe->vni,
            node->tunnel_ofport);
    }
    if (error) {
        ofctl_remove_owner(ofctl, owner);
    }
    return error;
}

void
pipeline_clear_pod_egress(struct ofctl *ofctl, uint32_t ofport)
{
    ofctl_remove_owner(ofctl, ofctl_owner(OFCTL_FEATURE_EGRESS,
                                          EGRESS_POD_OBJECT(ofport)));
}

int
pipeline_set_egress_snat(struct ofctl *ofctl, const struct pipeline_node *node,
                         uint32_t vni, struct in_addr egress_ip)
{
    uint64_t owner = ofctl_owner(OFCTL_FEATURE_EGRESS,
                                 EGRESS_SNAT_OBJECT(vni));
    char ip[INET_ADDRSTRLEN], gw_mac[18];
    inet_ntop(AF_INET, &egress_ip, ip, sizeof ip);
    pipeline_format_mac(node->gateway_mac, gw_mac);

    ofctl_remove_owner(ofctl, owner);
    int error = add_flow(ofctl, owner,
        "table=SNAT,priority=100,ip,tun_id=%u "
        "actions=set_field:%s->eth_dst,set_field:%u->reg1,"
        "ct(commit,zone=%d,nat(src=%s),table=Output)",
        vni, gw_mac, node->gateway_ofport, PIPELINE_EGRESS_ZONE, ip);
    error = error ? error : add_flow(ofctl, owner,
        "table=Conntrack,priority=200,ip,in_port=%u,nw_dst=%s "
        "actions=ct(zone=%d,nat,table=L3Forwarding)",
        node->gateway_ofport, ip, PIPELINE_EGRESS_ZONE);
    /* The host resolves the address it routes into the gateway port. */
    error = error ? error : add_flow(ofctl, owner,
        "table=ARPResponder,priority=200,arp,arp_op=1,arp_tpa=%s "
        "actions=" ARP_REPLY_ACTIONS("%s", "%s"), ip, gw_mac, gw_mac, ip);
    if (error) {
        ofctl_remove_owner(ofctl, owner);
    }
    return error;
}

void
pipeline_clear_egress_snat(struct ofctl *ofctl, uint32_t vni)
{
    ofctl_remove_owner(ofctl, ofctl_owner(OFCTL_FEATURE_EGRESS,
                                          EGRESS_SNAT_OBJECT(vni)));
}
