# Unit tests of agent/egress-model.c (pure logic: no I/O).
check_PROGRAMS += tests/unit/test-egress-model
TESTS += tests/unit/test-egress-model
tests_unit_test_egress_model_SOURCES = tests/unit/test-egress-model.c
tests_unit_test_egress_model_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_egress_model_LDADD = agent/libsluiceagent.a $(JANSSON_LIBS) \
	$(TEST_LIBS)
