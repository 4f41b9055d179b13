//! Device liveness: DPDK's timers, which the ENA PMD's keep-alive watchdog
//! runs on (armed on the lcore that started the port, served only when that
//! lcore calls `rte_timer_manage`), and the device events a PMD raises:
//! `RTE_ETH_EVENT_INTR_RESET` (the device must be reset before it forwards
//! again) and `RTE_ETH_EVENT_INTR_LSC` (link state changed).

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_ffi as ffi;

use super::eal::ensure_running;
use super::error::check;
use super::{DpdkError, Port};

/// Starts DPDK's timer subsystem (idempotent: a PMD may have done it).
pub fn timers_init() -> Result<(), DpdkError> {
    ensure_running("rte_timer_subsystem_init")?;
    // SAFETY: EAL is running; the call allocates the timer state once.
    let ret = unsafe { ffi::rte_timer_subsystem_init() };
    if ret == -libc::EALREADY {
        return Ok(());
    }
    check(|| "rte_timer_subsystem_init".into(), ret).map(|_| ())
}

/// Runs the timers due on the calling lcore (the main lcore: the port was
/// started there, so the ENA watchdog is armed there).
pub fn timers_manage() -> Result<(), DpdkError> {
    // SAFETY: called after `timers_init`; runs due timer callbacks on this lcore.
    let ret = unsafe { ffi::rte_timer_manage() };
    check(|| "rte_timer_manage".into(), ret).map(|_| ())
}

/// Counts of device events on one port since the handler last took them.
/// Written by ethdev's callback (from its interrupt thread), read by the
/// main lcore.
#[derive(Debug, Default)]
pub struct DeviceEvents {
    resets: AtomicU64,
    link_changes: AtomicU64,
}

impl DeviceEvents {
    /// Registers for reset and link-state events on `port`. The counts live
    /// as long as the process: ethdev keeps a pointer to them.
    pub fn register(port: &Port) -> Result<&'static DeviceEvents, DpdkError> {
        ensure_running("rte_eth_dev_callback_register")?;
        let events: &'static DeviceEvents = Box::leak(Box::default());
        for event in [ffi::RTE_ETH_EVENT_INTR_RESET, ffi::RTE_ETH_EVENT_INTR_LSC] {
            // SAFETY: `on_event` matches rte_eth_dev_cb_fn; its argument is a
            // 'static DeviceEvents, only touched through atomics.
            let ret = unsafe {
                ffi::rte_eth_dev_callback_register(
                    port.id().0,
                    event,
                    Some(on_event),
                    events as *const DeviceEvents as *mut c_void,
                )
            };
            check(
                || {
                    format!(
                        "rte_eth_dev_callback_register(port {} {}, event {event})",
                        port.id().0,
                        port.name()
                    )
                },
                ret,
            )?;
        }
        Ok(events)
    }

    /// Reset requests since the last call.
    pub fn take_resets(&self) -> u64 {
        self.resets.swap(0, Ordering::AcqRel)
    }

    /// Link-state changes since the last call.
    pub fn take_link_changes(&self) -> u64 {
        self.link_changes.swap(0, Ordering::AcqRel)
    }
}

unsafe extern "C" fn on_event(
    _port: u16,
    event: ffi::rte_eth_event_type,
    arg: *mut c_void,
    _ret_param: *mut c_void,
) -> libc::c_int {
    // SAFETY: `arg` is the 'static DeviceEvents passed at registration.
    let events = unsafe { &*(arg as *const DeviceEvents) };
    match event {
        ffi::RTE_ETH_EVENT_INTR_RESET => events.resets.fetch_add(1, Ordering::AcqRel),
        ffi::RTE_ETH_EVENT_INTR_LSC => events.link_changes.fetch_add(1, Ordering::AcqRel),
        _ => 0,
    };
    0
}

/// The device events the dataplane handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceEvent {
    /// `RTE_ETH_EVENT_INTR_RESET`.
    Reset,
    /// `RTE_ETH_EVENT_INTR_LSC`.
    LinkChange,
}

/// Raises `event` on the device named `name` through ethdev's callback
/// dispatch, as a PMD does. For tests: local PMDs never ask for a reset.
pub fn raise_event(name: &str, event: DeviceEvent) -> Result<(), DpdkError> {
    let event = match event {
        DeviceEvent::Reset => ffi::RTE_ETH_EVENT_INTR_RESET,
        DeviceEvent::LinkChange => ffi::RTE_ETH_EVENT_INTR_LSC,
    };
    ensure_running("rte_eth_dev_callback_process")?;
    let c_name = CString::new(name).map_err(|_| DpdkError::InvalidArgument {
        op: "rte_eth_dev_callback_process".into(),
        reason: format!("device name {name:?} contains a NUL byte"),
    })?;
    // SAFETY: c_name is a valid C string; the shim looks the device up and
    // returns -ENODEV when there is none.
    let ret = unsafe { ffi::tollgate_eth_dev_raise_event(c_name.as_ptr(), event) };
    check(
        || format!("rte_eth_dev_callback_process({name}, event {event})"),
        ret,
    )
    .map(|_| ())
}
