/*
 * The agent's side of the shim-agent protocol (sluice/cni-proto.h), on an
 * rpc-server socket: checks each request's protocol version and shape, and
 * hands the CNI environment and configuration to a handler.
 */
#ifndef SLUICE_CNI_SERVER_H
#define SLUICE_CNI_SERVER_H 1

#include <jansson.h>
#include <uv.h>

#include "sluice/cni.h"
#include "sluice/rpc-server.h"

struct cni_request;

/* Called once per well-formed request.  'env' and 'config' (the runtime's
 * stdin, NUL-terminated, 'config_len' bytes) stay valid until the request
 * is answered with cni_request_reply(), which the handler must call exactly
 * once. */
typedef void cni_request_handler(void *aux, struct cni_request *,
                                 const struct cni_env *env,
                                 const char *config, size_t config_len);

/* Serves the shim's requests on 'path' with 'handler'.  Returns 0 and
 * stores the server in '*serverp', or a positive errno value. */
int cni_server_create(uv_loop_t *loop, const char *path,
                      cni_request_handler *handler, void *aux,
                      struct rpc_server **serverp);

/* Stops serving; requests in progress are still answered. */
void cni_server_destroy(struct rpc_server *server);

/* Answers 'request' with CNI code 'code' (0 for success) and 'output' (a
 * CNI result or error object, or NULL; stolen), then frees 'request'. */
void cni_request_reply(struct cni_request *request, int code,
                       json_t *output);

/* Answers 'request' with CNI error 'code' and a formatted message, using
 * 'cni_version' (may be NULL) in the error object. */
void cni_request_fail(struct cni_request *request, const char *cni_version,
                      int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* sluice/cni-server.h */
