#include <sluice-config.h>

#include "sluice/ctl-proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest command name accepted in a request. */
#define CTL_COMMAND_MAX 64

/* Copies 'src' into 'dst' ('size' bytes, at least 4) as one line of
 * printable ASCII: other bytes become '?', and a string that does not fit
 * ends in "...". */
static void
copy_line(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    size_t n = len < size ? len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = src[i];
        dst[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    dst[n] = '\0';
    if (len >= size) {
        memcpy(dst + size - 4, "...", 4);
    }
}

void
ctl_vformat_error(char *err, size_t err_size, const char *fmt, va_list args)
{
    if (!err || err_size < 4) {
        return;
    }
    char msg[CTL_ERROR_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, args);
    if (n < 0) {
        snprintf(msg, sizeof msg, "cannot format error message");
    } else if ((size_t)n >= sizeof msg) {
        memcpy(msg + sizeof msg - 4, "...", 4);
    }
    copy_line(err, err_size, msg);
}

static void ctl_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ctl_error(char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    ctl_vformat_error(err, err_size, fmt, args);
    va_end(args);
}

json_t *
ctl_request_new(const char *command, json_t *args)
{
    if (!args) {
        args = json_object();
    }
    json_t *request
        = args ? json_pack("{s:i, s:s, s:O}", "version", CTL_PROTO_VERSION,
                           "command", command, "args", args)
               : NULL;
    json_decref(args);
    return request;
}

int
ctl_request_parse(const char *body, size_t len, char **commandp,
                  json_t **argsp, char *err, size_t err_size)
{
    *commandp = NULL;
    *argsp = NULL;

    json_error_t jerror;
    json_t *request = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerror);
    if (!request) {
        ctl_error(err, err_size, "request is not valid JSON: %s", jerror.text);
        return EINVAL;
    }

    int error = EINVAL;
    const char *key;
    json_t *value;
    json_t *version = NULL, *command = NULL, *args = NULL;
    if (!json_is_object(request)) {
        ctl_error(err, err_size, "request is not a JSON object");
        goto out;
    }
    json_object_foreach(request, key, value)
    {
        if (!strcmp(key, "version")) {
            version = value;
        } else if (!strcmp(key, "command")) {
            command = value;
        } else if (!strcmp(key, "args")) {
            args = value;
        } else {
            ctl_error(err, err_size, "request has unknown member '%.64s'",
                      key);
            goto out;
        }
    }
    if (!json_is_integer(version)) {
        ctl_error(err, err_size, "request has no integer 'version'");
        goto out;
    }
    if (json_integer_value(version) != CTL_PROTO_VERSION) {
        ctl_error(err, err_size,
                  "unsupported control protocol version %lld (the agent "
                  "speaks version %d)",
                  (long long)json_integer_value(version), CTL_PROTO_VERSION);
        goto out;
    }
    const char *name = json_string_value(command);
    if (!name || !name[0] || strlen(name) > CTL_COMMAND_MAX) {
        ctl_error(err, err_size, "request has no valid 'command'");
        goto out;
    }
    if (args && !json_is_object(args)) {
        ctl_error(err, err_size, "request 'args' is not an object");
        goto out;
    }

    *commandp = strdup(name);
    *argsp = args ? json_incref(args) : json_object();
    if (!*commandp || !*argsp) {
        free(*commandp);
        json_decref(*argsp);
        *commandp = NULL;
        *argsp = NULL;
        ctl_error(err, err_size, "out of memory");
        error = ENOMEM;
        goto out;
    }
    error = 0;

out:
    json_decref(request);
    return error;
}

json_t *
ctl_response_ok(json_t *result)
{
    if (!result) {
        result = json_object();
    }
    json_t *response
        = result ? json_pack("{s:i, s:i, s:O}", "version", CTL_PROTO_VERSION,
                             "status", CTL_STATUS_OK, "result", result)
                 : NULL;
    json_decref(result);
    return response;
}

json_t *
ctl_response_error(int status, const char *fmt, ...)
{
    char msg[CTL_ERROR_MAX];
    char line[CTL_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    if (n < 0) {
        snprintf(msg, sizeof msg, "cannot format error message");
    } else if ((size_t)n >= sizeof msg) {
        memcpy(msg + sizeof msg - 4, "...", 4);
    }
    copy_line(line, sizeof line, msg);
    return json_pack("{s:i, s:i, s:s}", "version", CTL_PROTO_VERSION, "status",
                     status, "error", line);
}

int
ctl_response_parse(const char *body, size_t len, struct ctl_response *response,
                   char *err, size_t err_size)
{
    memset(response, 0, sizeof *response);

    json_error_t jerror;
    json_t *json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerror);
    if (!json) {
        ctl_error(err, err_size, "response is not valid JSON: %s",
                  jerror.text);
        return EPROTO;
    }

    int error = EPROTO;
    const json_t *version = json_object_get(json, "version");
    const json_t *status = json_object_get(json, "status");
    const json_t *result = json_object_get(json, "result");
    const json_t *message = json_object_get(json, "error");
    if (!json_is_object(json)) {
        ctl_error(err, err_size, "response is not a JSON object");
    } else if (!json_is_integer(version)) {
        ctl_error(err, err_size, "response has no integer 'version'");
    } else if (json_integer_value(version) != CTL_PROTO_VERSION) {
        ctl_error(err, err_size,
                  "the agent speaks control protocol version %lld, "
                  "sluicectl speaks version %d",
                  (long long)json_integer_value(version), CTL_PROTO_VERSION);
        error = EPROTONOSUPPORT;
    } else if (!json_is_integer(status) || json_integer_value(status) < 0
               || json_integer_value(status) > 255) {
        ctl_error(err, err_size, "response has no valid 'status'");
    } else if (json_integer_value(status) == CTL_STATUS_OK) {
        if (result && !json_is_object(result)) {
            ctl_error(err, err_size, "response 'result' is not an object");
        } else {
            response->result
                = result ? json_incref((json_t *)result) : json_object();
            error = response->result ? 0 : ENOMEM;
        }
    } else if (message && !json_is_string(message)) {
        ctl_error(err, err_size, "response 'error' is not a string");
    } else {
        int code = json_integer_value(status);
        char line[CTL_ERROR_MAX];
        if (message && json_string_value(message)[0]) {
            copy_line(line, sizeof line, json_string_value(message));
        } else {
            snprintf(line, sizeof line, "the agent failed with status %d",
                     code);
        }
        response->status = code;
        response->error = strdup(line);
        error = response->error ? 0 : ENOMEM;
    }
    if (error == ENOMEM) {
        ctl_error(err, err_size, "out of memory");
    }
    json_decref(json);
    return error;
}

void
ctl_response_destroy(struct ctl_response *response)
{
    json_decref(response->result);
    free(response->error);
    response->result = NULL;
    response->error = NULL;
}
