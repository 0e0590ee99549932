check_PROGRAMS += tests/unit/test-linkage
TESTS += tests/unit/test-linkage
tests_unit_test_linkage_SOURCES = tests/unit/test-linkage.c
tests_unit_test_linkage_CFLAGS = $(TEST_CFLAGS) $(LIBUV_CFLAGS)
tests_unit_test_linkage_LDADD = ofctl/libsluiceofctl.a agent/libsluiceagent.a \
	$(OVS_LIBS) $(JANSSON_LIBS) $(LIBUV_LIBS) $(TEST_LIBS)
