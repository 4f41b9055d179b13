//! One error type for the DPDK layer, and the one place where DPDK's negative
//! return codes and `rte_errno` become text.

use std::ffi::CStr;

use tollgate_ffi as ffi;

/// Why a DPDK operation failed. Messages name the operation and its subject.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DpdkError {
    /// A DPDK call returned an error code (or set `rte_errno`).
    #[error("{op}: {text} ({code})")]
    Call {
        /// The call and its subject, e.g. `rte_eth_dev_configure(port 0)`.
        op: String,
        /// The negative errno value, as DPDK returns it.
        code: i32,
        /// `rte_strerror(-code)`.
        text: String,
    },
    /// `rte_eal_init` failed.
    #[error("rte_eal_init: {text} ({code}){hint}")]
    EalInit {
        /// The negative `rte_errno`.
        code: i32,
        /// `rte_strerror` text.
        text: String,
        /// A suggestion for the operator, empty or starting with "; ".
        hint: String,
    },
    /// `Eal::init` was called a second time in this process.
    #[error("rte_eal_init: already called in this process (DPDK allows one EAL init per process, even after a failure)")]
    EalAlreadyInitialised,
    /// A handle was requested before `Eal::init` succeeded (or after cleanup).
    #[error("{op}: EAL is not running; call Eal::init first")]
    EalNotRunning {
        /// What was attempted.
        op: &'static str,
    },
    /// An argument cannot be passed to DPDK at all (e.g. an interior NUL).
    #[error("{op}: invalid argument: {reason}")]
    InvalidArgument {
        /// What was attempted.
        op: String,
        /// What was wrong.
        reason: String,
    },
    /// No ethdev port carries this device name.
    #[error("no DPDK port named {name:?}; ports that exist: {}", list_or_none(.existing))]
    PortNotFound {
        /// The name asked for.
        name: String,
        /// Names of all ports that do exist.
        existing: Vec<String>,
    },
    /// The device offers fewer queues than needed.
    #[error("port {port} has {available} {dir} queues, {wanted} needed (one per worker): add qpairs={wanted} to the vdev or use fewer lcores")]
    TooManyQueues {
        /// Device name.
        port: String,
        /// "rx" or "tx".
        dir: &'static str,
        /// What the device reports as its maximum.
        available: u16,
        /// What was asked for.
        wanted: u16,
    },
    /// A configuration the device cannot do (MTU, offload, RSS).
    #[error("port {port}: {reason}")]
    Unsupported {
        /// Device name.
        port: String,
        /// What is not supported and what the device offers instead.
        reason: String,
    },
    /// A queue handle or setup request that does not fit the port's state.
    #[error("port {port} queue {queue}: {reason}")]
    Queue {
        /// Device name.
        port: String,
        /// Queue number.
        queue: u16,
        /// What was wrong.
        reason: &'static str,
    },
    /// An lcore cannot be used for this launch or wait.
    #[error("lcore {lcore}: {reason}")]
    Lcore {
        /// The lcore.
        lcore: u32,
        /// What was wrong.
        reason: &'static str,
    },
    /// A closure launched on an lcore panicked.
    #[error("lcore {lcore}: the launched function panicked")]
    LcorePanicked {
        /// The lcore.
        lcore: u32,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none (check --vdev / PCI allow-list in the EAL arguments)".to_owned()
    } else {
        names.join(", ")
    }
}

/// `rte_strerror` for a positive errno value.
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string, valid until the next call on this thread; we copy it now.
    let text = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) };
    text.to_string_lossy().into_owned()
}

/// The current thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local integer through the shim; no preconditions.
    unsafe { ffi::tollgate_rte_errno() }
}

impl DpdkError {
    /// From a DPDK return value `ret < 0` (a negative errno).
    pub fn from_ret(op: impl Into<String>, ret: i32) -> Self {
        let errno = ret.saturating_abs();
        DpdkError::Call {
            op: op.into(),
            code: -errno,
            text: strerror(errno),
        }
    }

    /// From `rte_errno`, for calls that signal failure with NULL or -1.
    pub fn from_errno(op: impl Into<String>) -> Self {
        Self::from_ret(op, -rte_errno())
    }

    /// The negative errno carried by a [`DpdkError::Call`] or [`DpdkError::EalInit`].
    pub fn code(&self) -> Option<i32> {
        match self {
            DpdkError::Call { code, .. } | DpdkError::EalInit { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Turns a DPDK `int` return into `Ok(non-negative value)` or an error.
pub(crate) fn check(op: impl FnOnce() -> String, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_ret(op(), ret))
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_error_display_names_operation_and_text() {
        let e = DpdkError::from_ret("rte_eth_dev_configure(port 0)", -22);
        assert_eq!(
            e.to_string(),
            "rte_eth_dev_configure(port 0): Invalid argument (-22)"
        );
        assert_eq!(e.code(), Some(-22));
    }

    #[test]
    fn positive_code_is_normalised() {
        let e = DpdkError::from_ret("x", 12);
        assert_eq!(e.code(), Some(-12));
        assert_eq!(e.to_string(), "x: Cannot allocate memory (-12)");
    }

    #[test]
    fn port_not_found_lists_ports() {
        let e = DpdkError::PortNotFound {
            name: "net_nosuch0".into(),
            existing: vec!["net_ring0".into(), "net_null0".into()],
        };
        assert_eq!(
            e.to_string(),
            "no DPDK port named \"net_nosuch0\"; ports that exist: net_ring0, net_null0"
        );
    }
}
