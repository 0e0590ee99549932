#include <sluice-config.h>

#include "sluice/agent-config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { KEY_STRING, KEY_UINT, KEY_LOG_LEVEL };

/* Every configuration key, as spelled in the file. */
static const struct key {
    const char *name;
    enum key_type type;
    size_t offset;
    const char *help;
    unsigned long min, max;   /* Bounds of a KEY_UINT. */
} keys[] = {
#define STRING_KEY(NAME, HELP)                                               \
    {#NAME, KEY_STRING, offsetof(struct agent_config, NAME), HELP, 0, 0}
    STRING_KEY(node_name, "this node's name (default: hostname)"),
    STRING_KEY(pod_cidr, "this node's pod subnet, e.g. 10.244.1.0/24"),
    STRING_KEY(bridge, "integration bridge (default br-int)"),
    STRING_KEY(datapath_type, "netdev (userspace, default) or system"),
    STRING_KEY(gateway_port, "internal port to the host (default sluice-gw0)"),
    STRING_KEY(ovs_rundir, "Open vSwitch run directory with db.sock and "
                           "BRIDGE.mgmt (default /var/run/openvswitch)"),
    STRING_KEY(cni_socket, "CNI socket (default /run/sluice/cni.sock)"),
    STRING_KEY(state_dir, "persistent state (default /var/lib/sluice)"),
    STRING_KEY(etcd_endpoints, "comma-separated etcd URLs (none: no "
                               "cluster, pod_cidr required)"),
    STRING_KEY(etcd_prefix, "etcd key prefix (default /sluice/)"),
    STRING_KEY(etcd_ca_file, "etcd TLS CA bundle"),
    STRING_KEY(etcd_cert_file, "etcd TLS client certificate"),
    STRING_KEY(etcd_key_file, "etcd TLS client key"),
    STRING_KEY(cluster_cidr, "cluster pod CIDR that node subnets come "
                             "from (with etcd)"),
    STRING_KEY(node_ip, "underlay IPv4 address of this node (tunnel end)"),
    STRING_KEY(node_labels, "node labels, k=v,k=v"),
    STRING_KEY(tunnel_type, "geneve (default) or vxlan"),
    STRING_KEY(ctl_socket, "sluicectl's socket (default "
                           "/run/sluice/ctl.sock)"),
    STRING_KEY(uplink_interface, "interface whose MTU bounds the pod MTU "
                                 "(default br-phy)"),
#undef STRING_KEY
    {"mtu", KEY_UINT, offsetof(struct agent_config, mtu),
     "pod MTU (default: uplink MTU - tunnel overhead)", 576, 9000},
    {"egress_bfd_interval_ms", KEY_UINT,
     offsetof(struct agent_config, egress_bfd_interval_ms),
     "BFD interval between egress nodes (default 80; failure is "
     "declared after 3 missed)", 20, 10000},
    {"node_cidr_prefix", KEY_UINT,
     offsetof(struct agent_config, node_cidr_prefix),
     "prefix length of node subnets (default 24)", 16, 28},
    {"log_level", KEY_LOG_LEVEL, offsetof(struct agent_config, log_level),
     "err, warn, info (default) or debug", 0, 0},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static int
set_key(struct agent_config *config, const struct key *key,
        const char *value, char *err, size_t err_size)
{
    void *field = (char *) config + key->offset;
    switch (key->type) {
    case KEY_STRING: {
        char **s = field;
        char *copy = strdup(value);
        if (!copy) {
            snprintf(err, err_size, "out of memory");
            return 2;
        }
        free(*s);
        *s = copy;
        return 0;
    }
    case KEY_UINT: {
        char *end;
        errno = 0;
        unsigned long n = strtoul(value, &end, 10);
        if (errno || *end || !*value || n < key->min || n > key->max) {
            snprintf(err, err_size, "%s: '%s' is not a number from %lu to "
                     "%lu", key->name, value, key->min, key->max);
            return 2;
        }
        *(uint32_t *) field = n;
        return 0;
    }
    case KEY_LOG_LEVEL:
        if (slog_level_from_string(value, field)) {
            snprintf(err, err_size, "%s: '%s' is not err, warn, info or "
                     "debug", key->name, value);
            return 2;
        }
        return 0;
    }
    return 2;
}

static int
load_file(struct agent_config *config, const char *file, char *err,
          size_t err_size)
{
    json_error_t jerror;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerror);
    if (!root) {
        snprintf(err, err_size, "%s:%d: %s", file, jerror.line, jerror.text);
        return 2;
    }
    if (!json_is_object(root)) {
        snprintf(err, err_size, "%s: not a JSON object", file);
        json_decref(root);
        return 2;
    }
    const char *name;
    json_t *value;
    json_object_foreach (root, name, value) {
        const struct key *key = NULL;
        for (size_t i = 0; i < N_KEYS; i++) {
            if (!strcmp(name, keys[i].name)) {
                key = &keys[i];
            }
        }
        if (!key) {
            snprintf(err, err_size, "%s: unknown key '%s'", file, name);
            json_decref(root);
            return 2;
        }
        char buf[32];
        const char *s = json_string_value(value);
        if (key->type == KEY_UINT && json_is_integer(value)) {
            snprintf(buf, sizeof buf, "%lld",
                     (long long) json_integer_value(value));
            s = buf;
        }
        if (!s) {
            snprintf(err, err_size, "%s: '%s' has the wrong type", file,
                     name);
            json_decref(root);
            return 2;
        }
        int retval = set_key(config, key, s, err, err_size);
        if (retval) {
            json_decref(root);
            return retval;
        }
    }
    json_decref(root);
    return 0;
}

static void
usage(void)
{
    printf("usage: sluiced [--config FILE] [--KEY VALUE]...\n"
           "sluice node agent: serves the CNI shim and programs br-int.\n\n"
           "  --config FILE  JSON file of the keys below\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        char flag[32];
        snprintf(flag, sizeof flag, "%s", keys[i].name);
        for (char *p = flag; *p; p++) {
            if (*p == '_') {
                *p = '-';
            }
        }
        printf("  --%-13s %s\n", flag, keys[i].help);
    }
}

static int
set_default(struct agent_config *config, char **field, const char *value)
{
    (void) config;
    if (!*field && !(*field = strdup(value))) {
        return ENOMEM;
    }
    return 0;
}

int
agent_config_load(struct agent_config *config, int argc, char *argv[],
                  char *err, size_t err_size)
{
    memset(config, 0, sizeof *config);
    config->log_level = SLOG_LEVEL_INFO;

    struct option options[N_KEYS + 3];
    char flags[N_KEYS][32];
    for (size_t i = 0; i < N_KEYS; i++) {
        snprintf(flags[i], sizeof flags[i], "%s", keys[i].name);
        for (char *p = flags[i]; *p; p++) {
            if (*p == '_') {
                *p = '-';
            }
        }
        options[i] = (struct option) {flags[i], required_argument, NULL,
                                      256 + (int) i};
    }
    options[N_KEYS] = (struct option) {"config", required_argument, NULL,
                                       'c'};
    options[N_KEYS + 1] = (struct option) {"help", no_argument, NULL, 'h'};
    options[N_KEYS + 2] = (struct option) {NULL, 0, NULL, 0};

    /* The file first, so that flags override it. */
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (c == 'h') {
            usage();
            return 1;
        } else if (c == 'c') {
            int retval = load_file(config, optarg, err, err_size);
            if (retval) {
                return retval;
            }
        } else if (c == '?' || c == ':') {
            snprintf(err, err_size, "unknown option or missing value: %s",
                     argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        snprintf(err, err_size, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        if (c >= 256) {
            int retval = set_key(config, &keys[c - 256], optarg, err,
                                 err_size);
            if (retval) {
                return retval;
            }
        }
    }

    char host[256];
    if (!config->node_name) {
        if (gethostname(host, sizeof host)) {
            snprintf(err, err_size, "node_name not set and gethostname "
                     "failed: %s", strerror(errno));
            return 2;
        }
        host[sizeof host - 1] = '\0';
        config->node_name = strdup(host);
    }
    if (!config->egress_bfd_interval_ms) {
        config->egress_bfd_interval_ms = 80;
    }
    if (!config->node_cidr_prefix) {
        config->node_cidr_prefix = 24;
    }
    if (!config->node_name
        || set_default(config, &config->bridge, "br-int")
        || set_default(config, &config->datapath_type, "netdev")
        || set_default(config, &config->gateway_port, "sluice-gw0")
        || set_default(config, &config->ovs_rundir, "/var/run/openvswitch")
        || set_default(config, &config->cni_socket, "/run/sluice/cni.sock")
        || set_default(config, &config->state_dir, "/var/lib/sluice")
        || set_default(config, &config->etcd_prefix, "/sluice/")
        || set_default(config, &config->tunnel_type, "geneve")
        || set_default(config, &config->uplink_interface, "br-phy")
        || set_default(config, &config->ctl_socket, "/run/sluice/ctl.sock")) {
        snprintf(err, err_size, "out of memory");
        return 2;
    }
    if (!config->pod_cidr && !(config->etcd_endpoints
                               && config->cluster_cidr)) {
        snprintf(err, err_size, "pod_cidr is required unless etcd_endpoints "
                 "and cluster_cidr are set");
        return 2;
    }
    if (config->etcd_endpoints && !config->node_ip) {
        snprintf(err, err_size, "node_ip is required with etcd_endpoints");
        return 2;
    }
    if (strlen(config->bridge) > 15 || strlen(config->gateway_port) > 15) {
        snprintf(err, err_size, "bridge and gateway_port names must have "
                 "at most 15 characters");
        return 2;
    }
    return 0;
}

void
agent_config_destroy(struct agent_config *config)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].type == KEY_STRING) {
            char **s = (char **) ((char *) config + keys[i].offset);
            free(*s);
            *s = NULL;
        }
    }
}
