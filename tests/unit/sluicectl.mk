# Unit tests of sluicectl: the real binary against a stub agent.
check_PROGRAMS += tests/unit/test-sluicectl
TESTS += tests/unit/test-sluicectl
tests_unit_test_sluicectl_SOURCES = tests/unit/test-sluicectl.c
tests_unit_test_sluicectl_CFLAGS = $(TEST_CFLAGS) \
	-DSLUICECTL_BINARY='"$(abs_top_builddir)/agent/sluicectl"'
tests_unit_test_sluicectl_LDADD = agent/libsluiceagent.a \
	plugin/libsluicecni.a $(JANSSON_LIBS) $(TEST_LIBS) -lpthread
EXTRA_tests_unit_test_sluicectl_DEPENDENCIES = agent/sluicectl
