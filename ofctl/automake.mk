# The OpenFlow layer: pipeline, flow builders, desired/installed state and
# the br-int connection.  Only this directory includes libopenvswitch
# headers (through sluice/ovs.h).
noinst_HEADERS += \
	include/sluice/ofctl.h \
	include/sluice/ovs.h \
	include/sluice/pipeline.h

noinst_LIBRARIES += ofctl/libsluiceofctl.a
ofctl_libsluiceofctl_a_SOURCES = \
	ofctl/ofctl.c \
	ofctl/ovs.c \
	ofctl/pipeline.c
ofctl_libsluiceofctl_a_CPPFLAGS = $(AM_CPPFLAGS) $(OVS_CPPFLAGS)
# OVS headers use typeof, a GNU extension.
ofctl_libsluiceofctl_a_CFLAGS = $(AM_CFLAGS) -std=gnu11 $(LIBUV_CFLAGS)
