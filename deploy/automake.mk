# Scripts and configuration for running sluice and its local lab, and the
# end-to-end tests that use the lab (GNU make's wildcard keeps the lists in
# step with the directories).
dist_noinst_SCRIPTS += \
	deploy/build-ovs.sh \
	deploy/build.sh \
	deploy/demo.sh \
	deploy/install-deps.sh \
	deploy/lab/lab.sh \
	deploy/lab/ovs.sh \
	tests/run-all.sh \
	$(wildcard $(srcdir)/tests/e2e/*.sh)

dist_noinst_DATA += \
	deploy/cni/10-sluice.conflist \
	deploy/systemd/sluiced.service \
	deploy/systemd/ovs-vswitchd.service.d/sluice.conf
