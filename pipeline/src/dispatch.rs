//! The first step for every received frame: which path it takes.
//!
//! - ARP request for the appliance address: answered.
//! - IPv4 to the appliance address:
//!   - UDP 6081 from a GWLB address: the GENEVE hairpin (`hairpin`);
//!     from anywhere else: dropped as spoofed.
//!   - ICMP echo request: answered.
//!   - anything else (health checks): punted, rate limited, if its source
//!     is in `punt_sources`; from anywhere else: dropped, before it can
//!     spend the punt budget.
//! - Everything else: dropped with a counted reason.

use std::sync::Arc;

use tollgate_firewall::{Classify, Firewall, FirewallConfig, OwnerHasher};
use tollgate_shm::{Counter, WorkerStats};
use tollgate_wire::ethernet::{self, EtherType};
use tollgate_wire::{gwlb, ipv4, udp};

use crate::express::{ExpressGate, PassTally};
use crate::hairpin::Pending;
use crate::punt_limit::TokenBucket;
use crate::{arp_reply, icmp_echo};

/// An IPv4 prefix as network and mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix4 {
    pub network: u32,
    pub mask: u32,
}

impl Prefix4 {
    pub fn new(addr: [u8; 4], prefix_len: u8) -> Prefix4 {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len.min(32)))
            .unwrap_or(0);
        Prefix4 {
            network: u32::from_be_bytes(addr) & mask,
            mask,
        }
    }

    #[inline]
    pub fn contains(&self, addr: [u8; 4]) -> bool {
        u32::from_be_bytes(addr) & self.mask == self.network
    }
}

/// What one worker's pipeline needs to know.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub appliance_ip: [u8; 4],
    pub appliance_mac: [u8; 6],
    pub gwlb_sources: Vec<Prefix4>,
    /// Sources whose packets may be punted (the health checkers: GWLB's
    /// nodes). Every punt candidate from elsewhere is dropped and counted.
    pub punt_sources: Vec<Prefix4>,
    /// This worker's index and the number of workers (flow ownership).
    pub worker: usize,
    pub workers: usize,
    /// Which worker owns a flow: every worker of a dataplane must be given
    /// the same (one key drawn per process, see [`OwnerHasher`]).
    pub owner_hasher: OwnerHasher,
    pub punt_rate_pps: u32,
    pub punt_burst: u32,
    pub firewall: FirewallConfig,
}

/// What to do with a frame after [`Pipeline::process`]. Eight bytes (a
/// burst writes one per frame): frame lengths and worker indices fit in
/// 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Send the (rewritten) frame, now `len` bytes, on the same port.
    Transmit { len: u32 },
    /// Hand the frame to the control plane (within the punt budget; the
    /// caller counts it once the punt ring has taken it).
    Punt,
    /// Hand the frame to the worker that owns its flow.
    Steer { worker: u32 },
    /// Drop it; the pipeline has counted the reason.
    Drop(Counter),
}

const _: () = assert!(std::mem::size_of::<Disposition>() == 8);

/// One worker's per-packet state: its firewall (flow table) and punt budget.
pub struct Pipeline<'s, C: Classify> {
    pub(crate) config: PipelineConfig,
    pub(crate) firewall: Firewall<C>,
    pub(crate) stats: &'s WorkerStats,
    punt_budget: TokenBucket,
    /// Last endpoint seen and its stats slot: traffic comes from few endpoints.
    /// Empty until the first one, so that no slot is claimed for a made-up id.
    pub(crate) endpoint_cache: Option<(u64, tollgate_shm::EndpointSlot)>,
    pub(crate) express_gate: ExpressGate,
    /// [`Self::process_burst`]'s GENEVE packets waiting for the firewall,
    /// allocated once: filling a fresh array on the stack for every burst
    /// cost 30 instructions per packet. Taken out for the burst (so that
    /// it can be written while `self` is borrowed) and put back.
    burst_pending: Option<Box<[[Pending; MAX_BURST]; 2]>>,
}

impl<'s, C: Classify> Pipeline<'s, C> {
    pub fn new(
        config: PipelineConfig,
        stats: &'s WorkerStats,
    ) -> Result<Self, tollgate_firewall::ConfigError> {
        let firewall = Firewall::new(config.firewall.clone())?;
        let punt_budget = TokenBucket::new(config.punt_rate_pps, config.punt_burst);
        let express_gate = ExpressGate::new(&config);
        Ok(Pipeline {
            config,
            firewall,
            stats,
            punt_budget,
            endpoint_cache: None,
            express_gate,
            burst_pending: Some(Box::new([[Pending::EMPTY; MAX_BURST]; 2])),
        })
    }

    /// The worker's counters this pipeline fills.
    pub fn stats(&self) -> &'s WorkerStats {
        self.stats
    }

    pub fn firewall(&self) -> &Firewall<C> {
        &self.firewall
    }

    pub fn firewall_mut(&mut self) -> &mut Firewall<C> {
        &mut self.firewall
    }

    /// Installs a new rule set (between bursts; O(1)).
    pub fn set_rules(
        &mut self,
        rules: Arc<C>,
        generation: u64,
        on_change: tollgate_firewall::OnRuleChange,
    ) {
        self.firewall.set_rules(rules, generation, on_change);
    }

    /// Processes the frame in `buf[..len]`; `buf` may extend past it
    /// (tailroom a reply may grow into). `steered` is true when another
    /// worker handed the frame over (it is not steered again).
    #[inline]
    pub fn process(
        &mut self,
        now_ns: u64,
        buf: &mut [u8],
        len: usize,
        steered: bool,
    ) -> Disposition {
        let mut action = [Disposition::Punt];
        self.process_burst(now_ns, &mut [(buf, len)], steered, &mut action);
        action[0]
    }

    /// [`Self::process`] without the established-flow fast path: the
    /// reference the fast path is tested (and fuzzed) against.
    #[cfg(any(test, feature = "reference"))]
    pub fn process_general(
        &mut self,
        now_ns: u64,
        buf: &mut [u8],
        len: usize,
        steered: bool,
    ) -> Disposition {
        let mut pending = Pending::EMPTY;
        let owned = steered || self.config.workers <= 1;
        let action = match self.dispatch(now_ns, buf, len.min(buf.len()), owned, &mut pending) {
            Err(action) => action,
            Ok(()) => {
                self.firewall.sweep_for_burst(now_ns, 1);
                self.hairpin_finish(now_ns, buf, &pending)
            }
        };
        self.count_drop(action)
    }

    /// [`Self::process`] for a burst of frames (`frames[i].0[..frames[i].1]`,
    /// as for `process`), with the same results and counters as processing
    /// them one by one in order; `actions[i]` receives frame `i`'s action
    /// (`actions` must be at least as long as `frames`). In chunks of
    /// [`MAX_BURST`]: every frame of a chunk is parsed and its flow's table
    /// buckets requested, then every flow entry, and the decisions come
    /// after the next chunk's parse: the burst's cache misses overlap
    /// instead of adding up.
    pub fn process_burst(
        &mut self,
        now_ns: u64,
        frames: &mut [(&mut [u8], usize)],
        steered: bool,
        actions: &mut [Disposition],
    ) {
        assert!(actions.len() >= frames.len(), "one action per frame");
        // Always there between bursts (allocates only if a burst never
        // finished, which with panic = abort cannot happen).
        let mut pending = self
            .burst_pending
            .take()
            .unwrap_or_else(|| Box::new([[Pending::EMPTY; MAX_BURST]; 2]));
        // Frames known to be this worker's: steered here, or the only one.
        let owned = steered || self.config.workers <= 1;
        // Frame i's final action, or `None` while its pending entry waits.
        let mut done = [[None; MAX_BURST]; 2];
        // Software pipelined by chunk: parse chunk k and request its
        // entries, then decide chunk k-1, whose entries had chunk k's parse
        // to arrive (est-100k pipeline 127 -> 120 cycles per packet).
        let mut waiting: Option<(&mut [Frame<'_>], &mut [Disposition], usize)> = None;
        for (k, (chunk, acts)) in frames
            .chunks_mut(MAX_BURST)
            .zip(actions.chunks_mut(MAX_BURST))
            .enumerate()
        {
            let half = k & 1;
            for (((buf, len), p), d) in chunk
                .iter_mut()
                .zip(pending[half].iter_mut())
                .zip(&mut done[half])
            {
                let len = (*len).min(buf.len());
                *d = self.parse(now_ns, buf, len, owned, p).err();
            }
            let mut hairpins = 0;
            for (p, d) in pending[half].iter_mut().zip(&done[half]).take(chunk.len()) {
                if d.is_none() {
                    self.hairpin_prefetch(p);
                    hairpins += 1;
                }
            }
            if let Some((chunk, acts, other)) = waiting.take() {
                self.finish_chunk(now_ns, chunk, acts, &mut pending[other], &done[other]);
            }
            // The firewall's expiry steps for the whole chunk at once.
            self.firewall.sweep_for_burst(now_ns, hairpins);
            waiting = Some((chunk, acts, half));
        }
        if let Some((chunk, acts, half)) = waiting {
            self.finish_chunk(now_ns, chunk, acts, &mut pending[half], &done[half]);
        }
        self.burst_pending = Some(pending);
    }

    /// The decisions of a parsed chunk whose entries were requested.
    #[inline(always)]
    fn finish_chunk(
        &mut self,
        now_ns: u64,
        chunk: &mut [Frame<'_>],
        acts: &mut [Disposition],
        pending: &mut [Pending; MAX_BURST],
        done: &[Option<Disposition>; MAX_BURST],
    ) {
        let mut passes = PassTally::default();
        // Once for the chunk: its packets share `now_ns`, and the rules
        // change only between bursts.
        let times = self.firewall.fast_times(now_ns);
        for ((((buf, _), p), d), action) in chunk
            .iter_mut()
            .zip(pending.iter_mut())
            .zip(done)
            .zip(acts.iter_mut())
        {
            let a = match d {
                None if p.express => self.express_finish(now_ns, &times, buf, p, &mut passes),
                None => self.hairpin_finish(now_ns, buf, p),
                Some(a) => *a,
            };
            *action = self.count_drop(a);
        }
        self.count_passes(&mut passes);
    }

    #[inline]
    fn count_drop(&self, action: Disposition) -> Disposition {
        if let Disposition::Drop(reason) = action {
            self.stats.inc(reason);
        }
        action
    }

    /// Everything up to the firewall: a final action, or `Ok` for a
    /// GENEVE packet now in `out`, waiting for its flow's decision. Frames
    /// of GWLB's common shape take the express parse, the rest `dispatch`.
    /// `owned`: the frame's flow is this worker's whatever its hash (the
    /// frame was steered here, or there is one worker).
    #[inline(always)]
    fn parse(
        &mut self,
        now_ns: u64,
        buf: &mut [u8],
        len: usize,
        owned: bool,
        out: &mut Pending,
    ) -> Result<(), Disposition> {
        if self.express_accepts(&buf[..len]) {
            if let Some(frame) = tollgate_wire::parse_express(&buf[..len]) {
                return self.express_prepare(&frame, owned, out);
            }
        }
        out.express = false;
        self.dispatch(now_ns, buf, len, owned, out)
    }

    /// Everything up to the firewall, layer by layer (see [`Self::parse`]).
    #[inline(always)]
    fn dispatch(
        &mut self,
        now_ns: u64,
        buf: &mut [u8],
        len: usize,
        owned: bool,
        out: &mut Pending,
    ) -> Result<(), Disposition> {
        let frame = &mut buf[..len];
        let Ok(eth) = ethernet::Frame::new_checked(&*frame) else {
            return Err(Disposition::Drop(Counter::MalformedEthernet));
        };
        let dst_mac = eth.dst_addr();
        if dst_mac != self.config.appliance_mac && dst_mac[0] & 1 == 0 {
            return Err(Disposition::Drop(Counter::DropNotForUs));
        }
        match eth.ethertype() {
            EtherType::Ipv4 => {}
            EtherType::Arp => {
                return Err(
                    match arp_reply::answer(
                        frame,
                        self.config.appliance_ip,
                        self.config.appliance_mac,
                    ) {
                        Ok(()) => {
                            self.stats.inc(Counter::ArpReplies);
                            Disposition::Transmit { len: len as u32 }
                        }
                        Err(reason) => Disposition::Drop(reason),
                    },
                );
            }
            _ => return Err(Disposition::Drop(Counter::DropUnsupportedEthertype)),
        }
        let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else {
            return Err(Disposition::Drop(Counter::MalformedIpv4));
        };
        if ip.dst_addr() != self.config.appliance_ip {
            return Err(Disposition::Drop(Counter::DropNotForUs));
        }
        if !ip.verify_checksum() {
            return Err(Disposition::Drop(Counter::MalformedIpv4));
        }
        // GWLB never fragments; the appliance does not reassemble.
        if ip.is_fragment() {
            return Err(Disposition::Drop(Counter::MalformedIpv4));
        }
        let ip_header_len = ip.header_len();
        let ip_total_len = usize::from(ip.total_len());
        let src = ip.src_addr();
        match ip.protocol() {
            ipv4::protocol::UDP => {
                let Ok(u) = udp::Packet::new_checked(ip.payload()) else {
                    return Err(Disposition::Drop(Counter::MalformedUdp));
                };
                if u.dst_port() == gwlb::GENEVE_UDP_PORT {
                    if !self.config.gwlb_sources.iter().any(|p| p.contains(src)) {
                        return Err(Disposition::Drop(Counter::DropSpoofedGeneve));
                    }
                    let udp_start = ethernet::HEADER_LEN + ip_header_len;
                    let frame_len = ethernet::HEADER_LEN + ip_total_len;
                    return self.hairpin_parse(buf, udp_start, frame_len, owned, out);
                }
            }
            ipv4::protocol::ICMP => match icmp_echo::answer(frame, self.config.appliance_mac) {
                Ok(()) => {
                    self.stats.inc(Counter::IcmpEchoReplies);
                    return Err(Disposition::Transmit { len: len as u32 });
                }
                Err(Some(reason)) => return Err(Disposition::Drop(reason)),
                Err(None) => {}
            },
            _ => {}
        }
        // The appliance address serves nothing but GWLB's health checks:
        // anyone else could only spend the punt budget and control's sockets.
        if !self.config.punt_sources.iter().any(|p| p.contains(src)) {
            return Err(Disposition::Drop(Counter::PuntSourceNotAllowed));
        }
        if self.punt_budget.take(now_ns) {
            Err(Disposition::Punt)
        } else {
            Err(Disposition::Drop(Counter::PuntRateLimited))
        }
    }
}

/// A received frame: its buffer and the frame's length in it.
type Frame<'b> = (&'b mut [u8], usize);

/// Frames handled together by [`Pipeline::process_burst`] (longer slices go
/// in chunks of this many). Each frame has two or three table cache lines
/// in flight between the stages; 16 frames keep that within what one core
/// can have outstanding, where a worker's whole 32-frame burst did not
/// (measured: est-1M pipeline 247-257 -> 198-209 cycles per packet).
pub const MAX_BURST: usize = 16;
