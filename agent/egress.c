/*
 * The egress controller (see sluice/egress.h for the keys and the
 * ownership protocol).
 *
 * The controller mirrors the etcd keys it cares about in 'kv' (from one
 * range, then one watch of the whole prefix) and derives a model from them
 * after every batch of events: pools, egresses with their VNI, address and
 * holder.  Reconciling the model makes the datapath match it: claims and
 * takeovers, hosting (SNAT flows, a host route that makes the kernel answer
 * ARP, a gratuitous ARP), steering of local pods, BFD ports toward the
 * other eligible nodes, and the list of pods each egress applies to here.
 */
#include <sluice-config.h>

#include "sluice/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/agent.h"
#include "sluice/egress-model.h"
#include "sluice/egress-state.h"
#include "sluice/etcd.h"
#include "sluice/ipam.h"
#include "sluice/log.h"
#include "sluice/ofctl.h"
#include "sluice/ovsdb.h"
#include "sluice/podif.h"

SLOG_MODULE(egress);

#define BFD_PORT_PREFIX "sbfd-"

/* What this node does for one egress. */
struct hosting {
    char name[EGRESS_NAME_MAX + 1];
    uint32_t vni;
    uint32_t ip;
};

/* Steering applied to one local pod. */
struct steering {
    uint32_t ofport;
    char signature[256];       /* What was stated, to skip no-op updates. */
    char egress[EGRESS_NAME_MAX + 1];
};

/* A BFD port toward a peer. */
struct bfd_port {
    char name[16];
    struct in_addr ip;
    char node[EGRESS_NODE_NAME_MAX + 1];
    bool up;                   /* Last known session state. */
    bool was_up;               /* Ever up (so that "down" means lost). */
};

struct egress_controller {
    struct agent *agent;
    struct etcd_client *etcd;
    int64_t lease;
    struct etcd_watch *watch;
    uv_timer_t retry;
    uv_idle_t publish;         /* Publishes pod lists after pod changes. */
    json_t *kv;                /* key -> {"v": value, "c": create_rev}. */
    bool listed;               /* Initial range done? */
    struct egress_model model;
    struct egress_labels node_labels;

    struct hosting *hostings;
    size_t n_hostings;
    struct steering *steerings;
    size_t n_steerings;
    struct bfd_port *bfd;
    size_t n_bfd;
    json_t *claims;            /* Egress names with a claim in flight. */
    json_t *applied;           /* Egress name -> published pod list. */
    json_t *holders_seen;      /* Egress name -> {"node", "t"}: when we
                                * first saw its current holder. */
};

static void reconcile(struct egress_controller *);
static void start_listing(struct egress_controller *);
static void on_retry(uv_timer_t *);

/* Nodes. */

static const char *
self_name(const struct egress_controller *ctl)
{
    return ctl->agent->config.node_name;
}

static bool
node_eligible(const struct egress_controller *ctl, const struct egress *e,
              const char *node)
{
    const struct peer *peer = NULL;
    struct egress_labels labels = {NULL, 0};
    bool self = !strcmp(node, self_name(ctl));
    if (!self) {
        peer = peers_find(&ctl->agent->peers, node);
        if (!peer) {
            return false;
        }
        char err[128];
        if (peer->labels && egress_parse_labels(peer->labels, "node", "labels",
                                                &labels, err, sizeof err)) {
            return false;
        }
    }
    bool eligible = egress_node_eligible(
        e, (const struct egress_pool *const *) ctl->model.pools,
        ctl->model.n_pools, node, self ? &ctl->node_labels : &labels);
    if (!self) {
        egress_labels_destroy(&labels);
    }
    return eligible;
}

static bool
node_ip(const struct egress_controller *ctl, const char *node,
        struct in_addr *ip)
{
    if (!strcmp(node, self_name(ctl))) {
        *ip = ctl->agent->node_ip;
        return true;
    }
    const struct peer *peer = peers_find(&ctl->agent->peers, node);
    if (peer) {
        *ip = peer->ip;
    }
    return peer != NULL;
}

static char *
owner_record(const struct egress_controller *ctl)
{
    char since[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    json_t *o = json_pack("{s:s, s:s}", "node", self_name(ctl), "since",
                          since);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Claims and takeovers. */

struct claim {
    struct egress_controller *ctl;
    char name[EGRESS_NAME_MAX + 1];
    bool takeover;
};

static void
on_claimed(void *aux, int error, const struct etcd_result *result,
           const char *msg)
{
    struct claim *claim = aux;
    struct egress_controller *ctl = claim->ctl;
    json_object_del(ctl->claims, claim->name);
    if (error) {
        SLOG_WARN("egress %s: %s failed: %s", claim->name,
                  claim->takeover ? "takeover" : "claim", msg);
    } else if (result->succeeded) {
        SLOG_INFO("egress %s: node %s %s the egress IP", claim->name,
                  self_name(ctl), claim->takeover ? "took over" : "claimed");
    } else {
        SLOG_INFO("egress %s: another node holds the egress IP",
                  claim->name);
    }
    free(claim);
}

/* Creates owners/NAME for this node, or (with 'current', the holder's raw
 * record) replaces it if it still says what we saw. */
static void
claim_egress(struct egress_controller *ctl, const char *name,
             const char *current)
{
    if (!ctl->lease || json_object_get(ctl->claims, name)) {
        return;
    }
    char key[EGRESS_NAME_MAX + 16];
    snprintf(key, sizeof key, "owners/%s", name);
    char *record = owner_record(ctl);
    struct claim *claim = calloc(1, sizeof *claim);
    if (!record || !claim) {
        free(record);
        free(claim);
        return;
    }
    claim->ctl = ctl;
    snprintf(claim->name, sizeof claim->name, "%s", name);
    claim->takeover = current != NULL;
    int error;
    if (current) {
        struct etcd_txn *txn = etcd_txn_create(ctl->etcd);
        etcd_txn_compare_value(txn, key, ETCD_CMP_EQUAL, current,
                               strlen(current));
        etcd_txn_put(txn, ETCD_TXN_SUCCESS, key, record, strlen(record),
                     ctl->lease, 0);
        error = etcd_txn_commit(ctl->etcd, txn, on_claimed, claim);
    } else {
        error = etcd_create(ctl->etcd, key, record, strlen(record),
                            ctl->lease, on_claimed, claim);
    }
    free(record);
    if (error) {
        free(claim);
        return;
    }
    json_object_set_new(ctl->claims, name, json_true());
}

static void
on_etcd_done(void *aux, int error, const struct etcd_result *result,
             const char *msg)
{
    (void) result;
    if (error) {
        SLOG_WARN("%s: %s", (const char *) aux, msg);
    }
}

/* Hosting. */

static struct hosting *
find_hosting(struct egress_controller *ctl, const char *name)
{
    for (size_t i = 0; i < ctl->n_hostings; i++) {
        if (!strcmp(ctl->hostings[i].name, name)) {
            return &ctl->hostings[i];
        }
    }
    return NULL;
}

static void
host_route(struct egress_controller *ctl, bool add, uint32_t ip)
{
    struct agent *agent = ctl->agent;
    struct in_addr a = {htonl(ip)};
    char *err = NULL;
    if (podif_host_route(agent->podif, add, a, agent->config.gateway_port,
                         &err)) {
        SLOG_ERR("egress IP %s: %s", inet_ntoa(a), err);
        free(err);
    }
}

static void
start_hosting(struct egress_controller *ctl, const struct egress_state *st)
{
    struct agent *agent = ctl->agent;
    struct hosting *h = realloc(ctl->hostings,
                                (ctl->n_hostings + 1) * sizeof *h);
    if (!h) {
        return;
    }
    ctl->hostings = h;
    h = &h[ctl->n_hostings++];
    snprintf(h->name, sizeof h->name, "%s", st->egress->name);
    h->vni = st->vni;
    h->ip = st->ip;

    struct in_addr a = {htonl(st->ip)};
    if (agent->ofctl) {
        pipeline_set_egress_snat(agent->ofctl, &agent->node, st->vni, a);
    }
    /* The route makes the kernel answer ARP for the address on the uplink
     * (proxy ARP) and hand replies to the gateway port, where OVS de-NATs
     * them. */
    host_route(ctl, true, st->ip);
    char *err = NULL;
    if (podif_send_garp(agent->config.uplink_interface, a, &err)) {
        SLOG_WARN("egress %s: %s", st->egress->name, err);
        free(err);
    }
    SLOG_INFO("egress %s: node %s now holds %s", st->egress->name,
              self_name(ctl), inet_ntoa(a));
}

static void
stop_hosting(struct egress_controller *ctl, size_t i)
{
    struct hosting *h = &ctl->hostings[i];
    struct in_addr a = {htonl(h->ip)};
    host_route(ctl, false, h->ip);
    if (ctl->agent->ofctl) {
        pipeline_clear_egress_snat(ctl->agent->ofctl, h->vni);
    }
    SLOG_INFO("egress %s: node %s no longer holds %s", h->name,
              self_name(ctl), inet_ntoa(a));
    ctl->hostings[i] = ctl->hostings[--ctl->n_hostings];
}

/* Steering. */

/* Pods are tracked by the agent; the controller keeps only what it stated
 * for each, keyed by ofport. */
static struct steering *
find_steering(struct egress_controller *ctl, uint32_t ofport)
{
    for (size_t i = 0; i < ctl->n_steerings; i++) {
        if (ctl->steerings[i].ofport == ofport) {
            return &ctl->steerings[i];
        }
    }
    return NULL;
}

static void
clear_steering(struct egress_controller *ctl, uint32_t ofport)
{
    for (size_t i = 0; i < ctl->n_steerings; i++) {
        if (ctl->steerings[i].ofport == ofport) {
            if (ctl->agent->ofctl) {
                pipeline_clear_pod_egress(ctl->agent->ofctl, ofport);
            }
            ctl->steerings[i] = ctl->steerings[--ctl->n_steerings];
            return;
        }
    }
}

static void
steer_pod(struct egress_controller *ctl, const struct egress_pod *pod)
{
    struct agent *agent = ctl->agent;
    struct egress_labels labels = {NULL, 0};
    char err[256];
    if (pod->labels
        && egress_parse_labels_json(pod->labels, "pod", &labels, err,
                                    sizeof err)) {
        memset(&labels, 0, sizeof labels);
    }
    const struct egress *e = egress_select(
        (const struct egress *const *) ctl->model.egresses,
        ctl->model.n_egresses, pod->pod_namespace, pod->pod_name, &labels);
    egress_labels_destroy(&labels);
    if (!e || !agent->overlay) {
        clear_steering(ctl, pod->ofport);
        return;
    }
    const struct egress_state *st = egress_model_find(&ctl->model, e->name);

    struct pipeline_cidr exempt[EGRESS_MAX_EXEMPT];
    for (size_t i = 0; i < e->n_exempt && i < EGRESS_MAX_EXEMPT; i++) {
        exempt[i].network.s_addr = htonl(e->exempt[i].network);
        exempt[i].prefix_len = e->exempt[i].prefix_len;
    }
    struct pipeline_pod_egress pe = {
        .ofport = pod->ofport,
        .pod_ip = pod->ip,
        .vni = st->vni,
        .local = !strcmp(st->owner, self_name(ctl)),
        .exempt = exempt,
        .n_exempt = e->n_exempt,
    };
    if (!pe.local && (!st->owner[0] || !st->ip
                      || !node_ip(ctl, st->owner, &pe.owner_ip))) {
        /* No holder yet: drop rather than leave with the node's address. */
        pe.owner_ip.s_addr = 0;
    }

    char signature[256];
    snprintf(signature, sizeof signature, "%s|%u|%d|%08x|%u", e->name,
             pe.vni, pe.local, pe.owner_ip.s_addr, (unsigned) e->n_exempt);
    for (size_t i = 0; i < e->n_exempt; i++) {
        size_t len = strlen(signature);
        snprintf(signature + len, sizeof signature - len, ",%x/%u",
                 e->exempt[i].network, e->exempt[i].prefix_len);
    }
    struct steering *s = find_steering(ctl, pod->ofport);
    if (s && !strcmp(s->signature, signature)) {
        return;
    }
    if (!s) {
        s = realloc(ctl->steerings, (ctl->n_steerings + 1) * sizeof *s);
        if (!s) {
            return;
        }
        ctl->steerings = s;
        s = &s[ctl->n_steerings++];
        s->ofport = pod->ofport;
    }
    snprintf(s->signature, sizeof s->signature, "%s", signature);
    snprintf(s->egress, sizeof s->egress, "%s", e->name);
    if (agent->ofctl) {
        pipeline_set_pod_egress(agent->ofctl, &agent->node, &pe);
    }
}

static void publish_applied(struct egress_controller *);

/* The pod lists in etcd follow within a loop turn (a pod's state is final
 * only once its ADD or DEL has finished). */
static void
on_publish(uv_idle_t *idle)
{
    struct egress_controller *ctl = idle->data;
    uv_idle_stop(idle);
    publish_applied(ctl);
}

static void
schedule_publish(struct egress_controller *ctl)
{
    uv_idle_start(&ctl->publish, on_publish);
}

void
egress_pod_attached(struct egress_controller *ctl,
                    const struct egress_pod *pod)
{
    if (ctl) {
        steer_pod(ctl, pod);
        schedule_publish(ctl);
    }
}

void
egress_pod_detached(struct egress_controller *ctl, uint32_t ofport)
{
    if (ctl) {
        clear_steering(ctl, ofport);
        schedule_publish(ctl);
    }
}

void
egress_controller_peers_changed(struct egress_controller *ctl)
{
    if (ctl && ctl->listed) {
        reconcile(ctl);
    }
}

static void
steer_one(struct agent *agent, const struct egress_pod *pod, void *aux)
{
    (void) agent;
    steer_pod(aux, pod);
}

/* BFD toward the other nodes eligible for the egresses we may hold. */

static void
on_bfd_port_done(void *aux, int error, const char *msg)
{
    (void) aux;
    if (error) {
        SLOG_WARN("BFD port: %s", msg);
    }
}

static void
add_bfd_port(struct egress_controller *ctl, const char *node,
             struct in_addr ip)
{
    struct agent *agent = ctl->agent;
    struct bfd_port *b = realloc(ctl->bfd, (ctl->n_bfd + 1) * sizeof *b);
    if (!b) {
        return;
    }
    ctl->bfd = b;
    b = &b[ctl->n_bfd++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, BFD_PORT_PREFIX "%08x",
             ntohl(ip.s_addr));
    snprintf(b->node, sizeof b->node, "%s", node);
    b->ip = ip;

    char remote[INET_ADDRSTRLEN], interval[16];
    inet_ntop(AF_INET, &ip, remote, sizeof remote);
    snprintf(interval, sizeof interval, "%u",
             agent->config.egress_bfd_interval_ms);
    /* key=0: only VNI 0, i.e. BFD, arrives on this port; pod traffic keeps
     * using the flow-based port. */
    const char *options[] = {"remote_ip", remote, "key", "0", NULL};
    const char *ids[] = {"sluice-role", "bfd", "sluice-node", node, NULL};
    struct ovsdb_port_spec spec = {
        .name = b->name,
        .type = tunnel_type_to_string(agent->tunnel_type),
        .options = options,
        .external_ids = ids,
    };
    ovsdb_client_add_port(agent->ovsdb, agent->config.bridge, &spec,
                          on_bfd_port_done, NULL);
    const char *bfd[] = {"enable", "true", "min_tx", interval, "min_rx",
                         interval, "decay_min_rx", "0", NULL};
    ovsdb_client_update_map(agent->ovsdb, OVSDB_INTERFACE, b->name, "bfd",
                            bfd, NULL, on_bfd_port_done, NULL);
    SLOG_INFO("BFD toward node %s (%s) every %s ms", node, remote, interval);
}

static void
update_bfd(struct egress_controller *ctl)
{
    struct agent *agent = ctl->agent;
    if (!agent->overlay || !agent->ovsdb
        || !ovsdb_client_is_connected(agent->ovsdb)) {
        return;
    }
    /* Wanted: every peer eligible for an egress we are eligible for. */
    for (const struct peer *p = agent->peers.head; p; p = p->next) {
        bool wanted = false;
        for (size_t i = 0; !wanted && i < ctl->model.n_egresses; i++) {
            const struct egress *e = ctl->model.egresses[i];
            wanted = (node_eligible(ctl, e, self_name(ctl))
                      && node_eligible(ctl, e, p->name));
        }
        bool have = false;
        for (size_t i = 0; i < ctl->n_bfd; i++) {
            if (ctl->bfd[i].ip.s_addr == p->ip.s_addr) {
                have = true;
                if (!wanted) {
                    ovsdb_client_del_port(agent->ovsdb, ctl->bfd[i].name,
                                          on_bfd_port_done, NULL);
                    ctl->bfd[i] = ctl->bfd[--ctl->n_bfd];
                }
                break;
            }
        }
        if (wanted && !have) {
            add_bfd_port(ctl, p->name, p->ip);
        }
    }
    /* Ports toward nodes that left. */
    for (size_t i = 0; i < ctl->n_bfd;) {
        bool known = false;
        for (const struct peer *p = agent->peers.head; p && !known;
             p = p->next) {
            known = p->ip.s_addr == ctl->bfd[i].ip.s_addr;
        }
        if (!known) {
            ovsdb_client_del_port(agent->ovsdb, ctl->bfd[i].name,
                                  on_bfd_port_done, NULL);
            ctl->bfd[i] = ctl->bfd[--ctl->n_bfd];
        } else {
            i++;
        }
    }
}

/* The holder 'node' looks dead from here: try to take over what it held
 * of the egresses we are eligible for. */
static void
node_down(struct egress_controller *ctl, const char *node)
{
    uint64_t now = uv_now(ctl->agent->loop);
    uint64_t detection = 3 * ctl->agent->config.egress_bfd_interval_ms;
    for (size_t i = 0; i < ctl->model.n_egresses; i++) {
        const struct egress_state *st = &ctl->model.states[i];
        if (strcmp(st->owner, node) || !st->owner_value
            || !node_eligible(ctl, st->egress, self_name(ctl))) {
            continue;
        }
        /* A holder that took the address less than a detection time ago
         * took it while our session to it was already failing: we are
         * the one cut off (typically the node it took the address from),
         * and taking it back would black-hole the traffic.  Its lease
         * decides instead. */
        json_t *seen = json_object_get(ctl->holders_seen, st->egress->name);
        uint64_t since = json_integer_value(json_object_get(seen, "t"));
        if (now - since < detection) {
            SLOG_WARN("egress %s: holder %s lost its BFD session %llu ms "
                      "after taking the address; not taking over",
                      st->egress->name, node,
                      (unsigned long long) (now - since));
            continue;
        }
        SLOG_WARN("egress %s: holder %s lost its BFD session; taking over",
                  st->egress->name, node);
        claim_egress(ctl, st->egress->name,
                     json_string_value(st->owner_value));
    }
}

void
egress_interface_changed(struct egress_controller *ctl,
                         const struct ovsdb_row *row)
{
    if (!ctl || !row) {
        return;
    }
    const char *name = ovsdb_row_name(row);
    for (size_t i = 0; name && i < ctl->n_bfd; i++) {
        struct bfd_port *b = &ctl->bfd[i];
        if (strcmp(b->name, name)) {
            continue;
        }
        const char *state = ovsdb_row_map_get(row, "bfd_status", "state");
        bool up = state && !strcmp(state, "up");
        if (up != b->up) {
            SLOG_INFO("BFD toward node %s: %s", b->node, up ? "up" : "down");
        }
        if (up) {
            b->was_up = true;
        } else if (b->up && b->was_up) {
            node_down(ctl, b->node);
        }
        b->up = up;
    }
}

/* Which pods each egress applies to here, for `sluicectl egress list`. */
static void
collect_pod(struct agent *agent, const struct egress_pod *pod, void *aux)
{
    (void) agent;
    void **args = aux;
    struct egress_controller *ctl = args[0];
    json_t *lists = args[1];
    const struct steering *s = find_steering(ctl, pod->ofport);
    if (s) {
        json_t *list = json_object_get(lists, s->egress);
        if (!list) {
            list = json_array();
            json_object_set_new(lists, s->egress, list);
        }
        char name[320];
        snprintf(name, sizeof name, "%s/%s", pod->pod_namespace,
                 pod->pod_name);
        json_array_append_new(list, json_string(name));
    }
}

static void
publish_applied(struct egress_controller *ctl)
{
    if (!ctl->lease) {
        return;
    }
    json_t *lists = json_object();
    void *args[2] = {ctl, lists};
    pods_for_each(ctl->agent, collect_pod, args);
    for (size_t i = 0; i < ctl->model.n_egresses; i++) {
        const char *name = ctl->model.egresses[i]->name;
        json_t *list = json_object_get(lists, name);
        json_t *old = json_object_get(ctl->applied, name);
        if ((list && old && json_equal(list, old)) || (!list && !old)) {
            continue;
        }
        char key[EGRESS_NAME_MAX + EGRESS_NODE_NAME_MAX + 16];
        snprintf(key, sizeof key, "applied/%s/%s", name, self_name(ctl));
        if (list) {
            char *v = json_dumps(list, JSON_COMPACT);
            if (v) {
                etcd_put(ctl->etcd, key, v, strlen(v), ctl->lease, 0,
                         on_etcd_done, "publishing applied pods");
            }
            free(v);
            json_object_set(ctl->applied, name, list);
        } else {
            etcd_delete(ctl->etcd, key, 0, on_etcd_done,
                        "withdrawing applied pods");
            json_object_del(ctl->applied, name);
        }
    }
    json_decref(lists);
}

/* Makes everything match the model. */
static void
reconcile(struct egress_controller *ctl)
{
    struct agent *agent = ctl->agent;
    const char *self = self_name(ctl);

    uint64_t now = uv_now(agent->loop);
    for (size_t i = 0; i < ctl->model.n_egresses; i++) {
        const struct egress_state *st = &ctl->model.states[i];
        const char *name = st->egress->name;
        json_t *seen = json_object_get(ctl->holders_seen, name);
        if (!seen || strcmp(json_string_value(json_object_get(seen, "node")),
                            st->owner)) {
            json_object_set_new(ctl->holders_seen, name,
                                json_pack("{s:s, s:I}", "node", st->owner,
                                          "t", (json_int_t) now));
        }
        bool eligible = node_eligible(ctl, st->egress, self);
        if (eligible && !st->owner[0] && st->ip) {
            claim_egress(ctl, name, NULL);
        } else if (eligible && !strcmp(st->owner, self) && ctl->lease
                   && st->owner_lease != ctl->lease && st->owner_value) {
            /* Ours under a lease of an earlier run (or registration): bind
             * it to the current one, if etcd still says what we saw. */
            claim_egress(ctl, name, json_string_value(st->owner_value));
        }
        if (eligible && st->move_to && !strcmp(st->move_to, self)) {
            if (strcmp(st->owner, self) && st->owner_value) {
                SLOG_INFO("egress %s: moving here as asked", name);
                claim_egress(ctl, name, json_string_value(st->owner_value));
            } else if (!strcmp(st->owner, self)) {
                char key[EGRESS_NAME_MAX + 16];
                snprintf(key, sizeof key, "moves/%s", name);
                etcd_delete_if_value(ctl->etcd, key, self, strlen(self),
                                     on_etcd_done, "clearing a move");
            }
        }
    }

    /* Hosting follows ownership, and needs our lease to be alive. */
    for (size_t i = 0; i < ctl->n_hostings;) {
        const struct egress_state *st = egress_model_find(&ctl->model,
                                                   ctl->hostings[i].name);
        if (!ctl->lease || !st || strcmp(st->owner, self)
            || st->owner_lease != ctl->lease
            || st->ip != ctl->hostings[i].ip
            || st->vni != ctl->hostings[i].vni) {
            stop_hosting(ctl, i);
        } else {
            i++;
        }
    }
    for (size_t i = 0; ctl->lease && i < ctl->model.n_egresses; i++) {
        const struct egress_state *st = &ctl->model.states[i];
        /* A record that names us under an old lease is stale: it is
         * about to vanish with that lease, and then we claim again. */
        if (!strcmp(st->owner, self) && st->owner_lease == ctl->lease
            && st->ip && !find_hosting(ctl, st->egress->name)) {
            start_hosting(ctl, st);
        }
    }

    pods_for_each(agent, steer_one, ctl);
    update_bfd(ctl);
    publish_applied(ctl);
    if (agent->ofctl && agent->flows_synced) {
        ofctl_commit(agent->ofctl, NULL, NULL);
    }
}

int
egress_controller_add_flows(struct egress_controller *ctl)
{
    struct agent *agent = ctl->agent;
    uint32_t network;
    unsigned int plen;
    char err[128];
    struct pipeline_cidr cluster = {agent->pod_network,
                                    agent->pod_prefix_len};
    if (agent->config.cluster_cidr
        && !ipam_parse_cidr(agent->config.cluster_cidr, &network, &plen, err,
                            sizeof err)) {
        cluster.network.s_addr = htonl(network);
        cluster.prefix_len = plen;
    }
    int error = pipeline_add_egress_base_flows(agent->ofctl, &agent->node,
                                               cluster);
    for (size_t i = 0; !error && i < ctl->n_hostings; i++) {
        struct in_addr a = {htonl(ctl->hostings[i].ip)};
        error = pipeline_set_egress_snat(agent->ofctl, &agent->node,
                                         ctl->hostings[i].vni, a);
    }
    /* Steering is restated from scratch. */
    ctl->n_steerings = 0;
    if (!error) {
        pods_for_each(agent, steer_one, ctl);
    }
    return error;
}

/* etcd. */

static void
kv_set(struct egress_controller *ctl, const struct etcd_kv *kv)
{
    char *key = strndup(kv->key, kv->key_len);
    json_t *v = json_stringn(kv->value, kv->value_len);
    if (key && v) {
        json_object_set_new(ctl->kv, key,
                            json_pack("{s:o, s:I, s:I}", "v", v, "c",
                                      (json_int_t) kv->create_revision, "l",
                                      (json_int_t) kv->lease));
        v = NULL;
    }
    json_decref(v);
    free(key);
}

static bool
interesting(const char *key, size_t len)
{
    static const char *const prefixes[] = {"pools/", "egresses/",
                                           "egress-ips/", "owners/",
                                           "moves/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (len > n && !memcmp(key, prefixes[i], n)) {
            return true;
        }
    }
    return false;
}

static void
rebuild(struct egress_controller *ctl)
{
    egress_model_clear(&ctl->model);
    egress_model_build(&ctl->model, ctl->kv);
    reconcile(ctl);
}

static void
on_events(void *aux, const struct etcd_event *events, size_t n,
          int64_t revision)
{
    struct egress_controller *ctl = aux;
    (void) revision;
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        const struct etcd_kv *kv = &events[i].kv;
        if (!interesting(kv->key, kv->key_len)) {
            continue;
        }
        changed = true;
        if (events[i].type == ETCD_EVENT_PUT) {
            kv_set(ctl, kv);
        } else {
            char *key = strndup(kv->key, kv->key_len);
            if (key) {
                json_object_del(ctl->kv, key);
            }
            free(key);
        }
    }
    if (changed) {
        rebuild(ctl);
    }
}

static void
on_watch_compacted(void *aux, int64_t revision)
{
    struct egress_controller *ctl = aux;
    (void) revision;
    etcd_watch_destroy(ctl->watch);
    ctl->watch = NULL;
    start_listing(ctl);
}

static void
on_watch_failed(void *aux, int error, const char *msg)
{
    struct egress_controller *ctl = aux;
    (void) error;
    SLOG_ERR("egress watch failed: %s", msg);
    on_watch_compacted(ctl, 0);
}

static void
on_listed(void *aux, int error, const struct etcd_result *result,
          const char *msg)
{
    struct egress_controller *ctl = aux;
    if (error) {
        SLOG_WARN("listing egress state: %s", msg);
        uv_timer_start(&ctl->retry, on_retry, 1000, 0);
        return;
    }
    json_object_clear(ctl->kv);
    for (size_t i = 0; i < result->n_kvs; i++) {
        if (interesting(result->kvs[i].key, result->kvs[i].key_len)) {
            kv_set(ctl, &result->kvs[i]);
        }
    }
    static const struct etcd_watch_cbs cbs = {
        .events = on_events,
        .compacted = on_watch_compacted,
        .failed = on_watch_failed,
    };
    if (etcd_watch_create(ctl->etcd, "", ETCD_PREFIX, result->revision + 1,
                          &cbs, ctl, &ctl->watch)) {
        SLOG_ERR("cannot watch egress state");
    }
    bool first = !ctl->listed;
    ctl->listed = true;
    rebuild(ctl);
    if (first) {
        agent_connect_switch(ctl->agent);
    }
}

bool
egress_controller_is_listed(const struct egress_controller *ctl)
{
    return ctl->listed;
}

static void
start_listing(struct egress_controller *ctl)
{
    if (etcd_range(ctl->etcd, "", ETCD_PREFIX, on_listed, ctl)) {
        SLOG_ERR("cannot list egress state");
    }
}

static void
on_retry(uv_timer_t *timer)
{
    start_listing(timer->data);
}

int
egress_controller_start(struct agent *agent, struct etcd_client *etcd,
                        struct egress_controller **ctlp)
{
    struct egress_controller *ctl = calloc(1, sizeof *ctl);
    if (!ctl) {
        return ENOMEM;
    }
    ctl->agent = agent;
    ctl->etcd = etcd;
    ctl->kv = json_object();
    ctl->claims = json_object();
    ctl->applied = json_object();
    ctl->holders_seen = json_object();
    char err[256];
    if (agent->config.node_labels
        && egress_parse_labels(agent->config.node_labels, "node", "labels",
                               &ctl->node_labels, err, sizeof err)) {
        SLOG_ERR("node %s: %s", agent->config.node_name, err);
    }
    uv_timer_init(agent->loop, &ctl->retry);
    ctl->retry.data = ctl;
    uv_idle_init(agent->loop, &ctl->publish);
    ctl->publish.data = ctl;
    *ctlp = ctl;
    start_listing(ctl);
    return 0;
}

static void
on_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void
on_idle_closed(uv_handle_t *handle)
{
    struct egress_controller *ctl = handle->data;
    uv_close((uv_handle_t *) &ctl->retry, on_timer_closed);
}

void
egress_controller_destroy(struct egress_controller *ctl)
{
    if (!ctl) {
        return;
    }
    etcd_watch_destroy(ctl->watch);
    egress_model_clear(&ctl->model);
    egress_labels_destroy(&ctl->node_labels);
    json_decref(ctl->kv);
    json_decref(ctl->claims);
    json_decref(ctl->applied);
    json_decref(ctl->holders_seen);
    free(ctl->hostings);
    free(ctl->steerings);
    free(ctl->bfd);
    uv_close((uv_handle_t *) &ctl->publish, on_idle_closed);
}

void
egress_controller_set_lease(struct egress_controller *ctl, int64_t lease)
{
    if (!ctl) {
        return;
    }
    ctl->lease = lease;
    if (!lease) {
        /* Without a lease our ownership records are gone or going. */
        json_object_clear(ctl->applied);
    }
    if (ctl->listed) {
        reconcile(ctl);
    }
}
