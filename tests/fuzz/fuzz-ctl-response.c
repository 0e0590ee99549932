/* Fuzz target for the control protocol's decoders of untrusted input: the
 * agent's responses as sluicectl decodes them (the envelope, then the
 * result of each command) and, for the agent's side, requests.
 *
 * Input layout: byte 0 picks what to decode, the rest is a frame body.
 * Whatever is accepted must respect the decoders' promises (one-line
 * printable messages, valid names and tokens); a violation aborts. */
#include <sluice-config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/ctl-client.h"
#include "sluice/ctl-proto.h"
#include "sluice/egress-model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless 's' is a nonempty line of printable ASCII (spaces allowed
 * if 'spaces') shorter than 'max' bytes. */
static void
check_line(const char *s, bool spaces, size_t max)
{
    size_t len = strlen(s);
    if (!len || len >= max) {
        fprintf(stderr, "bad length %zu: \"%s\"\n", len, s);
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c >= 0x7f || (!spaces && (c == ' ' || c == ','))) {
            fprintf(stderr, "bad byte 0x%02x in \"%s\"\n", c, s);
            abort();
        }
    }
}

static void
check_pool_status(const struct ctl_pool_status *s)
{
    char err[256];
    if (!s->pool || egress_pool_validate(s->pool, err, sizeof err)) {
        abort();
    }
    for (size_t i = 0; i < s->n_egresses; i++) {
        if (!egress_name_is_valid(s->egresses[i])) {
            abort();
        }
    }
}

static void
check_egress_status(const struct ctl_egress_status *s)
{
    char err[256];
    if (!s->egress || egress_validate(s->egress, err, sizeof err)) {
        abort();
    }
    if (s->node) {
        check_line(s->node, false, EGRESS_NODE_NAME_MAX + 1);
    }
    if (s->since) {
        check_line(s->since, false, 513);
    }
    for (size_t i = 0; i < s->n_pods; i++) {
        check_line(s->pods[i], false, 513);
    }
}

static void
fuzz_result(uint8_t which, const json_t *result)
{
    char err[CTL_ERROR_MAX] = "";
    int error;

    switch (which % 5) {
    case 0: {
        struct ctl_pool_list list;
        error = ctl_pool_list_from_json(result, &list, err, sizeof err);
        if (!error) {
            for (size_t i = 0; i < list.n; i++) {
                check_pool_status(&list.pools[i]);
            }
            ctl_pool_list_destroy(&list);
        }
        break;
    }
    case 1: {
        struct ctl_pool_status status;
        error = ctl_pool_status_from_json(result, &status, err, sizeof err);
        if (!error) {
            check_pool_status(&status);
            ctl_pool_status_destroy(&status);
        }
        break;
    }
    case 2: {
        struct ctl_egress_list list;
        error = ctl_egress_list_from_json(result, &list, err, sizeof err);
        if (!error) {
            for (size_t i = 0; i < list.n; i++) {
                check_egress_status(&list.egresses[i]);
            }
            ctl_egress_list_destroy(&list);
        }
        break;
    }
    case 3: {
        struct ctl_egress_status status;
        error = ctl_egress_status_from_json(result, &status, err, sizeof err);
        if (!error) {
            check_egress_status(&status);
            ctl_egress_status_destroy(&status);
        }
        break;
    }
    default: {
        uint32_t ip;
        error = ctl_egress_created_from_json(result, &ip, err, sizeof err);
        if (!error && !ip) {
            abort();
        }
        break;
    }
    }
    if (error) {
        check_line(err, true, sizeof err);
    }
}

static void
fuzz_response(uint8_t which, const char *body, size_t len)
{
    struct ctl_response response;
    char err[CTL_ERROR_MAX] = "";
    int error = ctl_response_parse(body, len, &response, err, sizeof err);
    if (error) {
        check_line(err, true, sizeof err);
        if (response.result || response.error) {
            abort();
        }
        return;
    }
    if (response.status == CTL_STATUS_OK) {
        if (!json_is_object(response.result) || response.error) {
            abort();
        }
        fuzz_result(which, response.result);
    } else {
        if (response.result || response.status < 0 || response.status > 255) {
            abort();
        }
        check_line(response.error, true, CTL_ERROR_MAX);
    }
    ctl_response_destroy(&response);
}

static void
fuzz_request(const char *body, size_t len)
{
    char *command;
    json_t *args;
    char err[CTL_ERROR_MAX] = "";
    if (ctl_request_parse(body, len, &command, &args, err, sizeof err)) {
        check_line(err, true, sizeof err);
        if (command || args) {
            abort();
        }
        return;
    }
    if (!command[0] || !json_is_object(args)) {
        abort();
    }
    /* What the agent accepted it can answer. */
    json_t *response = ctl_response_error(CTL_STATUS_INVALID,
                                          "unknown command '%s'", command);
    char *text = response ? json_dumps(response, JSON_COMPACT) : NULL;
    struct ctl_response parsed;
    if (!text
        || ctl_response_parse(text, strlen(text), &parsed, err, sizeof err)
        || parsed.status != CTL_STATUS_INVALID) {
        abort();
    }
    check_line(parsed.error, true, CTL_ERROR_MAX);
    ctl_response_destroy(&parsed);
    free(text);
    json_decref(response);
    free(command);
    json_decref(args);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > CTL_PROTO_MAX_FRAME + 1) {
        return 0;
    }
    uint8_t which = data[0];
    const char *body = (const char *)data + 1;
    size--;
    if (which % 6 == 5) {
        fuzz_request(body, size);
    } else {
        fuzz_response(which % 6, body, size);
    }
    return 0;
}
