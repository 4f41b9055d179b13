//! The express lane: GENEVE frames of GWLB's common shape (see
//! [`tollgate_wire::express`]) whose flow the firewall already passes.
//!
//! Parsed in one pass ([`tollgate_wire::parse_express`]), keyed from the
//! inner tuple, and, when [`Firewall::pass_established`] passes them,
//! sent back without the inner summary, the tracker or a decision value.
//! Anything else the express lane meets (a new flow, a TCP control
//! segment, a TCP segment out of its flow's windows, a rule change to
//! apply, a frame from a source that is not GWLB) goes on to the general
//! path, which then does exactly what it
//! would have done alone: same actions, bytes and counters (tested in
//! `tests.rs` against [`Pipeline::process_general`]).
//!
//! [`Firewall::pass_established`]: tollgate_firewall::Firewall::pass_established

use tollgate_firewall::{Classify, FastTimes, FlowKey};
use tollgate_shm::Counter;
use tollgate_wire::express::{INNER_START, UDP_START};
use tollgate_wire::summary::summarize_into;
use tollgate_wire::{express_tcp_fields, ExpressFrame, IpVersion};

use crate::dispatch::{Disposition, Pipeline, PipelineConfig};
use crate::hairpin::{malformed, owner_of, swap_outer, Pending};

impl<C: Classify> Pipeline<'_, C> {
    /// The checks `dispatch` makes that depend on this appliance, read
    /// where an IPv4 frame has them: the Ethernet destination, the outer
    /// IPv4 destination and the GWLB source. Made before the express
    /// parse, which then has fewer values to keep; a frame that fails
    /// them, or that turns out not to be IPv4, is left to `dispatch`.
    #[inline(always)]
    pub(crate) fn express_accepts(&self, frame: &[u8]) -> bool {
        let gate = &self.express_gate;
        let Some(h) = frame.first_chunk::<{ 14 + 20 }>() else {
            return false;
        };
        // The destination MAC is the low 48 bits of the first 8 bytes;
        // its first byte's low bit marks group addresses.
        let head = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        let src = [h[26], h[27], h[28], h[29]];
        ((head ^ gate.mac) << 16 == 0 || head & 1 != 0)
            && [h[30], h[31], h[32], h[33]] == self.config.appliance_ip
            && (u32::from_ne_bytes(src) & gate.source_mask == gate.source_net
                || self.config.gwlb_sources.iter().any(|p| p.contains(src)))
    }

    /// Steers the frame to its flow's owner, or keys it and starts loading
    /// its table buckets, like `hairpin_parse` does for the general path.
    #[inline(always)]
    pub(crate) fn express_prepare(
        &self,
        frame: &ExpressFrame,
        owned: bool,
        out: &mut Pending,
    ) -> Result<(), Disposition> {
        let key = FlowKey::of_tuple_v4(frame.endpoint_id, &frame.inner);
        if !owned {
            let owner = owner_of(
                self.config.owner_hasher.hash_key(&key.0),
                self.config.workers,
            );
            if owner != self.config.worker {
                return Err(Disposition::Steer {
                    worker: owner as u32,
                });
            }
        }
        self.firewall.prepare_key_into(key, &mut out.prepared);
        out.express = true;
        out.tcp_flags = frame.inner.tcp_flags;
        // `udp_start` and `inner_start` are the shape's, set only if the
        // general path takes over (`express_finish`).
        out.frame_len = frame.frame_len;
        out.inner_len = frame.inner_len;
        out.endpoint = frame.endpoint_id;
        Ok(())
    }

    /// The firewall's fast pass (counted in `passes`), or else the general
    /// decision (after the inner summary the express parse skipped).
    /// `times`: the firewall's [`FastTimes`] for `now_ns`.
    #[inline(always)]
    pub(crate) fn express_finish(
        &mut self,
        now_ns: u64,
        times: &Option<FastTimes>,
        buf: &mut [u8],
        p: &mut Pending,
        passes: &mut PassTally,
    ) -> Disposition {
        let passed = times.as_ref().is_some_and(|times| {
            // The TCP fields are read from the frame only for a TCP flow.
            let frame: &[u8] = buf;
            self.firewall
                .pass_established_at(times, &p.prepared, p.tcp_flags, || {
                    express_tcp_fields(frame)
                })
        });
        if passed {
            if p.endpoint != passes.endpoint {
                self.count_passes(passes);
                passes.endpoint = p.endpoint;
            }
            passes.packets += 1;
            passes.bytes += p.frame_len as u64;
            // The frame's outer headers: the express parse saw all of them.
            swap_outer(buf, self.config.appliance_mac);
            return Disposition::Transmit {
                len: p.frame_len as u32,
            };
        }
        p.udp_start = UDP_START;
        p.inner_start = INNER_START;
        let inner = &buf[INNER_START..INNER_START + p.inner_len];
        if let Err(e) = summarize_into(inner, IpVersion::V4, &mut p.pkt) {
            // Not reached: the express parse accepts only what the summary
            // accepts. Counted as the general path would count it.
            return Disposition::Drop(malformed(e.layer()));
        }
        self.hairpin_finish(now_ns, buf, p)
    }

    /// Adds the fast passes tallied so far to the verdict and endpoint
    /// counters, and empties the tally.
    #[inline]
    pub(crate) fn count_passes(&mut self, passes: &mut PassTally) {
        if passes.packets > 0 {
            self.stats.add(Counter::VerdictPass, passes.packets);
            self.count_endpoint(passes.endpoint, passes.packets, passes.bytes);
            passes.packets = 0;
            passes.bytes = 0;
        }
    }
}

/// [`Pipeline::express_accepts`]'s view of the appliance's configuration,
/// in the byte order the frame's words are loaded in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpressGate {
    /// The appliance MAC as the low 48 bits of a little-endian load.
    mac: u64,
    /// The first GWLB source prefix (most appliances have one), tried
    /// before the list.
    source_net: u32,
    source_mask: u32,
}

impl ExpressGate {
    pub(crate) fn new(config: &PipelineConfig) -> ExpressGate {
        let mut mac = [0u8; 8];
        mac[..6].copy_from_slice(&config.appliance_mac);
        let (source_net, source_mask) = match config.gwlb_sources.first() {
            Some(p) => (
                u32::from_ne_bytes(p.network.to_be_bytes()),
                u32::from_ne_bytes(p.mask.to_be_bytes()),
            ),
            // No address is 1 under an empty mask: the list decides.
            None => (1, 0),
        };
        ExpressGate {
            mac: u64::from_le_bytes(mac),
            source_net,
            source_mask,
        }
    }
}

/// Fast passes not yet counted: consecutive packets of one endpoint (a
/// worker's traffic mostly comes from few), counted once per run rather
/// than once per packet.
#[derive(Default)]
pub(crate) struct PassTally {
    endpoint: u64,
    packets: u64,
    bytes: u64,
}
