# Unit tests (Check) run by `make check`; each module's tests are listed in
# their own fragment so that modules can grow independently.
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
TEST_LIBS = $(CHECK_LIBS)

include tests/unit/shim.mk
include tests/fuzz/automake.mk
include tests/unit/ipam.mk
include tests/unit/podif.mk
include tests/unit/ofctl.mk
include tests/unit/linkage.mk
include tests/unit/ovsdb.mk
include tests/unit/mtu.mk
include tests/unit/peers.mk
include tests/unit/etcd.mk

# Benchmarks (issue #6): `make bench` runs them all against this build
# (root needed; BENCH_FLAGS=--quick for a short run).  Timings are reported,
# never asserted.
dist_noinst_SCRIPTS += \
	tests/bench/run.sh \
	tests/bench/attach.sh \
	tests/bench/storm.sh \
	tests/bench/flows.sh \
	tests/bench/footprint.sh \
	tests/bench/datapath.sh \
	tests/bench/failover.sh \
	tests/bench/fakenodes.py \
	tests/bench/report.py
EXTRA_DIST += \
	tests/bench/lib.sh \
	tests/bench/cnirun.c \
	tests/bench/RESULTS.md

.PHONY: bench
bench: all
	SLUICE_BUILD=$(abs_top_builddir) $(abs_top_srcdir)/tests/bench/run.sh \
		$(BENCH_FLAGS)
include tests/unit/egress-model.mk
include tests/unit/sluicectl.mk
