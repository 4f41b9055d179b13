/* Hand-written pieces bindgen cannot generate. */
#include "wrapper.h"

int tollgate_rte_errno(void) { return rte_errno; }

/* Driver-side ethdev API (ethdev_driver.h, not installed by Debian's
 * libdpdk-dev); exported by librte_ethdev under the INTERNAL version. */
struct rte_eth_dev;
struct rte_eth_dev *rte_eth_dev_allocated(const char *name);
int rte_eth_dev_callback_process(struct rte_eth_dev *dev, enum rte_eth_event_type event,
                                 void *ret_param);

int tollgate_eth_dev_raise_event(const char *name, enum rte_eth_event_type event)
{
    struct rte_eth_dev *dev = rte_eth_dev_allocated(name);
    if (dev == NULL)
        return -ENODEV;
    return rte_eth_dev_callback_process(dev, event, NULL);
}
