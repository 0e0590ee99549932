/*
 * Cluster membership through etcd.
 *
 * Keys (under the configured prefix, /sluice/ by default):
 *
 *     subnets/10.244.1.0-24   node name; created with a compare-and-swap
 *                             transaction, never bound to a lease, so a
 *                             node that comes back gets its subnet again
 *     nodes/NAME              {"name", "ip", "pod_cidr", "tunnel_type",
 *                             "labels"}, bound to the node's lease: a node
 *                             that dies disappears when the lease expires
 *
 * Every node watches nodes/ and turns each event into the flows of one
 * peer (O(1) flow changes per event).  When etcd goes away the datapath
 * keeps what it has; the watch resumes from the next revision, so no event
 * is missed, and a compaction makes the node re-read the whole listing.
 */
#include <sluice-config.h>

#include "sluice/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/agent.h"
#include "sluice/egress.h"
#include "sluice/etcd.h"
#include "sluice/ipam.h"
#include "sluice/log.h"

SLOG_MODULE(cluster);

/* Lease TTL of node registrations (seconds). */
#define NODE_LEASE_TTL 10

/* Delay before retrying a failed step. */
#define RETRY_MS 1000

enum cluster_step {
    STEP_SUBNET,    /* Finding or allocating the node's subnet. */
    STEP_LEASE,     /* Granting the node lease. */
    STEP_REGISTER,  /* Writing nodes/NAME. */
    STEP_LIST,      /* Reading nodes/ before watching. */
    STEP_WATCHING,  /* Up. */
};

struct cluster {
    struct agent *agent;
    struct etcd_client *etcd;
    enum cluster_step step;
    uv_timer_t retry;
    cluster_subnet_cb *subnet_cb;
    char subnet[IPAM_CIDR_STRLEN];   /* Our pod subnet, once known. */
    bool subnet_known;
    int64_t lease;
    struct etcd_lease_keeper *keeper;
    struct etcd_watch *watch;
    bool destroyed;
};

static void run_step(struct cluster *);
static void on_retry(uv_timer_t *);

static void
retry_later(struct cluster *cluster, enum cluster_step step)
{
    cluster->step = step;
    uv_timer_start(&cluster->retry, on_retry, RETRY_MS, 0);
}

static void
on_retry(uv_timer_t *timer)
{
    run_step(timer->data);
}

/* "10.244.1.0/24" <-> "subnets/10.244.1.0-24". */
static void
subnet_key(const char *cidr, char *key, size_t size)
{
    snprintf(key, size, "subnets/%s", cidr);
    char *slash = strrchr(key, '/');
    if (slash) {
        *slash = '-';
    }
}

static void
subnet_known(struct cluster *cluster, const char *cidr)
{
    if (cidr != cluster->subnet) {
        snprintf(cluster->subnet, sizeof cluster->subnet, "%s", cidr);
    }
    cluster->subnet_known = true;
    SLOG_INFO("node %s: pod subnet %s", cluster->agent->config.node_name,
              cidr);
    cluster_subnet_cb *cb = cluster->subnet_cb;
    cluster->subnet_cb = NULL;
    if (cb) {
        cb(cluster->agent, cidr);
    }
    cluster->step = STEP_LEASE;
    run_step(cluster);
}

static void
on_subnet_claimed(void *aux, int error, const struct etcd_result *result,
                  const char *msg)
{
    struct cluster *cluster = aux;
    const char *node = cluster->agent->config.node_name;
    if (error) {
        SLOG_WARN("node %s: claiming subnet %s: %s", node, cluster->subnet,
                  msg);
        if (!cluster->subnet_known) {
            retry_later(cluster, STEP_SUBNET);
        }
        return;
    }
    const struct etcd_result *current = result->n_responses
                                        ? &result->responses[0] : NULL;
    if (!result->succeeded && current && current->n_kvs
        && (current->kvs[0].value_len != strlen(node)
            || memcmp(current->kvs[0].value, node, strlen(node)))) {
        SLOG_ERR("node %s: pod subnet %s belongs to node %.*s in etcd",
                 node, cluster->subnet, (int) current->kvs[0].value_len,
                 current->kvs[0].value);
        if (!cluster->subnet_known) {
            /* Someone took the candidate first: look again. */
            retry_later(cluster, STEP_SUBNET);
        }
        return;
    }
    if (!cluster->subnet_known) {
        subnet_known(cluster, cluster->subnet);
    }
}

/* Claims 'cidr' for this node (or confirms the claim). */
static void
claim_subnet(struct cluster *cluster, const char *cidr)
{
    char key[64];
    const char *node = cluster->agent->config.node_name;
    if (cidr != cluster->subnet) {
        snprintf(cluster->subnet, sizeof cluster->subnet, "%s", cidr);
    }
    subnet_key(cidr, key, sizeof key);
    int error = etcd_create(cluster->etcd, key, node, strlen(node), 0,
                            on_subnet_claimed, cluster);
    if (error) {
        SLOG_WARN("node %s: claiming subnet %s: %s", node, cidr,
                  strerror(error));
        if (!cluster->subnet_known) {
            retry_later(cluster, STEP_SUBNET);
        }
    }
}

/* Picks our subnet from the listing of subnets/: the one already ours, or
 * the first free one of the cluster CIDR. */
static void
on_subnets_listed(void *aux, int error, const struct etcd_result *result,
                  const char *msg)
{
    struct cluster *cluster = aux;
    const struct agent_config *c = &cluster->agent->config;
    if (error) {
        SLOG_WARN("node %s: listing subnets: %s", c->node_name, msg);
        retry_later(cluster, STEP_SUBNET);
        return;
    }
    for (size_t i = 0; i < result->n_kvs; i++) {
        const struct etcd_kv *kv = &result->kvs[i];
        if (kv->value_len == strlen(c->node_name)
            && !memcmp(kv->value, c->node_name, kv->value_len)) {
            char cidr[IPAM_CIDR_STRLEN];
            /* "subnets/10.244.1.0-24" -> "10.244.1.0/24". */
            snprintf(cidr, sizeof cidr, "%.*s", (int) kv->key_len - 8,
                     kv->key + 8);
            char *dash = strrchr(cidr, '-');
            if (dash) {
                *dash = '/';
            }
            subnet_known(cluster, cidr);
            return;
        }
    }

    uint32_t network;
    unsigned int plen;
    char err[128];
    if (ipam_parse_cidr(c->cluster_cidr, &network, &plen, err, sizeof err)
        || plen > c->node_cidr_prefix) {
        SLOG_ERR("node %s: cluster_cidr %s cannot hold /%u subnets",
                 c->node_name, c->cluster_cidr, c->node_cidr_prefix);
        return;
    }
    uint64_t n = UINT64_C(1) << (c->node_cidr_prefix - plen);
    uint32_t step = UINT32_C(1) << (32 - c->node_cidr_prefix);
    for (uint64_t i = 0; i < n; i++) {
        struct in_addr a = {htonl(network + (uint32_t) i * step)};
        char cidr[IPAM_CIDR_STRLEN], key[64];
        snprintf(cidr, sizeof cidr, "%s/%u", inet_ntoa(a),
                 c->node_cidr_prefix);
        subnet_key(cidr, key, sizeof key);
        bool taken = false;
        for (size_t j = 0; j < result->n_kvs && !taken; j++) {
            taken = (result->kvs[j].key_len == strlen(key)
                     && !memcmp(result->kvs[j].key, key, strlen(key)));
        }
        if (!taken) {
            claim_subnet(cluster, cidr);
            return;
        }
    }
    SLOG_ERR("node %s: no free /%u left in cluster_cidr %s", c->node_name,
             c->node_cidr_prefix, c->cluster_cidr);
    retry_later(cluster, STEP_SUBNET);
}

static void
find_subnet(struct cluster *cluster)
{
    const struct agent_config *c = &cluster->agent->config;
    char stored[IPAM_CIDR_STRLEN];
    if (c->pod_cidr) {
        /* Configured: claim it, but do not wait for etcd to start. */
        claim_subnet(cluster, c->pod_cidr);
        if (!cluster->subnet_known) {
            subnet_known(cluster, c->pod_cidr);
        }
    } else if (!ipam_stored_cidr(c->state_dir, stored, sizeof stored)) {
        /* Ours from a previous run: reuse it even while etcd is away. */
        claim_subnet(cluster, stored);
        if (!cluster->subnet_known) {
            subnet_known(cluster, stored);
        }
    } else {
        int error = etcd_range(cluster->etcd, "subnets/", ETCD_PREFIX,
                               on_subnets_listed, cluster);
        if (error) {
            retry_later(cluster, STEP_SUBNET);
        }
    }
}

/* Node records. */

static json_t *
node_record(const struct cluster *cluster)
{
    const struct agent_config *c = &cluster->agent->config;
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", c->node_name,
                     "ip", c->node_ip, "pod_cidr", cluster->subnet,
                     "tunnel_type", c->tunnel_type,
                     "labels", c->node_labels ? c->node_labels : "");
}

/* Parses a node record into 'peer'.  Returns false if it is malformed. */
static bool
parse_node_record(const char *value, size_t len, struct peer *peer)
{
    json_t *root = json_loadb(value, len, 0, NULL);
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *ip = json_string_value(json_object_get(root, "ip"));
    const char *cidr = json_string_value(json_object_get(root, "pod_cidr"));
    const char *labels = json_string_value(json_object_get(root, "labels"));
    uint32_t network;
    unsigned int plen;
    char err[128];
    bool ok = (name && ip && cidr && strlen(name) <= PEER_NAME_MAX
               && inet_pton(AF_INET, ip, &peer->ip) == 1
               && !ipam_parse_cidr(cidr, &network, &plen, err, sizeof err));
    if (ok) {
        snprintf(peer->name, sizeof peer->name, "%s", name);
        peer->subnet.s_addr = htonl(network);
        peer->prefix_len = plen;
        peer->labels = labels && labels[0] ? strdup(labels) : NULL;
    }
    json_decref(root);
    return ok;
}

static void
apply_node_kv(struct cluster *cluster, const struct etcd_kv *kv)
{
    struct peer peer;
    memset(&peer, 0, sizeof peer);
    if (!parse_node_record(kv->value, kv->value_len, &peer)) {
        SLOG_WARN("ignoring malformed node record %.*s", (int) kv->key_len,
                  kv->key);
        return;
    }
    agent_peer_update(cluster->agent, &peer);
    free(peer.labels);
}

static void
on_node_events(void *aux, const struct etcd_event *events, size_t n,
               int64_t revision)
{
    struct cluster *cluster = aux;
    (void) revision;
    for (size_t i = 0; i < n; i++) {
        const struct etcd_event *e = &events[i];
        if (e->type == ETCD_EVENT_PUT) {
            apply_node_kv(cluster, &e->kv);
        } else if (e->kv.key_len > 6) {
            char name[PEER_NAME_MAX + 1];
            snprintf(name, sizeof name, "%.*s", (int) e->kv.key_len - 6,
                     e->kv.key + 6);
            agent_peer_remove(cluster->agent, name);
            if (!strcmp(name, cluster->agent->config.node_name)
                && cluster->step == STEP_WATCHING) {
                /* Our own record vanished (lease expired while we were
                 * cut off): register again. */
                SLOG_WARN("node %s: registration vanished; registering "
                          "again", name);
                etcd_lease_keeper_destroy(cluster->keeper);
                cluster->keeper = NULL;
                egress_controller_set_lease(cluster->agent->egress, 0);
                cluster->step = STEP_LEASE;
                run_step(cluster);
            }
        }
    }
}

static void
on_watch_connected(void *aux, int64_t revision)
{
    struct cluster *cluster = aux;
    SLOG_INFO("node %s: watching nodes (etcd revision %lld)",
              cluster->agent->config.node_name, (long long) revision);
}

static void
on_watch_disconnected(void *aux, int error, const char *msg)
{
    struct cluster *cluster = aux;
    (void) error;
    SLOG_WARN("node %s: lost the etcd watch (%s); the datapath keeps its "
              "flows", cluster->agent->config.node_name, msg);
}

static void
restart_listing(struct cluster *cluster)
{
    etcd_watch_destroy(cluster->watch);
    cluster->watch = NULL;
    retry_later(cluster, STEP_LIST);
}

static void
on_watch_compacted(void *aux, int64_t compact_revision)
{
    struct cluster *cluster = aux;
    SLOG_WARN("node %s: etcd compacted to revision %lld; re-reading nodes",
              cluster->agent->config.node_name, (long long) compact_revision);
    restart_listing(cluster);
}

static void
on_watch_failed(void *aux, int error, const char *msg)
{
    struct cluster *cluster = aux;
    (void) error;
    SLOG_ERR("node %s: etcd watch failed: %s", cluster->agent->config.node_name,
             msg);
    restart_listing(cluster);
}

static void
on_nodes_listed(void *aux, int error, const struct etcd_result *result,
                const char *msg)
{
    struct cluster *cluster = aux;
    if (error) {
        SLOG_WARN("node %s: listing nodes: %s",
                  cluster->agent->config.node_name, msg);
        retry_later(cluster, STEP_LIST);
        return;
    }
    agent_peers_resync_begin(cluster->agent);
    for (size_t i = 0; i < result->n_kvs; i++) {
        apply_node_kv(cluster, &result->kvs[i]);
    }
    agent_peers_resync_end(cluster->agent);

    static const struct etcd_watch_cbs cbs = {
        .events = on_node_events,
        .connected = on_watch_connected,
        .disconnected = on_watch_disconnected,
        .compacted = on_watch_compacted,
        .failed = on_watch_failed,
    };
    error = etcd_watch_create(cluster->etcd, "nodes/", ETCD_PREFIX,
                              result->revision + 1, &cbs, cluster,
                              &cluster->watch);
    if (error) {
        SLOG_ERR("node %s: cannot watch nodes: %s",
                 cluster->agent->config.node_name, strerror(error));
        retry_later(cluster, STEP_LIST);
        return;
    }
    cluster->step = STEP_WATCHING;
}

static void
on_lease_lost(void *aux, int64_t id, int error, const char *msg)
{
    struct cluster *cluster = aux;
    (void) error;
    SLOG_WARN("node %s: lost etcd lease %llx (%s); registering again",
              cluster->agent->config.node_name, (unsigned long long) id, msg);
    etcd_lease_keeper_destroy(cluster->keeper);
    cluster->keeper = NULL;
    cluster->lease = 0;
    egress_controller_set_lease(cluster->agent->egress, 0);
    retry_later(cluster, STEP_LEASE);
}

static void
on_registered(void *aux, int error, const struct etcd_result *result,
              const char *msg)
{
    struct cluster *cluster = aux;
    (void) result;
    if (error) {
        SLOG_WARN("node %s: registering: %s",
                  cluster->agent->config.node_name, msg);
        retry_later(cluster, STEP_REGISTER);
        return;
    }
    SLOG_INFO("node %s: registered in etcd (lease %llx)",
              cluster->agent->config.node_name,
              (unsigned long long) cluster->lease);
    egress_controller_set_lease(cluster->agent->egress, cluster->lease);
    if (cluster->step == STEP_REGISTER) {
        cluster->step = cluster->watch ? STEP_WATCHING : STEP_LIST;
        if (!cluster->watch) {
            run_step(cluster);
        }
    }
}

static void
on_lease_granted(void *aux, int error, int64_t id, int64_t ttl,
                 const char *msg)
{
    struct cluster *cluster = aux;
    if (error) {
        SLOG_WARN("node %s: granting a lease: %s",
                  cluster->agent->config.node_name, msg);
        retry_later(cluster, STEP_LEASE);
        return;
    }
    cluster->lease = id;
    error = etcd_lease_keeper_create(cluster->etcd, id, ttl, on_lease_lost,
                                     cluster, &cluster->keeper);
    if (error) {
        retry_later(cluster, STEP_LEASE);
        return;
    }
    cluster->step = STEP_REGISTER;
    run_step(cluster);
}

static void
run_step(struct cluster *cluster)
{
    int error = 0;
    switch (cluster->step) {
    case STEP_SUBNET:
        find_subnet(cluster);
        return;
    case STEP_LEASE:
        error = etcd_lease_grant(cluster->etcd, NODE_LEASE_TTL,
                                 on_lease_granted, cluster);
        break;
    case STEP_REGISTER: {
        char key[PEER_NAME_MAX + 8];
        snprintf(key, sizeof key, "nodes/%s",
                 cluster->agent->config.node_name);
        json_t *record = node_record(cluster);
        char *value = record ? json_dumps(record, JSON_COMPACT) : NULL;
        json_decref(record);
        error = value ? etcd_put(cluster->etcd, key, value, strlen(value),
                                 cluster->lease, 0, on_registered, cluster)
                      : ENOMEM;
        free(value);
        break;
    }
    case STEP_LIST:
        error = etcd_range(cluster->etcd, "nodes/", ETCD_PREFIX,
                           on_nodes_listed, cluster);
        break;
    case STEP_WATCHING:
        return;
    }
    if (error) {
        SLOG_WARN("node %s: etcd request failed: %s",
                  cluster->agent->config.node_name, strerror(error));
        retry_later(cluster, cluster->step);
    }
}

int
cluster_start(struct agent *agent, cluster_subnet_cb *subnet_cb,
              struct cluster **clusterp)
{
    const struct agent_config *c = &agent->config;
    struct cluster *cluster = calloc(1, sizeof *cluster);
    if (!cluster) {
        return ENOMEM;
    }
    cluster->agent = agent;
    cluster->subnet_cb = subnet_cb;

    /* "http://a:2379,http://b:2379" -> a NULL-terminated list. */
    char *list = strdup(c->etcd_endpoints);
    const char *endpoints[16];
    size_t n = 0;
    for (char *save = NULL, *tok = list ? strtok_r(list, ",", &save) : NULL;
         tok && n < 15; tok = strtok_r(NULL, ",", &save)) {
        endpoints[n++] = tok;
    }
    endpoints[n] = NULL;
    struct etcd_client_options options = {
        .endpoints = endpoints,
        .prefix = c->etcd_prefix,
        .ca_file = c->etcd_ca_file,
        .cert_file = c->etcd_cert_file,
        .key_file = c->etcd_key_file,
    };
    int error = n ? etcd_client_create(agent->loop, &options, &cluster->etcd)
                  : EINVAL;
    free(list);
    if (error) {
        SLOG_ERR("node %s: etcd client for %s: %s", c->node_name,
                 c->etcd_endpoints, strerror(error));
        free(cluster);
        return error;
    }
    uv_timer_init(agent->loop, &cluster->retry);
    cluster->retry.data = cluster;
    cluster->step = STEP_SUBNET;
    *clusterp = cluster;
    run_step(cluster);
    return 0;
}

static void
on_retry_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void
cluster_destroy(struct cluster *cluster)
{
    if (!cluster) {
        return;
    }
    etcd_watch_destroy(cluster->watch);
    etcd_lease_keeper_destroy(cluster->keeper);
    etcd_client_destroy(cluster->etcd);
    uv_close((uv_handle_t *) &cluster->retry, on_retry_closed);
}

struct etcd_client *
cluster_etcd(const struct cluster *cluster)
{
    return cluster ? cluster->etcd : NULL;
}

bool
cluster_is_registered(const struct cluster *cluster)
{
    return cluster && cluster->step == STEP_WATCHING;
}
