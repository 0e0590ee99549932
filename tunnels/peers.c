#include <sluice-config.h>

#include "sluice/peers.h"

#include <stdlib.h>
#include <string.h>

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
