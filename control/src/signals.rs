//! SIGHUP (reload rules) and SIGTERM/SIGINT (drain, then exit) as flags the
//! service loop polls; the handlers only store to atomics.

use std::sync::atomic::{AtomicBool, Ordering};

static HANGUP: AtomicBool = AtomicBool::new(false);
static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    match signal {
        libc::SIGHUP => HANGUP.store(true, Ordering::SeqCst),
        _ => TERMINATE.store(true, Ordering::SeqCst),
    }
}

/// Installs the handlers for SIGHUP, SIGTERM and SIGINT.
pub fn install() -> std::io::Result<()> {
    for signal in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches
        // atomics (async-signal-safe) and SA_RESTART keeps blocking calls going.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True once per SIGHUP received since the last call.
pub fn take_hangup() -> bool {
    HANGUP.swap(false, Ordering::SeqCst)
}

pub fn terminate_requested() -> bool {
    TERMINATE.load(Ordering::SeqCst)
}
