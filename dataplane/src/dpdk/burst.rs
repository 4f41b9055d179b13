//! A fixed-size batch of owned mbufs, for RX and TX without heap allocation.

use std::ptr;

use tollgate_ffi as ffi;

use super::mbuf::Mbuf;

/// Up to `N` owned mbufs in a fixed array. Slots `0..len` are owned, non-null
/// pointers; dropping the burst frees them. RX appends after `len`; TX sends
/// from the front and keeps what the NIC did not accept.
pub struct MbufBurst<const N: usize> {
    pkts: [*mut ffi::rte_mbuf; N],
    len: usize,
}

// SAFETY: the burst owns its mbufs exactly as a [Mbuf; N] would, and Mbuf is Send.
unsafe impl<const N: usize> Send for MbufBurst<N> {}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Debug for MbufBurst<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufBurst")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> MbufBurst<N> {
    /// An empty burst. `N` must fit the u16 burst sizes of ethdev.
    pub const fn new() -> Self {
        assert!(N <= u16::MAX as usize, "burst size must fit in u16");
        MbufBurst {
            pkts: [ptr::null_mut(); N],
            len: 0,
        }
    }

    /// Owned mbufs.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No mbufs.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// No free slot.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// The fixed capacity `N`.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Adds an mbuf at the end; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, mbuf: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(mbuf);
        }
        self.pkts[self.len] = mbuf.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let raw = std::mem::replace(&mut self.pkts[self.len], ptr::null_mut());
        // SAFETY: slots below the old len are owned non-null mbufs; the slot
        // was cleared, so ownership moves out exactly once.
        Some(unsafe { Mbuf::from_raw(ptr::NonNull::new_unchecked(raw)) })
    }

    /// The owned mbufs, for in-place work.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, which has
        // the layout of *mut rte_mbuf; slots 0..len are non-null and owned.
        unsafe { std::slice::from_raw_parts(self.pkts.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The owned mbufs, mutable (the slice cannot drop or replace ownership
    /// unsoundly: swapping two `Mbuf`s keeps each owned once).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.pkts.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Moves every mbuf out, in order. Whatever the iterator does not yield
    /// is freed when it is dropped. The burst is empty afterwards.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_, N> {
        let end = self.len;
        // Empty first: if the Drain is leaked, mbufs leak instead of being freed twice.
        self.len = 0;
        Drain {
            burst: self,
            next: 0,
            end,
        }
    }

    /// Frees every mbuf still owned (e.g. those a full TX queue refused);
    /// returns how many, for a drop counter.
    #[inline]
    pub fn drop_unsent(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            self.len = 0;
            // SAFETY: slots 0..n are owned non-null mbufs, freed once here;
            // len was reset first so they are no longer reachable.
            unsafe { ffi::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), n as u32) };
        }
        n
    }

    /// Keeps the mbufs for which `keep` returns true, in order, and frees
    /// the others in one bulk call; returns how many were freed.
    #[inline]
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Mbuf) -> bool) -> usize {
        let mut rejected = [ptr::null_mut(); N];
        let (mut kept, mut gone) = (0, 0);
        let len = self.len;
        // Empty while slots move: if `keep` panics, mbufs leak instead of
        // being freed twice.
        self.len = 0;
        for i in 0..len {
            let raw = self.pkts[i];
            // SAFETY: slot i holds an owned non-null mbuf (i < old len), and
            // Mbuf is repr(transparent) over its pointer: the reference is
            // only borrowed for the call, ownership stays with the burst.
            let m = unsafe { &mut *ptr::addr_of_mut!(self.pkts[i]).cast::<Mbuf>() };
            if keep(m) {
                self.pkts[kept] = raw;
                kept += 1;
            } else {
                rejected[gone] = raw;
                gone += 1;
            }
        }
        self.len = kept;
        if gone > 0 {
            // SAFETY: the rejected mbufs were owned by the burst and are no
            // longer reachable from it (len = kept); each is freed once here.
            unsafe { ffi::rte_pktmbuf_free_bulk(rejected.as_mut_ptr(), gone as u32) };
        }
        gone
    }

    /// Hands each mbuf, in order, to `f`, which gives it back to keep it
    /// (kept mbufs stay in order at the front) or takes it over (sends it
    /// elsewhere, frees it). No mbuf is freed here.
    #[inline]
    pub fn retain_owned(&mut self, mut f: impl FnMut(Mbuf) -> Option<Mbuf>) {
        let len = self.len;
        // Empty while slots move: if `f` panics, the mbufs not yet handed
        // out leak instead of being freed twice.
        self.len = 0;
        let mut kept = 0;
        for i in 0..len {
            // SAFETY: slot i (< old len) holds an owned non-null mbuf, moved
            // out exactly once here: the burst no longer counts it.
            let m = unsafe { Mbuf::from_raw(ptr::NonNull::new_unchecked(self.pkts[i])) };
            if let Some(m) = f(m) {
                self.pkts[kept] = m.into_raw().as_ptr();
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Free slots as a raw array for an RX burst to fill.
    #[inline]
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut ffi::rte_mbuf, u16) {
        let spare = N - self.len;
        // SAFETY: len <= N, so the pointer stays within (or one past) the array.
        let p = unsafe { self.pkts.as_mut_ptr().add(self.len) };
        (p, spare as u16)
    }

    /// Records that an RX burst filled `n` spare slots with owned mbufs.
    ///
    /// # Safety
    /// The first `n` spare slots must now hold valid mbufs owned by nobody else.
    #[inline]
    pub(crate) unsafe fn commit_rx(&mut self, n: usize) {
        debug_assert!(self.len + n <= N);
        self.len += n;
    }

    /// The owned mbufs as a raw array for a TX burst.
    #[inline]
    pub(crate) fn owned_raw(&mut self) -> (*mut *mut ffi::rte_mbuf, u16) {
        (self.pkts.as_mut_ptr(), self.len as u16)
    }

    /// Frees the mbuf in slot `i` and closes the gap, keeping the order.
    pub(crate) fn remove_and_free(&mut self, i: usize) {
        debug_assert!(i < self.len);
        let raw = self.pkts[i];
        self.pkts.copy_within(i + 1..self.len, i);
        self.len -= 1;
        // SAFETY: slot i held an owned non-null mbuf, now unreachable from
        // the burst; it is freed exactly once here.
        drop(unsafe { Mbuf::from_raw(ptr::NonNull::new_unchecked(raw)) });
    }

    /// Records that the first `k` mbufs were handed to the NIC: forget them
    /// and move the rest to the front, still owned.
    #[inline]
    pub(crate) fn consume_front(&mut self, k: usize) {
        debug_assert!(k <= self.len);
        self.pkts.copy_within(k..self.len, 0);
        self.len -= k;
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.drop_unsent();
    }
}

/// Iterator from [`MbufBurst::drain`].
pub struct Drain<'a, const N: usize> {
    burst: &'a mut MbufBurst<N>,
    next: usize,
    end: usize,
}

impl<const N: usize> Iterator for Drain<'_, N> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        let raw = self.burst.pkts[self.next];
        self.next += 1;
        // SAFETY: slots next..end were owned by the burst when the drain
        // began and each is moved out once (next only grows).
        Some(unsafe { Mbuf::from_raw(ptr::NonNull::new_unchecked(raw)) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl<const N: usize> ExactSizeIterator for Drain<'_, N> {}

impl<const N: usize> Drop for Drain<'_, N> {
    fn drop(&mut self) {
        let rest = self.end - self.next;
        if rest > 0 {
            // SAFETY: slots next..end are still owned (never yielded) and the
            // burst's len is 0, so this is their only free.
            unsafe {
                ffi::rte_pktmbuf_free_bulk(self.burst.pkts.as_mut_ptr().add(self.next), rest as u32)
            };
        }
    }
}
