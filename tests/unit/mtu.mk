check_PROGRAMS += tests/unit/test-mtu
TESTS += tests/unit/test-mtu
tests_unit_test_mtu_SOURCES = tests/unit/test-mtu.c
tests_unit_test_mtu_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mtu_LDADD = tunnels/libsluicetunnels.a $(JANSSON_LIBS) $(TEST_LIBS)
