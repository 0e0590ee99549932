check_PROGRAMS += tests/unit/test-ofctl
TESTS += tests/unit/test-ofctl
tests_unit_test_ofctl_SOURCES = tests/unit/test-ofctl.c
tests_unit_test_ofctl_CFLAGS = $(TEST_CFLAGS) $(LIBUV_CFLAGS) \
	-DLAB_OVS_SH='"$(abs_top_srcdir)/deploy/lab/ovs.sh"'
tests_unit_test_ofctl_LDADD = ofctl/libsluiceofctl.a agent/libsluiceagent.a \
	$(OVS_LIBS) $(LIBUV_LIBS) $(TEST_LIBS)
