/* Unit tests for the IPAM store (agent/ipam.c): allocation order and limits,
 * idempotence, garbage collection, persistence, locking, corrupt stores and
 * rollback when the store cannot be written.  Every test works in its own
 * directory under a temporary root that main() removes. */
#include <sluice-config.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sluice/ipam.h"

static char test_root[] = "/tmp/sluice-test-ipam.XXXXXX";

/* Returns a new, empty directory under 'test_root' (the caller frees it). */
static char *
new_dir(void)
{
    char *dir;
    ck_assert_int_ge(asprintf(&dir, "%s/t.XXXXXX", test_root), 0);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static char *
path_in(const char *dir, const char *name)
{
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
    return path;
}

static void
write_file(const char *dir, const char *name, const char *content)
{
    char *path = path_in(dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(content, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    free(path);
}

/* Returns the contents of 'dir'/'name' (the caller frees it). */
static char *
read_file(const char *dir, const char *name)
{
    char *path = path_in(dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    ck_assert_int_eq(ferror(f), 0);
    buf[n] = '\0';
    fclose(f);
    free(path);
    return buf;
}

static struct ipam *
open_ok(const char *dir, const char *cidr)
{
    struct ipam *ipam;
    char err[256] = "";
    int error = ipam_open(&ipam, dir, cidr, err, sizeof err);
    ck_assert_msg(!error, "ipam_open(%s, %s) failed: %s (%s)", dir, cidr,
                  strerror(error), err);
    ck_assert_ptr_nonnull(ipam);
    return ipam;
}

/* Allocates for ('cid', 'ifname'), which must succeed, and returns the
 * address as a string in a static buffer. */
static const char *
alloc_ok(struct ipam *ipam, const char *cid, const char *ifname)
{
    static char buf[INET_ADDRSTRLEN];
    struct in_addr addr;
    char err[256] = "";
    int error = ipam_allocate(ipam, cid, ifname, "default", cid, &addr, err,
                              sizeof err);
    ck_assert_msg(!error, "allocate %s/%s: %s (%s)", cid, ifname,
                  strerror(error), err);
    return ipam_addr_to_string(addr, buf);
}

static void
release_ok(struct ipam *ipam, const char *cid, const char *ifname,
           bool expect_released)
{
    bool released = !expect_released;
    char err[256] = "";
    int error = ipam_release(ipam, cid, ifname, &released, err, sizeof err);
    ck_assert_msg(!error, "release %s/%s: %s (%s)", cid, ifname,
                  strerror(error), err);
    ck_assert_int_eq(released, expect_released);
}

static const char *
lookup_s(const struct ipam *ipam, const char *cid, const char *ifname)
{
    static char buf[INET_ADDRSTRLEN];
    const struct ipam_allocation *a = ipam_lookup(ipam, cid, ifname);
    return a ? ipam_addr_to_string(a->addr, buf) : NULL;
}

static size_t
used(const struct ipam *ipam)
{
    size_t n;
    ipam_usage(ipam, NULL, &n);
    return n;
}

START_TEST(test_parse_cidr)
{
    uint32_t net;
    unsigned int plen;
    char err[256];

    ck_assert_int_eq(
        ipam_parse_cidr("10.244.3.0/24", &net, &plen, err, sizeof err), 0);
    ck_assert_uint_eq(net, 0x0af40300);
    ck_assert_uint_eq(plen, 24);
    ck_assert_int_eq(
        ipam_parse_cidr("10.0.0.0/8", &net, &plen, err, sizeof err), 0);
    ck_assert_uint_eq(plen, 8);
    ck_assert_int_eq(
        ipam_parse_cidr("192.168.7.4/30", &net, &plen, err, sizeof err), 0);
    ck_assert_uint_eq(plen, 30);

    static const char *const bad[] = {
        "10.244.3.0/31",
        "10.0.0.0/7",
        "10.244.3.1/24",
        "10.244.3.0",
        "10.244.3.0/",
        "10.244.3.0/2x",
        "/24",
        "10.244.3/24",
        "",
        "10.244.3.0/-24",
        "10.244.3.0/1000",
        "nonsense/24",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(ipam_parse_cidr(bad[i], &net, &plen, err, sizeof err)
                          == EINVAL,
                      "\"%s\" accepted", bad[i]);
        ck_assert_msg(err[0], "no message for \"%s\"", bad[i]);
    }

    /* ipam_open() rejects a bad CIDR before touching the disk. */
    struct ipam *ipam = (struct ipam *)1;
    char *dir = new_dir();
    ck_assert_int_eq(ipam_open(&ipam, dir, "10.244.3.1/24", err, sizeof err),
                     EINVAL);
    ck_assert_ptr_null(ipam);
    ck_assert_ptr_nonnull(strstr(err, "host bits"));
    free(dir);
}
END_TEST

START_TEST(test_allocate_idempotent_distinct)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");
    char err[256];

    ck_assert_str_eq(ipam_cidr(ipam), "10.244.3.0/24");
    ck_assert_uint_eq(ipam_prefix_len(ipam), 24);
    char buf[INET_ADDRSTRLEN];
    ck_assert_str_eq(ipam_addr_to_string(ipam_gateway(ipam), buf),
                     "10.244.3.1");
    ck_assert_str_eq(ipam_addr_to_string(ipam_network(ipam), buf),
                     "10.244.3.0");
    size_t total, n_used;
    ipam_usage(ipam, &total, &n_used);
    ck_assert_uint_eq(total, 253);
    ck_assert_uint_eq(n_used, 0);

    time_t before = time(NULL);
    struct in_addr a1, a1_again, a2, a3;
    ck_assert_int_eq(ipam_allocate(ipam, "c1", "eth0", "default", "web-1", &a1,
                                   err, sizeof err),
                     0);
    time_t after = time(NULL);
    ck_assert_str_eq(ipam_addr_to_string(a1, buf), "10.244.3.2");

    /* The same pair gets the same address, without using another one. */
    ck_assert_int_eq(ipam_allocate(ipam, "c1", "eth0", "default", "web-1",
                                   &a1_again, err, sizeof err),
                     0);
    ck_assert_uint_eq(a1_again.s_addr, a1.s_addr);
    ck_assert_uint_eq(used(ipam), 1);

    /* Another interface of the same container, another container. */
    ck_assert_int_eq(
        ipam_allocate(ipam, "c1", "net1", NULL, NULL, &a2, err, sizeof err),
        0);
    ck_assert_int_eq(ipam_allocate(ipam, "c2", "eth0", "kube-system", "dns",
                                   &a3, err, sizeof err),
                     0);
    ck_assert_uint_ne(a2.s_addr, a1.s_addr);
    ck_assert_uint_ne(a3.s_addr, a1.s_addr);
    ck_assert_uint_ne(a3.s_addr, a2.s_addr);
    ck_assert_uint_eq(used(ipam), 3);

    const struct ipam_allocation *a = ipam_lookup(ipam, "c1", "eth0");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->container_id, "c1");
    ck_assert_str_eq(a->ifname, "eth0");
    ck_assert_str_eq(a->pod_namespace, "default");
    ck_assert_str_eq(a->pod_name, "web-1");
    ck_assert_uint_eq(a->addr.s_addr, a1.s_addr);
    ck_assert_int_ge(a->allocated_at, before);
    ck_assert_int_le(a->allocated_at, after);
    ck_assert_ptr_eq(ipam_lookup_addr(ipam, a1), a);

    a = ipam_lookup(ipam, "c1", "net1");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->pod_namespace, "");
    ck_assert_str_eq(a->pod_name, "");
    ck_assert_ptr_null(ipam_lookup(ipam, "c3", "eth0"));
    ck_assert_ptr_null(ipam_lookup(ipam, "c1", "eth1"));
    ck_assert_ptr_null(ipam_lookup_addr(ipam, ipam_gateway(ipam)));

    /* Iteration visits every allocation once, by ascending address. */
    const struct ipam_allocation *it;
    uint32_t prev = 0;
    size_t n = 0;
    IPAM_FOR_EACH(it, i, ipam)
    {
        ck_assert_uint_gt(ntohl(it->addr.s_addr), prev);
        prev = ntohl(it->addr.s_addr);
        n++;
    }
    ck_assert_uint_eq(n, 3);
    ck_assert_ptr_null(ipam_allocation_at(ipam, 3));

    ipam_close(ipam);
    free(dir);
}
END_TEST

/* Checks that every address of a /29 and a /30 is handed out exactly once,
 * never the network, gateway or broadcast address, and that the pool then
 * reports ENOSPC. */
START_TEST(test_exhaustion_and_reserved)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.1.2.8/29");
    char err[256];
    static const char *const ids[] = {"a", "b", "c", "d", "e"};
    bool seen[8] = {false};

    for (size_t i = 0; i < 5; i++) {
        struct in_addr addr;
        ck_assert_int_eq(ipam_allocate(ipam, ids[i], "eth0", NULL, NULL, &addr,
                                       err, sizeof err),
                         0);
        uint32_t host = ntohl(addr.s_addr);
        ck_assert_uint_eq(host & ~7u, 0x0a010208);
        uint32_t off = host & 7;
        ck_assert_msg(off != 0 && off != 1 && off != 7,
                      "reserved offset %u handed out", off);
        ck_assert_msg(!seen[off], "offset %u handed out twice", off);
        seen[off] = true;
    }
    size_t total, n_used;
    ipam_usage(ipam, &total, &n_used);
    ck_assert_uint_eq(total, 5);
    ck_assert_uint_eq(n_used, 5);

    struct in_addr addr = {.s_addr = 0};
    err[0] = '\0';
    ck_assert_int_eq(
        ipam_allocate(ipam, "f", "eth0", NULL, NULL, &addr, err, sizeof err),
        ENOSPC);
    ck_assert_ptr_nonnull(strstr(err, "exhausted"));
    ck_assert_ptr_nonnull(strstr(err, "10.1.2.8/29"));
    ck_assert_ptr_null(ipam_lookup(ipam, "f", "eth0"));
    ck_assert_uint_eq(used(ipam), 5);
    /* The existing pairs still get their address back. */
    ck_assert_str_eq(alloc_ok(ipam, "c", "eth0"), "10.1.2.12");
    ipam_close(ipam);

    /* A /30 has a single pod address. */
    char *dir30 = new_dir();
    ipam = open_ok(dir30, "192.168.7.4/30");
    ck_assert_str_eq(alloc_ok(ipam, "a", "eth0"), "192.168.7.6");
    ck_assert_int_eq(
        ipam_allocate(ipam, "b", "eth0", NULL, NULL, &addr, err, sizeof err),
        ENOSPC);
    ipam_close(ipam);

    free(dir);
    free(dir30);
}
END_TEST

START_TEST(test_round_robin)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.1.2.8/29");

    ck_assert_str_eq(alloc_ok(ipam, "a", "eth0"), "10.1.2.10");
    ck_assert_str_eq(alloc_ok(ipam, "b", "eth0"), "10.1.2.11");
    release_ok(ipam, "a", "eth0", true);
    /* The address just released is not reused next. */
    ck_assert_str_eq(alloc_ok(ipam, "c", "eth0"), "10.1.2.12");
    ck_assert_str_eq(alloc_ok(ipam, "d", "eth0"), "10.1.2.13");
    ck_assert_str_eq(alloc_ok(ipam, "e", "eth0"), "10.1.2.14");
    /* Wrap around to the first free address. */
    ck_assert_str_eq(alloc_ok(ipam, "f", "eth0"), "10.1.2.10");
    release_ok(ipam, "d", "eth0", true);
    release_ok(ipam, "b", "eth0", true);
    ck_assert_str_eq(alloc_ok(ipam, "g", "eth0"), "10.1.2.11");
    ck_assert_str_eq(alloc_ok(ipam, "h", "eth0"), "10.1.2.13");

    ipam_close(ipam);
    free(dir);
}
END_TEST

/* A /25 spans two bitmap words: fill it, free two addresses and check that
 * the search wraps from the end of the second word to the first. */
START_TEST(test_round_robin_two_words)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.9.0.128/25");
    char cid[16], expect[INET_ADDRSTRLEN], err[256];

    for (unsigned int i = 2; i <= 126; i++) {
        int n = snprintf(cid, sizeof cid, "c%u", i);
        ck_assert(n > 0 && (size_t)n < sizeof cid);
        n = snprintf(expect, sizeof expect, "10.9.0.%u", (128 + i) & 0xff);
        ck_assert(n > 0 && (size_t)n < sizeof expect);
        ck_assert_str_eq(alloc_ok(ipam, cid, "eth0"), expect);
    }
    struct in_addr addr;
    ck_assert_int_eq(
        ipam_allocate(ipam, "x", "eth0", NULL, NULL, &addr, err, sizeof err),
        ENOSPC);
    release_ok(ipam, "c70", "eth0", true);
    release_ok(ipam, "c3", "eth0", true);
    ck_assert_str_eq(alloc_ok(ipam, "x", "eth0"), "10.9.0.131");
    ck_assert_str_eq(alloc_ok(ipam, "y", "eth0"), "10.9.0.198");
    ck_assert_int_eq(
        ipam_allocate(ipam, "z", "eth0", NULL, NULL, &addr, err, sizeof err),
        ENOSPC);

    ipam_close(ipam);
    free(dir);
}
END_TEST

START_TEST(test_large_pool)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.0.0.0/8");
    size_t total;
    ipam_usage(ipam, &total, NULL);
    ck_assert_uint_eq(total, (1u << 24) - 3);
    ck_assert_str_eq(alloc_ok(ipam, "a", "eth0"), "10.0.0.2");
    ck_assert_str_eq(alloc_ok(ipam, "b", "eth0"), "10.0.0.3");
    ipam_close(ipam);
    free(dir);
}
END_TEST

START_TEST(test_release_unknown)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");

    release_ok(ipam, "nobody", "eth0", false);
    ck_assert_int_eq(ipam_release(ipam, "nobody", "eth0", NULL, NULL, 0), 0);

    alloc_ok(ipam, "c1", "eth0");
    alloc_ok(ipam, "c1", "net1");
    release_ok(ipam, "c1", "eth1", false);
    release_ok(ipam, "c1", "eth0", true);
    ck_assert_ptr_null(ipam_lookup(ipam, "c1", "eth0"));
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c1", "net1"));
    release_ok(ipam, "c1", "eth0", false);
    ck_assert_uint_eq(used(ipam), 1);

    ipam_close(ipam);
    free(dir);
}
END_TEST

START_TEST(test_invalid_input)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");
    char err[256];
    struct in_addr addr;
    char long_id[IPAM_MAX_CONTAINER_ID + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    char long_name[IPAM_MAX_POD_NAME + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';

    static const struct {
        const char *cid, *ifname, *ns;
    } bad[] = {
        {"", "eth0", NULL},
        {NULL, "eth0", NULL},
        {"c1", "", NULL},
        {"c1", NULL, NULL},
        {"c1", "abcdefghijklmnop", NULL}, /* 16 bytes. */
        {"c1", "eth/0", NULL},
        {"c1", "..", NULL},
        {"c 1", "eth0", NULL},
        {"c1\n", "eth0", NULL},
        {"c1", "eth0", "bad namespace"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(ipam_allocate(ipam, bad[i].cid, bad[i].ifname, bad[i].ns,
                                    NULL, &addr, err, sizeof err)
                          == EINVAL,
                      "bad input %zu accepted", i);
        ck_assert_msg(err[0], "no message for bad input %zu", i);
    }
    ck_assert_int_eq(ipam_allocate(ipam, long_id, "eth0", NULL, NULL, &addr,
                                   err, sizeof err),
                     EINVAL);
    ck_assert_int_eq(ipam_allocate(ipam, "c1", "eth0", NULL, long_name, &addr,
                                   err, sizeof err),
                     EINVAL);
    ck_assert_int_eq(ipam_release(ipam, "", "eth0", NULL, err, sizeof err),
                     EINVAL);
    ck_assert_uint_eq(used(ipam), 0);

    /* The longest valid values are accepted. */
    long_id[IPAM_MAX_CONTAINER_ID] = '\0';
    long_name[IPAM_MAX_POD_NAME] = '\0';
    ck_assert_int_eq(ipam_allocate(ipam, long_id, "abcdefghijklmno", "default",
                                   long_name, &addr, err, sizeof err),
                     0);
    ck_assert_str_eq(ipam_lookup(ipam, long_id, "abcdefghijklmno")->pod_name,
                     long_name);

    /* A tiny error buffer gets a visibly truncated message. */
    char tiny[8];
    ck_assert_int_eq(
        ipam_allocate(ipam, "", "eth0", NULL, NULL, &addr, tiny, sizeof tiny),
        EINVAL);
    ck_assert_str_eq(tiny + strlen(tiny) - 3, "...");

    ipam_close(ipam);
    free(dir);
}
END_TEST

struct gc_record {
    char released[8][64]; /* "cid/ifname" of each released allocation. */
    size_t n;
};

static void
gc_cb(const struct ipam_allocation *a, void *aux)
{
    struct gc_record *rec = aux;
    ck_assert_uint_lt(rec->n, 8);
    int n = snprintf(rec->released[rec->n], sizeof rec->released[0], "%s/%s",
                     a->container_id, a->ifname);
    ck_assert(n >= 0 && (size_t)n < sizeof rec->released[0]);
    rec->n++;
}

START_TEST(test_gc)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");
    char err[256];

    alloc_ok(ipam, "c1", "eth0");
    alloc_ok(ipam, "c2", "eth0");
    alloc_ok(ipam, "c3", "eth0");
    alloc_ok(ipam, "c1", "net1");

    const struct ipam_attachment valid[] = {
        {"c1", "eth0"},
        {"c3", "eth0"},
        {"unknown", "eth0"},
        {"c2", "net1"},
    };
    struct gc_record rec = {.n = 0};
    size_t n_released = 99;
    ck_assert_int_eq(
        ipam_gc(ipam, valid, 4, gc_cb, &rec, &n_released, err, sizeof err), 0);
    ck_assert_uint_eq(n_released, 2);
    ck_assert_uint_eq(rec.n, 2);
    /* Released in address order: c2/eth0 (.3) before c1/net1 (.5). */
    ck_assert_str_eq(rec.released[0], "c2/eth0");
    ck_assert_str_eq(rec.released[1], "c1/net1");
    ck_assert_uint_eq(used(ipam), 2);
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c1", "eth0"));
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c3", "eth0"));
    ck_assert_ptr_null(ipam_lookup(ipam, "c2", "eth0"));
    ck_assert_ptr_null(ipam_lookup(ipam, "c1", "net1"));

    /* Nothing more to collect. */
    ck_assert_int_eq(
        ipam_gc(ipam, valid, 4, NULL, NULL, &n_released, err, sizeof err), 0);
    ck_assert_uint_eq(n_released, 0);
    ck_assert_uint_eq(used(ipam), 2);

    /* The store agrees. */
    ipam_close(ipam);
    ipam = open_ok(dir, "10.244.3.0/24");
    ck_assert_uint_eq(used(ipam), 2);
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c1", "eth0"));
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c3", "eth0"));

    /* An empty list releases everything. */
    ck_assert_int_eq(
        ipam_gc(ipam, NULL, 0, NULL, NULL, &n_released, err, sizeof err), 0);
    ck_assert_uint_eq(n_released, 2);
    ck_assert_uint_eq(used(ipam), 0);

    ipam_close(ipam);
    free(dir);
}
END_TEST

START_TEST(test_persistence)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");

    /* The store exists as soon as the handle does. */
    char *text = read_file(dir, "ipam.json");
    ck_assert_ptr_nonnull(strstr(text, "10.244.3.0/24"));
    free(text);

    ck_assert_str_eq(alloc_ok(ipam, "c1", "eth0"), "10.244.3.2");
    ck_assert_str_eq(alloc_ok(ipam, "c2", "eth0"), "10.244.3.3");
    ck_assert_str_eq(alloc_ok(ipam, "c3", "eth0"), "10.244.3.4");
    ck_assert_str_eq(alloc_ok(ipam, "c4", "net1"), "10.244.3.5");
    release_ok(ipam, "c2", "eth0", true);
    release_ok(ipam, "c4", "net1", true);
    time_t c1_time = ipam_lookup(ipam, "c1", "eth0")->allocated_at;

    /* Each change is on disk before the call returns, without a temporary
     * file left over. */
    char *path = path_in(dir, "ipam.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    json_t *allocs = json_object_get(root, "allocations");
    ck_assert_uint_eq(json_array_size(allocs), 2);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(allocs, 1), "ip")),
        "10.244.3.4");
    json_decref(root);
    free(path);
    char *tmp = path_in(dir, "ipam.json.tmp");
    ck_assert_int_eq(access(tmp, F_OK), -1);
    free(tmp);
    ipam_close(ipam);

    ipam = open_ok(dir, "10.244.3.0/24");
    ck_assert_uint_eq(used(ipam), 2);
    const struct ipam_allocation *a = ipam_lookup(ipam, "c1", "eth0");
    ck_assert_ptr_nonnull(a);
    char buf[INET_ADDRSTRLEN];
    ck_assert_str_eq(ipam_addr_to_string(a->addr, buf), "10.244.3.2");
    ck_assert_str_eq(a->pod_namespace, "default");
    ck_assert_str_eq(a->pod_name, "c1");
    ck_assert_int_eq(a->allocated_at, c1_time);
    ck_assert_str_eq(lookup_s(ipam, "c3", "eth0"), "10.244.3.4");
    ck_assert_ptr_null(ipam_lookup(ipam, "c2", "eth0"));
    ck_assert_ptr_null(ipam_lookup(ipam, "c4", "net1"));

    /* The round-robin position survived: .3 and .5 are free, .6 is next. */
    ck_assert_str_eq(alloc_ok(ipam, "c5", "eth0"), "10.244.3.6");
    ipam_close(ipam);
    free(dir);
}
END_TEST

START_TEST(test_cidr_mismatch)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");
    alloc_ok(ipam, "c1", "eth0");
    ipam_close(ipam);
    char *before = read_file(dir, "ipam.json");

    static const char *const others[]
        = {"10.244.4.0/24", "10.244.0.0/16", "10.244.3.0/25"};
    for (size_t i = 0; i < 3; i++) {
        char err[512] = "";
        ipam = (struct ipam *)1;
        ck_assert_int_eq(ipam_open(&ipam, dir, others[i], err, sizeof err),
                         EINVAL);
        ck_assert_ptr_null(ipam);
        ck_assert_msg(strstr(err, "10.244.3.0/24") && strstr(err, others[i]),
                      "unclear message: %s", err);
    }

    /* The store was left alone. */
    char *after = read_file(dir, "ipam.json");
    ck_assert_str_eq(after, before);
    ipam = open_ok(dir, "10.244.3.0/24");
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c1", "eth0"));
    ipam_close(ipam);

    free(before);
    free(after);
    free(dir);
}
END_TEST

START_TEST(test_corrupt_store)
{
    static const char *const stores[] = {
        /* Empty, as after a crash of a non-atomic writer. */
        "",
        /* Truncated. */
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": \"10.24",
        "not json at all",
        "[]",
        /* Missing members or wrong types. */
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\"}",
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": {}}",
        "{\"version\": 2, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": []}",
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.9.1\", \"allocations\": []}",
        /* An allocation without its address. */
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"allocated_at\": 1}]}",
        /* An address outside the CIDR, and the broadcast, gateway and network
         * addresses. */
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"ip\": \"10.244.4.2\", \"allocated_at\": "
        "1}]}",
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"ip\": \"10.244.3.255\", \"allocated_at\": "
        "1}]}",
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"ip\": \"10.244.3.1\", \"allocated_at\": "
        "1}]}",
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"ip\": \"10.244.3.0\", \"allocated_at\": "
        "1}]}",
        /* One address twice. */
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"ip\": \"10.244.3.2\", \"allocated_at\": 1},"
        "{\"container_id\": \"c2\", \"ifname\": \"eth0\", \"ip\": "
        "\"10.244.3.2\", \"allocated_at\": 1}]}",
        /* One pair twice. */
        "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
        "\"10.244.3.1\", \"allocations\": [{\"container_id\": \"c1\", "
        "\"ifname\": \"eth0\", \"ip\": \"10.244.3.2\", \"allocated_at\": 1},"
        "{\"container_id\": \"c1\", \"ifname\": \"eth0\", \"ip\": "
        "\"10.244.3.3\", \"allocated_at\": 1}]}",
        /* A duplicate key. */
        "{\"version\": 1, \"version\": 1, \"cidr\": \"10.244.3.0/24\", "
        "\"last\": \"10.244.3.1\", \"allocations\": []}",
    };

    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
        char *dir = new_dir();
        write_file(dir, "ipam.json", stores[i]);

        struct ipam *ipam = (struct ipam *)1;
        char err[512] = "";
        int error = ipam_open(&ipam, dir, "10.244.3.0/24", err, sizeof err);
        ck_assert_msg(error == EBADMSG, "store %zu: got %d (%s)", i, error,
                      err);
        ck_assert_ptr_null(ipam);
        ck_assert_msg(strstr(err, "ipam.json"), "store %zu: message %s", i,
                      err);

        /* The bad store is kept for inspection, not replaced. */
        char *text = read_file(dir, "ipam.json");
        ck_assert_str_eq(text, stores[i]);
        free(text);
        free(dir);
    }

    /* A valid store written by hand loads (the cases above fail for the
     * reasons they name, not for some other mistake). */
    char *dir = new_dir();
    write_file(dir, "ipam.json",
               "{\"version\": 1, \"cidr\": \"10.244.3.0/24\", \"last\": "
               "\"10.244.3.2\", \"allocations\": [{\"container_id\": \"c1\", "
               "\"ifname\": \"eth0\", \"ip\": \"10.244.3.2\", "
               "\"allocated_at\": 1},{\"container_id\": \"c2\", \"ifname\": "
               "\"eth0\", \"ip\": \"10.244.3.3\", \"allocated_at\": 1}]}");
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");
    ck_assert_uint_eq(used(ipam), 2);
    ck_assert_str_eq(alloc_ok(ipam, "c3", "eth0"), "10.244.3.4");
    ipam_close(ipam);
    free(dir);
}
END_TEST

START_TEST(test_lock)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");

    struct ipam *second = (struct ipam *)1;
    char err[512] = "";
    ck_assert_int_eq(ipam_open(&second, dir, "10.244.3.0/24", err, sizeof err),
                     EBUSY);
    ck_assert_ptr_null(second);
    ck_assert_ptr_nonnull(strstr(err, dir));
    char pid[32];
    int n = snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    ck_assert(n > 0 && (size_t)n < sizeof pid);
    ck_assert_msg(strstr(err, pid), "message lacks %s: %s", pid, err);

    /* The first handle is unaffected. */
    ck_assert_str_eq(alloc_ok(ipam, "c1", "eth0"), "10.244.3.2");

    /* Closing releases the lock. */
    ipam_close(ipam);
    ipam = open_ok(dir, "10.244.3.0/24");
    ck_assert_ptr_nonnull(ipam_lookup(ipam, "c1", "eth0"));
    ipam_close(ipam);
    free(dir);
}
END_TEST

/* Makes the store unwritable by putting a directory where the temporary
 * file goes (tests run as root, so permissions would not stop them). */
static char *
block_writes(const char *dir)
{
    char *tmp = path_in(dir, "ipam.json.tmp");
    ck_assert_int_eq(mkdir(tmp, 0700), 0);
    return tmp;
}

START_TEST(test_persist_failure_rolls_back)
{
    char *dir = new_dir();
    struct ipam *ipam = open_ok(dir, "10.244.3.0/24");
    char err[512];
    struct in_addr addr;
    size_t n_released = 99;

    ck_assert_str_eq(alloc_ok(ipam, "c1", "eth0"), "10.244.3.2");
    char *before = read_file(dir, "ipam.json");

    char *tmp = block_writes(dir);

    err[0] = '\0';
    int error = ipam_allocate(ipam, "c2", "eth0", NULL, NULL, &addr, err,
                              sizeof err);
    ck_assert_int_eq(error, EISDIR);
    ck_assert_ptr_nonnull(strstr(err, "ipam.json.tmp"));
    ck_assert_ptr_null(ipam_lookup(ipam, "c2", "eth0"));
    ck_assert_uint_eq(used(ipam), 1);

    bool released = true;
    ck_assert_int_eq(
        ipam_release(ipam, "c1", "eth0", &released, err, sizeof err), EISDIR);
    ck_assert_int_eq(released, false);
    ck_assert_str_eq(lookup_s(ipam, "c1", "eth0"), "10.244.3.2");

    ck_assert_int_eq(
        ipam_gc(ipam, NULL, 0, NULL, NULL, &n_released, err, sizeof err),
        EISDIR);
    ck_assert_uint_eq(n_released, 0);
    ck_assert_str_eq(lookup_s(ipam, "c1", "eth0"), "10.244.3.2");
    ck_assert_uint_eq(used(ipam), 1);

    /* Idempotent requests need no write and still work. */
    ck_assert_str_eq(alloc_ok(ipam, "c1", "eth0"), "10.244.3.2");
    release_ok(ipam, "c9", "eth0", false);

    /* The store on disk is untouched. */
    char *after = read_file(dir, "ipam.json");
    ck_assert_str_eq(after, before);

    /* Once writes work again, the failed allocation did not advance the
     * round-robin position and the failed release did not free .2. */
    ck_assert_int_eq(rmdir(tmp), 0);
    ck_assert_str_eq(alloc_ok(ipam, "c2", "eth0"), "10.244.3.3");
    ck_assert_str_eq(alloc_ok(ipam, "c3", "eth0"), "10.244.3.4");
    ipam_close(ipam);

    ipam = open_ok(dir, "10.244.3.0/24");
    ck_assert_uint_eq(used(ipam), 3);
    ipam_close(ipam);

    /* A new store that cannot be written makes ipam_open() fail. */
    char *dir2 = new_dir();
    char *tmp2 = block_writes(dir2);
    ipam = (struct ipam *)1;
    ck_assert_int_eq(ipam_open(&ipam, dir2, "10.244.3.0/24", err, sizeof err),
                     EISDIR);
    ck_assert_ptr_null(ipam);

    free(tmp2);
    free(dir2);
    free(before);
    free(after);
    free(tmp);
    free(dir);
}
END_TEST

START_TEST(test_state_dir_created)
{
    char *dir = new_dir();
    char *sub = path_in(dir, "state");
    struct ipam *ipam = open_ok(sub, "10.244.3.0/24");
    struct stat st;
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_int_eq(S_ISDIR(st.st_mode), 1);
    ipam_close(ipam);

    /* Only one level is created. */
    char *deep = path_in(dir, "no/such");
    char err[512];
    ck_assert_int_eq(ipam_open(&ipam, deep, "10.244.3.0/24", err, sizeof err),
                     ENOENT);
    ck_assert_ptr_nonnull(strstr(err, deep));

    free(deep);
    free(sub);
    free(dir);
}
END_TEST

static int
remove_entry(const char *path, const struct stat *st, int flag,
             struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path)) {
        fprintf(stderr, "test-ipam: cannot remove %s: %s\n", path,
                strerror(errno));
    }
    return 0;
}

static Suite *
ipam_suite(void)
{
    Suite *s = suite_create("ipam");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_parse_cidr);
    tcase_add_test(tc, test_allocate_idempotent_distinct);
    tcase_add_test(tc, test_exhaustion_and_reserved);
    tcase_add_test(tc, test_round_robin);
    tcase_add_test(tc, test_round_robin_two_words);
    tcase_add_test(tc, test_large_pool);
    tcase_add_test(tc, test_release_unknown);
    tcase_add_test(tc, test_invalid_input);
    tcase_add_test(tc, test_gc);
    tcase_add_test(tc, test_persistence);
    tcase_add_test(tc, test_cidr_mismatch);
    tcase_add_test(tc, test_corrupt_store);
    tcase_add_test(tc, test_lock);
    tcase_add_test(tc, test_persist_failure_rolls_back);
    tcase_add_test(tc, test_state_dir_created);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    if (!mkdtemp(test_root)) {
        fprintf(stderr, "test-ipam: mkdtemp: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }

    SRunner *sr = srunner_create(ipam_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    nftw(test_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
