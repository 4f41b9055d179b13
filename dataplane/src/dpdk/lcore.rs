//! Running closures on worker lcores through `rte_eal_remote_launch`.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use tollgate_ffi as ffi;

use super::eal::Eal;
use super::error::DpdkError;
use super::ids::LcoreId;

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// What the trampoline returns when the closure panicked; `wait` reports it
/// as [`DpdkError::LcorePanicked`] instead of a value.
const PANICKED: c_int = c_int::MIN;

/// Which lcores have a launch not yet collected by `wait`, so that waiting on
/// an idle lcore is an error rather than DPDK's ambiguous 0.
static LAUNCHED: [AtomicBool; ffi::RTE_MAX_LCORE as usize] =
    [const { AtomicBool::new(false) }; ffi::RTE_MAX_LCORE as usize];

/// How one worker lcore finished, from [`Eal::wait_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcoreExit {
    /// The lcore.
    pub lcore: LcoreId,
    /// The closure's return value, or why there is none.
    pub result: Result<i32, DpdkError>,
}

unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Job> leaked by `launch_on` for exactly this
    // launch; DPDK passes it here once, so we take ownership back once.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // Unwinding out of an extern "C" fn aborts the process: report instead.
    match catch_unwind(AssertUnwindSafe(move || (*job)())) {
        Ok(PANICKED) => PANICKED + 1,
        Ok(value) => value,
        Err(_) => PANICKED,
    }
}

impl Eal {
    /// Runs `f` on worker `lcore`. The lcore must be an enabled worker that
    /// is idle (never launched, or collected with [`Eal::wait`]).
    /// `i32::MIN` is reserved to report a panic; a closure returning it is
    /// reported as `i32::MIN + 1`.
    pub fn launch_on(
        &self,
        lcore: LcoreId,
        f: impl FnOnce() -> i32 + Send + 'static,
    ) -> Result<(), DpdkError> {
        self.check_worker(lcore)?;
        if LAUNCHED[lcore.0 as usize].swap(true, Ordering::AcqRel) {
            return Err(DpdkError::Lcore {
                lcore: lcore.0,
                reason: "already running a launched function; wait for it first",
            });
        }
        let job: Box<Job> = Box::new(Box::new(f));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: `trampoline` matches lcore_function_t and takes ownership of
        // `arg` when (and only when) the launch succeeds; the lcore is a
        // valid enabled worker (checked above).
        let ret = unsafe { ffi::rte_eal_remote_launch(Some(trampoline), arg, lcore.0) };
        if ret < 0 {
            // SAFETY: the launch failed, so DPDK never saw `arg`: reclaim it.
            drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
            LAUNCHED[lcore.0 as usize].store(false, Ordering::Release);
            return Err(DpdkError::from_ret(
                format!("rte_eal_remote_launch(lcore {})", lcore.0),
                ret,
            ));
        }
        Ok(())
    }

    /// Blocks until the function launched on `lcore` returns; gives its value.
    pub fn wait(&self, lcore: LcoreId) -> Result<i32, DpdkError> {
        self.check_worker(lcore)?;
        if !LAUNCHED[lcore.0 as usize].load(Ordering::Acquire) {
            return Err(DpdkError::Lcore {
                lcore: lcore.0,
                reason: "nothing was launched on it",
            });
        }
        // SAFETY: valid worker lcore id; blocks until the lcore is idle.
        let ret = unsafe { ffi::rte_eal_wait_lcore(lcore.0) };
        LAUNCHED[lcore.0 as usize].store(false, Ordering::Release);
        if ret == PANICKED {
            Err(DpdkError::LcorePanicked { lcore: lcore.0 })
        } else {
            Ok(ret)
        }
    }

    /// Waits for every worker lcore that has a launched function.
    pub fn wait_all(&self) -> Vec<LcoreExit> {
        self.worker_lcores()
            .into_iter()
            .filter(|l| LAUNCHED[l.0 as usize].load(Ordering::Acquire))
            .map(|lcore| LcoreExit {
                lcore,
                result: self.wait(lcore),
            })
            .collect()
    }

    fn check_worker(&self, lcore: LcoreId) -> Result<(), DpdkError> {
        if lcore.0 >= ffi::RTE_MAX_LCORE {
            return Err(DpdkError::Lcore {
                lcore: lcore.0,
                reason: "beyond RTE_MAX_LCORE",
            });
        }
        if lcore == self.main_lcore() {
            return Err(DpdkError::Lcore {
                lcore: lcore.0,
                reason: "is the main lcore; launch only on workers",
            });
        }
        // SAFETY: id below RTE_MAX_LCORE; a plain read of the lcore table.
        if unsafe { ffi::rte_lcore_is_enabled(lcore.0) } == 0 {
            return Err(DpdkError::Lcore {
                lcore: lcore.0,
                reason: "is not enabled in the EAL arguments (-l / --lcores)",
            });
        }
        Ok(())
    }
}
