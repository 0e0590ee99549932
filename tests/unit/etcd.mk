# Tests of agent/etcd.c and agent/etcd-wire.c: wire-format unit tests, then
# integration tests against real etcd servers that the program starts itself
# on loopback (random free ports, data directories /tmp/sluicetest-etcd-PID-*)
# and stops by PID.  Without the etcd binary only the unit tests run.
check_PROGRAMS += tests/unit/test-etcd
TESTS += tests/unit/test-etcd
tests_unit_test_etcd_SOURCES = tests/unit/test-etcd.c
tests_unit_test_etcd_CFLAGS = $(TEST_CFLAGS) $(LIBUV_CFLAGS) $(LIBCURL_CFLAGS)
tests_unit_test_etcd_LDADD = agent/libsluiceagent.a $(LIBCURL_LIBS) \
	$(LIBUV_LIBS) $(JANSSON_LIBS) $(TEST_LIBS)
