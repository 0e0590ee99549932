#include <sluice-config.h>

#include "sluice/cni.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const supported_versions[] = {
    "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
};
#define N_SUPPORTED_VERSIONS \
    (sizeof supported_versions / sizeof supported_versions[0])

static const char *const command_names[] = {
    [CNI_CMD_ADD] = "ADD",       [CNI_CMD_DEL] = "DEL",
    [CNI_CMD_CHECK] = "CHECK",   [CNI_CMD_STATUS] = "STATUS",
    [CNI_CMD_GC] = "GC",         [CNI_CMD_VERSION] = "VERSION",
};

enum cni_command
cni_command_from_string(const char *s)
{
    if (s) {
        for (int i = 0; i < CNI_CMD_UNKNOWN; i++) {
            if (!strcmp(s, command_names[i])) {
                return i;
            }
        }
    }
    return CNI_CMD_UNKNOWN;
}

const char *
cni_command_to_string(enum cni_command command)
{
    return command < CNI_CMD_UNKNOWN ? command_names[command] : "UNKNOWN";
}

bool
cni_version_supported(const char *version)
{
    for (size_t i = 0; i < N_SUPPORTED_VERSIONS; i++) {
        if (!strcmp(version, supported_versions[i])) {
            return true;
        }
    }
    return false;
}

/* Parses a "MAJOR.MINOR.PATCH" semantic version into 'v'.  Returns 0 or
 * EINVAL. */
static int
parse_semver(const char *s, unsigned long v[3])
{
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*s < '0' || *s > '9') {
            return EINVAL;
        }
        errno = 0;
        v[i] = strtoul(s, &end, 10);
        if (errno || end == s || v[i] > 1000) {
            return EINVAL;
        }
        if (i < 2 ? *end != '.' : *end != '\0') {
            return EINVAL;
        }
        s = end + 1;
    }
    return 0;
}

int
cni_version_compare(const char *a, const char *b, int *result)
{
    unsigned long va[3], vb[3];
    if (parse_semver(a, va) || parse_semver(b, vb)) {
        return EINVAL;
    }
    *result = 0;
    for (int i = 0; i < 3 && !*result; i++) {
        *result = va[i] < vb[i] ? -1 : va[i] > vb[i];
    }
    return 0;
}

json_t *
cni_supported_versions(void)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < N_SUPPORTED_VERSIONS; i++) {
        if (json_array_append_new(array,
                                  json_string(supported_versions[i]))) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

/* Container ids: alphanumerics, '_', '.', '-', starting alphanumeric. */
static bool
valid_container_id(const char *id)
{
    if (!id[0] || strlen(id) > 1024) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                     || (*p >= '0' && *p <= '9');
        if (!alnum && (p == id || !strchr("_.-", *p))) {
            return false;
        }
    }
    return true;
}

/* Interface names as Linux accepts them. */
static bool
valid_ifname(const char *name)
{
    size_t len = strlen(name);
    if (!len || len > CNI_MAX_IFNAME || !strcmp(name, ".")
        || !strcmp(name, "..")) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

int
cni_check_env(enum cni_command command, const struct cni_env *env,
              char *msg, size_t msg_size)
{
    bool need_id = false, need_netns = false, need_ifname = false;
    switch (command) {
    case CNI_CMD_ADD:
    case CNI_CMD_CHECK:
        need_id = need_netns = need_ifname = true;
        break;
    case CNI_CMD_DEL:
        need_id = need_ifname = true;
        break;
    case CNI_CMD_STATUS:
    case CNI_CMD_GC:
    case CNI_CMD_VERSION:
        break;
    case CNI_CMD_UNKNOWN:
    default:
        snprintf(msg, msg_size, "unknown CNI_COMMAND '%s'",
                 env->command ? env->command : "");
        return CNI_ERR_INVALID_ENV;
    }

    const char *missing[3];
    size_t n_missing = 0;
    if (need_id && (!env->containerid || !env->containerid[0])) {
        missing[n_missing++] = "CNI_CONTAINERID";
    }
    if (need_netns && (!env->netns || !env->netns[0])) {
        missing[n_missing++] = "CNI_NETNS";
    }
    if (need_ifname && (!env->ifname || !env->ifname[0])) {
        missing[n_missing++] = "CNI_IFNAME";
    }
    if (n_missing) {
        snprintf(msg, msg_size, "%s: required environment variable%s %s%s%s"
                 "%s%s missing", cni_command_to_string(command),
                 n_missing > 1 ? "s" : "", missing[0],
                 n_missing > 1 ? ", " : "", n_missing > 1 ? missing[1] : "",
                 n_missing > 2 ? ", " : "", n_missing > 2 ? missing[2] : "");
        return CNI_ERR_INVALID_ENV;
    }
    if (need_id && !valid_container_id(env->containerid)) {
        snprintf(msg, msg_size, "invalid CNI_CONTAINERID '%.64s': only "
                 "letters, digits, '_', '.' and '-' are allowed",
                 env->containerid);
        return CNI_ERR_INVALID_ENV;
    }
    if (need_ifname && !valid_ifname(env->ifname)) {
        snprintf(msg, msg_size, "invalid CNI_IFNAME '%.64s': not a valid "
                 "interface name (1-%d characters, no '/', ':' or spaces)",
                 env->ifname, CNI_MAX_IFNAME);
        return CNI_ERR_INVALID_ENV;
    }
    return 0;
}

static const struct {
    const char *name;
    size_t offset;
} env_members[] = {
    {"CNI_COMMAND", offsetof(struct cni_env, command)},
    {"CNI_CONTAINERID", offsetof(struct cni_env, containerid)},
    {"CNI_NETNS", offsetof(struct cni_env, netns)},
    {"CNI_IFNAME", offsetof(struct cni_env, ifname)},
    {"CNI_ARGS", offsetof(struct cni_env, args)},
    {"CNI_PATH", offsetof(struct cni_env, path)},
};
#define N_ENV_MEMBERS (sizeof env_members / sizeof env_members[0])

static const char **
env_member(struct cni_env *env, size_t i)
{
    return (const char **) ((char *) env + env_members[i].offset);
}

json_t *
cni_env_to_json(const struct cni_env *env)
{
    json_t *object = json_object();
    for (size_t i = 0; object && i < N_ENV_MEMBERS; i++) {
        const char *value = *env_member((struct cni_env *) env, i);
        if (value && json_object_set_new(object, env_members[i].name,
                                         json_string(value))) {
            json_decref(object);
            return NULL;
        }
    }
    return object;
}

int
cni_env_from_json(const json_t *object, struct cni_env *env)
{
    memset(env, 0, sizeof *env);
    if (!json_is_object(object)) {
        return CNI_ERR_DECODE;
    }
    for (size_t i = 0; i < N_ENV_MEMBERS; i++) {
        const json_t *value = json_object_get(object, env_members[i].name);
        if (value) {
            if (!json_is_string(value)) {
                return CNI_ERR_DECODE;
            }
            *env_member(env, i) = json_string_value(value);
        }
    }
    return 0;
}

/* Network names: a letter or digit, then letters, digits, '_', '.', '-'. */
static bool
valid_network_name(const char *name)
{
    return valid_container_id(name);
}

int
cni_check_config(enum cni_command command, const json_t *config,
                 char *msg, size_t msg_size)
{
    if (!json_is_object(config)) {
        snprintf(msg, msg_size, "network configuration is not a JSON object");
        return CNI_ERR_DECODE;
    }

    const json_t *version = json_object_get(config, "cniVersion");
    if (!json_is_string(version)) {
        snprintf(msg, msg_size, "network configuration has no string "
                 "'cniVersion'");
        return CNI_ERR_INVALID_CONFIG;
    }
    const char *v = json_string_value(version);
    if (!cni_version_supported(v)) {
        snprintf(msg, msg_size, "CNI version '%.32s' is not supported "
                 "(supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)", v);
        return CNI_ERR_INCOMPATIBLE_VERSION;
    }

    /* CHECK appeared in 0.4.0, STATUS and GC in 1.1.0. */
    const char *since = (command == CNI_CMD_CHECK ? "0.4.0"
                         : command == CNI_CMD_STATUS
                           || command == CNI_CMD_GC ? "1.1.0"
                         : NULL);
    int cmp;
    if (since && !cni_version_compare(v, since, &cmp) && cmp < 0) {
        snprintf(msg, msg_size, "CNI version %s does not allow %s (needs %s "
                 "or later)", v, cni_command_to_string(command), since);
        return CNI_ERR_INCOMPATIBLE_VERSION;
    }

    if (command == CNI_CMD_VERSION) {
        return 0;
    }
    const json_t *name = json_object_get(config, "name");
    if (!json_is_string(name) || !valid_network_name(json_string_value(name))) {
        snprintf(msg, msg_size, "network configuration needs a 'name' of "
                 "letters, digits, '_', '.' and '-'");
        return CNI_ERR_INVALID_CONFIG;
    }
    const json_t *type = json_object_get(config, "type");
    if (!json_is_string(type) || !json_string_length(type)) {
        snprintf(msg, msg_size, "network configuration needs a string "
                 "'type'");
        return CNI_ERR_INVALID_CONFIG;
    }
    return 0;
}

json_t *
cni_error_new(const char *cni_version, int code, const char *msg,
              const char *details)
{
    json_t *error = json_pack("{s:s, s:i, s:s}", "cniVersion",
                              cni_version ? cni_version : CNI_VERSION_LATEST,
                              "code", code, "msg", msg ? msg : "");
    if (error && details && details[0]
        && json_object_set_new(error, "details", json_string(details))) {
        json_decref(error);
        return NULL;
    }
    return error;
}
