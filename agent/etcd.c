/*
 * etcd v3 client over the JSON/HTTP gateway, with libcurl's multi
 * interface driven by the libuv loop: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one uv_poll_t each) and when to time out
 * (CURLMOPT_TIMERFUNCTION, one uv_timer_t), and we tell curl about socket
 * activity and timeouts with curl_multi_socket_action().
 *
 * No callback of the owner runs inside libcurl: the write callbacks only
 * store data, and replies, watch messages and completions are handled after
 * curl_multi_socket_action() has returned, so that callbacks can start and
 * stop transfers freely.
 *
 * Each watch is one streaming POST /v3/watch (one HTTP connection) whose
 * reply is a sequence of JSON objects, split by etcd_stream.  The watch
 * remembers the revision after the last one it reported and reconnects
 * from there, so no event is lost or repeated across reconnections.
 */
#include <sluice-config.h>

#include "sluice/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "sluice/etcd-wire.h"
#include "sluice/log.h"
#include "sluice/util.h"

SLOG_MODULE(etcd);

/* Largest part of an unexpected reply quoted in an error message. */
#define QUOTE_MAX 200

static char *
json_dumps_x(const json_t *json)
{
    char *s = json_dumps(json, JSON_COMPACT);
    if (!s) {
        abort_out_of_memory();
    }
    return s;
}

/* Doubly linked circular lists. */

struct list {
    struct list *prev, *next;
};

#define CONTAINER_OF(PTR, TYPE, MEMBER)                                       \
    ((TYPE *)(void *)((char *)(PTR)-offsetof(TYPE, MEMBER)))

static void
list_init(struct list *l)
{
    l->prev = l->next = l;
}

static void
list_push_back(struct list *l, struct list *node)
{
    node->prev = l->prev;
    node->next = l;
    l->prev->next = node;
    l->prev = node;
}

static void
list_remove(struct list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    list_init(node);
}

/* Growable byte buffers with a size limit. */

struct buffer {
    char *data;
    size_t len, cap;
    bool overflow; /* Data beyond the limit was refused. */
};

/* Appends the 'n' bytes at 'data' to 'b' unless that would make it larger
 * than 'max' bytes (then sets 'b->overflow').  Returns true if appended. */
static bool
buffer_append(struct buffer *b, const void *data, size_t n, size_t max)
{
    if (n > max || b->len > max - n) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        b->data = nofail_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static void
buffer_clear(struct buffer *b)
{
    b->len = 0;
    b->overflow = false;
    if (b->data) {
        b->data[0] = '\0';
    }
}

static void
buffer_free(struct buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Returns a printable copy of the 'len' bytes at 's' for a message: control
 * and non-ASCII bytes escaped, at most 'max' bytes quoted, "..." marking a
 * cut. */
static char *
printable(const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    char *out = nofail_calloc(n * 4 + 4, 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out[o++] = ' ';
        } else {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        }
    }
    if (n < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* The client. */

struct etcd_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeout. */
    char **endpoints; /* URLs without a trailing '/'. */
    size_t n_endpoints;
    size_t preferred; /* Index of the endpoint to try first. */
    char *prefix;     /* Key prefix. */
    size_t prefix_len;
    char *ca_file; /* TLS options, or NULL. */
    char *cert_file;
    char *key_file;
    unsigned timeout_ms;     /* Per request attempt. */
    unsigned backoff_min_ms; /* Watch reconnection backoff. */
    unsigned backoff_max_ms;
    struct list requests; /* 'struct request's in flight. */
    struct list watches;  /* 'struct etcd_watch'es. */
    struct list keepers;  /* 'struct etcd_lease_keeper's. */
};

/* One socket that curl asked us to watch. */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct etcd_client *client;
};

/* One HTTP transfer, of a request or a watch. */
enum transfer_kind {
    XFER_REQUEST,
    XFER_WATCH,
};

struct transfer {
    enum transfer_kind kind;
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE]; /* curl's error detail. */
    size_t endpoint;              /* Index of the endpoint in use. */
    bool active;                  /* In the multi handle. */
};

enum request_type {
    REQ_RANGE,
    REQ_PUT,
    REQ_DELETE,
    REQ_TXN,
    REQ_LEASE_GRANT,
    REQ_LEASE_KEEPALIVE,
    REQ_LEASE_REVOKE,
};

/* A request with one reply. */
struct request {
    struct list node; /* In 'client->requests'. */
    struct etcd_client *client;
    struct transfer xfer;
    enum request_type type;
    const char *path;    /* E.g. "/v3/kv/put". */
    char *body;          /* JSON request body. */
    char *what;          /* For messages, e.g. "put /sluice/nodes/n1". */
    unsigned timeout_ms; /* Per attempt. */
    size_t n_tried;      /* Endpoints tried so far. */
    int64_t lease;       /* Lease requests: the lease ID. */
    struct buffer reply;
    union {
        etcd_result_cb *result;
        etcd_lease_cb *lease;
        etcd_done_cb *done;
    } cb;
    void *aux;
};

enum watch_state {
    WATCH_BACKOFF, /* Waiting for 'timer' to connect. */
    WATCH_ACTIVE,  /* Transfer in progress. */
    WATCH_STOPPED, /* Compacted or failed for good. */
};

struct etcd_watch {
    struct list node; /* In 'client->watches'. */
    struct etcd_client *client;
    struct transfer xfer;
    uv_timer_t timer; /* Reconnection. */
    char *key;        /* Full key, with the prefix. */
    size_t key_len;
    char *range_end; /* Or NULL for a single key. */
    size_t range_end_len;
    bool prev_kv;     /* ETCD_PREV_KV. */
    char *what;       /* For messages, e.g. "watch /sluice/ (prefix)". */
    int64_t next_rev; /* Start revision of the next connection. */
    struct etcd_watch_cbs cbs;
    void *aux;

    enum watch_state state;
    char *body;                 /* Request of the current connection. */
    struct etcd_stream *stream; /* Reply of the current connection. */
    long http_status;           /* Of the current connection, 0 before. */
    struct buffer error_body;   /* Reply if 'http_status' is not 200. */
    bool overflow;              /* A message exceeded ETCD_MAX_MESSAGE. */
    bool pending;               /* 'stream' got data to dispatch. */
    bool established;           /* Current connection got "created". */
    bool outage_logged;         /* The current outage was logged. */
    unsigned backoff_ms;        /* Delay before the next reconnection. */
    bool destroyed;             /* Freed when 'timer' is closed. */
};

struct etcd_lease_keeper {
    struct list node; /* In 'client->keepers'. */
    struct etcd_client *client;
    uv_timer_t timer;
    int64_t id;
    int64_t ttl;         /* Seconds. */
    uint64_t period_ms;  /* Between keepalives. */
    uint64_t next_send;  /* uv_now() of the next keepalive. */
    uint64_t deadline;   /* uv_now() by which a keepalive must succeed. */
    uint64_t sent_at;    /* uv_now() when 'req' was sent. */
    struct request *req; /* Keepalive in flight, or NULL. */
    bool failing;        /* The last keepalive failed (and was logged). */
    bool lost;           /* 'cb' was called. */
    etcd_lease_lost_cb *cb;
    void *aux;
};

static void client_run(struct etcd_client *);
static void request_done(struct request *, CURLcode);
static void watch_done(struct etcd_watch *, CURLcode);
static void watch_timer_cb(uv_timer_t *);

/* Returns the full form of 'key' (prefix + 'key'), its length in '*lenp'. */
static char *
full_key(const struct etcd_client *client, const char *key, size_t *lenp)
{
    size_t len = client->prefix_len + strlen(key);
    char *full = nofail_calloc(len + 1, 1);
    memcpy(full, client->prefix, client->prefix_len);
    memcpy(full + client->prefix_len, key, len - client->prefix_len);
    *lenp = len;
    return full;
}

/* Returns "VERB KEY" or "VERB KEY (prefix)" for messages. */
static char *
describe(const struct etcd_client *client, const char *verb, const char *key,
         unsigned flags)
{
    size_t len;
    char *full = full_key(client, key, &len);
    char *p = printable(full, len, QUOTE_MAX);
    char *s = nofail_asprintf("%s %s%s", verb, p,
                        flags & ETCD_PREFIX ? " (prefix)" : "");
    free(p);
    free(full);
    return s;
}

/* Libcurl's socket and timer callbacks. */

static void
sock_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void
poll_cb(uv_poll_t *poll, int status, int events)
{
    struct sock_ctx *ctx = poll->data;
    struct etcd_client *client = ctx->client;
    curl_socket_t fd = ctx->fd;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            flags |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            flags |= CURL_CSELECT_OUT;
        }
    }
    int running;
    CURLMcode mc
        = curl_multi_socket_action(client->multi, fd, flags, &running);
    if (mc != CURLM_OK) {
        SLOG_ERR("etcd: curl_multi_socket_action: %s",
                 curl_multi_strerror(mc));
    }
    client_run(client);
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *client_, void *ctx_)
{
    struct etcd_client *client = client_;
    struct sock_ctx *ctx = ctx_;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (ctx) {
            curl_multi_assign(client->multi, fd, NULL);
            uv_close((uv_handle_t *)&ctx->poll, sock_close_cb);
        }
        return 0;
    }

    if (!ctx) {
        ctx = nofail_calloc(1, sizeof *ctx);
        int error = uv_poll_init_socket(client->loop, &ctx->poll, fd);
        if (error) {
            SLOG_ERR("etcd: cannot poll socket %d: %s", (int)fd,
                     uv_strerror(error));
            free(ctx);
            return -1;
        }
        ctx->poll.data = ctx;
        ctx->fd = fd;
        ctx->client = client;
        curl_multi_assign(client->multi, fd, ctx);
    }
    int events = 0;
    if (what & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (what & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    int error = uv_poll_start(&ctx->poll, events, poll_cb);
    if (error) {
        SLOG_ERR("etcd: cannot poll socket %d: %s", (int)fd,
                 uv_strerror(error));
        return -1;
    }
    return 0;
}

static void
curl_timer_cb(uv_timer_t *timer)
{
    struct etcd_client *client = timer->data;
    int running;
    CURLMcode mc = curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT,
                                            0, &running);
    if (mc != CURLM_OK) {
        SLOG_ERR("etcd: curl_multi_socket_action: %s",
                 curl_multi_strerror(mc));
    }
    client_run(client);
}

static int
timer_func(CURLM *multi, long timeout_ms, void *client_)
{
    struct etcd_client *client = client_;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&client->timer);
    } else {
        uv_timer_start(&client->timer, curl_timer_cb, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* Transfers. */

/* Sets up 'x' for 'client'; the reply goes to 'write_cb' with 'data'.
 * Returns 0 or a positive errno value. */
static int
transfer_init(struct etcd_client *client, struct transfer *x,
              enum transfer_kind kind, curl_write_callback write_cb,
              void *data)
{
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->endpoint = client->preferred;
    x->easy = curl_easy_init();
    if (!x->easy) {
        return ENOMEM;
    }
    struct curl_slist *h
        = curl_slist_append(NULL, "Content-Type: application/json");
    if (h) {
        x->headers = h;
        /* No "Expect: 100-continue" round trip for large bodies. */
        h = curl_slist_append(x->headers, "Expect:");
    }
    if (!h) {
        return ENOMEM;
    }

    CURL *e = x->easy;
    bool ok
        = curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)x) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_WRITEDATA, data) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK
          /* etcd is never reached through an HTTP proxy. */
          && curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                              (long)CURL_HTTP_VERSION_1_1)
                 == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                              (long)client->timeout_ms)
                 == CURLE_OK
          /* Notice dead peers of long-lived watches. */
          && curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 10L) == CURLE_OK
          && curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L) == CURLE_OK
          && (!client->ca_file
              || curl_easy_setopt(e, CURLOPT_CAINFO, client->ca_file)
                     == CURLE_OK)
          && (!client->cert_file
              || curl_easy_setopt(e, CURLOPT_SSLCERT, client->cert_file)
                     == CURLE_OK)
          && (!client->key_file
              || curl_easy_setopt(e, CURLOPT_SSLKEY, client->key_file)
                     == CURLE_OK);
    return ok ? 0 : EINVAL;
}

/* Removes 'x' from the multi handle if it is there. */
static void
transfer_stop(struct etcd_client *client, struct transfer *x)
{
    if (x->active) {
        curl_multi_remove_handle(client->multi, x->easy);
        x->active = false;
    }
}

static void
transfer_uninit(struct etcd_client *client, struct transfer *x)
{
    transfer_stop(client, x);
    if (x->easy) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    curl_slist_free_all(x->headers);
    x->headers = NULL;
}

/* Starts POSTing 'body' (which must live until the transfer ends) to
 * 'path' on endpoint 'x->endpoint', with an overall limit of 'timeout_ms'
 * (0 for none).  Returns 0 or a positive errno value. */
static int
transfer_start(struct etcd_client *client, struct transfer *x,
               const char *path, const char *body, unsigned timeout_ms)
{
    char *url = nofail_asprintf("%s%s", client->endpoints[x->endpoint], path);
    x->errbuf[0] = '\0';
    bool ok
        = curl_easy_setopt(x->easy, CURLOPT_URL, url) == CURLE_OK
          && curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE,
                              (long)strlen(body))
                 == CURLE_OK
          && curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body) == CURLE_OK
          && curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms)
                 == CURLE_OK;
    free(url);
    if (!ok) {
        return EINVAL;
    }
    CURLMcode mc = curl_multi_add_handle(client->multi, x->easy);
    if (mc != CURLM_OK) {
        SLOG_ERR("etcd: cannot start transfer: %s", curl_multi_strerror(mc));
        return mc == CURLM_OUT_OF_MEMORY ? ENOMEM : EIO;
    }
    x->active = true;
    return 0;
}

/* Returns true if the failed transfer 'x' cannot have sent its request,
 * so that trying another endpoint cannot execute it twice. */
static bool
transfer_not_sent(const struct transfer *x, CURLcode code)
{
    if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST) {
        return true;
    }
    long request_size = 0;
    return curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &request_size)
               == CURLE_OK
           && request_size == 0;
}

/* Returns the positive errno value for the failure 'code' of 'x' and
 * stores a description in '*reason'. */
static int
transfer_error(const struct transfer *x, CURLcode code, char **reason)
{
    long os_errno = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK) {
        os_errno = 0;
    }

    int error;
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        if (os_errno > 0) {
            *reason = nofail_strdup(strerror((int)os_errno));
            return (int)os_errno;
        }
        error = code == CURLE_COULDNT_CONNECT ? ECONNREFUSED : ECONNRESET;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        error = EHOSTUNREACH;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        error = ETIMEDOUT;
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        error = ECONNRESET;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        error = EPROTO;
        break;
    case CURLE_OUT_OF_MEMORY:
        error = ENOMEM;
        break;
    default:
        error = EIO;
        break;
    }
    *reason = nofail_strdup(x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
    return error;
}

/* Runs after every curl_multi_socket_action(): delivers what arrived. */

static void watch_process(struct etcd_watch *);

static void
dispatch_watches(struct etcd_client *client)
{
    /* Owner callbacks may create and destroy watches, so start over after
     * each one that had data. */
    for (;;) {
        struct etcd_watch *w = NULL;
        for (struct list *l = client->watches.next; l != &client->watches;
             l = l->next) {
            struct etcd_watch *cand = CONTAINER_OF(l, struct etcd_watch, node);
            if (cand->pending) {
                w = cand;
                break;
            }
        }
        if (!w) {
            return;
        }
        w->pending = false;
        watch_process(w);
    }
}

static void
check_multi_info(struct etcd_client *client)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(client->multi, &left))) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        struct transfer *x = (struct transfer *)(void *)priv;
        curl_multi_remove_handle(client->multi, easy);
        x->active = false;
        if (x->kind == XFER_REQUEST) {
            request_done(CONTAINER_OF(x, struct request, xfer), code);
        } else {
            watch_done(CONTAINER_OF(x, struct etcd_watch, xfer), code);
        }
    }
}

static void
client_run(struct etcd_client *client)
{
    dispatch_watches(client);
    check_multi_info(client);
}

/* Client. */

int
etcd_client_create(uv_loop_t *loop, const struct etcd_client_options *opts,
                   struct etcd_client **clientp)
{
    static bool curl_initialized;

    *clientp = NULL;
    if (!opts || !opts->endpoints || !opts->endpoints[0]) {
        return EINVAL;
    }
    size_t n = 0;
    for (; opts->endpoints[n]; n++) {
        const char *ep = opts->endpoints[n];
        if ((strncmp(ep, "http://", 7) || !ep[7])
            && (strncmp(ep, "https://", 8) || !ep[8])) {
            SLOG_ERR("etcd: endpoint \"%s\" is not an http(s) URL", ep);
            return EINVAL;
        }
    }
    if (!curl_initialized) {
        CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
            SLOG_ERR("etcd: libcurl initialization failed: %s",
                     curl_easy_strerror(rc));
            return EIO;
        }
        curl_initialized = true;
    }

    struct etcd_client *client = nofail_calloc(1, sizeof *client);
    client->loop = loop;
    client->endpoints = nofail_calloc(n, sizeof *client->endpoints);
    client->n_endpoints = n;
    for (size_t i = 0; i < n; i++) {
        char *ep = nofail_strdup(opts->endpoints[i]);
        size_t len = strlen(ep);
        while (len > 8 && ep[len - 1] == '/') {
            ep[--len] = '\0';
        }
        client->endpoints[i] = ep;
    }
    client->prefix = nofail_strdup(opts->prefix ? opts->prefix : "");
    client->prefix_len = strlen(client->prefix);
    client->ca_file = opts->ca_file ? nofail_strdup(opts->ca_file) : NULL;
    client->cert_file = opts->cert_file ? nofail_strdup(opts->cert_file) : NULL;
    client->key_file = opts->key_file ? nofail_strdup(opts->key_file) : NULL;
    client->timeout_ms
        = opts->timeout_ms ? opts->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
    client->backoff_min_ms
        = opts->backoff_min_ms ? opts->backoff_min_ms : ETCD_BACKOFF_MIN_MS;
    client->backoff_max_ms
        = opts->backoff_max_ms ? opts->backoff_max_ms : ETCD_BACKOFF_MAX_MS;
    if (client->backoff_max_ms < client->backoff_min_ms) {
        client->backoff_max_ms = client->backoff_min_ms;
    }
    list_init(&client->requests);
    list_init(&client->watches);
    list_init(&client->keepers);

    int error = uv_timer_init(loop, &client->timer);
    client->multi = error ? NULL : curl_multi_init();
    if (!client->multi
        || curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, socket_cb)
               != CURLM_OK
        || curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client)
               != CURLM_OK
        || curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, timer_func)
               != CURLM_OK
        || curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client)
               != CURLM_OK) {
        if (client->multi) {
            curl_multi_cleanup(client->multi);
            client->multi = NULL;
        }
        if (!error) {
            /* The timer is initialized: free through its close callback. */
            client->timer.data = client;
            etcd_client_destroy(client);
            return ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            free(client->endpoints[i]);
        }
        free(client->endpoints);
        free(client->prefix);
        free(client->ca_file);
        free(client->cert_file);
        free(client->key_file);
        free(client);
        return -error;
    }
    client->timer.data = client;
    *clientp = client;
    return 0;
}

static void
client_close_cb(uv_handle_t *handle)
{
    struct etcd_client *client = handle->data;
    for (size_t i = 0; i < client->n_endpoints; i++) {
        free(client->endpoints[i]);
    }
    free(client->endpoints);
    free(client->prefix);
    free(client->ca_file);
    free(client->cert_file);
    free(client->key_file);
    free(client);
}

static void request_free(struct request *);

void
etcd_client_destroy(struct etcd_client *client)
{
    if (!client) {
        return;
    }
    while (client->watches.next != &client->watches) {
        etcd_watch_destroy(
            CONTAINER_OF(client->watches.next, struct etcd_watch, node));
    }
    while (client->keepers.next != &client->keepers) {
        etcd_lease_keeper_destroy(CONTAINER_OF(
            client->keepers.next, struct etcd_lease_keeper, node));
    }
    while (client->requests.next != &client->requests) {
        struct request *req
            = CONTAINER_OF(client->requests.next, struct request, node);
        list_remove(&req->node);
        request_free(req);
    }
    if (client->multi) {
        curl_multi_cleanup(client->multi);
        client->multi = NULL;
    }
    uv_close((uv_handle_t *)&client->timer, client_close_cb);
}

/* Requests. */

static size_t
request_write_cb(char *data, size_t size, size_t nmemb, void *req_)
{
    struct request *req = req_;
    size_t n = size * nmemb;
    return buffer_append(&req->reply, data, n, ETCD_MAX_MESSAGE) ? n : 0;
}

static void
request_free(struct request *req)
{
    if (req) {
        transfer_uninit(req->client, &req->xfer);
        free(req->body);
        free(req->what);
        buffer_free(&req->reply);
        free(req);
    }
}

/* Sends a request of 'type' with JSON 'body' (stolen) to 'path'; 'what'
 * (stolen) describes it in messages.  Stores it in '*reqp' (if nonnull)
 * and returns 0, or returns a positive errno value. */
static int
request_submit(struct etcd_client *client, enum request_type type,
               const char *path, json_t *body, char *what, unsigned timeout_ms,
               void *cb, void *aux, struct request **reqp)
{
    struct request *req = nofail_calloc(1, sizeof *req);
    req->client = client;
    req->type = type;
    req->path = path;
    req->body = json_dumps_x(body);
    json_decref(body);
    req->what = what;
    req->timeout_ms = timeout_ms;
    req->n_tried = 1;
    switch (type) {
    case REQ_RANGE:
    case REQ_PUT:
    case REQ_DELETE:
    case REQ_TXN:
        req->cb.result = (etcd_result_cb *)cb;
        break;
    case REQ_LEASE_GRANT:
    case REQ_LEASE_KEEPALIVE:
        req->cb.lease = (etcd_lease_cb *)cb;
        break;
    case REQ_LEASE_REVOKE:
        req->cb.done = (etcd_done_cb *)cb;
        break;
    }
    req->aux = aux;
    list_init(&req->node);

    int error = transfer_init(client, &req->xfer, XFER_REQUEST,
                              request_write_cb, req);
    if (!error) {
        error = transfer_start(client, &req->xfer, req->path, req->body,
                               req->timeout_ms);
    }
    if (error) {
        request_free(req);
        return error;
    }
    list_push_back(&client->requests, &req->node);
    SLOG_DBG("etcd %s: %s: %s", client->endpoints[req->xfer.endpoint],
             req->what, req->body);
    if (reqp) {
        *reqp = req;
    }
    return 0;
}

/* Calls the callback of 'req' for a failure. */
static void
request_fail(struct request *req, int error, const char *msg)
{
    switch (req->type) {
    case REQ_RANGE:
    case REQ_PUT:
    case REQ_DELETE:
    case REQ_TXN:
        req->cb.result(req->aux, error, NULL, msg);
        break;
    case REQ_LEASE_GRANT:
    case REQ_LEASE_KEEPALIVE:
        req->cb.lease(req->aux, error, req->lease, 0, msg);
        break;
    case REQ_LEASE_REVOKE:
        req->cb.done(req->aux, error, msg);
        break;
    }
}

static enum etcd_op_type
request_op_type(enum request_type type)
{
    switch (type) {
    case REQ_PUT:
        return ETCD_OP_PUT;
    case REQ_DELETE:
        return ETCD_OP_DELETE;
    case REQ_TXN:
        return ETCD_OP_TXN;
    case REQ_RANGE:
    case REQ_LEASE_GRANT:
    case REQ_LEASE_KEEPALIVE:
    case REQ_LEASE_REVOKE:
    default:
        return ETCD_OP_RANGE;
    }
}

/* Handles a reply to 'req' that came with HTTP status 200 and is not an
 * error body: parses it and calls the callback.  Returns 0, or a positive
 * errno value with a reason in '*reason' if the callback is still to be
 * called with a failure. */
static int
request_succeed(struct request *req, char **reason)
{
    struct etcd_client *client = req->client;
    const char *body = req->reply.data ? req->reply.data : "";
    size_t len = req->reply.len;
    int error;

    switch (req->type) {
    case REQ_RANGE:
    case REQ_PUT:
    case REQ_DELETE:
    case REQ_TXN: {
        struct etcd_result *result;
        error = etcd_parse_result(request_op_type(req->type), body, len,
                                  client->prefix, &result, reason);
        if (!error) {
            req->cb.result(req->aux, 0, result, NULL);
            etcd_result_destroy(result);
        }
        return error;
    }

    case REQ_LEASE_GRANT: {
        int64_t id, ttl;
        error = etcd_parse_lease_grant(body, len, &id, &ttl, reason);
        if (!error) {
            req->cb.lease(req->aux, 0, id, ttl, NULL);
        }
        return error;
    }

    case REQ_LEASE_KEEPALIVE: {
        int64_t ttl;
        error = etcd_parse_lease_keepalive(body, len, &ttl, reason);
        if (error) {
            return error;
        }
        if (ttl <= 0) {
            *reason = nofail_strdup("lease not found (expired or revoked)");
            return ENOENT;
        }
        req->cb.lease(req->aux, 0, req->lease, ttl, NULL);
        return 0;
    }

    case REQ_LEASE_REVOKE:
        req->cb.done(req->aux, 0, NULL);
        return 0;
    }
    *reason = nofail_strdup("unknown request type");
    return EINVAL;
}

static void
request_done(struct request *req, CURLcode code)
{
    struct etcd_client *client = req->client;
    struct transfer *x = &req->xfer;
    const char *endpoint = client->endpoints[x->endpoint];
    char *reason = NULL;
    int error;

    if (code != CURLE_OK) {
        if (req->reply.overflow) {
            reason = nofail_asprintf("reply larger than %u bytes", ETCD_MAX_MESSAGE);
            error = EMSGSIZE;
        } else {
            error = transfer_error(x, code, &reason);
            if (req->n_tried < client->n_endpoints
                && transfer_not_sent(x, code)) {
                /* Fail over: the request never left. */
                x->endpoint = (x->endpoint + 1) % client->n_endpoints;
                client->preferred = x->endpoint;
                req->n_tried++;
                SLOG_WARN("etcd %s: %s: %s; trying %s", endpoint, req->what,
                          reason, client->endpoints[x->endpoint]);
                free(reason);
                buffer_clear(&req->reply);
                error = transfer_start(client, x, req->path, req->body,
                                       req->timeout_ms);
                if (!error) {
                    return;
                }
                endpoint = client->endpoints[x->endpoint];
                reason = nofail_strdup("cannot start transfer");
            }
        }
        if (req->n_tried > 1) {
            char *r
                = nofail_asprintf("%s (tried %zu endpoints)", reason, req->n_tried);
            free(reason);
            reason = r;
        }
    } else {
        long status = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        client->preferred = x->endpoint;
        const char *body = req->reply.data ? req->reply.data : "";
        int grpc_code;
        char *message;
        if (etcd_parse_error(body, req->reply.len, &grpc_code, &message)) {
            error = etcd_grpc_code_to_errno(grpc_code);
            reason = nofail_asprintf("%s (code %d)", message, grpc_code);
            free(message);
        } else if (status != 200) {
            char *quote = printable(body, req->reply.len, QUOTE_MAX);
            reason = nofail_asprintf("HTTP status %ld: %s", status, quote);
            free(quote);
            error = EIO;
        } else {
            if (slog_enabled(SLOG_LEVEL_DBG)) {
                char *quote = printable(body, req->reply.len, 4096);
                SLOG_DBG("etcd %s: %s: reply %s", endpoint, req->what, quote);
                free(quote);
            }
            list_remove(&req->node);
            error = request_succeed(req, &reason);
            if (!error) {
                request_free(req);
                return;
            }
        }
    }

    char *msg = nofail_asprintf("etcd %s: %s: %s", endpoint, req->what, reason);
    free(reason);
    SLOG_DBG("%s", msg);
    list_remove(&req->node);
    request_fail(req, error, msg);
    free(msg);
    request_free(req);
}

/* Cancels 'req' without calling its callback. */
static void
request_cancel(struct request *req)
{
    list_remove(&req->node);
    request_free(req);
}

/* Key operations. */

static json_t *
json_int64(int64_t v)
{
    /* proto3 JSON's form of int64: a decimal string. */
    json_t *j = json_sprintf("%" PRId64, v);
    if (!j) {
        abort_out_of_memory();
    }
    return j;
}

static json_t *
json_b64(const void *data, size_t n)
{
    char *b64 = etcd_base64_encode(data, n);
    json_t *j = json_string(b64);
    free(b64);
    if (!j) {
        abort_out_of_memory();
    }
    return j;
}

static void
set(json_t *obj, const char *name, json_t *value)
{
    if (json_object_set_new(obj, name, value)) {
        abort_out_of_memory();
    }
}

static json_t *
new_object(void)
{
    json_t *obj = json_object();
    if (!obj) {
        abort_out_of_memory();
    }
    return obj;
}

/* Adds "key" (and "range_end" for ETCD_PREFIX) for 'key' to 'obj'. */
static void
set_key(const struct etcd_client *client, json_t *obj, const char *key,
        unsigned flags)
{
    size_t len;
    char *full = full_key(client, key, &len);
    set(obj, "key", json_b64(full, len));
    if (flags & ETCD_PREFIX) {
        size_t end_len;
        char *end = etcd_prefix_range_end(full, len, &end_len);
        set(obj, "range_end", json_b64(end, end_len));
        free(end);
    }
    free(full);
}

static json_t *
range_op(const struct etcd_client *client, const char *key, unsigned flags)
{
    json_t *op = new_object();
    set_key(client, op, key, flags);
    if (flags & ETCD_KEYS_ONLY) {
        set(op, "keys_only", json_true());
    }
    if (flags & ETCD_COUNT_ONLY) {
        set(op, "count_only", json_true());
    }
    return op;
}

static json_t *
put_op(const struct etcd_client *client, const char *key, const void *value,
       size_t value_len, int64_t lease, unsigned flags)
{
    json_t *op = new_object();
    set_key(client, op, key, 0);
    set(op, "value", json_b64(value, value_len));
    if (lease) {
        set(op, "lease", json_int64(lease));
    }
    if (flags & ETCD_PREV_KV) {
        set(op, "prev_kv", json_true());
    }
    return op;
}

static json_t *
delete_op(const struct etcd_client *client, const char *key, unsigned flags)
{
    json_t *op = new_object();
    set_key(client, op, key, flags);
    if (flags & ETCD_PREV_KV) {
        set(op, "prev_kv", json_true());
    }
    return op;
}

#define RANGE_FLAGS (ETCD_PREFIX | ETCD_KEYS_ONLY | ETCD_COUNT_ONLY)
#define PUT_FLAGS (ETCD_PREV_KV)
#define DELETE_FLAGS (ETCD_PREFIX | ETCD_PREV_KV)
#define WATCH_FLAGS (ETCD_PREFIX | ETCD_PREV_KV)

int
etcd_range(struct etcd_client *client, const char *key, unsigned flags,
           etcd_result_cb *cb, void *aux)
{
    if (!key || !cb || (flags & ~RANGE_FLAGS)) {
        return EINVAL;
    }
    return request_submit(client, REQ_RANGE, "/v3/kv/range",
                          range_op(client, key, flags),
                          describe(client, "range", key, flags),
                          client->timeout_ms, (void *)cb, aux, NULL);
}

int
etcd_put(struct etcd_client *client, const char *key, const void *value,
         size_t value_len, int64_t lease, unsigned flags, etcd_result_cb *cb,
         void *aux)
{
    if (!key || !cb || (!value && value_len) || (flags & ~PUT_FLAGS)) {
        return EINVAL;
    }
    return request_submit(client, REQ_PUT, "/v3/kv/put",
                          put_op(client, key, value, value_len, lease, flags),
                          describe(client, "put", key, 0), client->timeout_ms,
                          (void *)cb, aux, NULL);
}

int
etcd_delete(struct etcd_client *client, const char *key, unsigned flags,
            etcd_result_cb *cb, void *aux)
{
    if (!key || !cb || (flags & ~DELETE_FLAGS)) {
        return EINVAL;
    }
    return request_submit(client, REQ_DELETE, "/v3/kv/deleterange",
                          delete_op(client, key, flags),
                          describe(client, "delete", key, flags),
                          client->timeout_ms, (void *)cb, aux, NULL);
}

/* Transactions. */

struct etcd_txn {
    const struct etcd_client *client;
    json_t *compare; /* Arrays of Compare and RequestOp objects. */
    json_t *success;
    json_t *failure;
    char *first_key; /* First key named, for messages, or NULL. */
    bool invalid;    /* A bad argument was given. */
};

struct etcd_txn *
etcd_txn_create(const struct etcd_client *client)
{
    struct etcd_txn *txn = nofail_calloc(1, sizeof *txn);
    txn->client = client;
    txn->compare = json_array();
    txn->success = json_array();
    txn->failure = json_array();
    if (!txn->compare || !txn->success || !txn->failure) {
        abort_out_of_memory();
    }
    return txn;
}

void
etcd_txn_destroy(struct etcd_txn *txn)
{
    if (txn) {
        json_decref(txn->compare);
        json_decref(txn->success);
        json_decref(txn->failure);
        free(txn->first_key);
        free(txn);
    }
}

static void
txn_note_key(struct etcd_txn *txn, const char *key)
{
    if (!txn->first_key && key) {
        txn->first_key = describe(txn->client, "txn", key, 0);
    }
}

static void
append(json_t *array, json_t *value)
{
    if (json_array_append_new(array, value)) {
        abort_out_of_memory();
    }
}

static const char *
compare_op_name(enum etcd_compare_op op)
{
    switch (op) {
    case ETCD_CMP_EQUAL:
        return "EQUAL";
    case ETCD_CMP_NOT_EQUAL:
        return "NOT_EQUAL";
    case ETCD_CMP_LESS:
        return "LESS";
    case ETCD_CMP_GREATER:
        return "GREATER";
    }
    return NULL;
}

void
etcd_txn_compare(struct etcd_txn *txn, const char *key,
                 enum etcd_compare_target target, enum etcd_compare_op op,
                 int64_t value)
{
    static const struct {
        const char *target; /* Compare.target. */
        const char *field;  /* Compare field that holds the operand. */
    } targets[] = {
        [ETCD_CMP_VERSION] = {"VERSION", "version"},
        [ETCD_CMP_CREATE] = {"CREATE", "create_revision"},
        [ETCD_CMP_MOD] = {"MOD", "mod_revision"},
        [ETCD_CMP_LEASE] = {"LEASE", "lease"},
    };
    const char *op_name = compare_op_name(op);
    if (!key || !op_name
        || (unsigned)target >= sizeof targets / sizeof *targets
        || !targets[target].target) {
        txn->invalid = true;
        return;
    }
    txn_note_key(txn, key);
    json_t *cmp = new_object();
    set_key(txn->client, cmp, key, 0);
    set(cmp, "target", json_string(targets[target].target));
    set(cmp, "result", json_string(op_name));
    set(cmp, targets[target].field, json_int64(value));
    append(txn->compare, cmp);
}

void
etcd_txn_compare_value(struct etcd_txn *txn, const char *key,
                       enum etcd_compare_op op, const void *value,
                       size_t value_len)
{
    const char *op_name = compare_op_name(op);
    if (!key || !op_name || (!value && value_len)) {
        txn->invalid = true;
        return;
    }
    txn_note_key(txn, key);
    json_t *cmp = new_object();
    set_key(txn->client, cmp, key, 0);
    set(cmp, "target", json_string("VALUE"));
    set(cmp, "result", json_string(op_name));
    set(cmp, "value", json_b64(value, value_len));
    append(txn->compare, cmp);
}

/* Adds RequestOp {'name': 'op'} to 'branch' of 'txn'. */
static void
txn_add(struct etcd_txn *txn, enum etcd_txn_branch branch, const char *name,
        json_t *op)
{
    json_t *req = new_object();
    set(req, name, op);
    append(branch == ETCD_TXN_SUCCESS ? txn->success : txn->failure, req);
}

void
etcd_txn_range(struct etcd_txn *txn, enum etcd_txn_branch branch,
               const char *key, unsigned flags)
{
    if (!key || (flags & ~RANGE_FLAGS)) {
        txn->invalid = true;
        return;
    }
    txn_note_key(txn, key);
    txn_add(txn, branch, "request_range", range_op(txn->client, key, flags));
}

void
etcd_txn_put(struct etcd_txn *txn, enum etcd_txn_branch branch,
             const char *key, const void *value, size_t value_len,
             int64_t lease, unsigned flags)
{
    if (!key || (!value && value_len) || (flags & ~PUT_FLAGS)) {
        txn->invalid = true;
        return;
    }
    txn_note_key(txn, key);
    txn_add(txn, branch, "request_put",
            put_op(txn->client, key, value, value_len, lease, flags));
}

void
etcd_txn_delete(struct etcd_txn *txn, enum etcd_txn_branch branch,
                const char *key, unsigned flags)
{
    if (!key || (flags & ~DELETE_FLAGS)) {
        txn->invalid = true;
        return;
    }
    txn_note_key(txn, key);
    txn_add(txn, branch, "request_delete_range",
            delete_op(txn->client, key, flags));
}

int
etcd_txn_commit(struct etcd_client *client, struct etcd_txn *txn,
                etcd_result_cb *cb, void *aux)
{
    if (!txn) {
        return EINVAL;
    }
    if (!cb || txn->invalid || txn->client != client) {
        etcd_txn_destroy(txn);
        return EINVAL;
    }
    json_t *body = new_object();
    set(body, "compare", json_incref(txn->compare));
    set(body, "success", json_incref(txn->success));
    set(body, "failure", json_incref(txn->failure));
    char *what = txn->first_key ? nofail_strdup(txn->first_key) : nofail_strdup("txn");
    etcd_txn_destroy(txn);
    return request_submit(client, REQ_TXN, "/v3/kv/txn", body, what,
                          client->timeout_ms, (void *)cb, aux, NULL);
}

int
etcd_create(struct etcd_client *client, const char *key, const void *value,
            size_t value_len, int64_t lease, etcd_result_cb *cb, void *aux)
{
    return etcd_update_if(client, key, value, value_len, lease, 0, cb, aux);
}

int
etcd_update_if(struct etcd_client *client, const char *key, const void *value,
               size_t value_len, int64_t lease, int64_t mod_revision,
               etcd_result_cb *cb, void *aux)
{
    if (!key || !cb || (!value && value_len) || mod_revision < 0) {
        return EINVAL;
    }
    struct etcd_txn *txn = etcd_txn_create(client);
    if (mod_revision) {
        etcd_txn_compare(txn, key, ETCD_CMP_MOD, ETCD_CMP_EQUAL, mod_revision);
    } else {
        etcd_txn_compare(txn, key, ETCD_CMP_CREATE, ETCD_CMP_EQUAL, 0);
    }
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, key, value, value_len, lease, 0);
    etcd_txn_range(txn, ETCD_TXN_FAILURE, key, 0);
    return etcd_txn_commit(client, txn, cb, aux);
}

int
etcd_delete_if_value(struct etcd_client *client, const char *key,
                     const void *value, size_t value_len, etcd_result_cb *cb,
                     void *aux)
{
    if (!key || !cb || (!value && value_len)) {
        return EINVAL;
    }
    struct etcd_txn *txn = etcd_txn_create(client);
    etcd_txn_compare_value(txn, key, ETCD_CMP_EQUAL, value, value_len);
    etcd_txn_delete(txn, ETCD_TXN_SUCCESS, key, 0);
    etcd_txn_range(txn, ETCD_TXN_FAILURE, key, 0);
    return etcd_txn_commit(client, txn, cb, aux);
}

/* Leases. */

int
etcd_lease_grant(struct etcd_client *client, int64_t ttl, etcd_lease_cb *cb,
                 void *aux)
{
    if (ttl <= 0 || !cb) {
        return EINVAL;
    }
    json_t *body = new_object();
    set(body, "TTL", json_int64(ttl));
    return request_submit(client, REQ_LEASE_GRANT, "/v3/lease/grant", body,
                          nofail_asprintf("lease grant (TTL %" PRId64 " s)", ttl),
                          client->timeout_ms, (void *)cb, aux, NULL);
}

/* Sends a keepalive for lease 'id' limited to 'timeout_ms'. */
static int
lease_keepalive(struct etcd_client *client, int64_t id, unsigned timeout_ms,
                etcd_lease_cb *cb, void *aux, struct request **reqp)
{
    if (!id || !cb) {
        return EINVAL;
    }
    json_t *body = new_object();
    set(body, "ID", json_int64(id));
    struct request *req;
    int error
        = request_submit(client, REQ_LEASE_KEEPALIVE, "/v3/lease/keepalive",
                         body, nofail_asprintf("lease keepalive %" PRId64, id),
                         timeout_ms, (void *)cb, aux, &req);
    if (!error) {
        req->lease = id;
        if (reqp) {
            *reqp = req;
        }
    }
    return error;
}

int
etcd_lease_keepalive(struct etcd_client *client, int64_t id, etcd_lease_cb *cb,
                     void *aux)
{
    return lease_keepalive(client, id, client->timeout_ms, cb, aux, NULL);
}

int
etcd_lease_revoke(struct etcd_client *client, int64_t id, etcd_done_cb *cb,
                  void *aux)
{
    if (!id || !cb) {
        return EINVAL;
    }
    json_t *body = new_object();
    set(body, "ID", json_int64(id));
    return request_submit(client, REQ_LEASE_REVOKE, "/v3/lease/revoke", body,
                          nofail_asprintf("lease revoke %" PRId64, id),
                          client->timeout_ms, (void *)cb, aux, NULL);
}

/* Lease keepers. */

static void keeper_tick(uv_timer_t *);

static void
keeper_schedule(struct etcd_lease_keeper *k)
{
    uint64_t now = uv_now(k->client->loop);
    uint64_t next = k->next_send < k->deadline ? k->next_send : k->deadline;
    uv_timer_start(&k->timer, keeper_tick, next > now ? next - now : 0, 0);
}

static void
keeper_lose(struct etcd_lease_keeper *k, int error, const char *msg)
{
    k->lost = true;
    uv_timer_stop(&k->timer);
    if (k->req) {
        request_cancel(k->req);
        k->req = NULL;
    }
    SLOG_WARN("%s", msg);
    k->cb(k->aux, k->id, error, msg);
}

static void
keeper_reply(void *k_, int error, int64_t id, int64_t ttl, const char *msg)
{
    struct etcd_lease_keeper *k = k_;
    (void)id;
    k->req = NULL;
    if (!error) {
        uint64_t deadline = k->sent_at + (uint64_t)ttl * 1000;
        if (deadline > k->deadline) {
            k->deadline = deadline;
        }
        if (k->failing) {
            SLOG_INFO("etcd: lease %" PRId64 " renewed again (TTL %" PRId64
                      " s)",
                      k->id, ttl);
            k->failing = false;
        }
        keeper_schedule(k);
    } else if (error == ENOENT) {
        keeper_lose(k, ENOENT, msg);
    } else if (!k->failing) {
        uint64_t now = uv_now(k->client->loop);
        SLOG_WARN("%s; lease %" PRId64 " expires in %" PRIu64 " ms", msg,
                  k->id, k->deadline > now ? k->deadline - now : 0);
        k->failing = true;
    }
}

static void
keeper_tick(uv_timer_t *timer)
{
    struct etcd_lease_keeper *k = timer->data;
    uint64_t now = uv_now(k->client->loop);
    if (now >= k->deadline) {
        char *msg = nofail_asprintf("etcd: lease %" PRId64 ": no keepalive "
                              "succeeded for its TTL of %" PRId64 " s",
                              k->id, k->ttl);
        keeper_lose(k, ETIMEDOUT, msg);
        free(msg);
        return;
    }
    if (now >= k->next_send) {
        if (!k->req) {
            unsigned timeout = k->client->timeout_ms;
            if (timeout > k->period_ms) {
                timeout = (unsigned)k->period_ms;
            }
            int error = lease_keepalive(k->client, k->id, timeout,
                                        keeper_reply, k, &k->req);
            if (error) {
                k->req = NULL;
                SLOG_WARN("etcd: lease %" PRId64 ": cannot send keepalive: %s",
                          k->id, strerror(error));
            } else {
                k->sent_at = now;
            }
        }
        k->next_send = now + k->period_ms;
    }
    keeper_schedule(k);
}

int
etcd_lease_keeper_create(struct etcd_client *client, int64_t id, int64_t ttl,
                         etcd_lease_lost_cb *cb, void *aux,
                         struct etcd_lease_keeper **keeperp)
{
    *keeperp = NULL;
    if (!id || ttl <= 0 || ttl > INT32_MAX || !cb) {
        return EINVAL;
    }
    struct etcd_lease_keeper *k = nofail_calloc(1, sizeof *k);
    int error = uv_timer_init(client->loop, &k->timer);
    if (error) {
        free(k);
        return -error;
    }
    k->timer.data = k;
    k->client = client;
    k->id = id;
    k->ttl = ttl;
    k->period_ms = (uint64_t)ttl * 1000 / 3;
    uint64_t now = uv_now(client->loop);
    k->next_send = now;
    k->deadline = now + (uint64_t)ttl * 1000;
    k->cb = cb;
    k->aux = aux;
    list_push_back(&client->keepers, &k->node);
    uv_timer_start(&k->timer, keeper_tick, 0, 0);
    *keeperp = k;
    return 0;
}

static void
keeper_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

void
etcd_lease_keeper_destroy(struct etcd_lease_keeper *k)
{
    if (!k) {
        return;
    }
    if (k->req) {
        request_cancel(k->req);
        k->req = NULL;
    }
    list_remove(&k->node);
    uv_close((uv_handle_t *)&k->timer, keeper_close_cb);
}

/* Watches. */

static size_t
watch_write_cb(char *data, size_t size, size_t nmemb, void *w_)
{
    struct etcd_watch *w = w_;
    size_t n = size * nmemb;
    if (!w->http_status
        && curl_easy_getinfo(w->xfer.easy, CURLINFO_RESPONSE_CODE,
                             &w->http_status)
               != CURLE_OK) {
        w->http_status = 0;
    }
    if (w->http_status != 200) {
        /* An error body: keep what the message can quote. */
        size_t room = QUOTE_MAX * 16 - w->error_body.len;
        buffer_append(&w->error_body, data, n < room ? n : room,
                      QUOTE_MAX * 16);
        return n;
    }
    if (etcd_stream_feed(w->stream, data, n)) {
        w->overflow = true;
        return 0;
    }
    w->pending = true;
    return n;
}

/* Returns a message "etcd ENDPOINT: watch KEY: 'reason'". */
static char *
watch_msg(const struct etcd_watch *w, const char *reason)
{
    return nofail_asprintf("etcd %s: %s: %s", w->client->endpoints[w->xfer.endpoint],
                     w->what, reason);
}

static void watch_retry(struct etcd_watch *, int error, const char *reason);
static void watch_close_cb(uv_handle_t *);

/* Starts the transfer of 'w' at its next revision. */
static void
watch_connect(struct etcd_watch *w)
{
    struct etcd_client *client = w->client;
    json_t *create = new_object();
    set(create, "key", json_b64(w->key, w->key_len));
    if (w->range_end) {
        set(create, "range_end", json_b64(w->range_end, w->range_end_len));
    }
    if (w->next_rev > 0) {
        set(create, "start_revision", json_int64(w->next_rev));
    }
    if (w->prev_kv) {
        set(create, "prev_kv", json_true());
    }
    set(create, "progress_notify", json_true());
    json_t *body = new_object();
    set(body, "create_request", create);
    free(w->body);
    w->body = json_dumps_x(body);
    json_decref(body);

    etcd_stream_reset(w->stream);
    buffer_clear(&w->error_body);
    w->http_status = 0;
    w->overflow = false;
    w->pending = false;
    w->established = false;
    w->xfer.endpoint = client->preferred;
    w->state = WATCH_ACTIVE;
    SLOG_DBG("etcd %s: %s: %s", client->endpoints[w->xfer.endpoint], w->what,
             w->body);
    int error = transfer_start(client, &w->xfer, "/v3/watch", w->body, 0);
    if (error) {
        watch_retry(w, error, "cannot start transfer");
    }
}

static void
watch_timer_cb(uv_timer_t *timer)
{
    struct etcd_watch *w = timer->data;
    if (w->state == WATCH_BACKOFF) {
        watch_connect(w);
    }
}

/* The connection of 'w' failed for 'reason': reconnects after a delay and
 * tells the owner if the watch was established. */
static void
watch_retry(struct etcd_watch *w, int error, const char *reason)
{
    struct etcd_client *client = w->client;
    bool was_established = w->established;
    transfer_stop(client, &w->xfer);
    w->state = WATCH_BACKOFF;
    w->established = false;
    if (client->preferred == w->xfer.endpoint) {
        client->preferred = (w->xfer.endpoint + 1) % client->n_endpoints;
    }

    char *msg = watch_msg(w, reason);
    unsigned delay = w->backoff_ms;
    if (!w->outage_logged) {
        SLOG_WARN("%s; reconnecting from revision %" PRId64, msg, w->next_rev);
        w->outage_logged = true;
    } else {
        SLOG_DBG("%s; reconnecting in %u ms", msg, delay);
    }
    w->backoff_ms = delay >= client->backoff_max_ms / 2
                        ? client->backoff_max_ms
                        : delay * 2;
    uv_timer_start(&w->timer, watch_timer_cb, delay, 0);
    if (was_established && w->cbs.disconnected) {
        w->cbs.disconnected(w->aux, error, msg);
    }
    free(msg);
}

/* Stops 'w' for good and tells the owner why. */
static void
watch_fail(struct etcd_watch *w, int error, const char *reason)
{
    transfer_stop(w->client, &w->xfer);
    uv_timer_stop(&w->timer);
    w->state = WATCH_STOPPED;
    char *msg = watch_msg(w, reason);
    SLOG_ERR("%s; watch stopped", msg);
    if (w->cbs.failed) {
        w->cbs.failed(w->aux, error, msg);
    }
    free(msg);
}

/* Returns true if a watch rejected with gRPC 'code' cannot succeed by
 * retrying. */
static bool
watch_error_is_permanent(int code)
{
    return code == 3      /* INVALID_ARGUMENT */
           || code == 7   /* PERMISSION_DENIED */
           || code == 12  /* UNIMPLEMENTED */
           || code == 16; /* UNAUTHENTICATED */
}

/* Handles one message 'r' of the stream of 'w'. */
static void
watch_handle(struct etcd_watch *w, const struct etcd_watch_response *r)
{
    if (r->is_error) {
        char *reason
            = nofail_asprintf("%s (code %d)", r->error_message, r->error_code);
        int error = etcd_grpc_code_to_errno(r->error_code);
        if (watch_error_is_permanent(r->error_code)) {
            watch_fail(w, error, reason);
        } else {
            watch_retry(w, error, reason);
        }
        free(reason);
        return;
    }

    if (r->created) {
        w->established = true;
        w->backoff_ms = w->client->backoff_min_ms;
        if (w->next_rev <= 0) {
            w->next_rev = r->revision + 1;
        }
        if (w->outage_logged) {
            SLOG_INFO("etcd %s: %s: watching again from revision %" PRId64,
                      w->client->endpoints[w->xfer.endpoint], w->what,
                      w->next_rev);
            w->outage_logged = false;
        }
        if (w->cbs.connected) {
            w->cbs.connected(w->aux, r->revision);
            if (w->destroyed || w->state != WATCH_ACTIVE) {
                return;
            }
        }
    }

    if (r->n_events) {
        int64_t last = r->events[r->n_events - 1].kv.mod_revision;
        if (last >= w->next_rev) {
            w->next_rev = last + 1;
        }
        if (w->cbs.events) {
            w->cbs.events(w->aux, r->events, r->n_events, r->revision);
            if (w->destroyed || w->state != WATCH_ACTIVE) {
                return;
            }
        }
    } else if (!r->created && !r->canceled && w->established
               && r->revision >= w->next_rev) {
        /* Progress notification: nothing of ours up to 'revision'. */
        w->next_rev = r->revision + 1;
    }

    if (r->canceled) {
        if (r->compact_revision > 0) {
            transfer_stop(w->client, &w->xfer);
            uv_timer_stop(&w->timer);
            w->state = WATCH_STOPPED;
            SLOG_WARN("etcd %s: %s: revision %" PRId64 " was compacted "
                      "(compact revision %" PRId64 "); watch stopped",
                      w->client->endpoints[w->xfer.endpoint], w->what,
                      w->next_rev, r->compact_revision);
            if (w->cbs.compacted) {
                w->cbs.compacted(w->aux, r->compact_revision);
            }
        } else {
            char *reason = nofail_asprintf("canceled by etcd: %s",
                                     r->cancel_reason ? r->cancel_reason
                                                      : "no reason given");
            watch_fail(w, ECANCELED, reason);
            free(reason);
        }
    }
}

static void
watch_process(struct etcd_watch *w)
{
    while (!w->destroyed && w->state == WATCH_ACTIVE) {
        const char *value;
        size_t len;
        int error = etcd_stream_next(w->stream, &value, &len);
        if (error == EAGAIN) {
            return;
        }
        if (error) {
            watch_retry(w, EPROTO,
                        "malformed stream: not a sequence of "
                        "JSON objects");
            return;
        }
        struct etcd_watch_response *r;
        char *reason;
        error = etcd_parse_watch_response(value, len, w->client->prefix, &r,
                                          &reason);
        if (error) {
            watch_retry(w, error, reason);
            free(reason);
            return;
        }
        watch_handle(w, r);
        etcd_watch_response_destroy(r);
    }
}

static void
watch_done(struct etcd_watch *w, CURLcode code)
{
    if (w->state != WATCH_ACTIVE) {
        return;
    }
    long status = 0;
    curl_easy_getinfo(w->xfer.easy, CURLINFO_RESPONSE_CODE, &status);

    if (w->overflow) {
        char *reason
            = nofail_asprintf("message larger than %u bytes", ETCD_MAX_MESSAGE);
        watch_fail(w, EMSGSIZE, reason);
        free(reason);
    } else if (code != CURLE_OK) {
        char *reason;
        int error = transfer_error(&w->xfer, code, &reason);
        watch_retry(w, error, reason);
        free(reason);
    } else if (status != 200) {
        const char *body = w->error_body.data ? w->error_body.data : "";
        int grpc_code;
        char *message;
        if (etcd_parse_error(body, w->error_body.len, &grpc_code, &message)) {
            char *reason = nofail_asprintf("%s (code %d)", message, grpc_code);
            int error = etcd_grpc_code_to_errno(grpc_code);
            if (watch_error_is_permanent(grpc_code)) {
                watch_fail(w, error, reason);
            } else {
                watch_retry(w, error, reason);
            }
            free(reason);
            free(message);
        } else {
            char *quote = printable(body, w->error_body.len, QUOTE_MAX);
            char *reason = nofail_asprintf("HTTP status %ld: %s", status, quote);
            free(quote);
            if (status >= 400 && status < 500 && status != 408
                && status != 429) {
                watch_fail(w, EIO, reason);
            } else {
                watch_retry(w, EIO, reason);
            }
            free(reason);
        }
    } else {
        watch_retry(w, ECONNRESET, "stream closed by etcd");
    }
}

int
etcd_watch_create(struct etcd_client *client, const char *key, unsigned flags,
                  int64_t start_revision, const struct etcd_watch_cbs *cbs,
                  void *aux, struct etcd_watch **watchp)
{
    *watchp = NULL;
    if (!key || (flags & ~WATCH_FLAGS) || start_revision < 0) {
        return EINVAL;
    }
    struct etcd_watch *w = nofail_calloc(1, sizeof *w);
    int error = uv_timer_init(client->loop, &w->timer);
    if (error) {
        free(w);
        return -error;
    }
    w->timer.data = w;
    w->client = client;
    error = transfer_init(client, &w->xfer, XFER_WATCH, watch_write_cb, w);
    if (error) {
        transfer_uninit(client, &w->xfer);
        w->destroyed = true;
        list_init(&w->node);
        uv_close((uv_handle_t *)&w->timer, watch_close_cb);
        return error;
    }
    w->key = full_key(client, key, &w->key_len);
    if (flags & ETCD_PREFIX) {
        w->range_end
            = etcd_prefix_range_end(w->key, w->key_len, &w->range_end_len);
    }
    w->prev_kv = (flags & ETCD_PREV_KV) != 0;
    w->what = describe(client, "watch", key, flags);
    w->next_rev = start_revision;
    if (cbs) {
        w->cbs = *cbs;
    }
    w->aux = aux;
    w->stream = etcd_stream_create(ETCD_MAX_MESSAGE);
    w->backoff_ms = client->backoff_min_ms;
    w->state = WATCH_BACKOFF;
    list_push_back(&client->watches, &w->node);
    uv_timer_start(&w->timer, watch_timer_cb, 0, 0);
    *watchp = w;
    return 0;
}

int64_t
etcd_watch_next_revision(const struct etcd_watch *w)
{
    return w->next_rev;
}

static void
watch_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

void
etcd_watch_destroy(struct etcd_watch *w)
{
    if (!w) {
        return;
    }
    transfer_uninit(w->client, &w->xfer);
    list_remove(&w->node);
    free(w->key);
    free(w->range_end);
    free(w->what);
    free(w->body);
    etcd_stream_destroy(w->stream);
    w->stream = NULL;
    buffer_free(&w->error_body);
    w->destroyed = true;
    w->state = WATCH_STOPPED;
    uv_close((uv_handle_t *)&w->timer, watch_close_cb);
}
