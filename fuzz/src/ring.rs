//! The shared-memory ring consumer fed arbitrary control words and data,
//! against a model of the ring.
//!
//! Input: the consumer's `tail` and the producer's `head` (u64 LE each),
//! an operation count, the operations (one byte each), then the ring's
//! data bytes (the rest; zeros past it). A real segment is created once
//! per process (unlinked at once, so nothing is left in /dev/shm); each
//! input writes the words and data through the segment file and opens a
//! new consumer, as a restarted peer would find them.
//!
//! Checked: every result (length, message bytes, `BufferTooSmall`,
//! `Corrupt`) and the published tail are the model's; nothing panics. A
//! copy out of bounds would show as a crash, or as bytes the model does
//! not predict.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, OnceLock};

use tollgate_shm::{PopError, RegionId, Segment, SegmentConfig};

use crate::input::Input;

/// Data bytes of the fuzzed ring (the smallest a segment allows).
const CAPACITY: usize = 4096;
const LEN_BYTES: u64 = 4;
/// The consumer's line follows the producer's in the control block.
const TAIL_OFFSET: u64 = 64;

struct Ring {
    segment: Segment,
    file: File,
    /// Offset of the ring's control block and of its data in the file.
    control: u64,
    data: u64,
}

fn ring() -> &'static Mutex<Ring> {
    static RING: OnceLock<Mutex<Ring>> = OnceLock::new();
    RING.get_or_init(|| {
        let name = format!("fuzz-ring-{}", std::process::id());
        let config = SegmentConfig {
            workers: 1,
            inject_ring_bytes: CAPACITY,
            reply_ring_bytes: 4096,
            command_ring_bytes: 4096,
            punt_ring_bytes: 4096,
            ..SegmentConfig::default()
        };
        let segment = Segment::create(&name, &config).expect("create the fuzz segment");
        let file = segment.memory_file().expect("the fuzz segment's memory");
        // Nobody attaches: the name goes now, as the process never drops
        // the segment (it lives in this static).
        std::fs::remove_file(segment.path()).expect("unlink the fuzz segment");
        let region = segment.layout().region(RegionId::InjectRing);
        let control_bytes = region.size - CAPACITY;
        Mutex::new(Ring {
            segment,
            file,
            control: region.offset as u64,
            data: (region.offset + control_bytes) as u64,
        })
    })
}

/// What the consumer should see, computed from the words and data alone.
struct Model<'a> {
    data: &'a [u8; CAPACITY],
    head: u64,
    tail: u64,
}

#[derive(Debug, PartialEq)]
enum Peek {
    Empty,
    Corrupt,
    Len(usize),
}

impl Model<'_> {
    fn byte(&self, pos: u64) -> u8 {
        self.data[(pos % CAPACITY as u64) as usize]
    }

    fn peek(&self) -> Peek {
        if self.tail == self.head {
            return Peek::Empty;
        }
        let available = self.head.wrapping_sub(self.tail);
        if available > CAPACITY as u64 || !available.is_multiple_of(8) {
            return Peek::Corrupt;
        }
        let len_bytes: [u8; 4] =
            std::array::from_fn(|i| self.byte(self.tail.wrapping_add(i as u64)));
        let len = u64::from(u32::from_le_bytes(len_bytes));
        let record = (LEN_BYTES + len).next_multiple_of(8);
        if len > CAPACITY as u64 - LEN_BYTES || record > available {
            return Peek::Corrupt;
        }
        Peek::Len(len as usize)
    }

    fn message(&self, len: usize) -> Vec<u8> {
        let start = self.tail.wrapping_add(LEN_BYTES);
        (0..len as u64)
            .map(|i| self.byte(start.wrapping_add(i)))
            .collect()
    }

    fn advance(&mut self, len: usize) {
        self.tail = self
            .tail
            .wrapping_add((LEN_BYTES + len as u64).next_multiple_of(8));
    }
}

fn peek_of(r: Result<Option<usize>, PopError>) -> Peek {
    match r {
        Ok(None) => Peek::Empty,
        Ok(Some(len)) => Peek::Len(len),
        Err(PopError::Corrupt(_)) => Peek::Corrupt,
        Err(e) => panic!("peek_len: {e}"),
    }
}

pub fn run(bytes: &[u8]) {
    let mut input = Input::new(bytes);
    let tail = input.u64();
    let head = input.u64();
    let op_count = usize::from(input.u8() % 16);
    let ops = input.take(op_count).to_vec();
    let mut data = [0u8; CAPACITY];
    let rest = input.rest();
    data[..rest.len().min(CAPACITY)].copy_from_slice(&rest[..rest.len().min(CAPACITY)]);

    let ring = ring().lock().unwrap_or_else(|e| e.into_inner());
    let write = |offset: u64, bytes: &[u8]| {
        ring.file
            .write_all_at(bytes, offset)
            .expect("write the fuzz segment")
    };
    let published_tail = || {
        let mut b = [0u8; 8];
        ring.file
            .read_exact_at(&mut b, ring.control + TAIL_OFFSET)
            .expect("read the fuzz segment");
        u64::from_le_bytes(b)
    };
    write(ring.data, &data);
    write(ring.control, &head.to_le_bytes());
    write(ring.control + TAIL_OFFSET, &tail.to_le_bytes());
    let mut consumer = ring
        .segment
        .inject_ring_consumer()
        .expect("the fuzz ring's consumer is free");
    assert_eq!(consumer.max_message_len(), CAPACITY - LEN_BYTES as usize);

    let mut model = Model {
        data: &data,
        head,
        tail,
    };
    for (i, &op) in ops.iter().enumerate() {
        let expected = model.peek();
        match op & 3 {
            0 => assert_eq!(peek_of(consumer.peek_len()), expected, "op {i}: peek_len"),
            1 => {
                let mut buf = vec![0u8; usize::from(op >> 2) * 80];
                let got = consumer.pop_into(&mut buf);
                match (got, &expected) {
                    (Ok(Some(n)), Peek::Len(len)) if n == *len && n <= buf.len() => {
                        assert_eq!(buf[..n], model.message(n), "op {i}: message bytes");
                        model.advance(n);
                    }
                    (Err(PopError::BufferTooSmall { needed, available }), Peek::Len(len))
                        if needed == *len && available == buf.len() && needed > available => {}
                    (got, _)
                        if peek_of(got.clone()) == expected
                            && !matches!(expected, Peek::Len(_)) => {}
                    (got, _) => panic!("op {i}: pop_into gave {got:?}, model {expected:?}"),
                }
            }
            2 => {
                let mut out = vec![0xee; usize::from(op >> 2)];
                let got = consumer.pop_to_vec(&mut out);
                match (got, &expected) {
                    (Ok(true), Peek::Len(len)) => {
                        assert_eq!(out, model.message(*len), "op {i}: message bytes");
                        model.advance(*len);
                    }
                    (Ok(false), Peek::Empty) | (Err(PopError::Corrupt(_)), Peek::Corrupt) => {}
                    (got, _) => panic!("op {i}: pop_to_vec gave {got:?}, model {expected:?}"),
                }
            }
            _ => {
                consumer.discard_all();
                model.tail = model.head;
                assert_eq!(
                    consumer.peek_len(),
                    Ok(None),
                    "op {i}: empty after discard_all"
                );
            }
        }
        assert_eq!(published_tail(), model.tail, "op {i}: published tail");
    }
}
