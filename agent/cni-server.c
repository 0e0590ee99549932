#include <sluice-config.h>

#include "sluice/cni-server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/cni-proto.h"
#include "sluice/log.h"

SLOG_MODULE(cni_server);

/* A client that has not sent its whole request by then is dropped. */
#define REQUEST_READ_TIMEOUT_MS 10000

/* More simultaneous connections than this are refused (the shim then
 * reports "try again later"). */
#define MAX_ACTIVE_REQUESTS 1024

struct cni_server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    char *path;
    cni_request_handler *handler;
    void *aux;
    size_t n_active;            /* Connections open. */
    bool destroyed;             /* cni_server_destroy() called? */
    bool listener_closed;       /* Listener's close callback ran? */
};

struct cni_request {
    struct cni_server *server;  /* Outlives every request. */
    uv_pipe_t pipe;             /* The client's connection. */
    uv_timer_t timer;           /* Read timeout. */
    struct cni_frame_reader reader;
    json_t *request;            /* Parsed request, once complete. */
    struct cni_env env;         /* Points into 'request'. */
    bool handling;              /* Given to the handler? */
    bool closed;                /* Connection gone? */
    int n_open_handles;         /* Handles not yet closed. */
    bool replied;               /* Reply written (or abandoned)? */
};

static void
request_free_if_done(struct cni_request *req)
{
    if (req->n_open_handles == 0 && (!req->handling || req->replied)) {
        cni_frame_reader_destroy(&req->reader);
        json_decref(req->request);
        free(req);
    }
}

static void
on_handle_closed(uv_handle_t *handle)
{
    struct cni_request *req = handle->data;
    req->n_open_handles--;
    request_free_if_done(req);
}

static void
server_free_if_done(struct cni_server *server)
{
    if (server->destroyed && server->listener_closed && !server->n_active) {
        free(server->path);
        free(server);
    }
}

static void
request_close(struct cni_request *req)
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
    struct cni_request *request;
};

static void
on_reply_written(uv_write_t *w, int status)
{
    struct write_ctx *ctx = (struct write_ctx *) w;
    if (status < 0) {
        SLOG_DBG("reply write failed: %s", uv_strerror(status));
    }
    free(ctx->frame);
    struct cni_request *req = ctx->request;
    free(ctx);
    request_close(req);
}

static void
send_response(struct cni_request *req, json_t *response)
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
cni_request_reply(struct cni_request *req, int code, json_t *output)
{
    req->replied = true;
    if (req->closed) {
        json_decref(output);
        request_free_if_done(req);
        return;
    }
    send_response(req, cni_proto_response(code, output));
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

/* Validates the complete request frame and hands it to the handler. */
static void
dispatch(struct cni_request *req, char *body, size_t len)
{
    json_error_t jerror;
    req->request = json_loadb(body, len, 0, &jerror);
    free(body);
    req->handling = true;

    json_t *version = json_object_get(req->request, "version");
    json_t *stdin_json = json_object_get(req->request, "stdin");
    if (!json_is_integer(version)) {
        cni_request_fail(req, NULL, CNI_ERR_DECODE,
                         "malformed request from the CNI shim");
        return;
    }
    if (json_integer_value(version) != CNI_PROTO_VERSION) {
        cni_request_fail(req, NULL, CNI_ERR_INCOMPATIBLE_VERSION,
                         "shim protocol version %lld is not supported "
                         "(this agent speaks %d)",
                         (long long) json_integer_value(version),
                         CNI_PROTO_VERSION);
        return;
    }
    if (!json_is_string(stdin_json)
        || cni_env_from_json(json_object_get(req->request, "env"),
                             &req->env)) {
        cni_request_fail(req, NULL, CNI_ERR_DECODE,
                         "malformed request from the CNI shim");
        return;
    }
    if (req->server->destroyed) {
        cni_request_fail(req, NULL, CNI_ERR_TRY_AGAIN,
                         "sluice agent is shutting down");
        return;
    }
    uv_timer_stop(&req->timer);
    uv_read_stop((uv_stream_t *) &req->pipe);
    req->server->handler(req->server->aux, req, &req->env,
                         json_string_value(stdin_json),
                         json_string_length(stdin_json));
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
    struct cni_request *req = stream->data;
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
        SLOG_WARN("request larger than %d bytes refused",
                  CNI_PROTO_MAX_FRAME);
        req->handling = true;
        cni_request_fail(req, NULL, CNI_ERR_DECODE,
                         "request larger than %d bytes",
                         CNI_PROTO_MAX_FRAME);
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
    struct cni_request *req = timer->data;
    SLOG_WARN("client sent no complete request in %d ms; dropped",
              REQUEST_READ_TIMEOUT_MS);
    request_close(req);
}

static void
on_connection(uv_stream_t *listener, int status)
{
    struct cni_server *server = listener->data;
    if (status < 0) {
        SLOG_WARN("%s: accept failed: %s", server->path, uv_strerror(status));
        return;
    }
    struct cni_request *req = calloc(1, sizeof *req);
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
    struct cni_server *server = handle->data;
    server->listener_closed = true;
    server_free_if_done(server);
}

int
cni_server_create(uv_loop_t *loop, const char *path,
                  cni_request_handler *handler, void *aux,
                  struct cni_server **serverp)
{
    struct cni_server *server = calloc(1, sizeof *server);
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
        error = uv_listen((uv_stream_t *) &server->listener, 128,
                          on_connection);
    }
    if (error) {
        SLOG_ERR("%s: cannot listen: %s", path, uv_strerror(error));
        server->destroyed = true;
        uv_close((uv_handle_t *) &server->listener, on_listener_closed);
        return -error;
    }
    SLOG_INFO("serving CNI requests on %s", path);
    *serverp = server;
    return 0;
}

void
cni_server_destroy(struct cni_server *server)
{
    if (!server) {
        return;
    }
    unlink(server->path);
    server->destroyed = true;
    uv_close((uv_handle_t *) &server->listener, on_listener_closed);
}

size_t
cni_server_n_active(const struct cni_server *server)
{
    return server->n_active;
}
