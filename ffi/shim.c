/* Hand-written pieces bindgen cannot generate. */
#include "wrapper.h"

int tollgate_rte_errno(void) { return rte_errno; }
