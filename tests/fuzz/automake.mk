# Fuzz targets for every parser of untrusted input.  Without --enable-fuzz
# each target is linked with a replay driver and its seed corpus runs in
# `make check`; with it (CC=clang) the targets link libFuzzer.
FUZZ_TARGETS = tests/fuzz/fuzz-shim tests/fuzz/fuzz-egress \
	tests/fuzz/fuzz-ctl-response tests/fuzz/fuzz-etcd-wire \
	tests/fuzz/fuzz-ovsdb tests/fuzz/fuzz-cni-request
check_PROGRAMS += $(FUZZ_TARGETS)
TESTS += tests/fuzz/replay-corpus.sh
EXTRA_DIST += tests/fuzz/corpus
dist_noinst_SCRIPTS += tests/fuzz/replay-corpus.sh tests/fuzz/run-fuzz.sh
TESTS_ENVIRONMENT = top_srcdir='$(top_srcdir)' top_builddir='$(top_builddir)'

if ENABLE_FUZZ
fuzz_link_flags = -fsanitize=fuzzer
fuzz_driver =
else
fuzz_link_flags =
fuzz_driver = tests/fuzz/replay.c
endif

tests_fuzz_fuzz_shim_SOURCES = tests/fuzz/fuzz-shim.c $(fuzz_driver)
tests_fuzz_fuzz_shim_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_shim_LDFLAGS = $(fuzz_link_flags)
tests_fuzz_fuzz_shim_LDADD = plugin/libsluicecni.a $(JANSSON_LIBS)

tests_fuzz_fuzz_egress_SOURCES = tests/fuzz/fuzz-egress.c $(fuzz_driver)
tests_fuzz_fuzz_egress_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_egress_LDFLAGS = $(fuzz_link_flags)
tests_fuzz_fuzz_egress_LDADD = agent/libsluiceagent.a $(JANSSON_LIBS)

tests_fuzz_fuzz_ctl_response_SOURCES = tests/fuzz/fuzz-ctl-response.c \
	$(fuzz_driver)
tests_fuzz_fuzz_ctl_response_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_ctl_response_LDFLAGS = $(fuzz_link_flags)
tests_fuzz_fuzz_ctl_response_LDADD = agent/libsluiceagent.a \
	plugin/libsluicecni.a $(JANSSON_LIBS)

tests_fuzz_fuzz_etcd_wire_SOURCES = tests/fuzz/fuzz-etcd-wire.c \
	$(fuzz_driver)
tests_fuzz_fuzz_etcd_wire_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_etcd_wire_LDFLAGS = $(fuzz_link_flags)
tests_fuzz_fuzz_etcd_wire_LDADD = agent/libsluiceagent.a $(JANSSON_LIBS)

tests_fuzz_fuzz_ovsdb_SOURCES = tests/fuzz/fuzz-ovsdb.c $(fuzz_driver)
tests_fuzz_fuzz_ovsdb_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_ovsdb_LDFLAGS = $(fuzz_link_flags)
tests_fuzz_fuzz_ovsdb_LDADD = agent/libsluiceagent.a $(JANSSON_LIBS)

tests_fuzz_fuzz_cni_request_SOURCES = tests/fuzz/fuzz-cni-request.c \
	$(fuzz_driver)
tests_fuzz_fuzz_cni_request_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_cni_request_LDFLAGS = $(fuzz_link_flags)
tests_fuzz_fuzz_cni_request_LDADD = agent/libsluiceagent.a \
	plugin/libsluicecni.a $(JANSSON_LIBS)
