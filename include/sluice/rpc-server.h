/*
 * A root-only unix socket server on the agent's libuv loop for framed JSON
 * requests (the frame codec of sluice/cni-proto.h): one request per
 * connection, handed to a handler that answers whenever it is done (it may
 * take several loop turns).  The CNI shim's socket and sluicectl's control
 * socket are both served this way.
 */
#ifndef SLUICE_RPC_SERVER_H
#define SLUICE_RPC_SERVER_H 1

#include <jansson.h>
#include <uv.h>

struct rpc_server;
struct rpc_request;

/* Called once per request whose body is a JSON object.  'request' is the
 * handler's (it must json_decref() it), and the handler must call
 * rpc_request_reply() exactly once. */
typedef void rpc_handler(void *aux, struct rpc_request *, json_t *request);

/* Listens on 'path' (replacing a stale socket file; created with mode
 * 0600) and serves requests with 'handler'.  Returns 0 and stores the
 * server in '*serverp', or a positive errno value with a message logged. */
int rpc_server_create(uv_loop_t *loop, const char *path, rpc_handler *handler,
                      void *aux, struct rpc_server **serverp);

/* Stops listening and removes the socket file.  Requests being handled
 * stay valid and are still answered; 'server' is freed after the last. */
void rpc_server_destroy(struct rpc_server *server);

/* Sends 'response' (stolen; NULL just closes the connection) as the answer
 * to 'request', then frees 'request'. */
void rpc_request_reply(struct rpc_request *request, json_t *response);

/* Returns the 'aux' that 'server' passes to its handler. */
void *rpc_server_aux(const struct rpc_server *server);

/* Returns the number of connections open. */
size_t rpc_server_n_active(const struct rpc_server *server);

#endif /* sluice/rpc-server.h */
