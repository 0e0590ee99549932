/*
 * Egress IP pools and egresses: the object model, without any I/O.
 *
 * A pool is a set of IPv4 addresses (ranges written "A-B", "A" or as CIDRs)
 * plus the nodes that may host them.  An egress selects pods and names the
 * source address their external traffic leaves the cluster with: an explicit
 * IP, an IP allocated from a pool, or both.  sluicectl, the control API and
 * the agent all build, check and (de)serialize these objects through this
 * module; none of its functions logs, blocks or touches global state.
 *
 * Rules.
 *
 *   - Addresses are IPv4, in host byte order.  Egress IPs and pool addresses
 *     must be unicast: nothing in 0.0.0.0/8, 127.0.0.0/8 or 224.0.0.0/3
 *     (multicast, reserved, broadcast) is accepted.
 *
 *   - A pool range written as a CIDR N/P (8 <= P <= 32) holds every address
 *     of N/P except the network and broadcast addresses when P < 31; a /31
 *     holds both of its addresses and a /32 its single address.  Overlap is
 *     judged on the addresses a range holds, so 10.0.0.0/28 (.1 to .14) and
 *     10.0.0.15-10.0.0.20 do not overlap.  Adjacent ranges are fine.
 *
 *   - Ranges never overlap, neither inside one pool nor across pools.
 *
 *   - Node eligibility: a node may host a pool's IPs if its name is in the
 *     pool's node list OR its labels match the pool's node selector (every
 *     key=value pair of the selector present on the node).  If the pool has
 *     neither a node list nor a selector, every node is eligible.  A pool
 *     with only a node list does not admit other nodes, and vice versa.
 *
 *   - An egress needs an IP, a pool, or both.  With both, the IP must lie in
 *     the pool: it is pinned and fails over across the pool's eligible nodes.
 *     With a pool only, the IP is allocated from the pool (lowest free
 *     address first).  With an IP only, every node is eligible to host it,
 *     and the IP must lie outside every pool (name the pool to pin an IP of
 *     a pool).  No two egresses may name the same explicit IP.
 *
 *   - Pod selection: an egress selects a pod if the pod's namespace matches
 *     the namespace glob AND its name matches the pod-name glob AND its
 *     labels hold every key=value pair of the pod selector.  An absent glob
 *     or an empty selector matches everything, including a pod whose
 *     namespace, name or labels are unknown; a present glob or a nonempty
 *     selector never matches an unknown namespace, name or label set.
 *     Globs are fnmatch(3) patterns without flags: '*', '?', '[...]' and
 *     '[!...]' over Kubernetes name characters [a-z0-9.-].
 *
 *   - Several egresses select one pod: the one whose name sorts first by
 *     strcmp() applies; the others are ignored for that pod.
 *
 *   - Destination CIDRs listed in an egress ("exempt") bypass it: traffic to
 *     them is not steered to the egress node.  Prefix lengths 0..32; a bare
 *     address means /32.
 *
 * Errors.  Every function that can reject input returns a positive errno
 * value and writes a single line (no newline, control characters replaced by
 * '?', long input cut with "...") into 'err' ('err_size' bytes; 256 is
 * plenty), e.g. "pool 'p1': range 10.0.0.20-10.0.0.10: start after end".
 * The values are:
 *   EINVAL  malformed or self-inconsistent input;
 *   ENOENT  an egress names a pool that does not exist;
 *   EEXIST  a conflict with another object (overlapping pools, an IP
 *           already used by another egress or lying in another pool);
 *   EBUSY   a pool change or deletion would break an egress that uses it;
 *   ENOSPC  a pool has no free address;
 *   ENOMEM  out of memory.
 * On error nothing the caller passed in is modified.
 *
 * JSON.  The etcd storage format and the control API use the same objects:
 *
 *   {"name": "p1", "ranges": ["10.0.0.10-10.0.0.20", "192.168.5.0/28"],
 *    "nodes": ["n2", "n3"], "node_selector": {"zone": "a"}}
 *
 *   {"name": "e1", "namespace": "prod-*", "pod_name": "web-*",
 *    "pod_selector": {"app": "web"}, "ip": "10.0.0.12", "pool": "p1",
 *    "exempt": ["10.0.0.0/8", "172.16.0.0/12"]}
 *
 * "name" and (for pools) "ranges" are required; other members may be absent
 * or null.  Unknown members, duplicate members, wrong types and every value
 * the string parsers below reject make decoding fail.  Encoding omits empty
 * optional members.
 */
#ifndef SLUICE_EGRESS_MODEL_H
#define SLUICE_EGRESS_MODEL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Limits on what the parsers and decoders accept. */
#define EGRESS_NAME_MAX 63        /* Pool and egress names. */
#define EGRESS_NODE_NAME_MAX 253  /* Node names (DNS subdomains). */
#define EGRESS_GLOB_MAX 253       /* Namespace and pod-name globs. */
#define EGRESS_LABEL_KEY_MAX 317  /* "prefix/name": 253 + 1 + 63. */
#define EGRESS_LABEL_VALUE_MAX 63 /* Label values. */
#define EGRESS_MAX_RANGES 64      /* Ranges per pool. */
#define EGRESS_MAX_NODES 1024     /* Node names per pool. */
#define EGRESS_MAX_LABELS 256     /* Pairs per selector or label set. */
#define EGRESS_MAX_EXEMPT 256     /* Exempt CIDRs per egress. */
#define EGRESS_JSON_MAX 262144    /* Bytes of one JSON document. */

/* Room for formatted values, including the null terminator. */
#define EGRESS_IP_STRLEN 16    /* "255.255.255.255" */
#define EGRESS_CIDR_STRLEN 19  /* "255.255.255.255/32" */
#define EGRESS_RANGE_STRLEN 32 /* "255.255.255.255-255.255.255.255" */

/* One range of pool addresses. */
struct egress_range {
    uint32_t first;          /* First address held, host byte order. */
    uint32_t last;           /* Last address held (inclusive). */
    unsigned int prefix_len; /* If written as a CIDR, its prefix length
                              * (8..32; the network is 'first' with the
                              * host bits cleared); 0 if written "A-B". */
};

/* One destination CIDR. */
struct egress_cidr {
    uint32_t network;        /* Host byte order, no host bits set. */
    unsigned int prefix_len; /* 0..32. */
};

/* One label, or one key=value pair of a selector. */
struct egress_label {
    char *key;   /* "[prefix/]name", Kubernetes label key syntax. */
    char *value; /* Possibly empty. */
};

/* A set of labels or a selector, as produced by the parsers. */
struct egress_labels {
    struct egress_label *items; /* Sorted by key (strcmp), keys unique. */
    size_t n;                   /* Number of 'items'. */
};

/* A pool of egress IPs. */
struct egress_pool {
    char *name;                  /* DNS label. */
    struct egress_range *ranges; /* Sorted by address, disjoint. */
    size_t n_ranges;             /* 1..EGRESS_MAX_RANGES once complete. */
    char **nodes;                /* Eligible node names, sorted, unique. */
    size_t n_nodes;
    struct egress_labels node_selector; /* Eligible nodes by label. */
};

/* An egress: which pods, which source IP, which destinations bypass it. */
struct egress {
    char *name;                        /* DNS label. */
    char *namespace_glob;              /* NULL: every namespace. */
    char *pod_glob;                    /* NULL: every pod name. */
    struct egress_labels pod_selector; /* Empty: every pod. */
    uint32_t ip;                       /* Explicit egress IP, 0 if none. */
    char *pool;                        /* Pool name, NULL if none. */
    struct egress_cidr *exempt;        /* Destinations that bypass the
                                        * egress, sorted, unique. */
    size_t n_exempt;
};

/* Names and formatting. */

/* Returns true if 'name' is a valid pool or egress name: 1 to 63 characters
 * of [a-z0-9-], beginning and ending with a letter or digit. */
bool egress_name_is_valid(const char *name);

/* Formats 'ip' as dotted quad into 'buf' and returns 'buf'. */
char *egress_ip_to_string(uint32_t ip, char buf[EGRESS_IP_STRLEN]);

/* Formats 'range' into 'buf' as "N/P" (if written as a CIDR), "A" (one
 * address) or "A-B", and returns 'buf'. */
char *egress_range_to_string(const struct egress_range *range,
                             char buf[EGRESS_RANGE_STRLEN]);

/* Formats 'cidr' into 'buf' as "N/P" and returns 'buf'. */
char *egress_cidr_to_string(const struct egress_cidr *cidr,
                            char buf[EGRESS_CIDR_STRLEN]);

/* Return the comma-separated string forms (as accepted by the parsers
 * below) of 'pool''s ranges, of 'labels' ("k=v,k=v") and of 'egress''s
 * exempt CIDRs, in a string the caller frees, or NULL if out of memory. */
char *egress_pool_ranges_to_string(const struct egress_pool *pool);
char *egress_labels_to_string(const struct egress_labels *labels);
char *egress_exempt_to_string(const struct egress *egress);

/* Parsers of the string forms used by sluicectl.  'ctx' (may be NULL)
 * prefixes error messages, e.g. "pool 'p1'".  Items are separated by ','
 * and may be surrounded by spaces; an empty item is an error.  On success
 * they store their result into the output arguments (without freeing what
 * those held) and return 0; on error they return EINVAL (or ENOMEM) and
 * leave the output arguments alone. */

/* Parses one address "A.B.C.D" from 's' into '*ip'. */
int egress_parse_ip(const char *s, const char *ctx, uint32_t *ip, char *err,
                    size_t err_size);

/* Parses a nonempty list of pool ranges ("A-B", "A" or "N/P"), for example
 * "10.0.0.10-10.0.0.20,192.168.5.0/28", into a newly allocated array sorted
 * by address, stored in '*rangesp' and '*n_rangesp'.  Rejects overlapping
 * ranges, a start after its end, host bits in a CIDR, prefix lengths outside
 * 8..32 and non-unicast addresses. */
int egress_parse_ranges(const char *s, const char *ctx,
                        struct egress_range **rangesp, size_t *n_rangesp,
                        char *err, size_t err_size);

/* Parses a possibly empty list of node names ("n2,n3"; each a DNS
 * subdomain) into a newly allocated sorted array of strings.  Rejects
 * duplicates. */
int egress_parse_nodes(const char *s, const char *ctx, char ***nodesp,
                       size_t *n_nodesp, char *err, size_t err_size);

/* Parses a possibly empty list of "key=value" pairs ("zone=a,tier=edge")
 * into 'labels'.  Keys and values follow Kubernetes label syntax; a key may
 * appear only once.  'what' names the list in messages ("node selector"). */
int egress_parse_labels(const char *s, const char *ctx, const char *what,
                        struct egress_labels *labels, char *err,
                        size_t err_size);

/* Parses pod labels given as JSON text: an object {"app": "web"} or the CNI
 * args.cni.labels form [{"key": "app", "value": "web"}].  A null 'json'
 * (the C pointer) yields an empty set. */
int egress_parse_labels_json(const char *json, const char *ctx,
                             struct egress_labels *labels, char *err,
                             size_t err_size);

/* The same for a decoded JSON value (object, array or JSON null). */
int egress_labels_from_json(const json_t *json, const char *ctx,
                            struct egress_labels *labels, char *err,
                            size_t err_size);

/* Parses a possibly empty list of CIDRs ("10.0.0.0/8,172.16.0.0/12"; a
 * bare address means /32) into a newly allocated sorted array.  Rejects
 * host bits, bad prefix lengths and duplicates. */
int egress_parse_cidrs(const char *s, const char *ctx,
                       struct egress_cidr **cidrsp, size_t *n_cidrsp,
                       char *err, size_t err_size);

/* Checks that 'glob' is an acceptable namespace or pod-name pattern (see
 * "Pod selection" above): nonempty, at most EGRESS_GLOB_MAX characters,
 * balanced nonempty [classes] with ascending ranges, no characters outside
 * [a-z0-9.-*?[]!] and '!' only right after '['.  'what' names the glob in
 * messages ("namespace glob").  Returns 0 or EINVAL. */
int egress_check_glob(const char *glob, const char *ctx, const char *what,
                      char *err, size_t err_size);

/* Frees the contents of 'labels' and leaves it empty. */
void egress_labels_destroy(struct egress_labels *labels);

/* Returns true if 'labels' (may be NULL: no labels) holds every pair of
 * 'selector'.  An empty selector matches anything. */
bool egress_labels_match(const struct egress_labels *selector,
                         const struct egress_labels *labels);

/* Pools. */

/* Creates a pool named 'name' with no ranges, nodes or selector in
 * '*poolp'.  Returns 0, or EINVAL for an invalid name, or ENOMEM. */
int egress_pool_create(const char *name, struct egress_pool **poolp, char *err,
                       size_t err_size);

/* Frees 'pool' (may be NULL) and everything it holds. */
void egress_pool_destroy(struct egress_pool *pool);

/* Replace the ranges, the node list or the node selector of 'pool' with
 * the parsed form of 's' (see the parsers above; the messages begin with
 * "pool 'NAME'").  On error 'pool' is unchanged. */
int egress_pool_set_ranges(struct egress_pool *pool, const char *s, char *err,
                           size_t err_size);
int egress_pool_set_nodes(struct egress_pool *pool, const char *s, char *err,
                          size_t err_size);
int egress_pool_set_node_selector(struct egress_pool *pool, const char *s,
                                  char *err, size_t err_size);

/* Checks 'pool' on its own: a valid name, 1..EGRESS_MAX_RANGES sorted,
 * disjoint unicast ranges, valid sorted unique nodes and selector.  Returns
 * 0 or EINVAL. */
int egress_pool_validate(const struct egress_pool *pool, char *err,
                         size_t err_size);

/* Checks that 'pool' (new, or a new version of the pool of the same name)
 * may be stored next to the 'n_pools' existing 'pools' and 'n_egresses'
 * 'egresses' (the pool named like 'pool' in 'pools', if any, is its old
 * version and is skipped).  Returns 0, EINVAL if egress_pool_validate()
 * fails, EEXIST if a range overlaps another pool's or holds the explicit IP
 * of an egress without a pool, EBUSY if an egress pins an IP of this pool
 * that the new ranges leave out. */
int egress_pool_check(const struct egress_pool *pool,
                      const struct egress_pool *const *pools, size_t n_pools,
                      const struct egress *const *egresses, size_t n_egresses,
                      char *err, size_t err_size);

/* Checks that the pool named 'name' may be deleted: returns 0, or EBUSY if
 * one of the 'n_egresses' 'egresses' uses it. */
int egress_pool_check_delete(const char *name,
                             const struct egress *const *egresses,
                             size_t n_egresses, char *err, size_t err_size);

/* Returns true if the pools' names, ranges, nodes and selectors are
 * equal. */
bool egress_pool_equal(const struct egress_pool *a,
                       const struct egress_pool *b);

/* Returns the number of addresses 'pool' holds. */
uint64_t egress_pool_total(const struct egress_pool *pool);

/* Returns true if 'ip' is one of 'pool''s addresses. */
bool egress_pool_contains(const struct egress_pool *pool, uint32_t ip);

/* Stores into '*ip' the lowest address of 'pool' that is not among the
 * 'n_in_use' addresses of 'in_use' (any order, duplicates and addresses
 * outside the pool allowed).  'in_use' should hold every explicit egress IP
 * and every IP already allocated.  Returns 0, ENOSPC if every address is in
 * use, or ENOMEM. */
int egress_pool_first_free(const struct egress_pool *pool,
                           const uint32_t *in_use, size_t n_in_use,
                           uint32_t *ip);

/* Stores into '*total' the number of addresses of 'pool' and into '*used'
 * how many distinct addresses of 'in_use' it holds.  Returns 0 or
 * ENOMEM. */
int egress_pool_usage(const struct egress_pool *pool, const uint32_t *in_use,
                      size_t n_in_use, uint64_t *total, uint64_t *used);

/* Returns true if the node named 'node' with labels 'node_labels' (may be
 * NULL: none) may host 'pool''s IPs (see "Node eligibility" above). */
bool egress_pool_node_eligible(const struct egress_pool *pool,
                               const char *node,
                               const struct egress_labels *node_labels);

/* The same with the node's labels given as "k=v,k=v" (NULL or "": none).
 * Stores the answer into '*eligible' and returns 0, or returns EINVAL if
 * 'node_labels' cannot be parsed. */
int egress_pool_node_eligible_str(const struct egress_pool *pool,
                                  const char *node, const char *node_labels,
                                  bool *eligible, char *err, size_t err_size);

/* Encodes 'pool' as JSON.  Returns a new reference, or NULL if out of
 * memory. */
json_t *egress_pool_to_json(const struct egress_pool *pool);

/* Decodes and validates (egress_pool_validate()) a pool from 'json' into a
 * new '*poolp'.  Returns 0, EINVAL or ENOMEM; '*poolp' is NULL on error. */
int egress_pool_from_json(const json_t *json, struct egress_pool **poolp,
                          char *err, size_t err_size);

/* Returns 'pool' as compact JSON text the caller frees, or NULL if out of
 * memory. */
char *egress_pool_to_string(const struct egress_pool *pool);

/* Like egress_pool_from_json() for the 'len' bytes of JSON text at 's'
 * (at most EGRESS_JSON_MAX). */
int egress_pool_from_string(const char *s, size_t len,
                            struct egress_pool **poolp, char *err,
                            size_t err_size);

/* Egresses. */

/* Creates an egress named 'name' that selects every pod and has neither IP
 * nor pool yet (so egress_validate() rejects it until one is set) in
 * '*egressp'.  Returns 0, or EINVAL for an invalid name, or ENOMEM. */
int egress_create(const char *name, struct egress **egressp, char *err,
                  size_t err_size);

/* Frees 'egress' (may be NULL) and everything it holds. */
void egress_destroy(struct egress *egress);

/* Setters; messages begin with "egress 'NAME'".  On error 'egress' is
 * unchanged.  A NULL 's' clears the namespace glob, the pod-name glob, the
 * IP or the pool; an empty 's' clears the selector or the exempt list.  The
 * globs go through egress_check_glob(), the IP through egress_parse_ip() and
 * the unicast check, the pool name through egress_name_is_valid(). */
int egress_set_namespace(struct egress *egress, const char *s, char *err,
                         size_t err_size);
int egress_set_pod_name(struct egress *egress, const char *s, char *err,
                        size_t err_size);
int egress_set_pod_selector(struct egress *egress, const char *s, char *err,
                            size_t err_size);
int egress_set_ip(struct egress *egress, const char *s, char *err,
                  size_t err_size);
int egress_set_pool(struct egress *egress, const char *s, char *err,
                    size_t err_size);
int egress_set_exempt(struct egress *egress, const char *s, char *err,
                      size_t err_size);

/* Checks 'egress' on its own: valid name, globs, selector, pool name and
 * exempt CIDRs, a unicast IP, and an IP or a pool.  Returns 0 or EINVAL. */
int egress_validate(const struct egress *egress, char *err, size_t err_size);

/* Checks that 'egress' (new, or a new version of the egress of the same
 * name, which is skipped in 'egresses') may be stored next to the existing
 * 'pools' and 'egresses'.  Returns 0, EINVAL if egress_validate() fails or
 * the explicit IP lies outside the egress's pool, ENOENT if the pool does
 * not exist, EEXIST if another egress has the same explicit IP or an IP
 * without a pool lies in some pool. */
int egress_check(const struct egress *egress,
                 const struct egress_pool *const *pools, size_t n_pools,
                 const struct egress *const *egresses, size_t n_egresses,
                 char *err, size_t err_size);

/* Returns true if every field of the egresses is equal. */
bool egress_equal(const struct egress *a, const struct egress *b);

/* Returns true if 'egress' selects the pod 'pod_name' in namespace
 * 'pod_namespace' with labels 'pod_labels' (see "Pod selection" above; any
 * argument may be NULL when unknown). */
bool egress_selects(const struct egress *egress, const char *pod_namespace,
                    const char *pod_name,
                    const struct egress_labels *pod_labels);

/* Returns the egress of the 'n_egresses' 'egresses' that applies to the
 * pod: among those that select it, the one whose name sorts first by
 * strcmp() (the first of them in 'egresses' if names repeat).  Returns NULL
 * if none selects it. */
const struct egress *egress_select(const struct egress *const *egresses,
                                   size_t n_egresses,
                                   const char *pod_namespace,
                                   const char *pod_name,
                                   const struct egress_labels *pod_labels);

/* Returns true if traffic to 'dst' bypasses 'egress' (lies in one of its
 * exempt CIDRs). */
bool egress_is_exempt(const struct egress *egress, uint32_t dst);

/* Returns true if the node named 'node' with 'node_labels' may host the IP
 * of 'egress': any node if it has no pool; otherwise the eligible nodes of
 * its pool among 'pools' (none if that pool is missing). */
bool egress_node_eligible(const struct egress *egress,
                          const struct egress_pool *const *pools,
                          size_t n_pools, const char *node,
                          const struct egress_labels *node_labels);

/* Encodes 'egress' as JSON.  Returns a new reference, or NULL if out of
 * memory. */
json_t *egress_to_json(const struct egress *egress);

/* Decodes and validates (egress_validate()) an egress from 'json' into a
 * new '*egressp'.  Returns 0, EINVAL or ENOMEM; '*egressp' is NULL on
 * error. */
int egress_from_json(const json_t *json, struct egress **egressp, char *err,
                     size_t err_size);

/* Returns 'egress' as compact JSON text the caller frees, or NULL if out of
 * memory. */
char *egress_to_string(const struct egress *egress);

/* Like egress_from_json() for the 'len' bytes of JSON text at 's' (at most
 * EGRESS_JSON_MAX). */
int egress_from_string(const char *s, size_t len, struct egress **egressp,
                       char *err, size_t err_size);

#endif /* sluice/egress-model.h */
