check_PROGRAMS += tests/unit/test-shim
TESTS += tests/unit/test-shim
tests_unit_test_shim_SOURCES = tests/unit/test-shim.c
tests_unit_test_shim_CFLAGS = $(TEST_CFLAGS) \
	-DSHIM_BINARY='"$(abs_top_builddir)/plugin/sluice"'
tests_unit_test_shim_LDADD = plugin/libsluicecni.a $(JANSSON_LIBS) \
	$(TEST_LIBS) -lpthread
EXTRA_tests_unit_test_shim_DEPENDENCIES = plugin/sluice
