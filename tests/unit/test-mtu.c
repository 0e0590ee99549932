/* The MTU arithmetic of tunnels/mtu.c. */
#include <sluice-config.h>

#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "sluice/tunnel.h"

START_TEST(test_overheads)
{
    /* 20 IPv4 + 8 UDP + 8 VXLAN + 14 inner Ethernet. */
    ck_assert_uint_eq(tunnel_overhead(TUNNEL_VXLAN, false, 0), 50);
    ck_assert_uint_eq(tunnel_overhead(TUNNEL_GENEVE, false, 0), 50);
    ck_assert_uint_eq(tunnel_overhead(TUNNEL_GENEVE, false, 8), 58);
    /* An IPv6 underlay costs 20 more. */
    ck_assert_uint_eq(tunnel_overhead(TUNNEL_VXLAN, true, 0), 70);
    ck_assert_uint_eq(tunnel_overhead(TUNNEL_GENEVE, true, 4), 74);
}
END_TEST

START_TEST(test_pod_mtu)
{
    unsigned int mtu;
    ck_assert_int_eq(tunnel_pod_mtu(1500, TUNNEL_GENEVE, false, 0, &mtu), 0);
    ck_assert_uint_eq(mtu, 1450);
    ck_assert_int_eq(tunnel_pod_mtu(9000, TUNNEL_VXLAN, true, 0, &mtu), 0);
    ck_assert_uint_eq(mtu, 8930);
    ck_assert_int_eq(tunnel_pod_mtu(1500, TUNNEL_GENEVE, false, 12, &mtu),
                     0);
    ck_assert_uint_eq(mtu, 1438);

    /* Too small to leave IPv4's minimum, and malformed options. */
    ck_assert_int_eq(tunnel_pod_mtu(625, TUNNEL_VXLAN, false, 0, &mtu),
                     EINVAL);
    ck_assert_int_eq(tunnel_pod_mtu(626, TUNNEL_VXLAN, false, 0, &mtu), 0);
    ck_assert_uint_eq(mtu, 576);
    ck_assert_int_eq(tunnel_pod_mtu(1500, TUNNEL_GENEVE, false, 6, &mtu),
                     EINVAL);
}
END_TEST

START_TEST(test_type_names)
{
    enum tunnel_type type;
    ck_assert_int_eq(tunnel_type_from_string("vxlan", &type), 0);
    ck_assert_int_eq(type, TUNNEL_VXLAN);
    ck_assert_str_eq(tunnel_type_to_string(type), "vxlan");
    ck_assert_int_eq(tunnel_type_from_string("geneve", &type), 0);
    ck_assert_str_eq(tunnel_type_to_string(type), "geneve");
    ck_assert_int_eq(tunnel_type_from_string("gre", &type), EINVAL);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("mtu");
    TCase *tc = tcase_create("mtu");
    tcase_add_test(tc, test_overheads);
    tcase_add_test(tc, test_pod_mtu);
    tcase_add_test(tc, test_type_names);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
