/* Unit tests for the egress object model (agent/egress-model.c): the string
 * parsers and their error messages, overlap and conflict checks, address
 * allocation and usage, node eligibility, pod selection and the JSON
 * format. */
#include <sluice-config.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/egress-model.h"

/* Returns 'dotted' as a host-order address. */
static uint32_t
ip(const char *dotted)
{
    struct in_addr addr;
    ck_assert_int_eq(inet_pton(AF_INET, dotted, &addr), 1);
    return ntohl(addr.s_addr);
}

static const char *
ip_s(uint32_t addr)
{
    static char buf[EGRESS_IP_STRLEN];
    return egress_ip_to_string(addr, buf);
}

/* Asserts that 'error' is 'expected' and that 'err' contains 'words' and
 * is a single line. */
static void
expect_error(int error, int expected, const char *err, const char *words)
{
    ck_assert_msg(error == expected, "got error %d (%s), expected %d: %s",
                  error, strerror(error), expected, err);
    ck_assert_msg(strstr(err, words), "message \"%s\" lacks \"%s\"", err,
                  words);
    ck_assert_msg(!strchr(err, '\n'), "message \"%s\" has a newline", err);
}

static struct egress_pool *
pool_new(const char *name, const char *ranges, const char *nodes,
         const char *selector)
{
    struct egress_pool *pool;
    char err[256] = "";
    ck_assert_int_eq(egress_pool_create(name, &pool, err, sizeof err), 0);
    ck_assert_msg(!egress_pool_set_ranges(pool, ranges, err, sizeof err), "%s",
                  err);
    ck_assert_msg(!egress_pool_set_nodes(pool, nodes, err, sizeof err), "%s",
                  err);
    ck_assert_msg(
        !egress_pool_set_node_selector(pool, selector, err, sizeof err), "%s",
        err);
    ck_assert_msg(!egress_pool_validate(pool, err, sizeof err), "%s", err);
    return pool;
}

static struct egress *
egress_new(const char *name, const char *ns, const char *pod,
           const char *selector, const char *addr, const char *pool)
{
    struct egress *e;
    char err[256] = "";
    ck_assert_int_eq(egress_create(name, &e, err, sizeof err), 0);
    ck_assert_msg(!egress_set_namespace(e, ns, err, sizeof err), "%s", err);
    ck_assert_msg(!egress_set_pod_name(e, pod, err, sizeof err), "%s", err);
    ck_assert_msg(!egress_set_pod_selector(e, selector, err, sizeof err), "%s",
                  err);
    ck_assert_msg(!egress_set_ip(e, addr, err, sizeof err), "%s", err);
    ck_assert_msg(!egress_set_pool(e, pool, err, sizeof err), "%s", err);
    return e;
}

static struct egress_labels
labels(const char *s)
{
    struct egress_labels l;
    char err[256] = "";
    ck_assert_msg(!egress_parse_labels(s, NULL, "labels", &l, err, sizeof err),
                  "%s", err);
    return l;
}

START_TEST(test_names)
{
    static const char *const good[] = {
        "p1",
        "a",
        "a-b",
        "0",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
    };
    static const char *const bad[] = {
        "",
        "-a",
        "a-",
        "A",
        "a_b",
        "a.b",
        "a b",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ck_assert_msg(egress_name_is_valid(good[i]), "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(!egress_name_is_valid(bad[i]), "%s", bad[i]);
    }
    ck_assert(!egress_name_is_valid(NULL));

    struct egress_pool *pool = (void *)1;
    struct egress *e = (void *)1;
    char err[256];
    expect_error(egress_pool_create("P_1", &pool, err, sizeof err), EINVAL,
                 err, "invalid pool name 'P_1'");
    ck_assert_ptr_null(pool);
    expect_error(egress_create("-e", &e, err, sizeof err), EINVAL, err,
                 "invalid egress name '-e'");
    ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_parse_ranges_good)
{
    struct egress_range *r;
    size_t n;
    char err[256] = "";

    ck_assert_int_eq(egress_parse_ranges("192.168.5.0/28, 10.0.0.10-10.0.0.20"
                                         " ,10.0.0.5",
                                         NULL, &r, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(r[0].first, ip("10.0.0.5"));
    ck_assert_uint_eq(r[0].last, ip("10.0.0.5"));
    ck_assert_uint_eq(r[0].prefix_len, 0);
    ck_assert_uint_eq(r[1].first, ip("10.0.0.10"));
    ck_assert_uint_eq(r[1].last, ip("10.0.0.20"));
    /* A CIDR below /31 leaves out its network and broadcast addresses. */
    ck_assert_uint_eq(r[2].first, ip("192.168.5.1"));
    ck_assert_uint_eq(r[2].last, ip("192.168.5.14"));
    ck_assert_uint_eq(r[2].prefix_len, 28);
    char buf[EGRESS_RANGE_STRLEN];
    ck_assert_str_eq(egress_range_to_string(&r[0], buf), "10.0.0.5");
    ck_assert_str_eq(egress_range_to_string(&r[1], buf),
                     "10.0.0.10-10.0.0.20");
    ck_assert_str_eq(egress_range_to_string(&r[2], buf), "192.168.5.0/28");
    free(r);

    /* /31 and /32 hold all their addresses. */
    ck_assert_int_eq(egress_parse_ranges("10.1.0.0/31,10.2.0.7/32", NULL, &r,
                                         &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(r[0].first, ip("10.1.0.0"));
    ck_assert_uint_eq(r[0].last, ip("10.1.0.1"));
    ck_assert_uint_eq(r[1].first, ip("10.2.0.7"));
    ck_assert_uint_eq(r[1].last, ip("10.2.0.7"));
    free(r);

    /* Adjacent ranges, and a range starting at a CIDR's broadcast. */
    ck_assert_msg(!egress_parse_ranges("10.0.0.1-10.0.0.5,10.0.0.6-10.0.0.9",
                                       NULL, &r, &n, err, sizeof err),
                  "%s", err);
    free(r);
    ck_assert_msg(!egress_parse_ranges("10.0.0.0/28,10.0.0.15-10.0.0.20", NULL,
                                       &r, &n, err, sizeof err),
                  "%s", err);
    free(r);
}
END_TEST

START_TEST(test_parse_ranges_bad)
{
    static const struct {
        const char *input;
        const char *words;
    } cases[] = {
        {"10.0.0.20-10.0.0.10",
         "pool 'p1': range 10.0.0.20-10.0.0.10: start after end"},
        {"10.0.0.2-10.0.0.1", "range 10.0.0.2-10.0.0.1: start after end"},
        {"10.0.0.300", "range 10.0.0.300: not an IPv4 address, A-B or CIDR"},
        {"abc", "range abc: not an IPv4 address"},
        {"10.0.0.1-", "range 10.0.0.1-: '' is not an IPv4 address"},
        {"10.0.0.1-10.0.0.x", "'10.0.0.x' is not an IPv4 address"},
        {"10.0.0.0/33", "range 10.0.0.0/33: prefix length must be 8..32"},
        {"10.0.0.0/4", "prefix length must be 8..32"},
        {"10.0.0.0/", "prefix length must be 8..32"},
        {"10.0.0.0/024", "prefix length must be 8..32"},
        {"10.0.0.0/2x", "prefix length must be 8..32"},
        {"10.0.0.1/24", "range 10.0.0.1/24: host bits set"},
        {"10.0.0.1-10.0.0.5,10.0.0.5-10.0.0.9",
         "ranges 10.0.0.1-10.0.0.5 and 10.0.0.5-10.0.0.9 overlap"},
        {"10.0.0.0/28,10.0.0.14", "ranges 10.0.0.0/28 and 10.0.0.14 overlap"},
        {"10.0.0.7,10.0.0.7", "overlap"},
        {"", "pool 'p1': no ranges"},
        {"  ", "no ranges"},
        {"10.0.0.1,,10.0.0.2", "empty item"},
        {"10.0.0.1,", "empty item"},
        {"127.0.0.1", "holds non-unicast address 127.0.0.1"},
        {"223.255.255.250-224.0.0.5", "holds non-unicast address 224.0.0.0"},
        {"255.255.255.255", "non-unicast"},
        {"0.0.0.0/8", "non-unicast address 0.0.0.1"},
    };
    struct egress_pool *pool = pool_new("p1", "10.9.0.1-10.9.0.2", "", "");
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(err, sizeof err, "(unset)");
        int error
            = egress_pool_set_ranges(pool, cases[i].input, err, sizeof err);
        ck_assert_msg(error == EINVAL, "'%s': error %d", cases[i].input,
                      error);
        ck_assert_msg(strstr(err, cases[i].words), "'%s': \"%s\" lacks \"%s\"",
                      cases[i].input, err, cases[i].words);
        /* The pool is unchanged. */
        ck_assert_uint_eq(pool->n_ranges, 1);
        ck_assert_uint_eq(pool->ranges[0].first, ip("10.9.0.1"));
    }

    /* Too many ranges. */
    char many[EGRESS_MAX_RANGES * 16 + 32] = "";
    for (int i = 0; i <= EGRESS_MAX_RANGES; i++) {
        char one[20];
        snprintf(one, sizeof one, "%s10.0.%d.1", i ? "," : "", i);
        strcat(many, one);
    }
    expect_error(egress_pool_set_ranges(pool, many, err, sizeof err), EINVAL,
                 err, "too many");
    egress_pool_destroy(pool);
}
END_TEST

START_TEST(test_parse_nodes)
{
    char **nodes;
    size_t n;
    char err[256];

    ck_assert_int_eq(egress_parse_nodes("n3, n2,node-1.example.com", NULL,
                                        &nodes, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(nodes[0], "n2");
    ck_assert_str_eq(nodes[1], "n3");
    ck_assert_str_eq(nodes[2], "node-1.example.com");
    for (size_t i = 0; i < n; i++) {
        free(nodes[i]);
    }
    free(nodes);

    ck_assert_int_eq(egress_parse_nodes("", NULL, &nodes, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 0);

    struct egress_pool *pool = pool_new("p1", "10.0.0.1", "n1", "");
    expect_error(egress_pool_set_nodes(pool, "n2,N3", err, sizeof err), EINVAL,
                 err, "pool 'p1': node 'N3': not a valid node name");
    expect_error(egress_pool_set_nodes(pool, "n_2", err, sizeof err), EINVAL,
                 err, "node 'n_2': not a valid");
    expect_error(egress_pool_set_nodes(pool, "n.", err, sizeof err), EINVAL,
                 err, "not a valid");
    expect_error(egress_pool_set_nodes(pool, "n2,n3,n2", err, sizeof err),
                 EINVAL, err, "pool 'p1': duplicate node 'n2'");
    expect_error(egress_pool_set_nodes(pool, "n2,,n3", err, sizeof err),
                 EINVAL, err, "empty item");
    ck_assert_uint_eq(pool->n_nodes, 1);
    ck_assert_str_eq(pool->nodes[0], "n1");
    egress_pool_destroy(pool);
}
END_TEST

START_TEST(test_parse_labels)
{
    char err[256];
    struct egress_labels l
        = labels("zone=a, tier=edge,topology.kubernetes.io/zone=us-1a,empty=");
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.items[0].key, "empty");
    ck_assert_str_eq(l.items[0].value, "");
    ck_assert_str_eq(l.items[1].key, "tier");
    ck_assert_str_eq(l.items[2].key, "topology.kubernetes.io/zone");
    ck_assert_str_eq(l.items[2].value, "us-1a");
    ck_assert_str_eq(l.items[3].key, "zone");
    char *s = egress_labels_to_string(&l);
    ck_assert_str_eq(s, "empty=,tier=edge,topology.kubernetes.io/zone=us-1a,"
                        "zone=a");
    free(s);
    egress_labels_destroy(&l);
    ck_assert_uint_eq(l.n, 0);

    struct egress_pool *pool = pool_new("p1", "10.0.0.1", "", "zone=a");
    static const struct {
        const char *input;
        const char *words;
    } cases[] = {
        {"zone", "pool 'p1': node selector: 'zone' is not key=value"},
        {"=a", "node selector: invalid key ''"},
        {"Bad/zone=a", "invalid key 'Bad/zone'"},
        {"-zone=a", "invalid key '-zone'"},
        {"zone=a b", "invalid value 'a b' for key 'zone'"},
        {"zone=a=b", "invalid value 'a=b'"},
        {"zone=a,zone=b", "node selector: duplicate key 'zone'"},
        {"zone=a,", "empty item"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int error = egress_pool_set_node_selector(pool, cases[i].input, err,
                                                  sizeof err);
        ck_assert_msg(error == EINVAL, "'%s': error %d", cases[i].input,
                      error);
        ck_assert_msg(strstr(err, cases[i].words), "'%s': \"%s\" lacks \"%s\"",
                      cases[i].input, err, cases[i].words);
        ck_assert_uint_eq(pool->node_selector.n, 1);
        ck_assert_str_eq(pool->node_selector.items[0].value, "a");
    }
    egress_pool_destroy(pool);
}
END_TEST

START_TEST(test_parse_cidrs)
{
    struct egress_cidr *c;
    size_t n;
    char err[256];

    ck_assert_int_eq(egress_parse_cidrs("172.16.0.0/12,10.0.0.0/8,1.2.3.4,"
                                        "0.0.0.0/0",
                                        NULL, &c, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(c[0].network, 0);
    ck_assert_uint_eq(c[0].prefix_len, 0);
    ck_assert_uint_eq(c[1].network, ip("1.2.3.4"));
    ck_assert_uint_eq(c[1].prefix_len, 32);
    ck_assert_uint_eq(c[2].network, ip("10.0.0.0"));
    ck_assert_uint_eq(c[3].prefix_len, 12);
    free(c);

    struct egress *e = egress_new("e1", NULL, NULL, "", NULL, "p1");
    ck_assert_int_eq(egress_set_exempt(e, "10.0.0.0/8", err, sizeof err), 0);
    expect_error(egress_set_exempt(e, "10.0.0.1/8", err, sizeof err), EINVAL,
                 err, "egress 'e1': exempt CIDR 10.0.0.1/8: host bits set");
    expect_error(egress_set_exempt(e, "10.0.0.0/33", err, sizeof err), EINVAL,
                 err, "exempt CIDR 10.0.0.0/33: prefix length must be 0..32");
    expect_error(egress_set_exempt(e, "10.0.0/8", err, sizeof err), EINVAL,
                 err, "'10.0.0' is not an IPv4 address");
    expect_error(
        egress_set_exempt(e, "10.0.0.0/8,10.0.0.0/8", err, sizeof err), EINVAL,
        err, "duplicate exempt CIDR 10.0.0.0/8");
    ck_assert_uint_eq(e->n_exempt, 1);
    ck_assert_uint_eq(e->exempt[0].network, ip("10.0.0.0"));
    egress_destroy(e);
}
END_TEST

START_TEST(test_globs)
{
    static const char *const good[] = {
        "prod-*", "web-?", "[a-c]*", "[!x]y", "ns",
        "a.b",    "*",     "[-a]",   "[a-]",  "x[0-9][0-9]",
    };
    static const struct {
        const char *glob;
        const char *words;
    } bad[] = {
        {"", "empty pattern"},
        {"prod-[", "unbalanced '['"},
        {"[!", "unbalanced '['"},
        {"a]", "unbalanced ']'"},
        {"[]", "empty [class]"},
        {"[!]", "empty [class]"},
        {"[c-a]", "descending range"},
        {"A*", "invalid character"},
        {"a/b", "invalid character"},
        {"a\\*", "invalid character"},
        {"a!", "'!' outside a [class]"},
        {"[a[b]", "'[' inside a [class]"},
        {"[a*]", "invalid character in a [class]"},
        {"a\nb", "invalid character"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ck_assert_msg(
            !egress_check_glob(good[i], NULL, "glob", err, sizeof err),
            "%s: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect_error(
            egress_check_glob(bad[i].glob, NULL, "glob", err, sizeof err),
            EINVAL, err, bad[i].words);
    }
    char long_glob[EGRESS_GLOB_MAX + 2];
    memset(long_glob, 'a', sizeof long_glob - 1);
    long_glob[sizeof long_glob - 1] = '\0';
    expect_error(egress_check_glob(long_glob, NULL, "glob", err, sizeof err),
                 EINVAL, err, "longer than 253");

    struct egress *e = egress_new("e1", "prod", "web-*", "", NULL, "p1");
    expect_error(egress_set_namespace(e, "prod-[", err, sizeof err), EINVAL,
                 err, "egress 'e1': namespace glob 'prod-[': unbalanced '['");
    expect_error(egress_set_pod_name(e, "", err, sizeof err), EINVAL, err,
                 "egress 'e1': pod-name glob '': empty pattern");
    ck_assert_str_eq(e->namespace_glob, "prod");
    ck_assert_str_eq(e->pod_glob, "web-*");
    ck_assert_int_eq(egress_set_namespace(e, NULL, err, sizeof err), 0);
    ck_assert_ptr_null(e->namespace_glob);
    egress_destroy(e);
}
END_TEST

START_TEST(test_egress_setters)
{
    char err[256];
    struct egress *e = egress_new("e1", NULL, NULL, "", "10.0.0.5", NULL);
    ck_assert_uint_eq(e->ip, ip("10.0.0.5"));

    expect_error(egress_set_ip(e, "10.0.0.300", err, sizeof err), EINVAL, err,
                 "egress 'e1': '10.0.0.300' is not an IPv4 address");
    expect_error(egress_set_ip(e, "127.0.0.1", err, sizeof err), EINVAL, err,
                 "egress 'e1': IP 127.0.0.1 is not a unicast address");
    expect_error(egress_set_ip(e, "10.0.0.5 ", err, sizeof err), EINVAL, err,
                 "not an IPv4 address");
    expect_error(egress_set_pool(e, "Pool", err, sizeof err), EINVAL, err,
                 "egress 'e1': pool name 'Pool' is invalid");
    expect_error(egress_set_pod_selector(e, "app", err, sizeof err), EINVAL,
                 err, "egress 'e1': pod selector: 'app' is not key=value");
    ck_assert_uint_eq(e->ip, ip("10.0.0.5"));
    ck_assert_ptr_null(e->pool);
    ck_assert_uint_eq(e->pod_selector.n, 0);
    ck_assert_int_eq(egress_validate(e, err, sizeof err), 0);

    /* Neither IP nor pool. */
    ck_assert_int_eq(egress_set_ip(e, NULL, err, sizeof err), 0);
    expect_error(egress_validate(e, err, sizeof err), EINVAL, err,
                 "egress 'e1': needs an IP or a pool");
    egress_destroy(e);
}
END_TEST

START_TEST(test_pool_overlap_across_pools)
{
    char err[256];
    struct egress_pool *p1 = pool_new("p1", "10.0.0.10-10.0.0.20", "", "");
    struct egress_pool *p2 = pool_new("p2", "10.0.0.21-10.0.0.30", "", "");
    struct egress_pool *p3
        = pool_new("p3", "10.0.1.0/24,10.0.0.15-10.0.0.25", "", "");
    struct egress_pool *p1b = pool_new("p1", "10.0.0.5-10.0.0.20", "", "");
    const struct egress_pool *existing[] = {p1};
    const struct egress_pool *both[] = {p1, p2};

    /* Adjacent to p1: fine. */
    ck_assert_msg(
        !egress_pool_check(p2, existing, 1, NULL, 0, err, sizeof err), "%s",
        err);
    /* Overlaps p1 (and p2). */
    expect_error(egress_pool_check(p3, both, 2, NULL, 0, err, sizeof err),
                 EEXIST, err,
                 "pool 'p3': range 10.0.0.15-10.0.0.25 overlaps range "
                 "10.0.0.10-10.0.0.20 of pool 'p1'");
    /* A new version of p1 overlaps the old one: that is no conflict. */
    ck_assert_msg(!egress_pool_check(p1b, both, 2, NULL, 0, err, sizeof err),
                  "%s", err);
    /* ...but it must not grow into p2. */
    ck_assert_int_eq(
        egress_pool_set_ranges(p1b, "10.0.0.5-10.0.0.21", err, sizeof err), 0);
    expect_error(egress_pool_check(p1b, both, 2, NULL, 0, err, sizeof err),
                 EEXIST, err,
                 "overlaps range 10.0.0.21-10.0.0.30 of pool 'p2'");

    /* Conflicts with egresses. */
    struct egress *pinned
        = egress_new("e1", NULL, NULL, "", "10.0.0.12", "p1");
    struct egress *loose = egress_new("e2", NULL, NULL, "", "10.0.0.40", NULL);
    const struct egress *egresses[] = {pinned, loose};
    ck_assert_msg(
        !egress_pool_check(p1, both, 2, egresses, 2, err, sizeof err), "%s",
        err);
    ck_assert_int_eq(
        egress_pool_set_ranges(p1b, "10.0.0.13-10.0.0.20", err, sizeof err),
        0);
    expect_error(egress_pool_check(p1b, both, 2, egresses, 2, err, sizeof err),
                 EBUSY, err,
                 "pool 'p1': egress 'e1' pins IP 10.0.0.12, which the ranges "
                 "no longer hold");
    ck_assert_int_eq(egress_pool_set_ranges(p1b,
                                            "10.0.0.10-10.0.0.20,"
                                            "10.0.0.40",
                                            err, sizeof err),
                     0);
    expect_error(egress_pool_check(p1b, both, 2, egresses, 2, err, sizeof err),
                 EEXIST, err, "hold IP 10.0.0.40 of egress 'e2'");

    /* Deleting a pool in use. */
    expect_error(egress_pool_check_delete("p1", egresses, 2, err, sizeof err),
                 EBUSY, err, "pool 'p1': in use by egress 'e1'");
    ck_assert_int_eq(
        egress_pool_check_delete("p2", egresses, 2, err, sizeof err), 0);

    egress_destroy(pinned);
    egress_destroy(loose);
    egress_pool_destroy(p1);
    egress_pool_destroy(p2);
    egress_pool_destroy(p3);
    egress_pool_destroy(p1b);
}
END_TEST

START_TEST(test_egress_check)
{
    char err[256];
    struct egress_pool *p1 = pool_new("p1", "10.0.0.10-10.0.0.20", "", "");
    const struct egress_pool *pools[] = {p1};
    struct egress *e0 = egress_new("e0", NULL, NULL, "", "10.0.0.12", "p1");
    const struct egress *others[] = {e0};

    struct egress *e = egress_new("e1", NULL, NULL, "", NULL, "nope");
    expect_error(egress_check(e, pools, 1, others, 1, err, sizeof err), ENOENT,
                 err, "egress 'e1': pool 'nope' does not exist");

    ck_assert_int_eq(egress_set_pool(e, "p1", err, sizeof err), 0);
    ck_assert_msg(!egress_check(e, pools, 1, others, 1, err, sizeof err), "%s",
                  err);

    ck_assert_int_eq(egress_set_ip(e, "10.0.0.21", err, sizeof err), 0);
    expect_error(egress_check(e, pools, 1, others, 1, err, sizeof err), EINVAL,
                 err, "egress 'e1': IP 10.0.0.21 is outside pool 'p1'");

    ck_assert_int_eq(egress_set_ip(e, "10.0.0.12", err, sizeof err), 0);
    expect_error(egress_check(e, pools, 1, others, 1, err, sizeof err), EEXIST,
                 err,
                 "egress 'e1': IP 10.0.0.12 is already used by egress 'e0'");

    ck_assert_int_eq(egress_set_ip(e, "10.0.0.13", err, sizeof err), 0);
    ck_assert_msg(!egress_check(e, pools, 1, others, 1, err, sizeof err), "%s",
                  err);

    /* An IP without a pool must lie outside every pool. */
    ck_assert_int_eq(egress_set_pool(e, NULL, err, sizeof err), 0);
    expect_error(egress_check(e, pools, 1, others, 1, err, sizeof err), EEXIST,
                 err, "IP 10.0.0.13 lies in pool 'p1'");
    ck_assert_int_eq(egress_set_ip(e, "192.0.2.7", err, sizeof err), 0);
    ck_assert_msg(!egress_check(e, pools, 1, others, 1, err, sizeof err), "%s",
                  err);

    /* A new version of e0 may keep e0's IP. */
    struct egress *e0b = egress_new("e0", "ns", NULL, "", "10.0.0.12", "p1");
    ck_assert_msg(!egress_check(e0b, pools, 1, others, 1, err, sizeof err),
                  "%s", err);

    /* Incomplete egress. */
    ck_assert_int_eq(egress_set_ip(e, NULL, err, sizeof err), 0);
    expect_error(egress_check(e, pools, 1, others, 1, err, sizeof err), EINVAL,
                 err, "needs an IP or a pool");

    egress_destroy(e);
    egress_destroy(e0);
    egress_destroy(e0b);
    egress_pool_destroy(p1);
}
END_TEST

START_TEST(test_first_free)
{
    struct egress_pool *pool
        = pool_new("p1", "10.0.0.20-10.0.0.21,10.0.0.10-10.0.0.11", "", "");
    static const char *const order[] = {
        "10.0.0.10",
        "10.0.0.11",
        "10.0.0.20",
        "10.0.0.21",
    };
    uint32_t in_use[16];
    size_t n = 0;
    uint32_t got;

    /* An address outside the pool and a duplicate do not matter. */
    in_use[n++] = ip("10.0.0.12");
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(egress_pool_first_free(pool, in_use, n, &got), 0);
        ck_assert_str_eq(ip_s(got), order[i]);
        in_use[n++] = got;
        in_use[n++] = got;
    }
    ck_assert_int_eq(egress_pool_first_free(pool, in_use, n, &got), ENOSPC);

    /* A hole is filled first, whatever the order of 'in_use'. */
    uint32_t holes[] = {ip("10.0.0.20"), ip("10.0.0.10")};
    ck_assert_int_eq(egress_pool_first_free(pool, holes, 2, &got), 0);
    ck_assert_str_eq(ip_s(got), "10.0.0.11");
    ck_assert_int_eq(egress_pool_first_free(pool, NULL, 0, &got), 0);
    ck_assert_str_eq(ip_s(got), "10.0.0.10");
    egress_pool_destroy(pool);

    /* A /30 hands out only its two host addresses. */
    pool = pool_new("p2", "10.0.1.0/30", "", "");
    n = 0;
    ck_assert_int_eq(egress_pool_first_free(pool, in_use, n, &got), 0);
    ck_assert_str_eq(ip_s(got), "10.0.1.1");
    in_use[n++] = got;
    ck_assert_int_eq(egress_pool_first_free(pool, in_use, n, &got), 0);
    ck_assert_str_eq(ip_s(got), "10.0.1.2");
    in_use[n++] = got;
    ck_assert_int_eq(egress_pool_first_free(pool, in_use, n, &got), ENOSPC);
    ck_assert(!egress_pool_contains(pool, ip("10.0.1.0")));
    ck_assert(!egress_pool_contains(pool, ip("10.0.1.3")));
    ck_assert(egress_pool_contains(pool, ip("10.0.1.2")));
    egress_pool_destroy(pool);
}
END_TEST

START_TEST(test_usage)
{
    struct egress_pool *pool = pool_new(
        "p1", "10.0.0.10-10.0.0.20,192.168.5.0/28,10.1.0.0/31,10.2.0.1/32", "",
        "");
    uint64_t total, used;
    ck_assert_uint_eq(egress_pool_total(pool), 11 + 14 + 2 + 1);

    uint32_t in_use[] = {ip("10.0.0.10"), ip("10.0.0.10"),   ip("192.168.5.1"),
                         ip("8.8.8.8"),   ip("192.168.5.0"), ip("10.2.0.1")};
    ck_assert_int_eq(egress_pool_usage(pool, in_use, 6, &total, &used), 0);
    ck_assert_uint_eq(total, 28);
    ck_assert_uint_eq(used, 3);
    ck_assert_int_eq(egress_pool_usage(pool, NULL, 0, &total, &used), 0);
    ck_assert_uint_eq(used, 0);

    char *s = egress_pool_ranges_to_string(pool);
    ck_assert_str_eq(s, "10.0.0.10-10.0.0.20,10.1.0.0/31,10.2.0.1/32,"
                        "192.168.5.0/28");
    free(s);
    egress_pool_destroy(pool);
}
END_TEST

START_TEST(test_eligibility)
{
    char err[256];
    struct egress_pool *by_name = pool_new("p1", "10.0.0.1", "n2,n3", "");
    struct egress_pool *by_label
        = pool_new("p2", "10.0.0.2", "", "zone=a,tier=edge");
    struct egress_pool *both = pool_new("p3", "10.0.0.3", "n2", "zone=a");
    struct egress_pool *any = pool_new("p4", "10.0.0.4", "", "");
    struct egress_labels a_edge = labels("zone=a,tier=edge,os=linux");
    struct egress_labels a_only = labels("zone=a");
    struct egress_labels b_edge = labels("zone=b,tier=edge");

    ck_assert(egress_pool_node_eligible(by_name, "n2", NULL));
    ck_assert(egress_pool_node_eligible(by_name, "n3", &b_edge));
    ck_assert(!egress_pool_node_eligible(by_name, "n1", &a_edge));
    ck_assert(!egress_pool_node_eligible(by_name, NULL, &a_edge));

    ck_assert(egress_pool_node_eligible(by_label, "n9", &a_edge));
    ck_assert(!egress_pool_node_eligible(by_label, "n9", &a_only));
    ck_assert(!egress_pool_node_eligible(by_label, "n9", &b_edge));
    ck_assert(!egress_pool_node_eligible(by_label, "n9", NULL));

    ck_assert(egress_pool_node_eligible(both, "n2", NULL));
    ck_assert(egress_pool_node_eligible(both, "n9", &a_only));
    ck_assert(!egress_pool_node_eligible(both, "n9", &b_edge));

    ck_assert(egress_pool_node_eligible(any, "n9", NULL));

    bool eligible = false;
    ck_assert_int_eq(egress_pool_node_eligible_str(by_label, "n9",
                                                   "tier=edge,zone=a",
                                                   &eligible, err, sizeof err),
                     0);
    ck_assert(eligible);
    ck_assert_int_eq(egress_pool_node_eligible_str(by_label, "n9", "zone=a",
                                                   &eligible, err, sizeof err),
                     0);
    ck_assert(!eligible);
    expect_error(egress_pool_node_eligible_str(by_label, "n9", "zone",
                                               &eligible, err, sizeof err),
                 EINVAL, err,
                 "node 'n9': node labels: 'zone' is not key=value");

    /* Egress level: no pool means any node; a missing pool means none. */
    const struct egress_pool *pools[] = {by_name};
    struct egress *loose = egress_new("e1", NULL, NULL, "", "192.0.2.1", NULL);
    struct egress *pinned = egress_new("e2", NULL, NULL, "", NULL, "p1");
    struct egress *orphan = egress_new("e3", NULL, NULL, "", NULL, "p9");
    ck_assert(egress_node_eligible(loose, pools, 1, "n7", NULL));
    ck_assert(egress_node_eligible(pinned, pools, 1, "n2", NULL));
    ck_assert(!egress_node_eligible(pinned, pools, 1, "n7", NULL));
    ck_assert(!egress_node_eligible(orphan, pools, 1, "n2", NULL));

    egress_destroy(loose);
    egress_destroy(pinned);
    egress_destroy(orphan);
    egress_labels_destroy(&a_edge);
    egress_labels_destroy(&a_only);
    egress_labels_destroy(&b_edge);
    egress_pool_destroy(by_name);
    egress_pool_destroy(by_label);
    egress_pool_destroy(both);
    egress_pool_destroy(any);
}
END_TEST

START_TEST(test_selection)
{
    char err[256];
    struct egress *e
        = egress_new("e1", "prod-*", "web-?", "app=web", NULL, "p1");
    struct egress_labels web, web_cni, db;
    ck_assert_int_eq(egress_parse_labels_json("{\"app\": \"web\", "
                                              "\"tier\": \"fe\"}",
                                              NULL, &web, err, sizeof err),
                     0);
    ck_assert_int_eq(
        egress_parse_labels_json("[{\"key\": \"app\", \"value\": \"web\"}]",
                                 NULL, &web_cni, err, sizeof err),
        0);
    ck_assert_int_eq(egress_parse_labels_json("{\"app\": \"db\"}", NULL, &db,
                                              err, sizeof err),
                     0);

    ck_assert(egress_selects(e, "prod-eu", "web-1", &web));
    ck_assert(egress_selects(e, "prod-", "web-x", &web_cni));
    ck_assert(!egress_selects(e, "dev", "web-1", &web));
    ck_assert(!egress_selects(e, "prod-eu", "web-12", &web));
    ck_assert(!egress_selects(e, "prod-eu", "web-1", &db));
    ck_assert(!egress_selects(e, "prod-eu", "web-1", NULL));
    ck_assert(!egress_selects(e, NULL, "web-1", &web));

    /* Exact namespace, bracket class, no selector: labels do not matter. */
    struct egress *f
        = egress_new("e2", "kube-system", "coredns-[0-9]*", "", NULL, "p1");
    ck_assert(egress_selects(f, "kube-system", "coredns-7f9", NULL));
    ck_assert(!egress_selects(f, "kube-systemx", "coredns-7f9", NULL));
    ck_assert(!egress_selects(f, "kube-system", "coredns-abc", NULL));

    /* Nothing set: every pod, even one about which nothing is known. */
    struct egress *all = egress_new("e3", NULL, NULL, "", NULL, "p1");
    ck_assert(egress_selects(all, NULL, NULL, NULL));
    ck_assert(egress_selects(all, "x", "y", &db));

    egress_destroy(e);
    egress_destroy(f);
    egress_destroy(all);
    egress_labels_destroy(&web);
    egress_labels_destroy(&web_cni);
    egress_labels_destroy(&db);
}
END_TEST

START_TEST(test_tie_break)
{
    struct egress *eb = egress_new("egress-b", "prod", NULL, "", NULL, "p1");
    struct egress *ea = egress_new("egress-a", NULL, "web-*", "", NULL, "p1");
    struct egress *ec = egress_new("egress-c", "prod", "db-*", "", NULL, "p1");
    const struct egress *list1[] = {eb, ec, ea};
    const struct egress *list2[] = {ea, ec, eb};

    /* web-1 in prod: egress-a and egress-b select it; "egress-a" wins. */
    ck_assert_ptr_eq(egress_select(list1, 3, "prod", "web-1", NULL), ea);
    ck_assert_ptr_eq(egress_select(list2, 3, "prod", "web-1", NULL), ea);
    /* db-1 in prod: egress-b and egress-c; "egress-b" wins. */
    ck_assert_ptr_eq(egress_select(list1, 3, "prod", "db-1", NULL), eb);
    ck_assert_ptr_eq(egress_select(list2, 3, "prod", "db-1", NULL), eb);
    /* Only egress-a selects web-1 in dev. */
    ck_assert_ptr_eq(egress_select(list1, 3, "dev", "web-1", NULL), ea);
    ck_assert_ptr_null(egress_select(list1, 3, "dev", "db-1", NULL));
    ck_assert_ptr_null(egress_select(list1, 0, "prod", "web-1", NULL));

    egress_destroy(ea);
    egress_destroy(eb);
    egress_destroy(ec);
}
END_TEST

START_TEST(test_exempt)
{
    char err[256];
    struct egress *e = egress_new("e1", NULL, NULL, "", NULL, "p1");
    ck_assert(!egress_is_exempt(e, ip("10.1.2.3")));
    ck_assert_int_eq(
        egress_set_exempt(e, "10.0.0.0/8, 192.0.2.7", err, sizeof err), 0);
    ck_assert(egress_is_exempt(e, ip("10.1.2.3")));
    ck_assert(egress_is_exempt(e, ip("192.0.2.7")));
    ck_assert(!egress_is_exempt(e, ip("192.0.2.8")));
    ck_assert(!egress_is_exempt(e, ip("11.0.0.1")));
    char *s = egress_exempt_to_string(e);
    ck_assert_str_eq(s, "10.0.0.0/8,192.0.2.7/32");
    free(s);

    ck_assert_int_eq(egress_set_exempt(e, "0.0.0.0/0", err, sizeof err), 0);
    ck_assert(egress_is_exempt(e, ip("203.0.113.9")));
    ck_assert_int_eq(egress_set_exempt(e, "", err, sizeof err), 0);
    ck_assert_uint_eq(e->n_exempt, 0);
    ck_assert(!egress_is_exempt(e, ip("10.1.2.3")));
    egress_destroy(e);
}
END_TEST

START_TEST(test_json_round_trip)
{
    char err[256] = "";
    struct egress_pool *pool = pool_new(
        "p1", "192.168.5.0/28,10.0.0.10-10.0.0.20", "n3,n2", "zone=a");
    char *s = egress_pool_to_string(pool);
    ck_assert_str_eq(s, "{\"name\":\"p1\",\"ranges\":[\"10.0.0.10-10.0.0.20\","
                        "\"192.168.5.0/28\"],\"nodes\":[\"n2\",\"n3\"],"
                        "\"node_selector\":{\"zone\":\"a\"}}");
    struct egress_pool *copy;
    ck_assert_msg(
        !egress_pool_from_string(s, strlen(s), &copy, err, sizeof err), "%s",
        err);
    ck_assert(egress_pool_equal(pool, copy));
    ck_assert_int_eq(egress_pool_set_nodes(copy, "n2", err, sizeof err), 0);
    ck_assert(!egress_pool_equal(pool, copy));
    egress_pool_destroy(copy);
    free(s);

    struct egress_pool *minimal = pool_new("p2", "10.0.0.1", "", "");
    s = egress_pool_to_string(minimal);
    ck_assert_str_eq(s, "{\"name\":\"p2\",\"ranges\":[\"10.0.0.1\"]}");
    ck_assert_int_eq(
        egress_pool_from_string(s, strlen(s), &copy, err, sizeof err), 0);
    ck_assert(egress_pool_equal(minimal, copy));
    egress_pool_destroy(copy);
    free(s);

    struct egress *e
        = egress_new("e1", "prod-*", "web-*", "app=web", "10.0.0.12", "p1");
    ck_assert_int_eq(
        egress_set_exempt(e, "172.16.0.0/12,10.0.0.0/8", err, sizeof err), 0);
    s = egress_to_string(e);
    ck_assert_str_eq(s, "{\"name\":\"e1\",\"namespace\":\"prod-*\","
                        "\"pod_name\":\"web-*\",\"pod_selector\":{\"app\":"
                        "\"web\"},\"ip\":\"10.0.0.12\",\"pool\":\"p1\","
                        "\"exempt\":[\"10.0.0.0/8\",\"172.16.0.0/12\"]}");
    struct egress *ecopy;
    ck_assert_msg(!egress_from_string(s, strlen(s), &ecopy, err, sizeof err),
                  "%s", err);
    ck_assert(egress_equal(e, ecopy));
    ck_assert_int_eq(egress_set_ip(ecopy, "10.0.0.13", err, sizeof err), 0);
    ck_assert(!egress_equal(e, ecopy));
    egress_destroy(ecopy);
    free(s);

    /* Optional members may be null. */
    const char *nulls = "{\"name\":\"e2\",\"pool\":\"p1\",\"namespace\":null,"
                        "\"pod_name\":null,\"pod_selector\":null,\"ip\":null,"
                        "\"exempt\":null}";
    ck_assert_msg(
        !egress_from_string(nulls, strlen(nulls), &ecopy, err, sizeof err),
        "%s", err);
    s = egress_to_string(ecopy);
    ck_assert_str_eq(s, "{\"name\":\"e2\",\"pool\":\"p1\"}");
    free(s);
    egress_destroy(ecopy);

    egress_destroy(e);
    egress_pool_destroy(pool);
    egress_pool_destroy(minimal);
}
END_TEST

START_TEST(test_json_bad_pools)
{
    static const struct {
        const char *json;
        const char *words;
    } cases[] = {
        {"", "pool: invalid JSON"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"", "pool: invalid JSON"},
        {"[]", "pool: not a JSON object"},
        {"null", "pool: not a JSON object"},
        {"{}", "pool: missing 'name'"},
        {"{\"name\":1,\"ranges\":[]}", "pool: 'name' is not a string"},
        {"{\"name\":\"P1\",\"ranges\":[\"10.0.0.1\"]}",
         "invalid pool name 'P1'"},
        {"{\"name\":\"p1\"}", "pool 'p1': missing 'ranges'"},
        {"{\"name\":\"p1\",\"ranges\":null}", "'ranges' is not an array"},
        {"{\"name\":\"p1\",\"ranges\":\"10.0.0.1\"}",
         "pool 'p1': 'ranges' is not an array"},
        {"{\"name\":\"p1\",\"ranges\":[1]}", "'ranges'[0] is not a string"},
        {"{\"name\":\"p1\",\"ranges\":[]}", "pool 'p1': no ranges"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.5-10.0.0.1\"]}",
         "range 10.0.0.5-10.0.0.1: start after end"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1-10.0.0.5\","
         "\"10.0.0.4\"]}",
         "overlap"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1,10.0.0.2\"]}",
         "not an IPv4 address"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"],\"nodes\":[\"N\"]}",
         "node 'N': not a valid node name"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"],\"nodes\":\"n1\"}",
         "'nodes' is not an array"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"],\"nodes\":[\"n1\","
         "\"n1\"]}",
         "duplicate node 'n1'"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"],\"node_selector\":[]}",
         "'node_selector' is not an object"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"],\"node_selector\":"
         "{\"zone\":1}}",
         "value of 'zone' is not a string"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"],\"node_selector\":"
         "{\"zone\":\"a b\"}}",
         "invalid value 'a b'"},
        {"{\"name\":\"p1\",\"rnages\":[\"10.0.0.1\"],\"ranges\":"
         "[\"10.0.0.1\"]}",
         "pool 'p1': unknown member 'rnages'"},
        {"{\"name\":\"p1\",\"name\":\"p2\",\"ranges\":[\"10.0.0.1\"]}",
         "duplicate object key"},
        {"{\"name\":\"p1\",\"ranges\":[\"10.0.0.1\"]} x", "invalid JSON"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct egress_pool *pool = (void *)1;
        snprintf(err, sizeof err, "(unset)");
        int error = egress_pool_from_string(
            cases[i].json, strlen(cases[i].json), &pool, err, sizeof err);
        ck_assert_msg(error == EINVAL, "%s: error %d", cases[i].json, error);
        ck_assert_msg(strstr(err, cases[i].words), "%s: \"%s\" lacks \"%s\"",
                      cases[i].json, err, cases[i].words);
        ck_assert_msg(!strchr(err, '\n'), "%s", err);
        ck_assert_ptr_null(pool);
    }

    /* Oversized input is refused before parsing. */
    size_t big = EGRESS_JSON_MAX + 1;
    char *s = malloc(big);
    ck_assert_ptr_nonnull(s);
    memset(s, ' ', big);
    struct egress_pool *pool;
    expect_error(egress_pool_from_string(s, big, &pool, err, sizeof err),
                 EINVAL, err, "exceeds the limit");
    free(s);

    /* Not a JSON value at all: NULL. */
    expect_error(egress_pool_from_json(NULL, &pool, err, sizeof err), EINVAL,
                 err, "not a JSON object");
}
END_TEST

START_TEST(test_json_bad_egresses)
{
    static const struct {
        const char *json;
        const char *words;
    } cases[] = {
        {"{\"name\":\"e1\"}", "egress 'e1': needs an IP or a pool"},
        {"{\"name\":\"e1\",\"ip\":5}", "egress 'e1': 'ip' is not a string"},
        {"{\"name\":\"e1\",\"ip\":\"1.2.3\"}", "'1.2.3' is not an IPv4"},
        {"{\"name\":\"e1\",\"ip\":\"224.1.1.1\"}", "not a unicast address"},
        {"{\"name\":\"e1\",\"pool\":\"P!\"}", "pool name 'P!' is invalid"},
        {"{\"name\":\"e1\",\"pool\":[]}", "'pool' is not a string"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"namespace\":\"\"}",
         "namespace glob '': empty pattern"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"pod_name\":\"x[\"}",
         "pod-name glob 'x[': unbalanced '['"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"pod_name\":true}",
         "'pod_name' is not a string"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"exempt\":[\"10.0.0.1/8\"]}",
         "exempt CIDR 10.0.0.1/8: host bits set"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"exempt\":\"10.0.0.0/8\"}",
         "'exempt' is not an array"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"exempt\":[{}]}",
         "'exempt'[0] is not a string"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"pod_selector\":{\"app\":5}}",
         "value of 'app' is not a string"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"pod_selector\":[\"app=web\"]}",
         "'pod_selector' is not an object"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"extra\":1}",
         "egress 'e1': unknown member 'extra'"},
        {"{\"name\":\"e1\",\"pool\":\"p1\",\"ip\":\"10.0.0.1\\u0000x\"}",
         "invalid JSON"},
        {"{\"name\":\"e\\n1\",\"pool\":\"p1\"}", "invalid egress name 'e?1'"},
        {"{\"name\":\"e1\",\"pool\":\"p1\"", "egress: invalid JSON"},
        {"\"e1\"", "egress: not a JSON object"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct egress *e = (void *)1;
        snprintf(err, sizeof err, "(unset)");
        int error = egress_from_string(cases[i].json, strlen(cases[i].json),
                                       &e, err, sizeof err);
        ck_assert_msg(error == EINVAL, "%s: error %d", cases[i].json, error);
        ck_assert_msg(strstr(err, cases[i].words), "%s: \"%s\" lacks \"%s\"",
                      cases[i].json, err, cases[i].words);
        ck_assert_msg(!strchr(err, '\n'), "%s", err);
        ck_assert_ptr_null(e);
    }
}
END_TEST

START_TEST(test_pod_labels_json)
{
    static const struct {
        const char *json;
        const char *words;
    } cases[] = {
        {"\"app\"", "pod labels: not a JSON object or array"},
        {"[{\"key\":\"app\"}]", "element 0 is not {\"key\""},
        {"[{\"key\":\"app\",\"value\":\"web\",\"x\":1}]", "element 0"},
        {"[\"app=web\"]", "element 0"},
        {"{\"app\":\"a b\"}", "invalid value 'a b'"},
        {"{\"a pp\":\"web\"}", "invalid key 'a pp'"},
        {"[{\"key\":\"app\",\"value\":\"a\"},{\"key\":\"app\","
         "\"value\":\"b\"}]",
         "duplicate key 'app'"},
        {"{\"app\":", "invalid JSON"},
        {"{\"app\":\"web\",\"app\":\"db\"}", "duplicate object key"},
    };
    char err[256];
    struct egress_labels l;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(err, sizeof err, "(unset)");
        l.n = 99;
        int error = egress_parse_labels_json(cases[i].json, "pod 'ns/p'", &l,
                                             err, sizeof err);
        ck_assert_msg(error == EINVAL, "%s: error %d", cases[i].json, error);
        ck_assert_msg(strstr(err, cases[i].words), "%s: \"%s\" lacks \"%s\"",
                      cases[i].json, err, cases[i].words);
        ck_assert_msg(!strncmp(err, "pod 'ns/p': ", 12), "%s", err);
        ck_assert_uint_eq(l.n, 99);
    }

    ck_assert_int_eq(egress_parse_labels_json(NULL, NULL, &l, err, sizeof err),
                     0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(
        egress_parse_labels_json("null", NULL, &l, err, sizeof err), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(egress_parse_labels_json("[]", NULL, &l, err, sizeof err),
                     0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(egress_parse_labels_json(
                         "{\"tier\":\"fe\",\"app\":\"web\",\"x\":\"\"}", NULL,
                         &l, err, sizeof err),
                     0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.items[0].key, "app");
    ck_assert_str_eq(l.items[1].key, "tier");
    ck_assert_str_eq(l.items[2].value, "");
    egress_labels_destroy(&l);
}
END_TEST

START_TEST(test_one_line_errors)
{
    char err[64];
    struct egress_pool *pool = pool_new("p1", "10.0.0.1", "", "");
    /* Control characters never reach the message, and a long message is
     * cut visibly. */
    expect_error(
        egress_pool_set_ranges(pool, "10.0.0.1\n-10.0.0.2\r", err, sizeof err),
        EINVAL, err, "range 10.0.0.1?-10.0.0.2?");
    ck_assert(!strchr(err, '\r'));
    expect_error(egress_pool_set_nodes(pool,
                                       "nodeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                                       "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                                       "_bad",
                                       err, sizeof err),
                 EINVAL, err, "...");
    ck_assert_uint_eq(strlen(err), sizeof err - 1);
    egress_pool_destroy(pool);
}
END_TEST

static Suite *
egress_model_suite(void)
{
    Suite *s = suite_create("egress-model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_parse_ranges_good);
    tcase_add_test(tc, test_parse_ranges_bad);
    tcase_add_test(tc, test_parse_nodes);
    tcase_add_test(tc, test_parse_labels);
    tcase_add_test(tc, test_parse_cidrs);
    tcase_add_test(tc, test_globs);
    tcase_add_test(tc, test_egress_setters);
    tcase_add_test(tc, test_pool_overlap_across_pools);
    tcase_add_test(tc, test_egress_check);
    tcase_add_test(tc, test_first_free);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_eligibility);
    tcase_add_test(tc, test_selection);
    tcase_add_test(tc, test_tie_break);
    tcase_add_test(tc, test_exempt);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_json_bad_pools);
    tcase_add_test(tc, test_json_bad_egresses);
    tcase_add_test(tc, test_pod_labels_json);
    tcase_add_test(tc, test_one_line_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(egress_model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
