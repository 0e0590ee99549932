/* The egress model derived from etcd keys (see sluice/egress-state.h). */
#include <sluice-config.h>

#include "sluice/egress-state.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"
#include "sluice/pipeline.h"

SLOG_MODULE(egress_state);


void
egress_model_clear(struct egress_model *m)
{
    for (size_t i = 0; i < m->n_pools; i++) {
        egress_pool_destroy(m->pools[i]);
    }
    for (size_t i = 0; i < m->n_egresses; i++) {
        egress_destroy(m->egresses[i]);
    }
    free(m->pools);
    free(m->egresses);
    free(m->states);
    free(m->in_use);
    memset(m, 0, sizeof *m);
}

static bool
has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

const char *
egress_kv_value(const json_t *kv, const char *key)
{
    return json_string_value(json_object_get(json_object_get(kv, key), "v"));
}

void
egress_model_build(struct egress_model *m, const json_t *kv)
{
    memset(m, 0, sizeof *m);
    size_t n = json_object_size(kv);
    m->pools = calloc(n + 1, sizeof *m->pools);
    m->egresses = calloc(n + 1, sizeof *m->egresses);
    m->states = calloc(n + 1, sizeof *m->states);
    m->in_use = calloc(2 * n + 1, sizeof *m->in_use);
    if (!m->pools || !m->egresses || !m->states || !m->in_use) {
        egress_model_clear(m);
        return;
    }

    const char *key;
    const json_t *entry;
    char err[256];
    json_object_foreach ((json_t *) kv, key, entry) {
        const char *v = json_string_value(json_object_get(entry, "v"));
        if (!v) {
            continue;
        }
        if (has_prefix(key, "pools/")) {
            struct egress_pool *pool;
            if (!egress_pool_from_string(v, strlen(v), &pool, err,
                                         sizeof err)) {
                m->pools[m->n_pools++] = pool;
            } else {
                SLOG_WARN("ignoring %s: %s", key, err);
            }
        } else if (has_prefix(key, "egresses/")) {
            struct egress *e;
            if (!egress_from_string(v, strlen(v), &e, err, sizeof err)) {
                struct egress_state *st = &m->states[m->n_egresses];
                m->egresses[m->n_egresses++] = e;
                st->egress = e;
                int64_t create = json_integer_value(json_object_get(entry,
                                                                    "c"));
                st->vni = (PIPELINE_EGRESS_VNI_BASE
                           | (create & PIPELINE_EGRESS_VNI_MASK));
                st->ip = e->ip;
                if (e->ip) {
                    m->in_use[m->n_in_use++] = e->ip;
                }
            } else {
                SLOG_WARN("ignoring %s: %s", key, err);
            }
        } else if (has_prefix(key, "egress-ips/")) {
            struct in_addr a;
            if (inet_pton(AF_INET, key + strlen("egress-ips/"), &a) == 1) {
                m->in_use[m->n_in_use++] = ntohl(a.s_addr);
            }
        }
    }

    /* Allocated addresses, holders and moves, per egress. */
    for (size_t i = 0; i < m->n_egresses; i++) {
        struct egress_state *st = &m->states[i];
        const char *name = st->egress->name;
        json_object_foreach ((json_t *) kv, key, entry) {
            const char *v = json_string_value(json_object_get(entry, "v"));
            if (!st->ip && has_prefix(key, "egress-ips/") && v
                && !strcmp(v, name)) {
                struct in_addr a;
                if (inet_pton(AF_INET, key + strlen("egress-ips/"), &a)
                    == 1) {
                    st->ip = ntohl(a.s_addr);
                }
            }
        }
        char k[EGRESS_NAME_MAX + 16];
        snprintf(k, sizeof k, "owners/%s", name);
        const char *owner = egress_kv_value(kv, k);
        if (owner) {
            json_t *o = json_loads(owner, 0, NULL);
            snprintf(st->owner, sizeof st->owner, "%s",
                     json_string_value(json_object_get(o, "node"))
                         ? json_string_value(json_object_get(o, "node"))
                         : "");
            snprintf(st->since, sizeof st->since, "%s",
                     json_string_value(json_object_get(o, "since"))
                         ? json_string_value(json_object_get(o, "since"))
                         : "");
            json_decref(o);
            st->owner_value = json_object_get(json_object_get(kv, k), "v");
            st->owner_lease = json_integer_value(
                json_object_get(json_object_get(kv, k), "l"));
        }
        snprintf(k, sizeof k, "moves/%s", name);
        st->move_to = egress_kv_value(kv, k);
    }
}

struct egress_state *
egress_model_find(const struct egress_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_egresses; i++) {
        if (!strcmp(m->states[i].egress->name, name)) {
            return &m->states[i];
        }
    }
    return NULL;
}

const struct egress_pool *
egress_model_find_pool(const struct egress_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_pools; i++) {
        if (!strcmp(m->pools[i]->name, name)) {
            return m->pools[i];
        }
    }
    return NULL;
}

