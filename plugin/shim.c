#include <sluice-config.h>

#include "sluice/shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/cni-proto.h"

void
shim_call_init(struct shim_call *call)
{
    memset(call, 0, sizeof *call);
    call->command = CNI_CMD_UNKNOWN;
    call->timeout_ms = SHIM_DEFAULT_TIMEOUT_S * 1000;
}

void
shim_call_destroy(struct shim_call *call)
{
    free(call->cni_version);
    free(call->request);
    call->cni_version = NULL;
    call->request = NULL;
}

void
shim_fail(const struct shim_call *call, struct shim_outcome *outcome,
          int code, const char *fmt, ...)
{
    char msg[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);

    json_decref(outcome->output);
    outcome->code = code;
    outcome->output = cni_error_new(call->cni_version, code, msg, NULL);
}

int
shim_read_input(int fd, char **bufp, size_t *lenp)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        return ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            if (cap > CNI_MAX_CONFIG_SIZE) {
                free(buf);
                return EMSGSIZE;
            }
            cap *= 2;
            char *bigger = realloc(buf, cap);
            if (!bigger) {
                free(buf);
                return ENOMEM;
            }
            buf = bigger;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int error = errno;
            free(buf);
            return error;
        } else if (n == 0) {
            break;
        }
        len += n;
        if (len > CNI_MAX_CONFIG_SIZE) {
            free(buf);
            return EMSGSIZE;
        }
    }
    /* 'len' <= CNI_MAX_CONFIG_SIZE < 'cap' here, so the NUL fits. */
    buf[len] = '\0';
    *bufp = buf;
    *lenp = len;
    return 0;
}

/* Answers VERSION locally. */
static void
answer_version(const struct shim_call *call, struct shim_outcome *outcome)
{
    json_t *versions = cni_supported_versions();
    outcome->code = 0;
    outcome->output = versions
        ? json_pack("{s:s, s:o}", "cniVersion",
                    call->cni_version ? call->cni_version
                                      : CNI_VERSION_LATEST,
                    "supportedVersions", versions)
        : NULL;
    if (!outcome->output) {
        shim_fail(call, outcome, CNI_ERR_INTERNAL, "out of memory");
    }
}

/* Reads the shim's own settings from 'config'.  Returns 0 or a CNI error
 * code after filling 'outcome'. */
static int
read_shim_settings(const json_t *config, struct shim_call *call,
                   struct shim_outcome *outcome)
{
    const char *path = CNI_PROTO_DEFAULT_SOCKET;
    const json_t *socket = json_object_get(config, "agentSocket");
    if (socket) {
        if (!json_is_string(socket) || json_string_value(socket)[0] != '/') {
            shim_fail(call, outcome, CNI_ERR_INVALID_CONFIG,
                      "'agentSocket' must be an absolute path");
            return CNI_ERR_INVALID_CONFIG;
        }
        path = json_string_value(socket);
    }
    if (strlen(path) >= sizeof call->socket_path) {
        shim_fail(call, outcome, CNI_ERR_INVALID_CONFIG,
                  "'agentSocket' is longer than %zu bytes",
                  sizeof call->socket_path - 1);
        return CNI_ERR_INVALID_CONFIG;
    }
    strcpy(call->socket_path, path);

    const json_t *timeout = json_object_get(config, "agentTimeoutSeconds");
    if (timeout) {
        json_int_t t = json_is_integer(timeout) ? json_integer_value(timeout)
                                                : 0;
        if (t < 1 || t > SHIM_MAX_TIMEOUT_S) {
            shim_fail(call, outcome, CNI_ERR_INVALID_CONFIG,
                      "'agentTimeoutSeconds' must be an integer from 1 "
                      "to %d", SHIM_MAX_TIMEOUT_S);
            return CNI_ERR_INVALID_CONFIG;
        }
        call->timeout_ms = t * 1000;
    }
    return 0;
}

bool
shim_prepare(const struct cni_env *env, const char *config,
             size_t config_len, bool too_big, struct shim_call *call,
             struct shim_outcome *outcome)
{
    char msg[512];
    outcome->code = 0;
    outcome->output = NULL;

    call->command = cni_command_from_string(env->command);
    if (call->command == CNI_CMD_UNKNOWN) {
        shim_fail(call, outcome, CNI_ERR_INVALID_ENV,
                  env->command ? "unknown CNI_COMMAND '%.32s' (expected "
                                 "ADD, DEL, CHECK, STATUS, GC or VERSION)"
                               : "CNI_COMMAND is not set%.0s",
                  env->command ? env->command : "");
        return false;
    }
    int error = cni_check_env(call->command, env, msg, sizeof msg);
    if (error) {
        shim_fail(call, outcome, error, "%s", msg);
        return false;
    }

    if (too_big) {
        shim_fail(call, outcome, CNI_ERR_DECODE,
                  "network configuration on stdin is larger than %d bytes",
                  CNI_MAX_CONFIG_SIZE);
        return false;
    }
    if (call->command == CNI_CMD_VERSION && config_len == 0) {
        answer_version(call, outcome);
        return false;
    }

    json_error_t jerror;
    json_t *parsed = json_loadb(config, config_len, JSON_REJECT_DUPLICATES,
                                &jerror);
    if (!parsed) {
        shim_fail(call, outcome, CNI_ERR_DECODE,
                  "network configuration on stdin is not valid JSON: %s "
                  "(line %d, column %d)", jerror.text, jerror.line,
                  jerror.column);
        return false;
    }
    const json_t *version = json_object_get(parsed, "cniVersion");
    if (json_is_string(version)
        && cni_version_supported(json_string_value(version))) {
        call->cni_version = strdup(json_string_value(version));
        if (!call->cni_version) {
            json_decref(parsed);
            shim_fail(call, outcome, CNI_ERR_INTERNAL, "out of memory");
            return false;
        }
    }
    error = cni_check_config(call->command, parsed, msg, sizeof msg);
    if (error) {
        json_decref(parsed);
        shim_fail(call, outcome, error, "%s", msg);
        return false;
    }
    if (call->command == CNI_CMD_VERSION) {
        json_decref(parsed);
        answer_version(call, outcome);
        return false;
    }
    error = read_shim_settings(parsed, call, outcome);
    json_decref(parsed);
    if (error) {
        return false;
    }

    json_t *env_json = cni_env_to_json(env);
    json_t *request = env_json
        ? json_pack("{s:i, s:o, s:s%}", "version", CNI_PROTO_VERSION, "env",
                    env_json, "stdin", config, config_len)
        : NULL;
    call->request = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request);
    if (!call->request) {
        shim_fail(call, outcome, CNI_ERR_DECODE,
                  "cannot encode the request for the agent (environment or "
                  "configuration is not valid UTF-8)");
        return false;
    }
    call->request_len = strlen(call->request);
    return true;
}

void
shim_exchange(const struct shim_call *call, struct shim_outcome *outcome)
{
    int unreachable = (call->command == CNI_CMD_STATUS
                       ? CNI_ERR_NOT_AVAILABLE : CNI_ERR_TRY_AGAIN);
    outcome->code = 0;
    outcome->output = NULL;

    char *answer;
    size_t len;
    enum frame_exchange_stage stage;
    int error = frame_exchange(call->socket_path, call->request,
                               call->request_len, call->timeout_ms,
                               CNI_PROTO_MAX_FRAME, &answer, &len, &stage);
    if (!error) {
        shim_parse_response(call, answer, len, outcome);
        free(answer);
    } else if (stage == FRAME_CONNECT) {
        shim_fail(call, outcome, unreachable,
                  "sluice agent not reachable at %s: %s (is sluiced "
                  "running?)", call->socket_path, strerror(error));
    } else if (error == EMSGSIZE || error == ENOMEM) {
        shim_fail(call, outcome, stage == FRAME_SEND ? CNI_ERR_DECODE
                                                     : CNI_ERR_IO,
                  "%s the sluice agent at %s: %s",
                  stage == FRAME_SEND ? "request too large for"
                                      : "bad answer from",
                  call->socket_path, strerror(error));
    } else {
        shim_fail(call, outcome, unreachable,
                  "no answer from the sluice agent at %s: %s",
                  call->socket_path, strerror(error));
    }
}

void
shim_parse_response(const struct shim_call *call, const char *body,
                    size_t len, struct shim_outcome *outcome)
{
    outcome->code = 0;
    outcome->output = NULL;

    json_error_t jerror;
    json_t *response = json_loadb(body, len, 0, &jerror);
    json_t *version = json_object_get(response, "version");
    json_t *code = json_object_get(response, "code");
    json_t *output = json_object_get(response, "output");
    if (!json_is_integer(version) || !json_is_integer(code)
        || (output && !json_is_object(output))) {
        shim_fail(call, outcome, CNI_ERR_IO,
                  "malformed answer from the sluice agent at %s",
                  call->socket_path);
    } else if (json_integer_value(version) != CNI_PROTO_VERSION) {
        shim_fail(call, outcome, CNI_ERR_INCOMPATIBLE_VERSION,
                  "the sluice agent speaks protocol version %lld, this shim "
                  "speaks %d", (long long) json_integer_value(version),
                  CNI_PROTO_VERSION);
    } else {
        json_int_t c = json_integer_value(code);
        if (c < 0 || c > 0xffff) {
            shim_fail(call, outcome, CNI_ERR_IO,
                      "the sluice agent answered with bad code %lld",
                      (long long) c);
        } else if (c && !output) {
            shim_fail(call, outcome, c,
                      "the sluice agent failed with code %lld",
                      (long long) c);
        } else {
            outcome->code = c;
            outcome->output = json_incref(output);
        }
    }
    json_decref(response);
}
