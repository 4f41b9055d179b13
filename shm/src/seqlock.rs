//! A sequence lock over atomic words: one writer never waits, readers retry.
//!
//! All protected data are atomics read and written `Relaxed`, so a torn read
//! is detected by the sequence check rather than being undefined behaviour.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::error::{Result, ShmError};

/// How long a reader retries before giving up (the writer may have died
/// while the count was odd). Writers update at most a few times a second.
pub(crate) const READ_BUDGET_MS: u64 = 250;

#[repr(C, align(64))]
pub(crate) struct SeqCount {
    seq: AtomicU64,
}

impl SeqCount {
    /// Runs `write` as one update. Only one thread of one process may call it.
    pub(crate) fn write<R>(&self, write: impl FnOnce() -> R) -> R {
        // `| 1` also repairs an odd count left by a writer that died mid-update.
        let odd = self.seq.load(Ordering::Relaxed) | 1;
        self.seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        let result = write();
        self.seq.store(odd.wrapping_add(1), Ordering::Release);
        result
    }

    /// Runs `read` until it saw no concurrent update.
    pub(crate) fn read<R>(&self, what: &'static str, mut read: impl FnMut() -> R) -> Result<R> {
        let mut deadline = None;
        for attempt in 0u64.. {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let value = read();
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return Ok(value);
                }
            }
            if attempt % 16 != 15 {
                std::hint::spin_loop();
                continue;
            }
            std::thread::yield_now();
            let now = crate::clock::monotonic_ns();
            let give_up = *deadline.get_or_insert(now + READ_BUDGET_MS * 1_000_000);
            if now >= give_up {
                return Err(ShmError::Busy {
                    what,
                    waited_ms: READ_BUDGET_MS,
                });
            }
        }
        unreachable!("the retry loop only ends by returning")
    }

    #[cfg(test)]
    pub(crate) fn force_odd(&self) {
        self.seq.fetch_or(1, Ordering::Relaxed);
    }
}

/// A fixed 64-byte UTF-8 name, stored as eight atomic words.
#[repr(C)]
pub(crate) struct Name64 {
    words: [AtomicU64; 8],
}

pub const NAME_BYTES: usize = 64;

impl Name64 {
    /// Stores `name`, cut at a character boundary to at most 64 bytes.
    pub(crate) fn store(&self, name: &str) {
        let mut end = name.len().min(NAME_BYTES);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; NAME_BYTES];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        for (word, chunk) in self.words.iter().zip(bytes.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
    }

    /// The raw words: cheap enough to take inside a seqlock read.
    pub(crate) fn load_words(&self) -> NameWords {
        let mut words = [0u64; 8];
        for (w, cell) in words.iter_mut().zip(&self.words) {
            *w = cell.load(Ordering::Relaxed);
        }
        words
    }

    #[cfg(test)]
    pub(crate) fn load(&self) -> String {
        name_from_words(&self.load_words())
    }
}

pub(crate) type NameWords = [u64; 8];

/// Decodes a stored name; invalid UTF-8 (a corrupt peer) becomes U+FFFD.
pub(crate) fn name_from_words(words: &NameWords) -> String {
    let mut bytes = [0u8; NAME_BYTES];
    for (word, chunk) in words.iter().zip(bytes.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> Name64 {
        Name64 {
            words: Default::default(),
        }
    }

    fn seq() -> SeqCount {
        SeqCount {
            seq: AtomicU64::new(0),
        }
    }

    #[test]
    fn names_round_trip_and_truncate_on_char_boundary() {
        let n = name();
        n.store("allow-ssh");
        assert_eq!(n.load(), "allow-ssh");
        let long = "é".repeat(40); // 80 bytes
        n.store(&long);
        assert_eq!(n.load(), "é".repeat(32));
        n.store("");
        assert_eq!(n.load(), "");
    }

    #[test]
    fn reader_gives_up_on_a_dead_writer() {
        let s = seq();
        s.force_odd();
        assert!(matches!(s.read("x", || 1), Err(ShmError::Busy { .. })));
        // The next writer repairs it.
        s.write(|| ());
        assert_eq!(s.read("x", || 7).unwrap(), 7);
    }

    #[test]
    fn readers_never_see_a_torn_pair() {
        #[repr(C)]
        struct Pair {
            seq: SeqCount,
            a: AtomicU64,
            b: AtomicU64,
        }
        let pair = std::sync::Arc::new(Pair {
            seq: seq(),
            a: AtomicU64::new(0),
            b: AtomicU64::new(0),
        });
        let writer = {
            let pair = pair.clone();
            std::thread::spawn(move || {
                for i in 1..=200_000u64 {
                    pair.seq.write(|| {
                        pair.a.store(i, Ordering::Relaxed);
                        pair.b.store(i.wrapping_mul(31), Ordering::Relaxed);
                    });
                }
            })
        };
        let mut reads = 0;
        let mut last = 0;
        while !writer.is_finished() || reads == 0 {
            let (a, b) = pair
                .seq
                .read("pair", || {
                    (
                        pair.a.load(Ordering::Relaxed),
                        pair.b.load(Ordering::Relaxed),
                    )
                })
                .unwrap();
            assert_eq!(b, a.wrapping_mul(31), "torn read");
            assert!(a >= last, "went backwards");
            last = a;
            reads += 1;
        }
        writer.join().unwrap();
    }
}
