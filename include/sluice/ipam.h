/*
 * Pod address management for one node: hands out IPv4 addresses from the
 * node's pod CIDR to pod interfaces and remembers them in a crash-safe store.
 *
 * Pool.  For a pod CIDR N/P (8 <= P <= 30) the network address N, the
 * gateway N+1 (the first host address, owned by the node) and the broadcast
 * address are never handed out, so a /29 has exactly 5 pod addresses.
 *
 * Keys.  An allocation belongs to one (container id, interface name) pair,
 * as in CNI.  Allocating twice for the same pair returns the same address;
 * releasing an unknown pair succeeds.
 *
 * Order.  The next address handed out is the first free one after the most
 * recently allocated one, wrapping around at the end of the pool, so that an
 * address that was just released is reused as late as possible.
 *
 * Persistence.  The store is the JSON file STATE_DIR/ipam.json.  Every change
 * is on disk before the call that makes it returns: the new store is written
 * to STATE_DIR/ipam.json.tmp, fsync()ed, renamed over the store and the
 * directory is fsync()ed.  If any step fails, the in-memory change is undone
 * and the error returned, so memory never claims more than the disk holds.
 * An unreadable, truncated or inconsistent store makes ipam_open() fail: it
 * never silently starts over with an empty pool.
 *
 * Concurrency.  None of these functions is thread-safe: sluiced calls them
 * from its single libuv loop thread only, which serializes allocations, so
 * two concurrent CNI ADDs can never get the same address.  Across processes,
 * ipam_open() takes an exclusive flock() on STATE_DIR/ipam.lock that is held
 * until ipam_close(), so two agents can never share one store.
 */
#ifndef SLUICE_IPAM_H
#define SLUICE_IPAM_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest accepted container id (CNI ids are usually 64 hex digits). */
#define IPAM_MAX_CONTAINER_ID 255

/* Longest accepted interface name (Linux IFNAMSIZ - 1). */
#define IPAM_MAX_IFNAME 15

/* Longest Kubernetes namespace (a DNS label) and pod name (a DNS
 * subdomain). */
#define IPAM_MAX_POD_NAMESPACE 63
#define IPAM_MAX_POD_NAME 253

/* Room for "255.255.255.255/32" and its null terminator. */
#define IPAM_CIDR_STRLEN 19

/* One address handed out to one pod interface. */
struct ipam_allocation {
    char container_id[IPAM_MAX_CONTAINER_ID + 1]; /* CNI container id. */
    char ifname[IPAM_MAX_IFNAME + 1]; /* Interface inside the pod. */
    struct in_addr addr;              /* The address (network order). */
    char pod_namespace[IPAM_MAX_POD_NAMESPACE + 1]; /* "" if unknown. */
    char pod_name[IPAM_MAX_POD_NAME + 1];           /* "" if unknown. */
    time_t allocated_at; /* Wall clock time of the allocation. */
};

/* One (container id, interface name) pair, as listed by a CNI GC's
 * cni.dev/valid-attachments. */
struct ipam_attachment {
    const char *container_id;
    const char *ifname;
};

struct ipam;

/* Opens the store in directory 'state_dir' for pod CIDR 'cidr' (for example
 * "10.244.3.0/24"), creating 'state_dir' (one level, mode 0700) and an empty
 * store if they do not exist yet, and stores the handle in '*ipamp'.
 *
 * Returns 0 on success.  On failure '*ipamp' is NULL, 'err' holds a message
 * naming the file or argument concerned and the return value is:
 *   - EINVAL if 'cidr' is malformed, has host bits set or a prefix length
 *     outside 8..30, or if the existing store is for a different CIDR (its
 *     allocations are never dropped silently);
 *   - EBUSY if another open handle (in this or another process) holds the
 *     lock on 'state_dir';
 *   - EBADMSG if the existing store is truncated, not JSON, or inconsistent;
 *   - another positive errno value if a system call failed. */
int ipam_open(struct ipam **ipamp, const char *state_dir, const char *cidr,
              char *err, size_t err_size);

/* Reads the pod CIDR of the store in 'state_dir' without opening it (a
 * restarting node reuses its subnet even when the datastore is away).
 * Returns 0 with the CIDR in 'cidr', ENOENT if there is no store, or
 * another positive errno value. */
int ipam_stored_cidr(const char *state_dir, char *cidr, size_t cidr_size);

/* Releases the lock on the state directory and frees 'ipam' (which may be
 * NULL).  The store stays on disk. */
void ipam_close(struct ipam *ipam);

/* Gives the pod interface ('container_id', 'ifname') an address and stores
 * it in '*addr'.  'pod_namespace' and 'pod_name' describe the pod for
 * operators and logs; either may be NULL.  If the pair already has an
 * address, that address is returned and nothing changes.
 *
 * Returns 0 on success, otherwise a positive errno value with a message in
 * 'err': EINVAL for an empty, overlong or malformed container id, interface
 * name, namespace or pod name; ENOSPC if the pool is exhausted; the errno of
 * a failed write of the store (in which case nothing changed). */
int ipam_allocate(struct ipam *ipam, const char *container_id,
                  const char *ifname, const char *pod_namespace,
                  const char *pod_name, struct in_addr *addr, char *err,
                  size_t err_size);

/* Releases the address of ('container_id', 'ifname'), if it has one.  If
 * 'released' is nonnull, sets it to true if an address was released, false
 * if the pair had none (which is not an error).
 *
 * Returns 0 on success, EINVAL for a malformed container id or interface
 * name, or the errno of a failed write of the store (in which case the
 * address stays allocated), with a message in 'err'. */
int ipam_release(struct ipam *ipam, const char *container_id,
                 const char *ifname, bool *released, char *err,
                 size_t err_size);

/* Called by ipam_gc() for each allocation it released, after the store was
 * written and before 'allocation' is freed. */
typedef void ipam_gc_cb(const struct ipam_allocation *allocation, void *aux);

/* Releases every allocation whose (container id, interface name) is not
 * among the 'n_valid' pairs in 'valid', in one write of the store.  Calls
 * 'cb' (if nonnull) with 'aux' for each released allocation and stores how
 * many were released in '*n_released' (if nonnull).
 *
 * Returns 0 on success, or the errno of a failed write of the store (then
 * nothing was released and '*n_released' is 0) with a message in 'err'. */
int ipam_gc(struct ipam *ipam, const struct ipam_attachment *valid,
            size_t n_valid, ipam_gc_cb *cb, void *aux, size_t *n_released,
            char *err, size_t err_size);

/* Returns the allocation of ('container_id', 'ifname'), or NULL if it has
 * none.  The pointer is valid until the next change to 'ipam'. */
const struct ipam_allocation *ipam_lookup(const struct ipam *ipam,
                                          const char *container_id,
                                          const char *ifname);

/* Returns the allocation that holds 'addr', or NULL if 'addr' is free or not
 * a pod address.  The pointer is valid until the next change to 'ipam'. */
const struct ipam_allocation *ipam_lookup_addr(const struct ipam *ipam,
                                               struct in_addr addr);

/* Returns the number of allocations in 'ipam'. */
size_t ipam_n_allocations(const struct ipam *ipam);

/* Returns allocation number 'i' (0 <= 'i' < ipam_n_allocations()) in order
 * of ascending address.  The pointer is valid until the next change to
 * 'ipam'.  For iterating over all allocations, e.g. to rebuild the agent's
 * state at restart. */
const struct ipam_allocation *ipam_allocation_at(const struct ipam *ipam,
                                                 size_t i);

/* Iterates ALLOC (a const struct ipam_allocation *) over every allocation of
 * IPAM in order of ascending address.  IPAM must not change meanwhile. */
#define IPAM_FOR_EACH(ALLOC, I, IPAM)                                         \
    for (size_t I = 0; (I < ipam_n_allocations(IPAM)                          \
                        && ((ALLOC) = ipam_allocation_at(IPAM, I), true));    \
         I++)

/* Returns the gateway address (the first host address of the CIDR). */
struct in_addr ipam_gateway(const struct ipam *ipam);

/* Returns the network address of the CIDR. */
struct in_addr ipam_network(const struct ipam *ipam);

/* Returns the prefix length of the CIDR. */
unsigned int ipam_prefix_len(const struct ipam *ipam);

/* Returns the CIDR in canonical form, e.g. "10.244.3.0/24". */
const char *ipam_cidr(const struct ipam *ipam);

/* Stores the number of addresses that can be handed out in '*total' and the
 * number handed out now in '*used'.  Either pointer may be NULL. */
void ipam_usage(const struct ipam *ipam, size_t *total, size_t *used);

/* Parses 'cidr' ("A.B.C.D/P") into its network address '*network' (host
 * order) and prefix length '*prefix_len'.  Returns 0, or EINVAL with a
 * message in 'err' if 'cidr' is malformed, has host bits set or 'P' is not
 * within 8..30. */
int ipam_parse_cidr(const char *cidr, uint32_t *network,
                    unsigned int *prefix_len, char *err, size_t err_size);

/* Formats 'addr' in dotted-quad notation into 'buf' (of at least
 * INET_ADDRSTRLEN bytes) and returns 'buf'. */
char *ipam_addr_to_string(struct in_addr addr, char *buf);

#endif /* sluice/ipam.h */
