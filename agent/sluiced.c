/*
 * sluiced: the sluice node agent.  See sluice/agent.h for what it does and
 * README for its configuration.
 */
#include <sluice-config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "sluice/agent.h"
#include "sluice/log.h"

SLOG_MODULE(sluiced);

static struct agent agent;

static void
on_signal(uv_signal_t *handle, int signum)
{
    SLOG_INFO("signal %d: stopping (the datapath keeps running)", signum);
    agent_stop(&agent);
    uv_stop(handle->loop);
}

int
main(int argc, char *argv[])
{
    struct agent_config config;
    char err[512];
    int retval = agent_config_load(&config, argc, argv, err, sizeof err);
    if (retval) {
        if (retval == 2) {
            fprintf(stderr, "sluiced: %s\n", err);
        }
        agent_config_destroy(&config);
        return retval == 1 ? EXIT_SUCCESS : 2;
    }

    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    if (agent_start(&agent, loop, &config)) {
        agent_config_destroy(&config);
        return EXIT_FAILURE;
    }

    uv_signal_t sigterm, sigint;
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    return agent.fatal_error ? EXIT_FAILURE : EXIT_SUCCESS;
}
