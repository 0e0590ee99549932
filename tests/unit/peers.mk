check_PROGRAMS += tests/unit/test-peers
TESTS += tests/unit/test-peers
tests_unit_test_peers_SOURCES = tests/unit/test-peers.c
tests_unit_test_peers_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_peers_LDADD = tunnels/libsluicetunnels.a $(JANSSON_LIBS) $(TEST_LIBS)
