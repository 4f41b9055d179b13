/* The DPDK headers tollgate binds. Keep this list to what the dataplane uses. */
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_version.h>
#include <rte_timer.h>

/* rte_errno is a per-lcore TLS macro; bindgen cannot see through it. */
int tollgate_rte_errno(void);

/* Raises a device event on the named port through ethdev's own callback
 * dispatch, as a PMD does (ENA: reset after a missed keep-alive), so that
 * tests can drive the application's handlers on a port without that PMD. */
int tollgate_eth_dev_raise_event(const char *name, enum rte_eth_event_type event);
