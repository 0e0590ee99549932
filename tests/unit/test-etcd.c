/* Tests of the etcd client (agent/etcd.c) and of the gateway's wire format
 * (agent/etcd-wire.c).
 *
 * The "wire" tests need no server: base64, int64s, key ranges, and the
 * parsing of replies, error bodies and watch streams (split at every byte
 * boundary), using replies captured from etcd 3.4.23.
 *
 * The "etcd" tests run the client against real etcd servers that this
 * program starts on loopback with random free ports, each in its own
 * directory /tmp/sluicetest-etcd-PID-NAME (data, log, pidfile).  One server
 * is shared by most tests; the restart and TLS tests start their own.  All
 * servers are stopped by the PIDs in their pidfiles and the directories
 * removed at the end.  Without an etcd binary these tests are skipped. */
#include <sluice-config.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "sluice/etcd-wire.h"
#include "sluice/etcd.h"
#include "sluice/log.h"

/* Wire format: base64. */

static void
check_b64(const char *plain, size_t n, const char *encoded)
{
    char *enc = etcd_base64_encode(plain, n);
    ck_assert_str_eq(enc, encoded);
    free(enc);

    char *dec;
    size_t dec_n;
    ck_assert_int_eq(
        etcd_base64_decode(encoded, strlen(encoded), &dec, &dec_n), 0);
    ck_assert_uint_eq(dec_n, n);
    ck_assert_mem_eq(dec, plain, n);
    ck_assert_int_eq(dec[n], '\0');
    free(dec);
}

START_TEST(test_base64_vectors)
{
    /* RFC 4648 section 10. */
    check_b64("", 0, "");
    check_b64("f", 1, "Zg==");
    check_b64("fo", 2, "Zm8=");
    check_b64("foo", 3, "Zm9v");
    check_b64("foob", 4, "Zm9vYg==");
    check_b64("fooba", 5, "Zm9vYmE=");
    check_b64("foobar", 6, "Zm9vYmFy");
    /* As etcd encodes keys and values. */
    check_b64("/sluice/a", 9, "L3NsdWljZS9h");
    check_b64("v1", 2, "djE=");
    check_b64("\x00\xff\xfe", 3, "AP/+");
    check_b64("\xfb\xff", 2, "+/8=");
}
END_TEST

START_TEST(test_base64_round_trip)
{
    unsigned char data[300];
    uint32_t x = 12345;
    for (size_t n = 0; n <= sizeof data; n++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245 + 12345;
            data[i] = (unsigned char)(x >> 16);
        }
        if (n == 256) {
            for (size_t i = 0; i < 256; i++) {
                data[i] = (unsigned char)i;
            }
        }
        char *enc = etcd_base64_encode(data, n);
        ck_assert_uint_eq(strlen(enc), (n + 2) / 3 * 4);
        char *dec;
        size_t dec_n;
        ck_assert_int_eq(etcd_base64_decode(enc, strlen(enc), &dec, &dec_n),
                         0);
        ck_assert_uint_eq(dec_n, n);
        ck_assert(!memcmp(dec, data, n));
        free(enc);
        free(dec);
    }
}
END_TEST

START_TEST(test_base64_invalid)
{
    static const char *const bad[] = {
        "Z",        /* Length not a multiple of 4. */
        "Zg=",      /* Idem. */
        "Zm9vY",    /* Idem. */
        "Z===",     /* Too much padding. */
        "====",     /* Only padding. */
        "Zg=a",     /* Padding not at the end. */
        "=Zg=",     /* Idem. */
        "Zg==Zg==", /* Padding in the middle. */
        "Zm9v!mFy", /* Not in the alphabet. */
        "Zm 9",     /* Whitespace. */
        "Zm9v\n",   /* Idem. */
        "Zh==",     /* Non-zero trailing bits. */
        "Zm9=",     /* Idem. */
        "Zm-_",     /* URL-safe alphabet. */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *dec = (char *)1;
        size_t n = 99;
        ck_assert_msg(etcd_base64_decode(bad[i], strlen(bad[i]), &dec, &n)
                          == EINVAL,
                      "accepted \"%s\"", bad[i]);
        ck_assert_ptr_null(dec);
        ck_assert_uint_eq(n, 0);
    }
    /* A NUL inside the text is not base64 either. */
    char *dec;
    size_t n;
    ck_assert_int_eq(etcd_base64_decode("Zm\0v", 4, &dec, &n), EINVAL);
}
END_TEST

/* Wire format: numbers, ranges, errors. */

static bool
int64_of(json_t *json, int64_t *v)
{
    bool ok = etcd_json_int64(json, v);
    json_decref(json);
    return ok;
}

START_TEST(test_int64)
{
    int64_t v;
    ck_assert(int64_of(json_string("12"), &v) && v == 12);
    ck_assert(int64_of(json_integer(12), &v) && v == 12);
    ck_assert(int64_of(json_string("-5"), &v) && v == -5);
    ck_assert(int64_of(json_string("0"), &v) && v == 0);
    ck_assert(int64_of(json_string("4111120190390944530"), &v)
              && v == 4111120190390944530LL);
    ck_assert(int64_of(json_string("9223372036854775807"), &v)
              && v == INT64_MAX);
    ck_assert(int64_of(json_string("-9223372036854775808"), &v)
              && v == INT64_MIN);
    ck_assert(!int64_of(json_string("9223372036854775808"), &v));
    ck_assert(!int64_of(json_string(""), &v));
    ck_assert(!int64_of(json_string("-"), &v));
    ck_assert(!int64_of(json_string("12a"), &v));
    ck_assert(!int64_of(json_string(" 12"), &v));
    ck_assert(!int64_of(json_string("+12"), &v));
    ck_assert(!int64_of(json_string("1e3"), &v));
    ck_assert(!int64_of(json_stringn("12\0003", 4), &v));
    ck_assert(!int64_of(json_real(1.0), &v));
    ck_assert(!int64_of(json_true(), &v));
    ck_assert(!etcd_json_int64(NULL, &v));
}
END_TEST

static void
check_range_end(const char *key, size_t len, const char *end, size_t end_len)
{
    size_t n;
    char *e = etcd_prefix_range_end(key, len, &n);
    ck_assert_uint_eq(n, end_len);
    ck_assert_mem_eq(e, end, n);
    free(e);
}

START_TEST(test_range_end)
{
    check_range_end("/sluice/", 8, "/sluice0", 8);
    check_range_end("ab", 2, "ac", 2);
    check_range_end("a\xff", 2, "b", 1);
    check_range_end("a\xff\xff", 3, "b", 1);
    check_range_end("\xff\xff", 2, "\0", 1);
    check_range_end("", 0, "\0", 1);
}
END_TEST

START_TEST(test_error_bodies)
{
    int code;
    char *msg;
    const char *body = "{\"error\":\"etcdserver: requested lease not found\","
                       "\"message\":\"etcdserver: requested lease not "
                       "found\",\"code\":5}";
    ck_assert(etcd_parse_error(body, strlen(body), &code, &msg));
    ck_assert_int_eq(code, 5);
    ck_assert_str_eq(msg, "etcdserver: requested lease not found");
    ck_assert_int_eq(etcd_grpc_code_to_errno(code), ENOENT);
    free(msg);

    /* The form used inside streams (watch, keepalive). */
    body = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
           "\"transport is closing\",\"http_status\":\"Service "
           "Unavailable\"}}";
    ck_assert(etcd_parse_error(body, strlen(body), &code, &msg));
    ck_assert_int_eq(code, 14);
    ck_assert_str_eq(msg, "transport is closing");
    ck_assert_int_eq(etcd_grpc_code_to_errno(code), EAGAIN);
    free(msg);

    /* "error" without "message". */
    body = "{\"error\":\"bad thing\",\"code\":\"3\"}";
    ck_assert(etcd_parse_error(body, strlen(body), &code, &msg));
    ck_assert_int_eq(code, 3);
    ck_assert_str_eq(msg, "bad thing");
    free(msg);

    /* Not errors. */
    static const char *const not_errors[] = {
        "{\"header\":{\"revision\":\"2\"},\"ID\":\"7\",\"TTL\":\"5\"}",
        "{\"header\":{\"revision\":\"2\"},\"ID\":\"7\",\"error\":\"\"}",
        "404 page not found\n",
        "",
        "[1]",
    };
    for (size_t i = 0; i < sizeof not_errors / sizeof *not_errors; i++) {
        msg = NULL;
        ck_assert(!etcd_parse_error(not_errors[i], strlen(not_errors[i]),
                                    &code, &msg));
        ck_assert_ptr_null(msg);
    }

    ck_assert_int_eq(etcd_grpc_code_to_errno(11), ERANGE);
    ck_assert_int_eq(etcd_grpc_code_to_errno(3), EINVAL);
    ck_assert_int_eq(etcd_grpc_code_to_errno(7), EACCES);
    ck_assert_int_eq(etcd_grpc_code_to_errno(8), ENOSPC);
    ck_assert_int_eq(etcd_grpc_code_to_errno(99), EIO);
}
END_TEST

/* Wire format: replies (captured from etcd 3.4.23). */

#define HDR(REV)                                                              \
    "\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":"      \
    "\"13668033151171901709\",\"revision\":\"" REV "\",\"raft_term\":\"2\"}"

static struct etcd_result *
parse_ok(enum etcd_op_type type, const char *body, const char *prefix)
{
    struct etcd_result *r;
    char *msg = NULL;
    int error = etcd_parse_result(type, body, strlen(body), prefix, &r, &msg);
    ck_assert_msg(!error, "parse failed: %s", msg);
    ck_assert_ptr_null(msg);
    ck_assert_int_eq(r->type, type);
    return r;
}

static void
parse_bad(enum etcd_op_type type, const char *body, const char *prefix)
{
    struct etcd_result *r = (struct etcd_result *)1;
    char *msg = NULL;
    ck_assert_int_eq(
        etcd_parse_result(type, body, strlen(body), prefix, &r, &msg), EPROTO);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(msg);
    free(msg);
}

START_TEST(test_parse_range)
{
    struct etcd_result *r = parse_ok(
        ETCD_OP_RANGE,
        "{" HDR("5") ",\"kvs\":[{\"key\":\"L3NsdWljZS9h\",\"create_revision\":"
                     "\"2\",\"mod_revision\":\"5\",\"version\":\"2\","
                     "\"value\":\"djI=\"},{\"key\":\"L3NsdWljZS9s\","
                     "\"create_revision\":\"6\",\"mod_revision\":\"6\","
                     "\"version\":\"1\",\"value\":\"eA==\",\"lease\":"
                     "\"4111120190390944530\"}],\"count\":\"2\"}",
        "/sluice/");
    ck_assert_int_eq(r->revision, 5);
    ck_assert_int_eq(r->count, 2);
    ck_assert_uint_eq(r->n_kvs, 2);
    ck_assert_str_eq(r->kvs[0].key, "a");
    ck_assert_uint_eq(r->kvs[0].key_len, 1);
    ck_assert_str_eq(r->kvs[0].value, "v2");
    ck_assert_uint_eq(r->kvs[0].value_len, 2);
    ck_assert_int_eq(r->kvs[0].create_revision, 2);
    ck_assert_int_eq(r->kvs[0].mod_revision, 5);
    ck_assert_int_eq(r->kvs[0].version, 2);
    ck_assert_int_eq(r->kvs[0].lease, 0);
    ck_assert_str_eq(r->kvs[1].key, "l");
    ck_assert_str_eq(r->kvs[1].value, "x");
    ck_assert_int_eq(r->kvs[1].lease, 4111120190390944530LL);
    etcd_result_destroy(r);

    /* Nothing found: no "kvs", no "count". */
    r = parse_ok(ETCD_OP_RANGE, "{" HDR("2") "}", "/sluice/");
    ck_assert_int_eq(r->revision, 2);
    ck_assert_uint_eq(r->n_kvs, 0);
    ck_assert_int_eq(r->count, 0);
    etcd_result_destroy(r);

    /* Keys only (no "value"), int64s as numbers, no prefix. */
    r = parse_ok(ETCD_OP_RANGE,
                 "{\"header\":{\"revision\":7},\"kvs\":[{\"key\":\"L3NsdWlj"
                 "ZS9h\",\"create_revision\":2,\"mod_revision\":7,"
                 "\"version\":3}],\"count\":1,\"more\":false}",
                 NULL);
    ck_assert_int_eq(r->revision, 7);
    ck_assert_str_eq(r->kvs[0].key, "/sluice/a");
    ck_assert_str_eq(r->kvs[0].value, "");
    ck_assert_uint_eq(r->kvs[0].value_len, 0);
    ck_assert_int_eq(r->kvs[0].mod_revision, 7);
    ck_assert_int_eq(r->count, 1);
    etcd_result_destroy(r);

    /* Binary value with a NUL. */
    r = parse_ok(ETCD_OP_RANGE,
                 "{\"kvs\":[{\"key\":\"L3NsdWljZS9h\",\"value\":\"YQBi\"}]}",
                 "/sluice/");
    ck_assert_uint_eq(r->kvs[0].value_len, 3);
    ck_assert_mem_eq(r->kvs[0].value, "a\0b", 4);
    etcd_result_destroy(r);

    parse_bad(ETCD_OP_RANGE, "{\"kvs\":[{\"key\":\"L3NsdWljZS9h\"}]}",
              "/other/");
    parse_bad(ETCD_OP_RANGE, "{\"kvs\":[{\"key\":\"!!!!\"}]}", "");
    parse_bad(ETCD_OP_RANGE, "{\"kvs\":[{\"value\":\"eA==\"}]}", "");
    parse_bad(ETCD_OP_RANGE, "{\"kvs\":{}}", "");
    parse_bad(ETCD_OP_RANGE, "{\"header\":{\"revision\":\"x2\"}}", "");
    parse_bad(ETCD_OP_RANGE,
              "{\"kvs\":[{\"key\":\"eA==\",\"mod_revision\":1.5}]}", "");
    parse_bad(ETCD_OP_RANGE, "{\"count\":\"1\"", "");
    parse_bad(ETCD_OP_RANGE, "[]", "");
    parse_bad(ETCD_OP_RANGE, "", "");
}
END_TEST

START_TEST(test_parse_put_delete)
{
    struct etcd_result *r
        = parse_ok(ETCD_OP_PUT, "{" HDR("6") "}", "/sluice/");
    ck_assert_int_eq(r->revision, 6);
    ck_assert_uint_eq(r->n_kvs, 0);
    etcd_result_destroy(r);

    r = parse_ok(ETCD_OP_PUT,
                 "{" HDR("5") ",\"prev_kv\":{\"key\":\"L3NsdWljZS9h\","
                              "\"create_revision\":\"2\",\"mod_revision\":"
                              "\"2\",\"version\":\"1\",\"value\":\"djE=\"}}",
                 "/sluice/");
    ck_assert_uint_eq(r->n_kvs, 1);
    ck_assert_str_eq(r->kvs[0].key, "a");
    ck_assert_str_eq(r->kvs[0].value, "v1");
    etcd_result_destroy(r);

    r = parse_ok(ETCD_OP_DELETE,
                 "{" HDR("10") ",\"deleted\":\"1\",\"prev_kvs\":[{\"key\":"
                               "\"L3NsdWljZS9h\",\"create_revision\":\"2\","
                               "\"mod_revision\":\"5\",\"version\":\"2\","
                               "\"value\":\"djI=\"}]}",
                 "/sluice/");
    ck_assert_int_eq(r->revision, 10);
    ck_assert_int_eq(r->count, 1);
    ck_assert_uint_eq(r->n_kvs, 1);
    ck_assert_str_eq(r->kvs[0].value, "v2");
    etcd_result_destroy(r);

    r = parse_ok(ETCD_OP_DELETE, "{" HDR("10") "}", "/sluice/");
    ck_assert_int_eq(r->count, 0);
    etcd_result_destroy(r);

    parse_bad(ETCD_OP_PUT, "{\"prev_kv\":{\"key\":7}}", "");
    parse_bad(ETCD_OP_DELETE, "{\"deleted\":true}", "");
}
END_TEST

START_TEST(test_parse_txn)
{
    /* Success: the put ran. */
    struct etcd_result *r = parse_ok(
        ETCD_OP_TXN,
        "{" HDR("3") ",\"succeeded\":true,\"responses\":[{\"response_put\":"
                     "{\"header\":{\"revision\":\"3\"}}}]}",
        "/sluice/");
    ck_assert(r->succeeded);
    ck_assert_int_eq(r->revision, 3);
    ck_assert_uint_eq(r->n_responses, 1);
    ck_assert_int_eq(r->responses[0].type, ETCD_OP_PUT);
    ck_assert_int_eq(r->responses[0].revision, 3);
    etcd_result_destroy(r);

    /* Failure: no "succeeded", the range shows the current state. */
    r = parse_ok(
        ETCD_OP_TXN,
        "{" HDR("3") ",\"responses\":[{\"response_range\":{\"header\":{"
                     "\"revision\":\"3\"},\"kvs\":[{\"key\":\"L3NsdWljZS9i\","
                     "\"create_revision\":\"3\",\"mod_revision\":\"3\","
                     "\"version\":\"1\",\"value\":\"eA==\"}],\"count\":"
                     "\"1\"}}]}",
        "/sluice/");
    ck_assert(!r->succeeded);
    ck_assert_uint_eq(r->n_responses, 1);
    ck_assert_int_eq(r->responses[0].type, ETCD_OP_RANGE);
    ck_assert_uint_eq(r->responses[0].n_kvs, 1);
    ck_assert_str_eq(r->responses[0].kvs[0].key, "b");
    ck_assert_str_eq(r->responses[0].kvs[0].value, "x");
    ck_assert_int_eq(r->responses[0].count, 1);
    etcd_result_destroy(r);

    /* Failure with an empty failure branch: no "responses" at all. */
    r = parse_ok(ETCD_OP_TXN, "{" HDR("4") "}", "/sluice/");
    ck_assert(!r->succeeded);
    ck_assert_uint_eq(r->n_responses, 0);
    etcd_result_destroy(r);

    /* Several responses, among them a delete with prev_kvs. */
    r = parse_ok(
        ETCD_OP_TXN,
        "{" HDR("4") ",\"succeeded\":true,\"responses\":[{\"response_delete"
                     "_range\":{\"header\":{\"revision\":\"4\"},\"deleted\":"
                     "\"1\",\"prev_kvs\":[{\"key\":\"L3NsdWljZS9i\","
                     "\"value\":\"eA==\"}]}},{\"response_range\":{}},"
                     "{\"response_put\":{\"prev_kv\":{\"key\":\"L3NsdWljZS9"
                     "h\"}}}]}",
        "/sluice/");
    ck_assert(r->succeeded);
    ck_assert_uint_eq(r->n_responses, 3);
    ck_assert_int_eq(r->responses[0].type, ETCD_OP_DELETE);
    ck_assert_int_eq(r->responses[0].count, 1);
    ck_assert_str_eq(r->responses[0].kvs[0].key, "b");
    ck_assert_int_eq(r->responses[1].type, ETCD_OP_RANGE);
    ck_assert_uint_eq(r->responses[1].n_kvs, 0);
    ck_assert_int_eq(r->responses[2].type, ETCD_OP_PUT);
    ck_assert_str_eq(r->responses[2].kvs[0].key, "a");
    etcd_result_destroy(r);

    parse_bad(ETCD_OP_TXN, "{\"responses\":[{\"response_what\":{}}]}", "");
    parse_bad(ETCD_OP_TXN, "{\"succeeded\":\"yes\"}", "");
    parse_bad(ETCD_OP_TXN,
              "{\"responses\":[{\"response_put\":{}},{\"response_range\":"
              "{\"kvs\":[{\"key\":\"%%%%\"}]}}]}",
              "");
}
END_TEST

START_TEST(test_parse_lease)
{
    int64_t id, ttl;
    char *msg;
    const char *b = "{" HDR("5") ",\"ID\":\"4111120190390944527\",\"TTL\":"
                                 "\"2\"}";
    ck_assert_int_eq(etcd_parse_lease_grant(b, strlen(b), &id, &ttl, &msg), 0);
    ck_assert_int_eq(id, 4111120190390944527LL);
    ck_assert_int_eq(ttl, 2);

    b = "{" HDR("5") "}";
    ck_assert_int_eq(etcd_parse_lease_grant(b, strlen(b), &id, &ttl, &msg),
                     EPROTO);
    free(msg);

    b = "{\"result\":{" HDR("6") ",\"ID\":\"4111120190390944530\",\"TTL\":"
                                 "\"3\"}}\n";
    ck_assert_int_eq(etcd_parse_lease_keepalive(b, strlen(b), &ttl, &msg), 0);
    ck_assert_int_eq(ttl, 3);

    /* A lease that etcd does not know: no TTL. */
    b = "{\"result\":{" HDR("7") ",\"ID\":\"4111120190390944530\"}}\n";
    ck_assert_int_eq(etcd_parse_lease_keepalive(b, strlen(b), &ttl, &msg), 0);
    ck_assert_int_eq(ttl, 0);

    b = "{" HDR("7") ",\"TTL\":\"3\"}";
    ck_assert_int_eq(etcd_parse_lease_keepalive(b, strlen(b), &ttl, &msg),
                     EPROTO);
    free(msg);
}
END_TEST

/* Wire format: watch streams. */

/* The stream of a watch of /sluice/ from revision 2, as etcd 3.4.23 sent
 * it, followed by a progress notification and a compaction; plus
 * synthetic messages: an event with a numeric type and a cancel reason
 * full of JSON syntax, and a stream error. */
static const char watch_stream[] = "{\"result\":{" HDR(
    "7") ",\"created\":true}}\n"
         "{\"result\":{" HDR(
             "7") ",\"events\":["
                  "{\"kv\":{\"key\":\"L3NsdWljZS9h\",\"create_revision\":"
                  "\"2\","
                  "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"djE="
                  "\"}},"
                  "{\"kv\":{\"key\":\"L3NsdWljZS9i\",\"create_revision\":"
                  "\"3\","
                  "\"mod_revision\":\"3\",\"version\":\"1\",\"value\":\"eA=="
                  "\"}},"
                  "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3NsdWljZS9i\","
                  "\"mod_revision\":\"4\"},\"prev_kv\":{\"key\":"
                  "\"L3NsdWljZS9i\","
                  "\"create_revision\":\"3\",\"mod_revision\":\"3\","
                  "\"version\":\"1\","
                  "\"value\":\"eA==\"}},"
                  "{\"kv\":{\"key\":\"L3NsdWljZS9h\",\"create_revision\":"
                  "\"2\","
                  "\"mod_revision\":\"5\",\"version\":\"2\",\"value\":\"djI="
                  "\"},"
                  "\"prev_kv\":{\"key\":\"L3NsdWljZS9h\",\"create_revision\":"
                  "\"2\","
                  "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"djE="
                  "\"}},"
                  "{\"kv\":{\"key\":\"L3NsdWljZS9s\",\"create_revision\":"
                  "\"6\","
                  "\"mod_revision\":\"6\",\"version\":\"1\",\"value\":\"eA=="
                  "\","
                  "\"lease\":\"4111120190390944530\"}},"
                  "{\"type\":\"DELETE\",\"kv\":{\"key\":\"L3NsdWljZS9s\","
                  "\"mod_revision\":\"7\"},\"prev_kv\":{\"key\":"
                  "\"L3NsdWljZS9s\","
                  "\"create_revision\":\"6\",\"mod_revision\":\"6\","
                  "\"version\":\"1\","
                  "\"value\":\"eA==\",\"lease\":\"4111120190390944530\"}}]}}\n"
                  "{\"result\":{" HDR(
                      "8") ",\"events\":[{\"kv\":{\"key\":"
                           "\"L3NsdWljZS93\",\"create_revision\":\"8\",\"mod_"
                           "revision\":\"8\","
                           "\"version\":\"1\",\"value\":\"MQ==\"}}]}}\n"
                           "{\"result\":{" HDR(
                               "10") "}}\n"
                                     "{\"result\":{\"header\":{\"revision\":"
                                     "11},\"events\":[{\"type\":1,"
                                     "\"kv\":{\"key\":\"L3NsdWljZS93\",\"mod_"
                                     "revision\":11}}]}}"
                                     "  "
                                     "{\"result\":{\"header\":{\"cluster_id\":"
                                     "\"15118495548433857066\","
                                     "\"member_id\":\"13668033151171901709\","
                                     "\"raft_term\":\"2\"},"
                                     "\"canceled\":true,\"compact_revision\":"
                                     "\"8\",\"cancel_reason\":"
                                     "\"odd \\\"}{[\\\\\"}}\r\n"
                                     "{\"error\":{\"grpc_code\":14,\"http_"
                                     "code\":503,\"message\":"
                                     "\"transport is "
                                     "closing\",\"http_status\":\"Service "
                                     "Unavailable\"}}";

/* What watch_stream must parse into, one line per message. */
static const char watch_expected[]
    = "created rev=7\n"
      "events rev=7: PUT a=v1 c2 m2 v1 | PUT b=x c3 m3 v1 | "
      "DELETE b= c0 m4 v0 prev=x | PUT a=v2 c2 m5 v2 prev=v1 | "
      "PUT l=x c6 m6 v1 lease=4111120190390944530 | "
      "DELETE l= c0 m7 v0 prev=x\n"
      "events rev=8: PUT w=1 c8 m8 v1\n"
      "progress rev=10\n"
      "events rev=11: DELETE w= c0 m11 v0\n"
      "canceled rev=0 compact=8 reason=odd \"}{[\\\n"
      "error code=14 transport is closing\n";

static void append_str(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
append_str(char **out, const char *fmt, ...)
{
    va_list args;
    char *add;
    va_start(args, fmt);
    ck_assert_int_ge(vasprintf(&add, fmt, args), 0);
    va_end(args);
    size_t old = *out ? strlen(*out) : 0;
    *out = realloc(*out, old + strlen(add) + 1);
    ck_assert_ptr_nonnull(*out);
    strcpy(*out + old, add);
    free(add);
}

static void
describe_response(char **out, const struct etcd_watch_response *r)
{
    if (r->is_error) {
        append_str(out, "error code=%d %s\n", r->error_code, r->error_message);
    } else if (r->created) {
        append_str(out, "created rev=%" PRId64 "\n", r->revision);
    } else if (r->canceled) {
        append_str(out,
                   "canceled rev=%" PRId64 " compact=%" PRId64 " reason=%s\n",
                   r->revision, r->compact_revision,
                   r->cancel_reason ? r->cancel_reason : "");
    } else if (!r->n_events) {
        append_str(out, "progress rev=%" PRId64 "\n", r->revision);
    } else {
        append_str(out, "events rev=%" PRId64 ":", r->revision);
        for (size_t i = 0; i < r->n_events; i++) {
            const struct etcd_event *e = &r->events[i];
            append_str(out, "%s %s %s=%s c%" PRId64 " m%" PRId64 " v%" PRId64,
                       i ? " |" : "",
                       e->type == ETCD_EVENT_PUT ? "PUT" : "DELETE", e->kv.key,
                       e->kv.value, e->kv.create_revision, e->kv.mod_revision,
                       e->kv.version);
            if (e->kv.lease) {
                append_str(out, " lease=%" PRId64, e->kv.lease);
            }
            if (e->prev_kv) {
                append_str(out, " prev=%s", e->prev_kv->value);
            }
        }
        append_str(out, "\n");
    }
}

/* Feeds 'text' to a new stream in chunks of the sizes that 'next_chunk'
 * gives and returns the description of all the messages. */
static char *
parse_stream(const char *text, size_t len, size_t (*next_chunk)(size_t *),
             size_t *state)
{
    struct etcd_stream *s = etcd_stream_create(ETCD_MAX_MESSAGE);
    char *out = NULL;
    append_str(&out, "%s", "");
    size_t pos = 0;
    while (pos < len) {
        size_t n = next_chunk(state);
        if (n > len - pos) {
            n = len - pos;
        }
        ck_assert_int_eq(etcd_stream_feed(s, text + pos, n), 0);
        pos += n;
        const char *value;
        size_t vlen;
        int error;
        while (!(error = etcd_stream_next(s, &value, &vlen))) {
            struct etcd_watch_response *r;
            char *msg = NULL;
            ck_assert_msg(
                !etcd_parse_watch_response(value, vlen, "/sluice/", &r, &msg),
                "%s", msg);
            describe_response(&out, r);
            etcd_watch_response_destroy(r);
        }
        ck_assert_int_eq(error, EAGAIN);
    }
    etcd_stream_destroy(s);
    return out;
}

static size_t split_at; /* First chunk size for chunk_split(). */

static size_t
chunk_split(size_t *state)
{
    return (*state)++ ? SIZE_MAX : split_at;
}

static size_t
chunk_one(size_t *state)
{
    (void)state;
    return 1;
}

static size_t
chunk_random(size_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return 1 + (*state >> 33) % 97;
}

START_TEST(test_watch_stream_splits)
{
    size_t len = strlen(watch_stream);
    size_t state;

    /* Two chunks, split at every byte boundary. */
    for (split_at = 0; split_at <= len; split_at++) {
        state = 0;
        char *out = parse_stream(watch_stream, len, chunk_split, &state);
        ck_assert_msg(!strcmp(out, watch_expected), "split at %zu: got\n%s",
                      split_at, out);
        free(out);
    }

    /* One byte at a time. */
    char *out = parse_stream(watch_stream, len, chunk_one, &state);
    ck_assert_str_eq(out, watch_expected);
    free(out);

    /* Random chunks. */
    for (size_t seed = 1; seed <= 50; seed++) {
        state = seed;
        out = parse_stream(watch_stream, len, chunk_random, &state);
        ck_assert_str_eq(out, watch_expected);
        free(out);
    }
}
END_TEST

START_TEST(test_watch_stream_errors)
{
    const char *value;
    size_t len;

    /* Not a sequence of objects: a plain-text HTTP error. */
    struct etcd_stream *s = etcd_stream_create(1000);
    ck_assert_int_eq(etcd_stream_feed(s, "404 page not found", 18), 0);
    ck_assert_int_eq(etcd_stream_next(s, &value, &len), EPROTO);
    ck_assert_int_eq(etcd_stream_next(s, &value, &len), EPROTO);
    etcd_stream_reset(s);
    ck_assert_int_eq(etcd_stream_feed(s, " {\"a\":1}", 8), 0);
    ck_assert_int_eq(etcd_stream_next(s, &value, &len), 0);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(value, "{\"a\":1}", 7);
    ck_assert_int_eq(etcd_stream_next(s, &value, &len), EAGAIN);
    etcd_stream_destroy(s);

    /* The limit applies to unfinished input only. */
    s = etcd_stream_create(10);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(etcd_stream_feed(s, "{\"a\":1}\n", 8), 0);
        ck_assert_int_eq(etcd_stream_next(s, &value, &len), 0);
        ck_assert_int_eq(etcd_stream_next(s, &value, &len), EAGAIN);
    }
    ck_assert_int_eq(etcd_stream_feed(s, "{\"abc\":", 7), 0);
    ck_assert_int_eq(etcd_stream_next(s, &value, &len), EAGAIN);
    ck_assert_int_eq(etcd_stream_feed(s, "\"defg\"}", 7), EMSGSIZE);
    etcd_stream_destroy(s);

    /* Messages that are objects but not watch responses. */
    static const char *const bad[] = {
        "{\"foo\":1}",
        "{\"result\":[]}",
        "{\"result\":{\"events\":{}}}",
        "{\"result\":{\"events\":[{\"type\":\"EXPIRE\",\"kv\":{\"key\":"
        "\"L3NsdWljZS9h\"}}]}}",
        "{\"result\":{\"events\":[{\"kv\":{\"key\":\"bad\"}}]}}",
        "{\"result\":{\"events\":[{\"kv\":{\"key\":\"L3NsdWljZS9h\"},"
        "\"prev_kv\":{\"key\":\"L290aGVy\"}}]}}",
        "{\"result\":{\"created\":\"true\"}}",
        "{\"result\":{\"compact_revision\":\"eight\"}}",
        "{\"result\":{\"header\":{\"revision\":\"8\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct etcd_watch_response *r = (struct etcd_watch_response *)1;
        char *msg = NULL;
        ck_assert_msg(etcd_parse_watch_response(bad[i], strlen(bad[i]),
                                                "/sluice/", &r, &msg)
                          == EPROTO,
                      "accepted %s", bad[i]);
        ck_assert_ptr_null(r);
        ck_assert_ptr_nonnull(msg);
        free(msg);
    }
}
END_TEST

/* Real etcd servers. */

static char test_base[64]; /* /tmp/sluicetest-etcd-PID */
static bool have_etcd;     /* etcd and etcdctl are installed. */

struct server {
    char name[16];
    char dir[128]; /* test_base-NAME */
    char url[64];  /* Client URL. */
    char peer_url[64];
    bool tls; /* https with client certificates. */
    pid_t pid;
};

static struct server main_server;

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static void
path_in(const struct server *s, const char *file, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", s->dir, file);
    ck_assert(n > 0 && (size_t)n < size);
}

static int run_shell(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
run_shell(const char *fmt, ...)
{
    char cmd[2048];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, args);
    va_end(args);
    ck_assert(n > 0 && (size_t)n < sizeof cmd);
    int status = system(cmd);
    return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

/* Makes a CA, a server certificate for 127.0.0.1 and a client certificate
 * in the directory of 's'. */
static void
make_certs(const struct server *s)
{
    ck_assert_int_eq(
        run_shell(
            "cd %s && exec >certs.log 2>&1 && "
            "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
            "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 "
            "-subj /CN=sluicetest-ca && "
            "openssl req $K -keyout server.key -out server.csr "
            "-subj /CN=127.0.0.1 && "
            "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage="
            "serverAuth,clientAuth\\n' >server.ext && "
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
            "-CAcreateserial -out server.pem -days 2 -extfile server.ext && "
            "openssl req $K -keyout client.key -out client.csr "
            "-subj /CN=sluicetest-client && "
            "printf 'extendedKeyUsage=clientAuth\\n' >client.ext && "
            "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
            "-CAcreateserial -out client.pem -days 2 -extfile client.ext",
            s->dir),
        0);
}

/* Returns true if GET /health of 's' answers {"health":"true"}. */
static bool
server_healthy(const struct server *s)
{
    char url[96], ca[160], cert[160], key[160];
    int n = snprintf(url, sizeof url, "%s/health", s->url);
    ck_assert(n > 0 && (size_t)n < sizeof url);
    char body[256] = "";
    CURL *e = curl_easy_init();
    ck_assert_ptr_nonnull(e);
    FILE *f = fmemopen(body, sizeof body - 1, "w");
    ck_assert_ptr_nonnull(f);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (s->tls) {
        path_in(s, "ca.pem", ca, sizeof ca);
        path_in(s, "client.pem", cert, sizeof cert);
        path_in(s, "client.key", key, sizeof key);
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
        curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(e, CURLOPT_SSLKEY, key);
    }
    CURLcode rc = curl_easy_perform(e);
    fclose(f);
    curl_easy_cleanup(e);
    return rc == CURLE_OK && strstr(body, "\"health\":\"true\"");
}

/* Starts etcd for 's' (directory, ports and URLs already set up) and waits
 * until it is healthy.  Its PID goes to 's->pid' and the pidfile. */
static void
server_start(struct server *s)
{
    char data[160], log[160], pidfile[160];
    path_in(s, "data", data, sizeof data);
    path_in(s, "etcd.log", log, sizeof log);
    path_in(s, "pid", pidfile, sizeof pidfile);
    char ca[160], cert[160], key[160];
    path_in(s, "ca.pem", ca, sizeof ca);
    path_in(s, "server.pem", cert, sizeof cert);
    path_in(s, "server.key", key, sizeof key);
    char cluster[128];
    int n = snprintf(cluster, sizeof cluster, "%s=%s", s->name, s->peer_url);
    ck_assert(n > 0 && (size_t)n < sizeof cluster);

    const char *argv[32];
    int argc = 0;
    argv[argc++] = "etcd";
    argv[argc++] = "--name";
    argv[argc++] = s->name;
    argv[argc++] = "--data-dir";
    argv[argc++] = data;
    argv[argc++] = "--listen-client-urls";
    argv[argc++] = s->url;
    argv[argc++] = "--advertise-client-urls";
    argv[argc++] = s->url;
    argv[argc++] = "--listen-peer-urls";
    argv[argc++] = s->peer_url;
    argv[argc++] = "--initial-advertise-peer-urls";
    argv[argc++] = s->peer_url;
    argv[argc++] = "--initial-cluster";
    argv[argc++] = cluster;
    argv[argc++] = "--logger=zap";
    argv[argc++] = "--log-outputs=stderr";
    argv[argc++] = "--log-level=error";
    /* Progress notifications every second, to test them. */
    argv[argc++] = "--experimental-watch-progress-notify-interval=1s";
    if (s->tls) {
        argv[argc++] = "--cert-file";
        argv[argc++] = cert;
        argv[argc++] = "--key-file";
        argv[argc++] = key;
        argv[argc++] = "--trusted-ca-file";
        argv[argc++] = ca;
        argv[argc++] = "--client-cert-auth";
    }
    argv[argc] = NULL;

    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (!pid) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
            _exit(126);
        }
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0) {
            _exit(126);
        }
        for (int i = 3; i < 1024; i++) {
            close(i);
        }
        execvp("etcd", (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    FILE *f = fopen(pidfile, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)pid);
    ck_assert_int_eq(fclose(f), 0);

    for (int i = 0; i < 200; i++) {
        if (server_healthy(s)) {
            return;
        }
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                      "etcd %s exited; see %s", s->name, log);
        usleep(100 * 1000);
    }
    ck_abort_msg("etcd %s did not become healthy; see %s", s->name, log);
}

/* Sets up 's' named 'name' with fresh ports and directory and starts it. */
static void
server_create(struct server *s, const char *name, bool tls)
{
    memset(s, 0, sizeof *s);
    int n = snprintf(s->name, sizeof s->name, "%s", name);
    ck_assert(n > 0 && (size_t)n < sizeof s->name);
    n = snprintf(s->dir, sizeof s->dir, "%s-%s", test_base, name);
    ck_assert(n > 0 && (size_t)n < sizeof s->dir);
    ck_assert_int_eq(mkdir(s->dir, 0700), 0);
    s->tls = tls;
    n = snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d",
                 tls ? "https" : "http", free_port());
    ck_assert(n > 0 && (size_t)n < sizeof s->url);
    n = snprintf(s->peer_url, sizeof s->peer_url, "http://127.0.0.1:%d",
                 free_port());
    ck_assert(n > 0 && (size_t)n < sizeof s->peer_url);
    if (tls) {
        make_certs(s);
    }
    server_start(s);
}

/* Stops the etcd of 's', which this process started, and waits for it. */
static void
server_stop(struct server *s)
{
    ck_assert_int_gt(s->pid, 0);
    ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
    for (int i = 0; i < 100; i++) {
        int status;
        pid_t p = waitpid(s->pid, &status, WNOHANG);
        if (p == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(100 * 1000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* Stops whatever etcd the pidfile in 'dir' names, if it still runs with
 * 'dir' on its command line (another process may have started it, or it
 * may have been left behind by a failed test), then removes 'dir'. */
static void
server_cleanup(const char *dir)
{
    char path[192];
    int n = snprintf(path, sizeof path, "%s/pid", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        return;
    }
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    if (pid > 0) {
        char cmdline[4096] = "";
        n = snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        f = n > 0 && (size_t)n < sizeof path ? fopen(path, "r") : NULL;
        if (f) {
            size_t len = fread(cmdline, 1, sizeof cmdline - 1, f);
            fclose(f);
            for (size_t i = 0; i < len; i++) {
                cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
            }
            cmdline[len] = '\0';
        }
        if (strstr(cmdline, dir)) {
            kill(pid, SIGTERM);
            for (int i = 0; i < 100 && !kill(pid, 0); i++) {
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                    break;
                }
                usleep(100 * 1000);
            }
            if (!kill(pid, 0) && waitpid(pid, NULL, WNOHANG) != pid) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, WNOHANG);
            }
        }
    }
    struct stat st;
    if (!stat(dir, &st)) {
        char cmd[256];
        n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (n > 0 && (size_t)n < sizeof cmd && system(cmd)) {
            fprintf(stderr, "could not remove %s\n", dir);
        }
    }
}

/* Event loop helpers: each test runs its clients on its own loop. */

static uv_loop_t loop;
static uv_timer_t tick; /* Keeps uv_run() from blocking for long. */

static void
tick_cb(uv_timer_t *timer)
{
    (void)timer;
}

static void
loop_start(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(uv_timer_init(&loop, &tick), 0);
    ck_assert_int_eq(uv_timer_start(&tick, tick_cb, 10, 10), 0);
}

/* Runs the loop until '*flag' or for 'ms' milliseconds.  Returns '*flag'. */
static bool
run_until(const bool *flag, unsigned ms)
{
    uv_update_time(&loop);
    uint64_t deadline = uv_now(&loop) + ms;
    while (!*flag && uv_now(&loop) < deadline) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return *flag;
}

static void
run_for(unsigned ms)
{
    bool never = false;
    run_until(&never, ms);
}

/* Closes the loop after everything on it was destroyed: all handles must
 * be closed by then. */
static void
loop_finish(void)
{
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static struct etcd_client *
client_for(const char *url, const char *prefix)
{
    const char *endpoints[] = {url, NULL};
    struct etcd_client_options opts = {
        .endpoints = endpoints,
        .prefix = prefix,
        .timeout_ms = 3000,
    };
    struct etcd_client *c;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), 0);
    return c;
}

/* Synchronous wrappers. */

struct kv_copy {
    char key[128];
    char value[256];
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
};

struct sync {
    bool done;
    int error;
    char msg[512];
    int64_t revision, count, id, ttl;
    bool succeeded;
    size_t n_kvs;
    struct kv_copy kvs[32];
    size_t n_responses;
    enum etcd_op_type resp_type[4];
    size_t resp_n_kvs[4];
    struct kv_copy resp_kv[4]; /* First pair of each response. */
};

static void
copy_kv(struct kv_copy *dst, const struct etcd_kv *src)
{
    ck_assert_uint_lt(src->key_len, sizeof dst->key);
    ck_assert_uint_lt(src->value_len, sizeof dst->value);
    memcpy(dst->key, src->key, src->key_len + 1);
    memcpy(dst->value, src->value, src->value_len + 1);
    dst->value_len = src->value_len;
    dst->create_revision = src->create_revision;
    dst->mod_revision = src->mod_revision;
    dst->version = src->version;
    dst->lease = src->lease;
}

static void
set_msg(struct sync *s, const char *msg)
{
    if (msg) {
        int n = snprintf(s->msg, sizeof s->msg, "%s", msg);
        ck_assert(n >= 0 && (size_t)n < sizeof s->msg);
    }
}

static void
result_cb(void *s_, int error, const struct etcd_result *r, const char *msg)
{
    struct sync *s = s_;
    ck_assert(!s->done);
    s->done = true;
    s->error = error;
    set_msg(s, msg);
    ck_assert(error ? !r && msg : r && !msg);
    if (!r) {
        return;
    }
    s->revision = r->revision;
    s->count = r->count;
    s->succeeded = r->succeeded;
    ck_assert_uint_le(r->n_kvs, 32);
    s->n_kvs = r->n_kvs;
    for (size_t i = 0; i < r->n_kvs; i++) {
        copy_kv(&s->kvs[i], &r->kvs[i]);
    }
    ck_assert_uint_le(r->n_responses, 4);
    s->n_responses = r->n_responses;
    for (size_t i = 0; i < r->n_responses; i++) {
        s->resp_type[i] = r->responses[i].type;
        s->resp_n_kvs[i] = r->responses[i].n_kvs;
        if (r->responses[i].n_kvs) {
            copy_kv(&s->resp_kv[i], &r->responses[i].kvs[0]);
        }
    }
}

static void
lease_cb(void *s_, int error, int64_t id, int64_t ttl, const char *msg)
{
    struct sync *s = s_;
    ck_assert(!s->done);
    s->done = true;
    s->error = error;
    s->id = id;
    s->ttl = ttl;
    set_msg(s, msg);
}

static void
done_cb(void *s_, int error, const char *msg)
{
    struct sync *s = s_;
    ck_assert(!s->done);
    s->done = true;
    s->error = error;
    set_msg(s, msg);
}

static void
wait_sync(struct sync *s)
{
    /* Never from inside the call that registered it. */
    ck_assert(!s->done);
    ck_assert_msg(run_until(&s->done, 15000), "no reply");
}

static int
do_put(struct etcd_client *c, const char *key, const char *value,
       int64_t lease, unsigned flags, struct sync *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(
        etcd_put(c, key, value, strlen(value), lease, flags, result_cb, s), 0);
    wait_sync(s);
    return s->error;
}

static int
do_range(struct etcd_client *c, const char *key, unsigned flags,
         struct sync *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(etcd_range(c, key, flags, result_cb, s), 0);
    wait_sync(s);
    return s->error;
}

static int
do_delete(struct etcd_client *c, const char *key, unsigned flags,
          struct sync *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(etcd_delete(c, key, flags, result_cb, s), 0);
    wait_sync(s);
    return s->error;
}

static int
do_grant(struct etcd_client *c, int64_t ttl, struct sync *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(etcd_lease_grant(c, ttl, lease_cb, s), 0);
    wait_sync(s);
    return s->error;
}

static int
do_revoke(struct etcd_client *c, int64_t id, struct sync *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(etcd_lease_revoke(c, id, done_cb, s), 0);
    wait_sync(s);
    return s->error;
}

/* Returns the number of keys under 'key' (a prefix). */
static int64_t
count_keys(struct etcd_client *c, const char *key)
{
    struct sync s;
    ck_assert_int_eq(do_range(c, key, ETCD_PREFIX | ETCD_COUNT_ONLY, &s), 0);
    return s.count;
}

/* Integration tests. */

START_TEST(test_kv)
{
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/kv/");
    struct sync s;

    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    ck_assert_int_eq(do_put(c, "nodes/n1", "10.0.0.1", 0, 0, &s), 0);
    int64_t rev1 = s.revision;
    ck_assert_int_gt(rev1, 0);
    ck_assert_uint_eq(s.n_kvs, 0);
    ck_assert_int_eq(do_put(c, "nodes/n2", "10.0.0.2", 0, 0, &s), 0);
    ck_assert_int_eq(s.revision, rev1 + 1);
    ck_assert_int_eq(do_put(c, "pools/p", "{\"a\":1}", 0, 0, &s), 0);

    /* One key. */
    ck_assert_int_eq(do_range(c, "nodes/n1", 0, &s), 0);
    ck_assert_uint_eq(s.n_kvs, 1);
    ck_assert_str_eq(s.kvs[0].key, "nodes/n1");
    ck_assert_str_eq(s.kvs[0].value, "10.0.0.1");
    ck_assert_int_eq(s.kvs[0].create_revision, rev1);
    ck_assert_int_eq(s.kvs[0].mod_revision, rev1);
    ck_assert_int_eq(s.kvs[0].version, 1);
    ck_assert_int_eq(s.revision, rev1 + 2);

    /* "nodes/n" is not a key: no prefix match without ETCD_PREFIX. */
    ck_assert_int_eq(do_range(c, "nodes/n", 0, &s), 0);
    ck_assert_uint_eq(s.n_kvs, 0);
    ck_assert_int_eq(s.count, 0);

    /* A prefix, in key order; keys only; count only. */
    ck_assert_int_eq(do_range(c, "nodes/", ETCD_PREFIX, &s), 0);
    ck_assert_uint_eq(s.n_kvs, 2);
    ck_assert_int_eq(s.count, 2);
    ck_assert_str_eq(s.kvs[0].key, "nodes/n1");
    ck_assert_str_eq(s.kvs[1].key, "nodes/n2");
    ck_assert_str_eq(s.kvs[1].value, "10.0.0.2");
    ck_assert_int_eq(do_range(c, "", ETCD_PREFIX | ETCD_KEYS_ONLY, &s), 0);
    ck_assert_uint_eq(s.n_kvs, 3);
    ck_assert_str_eq(s.kvs[2].key, "pools/p");
    ck_assert_str_eq(s.kvs[2].value, "");
    ck_assert_int_eq(count_keys(c, ""), 3);

    /* Overwrite with the previous pair; binary values. */
    ck_assert_int_eq(do_put(c, "nodes/n1", "10.0.0.9", 0, ETCD_PREV_KV, &s),
                     0);
    ck_assert_uint_eq(s.n_kvs, 1);
    ck_assert_str_eq(s.kvs[0].value, "10.0.0.1");
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_put(c, "bin", "\0\xff\n", 3, 0, 0, result_cb, &s),
                     0);
    wait_sync(&s);
    ck_assert_int_eq(s.error, 0);
    ck_assert_int_eq(do_range(c, "bin", 0, &s), 0);
    ck_assert_uint_eq(s.kvs[0].value_len, 3);
    ck_assert_mem_eq(s.kvs[0].value, "\0\xff\n", 3);

    /* The prefix really is on the wire: another client sees full keys. */
    struct etcd_client *raw = client_for(main_server.url, NULL);
    ck_assert_int_eq(do_range(raw, "/sluicetest/kv/nodes/n1", 0, &s), 0);
    ck_assert_str_eq(s.kvs[0].key, "/sluicetest/kv/nodes/n1");
    ck_assert_str_eq(s.kvs[0].value, "10.0.0.9");
    ck_assert_int_eq(s.kvs[0].version, 2);
    etcd_client_destroy(raw);

    /* Deletions. */
    ck_assert_int_eq(do_delete(c, "nodes/n1", ETCD_PREV_KV, &s), 0);
    ck_assert_int_eq(s.count, 1);
    ck_assert_str_eq(s.kvs[0].value, "10.0.0.9");
    ck_assert_int_eq(do_delete(c, "nodes/n1", 0, &s), 0);
    ck_assert_int_eq(s.count, 0);
    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    ck_assert_int_eq(s.count, 3);
    ck_assert_int_eq(count_keys(c, ""), 0);

    /* Bad arguments fail at once. */
    ck_assert_int_eq(etcd_range(c, NULL, 0, result_cb, &s), EINVAL);
    ck_assert_int_eq(etcd_range(c, "x", ETCD_PREV_KV, result_cb, &s), EINVAL);
    ck_assert_int_eq(etcd_put(c, "x", NULL, 1, 0, 0, result_cb, &s), EINVAL);
    ck_assert_int_eq(etcd_delete(c, "x", ETCD_KEYS_ONLY, result_cb, &s),
                     EINVAL);

    etcd_client_destroy(c);
    loop_finish();
}
END_TEST

START_TEST(test_errors)
{
    loop_start();
    struct sync s;
    char url[64], expect[256];
    int port = free_port(); /* Nobody listens there. */
    int n = snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    ck_assert(n > 0 && (size_t)n < sizeof url);

    /* Connection refused, with context. */
    struct etcd_client *dead = client_for(url, "/sluicetest/err/");
    ck_assert_int_eq(do_put(dead, "nodes/n1", "x", 0, 0, &s), ECONNREFUSED);
    n = snprintf(expect, sizeof expect,
                 "etcd %s: put /sluicetest/err/nodes/n1: Connection refused",
                 url);
    ck_assert(n > 0 && (size_t)n < sizeof expect);
    ck_assert_str_eq(s.msg, expect);
    ck_assert_int_eq(do_range(dead, "x/", ETCD_PREFIX, &s), ECONNREFUSED);
    ck_assert_msg(strstr(s.msg, ": range /sluicetest/err/x/ (prefix): "), "%s",
                  s.msg);
    etcd_client_destroy(dead);

    /* Failover: the dead endpoint first, then the live one. */
    const char *endpoints[] = {url, main_server.url, NULL};
    struct etcd_client_options opts = {
        .endpoints = endpoints,
        .prefix = "/sluicetest/err/",
    };
    struct etcd_client *c;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), 0);
    ck_assert_int_eq(do_put(c, "a", "1", 0, 0, &s), 0);
    ck_assert_int_eq(do_range(c, "a", 0, &s), 0);
    ck_assert_str_eq(s.kvs[0].value, "1");

    /* etcd's own errors: code and message surfaced. */
    ck_assert_int_eq(do_put(c, "a", "1", 12345, 0, &s), ENOENT);
    n = snprintf(expect, sizeof expect,
                 "etcd %s: put /sluicetest/err/a: etcdserver: requested "
                 "lease not found (code 5)",
                 main_server.url);
    ck_assert(n > 0 && (size_t)n < sizeof expect);
    ck_assert_str_eq(s.msg, expect);
    ck_assert_int_eq(do_revoke(c, 12345, &s), ENOENT);
    ck_assert_msg(strstr(s.msg, "lease revoke 12345: etcdserver: requested "
                                "lease not found (code 5)"),
                  "%s", s.msg);
    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    etcd_client_destroy(c);

    /* A server that is not etcd's gateway: plain-text 404. */
    n = snprintf(url, sizeof url, "%s/nope", main_server.url);
    ck_assert(n > 0 && (size_t)n < sizeof url);
    c = client_for(url, "/sluicetest/err/");
    ck_assert_int_eq(do_range(c, "a", 0, &s), EIO);
    ck_assert_msg(strstr(s.msg, "HTTP status 404: 404 page not found"), "%s",
                  s.msg);
    etcd_client_destroy(c);

    /* Bad options. */
    const char *bad_eps[] = {"127.0.0.1:2379", NULL};
    opts.endpoints = bad_eps;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), EINVAL);
    const char *no_eps[] = {NULL};
    opts.endpoints = no_eps;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), EINVAL);

    loop_finish();
}
END_TEST

START_TEST(test_txn)
{
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/txn/");
    struct sync s;
    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);

    /* Create if absent. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(
        etcd_create(c, "subnets/10.1.0.0", "n1", 2, 0, result_cb, &s), 0);
    wait_sync(&s);
    ck_assert_int_eq(s.error, 0);
    ck_assert(s.succeeded);
    ck_assert_uint_eq(s.n_responses, 1);
    ck_assert_int_eq(s.resp_type[0], ETCD_OP_PUT);
    int64_t created = s.revision;

    memset(&s, 0, sizeof s);
    ck_assert_int_eq(
        etcd_create(c, "subnets/10.1.0.0", "n2", 2, 0, result_cb, &s), 0);
    wait_sync(&s);
    ck_assert_int_eq(s.error, 0);
    ck_assert(!s.succeeded);
    ck_assert_int_eq(s.resp_type[0], ETCD_OP_RANGE);
    ck_assert_uint_eq(s.resp_n_kvs[0], 1);
    ck_assert_str_eq(s.resp_kv[0].key, "subnets/10.1.0.0");
    ck_assert_str_eq(s.resp_kv[0].value, "n1");
    ck_assert_int_eq(s.resp_kv[0].mod_revision, created);

    /* Update if unchanged. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_update_if(c, "subnets/10.1.0.0", "n3", 2, 0, created,
                                    result_cb, &s),
                     0);
    wait_sync(&s);
    ck_assert(s.succeeded);
    int64_t updated = s.revision;
    ck_assert_int_gt(updated, created);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_update_if(c, "subnets/10.1.0.0", "n4", 2, 0, created,
                                    result_cb, &s),
                     0);
    wait_sync(&s);
    ck_assert(!s.succeeded);
    ck_assert_str_eq(s.resp_kv[0].value, "n3");
    ck_assert_int_eq(s.resp_kv[0].mod_revision, updated);

    /* Delete if the value matches. */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(
        etcd_delete_if_value(c, "subnets/10.1.0.0", "n1", 2, result_cb, &s),
        0);
    wait_sync(&s);
    ck_assert(!s.succeeded);
    ck_assert_str_eq(s.resp_kv[0].value, "n3");
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(
        etcd_delete_if_value(c, "subnets/10.1.0.0", "n3", 2, result_cb, &s),
        0);
    wait_sync(&s);
    ck_assert(s.succeeded);
    ck_assert_int_eq(s.resp_type[0], ETCD_OP_DELETE);
    ck_assert_int_eq(count_keys(c, "subnets/"), 0);

    /* A generic transaction: two puts atomically, only if "gate" exists
     * with version 1; the failure branch reads the prefix. */
    struct etcd_txn *txn = etcd_txn_create(c);
    etcd_txn_compare(txn, "gate", ETCD_CMP_VERSION, ETCD_CMP_EQUAL, 1);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, "x", "1", 1, 0, 0);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, "y", "2", 1, 0, 0);
    etcd_txn_range(txn, ETCD_TXN_FAILURE, "", ETCD_PREFIX);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_txn_commit(c, txn, result_cb, &s), 0);
    wait_sync(&s);
    ck_assert_int_eq(s.error, 0);
    ck_assert(!s.succeeded);
    ck_assert_uint_eq(s.resp_n_kvs[0], 0);

    ck_assert_int_eq(do_put(c, "gate", "open", 0, 0, &s), 0);
    txn = etcd_txn_create(c);
    etcd_txn_compare(txn, "gate", ETCD_CMP_VERSION, ETCD_CMP_EQUAL, 1);
    etcd_txn_compare_value(txn, "gate", ETCD_CMP_NOT_EQUAL, "shut", 4);
    etcd_txn_compare(txn, "gate", ETCD_CMP_LEASE, ETCD_CMP_EQUAL, 0);
    etcd_txn_compare(txn, "gate", ETCD_CMP_MOD, ETCD_CMP_GREATER, 1);
    etcd_txn_compare(txn, "gate", ETCD_CMP_CREATE, ETCD_CMP_LESS, INT64_MAX);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, "x", "1", 1, 0, 0);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, "y", "2", 1, 0, 0);
    etcd_txn_delete(txn, ETCD_TXN_SUCCESS, "gate", ETCD_PREV_KV);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_txn_commit(c, txn, result_cb, &s), 0);
    wait_sync(&s);
    ck_assert_msg(!s.error, "%s", s.msg);
    ck_assert(s.succeeded);
    ck_assert_uint_eq(s.n_responses, 3);
    ck_assert_int_eq(s.resp_type[2], ETCD_OP_DELETE);
    ck_assert_str_eq(s.resp_kv[2].value, "open");
    ck_assert_int_eq(do_range(c, "", ETCD_PREFIX, &s), 0);
    ck_assert_uint_eq(s.n_kvs, 2);
    ck_assert_int_eq(s.kvs[0].mod_revision, s.kvs[1].mod_revision);

    /* A transaction with a bad argument is refused and consumed. */
    txn = etcd_txn_create(c);
    etcd_txn_compare(txn, "gate", ETCD_CMP_VALUE, ETCD_CMP_EQUAL, 1);
    ck_assert_int_eq(etcd_txn_commit(c, txn, result_cb, &s), EINVAL);

    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    etcd_client_destroy(c);
    loop_finish();
}
END_TEST

START_TEST(test_txn_race)
{
    /* Several clients (separate connections) create the same key at the
     * same time: exactly one wins, the others see the winner's value. */
    enum { N = 6 };
    loop_start();
    struct etcd_client *c[N];
    struct sync s[N];
    char values[N][16];
    for (int i = 0; i < N; i++) {
        c[i] = client_for(main_server.url, "/sluicetest/race/");
    }
    struct sync d;
    ck_assert_int_eq(do_delete(c[0], "", ETCD_PREFIX, &d), 0);

    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            memset(&s[i], 0, sizeof s[i]);
            int n = snprintf(values[i], sizeof values[i], "n%d", i);
            ck_assert(n > 0 && (size_t)n < sizeof values[i]);
            ck_assert_int_eq(etcd_create(c[i], "egress/192.0.2.7", values[i],
                                         strlen(values[i]), 0, result_cb,
                                         &s[i]),
                             0);
            ck_assert(!s[i].done);
        }
        int winner = -1;
        for (int i = 0; i < N; i++) {
            ck_assert(run_until(&s[i].done, 15000));
            ck_assert_msg(!s[i].error, "%s", s[i].msg);
            if (s[i].succeeded) {
                ck_assert_int_eq(winner, -1);
                winner = i;
            }
        }
        ck_assert_int_ge(winner, 0);
        for (int i = 0; i < N; i++) {
            if (i != winner) {
                ck_assert_str_eq(s[i].resp_kv[0].value, values[winner]);
            }
        }
        ck_assert_int_eq(do_delete(c[0], "", ETCD_PREFIX, &d), 0);
    }
    for (int i = 0; i < N; i++) {
        etcd_client_destroy(c[i]);
    }
    loop_finish();
}
END_TEST

START_TEST(test_lease)
{
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/lease/");
    struct sync s;

    ck_assert_int_eq(do_grant(c, 5, &s), 0);
    int64_t id = s.id;
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(s.ttl, 5);
    ck_assert_int_eq(do_put(c, "nodes/n1", "alive", id, 0, &s), 0);
    ck_assert_int_eq(do_range(c, "nodes/n1", 0, &s), 0);
    ck_assert_int_eq(s.kvs[0].lease, id);

    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_lease_keepalive(c, id, lease_cb, &s), 0);
    wait_sync(&s);
    ck_assert_int_eq(s.error, 0);
    ck_assert_int_eq(s.id, id);
    ck_assert_int_eq(s.ttl, 5);

    /* Revoking deletes the key at once. */
    ck_assert_int_eq(do_revoke(c, id, &s), 0);
    ck_assert_int_eq(count_keys(c, "nodes/"), 0);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_lease_keepalive(c, id, lease_cb, &s), 0);
    wait_sync(&s);
    ck_assert_int_eq(s.error, ENOENT);
    ck_assert_msg(strstr(s.msg, "lease not found"), "%s", s.msg);
    ck_assert_int_eq(do_revoke(c, id, &s), ENOENT);

    ck_assert_int_eq(etcd_lease_grant(c, 0, lease_cb, &s), EINVAL);
    etcd_client_destroy(c);
    loop_finish();
}
END_TEST

struct lost {
    bool done;
    int64_t id;
    int error;
    char msg[256];
    uint64_t when;                  /* uv_now() of the call. */
    struct etcd_lease_keeper *self; /* Destroyed by the callback if set. */
};

static void
lost_cb(void *l_, int64_t id, int error, const char *msg)
{
    struct lost *l = l_;
    ck_assert(!l->done);
    l->done = true;
    l->id = id;
    l->error = error;
    l->when = uv_now(&loop);
    snprintf(l->msg, sizeof l->msg, "%s", msg);
    if (l->self) {
        etcd_lease_keeper_destroy(l->self);
        l->self = NULL;
    }
}

START_TEST(test_lease_keeper)
{
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/keep/");
    struct sync s;

    /* Kept alive well beyond its TTL of 2 s. */
    ck_assert_int_eq(do_grant(c, 2, &s), 0);
    int64_t id = s.id;
    ck_assert_int_eq(do_put(c, "owner", "n1", id, 0, &s), 0);
    struct lost l = {0};
    struct etcd_lease_keeper *k;
    ck_assert_int_eq(etcd_lease_keeper_create(c, id, 2, lost_cb, &l, &k), 0);
    run_for(4500);
    ck_assert(!l.done);
    ck_assert_int_eq(count_keys(c, "owner"), 1);

    /* Once no longer kept alive, the lease expires and the key goes. */
    etcd_lease_keeper_destroy(k);
    uv_update_time(&loop);
    uint64_t start = uv_now(&loop);
    while (count_keys(c, "owner") && uv_now(&loop) - start < 8000) {
        run_for(100);
    }
    ck_assert_int_eq(count_keys(c, "owner"), 0);
    /* Not before the TTL. */
    ck_assert_uint_ge(uv_now(&loop) - start, 1000);

    /* A keeper notices at once that the lease was revoked. */
    ck_assert_int_eq(do_grant(c, 3, &s), 0);
    id = s.id;
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(etcd_lease_keeper_create(c, id, 3, lost_cb, &l, &k), 0);
    run_for(200);
    ck_assert(!l.done);
    ck_assert_int_eq(do_revoke(c, id, &s), 0);
    uv_update_time(&loop);
    start = uv_now(&loop);
    ck_assert(run_until(&l.done, 3000));
    ck_assert_int_eq(l.error, ENOENT);
    ck_assert_int_eq(l.id, id);
    ck_assert_uint_le(l.when - start, 1500);
    ck_assert_msg(strstr(l.msg, "not found"), "%s", l.msg);
    etcd_lease_keeper_destroy(k);

    /* A keeper may be destroyed from its own callback. */
    ck_assert_int_eq(do_grant(c, 3, &s), 0);
    id = s.id;
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(etcd_lease_keeper_create(c, id, 3, lost_cb, &l, &k), 0);
    l.self = k;
    ck_assert_int_eq(do_revoke(c, id, &s), 0);
    ck_assert(run_until(&l.done, 3000));
    ck_assert_ptr_null(l.self);

    /* A keeper that cannot reach etcd gives up after the TTL. */
    char url[64];
    int n = snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
    ck_assert(n > 0 && (size_t)n < sizeof url);
    struct etcd_client *dead = client_for(url, "/sluicetest/keep/");
    memset(&l, 0, sizeof l);
    uv_update_time(&loop);
    start = uv_now(&loop);
    ck_assert_int_eq(etcd_lease_keeper_create(dead, 777, 1, lost_cb, &l, &k),
                     0);
    ck_assert(run_until(&l.done, 5000));
    ck_assert_int_eq(l.error, ETIMEDOUT);
    ck_assert_uint_ge(l.when - start, 900);
    ck_assert_uint_le(l.when - start, 2500);
    etcd_lease_keeper_destroy(k);
    etcd_client_destroy(dead);

    etcd_client_destroy(c);
    loop_finish();
}
END_TEST

/* Watch recording. */

struct rec_event {
    enum etcd_event_type type;
    char key[64];
    char value[64];
    int64_t mod_revision;
    bool has_prev;
    char prev_value[64];
};

struct recorder {
    struct etcd_watch *watch;
    int n_connected, n_disconnected, n_compacted, n_failed;
    int64_t connected_revision, compact_revision;
    int error;
    char msg[512];
    size_t n_events;
    struct rec_event ev[64];
    size_t destroy_after; /* Destroy the watch after this many events. */
    bool flag;            /* Something happened. */
};

static void
rec_events(void *r_, const struct etcd_event *events, size_t n,
           int64_t revision)
{
    struct recorder *r = r_;
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        const struct etcd_event *e = &events[i];
        ck_assert_uint_lt(r->n_events, 64);
        ck_assert_int_le(e->kv.mod_revision, revision);
        if (r->n_events) {
            /* In revision order. */
            ck_assert_int_ge(e->kv.mod_revision,
                             r->ev[r->n_events - 1].mod_revision);
        }
        struct rec_event *re = &r->ev[r->n_events++];
        re->type = e->type;
        snprintf(re->key, sizeof re->key, "%s", e->kv.key);
        snprintf(re->value, sizeof re->value, "%s", e->kv.value);
        re->mod_revision = e->kv.mod_revision;
        re->has_prev = e->prev_kv != NULL;
        if (e->prev_kv) {
            snprintf(re->prev_value, sizeof re->prev_value, "%s",
                     e->prev_kv->value);
        }
    }
    ck_assert_int_eq(etcd_watch_next_revision(r->watch),
                     events[n - 1].kv.mod_revision + 1);
    r->flag = true;
    if (r->destroy_after && r->n_events >= r->destroy_after) {
        etcd_watch_destroy(r->watch);
        r->watch = NULL;
    }
}

static void
rec_connected(void *r_, int64_t revision)
{
    struct recorder *r = r_;
    r->n_connected++;
    r->connected_revision = revision;
    r->flag = true;
}

static void
rec_disconnected(void *r_, int error, const char *msg)
{
    struct recorder *r = r_;
    r->n_disconnected++;
    r->error = error;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    r->flag = true;
}

static void
rec_compacted(void *r_, int64_t compact_revision)
{
    struct recorder *r = r_;
    r->n_compacted++;
    r->compact_revision = compact_revision;
    r->flag = true;
}

static void
rec_failed(void *r_, int error, const char *msg)
{
    struct recorder *r = r_;
    r->n_failed++;
    r->error = error;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    r->flag = true;
}

static const struct etcd_watch_cbs rec_cbs = {
    .events = rec_events,
    .connected = rec_connected,
    .disconnected = rec_disconnected,
    .compacted = rec_compacted,
    .failed = rec_failed,
};

static void
start_watch(struct etcd_client *c, const char *key, unsigned flags,
            int64_t start, struct recorder *r)
{
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(
        etcd_watch_create(c, key, flags, start, &rec_cbs, r, &r->watch), 0);
}

/* Runs the loop until 'r' has 'n' events. */
static void
wait_events(struct recorder *r, size_t n)
{
    uv_update_time(&loop);
    uint64_t deadline = uv_now(&loop) + 15000;
    while (r->n_events < n && uv_now(&loop) < deadline) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(r->n_events, n);
}

static void
check_event(const struct recorder *r, size_t i, enum etcd_event_type type,
            const char *key, const char *value, const char *prev)
{
    ck_assert_uint_lt(i, r->n_events);
    const struct rec_event *e = &r->ev[i];
    ck_assert_int_eq(e->type, type);
    ck_assert_str_eq(e->key, key);
    ck_assert_str_eq(e->value, value);
    if (prev) {
        ck_assert(e->has_prev);
        ck_assert_str_eq(e->prev_value, prev);
    } else {
        ck_assert(!e->has_prev);
    }
}

START_TEST(test_watch)
{
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/w/");
    struct sync s;
    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    ck_assert_int_eq(do_put(c, "pods/old", "0", 0, 0, &s), 0);

    /* The usual pattern: range, then watch from the range's revision. */
    ck_assert_int_eq(do_range(c, "pods/", ETCD_PREFIX, &s), 0);
    int64_t start = s.revision + 1;
    struct recorder r, now, single;
    start_watch(c, "pods/", ETCD_PREFIX | ETCD_PREV_KV, start, &r);
    ck_assert_int_eq(etcd_watch_next_revision(r.watch), start);
    ck_assert(run_until(&r.flag, 5000));
    ck_assert_int_eq(r.n_connected, 1);
    ck_assert_int_eq(r.n_events, 0);

    /* A watch from "now" and one of a single key without prev_kv. */
    start_watch(c, "pods/", ETCD_PREFIX, 0, &now);
    ck_assert_int_eq(etcd_watch_next_revision(now.watch), 0);
    start_watch(c, "pods/a", 0, start, &single);
    ck_assert(run_until(&now.flag, 5000));
    ck_assert_int_eq(etcd_watch_next_revision(now.watch),
                     now.connected_revision + 1);

    ck_assert_int_eq(do_put(c, "pods/a", "1", 0, 0, &s), 0);
    int64_t rev_a1 = s.revision;
    ck_assert_int_eq(do_put(c, "pods/b", "2", 0, 0, &s), 0);
    ck_assert_int_eq(do_put(c, "other", "x", 0, 0, &s), 0);
    ck_assert_int_eq(do_put(c, "pods/a", "3", 0, 0, &s), 0);
    ck_assert_int_eq(do_delete(c, "pods/b", 0, &s), 0);
    struct etcd_txn *txn = etcd_txn_create(c);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, "pods/c", "4", 1, 0, 0);
    etcd_txn_put(txn, ETCD_TXN_SUCCESS, "pods/d", "5", 1, 0, 0);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(etcd_txn_commit(c, txn, result_cb, &s), 0);
    wait_sync(&s);
    int64_t last = s.revision;

    wait_events(&r, 6);
    check_event(&r, 0, ETCD_EVENT_PUT, "pods/a", "1", NULL);
    ck_assert_int_eq(r.ev[0].mod_revision, rev_a1);
    check_event(&r, 1, ETCD_EVENT_PUT, "pods/b", "2", NULL);
    check_event(&r, 2, ETCD_EVENT_PUT, "pods/a", "3", "1");
    check_event(&r, 3, ETCD_EVENT_DELETE, "pods/b", "", "2");
    check_event(&r, 4, ETCD_EVENT_PUT, "pods/c", "4", NULL);
    check_event(&r, 5, ETCD_EVENT_PUT, "pods/d", "5", NULL);
    ck_assert_int_eq(r.ev[4].mod_revision, last);
    ck_assert_int_eq(r.ev[5].mod_revision, last);
    ck_assert_int_eq(etcd_watch_next_revision(r.watch), last + 1);

    wait_events(&now, 6);
    ck_assert(!now.ev[2].has_prev);
    wait_events(&single, 2);
    check_event(&single, 0, ETCD_EVENT_PUT, "pods/a", "1", NULL);
    check_event(&single, 1, ETCD_EVENT_PUT, "pods/a", "3", NULL);

    /* Restarting from a revision replays the same events, and a watch may
     * destroy itself from its callback. */
    struct recorder again;
    start_watch(c, "pods/", ETCD_PREFIX | ETCD_PREV_KV, rev_a1 + 1, &again);
    again.destroy_after = 1;
    wait_events(&again, 5);
    ck_assert_ptr_null(again.watch);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(again.ev[i].key, r.ev[i + 1].key);
        ck_assert_int_eq(again.ev[i].mod_revision, r.ev[i + 1].mod_revision);
    }

    /* Progress notifications (every second on the test servers) move the
     * resume point past revisions that do not concern the watch. */
    ck_assert_int_eq(do_put(c, "other", "y", 0, 0, &s), 0);
    int64_t other = s.revision;
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    while (etcd_watch_next_revision(single.watch) <= other
           && uv_now(&loop) - t0 < 5000) {
        run_for(50);
    }
    ck_assert_int_eq(etcd_watch_next_revision(single.watch), other + 1);
    ck_assert_uint_eq(single.n_events, 2);

    ck_assert_int_eq(r.n_disconnected + r.n_failed + r.n_compacted, 0);
    etcd_watch_destroy(r.watch);
    etcd_watch_destroy(now.watch);
    etcd_watch_destroy(single.watch);
    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    etcd_client_destroy(c);
    loop_finish();
}
END_TEST

START_TEST(test_watch_restart)
{
    /* The watch runs on its own loop, so that it cannot reconnect while
     * the writes it must not miss are made. */
    struct server srv;
    server_create(&srv, "restart", false);

    static uv_loop_t wloop;
    loop_start();
    ck_assert_int_eq(uv_loop_init(&wloop), 0);
    const char *endpoints[] = {srv.url, NULL};
    struct etcd_client_options opts = {
        .endpoints = endpoints,
        .prefix = "/sluicetest/rs/",
        .backoff_min_ms = 50,
        .backoff_max_ms = 200,
    };
    struct etcd_client *wc;
    ck_assert_int_eq(etcd_client_create(&wloop, &opts, &wc), 0);
    struct etcd_client *c = client_for(srv.url, "/sluicetest/rs/");
    struct recorder r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(
        etcd_watch_create(wc, "", ETCD_PREFIX, 0, &rec_cbs, &r, &r.watch), 0);
    while (!r.n_connected) {
        uv_run(&wloop, UV_RUN_ONCE);
    }

    struct sync s;
    ck_assert_int_eq(do_put(c, "k1", "1", 0, 0, &s), 0);
    while (r.n_events < 1) {
        uv_run(&wloop, UV_RUN_ONCE);
    }

    /* etcd goes away: the watch says so. */
    server_stop(&srv);
    while (!r.n_disconnected) {
        uv_run(&wloop, UV_RUN_ONCE);
    }
    ck_assert_msg(strstr(r.msg, srv.url)
                      && strstr(r.msg, "watch "
                                       "/sluicetest/rs/ "
                                       "(prefix)"),
                  "%s", r.msg);
    /* Failed reconnections are not reported again. */
    for (int i = 0; i < 5; i++) {
        uv_run(&wloop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(r.n_disconnected, 1);

    /* It comes back with the same data; k2 and k3 are written before the
     * watch can reconnect, which must resume after k1. */
    server_start(&srv);
    ck_assert_int_eq(do_put(c, "k2", "2", 0, 0, &s), 0);
    ck_assert_int_eq(do_put(c, "k3", "3", 0, 0, &s), 0);
    ck_assert_int_eq(r.n_connected, 1);
    uv_update_time(&wloop);
    uint64_t deadline = uv_now(&wloop) + 15000;
    while (r.n_events < 3 && uv_now(&wloop) < deadline) {
        uv_run(&wloop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(r.n_connected, 2);
    ck_assert_uint_eq(r.n_events, 3);
    ck_assert_int_eq(do_put(c, "k4", "4", 0, 0, &s), 0);
    deadline = uv_now(&wloop) + 15000;
    while (r.n_events < 4 && uv_now(&wloop) < deadline) {
        uv_run(&wloop, UV_RUN_ONCE);
        uv_update_time(&wloop);
    }
    ck_assert_uint_eq(r.n_events, 4);
    for (int i = 0; i < 4; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i + 1);
        ck_assert(n > 0 && (size_t)n < sizeof key);
        ck_assert_str_eq(r.ev[i].key, key);
        if (i) {
            ck_assert_int_eq(r.ev[i].mod_revision,
                             r.ev[i - 1].mod_revision + 1);
        }
    }
    ck_assert_int_eq(r.n_failed + r.n_compacted, 0);

    etcd_watch_destroy(r.watch);
    etcd_client_destroy(wc);
    uv_run(&wloop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&wloop), 0);
    etcd_client_destroy(c);
    loop_finish();
    server_stop(&srv);
}
END_TEST

START_TEST(test_watch_compacted)
{
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/cmp/");
    struct sync s;
    ck_assert_int_eq(do_put(c, "x", "1", 0, 0, &s), 0);
    int64_t old = s.revision;
    ck_assert_int_eq(do_put(c, "x", "2", 0, 0, &s), 0);
    ck_assert_int_eq(do_put(c, "x", "3", 0, 0, &s), 0);
    int64_t compact = s.revision;
    ck_assert_int_eq(run_shell("ETCDCTL_API=3 etcdctl --endpoints=%s "
                               "compact %" PRId64 " >/dev/null",
                               main_server.url, compact),
                     0);

    /* A watch from before the compaction is told so, and stops. */
    struct recorder r;
    start_watch(c, "x", 0, old, &r);
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    while (!r.n_compacted && uv_now(&loop) - t0 < 5000) {
        run_for(20);
    }
    ck_assert_int_eq(r.n_compacted, 1);
    ck_assert_int_eq(r.compact_revision, compact);
    ck_assert_uint_eq(r.n_events, 0);
    run_for(300);
    ck_assert_int_eq(r.n_compacted + r.n_failed + r.n_disconnected, 1);
    etcd_watch_destroy(r.watch);

    /* The owner's recovery: range again, watch from there. */
    ck_assert_int_eq(do_range(c, "x", 0, &s), 0);
    ck_assert_str_eq(s.kvs[0].value, "3");
    start_watch(c, "x", 0, s.revision + 1, &r);
    ck_assert_int_eq(do_put(c, "x", "4", 0, 0, &s), 0);
    wait_events(&r, 1);
    check_event(&r, 0, ETCD_EVENT_PUT, "x", "4", NULL);
    ck_assert_int_eq(r.n_compacted, 0);
    etcd_watch_destroy(r.watch);

    ck_assert_int_eq(do_delete(c, "", ETCD_PREFIX, &s), 0);
    etcd_client_destroy(c);
    loop_finish();
}
END_TEST

START_TEST(test_tls)
{
    struct server srv;
    server_create(&srv, "tls", true);
    loop_start();
    char ca[160], cert[160], key[160];
    path_in(&srv, "ca.pem", ca, sizeof ca);
    path_in(&srv, "client.pem", cert, sizeof cert);
    path_in(&srv, "client.key", key, sizeof key);
    const char *endpoints[] = {srv.url, NULL};
    struct etcd_client_options opts = {
        .endpoints = endpoints,
        .prefix = "/sluicetest/tls/",
        .ca_file = ca,
        .cert_file = cert,
        .key_file = key,
    };
    struct etcd_client *c;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), 0);
    struct sync s;
    ck_assert_int_eq(do_put(c, "a", "secret", 0, 0, &s), 0);
    ck_assert_int_eq(do_range(c, "a", 0, &s), 0);
    ck_assert_str_eq(s.kvs[0].value, "secret");
    struct recorder r;
    start_watch(c, "a", 0, s.revision, &r);
    wait_events(&r, 1);
    check_event(&r, 0, ETCD_EVENT_PUT, "a", "secret", NULL);
    etcd_watch_destroy(r.watch);
    etcd_client_destroy(c);

    /* Without a client certificate etcd refuses us. */
    opts.cert_file = opts.key_file = NULL;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), 0);
    ck_assert_int_ne(do_range(c, "a", 0, &s), 0);
    ck_assert_msg(strstr(s.msg, srv.url) && strstr(s.msg, "range "), "%s",
                  s.msg);
    etcd_client_destroy(c);

    /* Without our CA we refuse etcd. */
    opts.ca_file = NULL;
    opts.cert_file = cert;
    opts.key_file = key;
    ck_assert_int_eq(etcd_client_create(&loop, &opts, &c), 0);
    ck_assert_int_eq(do_range(c, "a", 0, &s), EPROTO);
    etcd_client_destroy(c);

    loop_finish();
    server_stop(&srv);
}
END_TEST

START_TEST(test_destroy_busy)
{
    /* Destroying a client with requests, watches and keepers in flight
     * calls nothing and leaves no handle behind (loop_finish checks). */
    loop_start();
    struct etcd_client *c = client_for(main_server.url, "/sluicetest/busy/");
    struct sync s1, s2;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    ck_assert_int_eq(etcd_put(c, "a", "1", 1, 0, 0, result_cb, &s1), 0);
    ck_assert_int_eq(etcd_lease_grant(c, 5, lease_cb, &s2), 0);
    struct recorder r;
    start_watch(c, "", ETCD_PREFIX, 0, &r);
    struct lost l = {0};
    struct etcd_lease_keeper *k;
    ck_assert_int_eq(etcd_lease_keeper_create(c, 99, 3, lost_cb, &l, &k), 0);
    ck_assert(!s1.done && !s2.done && !r.flag && !l.done);
    uv_run(&loop, UV_RUN_NOWAIT);
    etcd_client_destroy(c);
    run_for(300);
    ck_assert(!s1.done && !s2.done && !l.done);
    ck_assert_int_eq(r.n_events + r.n_disconnected + r.n_failed, 0);
    loop_finish();
}
END_TEST

/* Stops every server that the tests may have left running (by pidfile)
 * and removes the directories. */
static void
cleanup_servers(void)
{
    static const char *const names[] = {"main", "restart", "tls"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char dir[128];
        int n = snprintf(dir, sizeof dir, "%s-%s", test_base, names[i]);
        if (n > 0 && (size_t)n < sizeof dir) {
            server_cleanup(dir);
        }
    }
}

/* Runs once in the parent process, before the tests that need it. */
static void
main_server_setup(void)
{
    server_create(&main_server, "main", false);
}

static Suite *
etcd_suite(void)
{
    Suite *s = suite_create("etcd");

    TCase *wire = tcase_create("wire");
    tcase_add_test(wire, test_base64_vectors);
    tcase_add_test(wire, test_base64_round_trip);
    tcase_add_test(wire, test_base64_invalid);
    tcase_add_test(wire, test_int64);
    tcase_add_test(wire, test_range_end);
    tcase_add_test(wire, test_error_bodies);
    tcase_add_test(wire, test_parse_range);
    tcase_add_test(wire, test_parse_put_delete);
    tcase_add_test(wire, test_parse_txn);
    tcase_add_test(wire, test_parse_lease);
    tcase_add_test(wire, test_watch_stream_splits);
    tcase_add_test(wire, test_watch_stream_errors);
    tcase_set_timeout(wire, 60);
    suite_add_tcase(s, wire);

    if (have_etcd) {
        TCase *real = tcase_create("etcd");
        tcase_add_test(real, test_kv);
        tcase_add_test(real, test_errors);
        tcase_add_test(real, test_txn);
        tcase_add_test(real, test_txn_race);
        tcase_add_test(real, test_lease);
        tcase_add_test(real, test_lease_keeper);
        tcase_add_test(real, test_watch);
        tcase_add_test(real, test_watch_restart);
        tcase_add_test(real, test_tls);
        tcase_add_test(real, test_destroy_busy);
        tcase_add_test(real, test_watch_compacted);
        tcase_add_unchecked_fixture(real, main_server_setup, cleanup_servers);
        tcase_set_timeout(real, 120);
        suite_add_tcase(s, real);
    }
    return s;
}

static bool
in_path(const char *prog)
{
    char cmd[128];
    int n = snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    if (n < 0 || (size_t)n >= sizeof cmd) {
        return false;
    }
    int status = system(cmd);
    return status != -1 && WIFEXITED(status) && !WEXITSTATUS(status);
}

int
main(void)
{
    slog_set_level(getenv("SLUICE_TEST_DEBUG") ? SLOG_LEVEL_DBG
                                               : SLOG_LEVEL_ERR);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return EXIT_FAILURE;
    }
    int n = snprintf(test_base, sizeof test_base, "/tmp/sluicetest-etcd-%d",
                     (int)getpid());
    if (n < 0 || (size_t)n >= sizeof test_base) {
        return EXIT_FAILURE;
    }
    have_etcd = in_path("etcd") && in_path("etcdctl") && in_path("openssl");
    if (!have_etcd) {
        fprintf(stderr, "etcd, etcdctl or openssl not found: "
                        "skipping the tests against real etcd servers\n");
    }

    SRunner *sr = srunner_create(etcd_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    if (have_etcd) {
        cleanup_servers(); /* In case a fixture did not run to its end. */
    }
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
