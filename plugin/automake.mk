# The CNI shim and the CNI protocol library shared with the agent.
noinst_HEADERS += include/sluice/shim.h

noinst_LIBRARIES += plugin/libsluicecni.a
plugin_libsluicecni_a_SOURCES = \
	plugin/cni.c \
	plugin/cni-proto.c \
	plugin/shim.c
plugin_libsluicecni_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)

cnibin_PROGRAMS += plugin/sluice
plugin_sluice_SOURCES = plugin/sluice.c
plugin_sluice_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugin_sluice_LDADD = plugin/libsluicecni.a $(JANSSON_LIBS)
