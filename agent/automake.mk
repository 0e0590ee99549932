# The node agent sluiced and the operator CLI sluicectl.
noinst_HEADERS += \
	include/sluice/agent.h \
	include/sluice/agent-config.h \
	include/sluice/cluster.h \
	include/sluice/cni-args.h \
	include/sluice/cni-server.h \
	include/sluice/egress.h \
	include/sluice/egress-model.h \
	include/sluice/egress-state.h \
	include/sluice/etcd.h \
	include/sluice/etcd-wire.h \
	include/sluice/ipam.h \
	include/sluice/log.h \
	include/sluice/ovsdb.h \
	include/sluice/ovsdb-wire.h \
	include/sluice/podif.h \
	include/sluice/rpc-server.h \
	include/sluice/util.h

noinst_LIBRARIES += agent/libsluiceagent.a
agent_libsluiceagent_a_SOURCES = \
	agent/agent.c \
	agent/agent-config.c \
	agent/cluster.c \
	agent/cni-args.c \
	agent/cni-server.c \
	agent/egress.c \
	agent/egress-ctl.c \
	agent/egress-model.c \
	agent/egress-state.c \
	agent/etcd.c \
	agent/etcd-wire.c \
	agent/ipam.c \
	agent/log.c \
	agent/ovsdb.c \
	agent/ovsdb-wire.c \
	agent/podif.c \
	agent/pods.c \
	agent/util.c \
	agent/rpc-server.c
agent_libsluiceagent_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBUV_CFLAGS) $(LIBNL_CFLAGS) $(LIBCURL_CFLAGS)

AGENT_LIBS = agent/libsluiceagent.a ofctl/libsluiceofctl.a \
	tunnels/libsluicetunnels.a \
	plugin/libsluicecni.a $(OVS_LIBS) $(LIBNL_LIBS) $(LIBUV_LIBS) \
	$(JANSSON_LIBS) $(LIBCURL_LIBS)

sbin_PROGRAMS += agent/sluiced
agent_sluiced_SOURCES = agent/sluiced.c
agent_sluiced_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
agent_sluiced_LDADD = $(AGENT_LIBS)

# sluicectl, the operator CLI, and the control protocol shared with the agent.
noinst_HEADERS += include/sluice/ctl-client.h include/sluice/ctl-proto.h
agent_libsluiceagent_a_SOURCES += agent/ctl-client.c agent/ctl-proto.c

sbin_PROGRAMS += agent/sluicectl
agent_sluicectl_SOURCES = agent/sluicectl.c
agent_sluicectl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
agent_sluicectl_LDADD = agent/libsluiceagent.a plugin/libsluicecni.a \
	$(JANSSON_LIBS)
