#include <sluice-config.h>

#include "sluice/cni-server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/cni-args.h"
#include "sluice/cni-proto.h"

/* The request of one shim call. */
struct cni_request {
    struct rpc_request *rpc;
    json_t *request;       /* The parsed request, which 'env' points into. */
    struct cni_env env;
};

/* The handler registered with the rpc server. */
struct cni_server_ctx {
    cni_request_handler *handler;
    void *aux;
};

void
cni_request_reply(struct cni_request *req, int code, json_t *output)
{
    rpc_request_reply(req->rpc, cni_proto_response(code, output));
    json_decref(req->request);
    free(req);
}

void
cni_request_fail(struct cni_request *req, const char *cni_version, int code,
                 const char *fmt, ...)
{
    char msg[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    cni_request_reply(req, code, cni_error_new(cni_version, code, msg, NULL));
}

static void
handle_rpc(void *aux, struct rpc_request *rpc, json_t *request)
{
    struct cni_server_ctx *ctx = aux;
    struct cni_request *req = calloc(1, sizeof *req);
    if (!req) {
        json_decref(request);
        rpc_request_reply(rpc, NULL);
        return;
    }
    req->rpc = rpc;
    req->request = request;

    const char *config;
    size_t config_len;
    char msg[512];
    int code = cni_request_decode(request, &req->env, &config, &config_len,
                                  msg, sizeof msg);
    if (code) {
        cni_request_fail(req, NULL, code, "%s", msg);
    } else {
        ctx->handler(ctx->aux, req, &req->env, config, config_len);
    }
}

int
cni_server_create(uv_loop_t *loop, const char *path,
                  cni_request_handler *handler, void *aux,
                  struct rpc_server **serverp)
{
    struct cni_server_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) {
        return ENOMEM;
    }
    ctx->handler = handler;
    ctx->aux = aux;
    int error = rpc_server_create(loop, path, handle_rpc, ctx, serverp);
    if (error) {
        free(ctx);
    }
    return error;
}

void
cni_server_destroy(struct rpc_server *server)
{
    if (server) {
        /* No request reaches the handler after this. */
        free(rpc_server_aux(server));
        rpc_server_destroy(server);
    }
}
