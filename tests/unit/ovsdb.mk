# Integration tests of agent/ovsdb.c.  They need root: the program moves
# itself into a private network namespace, starts its own ovsdb-server and
# ovs-vswitchd (userspace datapath) in /tmp/sluicetest-ovsdb-PID, and stops
# them by the PIDs in their pidfiles.  Exit status 77 (skip) without root.
check_PROGRAMS += tests/unit/test-ovsdb
TESTS += tests/unit/test-ovsdb
tests_unit_test_ovsdb_SOURCES = tests/unit/test-ovsdb.c
tests_unit_test_ovsdb_CFLAGS = $(TEST_CFLAGS) $(LIBUV_CFLAGS)
tests_unit_test_ovsdb_LDADD = agent/libsluiceagent.a $(LIBUV_LIBS) \
	$(JANSSON_LIBS) $(TEST_LIBS) -lpthread
