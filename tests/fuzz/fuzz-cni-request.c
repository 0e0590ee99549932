/* Fuzz target for the agent's handling of the CNI shim's requests, up to
 * where a running agent is needed: the request frame (sluice/cni-proto.h)
 * read in pieces, the request's shape, version and environment
 * (cni_request_decode()), then as agent/pods.c does the environment and
 * network configuration checks, CNI_ARGS, args.cni.labels (and the egress
 * code's reading of the labels the agent stores) and a CHECK's prevResult.
 *
 * Input layout: byte 0 picks whether the rest is a stream of frame bytes
 * (then byte 1 gives the size of the reads) or a request body.  Whatever is
 * accepted must keep the checks' promises; a violation aborts. */
#include <sluice-config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/cni-args.h"
#include "sluice/cni-proto.h"
#include "sluice/egress-model.h"
#include "sluice/ipam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz-cni-request: %s\n", what);
    abort();
}

/* Aborts unless 'msg' is a nonempty line. */
static void
check_message(const char *msg)
{
    if (!msg[0] || strchr(msg, '\n')) {
        fprintf(stderr, "bad message \"%s\"\n", msg);
        fail("error message is not one line");
    }
}

/* An error answer must build, as cni_request_fail() builds it. */
static void
check_answer(const char *cni_version, int code, const char *msg)
{
    check_message(msg);
    json_t *response = cni_proto_response(
        code, cni_error_new(cni_version, code, msg, NULL));
    char *text = response ? json_dumps(response, JSON_COMPACT) : NULL;
    if (!text) {
        fail("cannot build the error answer");
    }
    free(text);
    json_decref(response);
}

static bool
same_string(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The environment survives its JSON form, as the shim sends it. */
static void
check_env_round_trip(const struct cni_env *env)
{
    json_t *json = cni_env_to_json(env);
    struct cni_env again;
    if (!json || cni_env_from_json(json, &again)
        || !same_string(env->command, again.command)
        || !same_string(env->containerid, again.containerid)
        || !same_string(env->netns, again.netns)
        || !same_string(env->ifname, again.ifname)
        || !same_string(env->args, again.args)
        || !same_string(env->path, again.path)) {
        fail("environment does not survive its JSON form");
    }
    json_decref(json);
}

/* What cni_check_env() accepted for 'command' is usable by the agent. */
static void
check_env_ok(enum cni_command command, const struct cni_env *env)
{
    if (command == CNI_CMD_ADD || command == CNI_CMD_CHECK
        || command == CNI_CMD_DEL) {
        if (!env->containerid || !env->ifname) {
            fail("accepted environment lacks an id or interface");
        }
        for (const char *p = env->containerid; *p; p++) {
            if (!strchr("abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
                        *p)) {
                fail("accepted container id has a bad character");
            }
        }
        size_t len = strlen(env->ifname);
        if (!len || len > CNI_MAX_IFNAME || strchr(env->ifname, '/')) {
            fail("accepted interface name is not a Linux one");
        }
        if (command != CNI_CMD_DEL && (!env->netns || !env->netns[0])) {
            fail("accepted environment lacks a netns");
        }
    }
}

/* CNI_ARGS into the pod's buffers (struct pod in agent/pods.c). */
static void
fuzz_args(const char *args)
{
    char ns[IPAM_MAX_POD_NAMESPACE + 1] = "";
    char name[IPAM_MAX_POD_NAME + 1] = "";
    if (cni_parse_args(args, ns, sizeof ns, name, sizeof name)) {
        if (strlen(ns) >= sizeof ns || strlen(name) >= sizeof name) {
            fail("CNI_ARGS value overflows");
        }
        if (ns[0] && (!args || !strstr(args, ns))) {
            fail("namespace not taken from CNI_ARGS");
        }
        if (name[0] && (!args || !strstr(args, name))) {
            fail("pod name not taken from CNI_ARGS");
        }
    } else if (!args) {
        fail("absent CNI_ARGS refused");
    }
}

/* args.cni.labels, then as the egress code reads them back. */
static void
fuzz_labels(const json_t *config)
{
    char *labels;
    if (cni_parse_labels(config, &labels)) {
        if (labels) {
            fail("refused labels with a result");
        }
        return;
    }
    if (!labels) {
        return;
    }
    json_t *object = json_loads(labels, 0, NULL);
    const char *key;
    json_t *value;
    if (!json_is_object(object)) {
        fail("labels are not a JSON object");
    }
    json_object_foreach(object, key, value)
    {
        if (!json_is_string(value)) {
            fail("label value is not a string");
        }
    }
    json_decref(object);

    struct egress_labels parsed;
    char err[256] = "";
    if (!egress_parse_labels_json(labels, "pod", &parsed, err, sizeof err)) {
        egress_labels_destroy(&parsed);
    } else {
        check_message(err);
    }
    free(labels);
}

/* A CHECK's prevResult. */
static void
fuzz_prev_result(const json_t *config)
{
    const json_t *prev = json_object_get(config, "prevResult");
    (void)cni_prev_result_has_ip(prev, "10.244.1.5/24");
    size_t i;
    const json_t *ipconf;
    json_array_foreach(json_object_get(prev, "ips"), i, ipconf)
    {
        const char *address
            = json_string_value(json_object_get(ipconf, "address"));
        if (address && !cni_prev_result_has_ip(prev, address)) {
            fail("prevResult address not found");
        }
    }
}

/* What pods_handle_cni() does before it needs the agent. */
static void
fuzz_config(const struct cni_env *env, const char *config_text,
            size_t config_len)
{
    enum cni_command command = cni_command_from_string(env->command);
    char msg[512] = "";
    int error = cni_check_env(command, env, msg, sizeof msg);
    if (error) {
        check_answer(NULL, error, msg);
        return;
    }
    check_env_ok(command, env);

    json_error_t jerror;
    json_t *config = json_loadb(config_text, config_len, 0, &jerror);
    if (!config) {
        snprintf(msg, sizeof msg,
                 "network configuration is not valid "
                 "JSON: %s",
                 jerror.text);
        check_answer(NULL, CNI_ERR_DECODE, msg);
        return;
    }
    error = cni_check_config(command, config, msg, sizeof msg);
    const char *cni_version
        = json_string_value(json_object_get(config, "cniVersion"));
    if (error) {
        check_answer(error == CNI_ERR_INCOMPATIBLE_VERSION ? NULL
                                                           : cni_version,
                     error, msg);
    } else {
        if (!cni_version || !cni_version_supported(cni_version)) {
            fail("accepted configuration has an unsupported version");
        }
        fuzz_args(env->args);
        fuzz_labels(config);
        fuzz_prev_result(config);
    }
    json_decref(config);
}

/* A complete request body, as rpc-server.c and cni-server.c take it. */
static void
fuzz_body(const char *body, size_t len)
{
    json_error_t jerror;
    json_t *request = json_loadb(body, len, 0, &jerror);
    if (!json_is_object(request)) {
        json_decref(request);
        return;
    }
    struct cni_env env;
    const char *config;
    size_t config_len;
    char msg[512] = "";
    int code = cni_request_decode(request, &env, &config, &config_len, msg,
                                  sizeof msg);
    if (code) {
        if (code != CNI_ERR_DECODE && code != CNI_ERR_INCOMPATIBLE_VERSION) {
            fail("unexpected request decoding error");
        }
        check_answer(NULL, code, msg);
    } else {
        if (!config || config[config_len] != '\0') {
            fail("configuration not NUL-terminated");
        }
        check_env_round_trip(&env);
        fuzz_config(&env, config, config_len);
    }
    json_decref(request);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1024 * 1024) {
        return 0;
    }
    bool framed = data[0] & 1;
    size_t chunk = data[1] % 64 + 1;
    data += 2;
    size -= 2;

    if (!framed) {
        char *body = malloc(size + 1);
        if (!body) {
            return 0;
        }
        memcpy(body, data, size);
        body[size] = '\0';
        fuzz_body(body, size);
        free(body);
        return 0;
    }

    /* Frames as the agent reads them: one request per connection, so
     * whatever follows the first frame is ignored. */
    struct cni_frame_reader reader;
    cni_frame_reader_init(&reader, CNI_PROTO_MAX_FRAME);
    size_t pos = 0;
    while (pos < size) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        size_t used;
        int status = cni_frame_reader_feed(&reader, data + pos, n, &used);
        if (used > n || (status == EAGAIN && used != n)) {
            fail("frame reader consumed a wrong number of bytes");
        }
        pos += used;
        if (status == 0) {
            size_t len;
            char *body = cni_frame_reader_take(&reader, &len);
            if (!body || body[len] != '\0') {
                fail("frame body not NUL-terminated");
            }
            fuzz_body(body, len);
            free(body);
            break;
        } else if (status != EAGAIN) {
            if (status != EMSGSIZE) {
                fail("unexpected frame reader error");
            }
            break;
        }
    }
    cni_frame_reader_destroy(&reader);
    return 0;
}
