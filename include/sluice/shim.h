/*
 * The CNI shim's logic, split from its main() so that tests and fuzz
 * targets can drive it: validate what the runtime gave us, build the
 * request for the agent, exchange it, and interpret the answer.
 */
#ifndef SLUICE_SHIM_H
#define SLUICE_SHIM_H 1

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sluice/cni.h"

/* Default time the shim waits for the agent, and the bounds a network
 * configuration may set with "agentTimeoutSeconds". */
#define SHIM_DEFAULT_TIMEOUT_S 60
#define SHIM_MAX_TIMEOUT_S 600

/* One CNI invocation in progress. */
struct shim_call {
    enum cni_command command;  /* From CNI_COMMAND. */
    char *cni_version;         /* The config's cniVersion, if usable. */
    char socket_path[108];     /* Agent socket (sun_path sized). */
    int timeout_ms;            /* Budget for the whole exchange. */
    char *request;             /* Request JSON for the agent, or NULL. */
    size_t request_len;        /* Length of 'request'. */
};

/* What the shim prints and how it exits. */
struct shim_outcome {
    int code;       /* 0 on success, else the CNI error code. */
    json_t *output; /* Printed on stdout when nonnull. */
};

void shim_call_init(struct shim_call *);
void shim_call_destroy(struct shim_call *);

/* Reads all of 'fd' into a malloc'd NUL-terminated '*buf' of '*len' bytes.
 * Returns 0, EMSGSIZE if it holds more than CNI_MAX_CONFIG_SIZE bytes, or
 * another positive errno value. */
int shim_read_input(int fd, char **buf, size_t *len);

/* Validates 'env' and the 'config_len' bytes of 'config' (NULL with
 * 'too_big' when the input exceeded the size limit).  On success returns
 * true and fills 'call', with 'call->request' set when the agent must be
 * asked.  Otherwise fills 'outcome' with what to print (also for VERSION,
 * which is answered locally) and returns false. */
bool shim_prepare(const struct cni_env *env, const char *config,
                  size_t config_len, bool too_big, struct shim_call *call,
                  struct shim_outcome *outcome);

/* Sends 'call->request' to the agent and fills 'outcome' from its answer,
 * or with error 11 (50 for STATUS) if the agent cannot be reached. */
void shim_exchange(const struct shim_call *call,
                   struct shim_outcome *outcome);

/* Interprets the agent's response body 'body' of 'len' bytes for 'call' and
 * fills 'outcome'. */
void shim_parse_response(const struct shim_call *call, const char *body,
                         size_t len, struct shim_outcome *outcome);

/* Sets 'outcome' to CNI error 'code' with a formatted message. */
void shim_fail(const struct shim_call *call, struct shim_outcome *outcome,
               int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* sluice/shim.h */
