/* Tests of the OpenFlow layer: the flow builders and the desired/installed
 * diff on their own, then against a real ovs-vswitchd (userspace datapath)
 * started in a private network namespace. */
#include <sluice-config.h>

#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "sluice/ofctl.h"
#include "sluice/pipeline.h"

static const struct pipeline_node node = {
    .gateway_ip = {0x0100000a}, /* 10.0.0.1 */
    .gateway_mac = {0x0a, 0x58, 0x0a, 0x00, 0x00, 0x01},
    .gateway_ofport = 1,
};

static struct pipeline_pod
make_pod(uint32_t ofport)
{
    struct pipeline_pod pod = {
        .ofport = ofport,
        .ip = {htonl(0x0a000000 | ofport)},
        .mac = {0x0a, 0x58, 0x0a, 0x00, 0x00, ofport},
    };
    return pod;
}

static struct ofctl *
new_ofctl(uv_loop_t *loop, const char *path, uint8_t round, int stale,
          ofctl_sync_cb *cb, void *aux)
{
    struct ofctl *ofctl = ofctl_create(loop, path, pipeline_tables(),
                                       N_PIPELINE_TABLES, round, stale, cb,
                                       aux);
    ck_assert_ptr_nonnull(ofctl);
    return ofctl;
}

static void
free_ofctl(uv_loop_t *loop, struct ofctl *ofctl)
{
    ofctl_destroy(ofctl);
    uv_run(loop, UV_RUN_NOWAIT);
}

START_TEST(test_builders_parse)
{
    uv_loop_t *loop = uv_default_loop();
    struct ofctl *ofctl = new_ofctl(loop, "/nonexistent", 1, -1, NULL, NULL);
    ck_assert_int_eq(pipeline_add_fixed_flows(ofctl), 0);
    ck_assert_int_eq(pipeline_add_gateway_flows(ofctl, &node), 0);
    struct pipeline_pod pod = make_pod(10);
    ck_assert_int_eq(pipeline_add_pod_flows(ofctl, &node, &pod), 0);

    /* A pod costs a handful of flows, whatever else exists. */
    ck_assert_uint_eq(ofctl_owner_n_flows(
                          ofctl, ofctl_owner(OFCTL_FEATURE_POD, 10)), 5);
    struct ofctl_stats stats;
    ofctl_get_stats(ofctl, &stats);
    ck_assert_uint_eq(stats.n_desired, 8 + 5 + 5);

    pipeline_remove_pod_flows(ofctl, 10);
    ofctl_get_stats(ofctl, &stats);
    ck_assert_uint_eq(stats.n_desired, 8 + 5);
    free_ofctl(loop, ofctl);
}
END_TEST

START_TEST(test_add_flow_errors)
{
    uv_loop_t *loop = uv_default_loop();
    struct ofctl *ofctl = new_ofctl(loop, "/nonexistent", 1, -1, NULL, NULL);
    char *error;
    ck_assert_int_eq(ofctl_add_flow(ofctl, 1, "table=NoSuchTable,priority=1 "
                                    "actions=drop", &error), EINVAL);
    ck_assert_ptr_nonnull(error);
    free(error);
    ck_assert_int_eq(ofctl_add_flow(ofctl, 1, "priority=1,ip "
                                    "actions=frobnicate", &error), EINVAL);
    free(error);

    /* The same match under another owner is refused; the same owner may
     * restate it. */
    const char *flow = "table=SpoofGuard,priority=5,ip,nw_src=10.0.0.9 "
                       "actions=drop";
    ck_assert_int_eq(ofctl_add_flow(ofctl, 1, flow, &error), 0);
    ck_assert_int_eq(ofctl_add_flow(ofctl, 1, flow, &error), 0);
    ck_assert_int_eq(ofctl_add_flow(ofctl, 2, flow, &error), EEXIST);
    free(error);
    ck_assert_uint_eq(ofctl_owner_n_flows(ofctl, 1), 1);
    free_ofctl(loop, ofctl);
}
END_TEST

/* The live tests share one switch. */
static char ovs_dir[128];
static char netns[64];
static char mgmt[192];

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Returns the output of 'cmd' (caller frees). */
static char *
sh_output(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0) {
        len += n;
        if (len == cap - 1) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = '\0';
    pclose(p);
    return out;
}

static char *
dump_flows(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ovs-ofctl -O OpenFlow15 --names dump-flows "
             "unix:%s 2>&1", mgmt);
    return sh_output(cmd);
}

static int
count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) {
        n++;
    }
    return n;
}

static void
start_switch(void)
{
    snprintf(ovs_dir, sizeof ovs_dir, "/tmp/sluicetest-ofctl-%d",
             (int) getpid());
    snprintf(netns, sizeof netns, "sluicetest-ofctl-%d", (int) getpid());
    snprintf(mgmt, sizeof mgmt, "%s/br-int.mgmt", ovs_dir);
    ck_assert_int_eq(sh("ip netns add %s", netns), 0);
    ck_assert_int_eq(sh("%s start %s %s", LAB_OVS_SH, ovs_dir, netns), 0);
    ck_assert_int_eq(sh("%s vsctl %s add-br br-int -- set bridge br-int "
                        "datapath_type=netdev fail-mode=secure "
                        "protocols=OpenFlow13,OpenFlow14,OpenFlow15",
                        LAB_OVS_SH, ovs_dir), 0);
}

static void
stop_switch(void)
{
    sh("%s stop %s", LAB_OVS_SH, ovs_dir);
    sh("ip netns delete %s", netns);
    sh("rm -rf %s", ovs_dir);
}

struct waiter {
    bool done;
    int error;
    int n_synced;
};

static void
on_commit(void *aux, int error)
{
    struct waiter *w = aux;
    w->done = true;
    w->error = error;
}

static void
on_sync(void *aux, bool synced)
{
    struct waiter *w = aux;
    if (synced) {
        w->n_synced++;
    }
}

static void
on_deadline(uv_timer_t *timer)
{
    *(bool *) timer->data = true;
}

/* Runs 'loop' until '*flag' or 10 s. */
static bool
run_until(uv_loop_t *loop, const bool *flag)
{
    bool expired = false;
    uv_timer_t timer;
    uv_timer_init(loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_deadline, 10000, 0);
    while (!*flag && !expired) {
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *) &timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static bool
synced_n(struct waiter *w, int n, uv_loop_t *loop)
{
    bool done = false;
    while (!done) {
        done = w->n_synced >= n;
        if (!done) {
            bool expired = false;
            uv_timer_t timer;
            uv_timer_init(loop, &timer);
            timer.data = &expired;
            uv_timer_start(&timer, on_deadline, 10000, 0);
            while (w->n_synced < n && !expired) {
                uv_run(loop, UV_RUN_ONCE);
            }
            uv_close((uv_handle_t *) &timer, NULL);
            uv_run(loop, UV_RUN_NOWAIT);
            return w->n_synced >= n;
        }
    }
    return true;
}

START_TEST(test_live_sync_diff_restart)
{
    uv_loop_t *loop = uv_default_loop();

    struct waiter w = {0};
    struct ofctl *ofctl = new_ofctl(loop, mgmt, 7, -1, on_sync, &w);
    ck_assert_int_eq(pipeline_add_fixed_flows(ofctl), 0);
    ck_assert_int_eq(pipeline_add_gateway_flows(ofctl, &node), 0);
    for (uint32_t port = 10; port < 12; port++) {
        struct pipeline_pod pod = make_pod(port);
        ck_assert_int_eq(pipeline_add_pod_flows(ofctl, &node, &pod), 0);
    }
    ofctl_start(ofctl);
    ck_assert(synced_n(&w, 1, loop));
    ck_assert(ofctl_is_synced(ofctl));

    /* Named tables, cookies with round 7, every flow installed. */
    char *flows = dump_flows();
    ck_assert_int_eq(count_lines(flows, "cookie="), 8 + 5 + 2 * 5);
    ck_assert_ptr_nonnull(strstr(flows, "table=SpoofGuard"));
    ck_assert_ptr_nonnull(strstr(flows, "table=ARPResponder"));
    ck_assert_int_eq(count_lines(flows, "cookie=0x7"), 8 + 5 + 2 * 5);
    free(flows);

    /* A pod added: exactly its flows are sent. */
    struct ofctl_stats before, after;
    ofctl_get_stats(ofctl, &before);
    struct pipeline_pod pod = make_pod(12);
    ck_assert_int_eq(pipeline_add_pod_flows(ofctl, &node, &pod), 0);
    w.done = false;
    ofctl_commit(ofctl, on_commit, &w);
    ck_assert(run_until(loop, &w.done));
    ck_assert_int_eq(w.error, 0);
    ofctl_get_stats(ofctl, &after);
    ck_assert_uint_eq(after.n_flow_mods - before.n_flow_mods, 5);

    /* Restating identical flows sends nothing. */
    before = after;
    ck_assert_int_eq(pipeline_add_pod_flows(ofctl, &node, &pod), 0);
    w.done = false;
    ofctl_commit(ofctl, on_commit, &w);
    ck_assert(run_until(loop, &w.done));
    ofctl_get_stats(ofctl, &after);
    ck_assert_uint_eq(after.n_flow_mods, before.n_flow_mods);

    /* A pod removed: its five flows are deleted, strictly. */
    pipeline_remove_pod_flows(ofctl, 11);
    w.done = false;
    ofctl_commit(ofctl, on_commit, &w);
    ck_assert(run_until(loop, &w.done));
    ck_assert_int_eq(w.error, 0);
    flows = dump_flows();
    ck_assert_int_eq(count_lines(flows, "cookie="), 8 + 5 + 2 * 5);
    ck_assert_ptr_null(strstr(flows, "in_port=11"));
    ck_assert_ptr_nonnull(strstr(flows, "in_port=12"));
    free(flows);

    /* An agent restart: round 8 replaces round 7 without a flush. */
    free_ofctl(loop, ofctl);
    w.n_synced = 0;
    ofctl = new_ofctl(loop, mgmt, 8, 7, on_sync, &w);
    ck_assert_int_eq(pipeline_add_fixed_flows(ofctl), 0);
    ck_assert_int_eq(pipeline_add_gateway_flows(ofctl, &node), 0);
    pod = make_pod(10);
    ck_assert_int_eq(pipeline_add_pod_flows(ofctl, &node, &pod), 0);
    ofctl_start(ofctl);
    ck_assert(synced_n(&w, 1, loop));
    flows = dump_flows();
    ck_assert_int_eq(count_lines(flows, "cookie=0x8"), 8 + 5 + 5);
    ck_assert_int_eq(count_lines(flows, "cookie=0x7"), 0);
    free(flows);

    /* ovs-vswitchd restarts: the agent reconnects and restores. */
    ck_assert_int_eq(sh("kill $(cat %s/ovs-vswitchd.pid)", ovs_dir), 0);
    usleep(300 * 1000);
    ck_assert_int_eq(sh("rm -f %s/br-int.mgmt; ip netns exec %s env "
                        "OVS_RUNDIR=%s ovs-vswitchd unix:%s/db.sock "
                        "--pidfile=%s/ovs-vswitchd.pid "
                        "--log-file=%s/ovs-vswitchd.log --detach --no-chdir",
                        ovs_dir, netns, ovs_dir, ovs_dir, ovs_dir, ovs_dir),
                     0);
    ck_assert(synced_n(&w, 2, loop));
    flows = dump_flows();
    ck_assert_int_eq(count_lines(flows, "cookie=0x8"), 8 + 5 + 5);
    free(flows);

    free_ofctl(loop, ofctl);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("ofctl");
    TCase *offline = tcase_create("offline");
    tcase_add_test(offline, test_builders_parse);
    tcase_add_test(offline, test_add_flow_errors);
    suite_add_tcase(s, offline);
    TCase *live = tcase_create("live");
    tcase_set_timeout(live, 60);
    tcase_add_unchecked_fixture(live, start_switch, stop_switch);
    tcase_add_test(live, test_live_sync_diff_restart);
    suite_add_tcase(s, live);

    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
