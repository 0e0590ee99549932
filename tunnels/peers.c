#include <sluice-config.h>

#include "sluice/peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

void
peers_init(struct peers *peers)
{
    peers->head = NULL;
    peers->n = 0;
}

void
peers_destroy(struct peers *peers)
{
    while (peers->head) {
        struct peer *p = peers->head;
        peers->head = p->next;
        free(p->labels);
        free(p);
    }
    peers->n = 0;
}

struct peer *
peers_find(const struct peers *peers, const char *name)
{
    for (struct peer *p = peers->head; p; p = p->next) {
        if (!strcmp(p->name, name)) {
            return p;
        }
    }
    return NULL;
}

static bool
same_labels(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int
peers_upsert(struct peers *peers, const struct peer *new,
             struct in_addr *old_subnet)
{
    char *labels = NULL;
    if (new->labels && !(labels = strdup(new->labels))) {
        return -1;
    }
    struct peer *p = peers_find(peers, new->name);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            free(labels);
            return -1;
        }
        memcpy(p->name, new->name, sizeof p->name);
        p->name[PEER_NAME_MAX] = '\0';
        p->ip = new->ip;
        p->subnet = new->subnet;
        p->prefix_len = new->prefix_len;
        p->labels = labels;
        p->next = peers->head;
        peers->head = p;
        peers->n++;
        return PEER_ADDED;
    }
    p->stale = false;
    bool same = (p->ip.s_addr == new->ip.s_addr
                 && p->subnet.s_addr == new->subnet.s_addr
                 && p->prefix_len == new->prefix_len
                 && same_labels(p->labels, labels));
    if (same) {
        free(labels);
        return PEER_UNCHANGED;
    }
    *old_subnet = p->subnet;
    p->ip = new->ip;
    p->subnet = new->subnet;
    p->prefix_len = new->prefix_len;
    free(p->labels);
    p->labels = labels;
    return PEER_MODIFIED;
}

static void
unlink_peer(struct peers *peers, struct peer *victim, struct peer *removed)
{
    for (struct peer **pp = &peers->head; *pp; pp = &(*pp)->next) {
        if (*pp == victim) {
            *pp = victim->next;
            break;
        }
    }
    peers->n--;
    *removed = *victim;
    removed->next = NULL;
    free(victim);
}

bool
peers_remove(struct peers *peers, const char *name, struct peer *removed)
{
    struct peer *p = peers_find(peers, name);
    if (!p) {
        return false;
    }
    unlink_peer(peers, p, removed);
    return true;
}

void
peers_mark_stale(struct peers *peers)
{
    for (struct peer *p = peers->head; p; p = p->next) {
        p->stale = true;
    }
}

bool
peers_sweep_one(struct peers *peers, struct peer *removed)
{
    for (struct peer *p = peers->head; p; p = p->next) {
        if (p->stale) {
            unlink_peer(peers, p, removed);
            return true;
        }
    }
    return false;
}

int
peers_save(const struct peers *peers, const char *path)
{
    json_t *list = json_array();
    for (const struct peer *p = peers->head; list && p; p = p->next) {
        char ip[INET_ADDRSTRLEN], subnet[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &p->ip, ip, sizeof ip);
        inet_ntop(AF_INET, &p->subnet, subnet, sizeof subnet);
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:i, s:s?}", "name",
                                        p->name, "ip", ip, "subnet", subnet,
                                        "prefix_len", (int) p->prefix_len,
                                        "labels", p->labels));
    }
    char tmp[4096];
    if (!list || (size_t) snprintf(tmp, sizeof tmp, "%s.tmp", path)
                     >= sizeof tmp) {
        json_decref(list);
        return list ? ENAMETOOLONG : ENOMEM;
    }
    int error = json_dump_file(list, tmp, JSON_COMPACT) ? EIO : 0;
    json_decref(list);
    if (!error && rename(tmp, path)) {
        error = errno;
        unlink(tmp);
    }
    return error;
}

int
peers_load(struct peers *peers, const char *path)
{
    if (access(path, F_OK)) {
        return errno == ENOENT ? 0 : errno;
    }
    json_t *list = json_load_file(path, 0, NULL);
    if (!json_is_array(list)) {
        json_decref(list);
        return EBADMSG;
    }
    size_t i;
    json_t *entry;
    int error = 0;
    json_array_foreach (list, i, entry) {
        struct peer p;
        memset(&p, 0, sizeof p);
        const char *name = json_string_value(json_object_get(entry, "name"));
        const char *ip = json_string_value(json_object_get(entry, "ip"));
        const char *subnet = json_string_value(json_object_get(entry,
                                                               "subnet"));
        json_int_t plen = json_integer_value(json_object_get(entry,
                                                             "prefix_len"));
        if (!name || strlen(name) > PEER_NAME_MAX || !ip || !subnet
            || inet_pton(AF_INET, ip, &p.ip) != 1
            || inet_pton(AF_INET, subnet, &p.subnet) != 1 || plen < 1
            || plen > 32) {
            error = EBADMSG;
            continue;
        }
        strcpy(p.name, name);
        p.prefix_len = plen;
        p.labels = (char *) json_string_value(json_object_get(entry,
                                                              "labels"));
        struct in_addr old;
        if (peers_upsert(peers, &p, &old) < 0) {
            error = ENOMEM;
        }
        struct peer *added = peers_find(peers, name);
        if (added) {
            added->stale = true;
        }
    }
    json_decref(list);
    return error;
}
