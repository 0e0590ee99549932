/*
 * Cluster membership through etcd: the node's pod subnet (allocated from
 * the cluster CIDR with a compare-and-swap transaction unless configured),
 * its registration under a lease, and the watch that keeps the agent's
 * peer set (and so its tunnel flows) equal to the registered nodes.
 */
#ifndef SLUICE_CLUSTER_H
#define SLUICE_CLUSTER_H 1

#include <stdbool.h>

struct agent;
struct cluster;

/* Called once, when the node's pod subnet is known. */
typedef void cluster_subnet_cb(struct agent *, const char *cidr);

/* Starts membership for 'agent' (whose configuration names the etcd
 * endpoints).  The subnet comes from the configuration, else from the
 * node's IPAM store (so a restart works while etcd is away), else from
 * etcd.  Returns 0 and stores the cluster in '*clusterp', or a positive
 * errno value after logging why. */
int cluster_start(struct agent *, cluster_subnet_cb *,
                  struct cluster **clusterp);

/* Stops watching and keeping the lease alive (the registration expires
 * with the lease) and frees 'cluster'. */
void cluster_destroy(struct cluster *);

/* Returns the etcd client of 'cluster' (NULL if 'cluster' is). */
struct etcd_client *cluster_etcd(const struct cluster *);

/* Returns true if the node is registered and watching. */
bool cluster_is_registered(const struct cluster *);

#endif /* sluice/cluster.h */
