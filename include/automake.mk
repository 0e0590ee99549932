# Contracts between the modules; each module lists the headers it owns.
noinst_HEADERS = \
	include/sluice/cni.h \
	include/sluice/cni-proto.h
