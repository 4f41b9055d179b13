//! The memory mapping of one segment file and typed views into it.
//!
//! With `ring.rs` (byte copies into ring data) and `clock.rs`
//! (`clock_gettime`), this file holds the crate's `unsafe`: mapping,
//! unmapping, `flock`, and turning offsets into references to the all-atomic
//! shared structures.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::header::{DataplaneState, Header};
use crate::layout::Layout;

/// Types made only of atomics (and padding): any bit pattern, including the
/// zeroes of a fresh file, is a valid value, and shared mutation goes
/// through atomic operations.
///
/// # Safety
/// Implement only for such types.
pub(crate) unsafe trait SharedPlain: Sized {}

// SAFETY: each type below is `repr(C)` and contains only AtomicU64 fields
// or arrays/structs of them.
unsafe impl SharedPlain for crate::header::Header {}
// SAFETY: see above.
unsafe impl SharedPlain for crate::worker_stats::WorkerStats {}
// SAFETY: see above.
unsafe impl SharedPlain for crate::rules_info::RulesInfo {}
// SAFETY: see above.
unsafe impl SharedPlain for crate::port_stats::PortStatsRegion {}
// SAFETY: see above.
unsafe impl SharedPlain for crate::ring::RingControl {}

pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    pub(crate) path: PathBuf,
    /// Identity of the socket published at `path` when we mapped, for
    /// staleness checks: a restarted dataplane publishes a new one.
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// The dataplane's mapping: marks the segment stopped and unlinks it on drop.
    owner: bool,
    pub(crate) layout: Layout,
    /// Ring ends handed out in this process (see `Segment::claim_*`).
    claims: Box<[AtomicBool]>,
    /// Kept open for the control-role lock (`flock` belongs to this open file).
    file: File,
    control_locked: AtomicBool,
    /// The creator's server that hands the segment to peers.
    pub(crate) publisher: std::sync::Mutex<Option<crate::boundary::Publisher>>,
}

// SAFETY: the mapping is plain shared memory; all access through it is via
// atomics or the SPSC ring protocol, which is valid from any thread.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file` read-write and shared; the caller
    /// guarantees (by seals) that the file can never become shorter.
    pub(crate) fn map(
        file: File,
        path: &Path,
        identity: (u64, u64),
        len: usize,
        owner: bool,
        layout: Layout,
        claim_count: usize,
    ) -> std::io::Result<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel (addr null) of a file we
        // hold open; it aliases no Rust object.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(std::io::Error::last_os_error)?;
        Ok(Mapping {
            base,
            len,
            path: path.to_path_buf(),
            dev: identity.0,
            ino: identity.1,
            owner,
            layout,
            claims: (0..claim_count).map(|_| AtomicBool::new(false)).collect(),
            file,
            control_locked: AtomicBool::new(false),
            publisher: std::sync::Mutex::new(None),
        })
    }

    /// A reference to the shared structure at `offset`. Offsets come from a
    /// [`Layout`] checked against the mapping length, so a failure here is a
    /// bug in this crate, not bad input.
    pub(crate) fn at<T: SharedPlain>(&self, offset: usize) -> &T {
        self.ptr_at::<T>(offset, std::mem::size_of::<T>())
            .map(|p| {
                // SAFETY: in bounds and aligned (checked by ptr_at); T is
                // SharedPlain so any bytes are a valid T and shared mutation
                // is atomic; the mapping outlives the borrow of self.
                unsafe { p.as_ref() }
            })
            .unwrap_or_else(|| {
                panic!(
                    "bug: {} at offset {offset} outside a {}-byte mapping",
                    std::any::type_name::<T>(),
                    self.len
                )
            })
    }

    /// A pointer to `size` bytes at `offset` typed as T, if in bounds and aligned.
    pub(crate) fn ptr_at<T: SharedPlain>(&self, offset: usize, size: usize) -> Option<NonNull<T>> {
        let end = offset.checked_add(size)?;
        if end > self.len
            || (self.base.as_ptr() as usize + offset) & (std::mem::align_of::<T>() - 1) != 0
        {
            return None;
        }
        // SAFETY: offset + size <= len, so the result stays inside the mapping.
        Some(unsafe { self.base.add(offset) }.cast::<T>())
    }

    pub(crate) fn header(&self) -> &Header {
        self.at::<Header>(0)
    }

    /// Takes claim `index`; false if already held in this process.
    pub(crate) fn claim(&self, index: usize) -> bool {
        self.claims
            .get(index)
            .is_some_and(|c| !c.swap(true, Ordering::AcqRel))
    }

    /// Takes (once per mapping, held until it is unmapped) an exclusive
    /// `flock` on the segment file, so only one process at a time can hold
    /// the control plane's ring ends. Returns false if another open file of
    /// this segment holds it.
    pub(crate) fn lock_control_role(&self) -> std::io::Result<bool> {
        if self.control_locked.load(Ordering::Acquire) {
            return Ok(true);
        }
        // SAFETY: flock on a descriptor we own and keep open; no memory involved.
        let rc = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            // Two threads racing here both succeed: flock on one open file is idempotent.
            self.control_locked.store(true, Ordering::Release);
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(false)
        } else {
            Err(err)
        }
    }

    /// Sizes the claim table once the layout is known (attach).
    pub(crate) fn claims_resize(&mut self, count: usize) {
        self.claims = (0..count).map(|_| AtomicBool::new(false)).collect();
    }

    pub(crate) fn release(&self, index: usize) {
        if let Some(c) = self.claims.get(index) {
            c.store(false, Ordering::Release);
        }
    }

    /// The open segment memory.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Reads raw bytes at `offset`.
    #[cfg(test)]
    pub(crate) fn peek(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.len, "peek outside the mapping");
        // SAFETY: in bounds (asserted); tests peek while no other thread
        // writes the segment.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
    }

    /// Writes raw bytes at `offset`, as a broken or hostile peer could.
    #[cfg(test)]
    pub(crate) fn poke(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len, "poke outside the mapping");
        // SAFETY: in bounds (asserted); the shared structures are all
        // atomics (UnsafeCell), so foreign bytes are valid values, and tests
        // poke while no other thread uses the segment.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.as_ptr().add(offset),
                bytes.len(),
            );
        }
    }
}

impl Mapping {
    /// The creator's goodbye: state Stopped, and our file unlinked (never
    /// one a newer dataplane created). Attached readers keep their mapping
    /// and see it stale.
    pub(crate) fn retire(&self) {
        if self.owner {
            self.header().set_state(DataplaneState::Stopped);
            if crate::boundary::identity(&self.path) == Some((self.dev, self.ino)) {
                let _ = std::fs::remove_file(&self.path);
            }
            self.stop_serving();
        }
    }

    /// Stops handing the segment to new peers (attached ones keep it).
    pub(crate) fn stop_serving(&self) {
        let publisher = self.publisher.lock().map(|mut p| p.take());
        drop(publisher);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.retire();
        // SAFETY: base/len are exactly what mmap returned; no references into
        // the mapping outlive self (every borrower holds an Arc<Mapping>).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}
