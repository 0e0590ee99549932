# Overlay management: tunnel types, MTU arithmetic, remote node peers.
noinst_HEADERS += include/sluice/peers.h include/sluice/tunnel.h

noinst_LIBRARIES += tunnels/libsluicetunnels.a
tunnels_libsluicetunnels_a_SOURCES = \
	tunnels/mtu.c \
	tunnels/peers.c
tunnels_libsluicetunnels_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
