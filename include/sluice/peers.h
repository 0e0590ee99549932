/*
 * The set of remote nodes (peers) as the datastore last described them.
 * Updates report what changed, so that the caller touches only the flows
 * of the nodes that did.  Resync after a datastore reconnection: mark all
 * stale, upsert every node of the fresh listing, then sweep the rest.
 */
#ifndef SLUICE_PEERS_H
#define SLUICE_PEERS_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define PEER_NAME_MAX 253

struct peer {
    struct peer *next;
    char name[PEER_NAME_MAX + 1]; /* Node name. */
    struct in_addr ip;            /* Underlay address. */
    struct in_addr subnet;        /* Pod subnet and... */
    unsigned int prefix_len;      /* ...its prefix length. */
    char *labels;                 /* Node labels, "k=v,k=v", or NULL. */
    bool stale;                   /* Not seen since peers_mark_stale(). */
};

struct peers {
    struct peer *head;
    size_t n;
};

enum peer_change {
    PEER_UNCHANGED,
    PEER_ADDED,
    PEER_MODIFIED,
};

void peers_init(struct peers *);
void peers_destroy(struct peers *);

/* Returns the peer named 'name', or NULL. */
struct peer *peers_find(const struct peers *, const char *name);

/* Makes the peer named 'new->name' equal to 'new' (whose 'labels' are
 * copied).  Returns what changed; on PEER_MODIFIED stores the previous
 * subnet in '*old_subnet' (flows are keyed by it).  Returns -1 if out of
 * memory. */
int peers_upsert(struct peers *, const struct peer *new,
                 struct in_addr *old_subnet);

/* Removes the peer named 'name' and stores it in '*removed' (its 'labels'
 * become the caller's).  Returns false if there was none. */
bool peers_remove(struct peers *, const char *name, struct peer *removed);

/* Marks every peer stale; peers_upsert() freshens the ones still there. */
void peers_mark_stale(struct peers *);

/* Removes one stale peer into '*removed', as peers_remove().  Returns false
 * when none is left. */
bool peers_sweep_one(struct peers *, struct peer *removed);

/* Writes the peers to 'path' (atomically: a temporary file renamed over
 * it).  A restarting agent reads them back with peers_load() so that it
 * keeps its flows to other nodes before the datastore answers, or while it
 * is away.  Returns 0 or a positive errno value. */
int peers_save(const struct peers *, const char *path);

/* Adds the peers saved in 'path' to 'peers', marked stale until the
 * datastore confirms them.  A missing file is not an error.  Returns 0 or
 * a positive errno value (EBADMSG for a malformed file). */
int peers_load(struct peers *, const char *path);

#endif /* sluice/peers.h */
