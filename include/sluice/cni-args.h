/*
 * The agent's decoding of what the CNI shim sends, without a running agent:
 * the shape and protocol version of a request (sluice/cni-proto.h), the
 * pod's namespace and name in CNI_ARGS, its labels in args.cni.labels, and
 * the prevResult of a CHECK.  Used by agent/cni-server.c and agent/pods.c,
 * and by the fuzz target tests/fuzz/fuzz-cni-request.c.
 */
#ifndef SLUICE_CNI_ARGS_H
#define SLUICE_CNI_ARGS_H 1

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sluice/cni.h"

/* Checks the protocol version and the shape of the shim's request
 * 'request', and decodes its "env" into 'env' and its "stdin" (the
 * network configuration) into '*config' and '*config_len', all pointing
 * into 'request'.  Returns 0, or a CNI error code (CNI_ERR_DECODE,
 * CNI_ERR_INCOMPATIBLE_VERSION) with a message in 'msg' ('msg_size'
 * bytes). */
int cni_request_decode(const json_t *request, struct cni_env *env,
                       const char **config, size_t *config_len, char *msg,
                       size_t msg_size);

/* Parses 'args', CNI_ARGS ("K1=V1;K2=V2", may be NULL), for
 * K8S_POD_NAMESPACE and K8S_POD_NAME, which are copied NUL-terminated into
 * 'ns' ('ns_size' bytes) and 'name' ('name_size' bytes); either is left
 * alone if absent.  Returns false if 'args' is malformed (a nonempty
 * element without '=') or a value does not fit, in which case 'ns' and
 * 'name' may have changed. */
bool cni_parse_args(const char *args, char *ns, size_t ns_size, char *name,
                    size_t name_size);

/* Reads "args": {"cni": {"labels": [{"key": K, "value": V}...]}} from the
 * network configuration 'config' into '*labelsp', a malloc'd JSON object
 * text {K: V...} with sorted keys, or NULL if there are no labels.
 * Returns 0, or CNI_ERR_INVALID_CONFIG if they are not a list of
 * {key, value} strings. */
int cni_parse_labels(const json_t *config, char **labelsp);

/* Returns true if 'prev_result' (a CNI result) lists 'cidr' as the
 * "address" of one of its "ips". */
bool cni_prev_result_has_ip(const json_t *prev_result, const char *cidr);

#endif /* sluice/cni-args.h */
