/* Fuzz target for the shim's handling of untrusted input: the runtime's
 * environment and stdin, and the agent's answer.
 *
 * Input layout: byte 0 picks CNI_COMMAND, byte 1 picks which other
 * variables are set; the rest is split at the first NUL byte into the
 * network configuration and a response body from the agent. */
#include <sluice-config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/shim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const commands[] = {
        "ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION", "", "add",
    };
    if (size < 2) {
        return 0;
    }
    struct cni_env env = {
        .command = commands[data[0] % 8],
        .containerid = data[1] & 1 ? "c0ffee-1" : (data[1] & 2 ? "" : NULL),
        .netns = data[1] & 4 ? "/var/run/netns/fuzz" : NULL,
        .ifname = data[1] & 8 ? "eth0" : (data[1] & 16 ? "bad/if" : NULL),
        .args = data[1] & 32 ? "K8S_POD_NAME=p;K8S_POD_NAMESPACE=n" : NULL,
        .path = data[1] & 64 ? "/opt/cni/bin" : NULL,
    };
    data += 2;
    size -= 2;

    const uint8_t *nul = memchr(data, 0, size);
    size_t config_len = nul ? (size_t) (nul - data) : size;
    char *config = malloc(config_len + 1);
    if (!config) {
        return 0;
    }
    memcpy(config, data, config_len);
    config[config_len] = '\0';

    struct shim_call call;
    struct shim_outcome outcome;
    shim_call_init(&call);
    if (shim_prepare(&env, config, config_len, false, &call, &outcome)) {
        /* Never touch a real socket; feed the response bytes instead. */
        const char *body = nul ? (const char *) nul + 1 : "";
        size_t body_len = nul ? size - config_len - 1 : 0;
        shim_parse_response(&call, body, body_len, &outcome);
    }
    json_decref(outcome.output);
    shim_call_destroy(&call);
    free(config);
    return 0;
}
