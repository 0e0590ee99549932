#include <sluice-config.h>

#include "sluice/rpc-server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/cni-proto.h"
#include "sluice/log.h"

SLOG_MODULE(rpc_server);

/* A client that has not sent its whole request by then is dropped. */
#define REQUEST_READ_TIMEOUT_MS 10000

/* More simultaneous connections than this are refused (the shim then
 * reports "try again later"). */
#define MAX_ACTIVE_REQUESTS 1024

struct rpc_server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    char *path;
    rpc_handler *handler;
    void *aux;
    size_t n_active;            /* Connections open. */
    bool destroyed;             /* rpc_server_destroy() called? */
    bool listener_closed;       /* Listener's close callback ran? */
};

struct rpc_request {
    struct rpc_server *server;  /* Outlives every request. */
    uv_pipe_t pipe;             /* The client's connection. */
    uv_timer_t timer;           /* Read timeout. */
    struct cni_frame_reader reader;
    bool handling;              /* Given to the handler? */
    bool closed;                /* Connection gone? */
    int n_open_handles;         /* Handles not yet closed. */
    bool replied;               /* Reply written (or abandoned)? */
};

static void
request_free_if_done(struct rpc_request *req)
{
    if (req->n_open_handles == 0 && (!req->handling || req->replied)) {
        cni_frame_reader_destroy(&req->reader);
        free(req);
    }
}

static void
on_handle_closed(uv_handle_t *handle)
{
    struct rpc_request *req = handle->data;
    req->n_open_handles--;
    request_free_if_done(req);
}

static void
server_free_if_done(struct rpc_server *server)
{
    if (server->destroyed && server->listener_closed && !server->n_active) {
        free(server->path);
        free(server);
    }
}

static void
request_close(struct rpc_request *req)
{
    if (req->closed) {
        return;
    }
    req->closed = true;
    req->server->n_active--;
    server_free_if_done(req->server);
    uv_close((uv_handle_t *) &req->pipe, on_handle_closed);
    uv_close((uv_handle_t *) &req->timer, on_handle_closed);
}

/* Writes a response frame and closes the connection after it. */
struct write_ctx {
    uv_write_t req;
    uint8_t *frame;
    struct rpc_request *request;
};

static void
on_reply_written(uv_write_t *w, int status)
{
    struct write_ctx *ctx = (struct write_ctx *) w;
    if (status < 0) {
        SLOG_DBG("reply write failed: %s", uv_strerror(status));
    }
    free(ctx->frame);
    struct rpc_request *req = ctx->request;
    free(ctx);
    request_close(req);
}

static void
send_response(struct rpc_request *req, json_t *response)
{
    char *body = response ? json_dumps(response, JSON_COMPACT) : NULL;
    json_decref(response);
    size_t frame_len = 0;
    uint8_t *frame = body ? cni_frame_encode(body, strlen(body), &frame_len)
                          : NULL;
    free(body);
    struct write_ctx *ctx = frame ? malloc(sizeof *ctx) : NULL;
    if (!ctx) {
        SLOG_ERR("cannot encode a reply; closing the connection");
        free(frame);
        request_close(req);
        return;
    }
    ctx->frame = frame;
    ctx->request = req;
    uv_buf_t buf = uv_buf_init((char *) frame, frame_len);
    if (uv_write(&ctx->req, (uv_stream_t *) &req->pipe, &buf, 1,
                 on_reply_written)) {
        free(frame);
        free(ctx);
        request_close(req);
    }
}

void
rpc_request_reply(struct rpc_request *req, json_t *response)
{
    req->replied = true;
    if (req->closed || !response) {
        json_decref(response);
        if (req->closed) {
            request_free_if_done(req);
        } else {
            request_close(req);
        }
        return;
    }
    send_response(req, response);
}

/* Parses the complete request frame and hands it to the handler. */
static void
dispatch(struct rpc_request *req, char *body, size_t len)
{
    json_error_t jerror;
    json_t *request = json_loadb(body, len, 0, &jerror);
    free(body);
    req->handling = true;
    uv_timer_stop(&req->timer);
    uv_read_stop((uv_stream_t *) &req->pipe);
    if (!json_is_object(request) || req->server->destroyed) {
        json_decref(request);
        rpc_request_reply(req, NULL);
        return;
    }
    req->server->handler(req->server->aux, req, request);
}

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void) handle;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct rpc_request *req = stream->data;
    if (nread < 0) {
        free(buf->base);
        if (!req->handling) {
            request_close(req);
        }
        return;
    }
    size_t used;
    int status = cni_frame_reader_feed(&req->reader, buf->base, nread,
                                       &used);
    free(buf->base);
    if (status == EMSGSIZE) {
        SLOG_WARN("%s: request larger than %d bytes refused",
                  req->server->path, CNI_PROTO_MAX_FRAME);
        request_close(req);
    } else if (status == 0) {
        size_t len;
        char *body = cni_frame_reader_take(&req->reader, &len);
        dispatch(req, body, len);
    } else if (status != EAGAIN) {
        request_close(req);
    }
}

static void
on_read_timeout(uv_timer_t *timer)
{
    struct rpc_request *req = timer->data;
    SLOG_WARN("client sent no complete request in %d ms; dropped",
              REQUEST_READ_TIMEOUT_MS);
    request_close(req);
}

static void
on_connection(uv_stream_t *listener, int status)
{
    struct rpc_server *server = listener->data;
    if (status < 0) {
        SLOG_WARN("%s: accept failed: %s", server->path, uv_strerror(status));
        return;
    }
    struct rpc_request *req = calloc(1, sizeof *req);
    if (!req) {
        return;
    }
    req->server = server;
    cni_frame_reader_init(&req->reader, CNI_PROTO_MAX_FRAME);
    uv_pipe_init(server->loop, &req->pipe, 0);
    uv_timer_init(server->loop, &req->timer);
    req->pipe.data = req;
    req->timer.data = req;
    req->n_open_handles = 2;
    server->n_active++;
    if (uv_accept(listener, (uv_stream_t *) &req->pipe)) {
        request_close(req);
        return;
    }
    if (server->n_active > MAX_ACTIVE_REQUESTS) {
        SLOG_WARN("%s: %zu requests in progress; refusing a new one",
                  server->path, server->n_active);
        request_close(req);
        return;
    }
    uv_timer_start(&req->timer, on_read_timeout, REQUEST_READ_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *) &req->pipe, alloc_cb, on_read)) {
        request_close(req);
    }
}

static void
on_listener_closed(uv_handle_t *handle)
{
    struct rpc_server *server = handle->data;
    server->listener_closed = true;
    server_free_if_done(server);
}

int
rpc_server_create(uv_loop_t *loop, const char *path,
                  rpc_handler *handler, void *aux,
                  struct rpc_server **serverp)
{
    struct rpc_server *server = calloc(1, sizeof *server);
    if (!server || !(server->path = strdup(path))) {
        free(server);
        return ENOMEM;
    }
    server->loop = loop;
    server->handler = handler;
    server->aux = aux;
    uv_pipe_init(loop, &server->listener, 0);
    server->listener.data = server;

    if (unlink(path) && errno != ENOENT) {
        SLOG_WARN("%s: cannot remove old socket: %s", path, strerror(errno));
    }
    /* Created root-only from the start, not chmod'ed after the fact. */
    mode_t old_umask = umask(0077);
    int error = uv_pipe_bind(&server->listener, path);
    umask(old_umask);
    if (!error) {
        error = uv_listen((uv_stream_t *) &server->listener, SOMAXCONN,
                          on_connection);
    }
    if (error) {
        SLOG_ERR("%s: cannot listen: %s", path, uv_strerror(error));
        server->destroyed = true;
        uv_close((uv_handle_t *) &server->listener, on_listener_closed);
        return -error;
    }
    SLOG_INFO("serving requests on %s", path);
    *serverp = server;
    return 0;
}

void
rpc_server_destroy(struct rpc_server *server)
{
    if (!server) {
        return;
    }
    unlink(server->path);
    server->destroyed = true;
    uv_close((uv_handle_t *) &server->listener, on_listener_closed);
}

void *
rpc_server_aux(const struct rpc_server *server)
{
    return server->aux;
}

size_t
rpc_server_n_active(const struct rpc_server *server)
{
    return server->n_active;
}
