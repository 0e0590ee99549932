#include <sluice-config.h>

#include "sluice/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/cluster.h"
#include "sluice/cni-server.h"
#include "sluice/egress.h"
#include "sluice/ipam.h"
#include "sluice/log.h"
#include "sluice/ofctl.h"
#include "sluice/ovsdb.h"
#include "sluice/podif.h"
#include "sluice/tunnel.h"

SLOG_MODULE(agent);

/* OpenFlow port numbers requested for the gateway and the tunnel. */
#define GATEWAY_OFPORT 1
#define TUNNEL_OFPORT 2
#define TUNNEL_PORT "sluice-tun0"

/* Bridge external_ids key holding the last flow round. */
#define ROUND_KEY "sluice-round"

static void node_setup(struct agent *);
static void node_setup_done(struct agent *);
static void add_tunnel_port(struct agent *);
static void on_sync_wait_expired(uv_timer_t *);
static struct pipeline_peer to_pipeline_peer(const struct peer *);

void
agent_update_ready(struct agent *agent)
{
    const char *reason = NULL;
    if (!ovsdb_client_is_connected(agent->ovsdb)) {
        reason = "not connected to ovsdb-server";
    } else if (!agent->node_ready) {
        reason = "bridge and gateway not set up yet";
    } else if (!agent->flows_synced) {
        reason = "flows not installed on the bridge yet";
    }
    bool ready = !reason;
    snprintf(agent->not_ready_reason, sizeof agent->not_ready_reason, "%s",
             reason ? reason : "");
    if (ready != agent->ready) {
        agent->ready = ready;
        if (ready) {
            SLOG_INFO("node %s: ready (%zu pods)", agent->config.node_name,
                      agent->n_pods);
        } else {
            SLOG_WARN("node %s: not ready: %s", agent->config.node_name,
                      reason);
        }
    }
}

static void
on_flow_restore_wait_cleared(void *aux, int error, const char *msg)
{
    struct agent *agent = aux;
    if (error) {
        SLOG_WARN("node %s: clearing flow-restore-wait: %s",
                  agent->config.node_name, msg);
    }
}

static void
on_flows_synced(void *aux, bool synced)
{
    struct agent *agent = aux;
    agent->flows_synced = synced;
    if (synced) {
        /* Whatever changed while the sync was in flight. */
        ofctl_commit(agent->ofctl, NULL, NULL);

        /* Only now may ovs-vswitchd forward: every flow is in. */
        static const char *const remove[] = {"flow-restore-wait", NULL};
        ovsdb_client_update_map(agent->ovsdb, OVSDB_OPEN_VSWITCH, NULL,
                                "other_config", NULL, remove,
                                on_flow_restore_wait_cleared, agent);
    }
    agent_update_ready(agent);
}

/* Creates the flow table with every flow and connects it to the bridge. */
static int
start_flows(struct agent *agent, uint8_t round, int stale_round)
{
    char mgmt[PATH_MAX];
    int n = snprintf(mgmt, sizeof mgmt, "%s/%s.mgmt", agent->config.ovs_rundir,
                     agent->config.bridge);
    if (n < 0 || (size_t) n >= sizeof mgmt) {
        SLOG_ERR("OpenFlow socket path too long");
        return ENAMETOOLONG;
    }
    agent->ofctl = ofctl_create(agent->loop, mgmt, pipeline_tables(),
                                N_PIPELINE_TABLES, round, stale_round,
                                on_flows_synced, agent);
    if (!agent->ofctl) {
        return ENOMEM;
    }
    int error = pipeline_add_fixed_flows(agent->ofctl);
    if (!error) {
        error = pipeline_add_gateway_flows(agent->ofctl, &agent->node);
    }
    if (!error && agent->overlay) {
        error = pipeline_add_tunnel_flows(agent->ofctl, &agent->node);
    }
    if (!error) {
        error = pods_add_all_flows(agent);
    }
    if (!error && agent->egress) {
        error = egress_controller_add_flows(agent->egress);
    }
    for (const struct peer *peer = agent->peers.head; !error && peer;
         peer = peer->next) {
        struct pipeline_peer pp = to_pipeline_peer(peer);
        error = pipeline_add_peer_flows(agent->ofctl, &agent->node, &pp);
    }
    if (error) {
        return error;
    }
    SLOG_INFO("node %s: flow round %u (replacing round %d)",
              agent->config.node_name, round, stale_round);
    if (agent->egress && !egress_controller_is_listed(agent->egress)) {
        /* The first sync replaces the previous round: wait for the egress
         * state so that selected pods' steering is not missing from it
         * (and their traffic does not leave with the node's address), but
         * not for long if etcd is away. */
        uv_timer_start(&agent->sync_wait, on_sync_wait_expired, 3000, 0);
    } else {
        agent_connect_switch(agent);
    }
    return 0;
}

void
agent_connect_switch(struct agent *agent)
{
    uv_timer_stop(&agent->sync_wait);
    if (agent->ofctl && !agent->switch_connecting) {
        agent->switch_connecting = true;
        ofctl_start(agent->ofctl);
    }
}

static void
on_sync_wait_expired(uv_timer_t *timer)
{
    struct agent *agent = timer->data;
    SLOG_WARN("node %s: no egress state from etcd after 3 s; installing "
              "flows without it", agent->config.node_name);
    agent_connect_switch(agent);
}

static void
on_round_saved(void *aux, int error, const char *msg)
{
    struct agent *agent = aux;
    if (error) {
        SLOG_WARN("node %s: saving the flow round: %s",
                  agent->config.node_name, msg);
    }
}

/* Writes 'value' into the sysctl file 'path', logging failure. */
static void
write_sysctl(const struct agent *agent, const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t) strlen(value)) {
        SLOG_WARN("node %s: cannot write %s to %s: %s",
                  agent->config.node_name, value, path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
}

static void
on_masquerade_exit(uv_process_t *process, int64_t status, int signal)
{
    struct agent *agent = process->data;
    if (status || signal) {
        SLOG_ERR("node %s: installing the pod masquerade rule failed "
                 "(iptables exit %lld, signal %d); pods reach outside "
                 "addresses only through egresses",
                 agent->config.node_name, (long long) status, signal);
    } else {
        SLOG_INFO("node %s: pods leave the cluster with the node's address "
                  "unless an egress selects them", agent->config.node_name);
    }
    uv_close((uv_handle_t *) process, (uv_close_cb) free);
}

/* The host routes pods' traffic that leaves the cluster: forwarding on,
 * masquerade to the node's address (the one iptables call, at start, never
 * on a pod's path), and proxy ARP on the uplink so that the kernel answers
 * for egress IPs routed to the gateway port. */
static void
setup_host_networking(struct agent *agent)
{
    const struct agent_config *c = &agent->config;
    write_sysctl(agent, "/proc/sys/net/ipv4/ip_forward", "1");
    if (!agent->overlay) {
        return;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/proc/sys/net/ipv4/conf/%s/proxy_arp",
             c->uplink_interface);
    write_sysctl(agent, path, "1");
    /* Answer at once, not after a random delay of up to 0.8 s. */
    snprintf(path, sizeof path, "/proc/sys/net/ipv4/neigh/%s/proxy_delay",
             c->uplink_interface);
    write_sysctl(agent, path, "0");

    char pod_cidr[32];
    snprintf(pod_cidr, sizeof pod_cidr, "%s/%u",
             inet_ntoa(agent->pod_network), agent->pod_prefix_len);
    const char *cluster = c->cluster_cidr ? c->cluster_cidr : pod_cidr;
    /* Check, then append: idempotent across agent restarts. */
    char script[512];
    snprintf(script, sizeof script,
             "iptables -w -t nat -C POSTROUTING -s %s ! -d %s "
             "-m comment --comment sluice -j MASQUERADE 2>/dev/null || "
             "iptables -w -t nat -A POSTROUTING -s %s ! -d %s "
             "-m comment --comment sluice -j MASQUERADE",
             pod_cidr, cluster, pod_cidr, cluster);
    char *args[] = {"/bin/sh", "-c", script, NULL};
    uv_process_t *process = calloc(1, sizeof *process);
    uv_process_options_t options = {
        .file = "/bin/sh",
        .args = args,
        .exit_cb = on_masquerade_exit,
    };
    if (!process) {
        return;
    }
    process->data = agent;
    int error = uv_spawn(agent->loop, process, &options);
    if (error) {
        SLOG_ERR("node %s: cannot run iptables: %s", c->node_name,
                 uv_strerror(error));
        uv_close((uv_handle_t *) process, (uv_close_cb) free);
    }
}

/* Bridge, gateway and tunnel are in place: recover pods, install flows. */
static void
node_setup_done(struct agent *agent)
{
    agent->node_ready = true;
    if (!agent->ofctl) {
        /* A new round for this process's flows; the previous one is
         * deleted once the new one is in. */
        const struct ovsdb_row *br = ovsdb_client_find_by_name(
            agent->ovsdb, OVSDB_BRIDGE, agent->config.bridge);
        const char *old = br ? ovsdb_row_map_get(br, "external_ids",
                                                 ROUND_KEY)
                             : NULL;
        int stale = old ? atoi(old) : -1;
        uint8_t round = stale > 0 && stale < 255 ? stale + 1 : 1;
        char round_s[8];
        snprintf(round_s, sizeof round_s, "%u", round);
        const char *set[] = {ROUND_KEY, round_s, NULL};
        ovsdb_client_update_map(agent->ovsdb, OVSDB_BRIDGE,
                                agent->config.bridge, "external_ids", set,
                                NULL, on_round_saved, agent);

        int error = pods_recover(agent);
        if (!error) {
            error = start_flows(agent, round, stale);
        }
        if (error) {
            SLOG_ERR("node %s: cannot set up flows: %s",
                     agent->config.node_name, strerror(error));
            return;
        }
    }
    agent_update_ready(agent);
}

static void
on_tunnel_ofport(void *aux, int error, int64_t ofport, const char *msg)
{
    struct agent *agent = aux;
    if (error) {
        SLOG_ERR("node %s: tunnel port: %s", agent->config.node_name, msg);
        return;
    }
    agent->node.tunnel_ofport = ofport;
    node_setup_done(agent);
}

static void
on_tunnel_added(void *aux, int error, const char *msg)
{
    struct agent *agent = aux;
    if (!error) {
        error = ovsdb_client_wait_ofport(agent->ovsdb, TUNNEL_PORT, 10000,
                                         on_tunnel_ofport, agent);
        msg = strerror(error);
    }
    if (error) {
        SLOG_ERR("node %s: adding the tunnel port: %s",
                 agent->config.node_name, msg);
    }
}

/* One flow-based tunnel port: flows choose the remote end with tun_dst, so
 * the port count does not grow with the cluster. */
static void
add_tunnel_port(struct agent *agent)
{
    static const char *const options[] = {"remote_ip", "flow", "key", "flow",
                                          NULL};
    static const char *const ids[] = {"sluice-role", "tunnel", NULL};
    struct ovsdb_port_spec spec = {
        .name = TUNNEL_PORT,
        .type = tunnel_type_to_string(agent->tunnel_type),
        .options = options,
        .external_ids = ids,
        .ofport_request = TUNNEL_OFPORT,
    };
    int error = ovsdb_client_add_port(agent->ovsdb, agent->config.bridge,
                                      &spec, on_tunnel_added, agent);
    if (error) {
        SLOG_ERR("node %s: adding the tunnel port: %s",
                 agent->config.node_name, strerror(error));
    }
}

/* The gateway port exists: give the host its address, then set up flows. */
static void
on_gateway_ofport(void *aux, int error, int64_t ofport, const char *msg)
{
    struct agent *agent = aux;
    if (error) {
        SLOG_ERR("node %s: gateway port: %s", agent->config.node_name, msg);
        return;
    }
    agent->node.gateway_ofport = ofport;

    char *err = NULL;
    error = podif_configure_host_link(agent->podif,
                                      agent->config.gateway_port,
                                      agent->node.gateway_ip,
                                      agent->pod_prefix_len,
                                      agent->config.mtu, &err);
    if (error) {
        SLOG_ERR("node %s: %s", agent->config.node_name, err);
        free(err);
        return;
    }

    /* Egress IPs routed here by an earlier run: only the controller knows
     * which this node still holds, and it adds them back. */
    if (!agent->node_ready && podif_flush_host_routes(
            agent->podif, agent->config.gateway_port, &err)) {
        SLOG_WARN("node %s: %s", agent->config.node_name, err);
        free(err);
        err = NULL;
    }
    setup_host_networking(agent);

    if (agent->overlay) {
        add_tunnel_port(agent);
    } else {
        node_setup_done(agent);
    }
}

static void
on_gateway_mac_set(void *aux, int error, json_t *result, const char *msg)
{
    struct agent *agent = aux;
    (void) result;
    if (error) {
        SLOG_ERR("node %s: setting the gateway MAC: %s",
                 agent->config.node_name, msg);
        return;
    }
    error = ovsdb_client_wait_ofport(agent->ovsdb, agent->config.gateway_port,
                                     10000, on_gateway_ofport, agent);
    if (error) {
        SLOG_ERR("node %s: waiting for the gateway port: %s",
                 agent->config.node_name, strerror(error));
    }
}

static void
on_gateway_added(void *aux, int error, const char *msg)
{
    struct agent *agent = aux;
    if (error) {
        SLOG_ERR("node %s: adding the gateway port: %s",
                 agent->config.node_name, msg);
        return;
    }
    char mac[18];
    pipeline_format_mac(agent->node.gateway_mac, mac);
    json_t *ops = json_pack("[{s:s, s:s, s:[[s, s, s]], s:{s:s}}]",
                            "op", "update", "table", "Interface",
                            "where", "name", "==", agent->config.gateway_port,
                            "row", "mac", mac);
    error = ops ? ovsdb_client_transact(agent->ovsdb, ops,
                                        on_gateway_mac_set, agent)
                : ENOMEM;
    json_decref(ops);
    if (error) {
        SLOG_ERR("node %s: setting the gateway MAC: %s",
                 agent->config.node_name, strerror(error));
    }
}

static void
on_bridge_ensured(void *aux, int error, json_t *result, const char *msg)
{
    struct agent *agent = aux;
    (void) result;
    if (error) {
        SLOG_ERR("node %s: setting up bridge %s: %s", agent->config.node_name,
                 agent->config.bridge, msg);
        return;
    }
    static const char *const gateway_ids[] = {"sluice-role", "gateway",
                                              NULL};
    struct ovsdb_port_spec spec = {
        .name = agent->config.gateway_port,
        .type = "internal",
        .external_ids = gateway_ids,
        .ofport_request = GATEWAY_OFPORT,
    };
    error = ovsdb_client_add_port(agent->ovsdb, agent->config.bridge, &spec,
                                  on_gateway_added, agent);
    if (error) {
        SLOG_ERR("node %s: adding the gateway port: %s",
                 agent->config.node_name, strerror(error));
    }
}

/* Makes sure the bridge exists with the settings sluice needs. */
static void
node_setup(struct agent *agent)
{
    const struct agent_config *c = &agent->config;
    json_t *protocols = json_pack("[s, [s, s, s]]", "set", "OpenFlow13",
                                  "OpenFlow14", "OpenFlow15");
    json_t *ops;
    if (ovsdb_client_find_by_name(agent->ovsdb, OVSDB_BRIDGE, c->bridge)) {
        ops = json_pack("[{s:s, s:s, s:[[s, s, s]], "
                        "s:{s:s, s:s, s:o}}]",
                        "op", "update", "table", "Bridge",
                        "where", "name", "==", c->bridge,
                        "row", "datapath_type", c->datapath_type,
                        "fail_mode", "secure", "protocols", protocols);
    } else {
        ops = json_pack("[{s:s, s:s, s:{s:s, s:s}, s:s},"
                        " {s:s, s:s, s:{s:s, s:[s, s]}, s:s},"
                        " {s:s, s:s, s:{s:s, s:[s, s], s:s, s:s, s:o},"
                        "  s:s},"
                        " {s:s, s:s, s:[], s:[[s, s, [s, s]]]}]",
                        "op", "insert", "table", "Interface",
                        "row", "name", c->bridge, "type", "internal",
                        "uuid-name", "iface",
                        "op", "insert", "table", "Port",
                        "row", "name", c->bridge, "interfaces",
                        "named-uuid", "iface",
                        "uuid-name", "port",
                        "op", "insert", "table", "Bridge",
                        "row", "name", c->bridge, "ports",
                        "named-uuid", "port",
                        "datapath_type", c->datapath_type,
                        "fail_mode", "secure", "protocols", protocols,
                        "uuid-name", "bridge",
                        "op", "mutate", "table", "Open_vSwitch",
                        "where", "mutations", "bridges", "insert",
                        "named-uuid", "bridge");
    }
    int error = ops ? ovsdb_client_transact(agent->ovsdb, ops,
                                            on_bridge_ensured, agent)
                    : ENOMEM;
    json_decref(ops);
    if (error) {
        SLOG_ERR("node %s: setting up bridge %s: %s", c->node_name,
                 c->bridge, strerror(error));
    }
}

static void
on_ovsdb_connected(void *aux)
{
    struct agent *agent = aux;
    SLOG_INFO("node %s: connected to ovsdb-server", agent->config.node_name);
    if (!agent->node_ready) {
        node_setup(agent);
    }
    agent_update_ready(agent);
}

static void
on_ovsdb_row_changed(void *aux, enum ovsdb_table table,
                     enum ovsdb_row_event event, const struct ovsdb_row *old,
                     const struct ovsdb_row *new)
{
    struct agent *agent = aux;
    (void) event;
    (void) old;
    if (table == OVSDB_INTERFACE && new) {
        egress_interface_changed(agent->egress, new);
        pods_interface_changed(agent, new);
    }
}

static void
on_ovsdb_disconnected(void *aux, int error, const char *reason)
{
    struct agent *agent = aux;
    SLOG_WARN("node %s: lost ovsdb-server: %s (%s)", agent->config.node_name,
              reason, strerror(error));
    agent_update_ready(agent);
}

/* Creates the directory that holds 'path', if needed. */
static int
make_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s", path);
    if (n < 0 || (size_t) n >= sizeof dir) {
        return ENAMETOOLONG;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        return 0;
    }
    *slash = '\0';
    if (mkdir(dir, 0755) && errno != EEXIST) {
        return errno;
    }
    return 0;
}

/* The pod MTU when the configuration leaves it out: the uplink's MTU less
 * what the tunnel adds, so that a full-size packet crosses nodes whole. */
static uint32_t
derive_pod_mtu(const struct agent *agent)
{
    const struct agent_config *c = &agent->config;
    unsigned int uplink_mtu = 1500;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/sys/class/net/%s/mtu", c->uplink_interface);
    FILE *file = fopen(path, "r");
    if (!file || fscanf(file, "%u", &uplink_mtu) != 1) {
        SLOG_WARN("node %s: cannot read the MTU of %s; assuming %u",
                  c->node_name, c->uplink_interface, uplink_mtu);
    }
    if (file) {
        fclose(file);
    }
    unsigned int pod_mtu = uplink_mtu;
    if (agent->overlay
        && tunnel_pod_mtu(uplink_mtu, agent->tunnel_type, false, 0,
                          &pod_mtu)) {
        SLOG_WARN("node %s: uplink MTU %u is too small for %s; using 576",
                  c->node_name, uplink_mtu,
                  tunnel_type_to_string(agent->tunnel_type));
        pod_mtu = 576;
    }
    return pod_mtu;
}

static void
on_ctl_done(void *aux, json_t *response)
{
    rpc_request_reply(aux, response);
}

/* sluicectl's requests: {"version": 1, "command": ..., "args": {...}}. */
static void
handle_ctl(void *aux, struct rpc_request *req, json_t *request)
{
    struct agent *agent = aux;
    const char *command = json_string_value(json_object_get(request,
                                                            "command"));
    if (json_integer_value(json_object_get(request, "version")) != 1
        || !command) {
        rpc_request_reply(req, json_pack("{s:i, s:i, s:s}", "version", 1,
                                         "status", 2, "error",
                                         "malformed request (this agent "
                                         "speaks control protocol 1)"));
    } else {
        egress_ctl_run(agent, cluster_etcd(agent->cluster), command,
                       json_object_get(request, "args"), on_ctl_done, req);
    }
    json_decref(request);
}

/* Second half of the start, once the pod subnet is known. */
static int
start_node(struct agent *agent, const char *pod_cidr)
{
    const struct agent_config *c = &agent->config;
    char err[256];
    int error = ipam_open(&agent->ipam, c->state_dir, pod_cidr, err,
                          sizeof err);
    if (error) {
        SLOG_ERR("node %s: %s", c->node_name, err);
        return error;
    }
    /* The nodes we knew before a restart keep their flows until the
     * datastore says otherwise. */
    char peers_path[PATH_MAX];
    snprintf(peers_path, sizeof peers_path, "%s/peers.json", c->state_dir);
    error = peers_load(&agent->peers, peers_path);
    if (error) {
        SLOG_WARN("node %s: ignoring %s: %s", c->node_name, peers_path,
                  strerror(error));
    } else if (agent->peers.n) {
        SLOG_INFO("node %s: %zu peers remembered from the last run",
                  c->node_name, agent->peers.n);
    }
    agent->pod_network = ipam_network(agent->ipam);
    agent->pod_prefix_len = ipam_prefix_len(agent->ipam);
    agent->node.gateway_ip = ipam_gateway(agent->ipam);

    /* The gateway MAC follows from its IP, so it survives restarts of
     * everything. */
    const uint8_t *ip = (const uint8_t *) &agent->node.gateway_ip.s_addr;
    uint8_t mac[6] = {0x0a, 0x58, ip[0], ip[1], ip[2], ip[3]};
    memcpy(agent->node.gateway_mac, mac, sizeof mac);

    char db[PATH_MAX];
    int n = snprintf(db, sizeof db, "%s/db.sock", c->ovs_rundir);
    if (n < 0 || (size_t) n >= sizeof db) {
        SLOG_ERR("node %s: ovs_rundir too long", c->node_name);
        return ENAMETOOLONG;
    }
    static const struct ovsdb_client_cbs cbs = {
        .connected = on_ovsdb_connected,
        .disconnected = on_ovsdb_disconnected,
        .row_changed = on_ovsdb_row_changed,
    };
    error = ovsdb_client_create(agent->loop, db, &cbs, agent, &agent->ovsdb);
    if (error) {
        SLOG_ERR("node %s: ovsdb client for %s: %s", c->node_name, db,
                 strerror(error));
        return error;
    }
    SLOG_INFO("node %s: started (pod CIDR %s, bridge %s, MTU %u%s%s)",
              c->node_name, pod_cidr, c->bridge, c->mtu,
              agent->overlay ? ", tunnels " : "",
              agent->overlay ? tunnel_type_to_string(agent->tunnel_type) : "");
    return 0;
}

static void
start_with_subnet(struct agent *agent, const char *pod_cidr)
{
    int error = start_node(agent, pod_cidr);
    if (error) {
        SLOG_ERR("node %s: cannot start: %s", agent->config.node_name,
                 strerror(error));
        agent->fatal_error = error;
        uv_stop(agent->loop);
    }
}

int
agent_start(struct agent *agent, uv_loop_t *loop, struct agent_config *config)
{
    memset(agent, 0, sizeof *agent);
    agent->loop = loop;
    peers_init(&agent->peers);
    uv_idle_init(loop, &agent->peers_changed);
    agent->peers_changed.data = agent;
    uv_timer_init(loop, &agent->sync_wait);
    agent->sync_wait.data = agent;
    agent->config = *config;
    memset(config, 0, sizeof *config);
    const struct agent_config *c = &agent->config;
    slog_set_level(c->log_level);
    snprintf(agent->not_ready_reason, sizeof agent->not_ready_reason,
             "starting");

    int error = tunnel_type_from_string(c->tunnel_type, &agent->tunnel_type);
    if (error) {
        SLOG_ERR("node %s: unknown tunnel_type '%s'", c->node_name,
                 c->tunnel_type);
        return error;
    }
    agent->overlay = c->node_ip != NULL;
    if (agent->overlay && !inet_pton(AF_INET, c->node_ip, &agent->node_ip)) {
        SLOG_ERR("node %s: node_ip '%s' is not an IPv4 address",
                 c->node_name, c->node_ip);
        return EINVAL;
    }
    if (!c->mtu) {
        agent->config.mtu = derive_pod_mtu(agent);
    }

    error = podif_ctx_create(&agent->podif);
    if (error) {
        SLOG_ERR("node %s: netlink: %s", c->node_name, strerror(error));
        return error;
    }

    error = make_parent_dir(c->cni_socket);
    if (error) {
        SLOG_ERR("node %s: directory of %s: %s", c->node_name, c->cni_socket,
                 strerror(error));
        return error;
    }
    error = cni_server_create(loop, c->cni_socket, pods_handle_cni, agent,
                              &agent->cni);
    if (!error) {
        error = make_parent_dir(c->ctl_socket);
    }
    if (!error) {
        error = rpc_server_create(loop, c->ctl_socket, handle_ctl, agent,
                                  &agent->ctl);
    }
    if (error) {
        return error;
    }

    if (c->etcd_endpoints) {
        error = cluster_start(agent, start_with_subnet, &agent->cluster);
        if (!error && agent->overlay) {
            error = egress_controller_start(agent,
                                            cluster_etcd(agent->cluster),
                                            &agent->egress);
        }
        if (error) {
            return error;
        }
    } else {
        error = start_node(agent, c->pod_cidr);
        if (error) {
            return error;
        }
    }
    return 0;
}

static struct pipeline_peer
to_pipeline_peer(const struct peer *peer)
{
    struct pipeline_peer pp = {
        .ip = peer->ip,
        .subnet = peer->subnet,
        .prefix_len = peer->prefix_len,
    };
    return pp;
}

/* Once per loop turn after peers changed (a watch delivers many at once):
 * commits their flows, updates egress state and remembers the peers for
 * the next start. */
static void
on_peers_changed(uv_idle_t *idle)
{
    struct agent *agent = idle->data;
    uv_idle_stop(idle);
    if (agent->ofctl && agent->flows_synced) {
        ofctl_commit(agent->ofctl, NULL, NULL);
    }
    egress_controller_peers_changed(agent->egress);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/peers.json", agent->config.state_dir);
    int error = peers_save(&agent->peers, path);
    if (error) {
        SLOG_WARN("node %s: saving %s: %s", agent->config.node_name, path,
                  strerror(error));
    }
}

static void
commit_peer_flows(struct agent *agent)
{
    uv_idle_start(&agent->peers_changed, on_peers_changed);
}

void
agent_peer_update(struct agent *agent, const struct peer *new)
{
    if (!strcmp(new->name, agent->config.node_name)) {
        return;
    }
    struct in_addr old_subnet;
    int change = peers_upsert(&agent->peers, new, &old_subnet);
    if (change == PEER_UNCHANGED) {
        return;
    } else if (change < 0) {
        SLOG_ERR("node %s: out of memory for peer %s",
                 agent->config.node_name, new->name);
        return;
    }
    char ip[INET_ADDRSTRLEN], subnet[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &new->ip, ip, sizeof ip);
    inet_ntop(AF_INET, &new->subnet, subnet, sizeof subnet);
    SLOG_INFO("node %s: peer %s %s at %s, pod subnet %s/%u",
              agent->config.node_name, new->name,
              change == PEER_ADDED ? "joined" : "changed", ip, subnet,
              new->prefix_len);
    if (agent->ofctl) {
        /* Without a flow table yet, start_flows() states every peer. */
        if (change == PEER_MODIFIED
            && old_subnet.s_addr != new->subnet.s_addr) {
            pipeline_remove_peer_flows(agent->ofctl, old_subnet);
        }
        struct pipeline_peer pp = to_pipeline_peer(new);
        pipeline_add_peer_flows(agent->ofctl, &agent->node, &pp);
    }
    commit_peer_flows(agent);
}

static void
forget_peer(struct agent *agent, struct peer *removed)
{
    SLOG_INFO("node %s: peer %s left", agent->config.node_name,
              removed->name);
    if (agent->ofctl) {
        pipeline_remove_peer_flows(agent->ofctl, removed->subnet);
    }
    free(removed->labels);
}

void
agent_peer_remove(struct agent *agent, const char *name)
{
    struct peer removed;
    if (peers_remove(&agent->peers, name, &removed)) {
        forget_peer(agent, &removed);
        commit_peer_flows(agent);
    }
}

void
agent_peers_resync_begin(struct agent *agent)
{
    peers_mark_stale(&agent->peers);
}

void
agent_peers_resync_end(struct agent *agent)
{
    struct peer removed;
    bool any = false;
    while (peers_sweep_one(&agent->peers, &removed)) {
        forget_peer(agent, &removed);
        any = true;
    }
    if (any) {
        commit_peer_flows(agent);
    }
}

void
agent_stop(struct agent *agent)
{
    rpc_server_destroy(agent->ctl);
    agent->ctl = NULL;
    egress_controller_destroy(agent->egress);
    agent->egress = NULL;
    cluster_destroy(agent->cluster);
    agent->cluster = NULL;
    cni_server_destroy(agent->cni);
    agent->cni = NULL;
    ofctl_destroy(agent->ofctl);
    agent->ofctl = NULL;
    ovsdb_client_destroy(agent->ovsdb);
    agent->ovsdb = NULL;
    pods_destroy(agent);
    peers_destroy(&agent->peers);
    uv_close((uv_handle_t *) &agent->peers_changed, NULL);
    uv_close((uv_handle_t *) &agent->sync_wait, NULL);
    podif_ctx_destroy(agent->podif);
    agent->podif = NULL;
    ipam_close(agent->ipam);
    agent->ipam = NULL;
    agent_config_destroy(&agent->config);
}
