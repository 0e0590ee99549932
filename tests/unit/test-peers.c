/* The peer set of tunnels/peers.c: change detection and resync sweeps. */
#include <sluice-config.h>

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sluice/peers.h"

static struct peer
make(const char *name, const char *ip, const char *subnet,
     const char *labels)
{
    struct peer p;
    memset(&p, 0, sizeof p);
    strcpy(p.name, name);
    inet_pton(AF_INET, ip, &p.ip);
    inet_pton(AF_INET, subnet, &p.subnet);
    p.prefix_len = 24;
    p.labels = (char *) labels;
    return p;
}

START_TEST(test_upsert_changes)
{
    struct peers peers;
    peers_init(&peers);
    struct in_addr old;
    struct peer n2 = make("n2", "198.18.0.12", "10.244.2.0", "zone=a");
    ck_assert_int_eq(peers_upsert(&peers, &n2, &old), PEER_ADDED);
    ck_assert_int_eq(peers_upsert(&peers, &n2, &old), PEER_UNCHANGED);
    ck_assert_uint_eq(peers.n, 1);

    /* A new address is a modification that remembers the old subnet. */
    struct peer moved = make("n2", "198.18.0.22", "10.244.7.0", "zone=a");
    ck_assert_int_eq(peers_upsert(&peers, &moved, &old), PEER_MODIFIED);
    ck_assert_str_eq(inet_ntoa(old), "10.244.2.0");
    ck_assert_str_eq(inet_ntoa(peers_find(&peers, "n2")->ip), "198.18.0.22");

    /* Labels alone count too. */
    struct peer relabelled = make("n2", "198.18.0.22", "10.244.7.0", NULL);
    ck_assert_int_eq(peers_upsert(&peers, &relabelled, &old), PEER_MODIFIED);
    ck_assert_ptr_null(peers_find(&peers, "n2")->labels);

    struct peer removed;
    ck_assert(peers_remove(&peers, "n2", &removed));
    ck_assert_str_eq(removed.name, "n2");
    free(removed.labels);
    ck_assert(!peers_remove(&peers, "n2", &removed));
    ck_assert_uint_eq(peers.n, 0);
    peers_destroy(&peers);
}
END_TEST

START_TEST(test_resync_sweep)
{
    struct peers peers;
    peers_init(&peers);
    struct in_addr old;
    const char *names[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        char subnet[32];
        snprintf(subnet, sizeof subnet, "10.244.%d.0", i + 1);
        struct peer p = make(names[i], "198.18.0.1", subnet, "a=b");
        ck_assert_int_eq(peers_upsert(&peers, &p, &old), PEER_ADDED);
    }

    /* A fresh listing holds n1 and n3: only n2 is swept. */
    peers_mark_stale(&peers);
    struct peer n1 = make("n1", "198.18.0.1", "10.244.1.0", "a=b");
    struct peer n3 = make("n3", "198.18.0.1", "10.244.3.0", "a=b");
    ck_assert_int_eq(peers_upsert(&peers, &n1, &old), PEER_UNCHANGED);
    ck_assert_int_eq(peers_upsert(&peers, &n3, &old), PEER_UNCHANGED);
    struct peer removed;
    ck_assert(peers_sweep_one(&peers, &removed));
    ck_assert_str_eq(removed.name, "n2");
    free(removed.labels);
    ck_assert(!peers_sweep_one(&peers, &removed));
    ck_assert_uint_eq(peers.n, 2);
    peers_destroy(&peers);
}
END_TEST

START_TEST(test_save_load)
{
    char dir[] = "/tmp/sluice-test-peers-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/peers.json", dir);

    struct peers peers;
    peers_init(&peers);
    struct in_addr old;
    struct peer a = make("n2", "198.18.0.12", "10.244.2.0", "zone=a");
    struct peer b = make("n3", "198.18.0.13", "10.244.3.0", NULL);
    peers_upsert(&peers, &a, &old);
    peers_upsert(&peers, &b, &old);
    ck_assert_int_eq(peers_save(&peers, path), 0);
    peers_destroy(&peers);

    /* Loaded peers are stale until the datastore confirms them. */
    peers_init(&peers);
    ck_assert_int_eq(peers_load(&peers, path), 0);
    ck_assert_uint_eq(peers.n, 2);
    const struct peer *n2 = peers_find(&peers, "n2");
    ck_assert_ptr_nonnull(n2);
    ck_assert(n2->stale);
    ck_assert_str_eq(inet_ntoa(n2->ip), "198.18.0.12");
    ck_assert_str_eq(n2->labels, "zone=a");
    ck_assert_ptr_null(peers_find(&peers, "n3")->labels);
    ck_assert_int_eq(peers_upsert(&peers, &a, &old), PEER_UNCHANGED);
    struct peer removed;
    ck_assert(peers_sweep_one(&peers, &removed));
    ck_assert_str_eq(removed.name, "n3");
    free(removed.labels);
    peers_destroy(&peers);

    /* A missing file is fine; a malformed one is not. */
    peers_init(&peers);
    unlink(path);
    ck_assert_int_eq(peers_load(&peers, path), 0);
    FILE *f = fopen(path, "w");
    fputs("{\"not\": \"a list\"}", f);
    fclose(f);
    ck_assert_int_eq(peers_load(&peers, path), EBADMSG);
    ck_assert_uint_eq(peers.n, 0);
    unlink(path);
    rmdir(dir);
    peers_destroy(&peers);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("peers");
    TCase *tc = tcase_create("peers");
    tcase_add_test(tc, test_upsert_changes);
    tcase_add_test(tc, test_resync_sweep);
    tcase_add_test(tc, test_save_load);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
