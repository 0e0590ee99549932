/*
 * sluice: the CNI plugin binary that runtimes exec.  It checks what it was
 * given, forwards the call to the node agent and prints the answer; all
 * the work happens in sluiced.
 */
#include <sluice-config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/shim.h"

int
main(void)
{
    struct cni_env env = {
        .command = getenv("CNI_COMMAND"),
        .containerid = getenv("CNI_CONTAINERID"),
        .netns = getenv("CNI_NETNS"),
        .ifname = getenv("CNI_IFNAME"),
        .args = getenv("CNI_ARGS"),
        .path = getenv("CNI_PATH"),
    };

    char *config = NULL;
    size_t config_len = 0;
    int error = shim_read_input(STDIN_FILENO, &config, &config_len);

    struct shim_call call;
    struct shim_outcome outcome = {0, NULL};
    shim_call_init(&call);
    if (error && error != EMSGSIZE) {
        shim_fail(&call, &outcome, CNI_ERR_IO, "reading stdin: %s",
                  strerror(error));
    } else if (shim_prepare(&env, config, config_len, error == EMSGSIZE,
                            &call, &outcome)) {
        shim_exchange(&call, &outcome);
    }

    int status = outcome.code ? 1 : 0;
    if (outcome.output) {
        if (json_dumpf(outcome.output, stdout, JSON_COMPACT) < 0
            || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
            status = 1;
        }
    } else if (outcome.code) {
        /* Only reachable when building the error itself failed. */
        printf("{\"code\":%d,\"msg\":\"out of memory\"}\n", outcome.code);
    }
    json_decref(outcome.output);
    shim_call_destroy(&call);
    free(config);
    return status;
}
