/*
 * The control API behind sluicectl (protocol: sluice/ctl-proto.h): pools
 * and egresses are validated against a fresh read of etcd, then written
 * with transactions that fail if another writer got there first.
 */
#include <sluice-config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/agent.h"
#include "sluice/egress.h"
#include "sluice/egress-model.h"
#include "sluice/egress-state.h"
#include "sluice/etcd.h"
#include "sluice/log.h"

SLOG_MODULE(egress_ctl);

enum {
    STATUS_OK = 0,
    STATUS_FAILED = 1,  /* Datastore trouble and the like. */
    STATUS_INVALID = 2, /* Refused: the request is wrong. */
};

/* One control request in progress. */
struct ctl_call {
    struct etcd_client *etcd;
    char command[32];
    json_t *args;
    json_t *kv;             /* Fresh mirror of the keys. */
    json_t *applied;        /* Egress name -> pods, from applied/. */
    struct egress_model model;
    egress_ctl_done *done;
    void *aux;
    char *name;             /* Object the write concerns. */
    char ip[INET_ADDRSTRLEN];
};

static json_t *
response_ok(json_t *result)
{
    return json_pack("{s:i, s:i, s:o}", "version", 1, "status", STATUS_OK,
                     "result", result ? result : json_object());
}

static void call_finish(struct ctl_call *call, json_t *response);

static void __attribute__((format(printf, 3, 4)))
call_fail(struct ctl_call *call, int status, const char *fmt, ...)
{
    char msg[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    /* One line, always. */
    for (char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    call_finish(call, json_pack("{s:i, s:i, s:s}", "version", 1, "status",
                                status, "error", msg));
}

static void
call_finish(struct ctl_call *call, json_t *response)
{
    call->done(call->aux, response);
    egress_model_clear(&call->model);
    json_decref(call->kv);
    json_decref(call->applied);
    json_decref(call->args);
    free(call->name);
    free(call);
}

/* Usage of 'pool': addresses taken inside it. */
static void
pool_usage(const struct ctl_call *call, const struct egress_pool *pool,
           uint64_t *total, uint64_t *used)
{
    egress_pool_usage(pool, call->model.in_use, call->model.n_in_use, total,
                      used);
}

static bool
ip_in_use(const struct egress_model *m, uint32_t ip)
{
    for (size_t i = 0; i < m->n_in_use; i++) {
        if (m->in_use[i] == ip) {
            return true;
        }
    }
    return false;
}

static json_t *
pool_entry(const struct ctl_call *call, const struct egress_pool *pool)
{
    uint64_t total = 0, used = 0;
    pool_usage(call, pool, &total, &used);
    json_t *users = json_array();
    for (size_t i = 0; i < call->model.n_egresses; i++) {
        const struct egress *e = call->model.egresses[i];
        if (e->pool && !strcmp(e->pool, pool->name)) {
            json_array_append_new(users, json_string(e->name));
        }
    }
    return json_pack("{s:o, s:I, s:I, s:o}", "pool",
                     egress_pool_to_json(pool), "total", (json_int_t) total,
                     "used", (json_int_t) used, "egresses", users);
}

static json_t *
egress_entry(const struct ctl_call *call, const struct egress_state *st)
{
    char ip[INET_ADDRSTRLEN] = "";
    if (st->ip) {
        egress_ip_to_string(st->ip, ip);
    }
    json_t *pods = json_array();
    json_t *lists = json_object_get(call->applied, st->egress->name);
    const char *node;
    json_t *list;
    json_object_foreach (lists, node, list) {
        size_t i;
        json_t *pod;
        json_array_foreach (list, i, pod) {
            json_array_append(pods, pod);
        }
    }
    return json_pack("{s:o, s:s?, s:s?, s:s?, s:o}", "egress",
                     egress_to_json(st->egress), "ip", ip[0] ? ip : NULL,
                     "node", st->owner[0] ? st->owner : NULL, "since",
                     st->since[0] ? st->since : NULL, "pods", pods);
}

static const char *
arg_name(struct ctl_call *call)
{
    const char *name = json_string_value(json_object_get(call->args,
                                                         "name"));
    if (!name || !egress_name_is_valid(name)) {
        call_fail(call, STATUS_INVALID, "a valid 'name' is required");
        return NULL;
    }
    return name;
}

static void
on_written(void *aux, int error, const struct etcd_result *result,
           const char *msg)
{
    struct ctl_call *call = aux;
    if (error) {
        call_fail(call, STATUS_FAILED, "etcd: %s", msg);
    } else if (!result->succeeded) {
        call_fail(call, STATUS_INVALID, "%s changed meanwhile (created or "
                  "deleted by another request); nothing was written",
                  call->name);
    } else if (!strcmp(call->command, "egress.create")) {
        SLOG_INFO("egress %s created with IP %s", call->name, call->ip);
        call_finish(call, response_ok(json_pack("{s:s}", "ip", call->ip)));
    } else {
        SLOG_INFO("%s %s done", call->command, call->name);
        call_finish(call, response_ok(NULL));
    }
}

static void
commit(struct ctl_call *call, struct etcd_txn *txn)
{
    int error = etcd_txn_commit(call->etcd, txn, on_written, call);
    if (error) {
        call_fail(call, STATUS_FAILED, "etcd: %s", strerror(error));
    }
}

static void
ctl_pool_create(struct ctl_call *call)
{
    char err[512];
    struct egress_pool *pool;
    if (egress_pool_from_json(json_object_get(call->args, "pool"), &pool, err,
                              sizeof err)) {
        call_fail(call, STATUS_INVALID, "%s", err);
        return;
    }
    call->name = strdup(pool->name);
    if (egress_model_find_pool(&call->model, pool->name)) {
        call_fail(call, STATUS_INVALID, "pool '%s' already exists",
                  pool->name);
    } else if (egress_pool_check(
                   pool, (const struct egress_pool *const *) call->model.pools,
                   call->model.n_pools,
                   (const struct egress *const *) call->model.egresses,
                   call->model.n_egresses, err, sizeof err)) {
        call_fail(call, STATUS_INVALID, "%s", err);
    } else {
        char key[EGRESS_NAME_MAX + 16], *value = egress_pool_to_string(pool);
        snprintf(key, sizeof key, "pools/%s", pool->name);
        struct etcd_txn *txn = etcd_txn_create(call->etcd);
        etcd_txn_compare(txn, key, ETCD_CMP_CREATE, ETCD_CMP_EQUAL, 0);
        etcd_txn_put(txn, ETCD_TXN_SUCCESS, key, value, strlen(value), 0, 0);
        free(value);
        commit(call, txn);
    }
    egress_pool_destroy(pool);
}

static void
ctl_pool_delete(struct ctl_call *call)
{
    const char *name = arg_name(call);
    if (!name) {
        return;
    }
    char err[512];
    call->name = strdup(name);
    if (!egress_model_find_pool(&call->model, name)) {
        call_fail(call, STATUS_INVALID, "no pool '%s'", name);
    } else if (egress_pool_check_delete(
                   name, (const struct egress *const *) call->model.egresses,
                   call->model.n_egresses, err, sizeof err)) {
        call_fail(call, STATUS_INVALID, "%s", err);
    } else {
        char key[EGRESS_NAME_MAX + 16];
        snprintf(key, sizeof key, "pools/%s", name);
        struct etcd_txn *txn = etcd_txn_create(call->etcd);
        etcd_txn_compare(txn, key, ETCD_CMP_CREATE,
                         ETCD_CMP_NOT_EQUAL, 0);
        etcd_txn_delete(txn, ETCD_TXN_SUCCESS, key, 0);
        commit(call, txn);
    }
}

static void
ctl_egress_create(struct ctl_call *call)
{
    char err[512];
    struct egress *e;
    if (egress_from_json(json_object_get(call->args, "egress"), &e, err,
                         sizeof err)) {
        call_fail(call, STATUS_INVALID, "%s", err);
        return;
    }
    call->name = strdup(e->name);
    uint32_t ip = e->ip;
    const struct egress_pool *pool = (e->pool
                                      ? egress_model_find_pool(&call->model,
                                                               e->pool)
                                      : NULL);
    int error;
    if (egress_model_find(&call->model, e->name)) {
        call_fail(call, STATUS_INVALID, "egress '%s' already exists",
                  e->name);
    } else if ((error = egress_check(
                    e, (const struct egress_pool *const *) call->model.pools,
                    call->model.n_pools,
                    (const struct egress *const *) call->model.egresses,
                    call->model.n_egresses, err, sizeof err))) {
        call_fail(call, STATUS_INVALID, "%s", err);
    } else if (ip && ip_in_use(&call->model, ip)) {
        call_fail(call, STATUS_INVALID, "egress IP %s is already in use",
                  egress_ip_to_string(ip, call->ip));
    } else if (!ip && egress_pool_first_free(pool, call->model.in_use,
                                             call->model.n_in_use, &ip)) {
        call_fail(call, STATUS_INVALID, "pool '%s' has no free address",
                  e->pool);
    } else {
        egress_ip_to_string(ip, call->ip);
        char key[EGRESS_NAME_MAX + 16], ip_key[32];
        char *value = egress_to_string(e);
        snprintf(key, sizeof key, "egresses/%s", e->name);
        snprintf(ip_key, sizeof ip_key, "egress-ips/%s", call->ip);
        struct etcd_txn *txn = etcd_txn_create(call->etcd);
        etcd_txn_compare(txn, key, ETCD_CMP_CREATE, ETCD_CMP_EQUAL, 0);
        etcd_txn_compare(txn, ip_key, ETCD_CMP_CREATE, ETCD_CMP_EQUAL,
                         0);
        etcd_txn_put(txn, ETCD_TXN_SUCCESS, key, value, strlen(value), 0, 0);
        etcd_txn_put(txn, ETCD_TXN_SUCCESS, ip_key, e->name, strlen(e->name),
                     0, 0);
        free(value);
        commit(call, txn);
    }
    egress_destroy(e);
}

static void
ctl_egress_delete(struct ctl_call *call)
{
    const char *name = arg_name(call);
    if (!name) {
        return;
    }
    call->name = strdup(name);
    const struct egress_state *st = egress_model_find(&call->model, name);
    if (!st) {
        call_fail(call, STATUS_INVALID, "no egress '%s'", name);
        return;
    }
    char key[EGRESS_NAME_MAX + 24], ip_key[32];
    struct etcd_txn *txn = etcd_txn_create(call->etcd);
    snprintf(key, sizeof key, "egresses/%s", name);
    etcd_txn_compare(txn, key, ETCD_CMP_CREATE, ETCD_CMP_NOT_EQUAL, 0);
    etcd_txn_delete(txn, ETCD_TXN_SUCCESS, key, 0);
    if (st->ip) {
        snprintf(ip_key, sizeof ip_key, "egress-ips/%s",
                 egress_ip_to_string(st->ip, call->ip));
        etcd_txn_delete(txn, ETCD_TXN_SUCCESS, ip_key, 0);
    }
    snprintf(key, sizeof key, "owners/%s", name);
    etcd_txn_delete(txn, ETCD_TXN_SUCCESS, key, 0);
    snprintf(key, sizeof key, "moves/%s", name);
    etcd_txn_delete(txn, ETCD_TXN_SUCCESS, key, 0);
    snprintf(key, sizeof key, "applied/%s/", name);
    etcd_txn_delete(txn, ETCD_TXN_SUCCESS, key, ETCD_PREFIX);
    commit(call, txn);
}

static void
ctl_egress_move(struct ctl_call *call, struct agent *agent)
{
    const char *name = arg_name(call);
    if (!name) {
        return;
    }
    const char *node = json_string_value(json_object_get(call->args,
                                                         "node"));
    call->name = strdup(name);
    const struct egress_state *st = egress_model_find(&call->model, name);
    if (!st) {
        call_fail(call, STATUS_INVALID, "no egress '%s'", name);
        return;
    }
    if (!node || (strcmp(node, agent->config.node_name)
                  && !peers_find(&agent->peers, node))) {
        call_fail(call, STATUS_INVALID, "no node '%s' in the cluster",
                  node ? node : "");
        return;
    }
    const struct peer *peer = peers_find(&agent->peers, node);
    const char *labels = (peer ? peer->labels : agent->config.node_labels);
    bool eligible = !st->egress->pool;
    if (st->egress->pool) {
        const struct egress_pool *pool = egress_model_find_pool(
            &call->model, st->egress->pool);
        char err[256];
        if (!pool || egress_pool_node_eligible_str(pool, node, labels,
                                                   &eligible, err,
                                                   sizeof err)) {
            eligible = false;
        }
    }
    if (!eligible) {
        call_fail(call, STATUS_INVALID, "node '%s' is not eligible for "
                  "egress '%s' (pool '%s')", node, name,
                  st->egress->pool ? st->egress->pool : "");
        return;
    }
    char key[EGRESS_NAME_MAX + 16];
    snprintf(key, sizeof key, "moves/%s", name);
    struct etcd_txn *txn = etcd_txn_create(call->etcd);
    snprintf(key, sizeof key, "egresses/%s", name);
    etcd_txn_compare(txn, key, ETCD_CMP_CREATE, ETCD_CMP_NOT_EQUAL, 0);
    snprintf(key, sizeof key, "moves/%s", name);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, key, node, strlen(node), 0, 0);
    commit(call, txn);
}

/* The fresh read arrived: mirror it, build the model and act. */
static void
on_read(void *aux, int error, const struct etcd_result *result,
        const char *msg)
{
    struct ctl_call *call = aux;
    if (error) {
        call_fail(call, STATUS_FAILED, "etcd: %s", msg);
        return;
    }
    for (size_t i = 0; i < result->n_kvs; i++) {
        const struct etcd_kv *kv = &result->kvs[i];
        char *key = strndup(kv->key, kv->key_len);
        json_t *v = json_stringn(kv->value, kv->value_len);
        if (!key || !v) {
            free(key);
            json_decref(v);
            continue;
        }
        if (!strncmp(key, "applied/", 8)) {
            /* applied/EGRESS/NODE */
            char *slash = strchr(key + 8, '/');
            json_t *list = json_loadb(kv->value, kv->value_len, 0, NULL);
            if (slash && json_is_array(list)) {
                *slash = '\0';
                json_t *nodes = json_object_get(call->applied, key + 8);
                if (!nodes) {
                    nodes = json_object();
                    json_object_set_new(call->applied, key + 8, nodes);
                }
                json_object_set(nodes, slash + 1, list);
            }
            json_decref(list);
            json_decref(v);
        } else {
            json_object_set_new(call->kv, key,
                                json_pack("{s:o, s:I}", "v", v, "c",
                                          (json_int_t) kv->create_revision));
        }
        free(key);
    }
    egress_model_build(&call->model, call->kv);
}

/* Dispatches once the read is in. */
struct ctl_dispatch {
    struct ctl_call *call;
    struct agent *agent;
};

static void
on_read_dispatch(void *aux, int error, const struct etcd_result *result,
                 const char *msg)
{
    struct ctl_dispatch *d = aux;
    struct ctl_call *call = d->call;
    struct agent *agent = d->agent;
    free(d);
    if (error) {
        call_fail(call, STATUS_FAILED, "etcd: %s", msg);
        return;
    }
    on_read(call, 0, result, NULL);

    const char *c = call->command;
    if (!strcmp(c, "pool.create")) {
        ctl_pool_create(call);
    } else if (!strcmp(c, "pool.delete")) {
        ctl_pool_delete(call);
    } else if (!strcmp(c, "pool.list")) {
        json_t *pools = json_array();
        for (size_t i = 0; i < call->model.n_pools; i++) {
            json_array_append_new(pools,
                                  pool_entry(call, call->model.pools[i]));
        }
        call_finish(call, response_ok(json_pack("{s:o}", "pools", pools)));
    } else if (!strcmp(c, "pool.show")) {
        const char *name = arg_name(call);
        const struct egress_pool *pool = (name
                                          ? egress_model_find_pool(
                                                &call->model, name)
                                          : NULL);
        if (name && !pool) {
            call_fail(call, STATUS_INVALID, "no pool '%s'", name);
        } else if (pool) {
            call_finish(call, response_ok(pool_entry(call, pool)));
        }
    } else if (!strcmp(c, "egress.create")) {
        ctl_egress_create(call);
    } else if (!strcmp(c, "egress.delete")) {
        ctl_egress_delete(call);
    } else if (!strcmp(c, "egress.move")) {
        ctl_egress_move(call, agent);
    } else if (!strcmp(c, "egress.list")) {
        json_t *list = json_array();
        for (size_t i = 0; i < call->model.n_egresses; i++) {
            json_array_append_new(list,
                                  egress_entry(call, &call->model.states[i]));
        }
        call_finish(call, response_ok(json_pack("{s:o}", "egresses", list)));
    } else if (!strcmp(c, "egress.show")) {
        const char *name = arg_name(call);
        const struct egress_state *st = (name
                                         ? egress_model_find(&call->model,
                                                             name)
                                         : NULL);
        if (name && !st) {
            call_fail(call, STATUS_INVALID, "no egress '%s'", name);
        } else if (st) {
            call_finish(call, response_ok(egress_entry(call, st)));
        }
    } else {
        call_fail(call, STATUS_INVALID, "unknown command '%s'", c);
    }
}

void
egress_ctl_run(struct agent *agent, struct etcd_client *etcd,
               const char *command, const json_t *args, egress_ctl_done *done,
               void *aux)
{
    struct ctl_call *call = calloc(1, sizeof *call);
    struct ctl_dispatch *d = calloc(1, sizeof *d);
    if (!call || !d) {
        free(call);
        free(d);
        done(aux, NULL);
        return;
    }
    call->etcd = etcd;
    snprintf(call->command, sizeof call->command, "%s", command);
    call->args = json_is_object(args) ? json_deep_copy(args) : json_object();
    call->kv = json_object();
    call->applied = json_object();
    call->done = done;
    call->aux = aux;
    d->call = call;
    d->agent = agent;
    if (!etcd) {
        free(d);
        call_fail(call, STATUS_FAILED, "this node has no datastore "
                  "(etcd_endpoints is not configured)");
        return;
    }
    int error = etcd_range(etcd, "", ETCD_PREFIX, on_read_dispatch, d);
    if (error) {
        free(d);
        call_fail(call, STATUS_FAILED, "etcd: %s", strerror(error));
    }
}
