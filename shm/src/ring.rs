//! A single-producer single-consumer ring of variable-length messages inside
//! the segment.
//!
//! Layout: a producer cache line (`head`, capacity), a consumer cache line
//! (`tail`), then `capacity` data bytes (a power of two). `head` and `tail`
//! are free-running byte counts. A record is a 4-byte little-endian length
//! and the message, padded to 8 bytes; it may wrap around the end of the
//! data area (copied in two pieces), so a message can use nearly the whole
//! ring. The producer writes the record, then publishes `head` with
//! `Release`; the consumer reads `head` with `Acquire`, copies the record
//! out, then frees it by publishing `tail` with `Release`.
//!
//! Both counters live in the segment, so a restarted consumer or producer
//! resumes where its predecessor stopped. The consumer validates every
//! length it reads, so a corrupt peer yields [`PopError::Corrupt`], not a
//! panic or an out-of-bounds copy.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::mapping::Mapping;

const LEN_BYTES: usize = 4;
const RECORD_ALIGN: u64 = 8;

#[repr(C, align(64))]
struct ProducerLine {
    head: AtomicU64,
    capacity: AtomicU64,
}

#[repr(C, align(64))]
struct ConsumerLine {
    tail: AtomicU64,
}

#[repr(C)]
pub(crate) struct RingControl {
    producer: ProducerLine,
    consumer: ConsumerLine,
}

pub(crate) const RING_CONTROL_BYTES: usize = std::mem::size_of::<RingControl>();

impl RingControl {
    /// Called once by the segment creator on zeroed memory.
    pub(crate) fn init(&self, capacity: usize) {
        self.producer
            .capacity
            .store(capacity as u64, Ordering::Relaxed);
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.producer.capacity.load(Ordering::Relaxed)
    }
}

/// The largest message a ring of `capacity` data bytes can carry.
pub fn max_message_len(capacity: usize) -> usize {
    capacity.saturating_sub(LEN_BYTES)
}

fn record_len(message_len: usize) -> u64 {
    (LEN_BYTES as u64 + message_len as u64).next_multiple_of(RECORD_ALIGN)
}

/// Why [`Producer::push`] did not enqueue a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not enough free space now; retry later or drop and count.
    #[error("ring full")]
    Full,
    /// The message can never fit, not even in an empty ring.
    #[error("message of {len} bytes exceeds this ring's maximum of {max} bytes")]
    TooLarge { len: usize, max: usize },
}

/// Why [`Consumer::pop_into`] could not deliver a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    /// The next message is larger than the buffer; it stays in the ring.
    #[error("next message is {needed} bytes but the buffer holds {available}")]
    BufferTooSmall { needed: usize, available: usize },
    /// The shared counters or a record length are impossible.
    #[error("ring corrupt: {0}")]
    Corrupt(String),
}

/// Shared parts of both ends: where the ring lives, kept alive by `map`.
struct RingEnd {
    map: Arc<Mapping>,
    control: NonNull<RingControl>,
    data: NonNull<u8>,
    capacity: u64,
    claim: usize,
    /// Handles are `Send` but not `Sync`.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl RingEnd {
    /// # Safety
    /// `control` must point to an initialised ring control block in `map`
    /// followed by `capacity` data bytes (a power of two), and this process
    /// must hold claim `claim` for this end of the ring.
    unsafe fn new(
        map: Arc<Mapping>,
        control: NonNull<RingControl>,
        capacity: usize,
        claim: usize,
    ) -> RingEnd {
        // SAFETY: the caller guarantees RING_CONTROL_BYTES + capacity bytes at `control`.
        let data = unsafe { control.cast::<u8>().add(RING_CONTROL_BYTES) };
        RingEnd {
            map,
            control,
            data,
            capacity: capacity as u64,
            claim,
            _not_sync: PhantomData,
        }
    }

    fn control(&self) -> &RingControl {
        // SAFETY: `control` points into the mapping that `self.map` keeps alive;
        // RingControl is only atomics, valid for any bit pattern.
        unsafe { self.control.as_ref() }
    }

    fn mask(&self) -> u64 {
        self.capacity - 1
    }

    /// Copies `src` into the data area from ring position `pos`, wrapping.
    fn copy_in(&self, pos: u64, src: &[u8]) {
        let start = (pos & self.mask()) as usize;
        let first = src.len().min(self.capacity as usize - start);
        // SAFETY: `start + first <= capacity` and `src.len() - first <= capacity`
        // (callers never copy more than `capacity` bytes), so both copies stay
        // in this ring's data area of the live mapping. These bytes lie between
        // head and tail + capacity: the consumer does not read them until head
        // is published with Release.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.data.as_ptr().add(start), first);
            std::ptr::copy_nonoverlapping(
                src.as_ptr().add(first),
                self.data.as_ptr(),
                src.len() - first,
            );
        }
    }

    /// Copies from ring position `pos` into `dst`, wrapping.
    fn copy_out(&self, pos: u64, dst: &mut [u8]) {
        let start = (pos & self.mask()) as usize;
        let first = dst.len().min(self.capacity as usize - start);
        // SAFETY: as in `copy_in`, both ranges lie in the data area; these
        // bytes lie between tail and head, published by the producer with
        // Release and observed with Acquire, and the producer does not
        // overwrite them until tail moves past them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data.as_ptr().add(start), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data.as_ptr(),
                dst.as_mut_ptr().add(first),
                dst.len() - first,
            );
        }
    }
}

impl Drop for RingEnd {
    fn drop(&mut self) {
        self.map.release(self.claim);
    }
}

/// The writing end of a ring. One per ring per process ([`crate::Segment`]
/// refuses a second while this one lives); `Send` so it can move to the
/// thread that uses it, not `Sync` or `Clone`. Nothing in `push` allocates.
pub struct Producer {
    end: RingEnd,
    head: u64,
    cached_tail: u64,
}

// SAFETY: the handle owns its claim on the ring's producer side and the Arc
// keeps the mapping alive; moving it to another thread is fine. It is not
// Sync (PhantomData<Cell>), so two threads can never push concurrently.
unsafe impl Send for Producer {}

/// The reading end of a ring; same ownership rules as [`Producer`].
pub struct Consumer {
    end: RingEnd,
    tail: u64,
    cached_head: u64,
}

// SAFETY: as for Producer.
unsafe impl Send for Consumer {}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.end.capacity)
            .field("head", &self.head)
            .finish()
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.end.capacity)
            .field("tail", &self.tail)
            .finish()
    }
}

impl Producer {
    /// # Safety
    /// `control` must point to an initialised ring control block in `map`
    /// followed by `capacity` data bytes (a power of two), and this process
    /// must hold claim `claim` as the ring's only producer.
    pub(crate) unsafe fn new(
        map: Arc<Mapping>,
        control: NonNull<RingControl>,
        capacity: usize,
        claim: usize,
    ) -> Self {
        // SAFETY: the caller's guarantees are the ones RingEnd::new needs.
        let end = unsafe { RingEnd::new(map, control, capacity, claim) };
        let head = end.control().producer.head.load(Ordering::Relaxed);
        let cached_tail = end.control().consumer.tail.load(Ordering::Acquire);
        Producer {
            end,
            head,
            cached_tail,
        }
    }

    /// Largest message this ring accepts.
    pub fn max_message_len(&self) -> usize {
        max_message_len(self.end.capacity as usize)
    }

    /// Enqueues `message` whole, or nothing. Never blocks.
    pub fn push(&mut self, message: &[u8]) -> Result<(), PushError> {
        self.push_parts(&[message])
    }

    /// Enqueues the concatenation of `parts` as one message (e.g. a punt
    /// header and the packet) without assembling it first.
    pub fn push_parts(&mut self, parts: &[&[u8]]) -> Result<(), PushError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let max = self.max_message_len();
        if len > max {
            return Err(PushError::TooLarge { len, max });
        }
        let record = record_len(len);
        if !self.has_room(record) {
            self.cached_tail = self.end.control().consumer.tail.load(Ordering::Acquire);
            if !self.has_room(record) {
                return Err(PushError::Full);
            }
        }
        // `len <= capacity - 4 <= u32::MAX - 4` because capacity is at most 1 GiB.
        self.end.copy_in(self.head, &(len as u32).to_le_bytes());
        let mut pos = self.head.wrapping_add(LEN_BYTES as u64);
        for part in parts {
            self.end.copy_in(pos, part);
            pos = pos.wrapping_add(part.len() as u64);
        }
        self.head = self.head.wrapping_add(record);
        self.end
            .control()
            .producer
            .head
            .store(self.head, Ordering::Release);
        Ok(())
    }

    fn has_room(&self, record: u64) -> bool {
        let used = self.head.wrapping_sub(self.cached_tail);
        // A tail ahead of head (a corrupt consumer) shows as "full", never as room.
        used <= self.end.capacity && self.end.capacity - used >= record
    }

    /// Bytes the consumer has not yet freed (records with their headers).
    pub fn used_bytes(&self) -> u64 {
        self.head
            .wrapping_sub(self.end.control().consumer.tail.load(Ordering::Acquire))
    }
}

impl Consumer {
    /// # Safety
    /// As for [`Producer::new`], with this process the ring's only consumer.
    pub(crate) unsafe fn new(
        map: Arc<Mapping>,
        control: NonNull<RingControl>,
        capacity: usize,
        claim: usize,
    ) -> Self {
        // SAFETY: the caller's guarantees are the ones RingEnd::new needs.
        let end = unsafe { RingEnd::new(map, control, capacity, claim) };
        let tail = end.control().consumer.tail.load(Ordering::Relaxed);
        let cached_head = end.control().producer.head.load(Ordering::Acquire);
        Consumer {
            end,
            tail,
            cached_head,
        }
    }

    /// Largest message this ring can deliver: size receive buffers with it.
    pub fn max_message_len(&self) -> usize {
        max_message_len(self.end.capacity as usize)
    }

    /// Length of the next message, if any, without consuming it.
    pub fn peek_len(&mut self) -> Result<Option<usize>, PopError> {
        if self.tail == self.cached_head {
            self.cached_head = self.end.control().producer.head.load(Ordering::Acquire);
            if self.tail == self.cached_head {
                return Ok(None);
            }
        }
        let available = self.cached_head.wrapping_sub(self.tail);
        if available > self.end.capacity || available & (RECORD_ALIGN - 1) != 0 {
            return Err(PopError::Corrupt(format!(
                "head {} and tail {} are {available} bytes apart in a ring of {}",
                self.cached_head, self.tail, self.end.capacity
            )));
        }
        let mut len = [0u8; LEN_BYTES];
        self.end.copy_out(self.tail, &mut len);
        let len = u32::from_le_bytes(len) as usize;
        if len > self.max_message_len() || record_len(len) > available {
            return Err(PopError::Corrupt(format!(
                "record length {len} but only {available} bytes were published"
            )));
        }
        Ok(Some(len))
    }

    /// Copies the next message into `buf` and frees it; `Ok(None)` if empty.
    /// A message longer than `buf` stays queued ([`PopError::BufferTooSmall`]).
    pub fn pop_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, PopError> {
        let Some(len) = self.peek_len()? else {
            return Ok(None);
        };
        let Some(dst) = buf.get_mut(..len) else {
            return Err(PopError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        };
        self.end
            .copy_out(self.tail.wrapping_add(LEN_BYTES as u64), dst);
        self.advance(len);
        Ok(Some(len))
    }

    /// Like [`Self::pop_into`] but sizes `out` to the message (allocates when
    /// it must grow: for control-plane or main-lcore use, not workers).
    pub fn pop_to_vec(&mut self, out: &mut Vec<u8>) -> Result<bool, PopError> {
        let Some(len) = self.peek_len()? else {
            return Ok(false);
        };
        out.resize(len, 0);
        self.end
            .copy_out(self.tail.wrapping_add(LEN_BYTES as u64), out);
        self.advance(len);
        Ok(true)
    }

    /// Drops everything queued (recovery after [`PopError::Corrupt`]).
    pub fn discard_all(&mut self) {
        self.cached_head = self.end.control().producer.head.load(Ordering::Acquire);
        self.tail = self.cached_head;
        self.end
            .control()
            .consumer
            .tail
            .store(self.tail, Ordering::Release);
    }

    fn advance(&mut self, len: usize) {
        self.tail = self.tail.wrapping_add(record_len(len));
        self.end
            .control()
            .consumer
            .tail
            .store(self.tail, Ordering::Release);
    }
}
