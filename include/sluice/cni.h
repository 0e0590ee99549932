/*
 * The parts of the CNI 1.1 specification that both the shim and the agent
 * need: commands, versions, error codes and the shape of error results.
 */
#ifndef SLUICE_CNI_H
#define SLUICE_CNI_H 1

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Error codes reserved by the CNI specification. */
enum cni_error {
    CNI_OK = 0,
    CNI_ERR_INCOMPATIBLE_VERSION = 1,
    CNI_ERR_UNSUPPORTED_FIELD = 2,
    CNI_ERR_UNKNOWN_CONTAINER = 3,
    CNI_ERR_INVALID_ENV = 4,
    CNI_ERR_IO = 5,
    CNI_ERR_DECODE = 6,
    CNI_ERR_INVALID_CONFIG = 7,
    CNI_ERR_TRY_AGAIN = 11,
    CNI_ERR_NOT_AVAILABLE = 50,        /* STATUS: cannot serve ADDs. */
    CNI_ERR_LIMITED_CONNECTIVITY = 51, /* STATUS: degraded. */
    CNI_ERR_INTERNAL = 100,            /* First plugin-specific code. */
};

enum cni_command {
    CNI_CMD_ADD,
    CNI_CMD_DEL,
    CNI_CMD_CHECK,
    CNI_CMD_STATUS,
    CNI_CMD_GC,
    CNI_CMD_VERSION,
    CNI_CMD_UNKNOWN,
};

/* The newest CNI version we speak, used in errors when the config's own
 * version is unknown. */
#define CNI_VERSION_LATEST "1.1.0"

/* Inputs larger than this are rejected rather than read. */
#define CNI_MAX_CONFIG_SIZE (1024 * 1024)

/* Longest interface name Linux accepts (IFNAMSIZ - 1). */
#define CNI_MAX_IFNAME 15

enum cni_command cni_command_from_string(const char *);
const char *cni_command_to_string(enum cni_command);

bool cni_version_supported(const char *version);
int cni_version_compare(const char *a, const char *b, int *result);
json_t *cni_supported_versions(void);

/* The CNI_* environment a runtime passes to a plugin.  Absent variables are
 * NULL. */
struct cni_env {
    const char *command;     /* CNI_COMMAND. */
    const char *containerid; /* CNI_CONTAINERID. */
    const char *netns;       /* CNI_NETNS. */
    const char *ifname;      /* CNI_IFNAME. */
    const char *args;        /* CNI_ARGS. */
    const char *path;        /* CNI_PATH. */
};

/* Checks that 'env' holds every variable the spec requires for 'command'
 * and that the container id and interface name are well formed.  Returns 0,
 * or CNI_ERR_INVALID_ENV with a message in 'msg'. */
int cni_check_env(enum cni_command command, const struct cni_env *env,
                  char *msg, size_t msg_size);

/* Returns 'env' as a JSON object of the variables that are set. */
json_t *cni_env_to_json(const struct cni_env *env);

/* Fills 'env' with pointers into 'object' (which must outlive 'env').
 * Returns 0, or CNI_ERR_DECODE if a member is not a string. */
int cni_env_from_json(const json_t *object, struct cni_env *env);

/* Checks the network configuration common to every command except VERSION:
 * cniVersion supported (and new enough for 'command'), name and type
 * present.  Returns a CNI error code and writes a message into 'msg'. */
int cni_check_config(enum cni_command command, const json_t *config,
                     char *msg, size_t msg_size);

/* Returns a new CNI error object {cniVersion, code, msg[, details]}. */
json_t *cni_error_new(const char *cni_version, int code, const char *msg,
                      const char *details);

#endif /* sluice/cni.h */
