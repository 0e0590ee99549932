/*
 * Decoding of the CNI shim's requests and of the CNI inputs the agent
 * reads (see sluice/cni-args.h).
 */
#include <sluice-config.h>

#include "sluice/cni-args.h"

#include <stdio.h>
#include <string.h>

#include "sluice/cni-proto.h"

int
cni_request_decode(const json_t *request, struct cni_env *env,
                   const char **config, size_t *config_len, char *msg,
                   size_t msg_size)
{
    const json_t *version = json_object_get(request, "version");
    const json_t *stdin_json = json_object_get(request, "stdin");
    if (!json_is_integer(version)) {
        snprintf(msg, msg_size, "malformed request from the CNI shim");
        return CNI_ERR_DECODE;
    } else if (json_integer_value(version) != CNI_PROTO_VERSION) {
        snprintf(msg, msg_size,
                 "shim protocol version %lld is not "
                 "supported (this agent speaks %d)",
                 (long long)json_integer_value(version), CNI_PROTO_VERSION);
        return CNI_ERR_INCOMPATIBLE_VERSION;
    } else if (!json_is_string(stdin_json)
               || cni_env_from_json(json_object_get(request, "env"), env)) {
        snprintf(msg, msg_size, "malformed request from the CNI shim");
        return CNI_ERR_DECODE;
    }
    *config = json_string_value(stdin_json);
    *config_len = json_string_length(stdin_json);
    return 0;
}

bool
cni_parse_args(const char *args, char *ns, size_t ns_size, char *name,
               size_t name_size)
{
    if (!args) {
        return true;
    }
    const char *p = args;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len && !eq) {
            return false;
        }
        if (eq) {
            size_t klen = eq - p;
            size_t vlen = len - klen - 1;
            if (klen == 17 && !memcmp(p, "K8S_POD_NAMESPACE", 17)) {
                if (vlen >= ns_size) {
                    return false;
                }
                memcpy(ns, eq + 1, vlen);
                ns[vlen] = '\0';
            } else if (klen == 12 && !memcmp(p, "K8S_POD_NAME", 12)) {
                if (vlen >= name_size) {
                    return false;
                }
                memcpy(name, eq + 1, vlen);
                name[vlen] = '\0';
            }
        }
        p += len + (end ? 1 : 0);
    }
    return true;
}

int
cni_parse_labels(const json_t *config, char **labelsp)
{
    *labelsp = NULL;
    const json_t *labels = json_object_get(
        json_object_get(json_object_get(config, "args"), "cni"), "labels");
    if (!labels) {
        return 0;
    }
    if (!json_is_array(labels)) {
        return CNI_ERR_INVALID_CONFIG;
    }
    json_t *object = json_object();
    if (!object) {
        return CNI_ERR_INTERNAL;
    }
    size_t i;
    const json_t *label;
    json_array_foreach (labels, i, label) {
        const json_t *key = json_object_get(label, "key");
        const json_t *value = json_object_get(label, "value");
        if (!json_is_string(key) || !json_is_string(value)) {
            json_decref(object);
            return CNI_ERR_INVALID_CONFIG;
        }
        if (json_object_set(object, json_string_value(key),
                            (json_t *) value)) {
            json_decref(object);
            return CNI_ERR_INTERNAL;
        }
    }
    *labelsp = json_dumps(object, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(object);
    return *labelsp ? 0 : CNI_ERR_INTERNAL;
}

bool
cni_prev_result_has_ip(const json_t *prev_result, const char *cidr)
{
    size_t i;
    const json_t *ipconf;
    json_array_foreach(json_object_get(prev_result, "ips"), i, ipconf)
    {
        const char *address
            = json_string_value(json_object_get(ipconf, "address"));
        if (address && !strcmp(address, cidr)) {
            return true;
        }
    }
    return false;
}
