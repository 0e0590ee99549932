# Unit tests (Check) run by `make check`; each module's tests are listed in
# their own fragment so that modules can grow independently.
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
TEST_LIBS = $(CHECK_LIBS)

include tests/unit/shim.mk
include tests/fuzz/automake.mk
include tests/unit/ipam.mk
include tests/unit/podif.mk
include tests/unit/ofctl.mk
include tests/unit/ovsdb.mk
include tests/unit/mtu.mk
include tests/unit/peers.mk
