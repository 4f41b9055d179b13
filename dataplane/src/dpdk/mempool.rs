//! Packet buffer pools (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use tollgate_ffi as ffi;

use super::eal::ensure_running;
use super::error::DpdkError;
use super::ids::SocketId;

/// Pools created and not freed (a pool leaked because mbufs were still out
/// counts as live): `Eal`'s drop skips `rte_eal_cleanup` while any remain.
pub(crate) static LIVE_POOLS: AtomicUsize = AtomicUsize::new(0);

/// An mbuf pool. Dropping it frees the pool with `rte_mempool_free`, which is
/// only sound when no mbuf from it is outstanding and no port queue still
/// refers to it: RX queues keep an `Arc<Mempool>` for that reason, and if
/// mbufs are still in use at drop the pool is leaked (with a warning) rather
/// than freed under them. Drop every [`super::Mbuf`] first to really free it.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<ffi::rte_mempool>,
    name: String,
}

// SAFETY: the default mempool ops (ring_mp_mc) are multi-producer and
// multi-consumer; the per-lcore caches are indexed by the calling lcore.
unsafe impl Send for Mempool {}
// SAFETY: as for Send: every operation through &Mempool is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n_mbufs` packet buffers. `data_room_size` includes
    /// the 128-byte headroom (`RTE_PKTMBUF_HEADROOM`): 2176 is DPDK's default,
    /// 9216 or 16384 hold jumbo frames in one segment. `cache_size` is the
    /// per-lcore cache (at most 512, and at most `n_mbufs / 1.5`).
    pub fn new(
        name: &str,
        n_mbufs: u32,
        cache_size: u32,
        data_room_size: u16,
        socket: SocketId,
    ) -> Result<Mempool, DpdkError> {
        ensure_running("rte_pktmbuf_pool_create")?;
        let op = || format!("rte_pktmbuf_pool_create({name:?}, {n_mbufs} mbufs)");
        let c_name = CString::new(name).map_err(|_| DpdkError::InvalidArgument {
            op: op(),
            reason: "pool name contains a NUL byte".into(),
        })?;
        // DPDK's own rule (rte_mempool_create_empty), which it reports
        // only as EINVAL.
        if cache_size > ffi::RTE_MEMPOOL_CACHE_MAX_SIZE
            || u64::from(cache_size) * 3 / 2 > u64::from(n_mbufs)
        {
            return Err(DpdkError::InvalidArgument {
                op: op(),
                reason: format!(
                    "cache size {cache_size} must be at most {} and at most 2/3 of the pool",
                    ffi::RTE_MEMPOOL_CACHE_MAX_SIZE
                ),
            });
        }
        if u32::from(data_room_size) < ffi::RTE_PKTMBUF_HEADROOM {
            return Err(DpdkError::InvalidArgument {
                op: op(),
                reason: format!(
                    "data room {data_room_size} is smaller than the {}-byte headroom",
                    ffi::RTE_PKTMBUF_HEADROOM
                ),
            });
        }
        // SAFETY: c_name is a valid C string for the call's duration (DPDK
        // copies it); the other arguments are plain values.
        let raw = unsafe {
            ffi::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                n_mbufs,
                cache_size,
                0,
                data_room_size,
                socket.0,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| DpdkError::from_errno(op()))?;
        LIVE_POOLS.fetch_add(1, Ordering::AcqRel);
        Ok(Mempool {
            raw,
            name: name.to_owned(),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Mbufs currently allocated (including those held by ports' RX rings).
    pub fn in_use_count(&self) -> u32 {
        // SAFETY: raw is a live pool; the count is a racy-but-safe read.
        unsafe { ffi::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Mbufs free in the pool (including per-lcore caches).
    pub fn avail_count(&self) -> u32 {
        // SAFETY: raw is a live pool; the count is a racy-but-safe read.
        unsafe { ffi::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Bytes of data room per mbuf after the headroom.
    pub fn data_room(&self) -> u16 {
        // SAFETY: raw is a live pktmbuf pool, whose private area DPDK set up.
        let room = unsafe { ffi::rte_pktmbuf_data_room_size(self.raw.as_ptr()) };
        room.saturating_sub(ffi::RTE_PKTMBUF_HEADROOM as u16)
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        let in_use = self.in_use_count();
        if in_use != 0 {
            eprintln!(
                "mempool {}: {in_use} mbufs still in use at drop; leaking the pool instead of freeing it",
                self.name
            );
            return;
        }
        // SAFETY: raw is a live pool and no mbuf from it is outstanding
        // (checked above); nothing can use it after this handle is gone.
        // Port RX queues hold an Arc<Mempool>, so none refers to it either.
        unsafe { ffi::rte_mempool_free(self.raw.as_ptr()) };
        LIVE_POOLS.fetch_sub(1, Ordering::AcqRel);
    }
}
