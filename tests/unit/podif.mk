# Unit tests of agent/podif.c.  They need root: they create network
# namespaces and veth pairs named sluicetest-podif-PID and sltpPID-N.
check_PROGRAMS += tests/unit/test-podif
TESTS += tests/unit/test-podif
tests_unit_test_podif_SOURCES = tests/unit/test-podif.c
tests_unit_test_podif_CFLAGS = $(TEST_CFLAGS) $(LIBNL_CFLAGS)
tests_unit_test_podif_LDADD = agent/libsluiceagent.a $(LIBNL_LIBS) \
	$(JANSSON_LIBS) $(TEST_LIBS)
