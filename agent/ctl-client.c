#include <sluice-config.h>

#include "sluice/ctl-client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sluice/cni-proto.h"

/* Longest "since" or pod name accepted in a result. */
#define CTL_TOKEN_MAX 512

/* Formats a one-line message into 'err' (if nonnull): bytes other than
 * printable ASCII become '?', a message that does not fit ends in "...". */
static void client_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
client_error(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size < 4) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(err, err_size, fmt, args);
    va_end(args);
    if (n < 0) {
        snprintf(err, err_size, "cannot format error message");
    } else if ((size_t)n >= err_size) {
        memcpy(err + err_size - 4, "...", 4);
    }
    for (char *p = err; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
            *p = '?';
        }
    }
}

/* Describes 'timeout_ms' for messages ("10 s" or "250 ms"). */
static void
format_timeout(int timeout_ms, char *buf, size_t size)
{
    if (timeout_ms % 1000) {
        snprintf(buf, size, "%d ms", timeout_ms);
    } else {
        snprintf(buf, size, "%d s", timeout_ms / 1000);
    }
}

int
ctl_client_call(const char *socket_path, int timeout_ms, const json_t *request,
                struct ctl_response *response, char *err, size_t err_size)
{
    memset(response, 0, sizeof *response);

    size_t path_len = strlen(socket_path);
    if (!path_len || path_len >= CTL_SOCKET_PATH_MAX) {
        client_error(err, err_size,
                     "control socket path '%.128s' is empty or longer "
                     "than %d bytes",
                     socket_path, CTL_SOCKET_PATH_MAX - 1);
        return ENAMETOOLONG;
    }

    char *body = json_dumps(request, JSON_COMPACT);
    if (!body || strlen(body) > CTL_PROTO_MAX_FRAME) {
        client_error(err, err_size,
                     "cannot encode the request for the sluice agent at %s",
                     socket_path);
        int error = body ? EMSGSIZE : ENOMEM;
        free(body);
        return error;
    }

    char timeout[32];
    format_timeout(timeout_ms, timeout, sizeof timeout);

    char *answer;
    size_t len;
    enum frame_exchange_stage stage;
    int error = frame_exchange(socket_path, body, strlen(body), timeout_ms,
                               CTL_PROTO_MAX_FRAME, &answer, &len, &stage);
    free(body);
    if (error == ETIMEDOUT) {
        client_error(err, err_size, "%s the sluice agent at %s: timed out "
                     "after %s",
                     stage == FRAME_CONNECT ? "cannot connect to"
                                            : "no answer from",
                     socket_path, timeout);
    } else if (error && stage == FRAME_CONNECT) {
        client_error(err, err_size,
                     "cannot connect to the sluice agent at %s: %s (is "
                     "sluiced running?)", socket_path, strerror(error));
    } else if (error == ECONNRESET && stage == FRAME_RECEIVE) {
        client_error(err, err_size,
                     "the sluice agent at %s closed the connection without "
                     "answering", socket_path);
    } else if (error == EMSGSIZE && stage == FRAME_RECEIVE) {
        client_error(err, err_size,
                     "bad answer from the sluice agent at %s: frame too "
                     "large", socket_path);
        error = EPROTO;
    } else if (error) {
        client_error(err, err_size, "%s the sluice agent at %s: %s",
                     stage == FRAME_SEND ? "cannot send the request to"
                                         : "cannot read the answer of",
                     socket_path, strerror(error));
    } else {
        char msg[CTL_ERROR_MAX];
        error = ctl_response_parse(answer, len, response, msg, sizeof msg);
        free(answer);
        if (error == EPROTONOSUPPORT) {
            client_error(err, err_size,
                         "incompatible sluice agent at %s: %s", socket_path,
                         msg);
        } else if (error) {
            client_error(err, err_size,
                         "malformed answer from the sluice agent at %s: %s",
                         socket_path, msg);
        }
    }
    return error;
}

/* Result decoders. */

static void
free_strings(char **strings, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(strings[i]);
    }
    free(strings);
}

/* Returns true if 's' is a nonempty printable ASCII token without spaces
 * or commas of at most CTL_TOKEN_MAX bytes. */
static bool
token_is_valid(const char *s)
{
    size_t len = strnlen(s, CTL_TOKEN_MAX + 1);
    if (!len || len > CTL_TOKEN_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == ',') {
            return false;
        }
    }
    return true;
}

/* Returns true if 's' is a valid node name (a DNS subdomain). */
static bool
node_is_valid(const char *s)
{
    char **nodes;
    size_t n;
    if (!token_is_valid(s)
        || egress_parse_nodes(s, NULL, &nodes, &n, NULL, 0)) {
        return false;
    }
    bool ok = n == 1 && !strcmp(nodes[0], s);
    free_strings(nodes, n);
    return ok;
}

static bool
egress_name_ok(const char *s)
{
    return egress_name_is_valid(s);
}

/* Decodes member 'member' of 'json', an array of strings accepted by
 * 'valid', into '*stringsp' and '*np'. */
static int
strings_from_json(const json_t *json, const char *ctx, const char *member,
                  bool (*valid)(const char *), char ***stringsp, size_t *np,
                  char *err, size_t err_size)
{
    const json_t *array = json_object_get(json, member);
    if (!json_is_array(array)) {
        client_error(err, err_size, "%s: '%s' is missing or not an array", ctx,
                     member);
        return EPROTO;
    }
    size_t n = json_array_size(array);
    char **strings = calloc(n ? n : 1, sizeof *strings);
    if (!strings) {
        client_error(err, err_size, "out of memory");
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(array, i));
        if (!s || !valid(s)) {
            client_error(err, err_size, "%s: '%s' item %zu is not valid", ctx,
                         member, i);
            free_strings(strings, n);
            return EPROTO;
        }
        strings[i] = strdup(s);
        if (!strings[i]) {
            client_error(err, err_size, "out of memory");
            free_strings(strings, n);
            return ENOMEM;
        }
    }
    *stringsp = strings;
    *np = n;
    return 0;
}

/* Decodes member 'member' of 'json', a nonnegative integer, into '*u'. */
static int
count_from_json(const json_t *json, const char *ctx, const char *member,
                uint64_t *u, char *err, size_t err_size)
{
    const json_t *value = json_object_get(json, member);
    if (!json_is_integer(value) || json_integer_value(value) < 0) {
        client_error(err, err_size,
                     "%s: '%s' is missing or not a nonnegative integer", ctx,
                     member);
        return EPROTO;
    }
    *u = json_integer_value(value);
    return 0;
}

/* Decodes member 'member' of 'json', a string accepted by 'valid' or null
 * (or absent), into '*sp' (NULL for null). */
static int
nullable_from_json(const json_t *json, const char *ctx, const char *member,
                   bool (*valid)(const char *), char **sp, char *err,
                   size_t err_size)
{
    const json_t *value = json_object_get(json, member);
    *sp = NULL;
    if (!value || json_is_null(value)) {
        return 0;
    }
    const char *s = json_string_value(value);
    if (!s || !valid(s)) {
        client_error(err, err_size, "%s: '%s' is not valid", ctx, member);
        return EPROTO;
    }
    *sp = strdup(s);
    if (!*sp) {
        client_error(err, err_size, "out of memory");
        return ENOMEM;
    }
    return 0;
}

/* Decodes the dotted quad 'value' (or JSON null, when 'nullable') into
 * '*ip' (0 for null). */
static int
ip_from_json(const json_t *value, const char *ctx, bool nullable, uint32_t *ip,
             char *err, size_t err_size)
{
    *ip = 0;
    if (nullable && (!value || json_is_null(value))) {
        return 0;
    }
    const char *s = json_string_value(value);
    if (!s || !token_is_valid(s) || egress_parse_ip(s, NULL, ip, NULL, 0)
        || !*ip) {
        client_error(err, err_size,
                     "%s: 'ip' is missing or not a valid "
                     "address",
                     ctx);
        return EPROTO;
    }
    return 0;
}

static int
pool_status_decode(const json_t *json, const char *ctx,
                   struct ctl_pool_status *status, char *err, size_t err_size)
{
    memset(status, 0, sizeof *status);
    if (!json_is_object(json)) {
        client_error(err, err_size, "%s: not an object", ctx);
        return EPROTO;
    }

    char msg[256];
    int error = egress_pool_from_json(json_object_get(json, "pool"),
                                      &status->pool, msg, sizeof msg);
    if (error) {
        client_error(err, err_size, "%s: 'pool': %s", ctx, msg);
        return error == ENOMEM ? ENOMEM : EPROTO;
    }
    error = count_from_json(json, ctx, "total", &status->total, err, err_size);
    if (!error) {
        error
            = count_from_json(json, ctx, "used", &status->used, err, err_size);
    }
    if (!error) {
        error = strings_from_json(json, ctx, "egresses", egress_name_ok,
                                  &status->egresses, &status->n_egresses, err,
                                  err_size);
    }
    if (error) {
        ctl_pool_status_destroy(status);
    }
    return error;
}

int
ctl_pool_status_from_json(const json_t *json, struct ctl_pool_status *status,
                          char *err, size_t err_size)
{
    return pool_status_decode(json, "pool status", status, err, err_size);
}

int
ctl_pool_list_from_json(const json_t *json, struct ctl_pool_list *list,
                        char *err, size_t err_size)
{
    memset(list, 0, sizeof *list);
    const json_t *pools = json_object_get(json, "pools");
    if (!json_is_array(pools)) {
        client_error(err, err_size, "'pools' is missing or not an array");
        return EPROTO;
    }
    size_t n = json_array_size(pools);
    list->pools = calloc(n ? n : 1, sizeof *list->pools);
    if (!list->pools) {
        client_error(err, err_size, "out of memory");
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char ctx[32];
        snprintf(ctx, sizeof ctx, "pools[%zu]", i);
        int error = pool_status_decode(json_array_get(pools, i), ctx,
                                       &list->pools[i], err, err_size);
        if (error) {
            ctl_pool_list_destroy(list);
            return error;
        }
        list->n++;
    }
    return 0;
}

static int
egress_status_decode(const json_t *json, const char *ctx,
                     struct ctl_egress_status *status, char *err,
                     size_t err_size)
{
    memset(status, 0, sizeof *status);
    if (!json_is_object(json)) {
        client_error(err, err_size, "%s: not an object", ctx);
        return EPROTO;
    }

    char msg[256];
    int error = egress_from_json(json_object_get(json, "egress"),
                                 &status->egress, msg, sizeof msg);
    if (error) {
        client_error(err, err_size, "%s: 'egress': %s", ctx, msg);
        return error == ENOMEM ? ENOMEM : EPROTO;
    }
    const json_t *ip = json_object_get(json, "ip");
    if (!ip) {
        client_error(err, err_size, "%s: 'ip' is missing", ctx);
        error = EPROTO;
    } else {
        error = ip_from_json(ip, ctx, true, &status->ip, err, err_size);
    }
    if (!error) {
        error = nullable_from_json(json, ctx, "node", node_is_valid,
                                   &status->node, err, err_size);
    }
    if (!error) {
        error = nullable_from_json(json, ctx, "since", token_is_valid,
                                   &status->since, err, err_size);
    }
    if (!error) {
        error
            = strings_from_json(json, ctx, "pods", token_is_valid,
                                &status->pods, &status->n_pods, err, err_size);
    }
    if (error) {
        ctl_egress_status_destroy(status);
    }
    return error;
}

int
ctl_egress_status_from_json(const json_t *json,
                            struct ctl_egress_status *status, char *err,
                            size_t err_size)
{
    return egress_status_decode(json, "egress status", status, err, err_size);
}

int
ctl_egress_list_from_json(const json_t *json, struct ctl_egress_list *list,
                          char *err, size_t err_size)
{
    memset(list, 0, sizeof *list);
    const json_t *egresses = json_object_get(json, "egresses");
    if (!json_is_array(egresses)) {
        client_error(err, err_size, "'egresses' is missing or not an array");
        return EPROTO;
    }
    size_t n = json_array_size(egresses);
    list->egresses = calloc(n ? n : 1, sizeof *list->egresses);
    if (!list->egresses) {
        client_error(err, err_size, "out of memory");
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        char ctx[32];
        snprintf(ctx, sizeof ctx, "egresses[%zu]", i);
        int error = egress_status_decode(json_array_get(egresses, i), ctx,
                                         &list->egresses[i], err, err_size);
        if (error) {
            ctl_egress_list_destroy(list);
            return error;
        }
        list->n++;
    }
    return 0;
}

int
ctl_egress_created_from_json(const json_t *json, uint32_t *ip, char *err,
                             size_t err_size)
{
    return ip_from_json(json_object_get(json, "ip"), "result", false, ip, err,
                        err_size);
}

void
ctl_pool_status_destroy(struct ctl_pool_status *status)
{
    egress_pool_destroy(status->pool);
    free_strings(status->egresses, status->n_egresses);
    memset(status, 0, sizeof *status);
}

void
ctl_pool_list_destroy(struct ctl_pool_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        ctl_pool_status_destroy(&list->pools[i]);
    }
    free(list->pools);
    memset(list, 0, sizeof *list);
}

void
ctl_egress_status_destroy(struct ctl_egress_status *status)
{
    egress_destroy(status->egress);
    free(status->node);
    free(status->since);
    free_strings(status->pods, status->n_pods);
    memset(status, 0, sizeof *status);
}

void
ctl_egress_list_destroy(struct ctl_egress_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        ctl_egress_status_destroy(&list->egresses[i]);
    }
    free(list->egresses);
    memset(list, 0, sizeof *list);
}
