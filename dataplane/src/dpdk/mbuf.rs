//! An owning handle for one packet buffer.

use std::ptr::NonNull;

use tollgate_ffi as ffi;

use super::ids::PortId;
use super::mempool::Mempool;
use super::offload;

/// Why a length change on an mbuf was refused. Cheap to create: these happen
/// on the fast path and become counted drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MbufError {
    /// `append` needs more tailroom than the last segment has.
    #[error("mbuf append of {wanted} bytes: only {available} bytes of tailroom")]
    NoTailroom {
        /// Bytes asked for.
        wanted: usize,
        /// Bytes free after the data.
        available: usize,
    },
    /// `prepend` needs more headroom than the first segment has.
    #[error("mbuf prepend of {wanted} bytes: only {available} bytes of headroom")]
    NoHeadroom {
        /// Bytes asked for.
        wanted: usize,
        /// Bytes free before the data.
        available: usize,
    },
    /// `adj`/`trim` would remove more than the segment holds.
    #[error("mbuf cannot remove {wanted} bytes: segment holds {available}")]
    TooShort {
        /// Bytes asked to remove.
        wanted: usize,
        /// Bytes the relevant segment holds.
        available: usize,
    },
}

/// What the NIC reported about a received checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CksumStatus {
    /// The NIC did not check it.
    Unknown,
    /// Checked and correct.
    Good,
    /// Checked and wrong.
    Bad,
    /// The NIC could not decide (e.g. unknown protocol); valid as received.
    None,
}

/// One packet (possibly a chain of segments), owned. Dropping it returns it
/// to its pool with `rte_pktmbuf_free`.
///
/// `repr(transparent)` over a non-null pointer: [`super::MbufBurst`] relies on
/// its raw pointer array having this layout.
#[derive(Debug)]
#[repr(transparent)]
pub struct Mbuf {
    raw: NonNull<ffi::rte_mbuf>,
}

// SAFETY: an Mbuf is the only reference to its buffer, and DPDK frees buffers
// into a multi-producer pool from any thread. Not Sync: &Mbuf gives no
// synchronisation for the plain fields it reads.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes one mbuf from `pool`, reset and empty; `None` when the pool is empty.
    #[inline]
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is live for the duration of the call.
        let raw = unsafe { ffi::rte_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(raw).map(|raw| Mbuf { raw })
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must point to a valid mbuf that nothing else owns or will free.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<ffi::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership without freeing; the caller must free the mbuf
    /// (for example by passing it to DPDK, or back through `from_raw`).
    #[inline]
    pub fn into_raw(self) -> NonNull<ffi::rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    #[inline]
    fn m(&self) -> &ffi::rte_mbuf {
        // SAFETY: we own a valid mbuf; no one else accesses it while we do.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn m_mut(&mut self) -> &mut ffi::rte_mbuf {
        // SAFETY: we own a valid mbuf exclusively (&mut self).
        unsafe { self.raw.as_mut() }
    }

    /// Bytes in the first segment.
    #[inline]
    pub fn data_len(&self) -> u16 {
        self.m().data_len
    }

    /// Bytes in the whole packet (all segments).
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.m().pkt_len
    }

    /// Segments in the chain (1 for a packet that fits one mbuf).
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.m().nb_segs
    }

    /// True when the whole packet is in the first segment, so `data()` is all of it.
    /// Reads `nb_segs` (as DPDK's `rte_pktmbuf_is_contiguous` does), which
    /// shares the mbuf's first cache line with the lengths and flags the
    /// fast path reads anyway; `next` is on the second.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.m().nb_segs == 1
    }

    /// The first segment's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off starts data_len initialised bytes of
        // the buffer we own (DPDK's rte_pktmbuf_mtod invariant).
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The first segment's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in `data`, and &mut self makes the access exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// Free bytes before the data in the first segment.
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.m().data_off)
    }

    /// Free bytes after the data in the last segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        let last = self.last_segment();
        usize::from(last.buf_len)
            .saturating_sub(usize::from(last.data_off))
            .saturating_sub(usize::from(last.data_len))
    }

    fn last_segment(&self) -> &ffi::rte_mbuf {
        let mut seg = self.m();
        while !seg.next.is_null() {
            // SAFETY: `next` links segments of the chain we own.
            seg = unsafe { &*seg.next };
        }
        seg
    }

    /// Grows the packet by `len` bytes at the end; returns the new bytes
    /// (uninitialised contents from the buffer, so the caller fills them).
    #[inline]
    pub fn append(&mut self, len: usize) -> Result<&mut [u8], MbufError> {
        let available = self.tailroom();
        let len16 = u16::try_from(len).ok().filter(|_| len <= available);
        let Some(len16) = len16 else {
            return Err(MbufError::NoTailroom {
                wanted: len,
                available,
            });
        };
        // SAFETY: we own the mbuf; DPDK checks the tailroom again and
        // returns NULL instead of overrunning.
        let p = unsafe { ffi::rte_pktmbuf_append(self.raw.as_ptr(), len16) };
        if p.is_null() {
            return Err(MbufError::NoTailroom {
                wanted: len,
                available,
            });
        }
        // SAFETY: DPDK returned the start of `len` bytes now part of the
        // packet inside the buffer we own exclusively.
        Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
    }

    /// Grows the packet by `len` bytes at the front; returns the new bytes.
    #[inline]
    pub fn prepend(&mut self, len: usize) -> Result<&mut [u8], MbufError> {
        let available = self.headroom();
        let len16 = u16::try_from(len).ok().filter(|_| len <= available);
        let Some(len16) = len16 else {
            return Err(MbufError::NoHeadroom {
                wanted: len,
                available,
            });
        };
        // SAFETY: we own the mbuf; DPDK checks the headroom again.
        let p = unsafe { ffi::rte_pktmbuf_prepend(self.raw.as_ptr(), len16) };
        if p.is_null() {
            return Err(MbufError::NoHeadroom {
                wanted: len,
                available,
            });
        }
        // SAFETY: DPDK returned the new start of the first segment's data,
        // `len` bytes of which were just added, inside our buffer.
        Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
    }

    /// Removes `len` bytes from the front of the first segment.
    #[inline]
    pub fn adj(&mut self, len: usize) -> Result<(), MbufError> {
        let available = usize::from(self.data_len());
        let len16 = u16::try_from(len).ok().filter(|_| len <= available);
        let Some(len16) = len16 else {
            return Err(MbufError::TooShort {
                wanted: len,
                available,
            });
        };
        // SAFETY: we own the mbuf; len <= data_len, which DPDK also checks.
        let p = unsafe { ffi::rte_pktmbuf_adj(self.raw.as_ptr(), len16) };
        if p.is_null() {
            return Err(MbufError::TooShort {
                wanted: len,
                available,
            });
        }
        Ok(())
    }

    /// Removes `len` bytes from the end of the last segment.
    #[inline]
    pub fn trim(&mut self, len: usize) -> Result<(), MbufError> {
        let available = usize::from(self.last_segment().data_len);
        let len16 = u16::try_from(len).ok().filter(|_| len <= available);
        let Some(len16) = len16 else {
            return Err(MbufError::TooShort {
                wanted: len,
                available,
            });
        };
        // SAFETY: we own the mbuf; len <= the last segment's data_len.
        let ret = unsafe { ffi::rte_pktmbuf_trim(self.raw.as_ptr(), len16) };
        if ret != 0 {
            return Err(MbufError::TooShort {
                wanted: len,
                available,
            });
        }
        Ok(())
    }

    /// The port the packet was received on.
    #[inline]
    pub fn port(&self) -> PortId {
        PortId(self.m().port)
    }

    /// The NIC's RSS hash, when it computed one.
    #[inline]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.m();
        if m.ol_flags & u64::from(ffi::RTE_MBUF_F_RX_RSS_HASH) != 0 {
            // SAFETY: with RX_RSS_HASH set the driver wrote the `rss` member;
            // every member of this union is plain integers anyway.
            Some(unsafe { m.__bindgen_anon_2.hash.rss })
        } else {
            None
        }
    }

    /// Offload flags (`RTE_MBUF_F_*`).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        self.m().ol_flags
    }

    /// Replaces the offload flags, except the two that say who owns the
    /// buffer (`EXTERNAL`, `INDIRECT`): `rte_pktmbuf_free` trusts those, so
    /// they stay as DPDK set them.
    #[inline]
    pub fn set_ol_flags(&mut self, flags: u64) {
        const OWNERSHIP: u64 = ffi::RTE_MBUF_F_EXTERNAL | ffi::RTE_MBUF_F_INDIRECT;
        let m = self.m_mut();
        m.ol_flags = (flags & !OWNERSHIP) | (m.ol_flags & OWNERSHIP);
    }

    /// The NIC's verdict on the received IPv4 header checksum.
    #[inline]
    pub fn rx_ip_cksum(&self) -> CksumStatus {
        cksum_status(
            self.ol_flags(),
            offload::RX_IP_CKSUM_MASK,
            offload::RX_IP_CKSUM_GOOD,
            offload::RX_IP_CKSUM_BAD,
        )
    }

    /// The NIC's verdict on the received L4 checksum.
    #[inline]
    pub fn rx_l4_cksum(&self) -> CksumStatus {
        cksum_status(
            self.ol_flags(),
            offload::RX_L4_CKSUM_MASK,
            offload::RX_L4_CKSUM_GOOD,
            offload::RX_L4_CKSUM_BAD,
        )
    }

    /// Asks the NIC to compute the IPv4 header checksum on transmit. The
    /// port must have `TX_OFFLOAD_IPV4_CKSUM` enabled; the checksum field
    /// should be zero. Lengths are those of the headers in front of the
    /// IPv4 header and of the IPv4 header itself.
    #[inline]
    pub fn set_tx_ipv4_cksum(&mut self, l2_len: u8, l3_len: u16) {
        let m = self.m_mut();
        // SAFETY: tx_offload's bitfield struct and the u64 cover the same
        // plain bits; writing through the struct view is always valid.
        let lens = unsafe { &mut m.__bindgen_anon_3.__bindgen_anon_1 };
        lens.set_l2_len(u64::from(l2_len));
        lens.set_l3_len(u64::from(l3_len));
        m.ol_flags |= ffi::RTE_MBUF_F_TX_IPV4 | ffi::RTE_MBUF_F_TX_IP_CKSUM;
    }

    /// Asks the NIC to finish the UDP checksum of an IPv4 packet on transmit
    /// (call after `set_tx_ipv4_cksum` or set the lengths there). DPDK's
    /// contract: the UDP checksum field must hold the pseudo-header checksum
    /// (`rte_ipv4_phdr_cksum`). Needs `TX_OFFLOAD_UDP_CKSUM` on the port.
    #[inline]
    pub fn set_tx_udp_cksum(&mut self) {
        let m = self.m_mut();
        m.ol_flags |= ffi::RTE_MBUF_F_TX_UDP_CKSUM | ffi::RTE_MBUF_F_TX_IPV4;
    }

    /// Clears every TX offload request (e.g. before re-sending a received mbuf).
    #[inline]
    pub fn clear_tx_offloads(&mut self) {
        let m = self.m_mut();
        m.ol_flags &= !ffi::RTE_MBUF_F_TX_OFFLOAD_MASK;
        m.__bindgen_anon_3.tx_offload = 0;
    }

    /// The first segment's bytes followed by its tailroom: for rewriting a
    /// packet in place when the result may be longer. Only meaningful for a
    /// single-segment packet; use [`Mbuf::set_data_len`] afterwards.
    #[inline]
    pub fn data_with_tailroom_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        let len = usize::from(m.buf_len).saturating_sub(usize::from(m.data_off));
        // SAFETY: buf_addr + data_off .. buf_addr + buf_len lies inside the
        // data buffer of the mbuf we own exclusively (&mut self); bytes past
        // data_len are initialised memory of the pool (possibly stale).
        unsafe {
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                len,
            )
        }
    }

    /// Sets the length of a single-segment packet after an in-place rewrite.
    #[inline]
    pub fn set_data_len(&mut self, len: usize) -> Result<(), MbufError> {
        let chained = !self.is_contiguous();
        let m = self.m_mut();
        let room = usize::from(m.buf_len).saturating_sub(usize::from(m.data_off));
        let len16 = u16::try_from(len).ok().filter(|_| len <= room && !chained);
        let Some(len16) = len16 else {
            return Err(MbufError::NoTailroom {
                wanted: len.saturating_sub(usize::from(m.data_len)),
                available: room.saturating_sub(usize::from(m.data_len)),
            });
        };
        m.data_len = len16;
        m.pkt_len = u32::from(len16);
        Ok(())
    }

    /// Appends `tail` (and its chain) as further segments. Gives `tail`
    /// back if the chain would exceed DPDK's segment limit.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        let tail_raw = tail.into_raw();
        // SAFETY: both are owned valid mbufs; on success the head owns the
        // tail (freed with it); on failure nothing changed.
        let ret = unsafe { ffi::rte_pktmbuf_chain(self.raw.as_ptr(), tail_raw.as_ptr()) };
        if ret != 0 {
            // SAFETY: the chain was refused, so we still own the tail.
            return Err(unsafe { Mbuf::from_raw(tail_raw) });
        }
        Ok(())
    }

    /// Each segment's bytes, in order (one item for a contiguous packet).
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            next: self.raw.as_ptr(),
            _packet: std::marker::PhantomData,
        }
    }

    /// The raw pointer, still owned by `self`.
    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::rte_mbuf {
        self.raw.as_ptr()
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain); it is freed exactly once here.
        unsafe { ffi::rte_pktmbuf_free(self.raw.as_ptr()) };
    }
}

fn cksum_status(flags: u64, mask: u64, good: u64, bad: u64) -> CksumStatus {
    match flags & mask {
        0 => CksumStatus::Unknown,
        f if f == good => CksumStatus::Good,
        f if f == bad => CksumStatus::Bad,
        _ => CksumStatus::None,
    }
}

/// Iterator from [`Mbuf::segments`].
pub struct Segments<'a> {
    next: *const ffi::rte_mbuf,
    _packet: std::marker::PhantomData<&'a Mbuf>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: `next` is a segment of the chain borrowed for 'a.
        let seg = unsafe { &*self.next };
        self.next = seg.next;
        // SAFETY: as in `Mbuf::data`, for this segment.
        Some(unsafe {
            std::slice::from_raw_parts(
                seg.buf_addr.cast::<u8>().add(usize::from(seg.data_off)),
                usize::from(seg.data_len),
            )
        })
    }
}
