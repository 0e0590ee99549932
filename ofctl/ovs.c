#include <sluice-config.h>

#include "sluice/ovs.h"

#include <stdbool.h>

#include <openvswitch/vlog.h>

void
sluice_ovs_init(void)
{
    static bool done;
    if (!done) {
        done = true;
        /* OVS's own log lines would go to stderr in OVS's format; sluice
         * reports OpenFlow problems itself. */
        vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    }
}
