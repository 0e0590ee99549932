# The node agent sluiced and the operator CLI sluicectl.
noinst_HEADERS += include/sluice/log.h
noinst_HEADERS += include/sluice/ovsdb.h
noinst_HEADERS += include/sluice/ipam.h
noinst_HEADERS += include/sluice/podif.h

noinst_LIBRARIES += agent/libsluiceagent.a
agent_libsluiceagent_a_SOURCES = \
	agent/ipam.c \
	agent/log.c \
	agent/ovsdb.c \
	agent/podif.c
agent_libsluiceagent_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBUV_CFLAGS) $(LIBNL_CFLAGS)
