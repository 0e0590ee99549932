# Unit tests of agent/ipam.c.
check_PROGRAMS += tests/unit/test-ipam
TESTS += tests/unit/test-ipam
tests_unit_test_ipam_SOURCES = tests/unit/test-ipam.c
tests_unit_test_ipam_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ipam_LDADD = agent/libsluiceagent.a $(JANSSON_LIBS) \
	$(TEST_LIBS)
