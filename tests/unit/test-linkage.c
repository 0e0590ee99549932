/* libopenvswitch.a defines json_object, json_string, json_array... like
 * jansson; deploy/build-ovs.sh renames OVS's copies.  This binary links
 * both libraries and proves each still does its own job: jansson builds and
 * reads JSON, and OVS's flow parser and OpenFlow encoders (through
 * ofctl_add_flow()) encode a flow. */
#include <sluice-config.h>

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sluice/ofctl.h"
#include "sluice/pipeline.h"

START_TEST(test_jansson_is_jansson)
{
    json_t *object = json_object();
    json_t *array = json_array();
    ck_assert(json_is_object(object));
    ck_assert(json_is_array(array));
    ck_assert_int_eq(json_array_append_new(array, json_string("sluice")), 0);
    ck_assert_int_eq(json_object_set_new(object, "list", array), 0);
    ck_assert_int_eq(json_object_set_new(object, "n", json_integer(42)), 0);
    char *text = json_dumps(object, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, "{\"list\":[\"sluice\"],\"n\":42}");
    free(text);
    json_decref(object);
}
END_TEST

START_TEST(test_ovs_encoders_work)
{
    uv_loop_t *loop = uv_default_loop();
    struct ofctl *ofctl = ofctl_create(loop, "/nonexistent",
                                       pipeline_tables(), N_PIPELINE_TABLES,
                                       1, -1, NULL, NULL);
    ck_assert_ptr_nonnull(ofctl);
    char *error = NULL;
    ck_assert_int_eq(ofctl_add_flow(ofctl, 7, "table=SpoofGuard,priority=5,"
                                    "ip,nw_src=10.0.0.9 actions=drop",
                                    &error), 0);
    ck_assert_ptr_null(error);
    ck_assert_uint_eq(ofctl_owner_n_flows(ofctl, 7), 1);
    ck_assert_int_eq(ofctl_add_flow(ofctl, 7, "table=Nowhere actions=drop",
                                    &error), EINVAL);
    ck_assert_ptr_nonnull(error);
    free(error);
    ofctl_destroy(ofctl);
    uv_run(loop, UV_RUN_NOWAIT);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("linkage");
    TCase *tc = tcase_create("linkage");
    tcase_add_test(tc, test_jansson_is_jansson);
    tcase_add_test(tc, test_ovs_encoders_work);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
