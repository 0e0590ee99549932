/*
 * sluiced's configuration: a JSON file (--config) whose keys may each be
 * overridden by a command-line flag of the same name with '_' spelled '-'.
 * README's "Configuration" section lists every key.
 */
#ifndef SLUICE_AGENT_CONFIG_H
#define SLUICE_AGENT_CONFIG_H 1

#include <stddef.h>
#include <stdint.h>

#include "sluice/log.h"

struct agent_config {
    char *node_name;      /* This node's name (default: hostname). */
    char *pod_cidr;       /* This node's pod subnet, e.g. 10.244.1.0/24. */
    char *bridge;         /* Integration bridge (br-int). */
    char *datapath_type;  /* "netdev" (userspace) or "system". */
    char *gateway_port;   /* Internal port to the host (sluice-gw0). */
    uint32_t mtu;         /* Pod MTU; 0 derives it from the uplink. */
    char *ovs_rundir;     /* Holds db.sock and BRIDGE.mgmt. */
    char *cni_socket;     /* Where the CNI shim connects. */
    char *state_dir;      /* Persistent state (IPAM). */

    /* Cluster (all optional: without etcd_endpoints the node is alone). */
    char *etcd_endpoints; /* Comma-separated etcd client URLs. */
    char *etcd_prefix;    /* Key prefix, default /sluice/. */
    char *etcd_ca_file;   /* TLS: CA bundle, client cert and key. */
    char *etcd_cert_file;
    char *etcd_key_file;
    char *cluster_cidr;   /* Pod subnets are carved from this... */
    uint32_t node_cidr_prefix; /* ...with this prefix length (24). */
    char *node_ip;        /* Underlay address: the tunnel end. */
    char *node_labels;    /* k=v,k=v: for egress pool selection. */
    char *tunnel_type;    /* geneve (default) or vxlan. */
    char *uplink_interface; /* Its MTU gives the pod MTU (br-phy). */
    char *ctl_socket;     /* sluicectl's socket. */
    uint32_t egress_bfd_interval_ms; /* BFD between egress nodes. */
    enum slog_level log_level;
};

/* Fills 'config' from the file named by --config (if any) and then from
 * the flags in 'argv'.  Returns 0, 1 after printing --help, or 2 after
 * writing a one-line reason into 'err'. */
int agent_config_load(struct agent_config *config, int argc, char *argv[],
                      char *err, size_t err_size);

void agent_config_destroy(struct agent_config *config);

#endif /* sluice/agent-config.h */
