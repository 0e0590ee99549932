/*
 * The agent's side of the shim-agent protocol (sluice/cni-proto.h): a
 * root-only unix socket on the agent's libuv loop that reads one request
 * per connection, hands it to a handler, and writes the handler's answer
 * back whenever the handler is done (handlers may take several loop turns).
 */
#ifndef SLUICE_CNI_SERVER_H
#define SLUICE_CNI_SERVER_H 1

#include <jansson.h>
#include <uv.h>

#include "sluice/cni.h"

struct cni_server;
struct cni_request;

/* Called once per well-formed request.  'env' and 'config' (the runtime's
 * stdin, NUL-terminated, 'config_len' bytes) stay valid until the request
 * is answered with cni_request_reply(), which the handler must call exactly
 * once. */
typedef void cni_request_handler(void *aux, struct cni_request *,
                                 const struct cni_env *env,
                                 const char *config, size_t config_len);

/* Listens on 'path' (replacing a stale socket file; mode 0600) and serves
 * requests with 'handler'.  Returns 0 and stores the server in '*serverp',
 * or a positive errno value with a message logged. */
int cni_server_create(uv_loop_t *loop, const char *path,
                      cni_request_handler *handler, void *aux,
                      struct cni_server **serverp);

/* Stops listening and removes the socket file.  Requests being handled
 * stay valid and are still answered; 'server' is freed after the last. */
void cni_server_destroy(struct cni_server *server);

/* Answers 'request' with CNI code 'code' (0 for success) and 'output' (a
 * CNI result or error object, or NULL; the reference is stolen), then
 * frees 'request'. */
void cni_request_reply(struct cni_request *request, int code,
                       json_t *output);

/* Answers 'request' with CNI error 'code' and a formatted message, using
 * 'cni_version' (may be NULL) in the error object. */
void cni_request_fail(struct cni_request *request, const char *cni_version,
                      int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Returns the number of requests being handled. */
size_t cni_server_n_active(const struct cni_server *server);

#endif /* sluice/cni-server.h */
