/*
 * Unit tests of agent/podif.c.  They run as root against the real kernel:
 * every network namespace they make is named sluicetest-podif-PID-N and
 * every host interface sltpPID-N, and only those are deleted afterwards.
 */
#include <sluice-config.h>

#include "sluice/podif.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>

/* Each test uses its own index N in the names below; teardown deletes the
 * names for every index. */
#define N_SLOTS 16

static pid_t test_pid; /* PID of the test runner, part of every name. */

static void
ns_name(int slot, char *buf, size_t size)
{
    int n = snprintf(buf, size, "sluicetest-podif-%d-%d", (int)test_pid, slot);

    /* Also used outside tests (cleanup), so no ck_assert. */
    if (n <= 0 || (size_t)n >= size) {
        abort();
    }
}

static void
ns_path(int slot, char *buf, size_t size)
{
    char name[64];
    int n;

    ns_name(slot, name, sizeof name);
    n = snprintf(buf, size, "/var/run/netns/%s", name);
    ck_assert(n > 0 && (size_t)n < size);
}

static void
host_name(int slot, char buf[IFNAMSIZ])
{
    int n = snprintf(buf, IFNAMSIZ, "sltp%d-%d", (int)test_pid, slot);

    if (n <= 0 || n >= IFNAMSIZ) {
        abort();
    }
}

/* Runs the shell command formatted from 'fmt' and returns its exit
 * status (-1 if it did not exit normally). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
{
    char cmd[512];
    va_list args;
    int n, status;

    va_start(args, fmt);
    n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    if (n <= 0 || (size_t)n >= sizeof cmd) {
        abort();
    }
    status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Returns the standard output of the shell command formatted from 'fmt'
 * (caller frees). */
static char *capture(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
capture(const char *fmt, ...)
{
    char cmd[512];
    va_list args;
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    FILE *f;
    int n;

    va_start(args, fmt);
    n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    ck_assert(n > 0 && (size_t)n < sizeof cmd);
    ck_assert_ptr_nonnull(out);

    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    for (;;) {
        size_t got = fread(out + len, 1, cap - len - 1, f);
        if (!got) {
            break;
        }
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
    }
    out[len] = '\0';
    pclose(f);
    return out;
}

/* Asserts that the output of the command formatted from 'fmt' contains
 * 'needle'. */
#define ASSERT_OUTPUT_HAS(NEEDLE, ...)                                        \
    do {                                                                      \
        char *out_ = capture(__VA_ARGS__);                                    \
        ck_assert_msg(strstr(out_, NEEDLE), "expected \"%s\" in: %s", NEEDLE, \
                      out_);                                                  \
        free(out_);                                                           \
    } while (0)

/* Asserts that CALL, which stores a message in 'err', returns 0. */
#define CK_OK(CALL)                                                           \
    do {                                                                      \
        int rc_ = (CALL);                                                     \
        ck_assert_msg(rc_ == 0, "%s: %s (%s)", #CALL, strerror(rc_),          \
                      err ? err : "no message");                              \
    } while (0)

static ino_t
current_netns(void)
{
    struct stat st;

    /* Also used outside tests (main), so no ck_assert. */
    if (stat("/proc/thread-self/ns/net", &st)) {
        abort();
    }
    return st.st_ino;
}

static ino_t host_netns; /* Inode of the netns the tests start in. */

static void
assert_in_host_netns(void)
{
    ck_assert_msg(current_netns() == host_netns,
                  "podif left the thread in another network namespace");
}

static bool
host_link_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

static bool
pod_link_exists(const char *ns, const char *ifname)
{
    return run("ip -n %s link show dev %s >/dev/null 2>&1", ns, ifname) == 0;
}

/* Returns the TX checksum offload state of 'ifname' in the netns at
 * 'netns_path' (NULL for the current one), by ETHTOOL_GTXCSUM. */
static int
tx_csum(const char *netns_path, const char *ifname)
{
    struct ethtool_value ev = {.cmd = ETHTOOL_GTXCSUM};
    struct ifreq ifr;
    int nsfd = -1, hostfd = -1, fd;

    if (netns_path) {
        hostfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
        ck_assert(hostfd >= 0 && nsfd >= 0);
        ck_assert_int_eq(setns(nsfd, CLONE_NEWNET), 0);
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (netns_path) {
        ck_assert_int_eq(setns(hostfd, CLONE_NEWNET), 0);
        close(hostfd);
        close(nsfd);
    }

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    ifr.ifr_data = (void *)&ev;
    ck_assert_msg(!ioctl(fd, SIOCETHTOOL, &ifr), "ETHTOOL_GTXCSUM %s: %s",
                  ifname, strerror(errno));
    close(fd);
    return ev.data;
}

static struct podif_ctx *ctx;

static void
ctx_setup(void)
{
    ck_assert_int_eq(podif_ctx_create(&ctx), 0);
    ck_assert_ptr_nonnull(ctx);
}

static void
ctx_teardown(void)
{
    podif_ctx_destroy(ctx);
    ctx = NULL;
}

/* Deletes, by exact name, everything the tests may have created. */
static void
cleanup_all(void)
{
    for (int slot = 0; slot < N_SLOTS; slot++) {
        char ns[64], host[IFNAMSIZ];

        ns_name(slot, ns, sizeof ns);
        host_name(slot, host);
        if (host_link_exists(host)) {
            run("ip link del dev %s", host);
        }
        if (run("test -e /var/run/netns/%s", ns) == 0) {
            run("ip netns del %s", ns);
        }
    }
}

/* Creates the test netns for 'slot' and fills in a spec for it. */
static void
make_pod(int slot, char ns[64], char path[128], char host[IFNAMSIZ],
         struct podif_spec *spec)
{
    ns_name(slot, ns, 64);
    ns_path(slot, path, 128);
    host_name(slot, host);
    ck_assert_int_eq(run("ip netns add %s", ns), 0);

    memset(spec, 0, sizeof *spec);
    spec->netns = path;
    spec->host_ifname = host;
    spec->ifname = "eth0";
    ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.10", &spec->addr), 1);
    spec->prefix_len = 24;
    ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &spec->gateway), 1);
    spec->mtu = 1400;
}

static void
assert_err_has(const char *err, const char *needle)
{
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, needle), "expected \"%s\" in \"%s\"", needle,
                  err);
}

/* podif_host_ifname(). */

static bool
name_is_clean(const char *name)
{
    if (strlen(name) < 10 || strlen(name) > IFNAMSIZ - 1) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '-')) {
            return false;
        }
    }
    return name[0] != '-';
}

START_TEST(test_host_ifname_shape)
{
    char a[IFNAMSIZ], b[IFNAMSIZ];

    podif_host_ifname("default", "web-1", "0123abcd", a);
    ck_assert_int_eq(strlen(a), 14);
    ck_assert_int_eq(strncmp(a, "web-1-", 6), 0);
    ck_assert_int_eq(strspn(a + 6, "0123456789abcdef"), 8);

    /* Deterministic. */
    podif_host_ifname("default", "web-1", "0123abcd", b);
    ck_assert_str_eq(a, b);

    /* Long, mixed-case, dotted and empty pod names. */
    podif_host_ifname("ns", "very-long-statefulset-name-0", "c", a);
    ck_assert_int_eq(strlen(a), 15);
    ck_assert_int_eq(strncmp(a, "very-l-", 7), 0);
    podif_host_ifname("ns", "My.Pod_X", "c", a);
    ck_assert_int_eq(strncmp(a, "my-pod-", 7), 0);
    podif_host_ifname("ns", "ab.", "c", a);
    ck_assert_int_eq(strncmp(a, "ab-", 3), 0);
    ck_assert_int_eq(strlen(a), 11);
    podif_host_ifname("ns", "", "c", a);
    ck_assert_int_eq(strncmp(a, "pod-", 4), 0);
    podif_host_ifname("ns", "..x y/z:é", "c", a);
    ck_assert_int_eq(strncmp(a, "x-y-z-", 6), 0);
    ck_assert_msg(name_is_clean(a), "bad name \"%s\"", a);
    podif_host_ifname("", "", "", a);
    ck_assert_msg(name_is_clean(a), "bad name \"%s\"", a);
}
END_TEST

static int
compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(test_host_ifname_unique)
{
    enum { N = 2000 };
    static char names[N][IFNAMSIZ];
    char a[IFNAMSIZ], b[IFNAMSIZ];

    /* Every input matters, and field boundaries matter. */
    podif_host_ifname("default", "web-1", "c1", a);
    podif_host_ifname("default", "web-1", "c2", b);
    ck_assert_str_ne(a, b);
    podif_host_ifname("other", "web-1", "c1", b);
    ck_assert_str_ne(a, b);
    podif_host_ifname("n", "abcdefg", "h", a);
    podif_host_ifname("n", "abcdefgh", "", b);
    ck_assert_str_ne(a, b);

    /* A node's worth of pods of one StatefulSet get distinct names. */
    for (int i = 0; i < N; i++) {
        char id[80];

        snprintf(id, sizeof id, "%064x", i);
        podif_host_ifname("default", "db-0", id, names[i]);
        ck_assert_msg(name_is_clean(names[i]), "bad name \"%s\"", names[i]);
    }
    /* Distinct: sorted, no two neighbours are equal. */
    qsort(names, N, IFNAMSIZ, compare_names);
    for (int i = 1; i < N; i++) {
        ck_assert_str_ne(names[i], names[i - 1]);
    }
}
END_TEST

/* podif_create() and podif_check(). */

START_TEST(test_create)
{
    char ns[64], path[128], host[IFNAMSIZ], mac[32];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(0, ns, path, host, &spec);
    CK_OK(podif_create(ctx, &spec, &res, &err));
    ck_assert_ptr_null(err);
    assert_in_host_netns();

    /* Pod side: name, MTU, up, MAC, address, default route, csum off. */
    snprintf(mac, sizeof mac, "link/ether %02x:%02x:%02x:%02x:%02x:%02x",
             res.mac[0], res.mac[1], res.mac[2], res.mac[3], res.mac[4],
             res.mac[5]);
    ck_assert_msg(res.mac[0] || res.mac[1] || res.mac[5], "zero MAC");
    ASSERT_OUTPUT_HAS("mtu 1400", "ip -n %s -o link show dev eth0", ns);
    ASSERT_OUTPUT_HAS(",UP", "ip -n %s -o link show dev eth0", ns);
    ASSERT_OUTPUT_HAS(mac, "ip -n %s -o link show dev eth0", ns);
    ASSERT_OUTPUT_HAS("veth", "ip -n %s -o -d link show dev eth0", ns);
    ASSERT_OUTPUT_HAS("inet 192.0.2.10/24 brd 192.0.2.255 ",
                      "ip -n %s -o -4 addr show dev eth0", ns);
    ASSERT_OUTPUT_HAS("default via 192.0.2.1 dev eth0",
                      "ip -n %s -4 route show default", ns);
    ck_assert_int_eq(tx_csum(path, "eth0"), 0);

    /* Host side: ifindex, MTU, up, peer in the pod netns, csum off. */
    ck_assert_int_eq(res.host_ifindex, (int)if_nametoindex(host));
    ASSERT_OUTPUT_HAS("mtu 1400", "ip -o link show dev %s", host);
    ASSERT_OUTPUT_HAS(",UP", "ip -o link show dev %s", host);
    ASSERT_OUTPUT_HAS(ns, "ip -o link show dev %s", host);
    ck_assert_int_eq(tx_csum(NULL, host), 0);

    CK_OK(podif_check(ctx, &spec, &err));
    ck_assert_ptr_null(err);
    assert_in_host_netns();

    CK_OK(podif_delete(ctx, host, &err));
    ck_assert(!host_link_exists(host));
}
END_TEST

START_TEST(test_create_proc_pid_path)
{
    char ns[64], path[128], host[IFNAMSIZ], procpath[64];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;
    int status;
    pid_t pid;

    /* A process living in the netns, addressed as a runtime would:
     * /proc/PID/ns/net. */
    make_pod(1, ns, path, host, &spec);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (!pid) {
        int fd = open(path, O_RDONLY);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd < 0 || setns(fd, CLONE_NEWNET)) {
            _exit(1);
        }
        pause();
        _exit(0);
    }
    snprintf(procpath, sizeof procpath, "/proc/%d/ns/net", (int)pid);
    /* Wait until the child has entered the netns. */
    for (int i = 0; i < 1000; i++) {
        struct stat a, b;
        if (!stat(procpath, &a) && !stat(path, &b) && a.st_ino == b.st_ino) {
            break;
        }
        usleep(1000);
    }
    spec.netns = procpath;
    CK_OK(podif_create(ctx, &spec, &res, &err));
    ck_assert_ptr_null(err);
    ASSERT_OUTPUT_HAS("inet 192.0.2.10/24",
                      "ip -n %s -o -4 addr show dev eth0", ns);
    CK_OK(podif_check(ctx, &spec, &err));
    CK_OK(podif_delete_in_netns(ctx, procpath, "eth0", &err));
    ck_assert(!host_link_exists(host));

    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);

    /* The process is gone, so is its /proc path: DEL still succeeds. */
    CK_OK(podif_delete_in_netns(ctx, procpath, "eth0", &err));
    ck_assert_ptr_null(err);
}
END_TEST

START_TEST(test_create_ifname_exists_rolls_back)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(2, ns, path, host, &spec);
    ck_assert_int_eq(
        run("ip -n %s link add eth0 type veth peer name e0peer", ns), 0);

    ck_assert_int_eq(podif_create(ctx, &spec, &res, &err), EEXIST);
    assert_in_host_netns();
    assert_err_has(err, path);
    assert_err_has(err, "eth0");
    assert_err_has(err, "File exists");
    assert_err_has(err, "in the pod netns");
    free(err);

    ck_assert(!host_link_exists(host));
    ASSERT_OUTPUT_HAS("e0peer", "ip -n %s -o link show dev eth0", ns);
}
END_TEST

START_TEST(test_create_host_name_exists)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(3, ns, path, host, &spec);
    ck_assert_int_eq(run("ip link add %s type bridge", host), 0);

    ck_assert_int_eq(podif_create(ctx, &spec, &res, &err), EEXIST);
    assert_err_has(err, host);
    assert_err_has(err, "in the host netns");
    free(err);
    ck_assert(!pod_link_exists(ns, "eth0"));

    /* The pre-existing interface was not ours: it is still there, and
     * podif_delete() refuses to delete a non-veth. */
    ASSERT_OUTPUT_HAS("bridge", "ip -o -d link show dev %s", host);
    ck_assert_int_eq(podif_delete(ctx, host, &err), EINVAL);
    assert_err_has(err, "not a veth");
    free(err);
    ck_assert(host_link_exists(host));
    ck_assert_int_eq(run("ip link del dev %s", host), 0);
}
END_TEST

START_TEST(test_create_late_failure_rolls_back)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    /* A default route already in the pod makes the last step fail, after
     * the veth exists and the address is set. */
    make_pod(4, ns, path, host, &spec);
    ck_assert_int_eq(run("ip -n %s link add d0 type veth peer name d1 && "
                         "ip -n %s link set d0 up && "
                         "ip -n %s addr add 198.51.100.2/24 dev d0 && "
                         "ip -n %s route add default via 198.51.100.1",
                         ns, ns, ns, ns),
                     0);

    ck_assert_int_eq(podif_create(ctx, &spec, &res, &err), EEXIST);
    assert_in_host_netns();
    assert_err_has(err, path);
    assert_err_has(err, "add default route via 192.0.2.1 dev eth0");
    free(err);
    ck_assert_int_eq(res.host_ifindex, 0);

    ck_assert(!host_link_exists(host));
    ck_assert(!pod_link_exists(ns, "eth0"));
}
END_TEST

START_TEST(test_create_bad_netns)
{
    char ns[64], path[128], host[IFNAMSIZ], missing[160];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(5, ns, path, host, &spec);

    snprintf(missing, sizeof missing, "%s-missing", path);
    spec.netns = missing;
    ck_assert_int_eq(podif_create(ctx, &spec, &res, &err), ENOENT);
    assert_err_has(err, missing);
    free(err);
    ck_assert(!host_link_exists(host));

    spec.netns = "/proc/self/status";
    ck_assert_int_eq(podif_create(ctx, &spec, &res, &err), ENOENT);
    assert_err_has(err, "not a network namespace");
    free(err);
    ck_assert(!host_link_exists(host));

    /* Never plumb "eth0" into the host itself. */
    spec.netns = "/proc/self/ns/net";
    ck_assert_int_eq(podif_create(ctx, &spec, &res, &err), EINVAL);
    assert_err_has(err, "host network namespace");
    free(err);
    ck_assert(!host_link_exists(host));
    ck_assert_int_eq(
        podif_delete_in_netns(ctx, "/proc/self/ns/net", "eth0", &err), EINVAL);
    free(err);
    assert_in_host_netns();
}
END_TEST

START_TEST(test_create_bad_spec)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec, bad;
    char *err = NULL;

    make_pod(6, ns, path, host, &spec);

    bad = spec;
    bad.host_ifname = "sltp-sixteen-chr";
    ck_assert_int_eq(podif_create(ctx, &bad, &res, &err), EINVAL);
    assert_err_has(err, "invalid host interface name");
    free(err);

    bad = spec;
    bad.ifname = "eth/0";
    ck_assert_int_eq(podif_create(ctx, &bad, &res, &err), EINVAL);
    free(err);

    bad = spec;
    bad.mtu = 67;
    ck_assert_int_eq(podif_create(ctx, &bad, &res, &err), EINVAL);
    assert_err_has(err, "MTU 67");
    free(err);

    bad = spec;
    bad.prefix_len = 33;
    ck_assert_int_eq(podif_create(ctx, &bad, &res, &err), EINVAL);
    free(err);

    ck_assert(!host_link_exists(host));
    ck_assert(!pod_link_exists(ns, "eth0"));
}
END_TEST

START_TEST(test_create_onlink_gateway)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    /* A /32 address with a gateway outside it, Calico style. */
    make_pod(7, ns, path, host, &spec);
    spec.prefix_len = 32;
    ck_assert_int_eq(inet_pton(AF_INET, "169.254.1.1", &spec.gateway), 1);
    CK_OK(podif_create(ctx, &spec, &res, &err));
    ck_assert_ptr_null(err);
    ASSERT_OUTPUT_HAS("default via 169.254.1.1 dev eth0 onlink",
                      "ip -n %s -4 route show default", ns);
    CK_OK(podif_check(ctx, &spec, &err));
}
END_TEST

/* podif_delete() and podif_delete_in_netns(). */

START_TEST(test_delete_idempotent)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(8, ns, path, host, &spec);
    CK_OK(podif_create(ctx, &spec, &res, &err));
    ck_assert(host_link_exists(host));

    CK_OK(podif_delete(ctx, host, &err));
    ck_assert_ptr_null(err);
    ck_assert(!host_link_exists(host));
    ck_assert(!pod_link_exists(ns, "eth0"));

    CK_OK(podif_delete(ctx, host, &err));
    ck_assert_ptr_null(err);

    /* Also once the netns is gone. */
    ck_assert_int_eq(run("ip netns del %s", ns), 0);
    CK_OK(podif_delete(ctx, host, &err));
    CK_OK(podif_delete_in_netns(ctx, path, "eth0", &err));
    ck_assert_ptr_null(err);
    assert_in_host_netns();
}
END_TEST

START_TEST(test_delete_in_netns)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(9, ns, path, host, &spec);
    CK_OK(podif_create(ctx, &spec, &res, &err));

    CK_OK(podif_delete_in_netns(ctx, path, "eth0", &err));
    ck_assert_ptr_null(err);
    assert_in_host_netns();
    ck_assert(!pod_link_exists(ns, "eth0"));
    ck_assert(!host_link_exists(host));

    CK_OK(podif_delete_in_netns(ctx, path, "eth0", &err));
    ck_assert_ptr_null(err);
    CK_OK(podif_delete(ctx, host, &err));
}
END_TEST

START_TEST(test_check_detects_problems)
{
    char ns[64], path[128], host[IFNAMSIZ];
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(10, ns, path, host, &spec);
    CK_OK(podif_create(ctx, &spec, &res, &err));
    CK_OK(podif_check(ctx, &spec, &err));

    ck_assert_int_eq(run("ip -n %s route del default", ns), 0);
    ck_assert_int_eq(podif_check(ctx, &spec, &err), ENOENT);
    assert_err_has(err, "no default route via 192.0.2.1 dev eth0");
    free(err);
    assert_in_host_netns();

    ck_assert_int_eq(run("ip -n %s route add default via 192.0.2.1", ns), 0);
    CK_OK(podif_check(ctx, &spec, &err));

    ck_assert_int_eq(run("ip -n %s link set eth0 down", ns), 0);
    ck_assert_int_eq(podif_check(ctx, &spec, &err), EINVAL);
    assert_err_has(err, "eth0 is down");
    free(err);
    ck_assert_int_eq(run("ip -n %s link set eth0 up", ns), 0);

    ck_assert_int_eq(run("ip -n %s addr del 192.0.2.10/24 dev eth0 && "
                         "ip -n %s addr add 192.0.2.11/24 dev eth0",
                         ns, ns),
                     0);
    ck_assert_int_eq(podif_check(ctx, &spec, &err), ENOENT);
    assert_err_has(err, "eth0 does not have address 192.0.2.10/24 "
                        "(it has 192.0.2.11/24)");
    free(err);

    ck_assert_int_eq(run("ip link del dev %s", host), 0);
    ck_assert_int_eq(podif_check(ctx, &spec, &err), ENOENT);
    assert_err_has(err, "host interface");
    assert_err_has(err, "not found");
    free(err);

    ck_assert_int_eq(run("ip netns del %s", ns), 0);
    ck_assert_int_ne(podif_check(ctx, &spec, &err), 0);
    free(err);
    assert_in_host_netns();
}
END_TEST

static int
compare_doubles(const void *a_, const void *b_)
{
    double a = *(const double *)a_, b = *(const double *)b_;

    return a < b ? -1 : a > b;
}

/* Repeats create + delete and prints the time each takes (for the record;
 * nothing is asserted about speed). */
START_TEST(test_create_delete_loop)
{
    enum { N = 200 };
    char ns[64], path[128], host[IFNAMSIZ];
    double create_us[N], delete_us[N];
    double create_sum = 0, delete_sum = 0;
    struct podif_result res;
    struct podif_spec spec;
    char *err = NULL;

    make_pod(11, ns, path, host, &spec);
    for (int i = 0; i < N; i++) {
        struct timespec t0, t1, t2;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        CK_OK(podif_create(ctx, &spec, &res, &err));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CK_OK(podif_delete(ctx, host, &err));
        clock_gettime(CLOCK_MONOTONIC, &t2);

        create_us[i]
            = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
        delete_us[i]
            = (t2.tv_sec - t1.tv_sec) * 1e6 + (t2.tv_nsec - t1.tv_nsec) / 1e3;
        create_sum += create_us[i];
        delete_sum += delete_us[i];
    }
    ck_assert(!host_link_exists(host));
    ck_assert(!pod_link_exists(ns, "eth0"));
    assert_in_host_netns();

    qsort(create_us, N, sizeof create_us[0], compare_doubles);
    qsort(delete_us, N, sizeof delete_us[0], compare_doubles);
    printf("podif: %d x create: mean %.0f us, median %.0f us; "
           "delete: mean %.0f us, median %.0f us\n",
           N, create_sum / N, create_us[N / 2], delete_sum / N,
           delete_us[N / 2]);
}
END_TEST

int
main(void)
{
    SRunner *sr;
    Suite *s;
    TCase *tc;
    int failed;

    if (geteuid() != 0 || system("ip -V >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test-podif: needs root and ip(8); skipped\n");
        return 77;
    }
    test_pid = getpid();
    host_netns = current_netns();

    s = suite_create("podif");

    tc = tcase_create("names");
    tcase_add_test(tc, test_host_ifname_shape);
    tcase_add_test(tc, test_host_ifname_unique);
    suite_add_tcase(s, tc);

    tc = tcase_create("netlink");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, ctx_setup, ctx_teardown);
    tcase_add_unchecked_fixture(tc, NULL, cleanup_all);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_create_proc_pid_path);
    tcase_add_test(tc, test_create_ifname_exists_rolls_back);
    tcase_add_test(tc, test_create_host_name_exists);
    tcase_add_test(tc, test_create_late_failure_rolls_back);
    tcase_add_test(tc, test_create_bad_netns);
    tcase_add_test(tc, test_create_bad_spec);
    tcase_add_test(tc, test_create_onlink_gateway);
    tcase_add_test(tc, test_delete_idempotent);
    tcase_add_test(tc, test_delete_in_netns);
    tcase_add_test(tc, test_check_detects_problems);
    tcase_add_test(tc, test_create_delete_loop);
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    /* The unchecked teardown ran already; this catches a crash in it. */
    cleanup_all();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
