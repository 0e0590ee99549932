/* Integration tests of the OVSDB client (agent/ovsdb.c) against real
 * daemons: the program moves into a private network namespace, starts its
 * own ovsdb-server and ovs-vswitchd (userspace datapath) in
 * /tmp/sluicetest-ovsdb-PID with a netdev bridge, runs the tests (each in a
 * child process, on its own libuv loop), then stops both daemons by the PIDs
 * in their pidfiles and removes the directory.  One test uses a fake server
 * instead, to feed the client fragmented, interleaved and oversized
 * messages. */
#include <sluice-config.h>

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "sluice/log.h"
#include "sluice/ovsdb.h"

#define BRIDGE "br-test"
#define BRIDGE2 "br-two"

static char dir[64];     /* Private directory of the daemons. */
static char db_sock[96]; /* ovsdb-server's socket. */

/* Shell commands. */

static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
shell(const char *fmt, ...)
{
    char cmd[2048];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof cmd) {
        fprintf(stderr, "command too long\n");
        return -1;
    }
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status)) {
        return -1;
    }
    return WEXITSTATUS(status);
}

/* Runs ovs-vsctl with 'args' against the test database, stores its first
 * output line (without newline) in 'out' and returns its exit status. */
static int
vsctl(char *out, size_t size, const char *args)
{
    char cmd[1024];
    int n = snprintf(cmd, sizeof cmd,
                     "ovs-vsctl --timeout=10 --db=unix:%s %s 2>&1", db_sock,
                     args);
    if (n < 0 || (size_t)n >= sizeof cmd) {
        return -1;
    }
    FILE *f = popen(cmd, "r");
    if (!f) {
        return -1;
    }
    out[0] = '\0';
    if (fgets(out, size, f)) {
        out[strcspn(out, "\n")] = '\0';
    }
    char rest[256];
    while (fgets(rest, sizeof rest, f)) {
        continue;
    }
    int status = pclose(f);
    return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

static pid_t
read_pidfile(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s.pid", dir, name);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    return pid;
}

/* Stops the daemon 'name' by the PID in its pidfile and waits until it is
 * gone.  Returns true if it was running. */
static bool
stop_daemon(const char *name)
{
    pid_t pid = read_pidfile(name);
    if (pid <= 0 || kill(pid, SIGTERM)) {
        return false;
    }
    for (int i = 0; i < 300 && !kill(pid, 0); i++) {
        usleep(10000);
    }
    if (!kill(pid, 0)) {
        kill(pid, SIGKILL);
        for (int i = 0; i < 100 && !kill(pid, 0); i++) {
            usleep(10000);
        }
    }
    return true;
}

static int
start_ovsdb_server(void)
{
    return shell("ovsdb-server %s/conf.db --remote=punix:%s "
                 "--pidfile=%s/ovsdb-server.pid "
                 "--unixctl=%s/ovsdb-server.ctl --detach "
                 "--log-file=%s/ovsdb-server.log",
                 dir, db_sock, dir, dir, dir);
}

static bool
start_daemons(void)
{
    if (mkdir(dir, 0700)) {
        perror(dir);
        return false;
    }
    setenv("OVS_RUNDIR", dir, 1);
    setenv("OVS_DBDIR", dir, 1);
    setenv("OVS_LOGDIR", dir, 1);
    setenv("OVS_SYSCONFDIR", dir, 1);
    char out[256];
    if (shell("ovsdb-tool create %s/conf.db "
              "/usr/share/openvswitch/vswitch.ovsschema",
              dir)
        || start_ovsdb_server() || vsctl(out, sizeof out, "--no-wait init")
        || shell("ovs-vswitchd unix:%s --pidfile=%s/ovs-vswitchd.pid "
                 "--unixctl=%s/ovs-vswitchd.ctl --detach "
                 "--log-file=%s/ovs-vswitchd.log",
                 db_sock, dir, dir, dir)
        || vsctl(out, sizeof out,
                 "add-br " BRIDGE " -- set bridge " BRIDGE
                 " datapath_type=netdev fail-mode=secure"
                 " -- add-br " BRIDGE2 " -- set bridge " BRIDGE2
                 " datapath_type=netdev fail-mode=secure")) {
        fprintf(stderr, "cannot start the OVS daemons in %s: %s\n", dir, out);
        return false;
    }
    return true;
}

/* The client under test and what its callbacks saw. */

struct event {
    enum ovsdb_table table;
    enum ovsdb_row_event event;
    char uuid[40];
    char name[64];
};

static struct {
    uv_loop_t loop;
    uv_timer_t wake; /* Bounds each uv_run(UV_RUN_ONCE). */
    struct ovsdb_client *client;
    int n_connected;
    int n_disconnected;
    int disconnect_error;
    struct event *events;
    size_t n_events, max_events;
} H;

static void
on_connected(void *aux)
{
    ck_assert_ptr_eq(aux, &H);
    H.n_connected++;
}

static void
on_disconnected(void *aux, int error, const char *reason)
{
    ck_assert_ptr_eq(aux, &H);
    ck_assert_ptr_nonnull(reason);
    H.n_disconnected++;
    H.disconnect_error = error;
}

static void
on_row(void *aux, enum ovsdb_table table, enum ovsdb_row_event event,
       const struct ovsdb_row *old_row, const struct ovsdb_row *new_row)
{
    ck_assert_ptr_eq(aux, &H);
    bool ok = event == OVSDB_ROW_INSERT   ? !old_row && new_row
              : event == OVSDB_ROW_DELETE ? old_row && !new_row
                                          : old_row && new_row;
    ck_assert(ok);
    const struct ovsdb_row *row = new_row ? new_row : old_row;
    if (H.n_events == H.max_events) {
        H.max_events = H.max_events ? 2 * H.max_events : 256;
        H.events = realloc(H.events, H.max_events * sizeof *H.events);
        ck_assert_ptr_nonnull(H.events);
    }
    struct event *e = &H.events[H.n_events++];
    e->table = table;
    e->event = event;
    snprintf(e->uuid, sizeof e->uuid, "%s", ovsdb_row_uuid(row));
    snprintf(e->name, sizeof e->name, "%s",
             ovsdb_row_name(row) ? ovsdb_row_name(row) : "");
}

static bool
str_eq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* Returns how many events of 'table' and 'event' for 'name' were seen from
 * index 'from' on. */
static int
count_events(size_t from, enum ovsdb_table table, enum ovsdb_row_event event,
             const char *name)
{
    int n = 0;
    for (size_t i = from; i < H.n_events; i++) {
        const struct event *e = &H.events[i];
        n += e->table == table && e->event == event
             && (!name || !strcmp(e->name, name));
    }
    return n;
}

static void
wake_cb(uv_timer_t *timer)
{
    (void)timer;
}

/* Runs the loop until COND holds, failing the test after MS ms. */
#define WAIT_FOR(COND, MS)                                                    \
    do {                                                                      \
        uint64_t deadline_ = uv_hrtime() + (uint64_t)(MS)*1000000;            \
        while (!(COND) && uv_hrtime() < deadline_) {                          \
            uv_run(&H.loop, UV_RUN_ONCE);                                     \
        }                                                                     \
        ck_assert_msg((COND), "timed out after %d ms waiting for %s",         \
                      (int)(MS), #COND);                                      \
    } while (0)

/* Runs the loop for 'ms' milliseconds. */
static void
run_for(unsigned ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000;
    while (uv_hrtime() < deadline) {
        uv_run(&H.loop, UV_RUN_ONCE);
    }
}

static const struct ovsdb_client_cbs cbs = {
    .connected = on_connected,
    .disconnected = on_disconnected,
    .row_changed = on_row,
};

static void
loop_setup(void)
{
    memset(&H, 0, sizeof H);
    ck_assert_int_eq(uv_loop_init(&H.loop), 0);
    ck_assert_int_eq(uv_timer_init(&H.loop, &H.wake), 0);
    ck_assert_int_eq(uv_timer_start(&H.wake, wake_cb, 10, 10), 0);
}

static void
client_setup(void)
{
    loop_setup();
    ck_assert_int_eq(
        ovsdb_client_create(&H.loop, db_sock, &cbs, &H, &H.client), 0);
    WAIT_FOR(H.n_connected == 1, 5000);
    ck_assert(ovsdb_client_is_connected(H.client));
}

static void
loop_teardown(void)
{
    ovsdb_client_destroy(H.client);
    H.client = NULL;
    uv_close((uv_handle_t *)&H.wake, NULL);
    uv_run(&H.loop, UV_RUN_DEFAULT);
    /* Fails with UV_EBUSY if the client leaked a handle. */
    ck_assert_int_eq(uv_loop_close(&H.loop), 0);
    free(H.events);
}

/* Completions. */

struct done {
    bool called;
    int error;
    char msg[1024];
    uint64_t ns; /* uv_hrtime() when called. */
};

static void
done_cb(void *aux, int error, const char *msg)
{
    struct done *d = aux;
    ck_assert(!d->called);
    d->called = true;
    d->error = error;
    ck_assert(error ? msg != NULL : msg == NULL);
    snprintf(d->msg, sizeof d->msg, "%s", msg ? msg : "");
    d->ns = uv_hrtime();
}

struct ofport_done {
    bool called;
    int error;
    int64_t ofport;
    char msg[512];
    uint64_t ns;
};

static void
ofport_cb(void *aux, int error, int64_t ofport, const char *msg)
{
    struct ofport_done *d = aux;
    ck_assert(!d->called);
    d->called = true;
    d->error = error;
    d->ofport = ofport;
    snprintf(d->msg, sizeof d->msg, "%s", msg ? msg : "");
    d->ns = uv_hrtime();
}

/* Adds internal port 'name' to 'bridge' and waits for its ofport. */
static int64_t
add_internal_port(const char *bridge, const char *name,
                  const char *const *external_ids)
{
    struct ovsdb_port_spec spec = {
        .name = name,
        .type = "internal",
        .external_ids = external_ids,
    };
    struct done d = {0};
    struct ofport_done o = {0};
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, bridge, &spec, done_cb, &d), 0);
    ck_assert_int_eq(
        ovsdb_client_wait_ofport(H.client, name, 10000, ofport_cb, &o), 0);
    WAIT_FOR(d.called && o.called, 15000);
    ck_assert_msg(!d.error, "%s", d.msg);
    ck_assert_msg(!o.error, "%s", o.msg);
    ck_assert_int_gt(o.ofport, 0);
    return o.ofport;
}

static void
del_port(const char *name)
{
    struct done d = {0};
    ck_assert_int_eq(ovsdb_client_del_port(H.client, name, done_cb, &d), 0);
    WAIT_FOR(d.called, 5000);
    ck_assert_msg(!d.error, "%s", d.msg);
}

/* Returns the value of 'column' of 'record' in 'table' per ovs-vsctl, with
 * the quotes of a string removed, or "" if absent. */
static const char *
vsctl_get(const char *table, const char *record, const char *column)
{
    static char out[512];
    char args[256];
    snprintf(args, sizeof args, "--if-exists get %s %s %s", table, record,
             column);
    int status = vsctl(out, sizeof out, args);
    ck_assert_msg(!status, "ovs-vsctl %s: %s", args, out);
    size_t len = strlen(out);
    if (len >= 2 && out[0] == '"' && out[len - 1] == '"') {
        memmove(out, out + 1, len - 2);
        out[len - 2] = '\0';
    }
    return out;
}

static bool
bridge_has_port(const char *bridge, const char *port_uuid)
{
    const struct ovsdb_row *br
        = ovsdb_client_find_by_name(H.client, OVSDB_BRIDGE, bridge);
    size_t pos = 0;
    const char *uuid;
    while (br && ovsdb_row_set_next(br, "ports", &pos, &uuid)) {
        if (!strcmp(uuid, port_uuid)) {
            return true;
        }
    }
    return false;
}

static int64_t
replica_ofport(const char *name)
{
    const struct ovsdb_row *row
        = ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, name);
    int64_t ofport;
    return row && ovsdb_row_get_int(row, "ofport", &ofport) ? ofport : 0;
}

/* The initial state is replicated: the bridges and their internal ports. */
START_TEST(test_initial_replica)
{
    ck_assert_int_eq(ovsdb_client_count(H.client, OVSDB_OPEN_VSWITCH), 1);
    ck_assert_int_ge(ovsdb_client_count(H.client, OVSDB_BRIDGE), 2);
    const struct ovsdb_row *br
        = ovsdb_client_find_by_name(H.client, OVSDB_BRIDGE, BRIDGE);
    ck_assert_ptr_nonnull(br);
    ck_assert_str_eq(ovsdb_row_get_string(br, "datapath_type"), "netdev");
    ck_assert_ptr_eq(
        ovsdb_client_find(H.client, OVSDB_BRIDGE, ovsdb_row_uuid(br)), br);
    /* The bridge's own internal port: ofport 65534 (OFPP_LOCAL). */
    ck_assert_int_eq(replica_ofport(BRIDGE), 65534);
    const struct ovsdb_row *port
        = ovsdb_client_find_by_name(H.client, OVSDB_PORT, BRIDGE);
    ck_assert_ptr_nonnull(port);
    ck_assert(bridge_has_port(BRIDGE, ovsdb_row_uuid(port)));
    ck_assert(!bridge_has_port(BRIDGE2, ovsdb_row_uuid(port)));

    /* Each row was announced once before 'connected'. */
    ck_assert_int_eq(count_events(0, OVSDB_BRIDGE, OVSDB_ROW_INSERT, BRIDGE),
                     1);
    ck_assert_int_eq(
        count_events(0, OVSDB_INTERFACE, OVSDB_ROW_INSERT, BRIDGE2), 1);

    /* Iteration visits each row once. */
    size_t n = 0;
    const struct ovsdb_row *row = NULL;
    while ((row = ovsdb_client_next(H.client, OVSDB_INTERFACE, row))) {
        n++;
    }
    ck_assert_uint_eq(n, ovsdb_client_count(H.client, OVSDB_INTERFACE));
}
END_TEST

/* Adding an internal port shows it in the replica with its ofport and
 * external_ids; adding it again updates it in place. */
START_TEST(test_add_port)
{
    const char *name = "p-add";
    const char *ids[]
        = {"pod", "default/web-1", "container-id", "c0ffee", NULL};
    size_t ev0 = H.n_events;
    int64_t ofport = add_internal_port(BRIDGE, name, ids);

    const struct ovsdb_row *iface
        = ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, name);
    ck_assert_ptr_nonnull(iface);
    ck_assert_int_eq(replica_ofport(name), ofport);
    ck_assert_str_eq(ovsdb_row_get_string(iface, "type"), "internal");
    ck_assert_str_eq(ovsdb_row_map_get(iface, "external_ids", "pod"),
                     "default/web-1");
    ck_assert_str_eq(ovsdb_row_map_get(iface, "external_ids", "container-id"),
                     "c0ffee");
    ck_assert_ptr_null(ovsdb_row_get_string(iface, "error"));
    char iface_uuid[40];
    snprintf(iface_uuid, sizeof iface_uuid, "%s", ovsdb_row_uuid(iface));

    const struct ovsdb_row *port
        = ovsdb_client_find_by_name(H.client, OVSDB_PORT, name);
    ck_assert_ptr_nonnull(port);
    ck_assert_str_eq(ovsdb_row_map_get(port, "external_ids", "pod"),
                     "default/web-1");
    size_t pos = 0;
    const char *elem;
    ck_assert(ovsdb_row_set_next(port, "interfaces", &pos, &elem));
    ck_assert_str_eq(elem, iface_uuid);
    ck_assert(!ovsdb_row_set_next(port, "interfaces", &pos, &elem));
    ck_assert(bridge_has_port(BRIDGE, ovsdb_row_uuid(port)));
    ck_assert_int_eq(
        count_events(ev0, OVSDB_INTERFACE, OVSDB_ROW_INSERT, name), 1);
    ck_assert_int_ge(count_events(ev0, OVSDB_BRIDGE, OVSDB_ROW_MODIFY, BRIDGE),
                     1);

    /* ovs-vsctl agrees. */
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, ofport);
    ck_assert_str_eq(vsctl_get("Interface", name, "ofport"), want);
    ck_assert_str_eq(vsctl_get("Port", name, "external_ids:container-id"),
                     "c0ffee");

    /* Again, with other external_ids: updated in place, same row and
     * ofport, old keys gone. */
    const char *ids2[] = {"pod", "default/web-2", NULL};
    size_t ev1 = H.n_events;
    ck_assert_int_eq(add_internal_port(BRIDGE, name, ids2), ofport);
    const struct ovsdb_row *p;
    WAIT_FOR((p = ovsdb_client_find_by_name(H.client, OVSDB_PORT, name))
                 && str_eq(ovsdb_row_map_get(p, "external_ids", "pod"),
                           "default/web-2"),
             5000);
    iface = ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, name);
    ck_assert_str_eq(ovsdb_row_uuid(iface), iface_uuid);
    ck_assert_str_eq(ovsdb_row_map_get(iface, "external_ids", "pod"),
                     "default/web-2");
    ck_assert_ptr_null(
        ovsdb_row_map_get(iface, "external_ids", "container-id"));
    ck_assert_int_eq(
        count_events(ev1, OVSDB_INTERFACE, OVSDB_ROW_DELETE, NULL), 0);
    ck_assert_str_eq(vsctl_get("Interface", name, "external_ids:pod"),
                     "default/web-2");
    ck_assert_str_eq(vsctl_get("Interface", name, "ofport"), want);

    /* A port of that name on another bridge is refused. */
    struct ovsdb_port_spec spec = {.name = name, .type = "internal"};
    struct done d = {0};
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, BRIDGE2, &spec, done_cb, &d), EEXIST);

    del_port(name);
}
END_TEST

static int
cmp_u64(const void *a_, const void *b_)
{
    const uint64_t *a = a_, *b = b_;
    return *a < *b ? -1 : *a > *b;
}

/* Measures the time from an add request to the ofport being known, one
 * port at a time, then adds a batch concurrently.  Prints, asserts only
 * correctness. */
START_TEST(test_add_port_latency)
{
    enum { N_SEQ = 30, N_CONC = 50 };
    uint64_t to_ofport[N_SEQ], to_reply[N_SEQ];
    char name[24];

    for (int i = 0; i < N_SEQ; i++) {
        snprintf(name, sizeof name, "p-lat%d", i);
        struct ovsdb_port_spec spec = {.name = name, .type = "internal"};
        struct done d = {0};
        struct ofport_done o = {0};
        uint64_t t0 = uv_hrtime();
        ck_assert_int_eq(
            ovsdb_client_add_port(H.client, BRIDGE, &spec, done_cb, &d), 0);
        ck_assert_int_eq(
            ovsdb_client_wait_ofport(H.client, name, 10000, ofport_cb, &o), 0);
        WAIT_FOR(d.called && o.called, 15000);
        ck_assert_msg(!d.error, "%s", d.msg);
        ck_assert_msg(!o.error, "%s", o.msg);
        to_reply[i] = d.ns - t0;
        to_ofport[i] = o.ns - t0;
    }
    qsort(to_ofport, N_SEQ, sizeof *to_ofport, cmp_u64);
    qsort(to_reply, N_SEQ, sizeof *to_reply, cmp_u64);
    fprintf(stderr,
            "test-ovsdb: add internal port on a netdev bridge, %d ports "
            "one at a time: transaction reply p50 %.2f ms; ofport known "
            "min %.2f / p50 %.2f / p90 %.2f / max %.2f ms\n",
            N_SEQ, to_reply[N_SEQ / 2] / 1e6, to_ofport[0] / 1e6,
            to_ofport[N_SEQ / 2] / 1e6, to_ofport[N_SEQ * 9 / 10] / 1e6,
            to_ofport[N_SEQ - 1] / 1e6);

    /* Concurrent adds: all succeed with distinct ofports. */
    static struct done d[N_CONC];
    static struct ofport_done o[N_CONC];
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < N_CONC; i++) {
        snprintf(name, sizeof name, "p-conc%d", i);
        struct ovsdb_port_spec spec = {.name = name, .type = "internal"};
        ck_assert_int_eq(
            ovsdb_client_add_port(H.client, BRIDGE, &spec, done_cb, &d[i]), 0);
        ck_assert_int_eq(
            ovsdb_client_wait_ofport(H.client, name, 20000, ofport_cb, &o[i]),
            0);
    }
    for (int i = 0; i < N_CONC; i++) {
        WAIT_FOR(d[i].called && o[i].called, 25000);
        ck_assert_msg(!d[i].error, "%s", d[i].msg);
        ck_assert_msg(!o[i].error, "%s", o[i].msg);
        for (int j = 0; j < i; j++) {
            ck_assert_int_ne(o[i].ofport, o[j].ofport);
        }
    }
    uint64_t last = 0;
    for (int i = 0; i < N_CONC; i++) {
        last = o[i].ns > last ? o[i].ns : last;
    }
    fprintf(stderr,
            "test-ovsdb: %d concurrent adds: all ofports known after "
            "%.1f ms (%.0f ports/s)\n",
            N_CONC, (last - t0) / 1e6, N_CONC / ((last - t0) / 1e9));

    for (int i = 0; i < N_SEQ; i++) {
        snprintf(name, sizeof name, "p-lat%d", i);
        del_port(name);
    }
    for (int i = 0; i < N_CONC; i++) {
        snprintf(name, sizeof name, "p-conc%d", i);
        del_port(name);
    }
    WAIT_FOR(!ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, "p-conc0"),
             5000);
}
END_TEST

/* Deleting a port removes it from the bridge and its rows go away; deleting
 * a missing port succeeds. */
START_TEST(test_del_port)
{
    const char *name = "p-del";
    add_internal_port(BRIDGE, name, NULL);
    char port_uuid[40];
    snprintf(
        port_uuid, sizeof port_uuid, "%s",
        ovsdb_row_uuid(ovsdb_client_find_by_name(H.client, OVSDB_PORT, name)));
    size_t ev0 = H.n_events;

    del_port(name);
    WAIT_FOR(!ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, name)
                 && !ovsdb_client_find_by_name(H.client, OVSDB_PORT, name),
             5000);
    ck_assert(!bridge_has_port(BRIDGE, port_uuid));
    ck_assert_int_eq(
        count_events(ev0, OVSDB_INTERFACE, OVSDB_ROW_DELETE, name), 1);
    ck_assert_int_eq(count_events(ev0, OVSDB_PORT, OVSDB_ROW_DELETE, name), 1);
    char out[256];
    ck_assert_int_eq(vsctl(out, sizeof out, "list-ports " BRIDGE), 0);
    ck_assert_msg(!strstr(out, name), "still listed: %s", out);
    ck_assert_str_eq(vsctl_get("Interface", name, "name"), "");

    /* Again, and a name that never existed. */
    del_port(name);
    del_port("p-never");
}
END_TEST

struct txn_done {
    bool called;
    int error;
    char msg[1024];
    json_t *result;
};

static void
txn_cb(void *aux, int error, json_t *result, const char *msg)
{
    struct txn_done *t = aux;
    t->called = true;
    t->error = error;
    snprintf(t->msg, sizeof t->msg, "%s", msg ? msg : "");
    t->result = json_incref(result);
}

/* Errors reach the caller with context. */
START_TEST(test_errors)
{
    /* Rejected by the server's schema: ofport_request out of range. */
    struct ovsdb_port_spec spec
        = {.name = "p-bad", .type = "internal", .ofport_request = 70000};
    struct done d = {0};
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, BRIDGE, &spec, done_cb, &d), 0);
    WAIT_FOR(d.called, 5000);
    ck_assert_int_eq(d.error, EIO);
    ck_assert_msg(
        strstr(d.msg, "add port p-bad to " BRIDGE ": constraint violation: ")
            == d.msg,
        "%s", d.msg);
    ck_assert_msg(strstr(d.msg, "70000"), "%s", d.msg);
    ck_assert_str_eq(vsctl_get("Interface", "p-bad", "name"), "");
    ck_assert_ptr_null(
        ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, "p-bad"));

    /* No such bridge: nothing is left behind. */
    spec.ofport_request = 0;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, "br-missing", &spec, done_cb, &d), 0);
    WAIT_FOR(d.called, 5000);
    ck_assert_int_eq(d.error, ENOENT);
    ck_assert_str_eq(d.msg, "add port p-bad to br-missing: no bridge named "
                            "br-missing");
    ck_assert_str_eq(vsctl_get("Interface", "p-bad", "name"), "");

    /* A requested ofport is honoured. */
    spec.ofport_request = 4242;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, BRIDGE, &spec, done_cb, &d), 0);
    struct ofport_done o = {0};
    ck_assert_int_eq(
        ovsdb_client_wait_ofport(H.client, "p-bad", 10000, ofport_cb, &o), 0);
    WAIT_FOR(d.called && o.called, 15000);
    ck_assert_msg(!d.error, "%s", d.msg);
    ck_assert_msg(!o.error, "%s", o.msg);
    ck_assert_int_eq(o.ofport, 4242);
    del_port("p-bad");

    /* A system port whose device does not exist: vswitchd's error. */
    struct ovsdb_port_spec sys = {.name = "p-nodev", .type = ""};
    memset(&d, 0, sizeof d);
    memset(&o, 0, sizeof o);
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, BRIDGE, &sys, done_cb, &d), 0);
    ck_assert_int_eq(
        ovsdb_client_wait_ofport(H.client, "p-nodev", 10000, ofport_cb, &o),
        0);
    WAIT_FOR(d.called && o.called, 15000);
    ck_assert_msg(!d.error, "%s", d.msg);
    ck_assert_int_eq(o.error, EIO);
    ck_assert_msg(strstr(o.msg, "interface p-nodev: could not open network "
                                "device p-nodev"),
                  "%s", o.msg);
    del_port("p-nodev");

    /* Waiting for an interface that never comes times out. */
    memset(&o, 0, sizeof o);
    uint64_t t0 = uv_hrtime();
    ck_assert_int_eq(
        ovsdb_client_wait_ofport(H.client, "p-none", 200, ofport_cb, &o), 0);
    WAIT_FOR(o.called, 5000);
    ck_assert_int_eq(o.error, ETIMEDOUT);
    ck_assert_uint_ge(uv_hrtime() - t0, 200 * 1000000ull);
    ck_assert_msg(strstr(o.msg, "p-none"), "%s", o.msg);

    /* Generic transactions: an error names the failing operation; a good
     * one returns its results. */
    struct txn_done t = {0};
    json_t *ops = json_pack("[{s:s, s:s, s:[[s,s,s]], s:[s]},"
                            " {s:s, s:s, s:{}}]",
                            "op", "select", "table", "Bridge", "where", "name",
                            "==", BRIDGE, "columns", "name", "op", "insert",
                            "table", "NoSuchTable", "row");
    ck_assert_ptr_nonnull(ops);
    ck_assert_int_eq(ovsdb_client_transact(H.client, ops, txn_cb, &t), 0);
    WAIT_FOR(t.called, 5000);
    ck_assert_int_eq(t.error, EIO);
    ck_assert_msg(strstr(t.msg, "NoSuchTable"), "%s", t.msg);
    json_decref(t.result);
    json_array_remove(ops, 1);
    memset(&t, 0, sizeof t);
    ck_assert_int_eq(ovsdb_client_transact(H.client, ops, txn_cb, &t), 0);
    json_decref(ops);
    WAIT_FOR(t.called, 5000);
    ck_assert_msg(!t.error, "%s", t.msg);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(
                json_object_get(json_array_get(t.result, 0), "rows"), 0),
            "name")),
        BRIDGE);
    json_decref(t.result);

    /* Caller mistakes are refused at once. */
    const char *odd[] = {"key-without-value", NULL};
    struct ovsdb_port_spec bad = {.name = "p-odd", .external_ids = odd};
    ck_assert_int_eq(
        ovsdb_client_add_port(H.client, BRIDGE, &bad, done_cb, &d), EINVAL);
    ck_assert_int_eq(ovsdb_client_transact(H.client, NULL, txn_cb, &t),
                     EINVAL);
    ck_assert_int_eq(ovsdb_client_wait_ofport(H.client, "", 1, ofport_cb, &o),
                     EINVAL);

    /* A client that is not connected refuses transactions. */
    struct ovsdb_client *other;
    char path[128];
    snprintf(path, sizeof path, "%s/no-such.sock", dir);
    ck_assert_int_eq(ovsdb_client_create(&H.loop, path, NULL, NULL, &other),
                     0);
    run_for(50);
    ck_assert(!ovsdb_client_is_connected(other));
    ck_assert_int_eq(ovsdb_client_del_port(other, "x", done_cb, &d), ENOTCONN);
    ovsdb_client_destroy(other);
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    ck_assert_int_eq(
        ovsdb_client_create(&H.loop, longpath, NULL, NULL, &other),
        ENAMETOOLONG);
}
END_TEST

static const char *
ovs_other_config(const char *key)
{
    const struct ovsdb_row *row
        = ovsdb_client_next(H.client, OVSDB_OPEN_VSWITCH, NULL);
    return row ? ovsdb_row_map_get(row, "other_config", key) : NULL;
}

static void
update_map(enum ovsdb_table table, const char *row, const char *column,
           const char *const *set, const char *const *remove, int error)
{
    struct done d = {0};
    ck_assert_int_eq(ovsdb_client_update_map(H.client, table, row, column, set,
                                             remove, done_cb, &d),
                     0);
    WAIT_FOR(d.called, 5000);
    ck_assert_msg(d.error == error, "%s", d.msg);
}

/* Setting and removing keys of other_config and external_ids. */
START_TEST(test_other_config)
{
    const char *frw_true[] = {"flow-restore-wait", "true", NULL};
    const char *frw_false[] = {"flow-restore-wait", "false", NULL};
    const char *frw[] = {"flow-restore-wait", NULL};

    update_map(OVSDB_OPEN_VSWITCH, NULL, "other_config", frw_true, NULL, 0);
    ck_assert_str_eq(
        vsctl_get("Open_vSwitch", ".", "other_config:flow-restore-wait"),
        "true");
    WAIT_FOR(str_eq(ovs_other_config("flow-restore-wait"), "true"), 5000);

    update_map(OVSDB_OPEN_VSWITCH, NULL, "other_config", frw_false, NULL, 0);
    ck_assert_str_eq(
        vsctl_get("Open_vSwitch", ".", "other_config:flow-restore-wait"),
        "false");
    WAIT_FOR(str_eq(ovs_other_config("flow-restore-wait"), "false"), 5000);

    update_map(OVSDB_OPEN_VSWITCH, NULL, "other_config", NULL, frw, 0);
    ck_assert_str_eq(
        vsctl_get("Open_vSwitch", ".", "other_config:flow-restore-wait"), "");
    WAIT_FOR(!ovs_other_config("flow-restore-wait"), 5000);

    /* Bridge external_ids: set two, then in one call remove one and set a
     * third. */
    const char *ab[] = {"a", "1", "b", "2", NULL};
    const char *c[] = {"c", "3", NULL};
    const char *a[] = {"a", NULL};
    update_map(OVSDB_BRIDGE, BRIDGE, "external_ids", ab, NULL, 0);
    update_map(OVSDB_BRIDGE, BRIDGE, "external_ids", c, a, 0);
    ck_assert_str_eq(vsctl_get("Bridge", BRIDGE, "external_ids"),
                     "{b=\"2\", c=\"3\"}");
    const struct ovsdb_row *br
        = ovsdb_client_find_by_name(H.client, OVSDB_BRIDGE, BRIDGE);
    WAIT_FOR((br = ovsdb_client_find_by_name(H.client, OVSDB_BRIDGE, BRIDGE))
                 && !ovsdb_row_map_get(br, "external_ids", "a")
                 && str_eq(ovsdb_row_map_get(br, "external_ids", "c"), "3"),
             5000);
    size_t pos = 0, n = 0;
    const char *k, *v;
    while (ovsdb_row_map_next(br, "external_ids", &pos, &k, &v)) {
        n++;
    }
    ck_assert_uint_eq(n, 2);
    const char *bc[] = {"b", "c", NULL};
    update_map(OVSDB_BRIDGE, BRIDGE, "external_ids", NULL, bc, 0);
    ck_assert_str_eq(vsctl_get("Bridge", BRIDGE, "external_ids"), "{}");

    /* Bridge other_config. */
    const char *mac[] = {"hwaddr", "02:00:00:00:00:01", NULL};
    update_map(OVSDB_BRIDGE, BRIDGE2, "other_config", mac, NULL, 0);
    ck_assert_str_eq(vsctl_get("Bridge", BRIDGE2, "other_config:hwaddr"),
                     "02:00:00:00:00:01");
    update_map(OVSDB_BRIDGE, BRIDGE2, "other_config", NULL, mac, 0);
    ck_assert_str_eq(vsctl_get("Bridge", BRIDGE2, "other_config:hwaddr"), "");

    /* A missing row. */
    update_map(OVSDB_BRIDGE, "br-missing", "other_config", mac, NULL, ENOENT);
}
END_TEST

/* After ovsdb-server restarts, the client reconnects and reconciles its
 * replica with what changed while it was away. */
START_TEST(test_reconnect)
{
    ovsdb_client_set_backoff(H.client, 50, 400);
    add_internal_port(BRIDGE, "p-rc1", NULL);
    char port_uuid[40];
    snprintf(port_uuid, sizeof port_uuid, "%s",
             ovsdb_row_uuid(
                 ovsdb_client_find_by_name(H.client, OVSDB_PORT, "p-rc1")));
    size_t n_bridges = ovsdb_client_count(H.client, OVSDB_BRIDGE);

    ck_assert(stop_daemon("ovsdb-server"));
    WAIT_FOR(H.n_disconnected == 1, 5000);
    ck_assert_int_eq(H.disconnect_error, ECONNRESET);
    ck_assert(!ovsdb_client_is_connected(H.client));
    struct done d = {0};
    ck_assert_int_eq(ovsdb_client_del_port(H.client, "p-rc1", done_cb, &d),
                     ENOTCONN);
    /* The replica keeps the last known state meanwhile. */
    ck_assert_ptr_nonnull(
        ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, "p-rc1"));
    /* Let a few reconnection attempts fail. */
    run_for(300);
    ck_assert_int_eq(H.n_connected, 1);

    /* Change the database while the server is down. */
    size_t ev0 = H.n_events;
    ck_assert_int_eq(
        shell("ovsdb-tool transact %s/conf.db '[\"Open_vSwitch\","
              "{\"op\":\"mutate\",\"table\":\"Bridge\",\"where\":"
              "[[\"name\",\"==\",\"" BRIDGE "\"]],\"mutations\":"
              "[[\"ports\",\"delete\",[\"uuid\",\"%s\"]]]},"
              "{\"op\":\"mutate\",\"table\":\"Open_vSwitch\",\"where\":[],"
              "\"mutations\":[[\"external_ids\",\"insert\",[\"map\","
              "[[\"sluice-offline\",\"yes\"]]]]]}]' >/dev/null",
              dir, port_uuid),
        0);
    ck_assert_int_eq(start_ovsdb_server(), 0);

    WAIT_FOR(H.n_connected == 2, 5000);
    ck_assert(ovsdb_client_is_connected(H.client));
    ck_assert_ptr_null(
        ovsdb_client_find_by_name(H.client, OVSDB_INTERFACE, "p-rc1"));
    ck_assert_ptr_null(
        ovsdb_client_find_by_name(H.client, OVSDB_PORT, "p-rc1"));
    ck_assert_int_eq(
        count_events(ev0, OVSDB_INTERFACE, OVSDB_ROW_DELETE, "p-rc1"), 1);
    ck_assert_int_eq(count_events(ev0, OVSDB_PORT, OVSDB_ROW_DELETE, "p-rc1"),
                     1);
    ck_assert_int_eq(
        count_events(ev0, OVSDB_OPEN_VSWITCH, OVSDB_ROW_MODIFY, NULL), 1);
    ck_assert_int_eq(count_events(ev0, OVSDB_BRIDGE, OVSDB_ROW_DELETE, NULL),
                     0);
    ck_assert_uint_eq(ovsdb_client_count(H.client, OVSDB_BRIDGE), n_bridges);
    const struct ovsdb_row *ovs
        = ovsdb_client_next(H.client, OVSDB_OPEN_VSWITCH, NULL);
    ck_assert_str_eq(ovsdb_row_map_get(ovs, "external_ids", "sluice-offline"),
                     "yes");
    ck_assert_int_eq(replica_ofport(BRIDGE), 65534);

    /* The connection works again, through to ovs-vswitchd (which
     * reconnects on its own schedule). */
    add_internal_port(BRIDGE, "p-rc2", NULL);
    del_port("p-rc2");
    const char *off[] = {"sluice-offline", NULL};
    update_map(OVSDB_OPEN_VSWITCH, NULL, "external_ids", NULL, off, 0);
}
END_TEST

/* A fake ovsdb-server, in a thread, that speaks to the client through a
 * script.  It records what it saw; the test asserts in the main thread. */
struct fake {
    char path[96];
    int listen_fd;
    bool monitor_ok[2]; /* Each connection sent a proper monitor. */
    bool echo_ok;       /* The echo reply was right. */
    bool unknown_ok;    /* Unknown method got an error reply. */
    bool oversize_sent; /* It sent the oversized message. */
    atomic_bool done;   /* Script finished. */
    char failure[256];  /* First unexpected thing. */
};

static char fake_buf[65536]; /* Input of the fake server. */
static size_t fake_len;

/* Reads one JSON message from 'fd' (with a 5 s timeout). */
static json_t *
fake_read(int fd)
{
    char *buf = fake_buf;
    size_t len = fake_len;
    for (;;) {
        json_error_t err;
        size_t start = 0;
        while (start < len && strchr(" \n\r\t", buf[start])) {
            start++;
        }
        json_t *msg = len > start ? json_loadb(buf + start, len - start,
                                               JSON_DISABLE_EOF_CHECK, &err)
                                  : NULL;
        if (msg) {
            size_t used = start + err.position;
            memmove(buf, buf + used, len - used);
            fake_len = len - used;
            return msg;
        }
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = read(fd, buf + len, sizeof fake_buf - len);
        if (n <= 0) {
            fake_len = 0;
            return NULL;
        }
        len += n;
        fake_len = len;
    }
}

static bool
fake_write(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        data += n;
        len -= n;
    }
    return true;
}

/* Writes 'data' in pieces of 1 to 7 bytes, pausing between them. */
static bool
fake_write_fragmented(int fd, const char *data)
{
    size_t len = strlen(data);
    for (size_t i = 0, k = 1; i < len; i += k, k = k % 7 + 1) {
        size_t n = len - i < k ? len - i : k;
        if (!fake_write(fd, data + i, n)) {
            return false;
        }
        if (i % 5 == 0) {
            usleep(200);
        }
    }
    return true;
}

static void
fake_fail(struct fake *f, const char *what)
{
    if (!f->failure[0]) {
        snprintf(f->failure, sizeof f->failure, "%s", what);
    }
}

/* Accepts a connection and checks its monitor request.  Returns the fd and
 * the request id in '*id', or -1. */
static int
fake_accept(struct fake *f, int idx, json_t **id)
{
    int fd = accept(f->listen_fd, NULL, NULL);
    fake_len = 0;
    if (fd < 0) {
        fake_fail(f, "accept failed");
        return -1;
    }
    json_t *msg = fake_read(fd);
    json_t *params = json_object_get(msg, "params");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *tables = json_array_get(params, 2);
    f->monitor_ok[idx]
        = method && !strcmp(method, "monitor")
          && !strcmp(json_string_value(json_array_get(params, 0)),
                     "Open_vSwitch")
          && json_object_get(tables, "Interface")
          && json_object_get(tables, "Bridge")
          && json_object_get(tables, "Open_vSwitch");
    *id = json_incref(json_object_get(msg, "id"));
    json_decref(msg);
    return fd;
}

#define FAKE_UUID "0b6f9a48-3b1e-4a43-9bc7-7d5e9e1f0c11"

static void *
fake_server(void *f_)
{
    struct fake *f = f_;
    json_t *id;
    int fd = fake_accept(f, 0, &id);
    if (fd < 0) {
        return NULL;
    }

    /* An echo request, then the monitor reply with a string full of
     * brackets, quotes and escapes, fragmented; an update in the same
     * write as the end of the reply. */
    char *id_text = json_dumps(id, JSON_ENCODE_ANY);
    char reply[2048];
    snprintf(
        reply, sizeof reply,
        "{\"id\":\"echo-1\",\"method\":\"echo\",\"params\":[\"ping\"]}"
        "\n{\"id\":%s,\"error\":null,\"result\":{\"Interface\":{\"" FAKE_UUID
        "\":{\"new\":{\"name\":\"fake0\",\"ofport\":7,"
        "\"external_ids\":[\"map\",[[\"k\",\"a}b]\\\"c\\\\{[\"]]],"
        "\"error\":[\"set\",[]]}}}}}"
        "{\"id\":null,\"method\":\"update\",\"params\":[\"sluice\","
        "{\"Interface\":{\"" FAKE_UUID "\":{\"old\":{\"ofport\":7},"
        "\"new\":{\"name\":\"fake0\",\"ofport\":8,\"external_ids\":"
        "[\"map\",[[\"k\",\"a}b]\\\"c\\\\{[\"]]],\"error\":[\"set\","
        "[]]}}}}]}  \n",
        id_text);
    free(id_text);
    json_decref(id);
    if (!fake_write_fragmented(fd, reply)) {
        fake_fail(f, "write failed");
    }

    json_t *msg = fake_read(fd);
    json_t *result = json_object_get(msg, "result");
    f->echo_ok
        = msg
          && !strcmp(json_string_value(json_object_get(msg, "id")), "echo-1")
          && json_is_null(json_object_get(msg, "error"))
          && !strcmp(json_string_value(json_array_get(result, 0)), "ping");
    json_decref(msg);

    /* An unknown request gets an error. */
    const char *unknown = "{\"id\":\"u\",\"method\":\"frobnicate\","
                          "\"params\":[]}";
    fake_write(fd, unknown, strlen(unknown));
    msg = fake_read(fd);
    f->unknown_ok = msg && json_is_string(json_object_get(msg, "error"))
                    && json_is_null(json_object_get(msg, "result"));
    json_decref(msg);

    /* A message larger than the limit. */
    size_t chunk = 1024 * 1024;
    char *big = malloc(chunk);
    if (big) {
        memset(big, 'x', chunk);
        bool ok = fake_write(fd, "{\"a\":\"", 6);
        for (size_t sent = 0; ok && sent <= OVSDB_MAX_MESSAGE; sent += chunk) {
            ok = fake_write(fd, big, chunk);
        }
        free(big);
        f->oversize_sent = true;
    }
    close(fd);

    /* The client reconnects: the row is gone in the new state; then a
     * protocol error. */
    fd = fake_accept(f, 1, &id);
    if (fd < 0) {
        return NULL;
    }
    id_text = json_dumps(id, JSON_ENCODE_ANY);
    json_decref(id);
    snprintf(reply, sizeof reply, "{\"id\":%s,\"error\":null,\"result\":{}}",
             id_text);
    free(id_text);
    fake_write(fd, reply, strlen(reply));
    usleep(100000);
    fake_write(fd, "]", 1);
    /* Wait for the client to hang up. */
    char c;
    while (read(fd, &c, 1) > 0) {
        continue;
    }
    close(fd);
    atomic_store(&f->done, true);
    return NULL;
}

START_TEST(test_framing_fake_server)
{
    static struct fake f;
    snprintf(f.path, sizeof f.path, "%s/fake.sock", dir);
    unlink(f.path);
    f.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(f.listen_fd, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", f.path);
    ck_assert_int_eq(bind(f.listen_fd, (struct sockaddr *)&addr, sizeof addr),
                     0);
    ck_assert_int_eq(listen(f.listen_fd, 4), 0);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, fake_server, &f), 0);

    ck_assert_int_eq(ovsdb_client_create(&H.loop, f.path, &cbs, &H, &H.client),
                     0);
    ovsdb_client_set_backoff(H.client, 10, 100);
    WAIT_FOR(H.n_connected == 1 && replica_ofport("fake0") == 8, 10000);
    const struct ovsdb_row *row
        = ovsdb_client_find(H.client, OVSDB_INTERFACE, FAKE_UUID);
    ck_assert_ptr_nonnull(row);
    ck_assert_str_eq(ovsdb_row_map_get(row, "external_ids", "k"),
                     "a}b]\"c\\{[");
    ck_assert_ptr_null(ovsdb_row_get_string(row, "error"));
    ck_assert_int_eq(
        count_events(0, OVSDB_INTERFACE, OVSDB_ROW_INSERT, "fake0"), 1);
    ck_assert_int_eq(
        count_events(0, OVSDB_INTERFACE, OVSDB_ROW_MODIFY, "fake0"), 1);

    /* The oversized message drops the connection. */
    WAIT_FOR(H.n_disconnected == 1, 20000);
    ck_assert_int_eq(H.disconnect_error, EMSGSIZE);

    /* Reconnection with an empty state deletes the row, and the protocol
     * error drops the connection again. */
    size_t ev0 = H.n_events;
    WAIT_FOR(H.n_connected == 2, 5000);
    ck_assert_int_eq(
        count_events(ev0, OVSDB_INTERFACE, OVSDB_ROW_DELETE, "fake0"), 1);
    ck_assert_uint_eq(ovsdb_client_count(H.client, OVSDB_INTERFACE), 0);
    WAIT_FOR(H.n_disconnected == 2, 5000);
    ck_assert_int_eq(H.disconnect_error, EPROTO);
    WAIT_FOR(atomic_load(&f.done), 5000);
    pthread_join(thread, NULL);
    ck_assert_msg(!f.failure[0], "%s", f.failure);
    ck_assert(f.monitor_ok[0]);
    ck_assert(f.monitor_ok[1]);
    ck_assert(f.echo_ok);
    ck_assert(f.unknown_ok);
    ck_assert(f.oversize_sent);
    close(f.listen_fd);
    unlink(f.path);
}
END_TEST

static Suite *
ovsdb_suite(void)
{
    Suite *s = suite_create("ovsdb");

    TCase *tc = tcase_create("daemons");
    tcase_add_checked_fixture(tc, client_setup, loop_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_initial_replica);
    tcase_add_test(tc, test_add_port);
    tcase_add_test(tc, test_add_port_latency);
    tcase_add_test(tc, test_del_port);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_other_config);
    tcase_add_test(tc, test_reconnect);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_framing_fake_server);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    if (geteuid()) {
        fprintf(stderr, "test-ovsdb: SKIP: needs root\n");
        return 77;
    }
    if (shell("command -v ovsdb-server ovs-vswitchd ovs-vsctl ovsdb-tool "
              ">/dev/null")) {
        fprintf(stderr, "test-ovsdb: SKIP: Open vSwitch daemons missing\n");
        return 77;
    }
    /* Everything the daemons create (tap devices of internal ports) lives
     * in this namespace and vanishes with the processes. */
    if (unshare(CLONE_NEWNET)) {
        fprintf(stderr, "test-ovsdb: SKIP: unshare(CLONE_NEWNET): %s\n",
                strerror(errno));
        return 77;
    }
    snprintf(dir, sizeof dir, "/tmp/sluicetest-ovsdb-%ld", (long)getpid());
    snprintf(db_sock, sizeof db_sock, "%s/db.sock", dir);

    int failed = 1;
    if (start_daemons()) {
        SRunner *sr = srunner_create(ovsdb_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    stop_daemon("ovs-vswitchd");
    stop_daemon("ovsdb-server");
    shell("rm -rf '%s'", dir);
    return failed ? 1 : 0;
}
