/*
 * OVSDB client: JSON-RPC (RFC 7047) with jansson over a libuv unix socket,
 * a monitor-driven replica of the rows the agent needs, and the
 * transactions of the pod ADD/DEL paths.
 *
 * Framing: the stream is a sequence of JSON objects without delimiters.  A
 * small scanner (sluice/ovsdb-wire.h) follows string and bracket nesting
 * over the bytes as they arrive, so each message is found in time linear in
 * its size however it is split across reads; the complete object is then
 * parsed (and validated) by json_loadb() with JSON_DISABLE_EOF_CHECK.  An
 * unfinished message may not grow beyond OVSDB_MAX_MESSAGE.  The replica
 * that monitor replies and updates are applied to is in agent/ovsdb-wire.c.
 */
#include <sluice-config.h>

#include "sluice/ovsdb.h"
#include "sluice/ovsdb-wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <jansson.h>
#include <uv.h>

#include "sluice/log.h"
#include "sluice/util.h"

SLOG_MODULE(ovsdb);

#define DB_NAME "Open_vSwitch"
#define MONITOR_ID "sluice"
#define READ_CHUNK 65536
#define RBUF_KEEP (1024 * 1024) /* Larger idle read buffers are freed. */

/* An outstanding request. */
struct request {
    struct request *next; /* In 'client->requests'. */
    json_int_t id;        /* JSON-RPC id. */
    bool is_monitor;      /* The monitor request, else a transaction. */
    json_t *ops;          /* Operations sent, to name a failed one. */
    ovsdb_transact_cb *cb;
    void *aux;
};

/* An ovsdb_client_wait_ofport() in progress. */
struct waiter {
    struct waiter *next; /* In 'client->waiters'. */
    char *name;          /* Interface name. */
    uint64_t deadline;   /* uv_hrtime() value at which it times out. */
    unsigned timeout_ms; /* As requested, for the message. */
    uint64_t seqno;      /* Client's change count when it started. */
    ovsdb_ofport_cb *cb;
    void *aux;

    /* Outcome, once decided. */
    int error;
    int64_t ofport;
    char *msg;
};

/* One connection attempt: a pipe handle lives until its close callback,
 * which may come after the client moved on to another connection. */
struct conn {
    uv_pipe_t pipe;              /* The socket. */
    uv_connect_t connect_req;    /* The connection request. */
    struct ovsdb_client *client; /* Owner. */
    bool closing;                /* uv_close() called: ignore callbacks. */
};

struct write_req {
    uv_write_t req;
    struct conn *conn; /* Connection written to. */
    char *data;        /* Serialized message. */
};

enum client_state {
    ST_BACKOFF,    /* Waiting for 'backoff_timer' to reconnect. */
    ST_CONNECTING, /* uv_pipe_connect() in progress. */
    ST_MONITORING, /* Connected, waiting for the monitor reply. */
    ST_SYNCED,     /* Replica in sync; transactions accepted. */
};

struct ovsdb_client {
    uv_loop_t *loop;
    char *path; /* Socket path. */
    struct ovsdb_client_cbs cbs;
    void *aux;

    enum client_state state;
    struct conn *conn;        /* Current connection, NULL in ST_BACKOFF. */
    uv_timer_t backoff_timer; /* Reconnection, or a deferred failure. */
    uv_timer_t wait_timer;    /* Next waiter deadline. */
    unsigned backoff_ms;      /* Delay before the next attempt. */
    unsigned min_backoff_ms;  /* First delay after a failure. */
    unsigned max_backoff_ms;  /* Largest delay. */
    bool warned;              /* The current outage was logged. */
    int deferred_error;       /* Failure to report from the loop. */
    int n_handles;            /* Open libuv handles. */
    bool destroyed;           /* Free when 'n_handles' drops to 0. */

    /* Input: 'rbuf[msg_start, scan_pos)' is the scanned part of the next
     * message, 'rbuf[scan_pos, rlen)' not scanned yet. */
    char *rbuf;
    size_t rlen, rcap;
    size_t msg_start, scan_pos;
    struct ovsdb_scanner scanner; /* State at 'scan_pos'. */

    json_int_t next_id;       /* Id of the next request. */
    struct request *requests; /* Outstanding requests, oldest first. */
    struct request **requests_tail;
    struct waiter *waiters;

    struct ovsdb_replica replica; /* The monitored rows. */
};

static void start_connect(struct ovsdb_client *);
static void connection_failed(struct ovsdb_client *, int error,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void waiters_run(struct ovsdb_client *);

/* Output. */

static void
write_cb(uv_write_t *req, int status)
{
    struct write_req *wr = req->data;
    struct conn *conn = wr->conn;
    free(wr->data);
    free(wr);
    if (status < 0 && !conn->closing) {
        connection_failed(conn->client, -status, "write failed: %s",
                          uv_strerror(status));
    }
}

static void
deferred_failure_cb(uv_timer_t *timer)
{
    struct ovsdb_client *client = timer->data;
    if (client->state != ST_BACKOFF) {
        connection_failed(client, client->deferred_error, "write failed: %s",
                          uv_strerror(-client->deferred_error));
    }
}

/* Sends 'msg' on the current connection.  Returns 0 or a positive errno
 * value; a socket failure also fails the connection, from the loop. */
static int
send_msg(struct ovsdb_client *client, const json_t *msg)
{
    char *data = json_dumps(msg, JSON_COMPACT);
    if (!data) {
        return ENOMEM;
    }
    SLOG_DBG("%s: send %s", client->path, data);

    struct write_req *wr = nofail_malloc(sizeof *wr);
    wr->req.data = wr;
    wr->conn = client->conn;
    wr->data = data;
    uv_buf_t buf = uv_buf_init(data, strlen(data));
    int error = uv_write(&wr->req, (uv_stream_t *)&client->conn->pipe, &buf, 1,
                         write_cb);
    if (error) {
        free(data);
        free(wr);
        client->deferred_error = -error;
        uv_timer_start(&client->backoff_timer, deferred_failure_cb, 0, 0);
        return -error;
    }
    return 0;
}

/* Sends a request for 'method' with 'params' (stolen) and remembers it as
 * 'req' (whose id it sets), or frees 'req' and returns a positive errno
 * value. */
static int
send_request(struct ovsdb_client *client, const char *method, json_t *params,
             struct request *req)
{
    req->id = client->next_id++;
    json_t *msg = params
                      ? json_pack("{s:s, s:o, s:I}", "method", method,
                                  "params", params, "id", (json_int_t)req->id)
                      : NULL;
    int error = msg ? send_msg(client, msg) : ENOMEM;
    json_decref(msg);
    if (error) {
        json_decref(req->ops);
        free(req);
        return error;
    }
    req->next = NULL;
    *client->requests_tail = req;
    client->requests_tail = &req->next;
    return 0;
}

static struct request *
take_request(struct ovsdb_client *client, json_int_t id)
{
    for (struct request **p = &client->requests; *p; p = &(*p)->next) {
        struct request *req = *p;
        if (req->id == id) {
            *p = req->next;
            if (client->requests_tail == &req->next) {
                client->requests_tail = p;
            }
            return req;
        }
    }
    return NULL;
}

static void
send_monitor(struct ovsdb_client *client)
{
    json_t *tables = json_object();
    for (int t = 0; tables && t < OVSDB_N_TABLES; t++) {
        json_t *columns = json_array();
        for (const char *const *c = ovsdb_table_columns(t); columns && *c;
             c++) {
            if (json_array_append_new(columns, json_string(*c))) {
                json_decref(columns);
                columns = NULL;
            }
        }
        json_t *request
            = columns ? json_pack("{s:o}", "columns", columns) : NULL;
        if (!request
            || json_object_set_new(tables, ovsdb_table_name(t), request)) {
            json_decref(tables);
            tables = NULL;
        }
    }
    json_t *params
        = tables ? json_pack("[s, s, o]", DB_NAME, MONITOR_ID, tables) : NULL;
    struct request *req = nofail_calloc(1, sizeof *req);
    req->is_monitor = true;
    int error = send_request(client, "monitor", params, req);
    if (error) {
        connection_failed(client, error, "cannot send monitor request: %s",
                          strerror(error));
    }
}

/* Connection management. */

static void
handle_closed(struct ovsdb_client *client)
{
    if (!--client->n_handles && client->destroyed) {
        free(client);
    }
}

static void
conn_close_cb(uv_handle_t *handle)
{
    struct conn *conn = handle->data;
    struct ovsdb_client *client = conn->client;
    free(conn);
    handle_closed(client);
}

static void
timer_close_cb(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

static void
close_conn(struct ovsdb_client *client)
{
    if (client->conn) {
        client->conn->closing = true;
        uv_close((uv_handle_t *)&client->conn->pipe, conn_close_cb);
        client->conn = NULL;
    }
    client->rlen = client->msg_start = client->scan_pos = 0;
    ovsdb_scanner_init(&client->scanner);
}

static void
backoff_cb(uv_timer_t *timer)
{
    start_connect(timer->data);
}

/* Drops the current connection (or attempt) for the reason given by 'fmt'
 * and schedules the next attempt.  Fails the outstanding requests and, if
 * the owner was told about the connection, tells it about the loss. */
static void
connection_failed(struct ovsdb_client *client, int error, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *reason = nofail_vasprintf(fmt, args);
    va_end(args);

    bool was_synced = client->state == ST_SYNCED;
    close_conn(client);
    client->state = ST_BACKOFF;
    if (!client->warned) {
        SLOG_WARN("%s: %s (retrying in %u ms)", client->path, reason,
                  client->backoff_ms);
        client->warned = true;
    } else {
        SLOG_DBG("%s: %s (retrying in %u ms)", client->path, reason,
                 client->backoff_ms);
    }
    uv_timer_start(&client->backoff_timer, backoff_cb, client->backoff_ms, 0);
    client->backoff_ms = client->backoff_ms >= client->max_backoff_ms / 2
                             ? client->max_backoff_ms
                             : client->backoff_ms * 2;

    struct request *reqs = client->requests;
    client->requests = NULL;
    client->requests_tail = &client->requests;
    if (reqs) {
        char *msg = nofail_asprintf("connection to ovsdb-server lost: %s", reason);
        while (reqs) {
            struct request *req = reqs;
            reqs = req->next;
            if (req->cb) {
                req->cb(req->aux, ECONNRESET, NULL, msg);
            }
            json_decref(req->ops);
            free(req);
        }
        free(msg);
    }

    if (was_synced && client->cbs.disconnected) {
        client->cbs.disconnected(client->aux, error, reason);
    }
    free(reason);
}

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct conn *conn = handle->data;
    struct ovsdb_client *client = conn->client;
    (void)suggested;

    if (client->rcap - client->rlen < READ_CHUNK) {
        /* 'rlen' never exceeds OVSDB_MAX_MESSAGE here (process_input()
         * fails the connection first), so the cap leaves room for a chunk
         * and bounds the buffer. */
        size_t cap = 2 * client->rcap;
        if (cap < client->rlen + READ_CHUNK) {
            cap = client->rlen + READ_CHUNK;
        }
        if (cap > OVSDB_MAX_MESSAGE + READ_CHUNK + 1) {
            cap = OVSDB_MAX_MESSAGE + READ_CHUNK + 1;
        }
        char *rbuf = realloc(client->rbuf, cap);
        if (!rbuf) {
            /* libuv reports UV_ENOBUFS to read_cb(). */
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        client->rbuf = rbuf;
        client->rcap = cap;
    }
    *buf = uv_buf_init(client->rbuf + client->rlen,
                       client->rcap - client->rlen);
}

static void handle_msg(struct ovsdb_client *, json_t *msg);

/* Parses the complete message 'rbuf[msg_start, scan_pos)'. */
static void
parse_msg(struct ovsdb_client *client)
{
    size_t len = client->scan_pos - client->msg_start;
    char *reason;
    json_t *msg = ovsdb_wire_parse(client->rbuf + client->msg_start, len,
                                   &reason);
    if (!msg) {
        connection_failed(client, EPROTO, "%s", reason);
        free(reason);
        return;
    }
    client->msg_start = client->scan_pos;
    handle_msg(client, msg);
    json_decref(msg);
}

static void
process_input(struct ovsdb_client *client)
{
    struct conn *conn = client->conn;

    while (client->conn == conn && client->scan_pos < client->rlen) {
        enum ovsdb_scan_result r
            = ovsdb_scanner_run(&client->scanner, client->rbuf, client->rlen,
                                &client->scan_pos, &client->msg_start);
        if (r == OVSDB_SCAN_MESSAGE) {
            parse_msg(client);
        } else if (r == OVSDB_SCAN_ERROR) {
            connection_failed(client, EPROTO,
                              "protocol error: byte 0x%02x where a "
                              "JSON-RPC message should start",
                              (unsigned char)client->rbuf[client->scan_pos
                                                          - 1]);
        }
    }
    if (client->conn != conn) {
        return;
    }

    /* Keep only the unfinished message. */
    if (client->msg_start) {
        memmove(client->rbuf, client->rbuf + client->msg_start,
                client->rlen - client->msg_start);
        client->rlen -= client->msg_start;
        client->scan_pos -= client->msg_start;
        client->msg_start = 0;
    }
    if (client->rlen > OVSDB_MAX_MESSAGE) {
        connection_failed(client, EMSGSIZE,
                          "message from ovsdb-server exceeds %u bytes",
                          OVSDB_MAX_MESSAGE);
    } else if (!client->rlen && client->rcap > RBUF_KEEP) {
        free(client->rbuf);
        client->rbuf = NULL;
        client->rcap = 0;
    }
}

static void
read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *conn = stream->data;
    (void)buf;

    if (conn->closing) {
        return;
    }
    struct ovsdb_client *client = conn->client;
    if (nread == UV_EOF) {
        connection_failed(client, ECONNRESET,
                          "connection closed by ovsdb-server");
    } else if (nread < 0) {
        connection_failed(client, (int)-nread, "read failed: %s",
                          uv_strerror((int)nread));
    } else if (nread > 0) {
        client->rlen += nread;
        process_input(client);
    }
}

static void
connect_cb(uv_connect_t *req, int status)
{
    struct conn *conn = req->data;
    if (conn->closing) {
        return;
    }
    struct ovsdb_client *client = conn->client;
    if (status < 0) {
        connection_failed(client, -status, "cannot connect: %s",
                          uv_strerror(status));
        return;
    }
    int error = uv_read_start((uv_stream_t *)&conn->pipe, alloc_cb, read_cb);
    if (error) {
        connection_failed(client, -error, "cannot read: %s",
                          uv_strerror(error));
        return;
    }
    client->state = ST_MONITORING;
    send_monitor(client);
}

static void
start_connect(struct ovsdb_client *client)
{
    struct conn *conn = nofail_calloc(1, sizeof *conn);
    int error = uv_pipe_init(client->loop, &conn->pipe, 0);
    if (error) {
        free(conn);
        connection_failed(client, -error, "cannot create socket: %s",
                          uv_strerror(error));
        return;
    }
    client->n_handles++;
    conn->client = client;
    conn->pipe.data = conn;
    conn->connect_req.data = conn;
    client->conn = conn;
    client->state = ST_CONNECTING;
    uv_pipe_connect(&conn->connect_req, &conn->pipe, client->path, connect_cb);
}

/* Incoming messages. */

/* Returns a description of the JSON-RPC or OVSDB error 'error', which is a
 * string or an object with "error" and optionally "details". */
static char *
format_error(const json_t *error)
{
    if (json_is_string(error)) {
        return nofail_strdup(json_string_value(error));
    }
    const char *what = json_string_value(json_object_get(error, "error"));
    const char *details = json_string_value(json_object_get(error, "details"));
    if (what && details) {
        return nofail_asprintf("%s: %s", what, details);
    } else if (what) {
        return nofail_strdup(what);
    }
    char *s = json_dumps(error, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        abort_out_of_memory();
    }
    return s;
}

static void
complete_transaction(struct ovsdb_client *client, struct request *req,
                     json_t *result, json_t *error)
{
    char *msg = NULL;
    int code = 0;

    if (error && !json_is_null(error)) {
        char *e = format_error(error);
        msg = nofail_asprintf("request rejected: %s", e);
        free(e);
        code = EIO;
    } else if (!json_is_array(result)) {
        msg = nofail_strdup("malformed transaction reply");
        code = EIO;
    } else {
        size_t i;
        json_t *r;
        json_array_foreach(result, i, r)
        {
            json_t *e = json_object_get(r, "error");
            if (!e || json_is_null(e)) {
                continue;
            }
            char *s = format_error(r);
            const json_t *op = json_array_get(req->ops, i);
            const char *opname = json_string_value(json_object_get(op, "op"));
            const char *table
                = json_string_value(json_object_get(op, "table"));
            if (opname) {
                msg = nofail_asprintf("%s (in %s%s%s)", s, opname, table ? " " : "",
                                table ? table : "");
            } else {
                msg = nofail_asprintf("%s (at commit)", s);
            }
            free(s);
            code = EIO;
            break;
        }
    }
    if (code) {
        SLOG_DBG("%s: transaction %lld failed: %s", client->path,
                 (long long)req->id, msg);
    }
    req->cb(req->aux, code, json_is_array(result) ? result : NULL, msg);
    free(msg);
}

static void
handle_monitor_reply(struct ovsdb_client *client, json_t *result,
                     json_t *error)
{
    if ((error && !json_is_null(error)) || !json_is_object(result)) {
        char *e = error && !json_is_null(error) ? format_error(error)
                                                : nofail_strdup("bad result");
        connection_failed(client, EPROTO, "monitor request failed: %s", e);
        free(e);
        return;
    }
    ovsdb_replica_resync(&client->replica, result);
    client->state = ST_SYNCED;
    client->backoff_ms = client->min_backoff_ms;
    client->warned = false;
    const struct ovsdb_replica *replica = &client->replica;
    SLOG_INFO("%s: connected (%zu bridges, %zu ports, %zu interfaces)",
              client->path, ovsdb_replica_count(replica, OVSDB_BRIDGE),
              ovsdb_replica_count(replica, OVSDB_PORT),
              ovsdb_replica_count(replica, OVSDB_INTERFACE));
    if (client->cbs.connected) {
        client->cbs.connected(client->aux);
    }
    waiters_run(client);
}

static void
send_reply(struct ovsdb_client *client, json_t *id, json_t *result,
           const char *error)
{
    json_t *msg = json_pack("{s:O, s:O?, s:s?}", "id", id, "result", result,
                            "error", error);
    int code = msg ? send_msg(client, msg) : ENOMEM;
    json_decref(msg);
    if (code) {
        SLOG_WARN("%s: cannot send reply: %s", client->path, strerror(code));
    }
}

static void
handle_msg(struct ovsdb_client *client, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    json_t *method = json_object_get(msg, "method");

    if (method) {
        const char *name = json_string_value(method);
        json_t *params = json_object_get(msg, "params");
        bool is_request = id && !json_is_null(id);
        if (!name || !json_is_array(params)) {
            connection_failed(client, EPROTO,
                              "protocol error: malformed request");
        } else if (!strcmp(name, "echo")) {
            if (is_request) {
                send_reply(client, id, params, NULL);
            }
        } else if (!strcmp(name, "update")) {
            json_t *updates = json_array_get(params, 1);
            if (!json_is_object(updates)) {
                connection_failed(client, EPROTO,
                                  "protocol error: malformed update");
                return;
            }
            ovsdb_replica_apply_updates(&client->replica, updates);
            waiters_run(client);
        } else if (is_request) {
            send_reply(client, id, NULL, "unknown method");
        } else {
            SLOG_DBG("%s: ignoring %s notification", client->path, name);
        }
        return;
    }

    if (!json_is_integer(id)) {
        SLOG_WARN("%s: ignoring reply with unexpected id", client->path);
        return;
    }
    struct request *req = take_request(client, json_integer_value(id));
    if (!req) {
        SLOG_WARN("%s: ignoring reply to unknown request %lld", client->path,
                  (long long)json_integer_value(id));
        return;
    }
    json_t *result = json_object_get(msg, "result");
    json_t *error = json_object_get(msg, "error");
    if (req->is_monitor) {
        handle_monitor_reply(client, result, error);
    } else {
        complete_transaction(client, req, result, error);
    }
    json_decref(req->ops);
    free(req);
}

/* ofport waits. */

static void
wait_timer_cb(uv_timer_t *timer)
{
    waiters_run(timer->data);
}

/* Decides 'w' if it can be: returns true and sets its outcome. */
static bool
waiter_check(const struct ovsdb_client *client, struct waiter *w, uint64_t now)
{
    const struct ovsdb_row *row
        = ovsdb_client_find_by_name(client, OVSDB_INTERFACE, w->name);
    int64_t ofport;
    if (row && ovsdb_row_get_int(row, "ofport", &ofport) && ofport > 0) {
        w->error = 0;
        w->ofport = ofport;
        w->msg = nofail_asprintf("interface %s: ofport %lld", w->name,
                           (long long)ofport);
        return true;
    }
    const char *error = row ? ovsdb_row_get_string(row, "error") : NULL;
    if (error && *error && row->seqno > w->seqno) {
        w->error = EIO;
        w->msg = nofail_asprintf("interface %s: %s", w->name, error);
        return true;
    }
    if (now >= w->deadline) {
        w->error = ETIMEDOUT;
        w->msg
            = nofail_asprintf("interface %s: no ofport after %u ms%s%s%s", w->name,
                        w->timeout_ms, row ? "" : " (no such interface)",
                        error ? "; error: " : "", error ? error : "");
        return true;
    }
    return false;
}

static void
waiters_run(struct ovsdb_client *client)
{
    if (!client->waiters) {
        return;
    }
    uint64_t now = uv_hrtime();
    struct waiter *done = NULL;
    struct waiter **donep = &done;
    uint64_t next = UINT64_MAX;
    for (struct waiter **p = &client->waiters; *p;) {
        struct waiter *w = *p;
        if (waiter_check(client, w, now)) {
            *p = w->next;
            w->next = NULL;
            *donep = w;
            donep = &w->next;
        } else {
            if (w->deadline < next) {
                next = w->deadline;
            }
            p = &w->next;
        }
    }
    if (next != UINT64_MAX) {
        /* Round up: libuv timers have millisecond resolution. */
        uv_timer_start(&client->wait_timer, wait_timer_cb,
                       (next - now + 999999) / 1000000, 0);
    } else {
        uv_timer_stop(&client->wait_timer);
    }

    while (done) {
        struct waiter *w = done;
        done = w->next;
        SLOG_DBG("%s", w->msg);
        w->cb(w->aux, w->error, w->error ? 0 : w->ofport, w->msg);
        free(w->msg);
        free(w->name);
        free(w);
    }
}

int
ovsdb_client_wait_ofport(struct ovsdb_client *client, const char *name,
                         unsigned timeout_ms, ovsdb_ofport_cb *cb, void *aux)
{
    if (!name || !*name || !cb) {
        return EINVAL;
    }
    struct waiter *w = nofail_calloc(1, sizeof *w);
    w->name = nofail_strdup(name);
    w->deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000;
    w->timeout_ms = timeout_ms;
    w->seqno = client->replica.seqno;
    w->cb = cb;
    w->aux = aux;
    w->next = client->waiters;
    client->waiters = w;

    /* Decide from the loop, never from within this call. */
    uv_timer_start(&client->wait_timer, wait_timer_cb, 0, 0);
    return 0;
}

/* Life cycle. */

int
ovsdb_client_create(struct uv_loop_s *loop, const char *path,
                    const struct ovsdb_client_cbs *cbs, void *aux,
                    struct ovsdb_client **clientp)
{
    struct sockaddr_un addr;
    *clientp = NULL;
    if (!path || !*path) {
        return EINVAL;
    }
    if (strlen(path) >= sizeof addr.sun_path) {
        return ENAMETOOLONG;
    }

    struct ovsdb_client *client = nofail_calloc(1, sizeof *client);
    client->loop = loop;
    client->path = nofail_strdup(path);
    if (cbs) {
        client->cbs = *cbs;
    }
    client->aux = aux;
    ovsdb_replica_init(&client->replica, client->path, client->cbs.row_changed,
                       aux);
    ovsdb_scanner_init(&client->scanner);
    client->min_backoff_ms = OVSDB_BACKOFF_MIN_MS;
    client->max_backoff_ms = OVSDB_BACKOFF_MAX_MS;
    client->backoff_ms = client->min_backoff_ms;
    client->next_id = 1;
    client->requests_tail = &client->requests;

    int error = uv_timer_init(loop, &client->backoff_timer);
    if (error) {
        free(client->path);
        free(client);
        return -error;
    }
    client->n_handles++;
    client->backoff_timer.data = client;
    error = uv_timer_init(loop, &client->wait_timer);
    if (error) {
        free(client->path);
        client->path = NULL;
        client->destroyed = true;
        uv_close((uv_handle_t *)&client->backoff_timer, timer_close_cb);
        return -error;
    }
    client->n_handles++;
    client->wait_timer.data = client;

    start_connect(client);
    *clientp = client;
    return 0;
}

void
ovsdb_client_destroy(struct ovsdb_client *client)
{
    if (!client) {
        return;
    }
    close_conn(client);
    while (client->requests) {
        struct request *req = client->requests;
        client->requests = req->next;
        json_decref(req->ops);
        free(req);
    }
    while (client->waiters) {
        struct waiter *w = client->waiters;
        client->waiters = w->next;
        free(w->name);
        free(w);
    }
    ovsdb_replica_clear(&client->replica);
    free(client->rbuf);
    client->rbuf = NULL;
    free(client->path);
    client->path = NULL;
    client->destroyed = true;
    uv_close((uv_handle_t *)&client->backoff_timer, timer_close_cb);
    uv_close((uv_handle_t *)&client->wait_timer, timer_close_cb);
}

void
ovsdb_client_set_backoff(struct ovsdb_client *client, unsigned min_ms,
                         unsigned max_ms)
{
    client->min_backoff_ms = min_ms ? min_ms : 1;
    client->max_backoff_ms
        = max_ms < client->min_backoff_ms ? client->min_backoff_ms : max_ms;
    if (client->backoff_ms < client->min_backoff_ms
        || client->backoff_ms > client->max_backoff_ms) {
        client->backoff_ms = client->min_backoff_ms;
    }
}

bool
ovsdb_client_is_connected(const struct ovsdb_client *client)
{
    return client->state == ST_SYNCED;
}

/* Transactions. */

int
ovsdb_client_transact(struct ovsdb_client *client, json_t *ops,
                      ovsdb_transact_cb *cb, void *aux)
{
    if (!json_is_array(ops) || !cb) {
        return EINVAL;
    }
    if (client->state != ST_SYNCED) {
        return ENOTCONN;
    }
    json_t *params = json_pack("[s]", DB_NAME);
    if (!params || json_array_extend(params, ops)) {
        json_decref(params);
        return ENOMEM;
    }
    struct request *req = nofail_calloc(1, sizeof *req);
    req->ops = json_incref(ops);
    req->cb = cb;
    req->aux = aux;
    return send_request(client, "transact", params, req);
}

/* Context of a high-level operation. */
struct op_ctx {
    char *what;      /* E.g. "add port X to br-int", for messages. */
    int count_op;    /* Index of an op that must match a row, or -1. */
    char *count_msg; /* Message if it matched none. */
    ovsdb_done_cb *cb;
    void *aux;
};

static void
op_ctx_destroy(struct op_ctx *ctx)
{
    free(ctx->what);
    free(ctx->count_msg);
    free(ctx);
}

static void
op_txn_cb(void *ctx_, int error, json_t *result, const char *msg)
{
    struct op_ctx *ctx = ctx_;
    if (!error && ctx->count_op >= 0) {
        json_t *r = json_array_get(result, ctx->count_op);
        json_t *count = json_object_get(r, "count");
        if (!json_is_integer(count) || json_integer_value(count) < 1) {
            error = ENOENT;
            msg = ctx->count_msg;
        }
    }
    if (error) {
        char *full = nofail_asprintf("%s: %s", ctx->what, msg);
        SLOG_DBG("%s", full);
        ctx->cb(ctx->aux, error, full);
        free(full);
    } else {
        SLOG_DBG("%s: done", ctx->what);
        ctx->cb(ctx->aux, 0, NULL);
    }
    op_ctx_destroy(ctx);
}

/* Sends 'ops' (stolen) with a comment naming 'what' (stolen) and calls 'cb'
 * on completion.  If 'count_op' >= 0, the operation at that index must
 * match a row, otherwise 'cb' gets ENOENT and 'count_msg'. */
static int
run_ops(struct ovsdb_client *client, json_t *ops, char *what, int count_op,
        char *count_msg, ovsdb_done_cb *cb, void *aux)
{
    struct op_ctx *ctx = nofail_calloc(1, sizeof *ctx);
    ctx->what = what;
    ctx->count_op = count_op;
    ctx->count_msg = count_msg;
    ctx->cb = cb;
    ctx->aux = aux;

    int error = ENOMEM;
    if (ops
        && !json_array_append_new(ops,
                                  json_pack("{s:s, s:s+}", "op", "comment",
                                            "comment", "sluice: ", what))) {
        error = ovsdb_client_transact(client, ops, op_txn_cb, ctx);
    }
    json_decref(ops);
    if (error) {
        op_ctx_destroy(ctx);
    }
    return error;
}

/* Returns ["map", [[k, v], ...]] for the NULL-terminated alternating array
 * 'kv' (NULL for empty), or NULL if 'kv' has an odd length or a string is
 * not UTF-8. */
static json_t *
kv_to_map(const char *const *kv)
{
    json_t *pairs = json_array();
    for (size_t i = 0; pairs && kv && kv[i]; i += 2) {
        json_t *pair
            = kv[i + 1] ? json_pack("[s, s]", kv[i], kv[i + 1]) : NULL;
        if (json_array_append_new(pairs, pair)) {
            json_decref(pairs);
            pairs = NULL;
        }
    }
    return pairs ? json_pack("[s, o]", "map", pairs) : NULL;
}

/* Appends 'op' (stolen) to '*ops', or if either is NULL, frees both and
 * sets '*ops' to NULL. */
static void
ops_append(json_t **ops, json_t *op)
{
    if (*ops && json_array_append_new(*ops, op)) {
        json_decref(*ops);
        *ops = NULL;
    } else if (!*ops) {
        json_decref(op);
    }
}

/* Returns the Bridge row whose ports include the Port with 'uuid'. */
static const struct ovsdb_row *
bridge_of_port(const struct ovsdb_client *client, const char *uuid)
{
    const struct ovsdb_row *br = NULL;
    while ((br = ovsdb_client_next(client, OVSDB_BRIDGE, br))) {
        size_t pos = 0;
        const char *port;
        while (ovsdb_row_set_next(br, "ports", &pos, &port)) {
            if (!strcmp(port, uuid)) {
                return br;
            }
        }
    }
    return NULL;
}

/* Returns the Interface columns for 'spec' except the name, or NULL. */
static json_t *
iface_row(const struct ovsdb_port_spec *spec)
{
    json_t *options = kv_to_map(spec->options);
    json_t *ids = kv_to_map(spec->external_ids);
    json_t *row = options && ids
                      ? json_pack("{s:s, s:O, s:O}", "type",
                                  spec->type ? spec->type : "", "options",
                                  options, "external_ids", ids)
                      : NULL;
    json_t *request = spec->ofport_request ? json_integer(spec->ofport_request)
                                           : json_pack("[s, []]", "set");
    if (row && json_object_set_new(row, "ofport_request", request)) {
        json_decref(row);
        row = NULL;
    } else if (!row) {
        json_decref(request);
    }
    json_decref(options);
    json_decref(ids);
    return row;
}

int
ovsdb_client_add_port(struct ovsdb_client *client, const char *bridge,
                      const struct ovsdb_port_spec *spec, ovsdb_done_cb *cb,
                      void *aux)
{
    if (!bridge || !*bridge || !spec || !spec->name || !*spec->name || !cb) {
        return EINVAL;
    }
    if (client->state != ST_SYNCED) {
        return ENOTCONN;
    }
    const char *name = spec->name;
    const struct ovsdb_row *port
        = ovsdb_client_find_by_name(client, OVSDB_PORT, name);
    const struct ovsdb_row *br
        = port ? bridge_of_port(client, port->uuid) : NULL;
    if (br && strcmp(br->name, bridge)) {
        SLOG_WARN("add port %s to %s: port exists on bridge %s", name, bridge,
                  br->name);
        return EEXIST;
    }

    json_t *iface = iface_row(spec);
    json_t *port_ids = kv_to_map(spec->external_ids);
    json_t *ops = iface && port_ids ? json_array() : NULL;
    int count_op;
    char *count_msg;
    if (br) {
        /* Update in place, provided the port is still on the bridge. */
        ops_append(&ops,
                   json_pack("{s:s, s:s, s:i, s:[[s,s,s], [s,s,[s,s]]],"
                             " s:[s], s:s, s:[{s:s}]}",
                             "op", "wait", "table", "Bridge", "timeout", 0,
                             "where", "name", "==", bridge, "ports",
                             "includes", "uuid", port->uuid, "columns", "name",
                             "until", "==", "rows", "name", bridge));
        ops_append(&ops, json_pack("{s:s, s:s, s:[[s,s,s]], s:O}", "op",
                                   "update", "table", "Interface", "where",
                                   "name", "==", name, "row", iface));
        ops_append(&ops,
                   json_pack("{s:s, s:s, s:[[s,s,s]], s:{s:O}}", "op",
                             "update", "table", "Port", "where", "name",
                             "==", name, "row", "external_ids", port_ids));
        count_op = 1;
        count_msg = nofail_asprintf("port %s has no interface %s", name, name);
    } else {
        /* Insert, referring to the new rows by their uuid-names. */
        if (ops && json_object_set_new(iface, "name", json_string(name))) {
            json_decref(ops);
            ops = NULL;
        }
        ops_append(&ops,
                   json_pack("{s:s, s:s, s:O, s:s}", "op", "insert", "table",
                             "Interface", "row", iface, "uuid-name", "iface"));
        ops_append(&ops,
                   json_pack("{s:s, s:s, s:{s:s, s:[s,s], s:O}, s:s}", "op",
                             "insert", "table", "Port", "row", "name", name,
                             "interfaces", "named-uuid", "iface",
                             "external_ids", port_ids, "uuid-name", "port"));
        ops_append(&ops, json_pack("{s:s, s:s, s:[[s,s,s]],"
                                   " s:[[s,s,[s,[[s,s]]]]]}",
                                   "op", "mutate", "table", "Bridge", "where",
                                   "name", "==", bridge, "mutations", "ports",
                                   "insert", "set", "named-uuid", "port"));
        count_op = 2;
        count_msg = nofail_asprintf("no bridge named %s", bridge);
    }
    json_decref(iface);
    json_decref(port_ids);
    if (!ops) {
        free(count_msg);
        return EINVAL;
    }
    SLOG_DBG("add port %s to %s (%s)", name, bridge,
             br ? "update in place" : "insert");
    return run_ops(client, ops, nofail_asprintf("add port %s to %s", name, bridge),
                   count_op, count_msg, cb, aux);
}

int
ovsdb_client_del_port(struct ovsdb_client *client, const char *name,
                      ovsdb_done_cb *cb, void *aux)
{
    if (!name || !*name || !cb) {
        return EINVAL;
    }
    if (client->state != ST_SYNCED) {
        return ENOTCONN;
    }
    json_t *ops = json_array();
    const struct ovsdb_row *port
        = ovsdb_client_find_by_name(client, OVSDB_PORT, name);
    if (port) {
        ops_append(&ops,
                   json_pack("{s:s, s:s, s:[], s:[[s,s,[s,s]]]}", "op",
                             "mutate", "table", "Bridge", "where", "mutations",
                             "ports", "delete", "uuid", port->uuid));
    }
    /* If the replica missed the port, deleting it while a bridge still
     * refers to it fails with a referential integrity violation instead of
     * reporting a false success. */
    ops_append(&ops, json_pack("{s:s, s:s, s:[[s,s,s]]}", "op", "delete",
                               "table", "Port", "where", "name", "==", name));
    if (!ops) {
        return EINVAL;
    }
    return run_ops(client, ops, nofail_asprintf("delete port %s", name), -1, NULL,
                   cb, aux);
}

int
ovsdb_client_update_map(struct ovsdb_client *client, enum ovsdb_table table,
                        const char *row_name, const char *column,
                        const char *const *set, const char *const *remove,
                        ovsdb_done_cb *cb, void *aux)
{
    bool single = table == OVSDB_OPEN_VSWITCH;
    if ((unsigned)table >= OVSDB_N_TABLES || !column || !*column || !cb
        || (!single && (!row_name || !*row_name))) {
        return EINVAL;
    }
    if (client->state != ST_SYNCED) {
        return ENOTCONN;
    }

    /* Setting a key is deleting it, then inserting the pair: "insert"
     * leaves existing keys alone (RFC 7047 section 5.1). */
    json_t *keys = json_array();
    for (size_t i = 0; keys && set && set[i]; i += 2) {
        if (!set[i + 1] || json_array_append_new(keys, json_string(set[i]))) {
            json_decref(keys);
            keys = NULL;
        }
    }
    for (size_t i = 0; keys && remove && remove[i]; i++) {
        if (json_array_append_new(keys, json_string(remove[i]))) {
            json_decref(keys);
            keys = NULL;
        }
    }
    json_t *map = keys ? kv_to_map(set) : NULL;
    json_t *mutations
        = map ? json_pack("[[s, s, [s, O]], [s, s, O]]", column, "delete",
                          "set", keys, column, "insert", map)
              : NULL;
    json_t *where = single ? json_array()
                           : json_pack("[[s, s, s]]", "name", "==", row_name);
    json_t *ops = mutations && where
                      ? json_pack("[{s:s, s:s, s:O, s:O}]", "op", "mutate",
                                  "table", ovsdb_table_name(table), "where",
                                  where, "mutations", mutations)
                      : NULL;
    json_decref(keys);
    json_decref(map);
    json_decref(mutations);
    json_decref(where);
    if (!ops) {
        return EINVAL;
    }

    const char *tname = ovsdb_table_name(table);
    char *what
        = single ? nofail_asprintf("update %s of %s", column, tname)
                 : nofail_asprintf("update %s of %s %s", column, tname, row_name);
    char *count_msg = single ? nofail_asprintf("no %s row", tname)
                             : nofail_asprintf("no %s named %s", tname, row_name);
    return run_ops(client, ops, what, 0, count_msg, cb, aux);
}

/* Replica access. */

const struct ovsdb_row *
ovsdb_client_find(const struct ovsdb_client *client, enum ovsdb_table table,
                  const char *uuid)
{
    return ovsdb_replica_find(&client->replica, table, uuid);
}

const struct ovsdb_row *
ovsdb_client_find_by_name(const struct ovsdb_client *client,
                          enum ovsdb_table table, const char *name)
{
    return ovsdb_replica_find_by_name(&client->replica, table, name);
}

const struct ovsdb_row *
ovsdb_client_next(const struct ovsdb_client *client, enum ovsdb_table table,
                  const struct ovsdb_row *prev)
{
    return ovsdb_replica_next(&client->replica, table, prev);
}

size_t
ovsdb_client_count(const struct ovsdb_client *client, enum ovsdb_table table)
{
    return ovsdb_replica_count(&client->replica, table);
}
