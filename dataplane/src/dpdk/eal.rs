//! Starting and stopping the DPDK Environment Abstraction Layer.

use std::ffi::{c_char, c_int, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};

use tollgate_ffi as ffi;

use super::error::{rte_errno, strerror, DpdkError};
use super::ids::{LcoreId, SocketId};
use super::mempool::LIVE_POOLS;

const EAL_NEVER: u8 = 0;
const EAL_RUNNING: u8 = 1;
const EAL_DONE: u8 = 2;

/// DPDK accepts one `rte_eal_init` per process, successful or not (a failed
/// init can leave EAL half set up), so the first attempt claims this.
static EAL_STATE: AtomicU8 = AtomicU8::new(EAL_NEVER);

/// Fails unless EAL is up; handles that call into DPDK check this first.
pub(crate) fn ensure_running(op: &'static str) -> Result<(), DpdkError> {
    if EAL_STATE.load(Ordering::Acquire) == EAL_RUNNING {
        Ok(())
    } else {
        Err(DpdkError::EalNotRunning { op })
    }
}

/// The running EAL. Dropping it runs `rte_eal_cleanup`: drop it last, after
/// every worker has returned and every mbuf, queue, port and mempool is gone.
///
/// Not `Send`: EAL is cleaned up from the thread that started it (the main lcore).
#[derive(Debug)]
pub struct Eal {
    _main_thread_only: PhantomData<*const ()>,
}

impl Eal {
    /// Starts EAL with `args` as its command line. A first element that is
    /// not an option (does not start with `-`) is taken as the program name;
    /// otherwise "tollgate" is used. Only one call per process may succeed
    /// or even be attempted; a second returns [`DpdkError::EalAlreadyInitialised`].
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let mut argv_owned = Vec::with_capacity(args.len() + 1);
        let args = match args.split_first() {
            Some((program, rest)) if !program.starts_with('-') => {
                argv_owned.push(CString::new(program.as_bytes()).map_err(|_| {
                    DpdkError::InvalidArgument {
                        op: "rte_eal_init".into(),
                        reason: format!("program name {program:?} contains a NUL byte"),
                    }
                })?);
                rest
            }
            _ => {
                argv_owned.push(CString::from(c"tollgate"));
                args
            }
        };
        for arg in args {
            let c = CString::new(arg.as_bytes()).map_err(|_| DpdkError::InvalidArgument {
                op: "rte_eal_init".into(),
                reason: format!("EAL argument {arg:?} contains a NUL byte"),
            })?;
            argv_owned.push(c);
        }
        if EAL_STATE
            .compare_exchange(EAL_NEVER, EAL_RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        // EAL may keep pointers into argv (it permutes it and stores some
        // option strings), so the strings live for the rest of the process.
        let argv: &'static mut [*mut c_char] = Vec::leak(
            argv_owned
                .into_iter()
                .map(CString::into_raw)
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = c_int::try_from(argv.len() - 1).map_err(|_| DpdkError::InvalidArgument {
            op: "rte_eal_init".into(),
            reason: "too many EAL arguments".into(),
        })?;
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // NULL, all leaked so they outlive EAL; EAL_STATE guarantees this is
        // the only rte_eal_init in the process.
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            EAL_STATE.store(EAL_DONE, Ordering::Release);
            let errno = rte_errno();
            return Err(DpdkError::EalInit {
                code: -errno,
                text: strerror(errno),
                hint: eal_hint(errno, args),
            });
        }
        if ret < argc - 1 {
            // EAL stops at the first argument it does not take (getopt moves
            // non-options to the end); they would be silently ignored.
            let ignored: Vec<String> = argv[ret as usize + 1..argc as usize]
                .iter()
                .map(|&p| {
                    // SAFETY: argv[..argc] are the valid C strings leaked
                    // above (EAL only permutes the pointers).
                    unsafe { std::ffi::CStr::from_ptr(p) }
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            eprintln!("rte_eal_init: arguments not used by EAL: {ignored:?}");
        }
        Ok(Eal {
            _main_thread_only: PhantomData,
        })
    }

    /// The lcore that called `init` (runs the control loop).
    pub fn main_lcore(&self) -> LcoreId {
        // SAFETY: EAL is initialised (we hold an Eal); a plain getter.
        LcoreId(unsafe { ffi::rte_get_main_lcore() })
    }

    /// Every enabled lcore except the main one, in EAL's order.
    pub fn worker_lcores(&self) -> Vec<LcoreId> {
        let mut lcores = Vec::new();
        let mut i: u32 = u32::MAX; // -1: start from the first lcore
        loop {
            // SAFETY: EAL is initialised; rte_get_next_lcore only reads the
            // lcore configuration. skip_main=1, wrap=0.
            i = unsafe { ffi::rte_get_next_lcore(i, 1, 0) };
            if i >= ffi::RTE_MAX_LCORE {
                break;
            }
            lcores.push(LcoreId(i));
        }
        lcores
    }

    /// The NUMA socket an lcore runs on.
    pub fn socket_of(&self, lcore: LcoreId) -> SocketId {
        if lcore.0 >= ffi::RTE_MAX_LCORE {
            return SocketId::ANY;
        }
        // SAFETY: EAL is initialised and the id is below RTE_MAX_LCORE, the
        // bound of the table DPDK indexes without checking.
        let socket = unsafe { ffi::rte_lcore_to_socket_id(lcore.0) };
        i32::try_from(socket).map_or(SocketId::ANY, SocketId)
    }

    /// Timestamp counter ticks per second (`rte_rdtsc` frequency).
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised; a plain getter.
        unsafe { ffi::rte_get_tsc_hz() }
    }

    /// Number of ethdev ports EAL found (vdevs and probed PCI devices).
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised; a plain getter.
        unsafe { ffi::rte_eth_dev_count_avail() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        EAL_STATE.store(EAL_DONE, Ordering::Release);
        let pools = LIVE_POOLS.load(Ordering::Acquire);
        if pools != 0 {
            // Cleanup would free memory that live mbufs and pools point into.
            eprintln!("rte_eal_cleanup skipped: {pools} mempools are still alive");
            return;
        }
        // SAFETY: EAL was initialised by this handle; no DPDK handle may
        // outlive it (documented on the type), and EAL_STATE now refuses new ones.
        let ret = unsafe { ffi::rte_eal_cleanup() };
        if ret < 0 {
            eprintln!("{}", DpdkError::from_ret("rte_eal_cleanup", ret));
        }
    }
}

/// A suggestion for the usual host problems behind an EAL failure.
fn eal_hint(errno: i32, args: &[String]) -> String {
    let no_huge = args.iter().any(|a| a == "--no-huge");
    match errno {
        libc::ENOMEM | libc::EACCES | libc::ENOSPC if !no_huge => {
            "; no free hugepages? run scripts/setup.sh or pass --no-huge".to_owned()
        }
        libc::ENOMEM => "; not enough memory for -m with --no-huge".to_owned(),
        libc::EALREADY => "; EAL was already initialised in this process".to_owned(),
        libc::EINVAL => "; check the EAL arguments (see the EAL log above)".to_owned(),
        _ => String::new(),
    }
}
