//! Matching returned frames to the frames sent: by the payload tag, or by the outer IPv4 ID
//! when the tag itself is damaged; then verifying the match.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::verify::{self, Mismatch, TAG_LEN};
use crate::wire::GENEVE_OFFSET;

/// A frame on its way: what it was and when it left.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub sent_at: Instant,
    /// Empty when no reply is expected (only the metadata is kept then).
    pub frame: Vec<u8>,
    pub endpoint: usize,
    pub inner_len: usize,
}

/// What one returned GENEVE frame turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The exact hairpin of frame `seq` (or a reply to a frame kept without its bytes).
    Matched {
        seq: u32,
        endpoint: usize,
        inner_len: usize,
        rtt: Duration,
    },
    /// The reply to frame `seq`, but not its exact hairpin.
    Corrupted {
        seq: u32,
        endpoint: usize,
        inner_len: usize,
        rtt: Duration,
        mismatch: Mismatch,
    },
    /// A second reply to a frame already answered.
    Duplicate { seq: u32 },
    /// Matches no frame of this run.
    Unexpected,
}

/// True when `reply` plausibly answers `sent` although its tag could not be read where
/// the reply's own layout puts it: the GENEVE header and options agree (the tag was damaged),
/// or the tag sits intact where `sent` has it (a damaged GENEVE length moved the layout).
fn same_request(sent: &[u8], reply: &[u8]) -> bool {
    let Some(layout) = verify::Layout::parse(sent) else {
        return false;
    };
    let geneve = GENEVE_OFFSET..layout.inner_start;
    let tag = layout.payload_start..layout.payload_start + TAG_LEN;
    sent.get(geneve.clone()) == reply.get(geneve) || sent.get(tag.clone()) == reply.get(tag)
}

pub struct Matcher {
    run_nonce: u16,
    answered: HashSet<u32>,
}

impl Matcher {
    pub fn new(run_nonce: u16) -> Matcher {
        Matcher {
            run_nonce,
            answered: HashSet::new(),
        }
    }

    /// Matches a GENEVE reply against `pending` (removing the frame it answers) and verifies it.
    pub fn classify(&mut self, pending: &mut HashMap<u32, InFlight>, frame: &[u8]) -> Outcome {
        let tagged = verify::read_tag(frame)
            .filter(|(nonce, _)| *nonce == self.run_nonce)
            .map(|(_, seq)| seq);
        let ip_id = verify::outer_ip_id(frame);
        // The tag is trusted when the outer IPv4 ID (the sequence's low 16 bits) agrees, so a
        // damaged tag that happens to name another pending frame is not believed.
        let agrees = |seq: u32| ip_id == Some(seq as u16);
        let seq = match tagged {
            Some(seq) if agrees(seq) && pending.contains_key(&seq) => Some(seq),
            Some(seq) if agrees(seq) && self.answered.contains(&seq) => {
                return Outcome::Duplicate { seq }
            }
            // Otherwise look for a pending frame with this IPv4 ID whose GENEVE options or tag
            // agree (so a straggler of another run is not taken for a damaged reply of this
            // one); failing that, a readable tag alone (the ID itself may be damaged).
            _ => ip_id
                .and_then(|id| {
                    pending
                        .iter()
                        .filter(|(s, r)| **s as u16 == id && same_request(&r.frame, frame))
                        .map(|(s, _)| *s)
                        .min()
                })
                .or(tagged.filter(|s| pending.contains_key(s))),
        };
        let Some((seq, record)) = seq.and_then(|s| pending.remove(&s).map(|r| (s, r))) else {
            return Outcome::Unexpected;
        };
        self.answered.insert(seq);
        let (endpoint, inner_len) = (record.endpoint, record.inner_len);
        let rtt = record.sent_at.elapsed();
        if record.frame.is_empty() {
            return Outcome::Matched {
                seq,
                endpoint,
                inner_len,
                rtt,
            };
        }
        match verify::verify_hairpin(&record.frame, frame) {
            Ok(()) => Outcome::Matched {
                seq,
                endpoint,
                inner_len,
                rtt,
            },
            Err(mismatch) => Outcome::Corrupted {
                seq,
                endpoint,
                inner_len,
                rtt,
                mismatch,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Generator, Protocol, SizePlan, TrafficConfig};
    use crate::verify::{Layer, Layout};
    use crate::wire::{hairpin, OUTER_IP_OFFSET};
    use std::net::Ipv4Addr;

    fn sent(count: usize, nonce: u16, seed: u64) -> (Vec<Vec<u8>>, HashMap<u32, InFlight>) {
        let mut generator = Generator::new(TrafficConfig {
            gwlb_mac: [2, 0, 0, 0, 0, 0x60],
            appliance_mac: [2, 0, 0, 0, 0, 1],
            outer_src: Ipv4Addr::new(10, 254, 11, 60),
            appliance_ip: Ipv4Addr::new(10, 254, 11, 101),
            endpoints: 2,
            flows: 6,
            sizes: SizePlan::parse("imix").unwrap(),
            families_v6: vec![false, true],
            protocols: vec![Protocol::Tcp, Protocol::Udp, Protocol::Icmp],
            unknown_option_every: 3,
            run_nonce: nonce,
            seed,
        });
        let mut frames = Vec::new();
        let mut pending = HashMap::new();
        for _ in 0..count {
            let s = generator.next_frame().unwrap();
            pending.insert(
                s.seq,
                InFlight {
                    sent_at: Instant::now(),
                    frame: s.frame.clone(),
                    endpoint: s.endpoint,
                    inner_len: s.inner_len,
                },
            );
            frames.push(s.frame);
        }
        (frames, pending)
    }

    #[test]
    fn replies_in_any_order_match_once() {
        let (frames, mut pending) = sent(100, 7, 11);
        let mut matcher = Matcher::new(7);
        // Reverse order, as two workers may reorder.
        for (i, frame) in frames.iter().enumerate().rev() {
            match matcher.classify(&mut pending, &hairpin(frame)) {
                Outcome::Matched { seq, .. } => assert_eq!(seq, i as u32),
                other => panic!("frame {i}: {other:?}"),
            }
        }
        assert!(pending.is_empty());
        assert_eq!(
            matcher.classify(&mut pending, &hairpin(&frames[5])),
            Outcome::Duplicate { seq: 5 }
        );
    }

    #[test]
    fn damaged_tag_still_finds_its_frame_through_the_ip_id() {
        let (frames, mut pending) = sent(10, 7, 11);
        let mut reply = hairpin(&frames[4]);
        let tag_at = Layout::parse(&reply).unwrap().payload_start + 5;
        reply[tag_at] ^= 0x40;
        match Matcher::new(7).classify(&mut pending, &reply) {
            Outcome::Corrupted { seq, mismatch, .. } => {
                assert_eq!(seq, 4);
                assert_eq!(
                    (mismatch.offset, mismatch.layer),
                    (tag_at, Layer::InnerPayload)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!pending.contains_key(&4));
    }

    #[test]
    fn corruption_elsewhere_is_reported_against_the_right_frame() {
        let (frames, mut pending) = sent(10, 7, 11);
        let mut reply = hairpin(&frames[2]);
        reply[60] ^= 1; // inside the endpoint ID option
        match Matcher::new(7).classify(&mut pending, &reply) {
            Outcome::Corrupted {
                seq: 2, mismatch, ..
            } => assert_eq!(mismatch.layer, Layer::GeneveOptions),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_of_another_run_are_unexpected() {
        let (_, mut pending) = sent(10, 7, 11);
        // Same sequence numbers and IP IDs, but another nonce and other cookies.
        let (other_run, _) = sent(10, 8, 12);
        let mut matcher = Matcher::new(7);
        for frame in &other_run {
            assert_eq!(
                matcher.classify(&mut pending, &hairpin(frame)),
                Outcome::Unexpected
            );
        }
        assert_eq!(pending.len(), 10);
    }

    #[test]
    fn damaged_geneve_length_is_corruption_of_the_right_frame() {
        let (frames, mut pending) = sent(10, 7, 11);
        let mut reply = hairpin(&frames[6]);
        reply[GENEVE_OFFSET] ^= 0x01; // Opt Len: the reply's own layout is now wrong
        match Matcher::new(7).classify(&mut pending, &reply) {
            Outcome::Corrupted {
                seq: 6, mismatch, ..
            } => {
                assert_eq!(
                    (mismatch.offset, mismatch.layer),
                    (GENEVE_OFFSET, Layer::GeneveHeader)
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tag_damaged_into_another_pending_seq_is_not_believed() {
        let (frames, mut pending) = sent(10, 7, 11);
        let mut reply = hairpin(&frames[1]);
        let seq_low = Layout::parse(&reply).unwrap().payload_start + 5;
        reply[seq_low] ^= 0x02; // tag now names seq 3, which is still pending
        match Matcher::new(7).classify(&mut pending, &reply) {
            Outcome::Corrupted {
                seq: 1, mismatch, ..
            } => assert_eq!(mismatch.offset, seq_low),
            other => panic!("{other:?}"),
        }
        assert!(pending.contains_key(&3));
    }

    #[test]
    fn damaged_ip_id_is_corruption_found_by_the_tag() {
        let (frames, mut pending) = sent(10, 7, 11);
        let mut reply = hairpin(&frames[8]);
        reply[OUTER_IP_OFFSET + 5] ^= 0x80;
        match Matcher::new(7).classify(&mut pending, &reply) {
            Outcome::Corrupted {
                seq: 8, mismatch, ..
            } => assert_eq!(mismatch.layer, Layer::OuterIpv4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn damaged_tag_and_options_is_unexpected_not_a_false_match() {
        let (frames, mut pending) = sent(10, 7, 11);
        let mut reply = hairpin(&frames[3]);
        let tag_at = Layout::parse(&reply).unwrap().payload_start;
        reply[tag_at] ^= 1;
        reply[GENEVE_OFFSET + 12] ^= 1;
        assert_eq!(
            Matcher::new(7).classify(&mut pending, &reply),
            Outcome::Unexpected
        );
    }
}
