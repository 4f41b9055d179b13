//! GENEVE from GWLB: decapsulate, find the flow's owner, ask the firewall,
//! then send the frame back through the tunnel.
//!
//! Re-encapsulation is in place: the GENEVE header, every option and the
//! inner packet stay byte for byte; only the Ethernet and outer IPv4
//! addresses swap, which leaves the IPv4 and UDP checksums valid (a
//! ones-complement sum does not depend on word order). The outer UDP ports
//! stay as GWLB sent them: the reply goes to GWLB:6081 from the source port
//! GWLB chose.

use tollgate_firewall::{Classify, DropReason, Prepared, Verdict};
use tollgate_shm::Counter;
use tollgate_wire::summary::summarize_into;
use tollgate_wire::{ethernet, gwlb, ipv4, udp, InnerSummary, Layer};

use crate::dispatch::{Disposition, Pipeline};
use crate::reject;

/// The drop counter for a codec error found inside the tunnel.
pub(crate) fn malformed(layer: Layer) -> Counter {
    match layer {
        Layer::Ethernet => Counter::MalformedEthernet,
        Layer::Arp => Counter::MalformedArp,
        Layer::Udp => Counter::MalformedUdp,
        Layer::Tcp => Counter::MalformedTcp,
        Layer::Icmpv4 => Counter::MalformedIcmpv4,
        Layer::Icmpv6 => Counter::MalformedIcmpv6,
        Layer::Geneve => Counter::MalformedGeneve,
        Layer::GwlbOptions => Counter::MalformedGwlbOptions,
        Layer::Ipv4 | Layer::Ipv6 | Layer::InnerIp => Counter::MalformedInnerIp,
    }
}

fn firewall_drop(reason: DropReason) -> Counter {
    match reason {
        DropReason::NoRuleSet => Counter::DropNoRuleSet,
        DropReason::TableFull => Counter::DropFlowTableFull,
        DropReason::EndpointShare => Counter::DropEndpointShare,
        DropReason::RuleDenied => Counter::DropRuleDenied,
        DropReason::Flushed => Counter::DropFlushed,
        DropReason::MidStreamPickupOff => Counter::DropPickupOff,
        DropReason::TcpInvalid => Counter::DropTcpInvalid,
        DropReason::TcpInvalidRst => Counter::DropTcpInvalidRst,
        DropReason::TcpOutOfWindow => Counter::DropTcpOutOfWindow,
        DropReason::UnsolicitedEchoReply => Counter::DropUnsolicitedEchoReply,
        DropReason::IcmpErrorUnrelated => Counter::DropIcmpErrorUnrelated,
        DropReason::Fragment => Counter::DropInnerFragment,
        DropReason::Inconsistent => Counter::DropFirewall,
    }
}

/// A GENEVE packet parsed, its flow keyed and its table buckets being
/// loaded: what the firewall decision and the re-encapsulation need.
#[derive(Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) udp_start: usize,
    pub(crate) frame_len: usize,
    pub(crate) inner_start: usize,
    pub(crate) inner_len: usize,
    pub(crate) endpoint: u64,
    /// Parsed by the express parse: `tcp_flags` is set, `pkt` is not (yet).
    pub(crate) express: bool,
    /// The inner TCP flags (0 for UDP), for an express-parsed frame.
    pub(crate) tcp_flags: u8,
    pub(crate) pkt: InnerSummary,
    pub(crate) prepared: Prepared,
}

impl Pending {
    /// A burst's storage before [`Pipeline::hairpin_parse`] fills it.
    pub(crate) const EMPTY: Pending = Pending {
        udp_start: 0,
        frame_len: 0,
        inner_start: 0,
        inner_len: 0,
        endpoint: 0,
        express: false,
        tcp_flags: 0,
        pkt: InnerSummary::EMPTY,
        prepared: Prepared::EMPTY,
    };
}

impl<C: Classify> Pipeline<'_, C> {
    /// First half: `buf[udp_start..frame_len]` is the outer UDP datagram
    /// (already checked to be GENEVE from a GWLB address); the frame may
    /// carry Ethernet padding past `frame_len`. Decapsulates, steers, and
    /// starts loading the flow's table buckets ([`Firewall::prepare`]).
    /// Reads the frame only. `Ok` when `out` now holds the packet, ready
    /// for the firewall (written in place: it is large, and a burst holds
    /// 32 of them).
    ///
    /// [`Firewall::prepare`]: tollgate_firewall::Firewall::prepare
    #[inline]
    pub(crate) fn hairpin_parse(
        &self,
        buf: &[u8],
        udp_start: usize,
        frame_len: usize,
        owned: bool,
        out: &mut Pending,
    ) -> Result<(), Disposition> {
        let Ok(datagram) = udp::Packet::new_checked(&buf[udp_start..frame_len]) else {
            return Err(Disposition::Drop(Counter::MalformedUdp));
        };
        let payload_start = udp_start + udp::HEADER_LEN;
        let payload_end = udp_start + usize::from(datagram.len());
        let tunnel = match gwlb::parse_geneve_payload(&buf[payload_start..payload_end]) {
            Ok(t) => t,
            Err(e) => return Err(Disposition::Drop(malformed(e.layer()))),
        };
        let inner_start = payload_start + tunnel.inner_offset;
        let inner_end = inner_start + tunnel.inner_len;
        if let Err(e) = summarize_into(
            &buf[inner_start..inner_end],
            tunnel.inner_version,
            &mut out.pkt,
        ) {
            return Err(Disposition::Drop(malformed(e.layer())));
        }
        let endpoint = tunnel.metadata.endpoint_id;

        if !owned {
            let owner = owner_of(
                self.config.owner_hasher.hash(endpoint, &out.pkt),
                self.config.workers,
            );
            if owner != self.config.worker {
                return Err(Disposition::Steer {
                    worker: owner as u32,
                });
            }
        }
        self.firewall
            .prepare_into(endpoint, &out.pkt, &mut out.prepared);
        out.udp_start = udp_start;
        out.frame_len = frame_len;
        out.inner_start = inner_start;
        out.inner_len = tunnel.inner_len;
        out.endpoint = endpoint;
        Ok(())
    }

    /// Between the halves, for a burst: start loading the flow entry.
    #[inline]
    pub(crate) fn hairpin_prefetch(&self, p: &mut Pending) {
        self.firewall.prefetch_flow(&mut p.prepared);
    }

    /// Second half, after [`Firewall::sweep_for_burst`] counted this
    /// packet: the firewall's decision, then the frame goes back
    /// through the tunnel (or a reject is built in its place).
    ///
    /// [`Firewall::sweep_for_burst`]: tollgate_firewall::Firewall::sweep_for_burst
    #[inline]
    pub(crate) fn hairpin_finish(
        &mut self,
        now_ns: u64,
        buf: &mut [u8],
        p: &Pending,
    ) -> Disposition {
        let decision = self
            .firewall
            .process_swept(now_ns, p.endpoint, &p.pkt, &p.prepared);
        if let Some(rule) = decision.rule {
            self.stats.rule_hit(rule as usize, 1);
        }
        let len = match decision.verdict {
            Verdict::Pass => {
                self.stats.inc(Counter::VerdictPass);
                // The whole outer IPv4 packet, as its total length says (not
                // cut at the UDP length, which would leave them disagreeing).
                p.frame_len
            }
            Verdict::Drop(reason) => {
                self.stats.inc(Counter::VerdictDrop);
                return Disposition::Drop(firewall_drop(reason));
            }
            Verdict::Reject => {
                self.stats.inc(Counter::VerdictReject);
                match reject::build(buf, p.inner_start, p.inner_len, &p.pkt) {
                    Ok(new_inner_len) => {
                        let end = p.inner_start + new_inner_len;
                        set_outer_lengths(buf, p.udp_start, end);
                        end
                    }
                    Err(_) => return Disposition::Drop(Counter::DropFirewall),
                }
            }
        };
        self.count_endpoint(p.endpoint, 1, len as u64);
        swap_outer(&mut buf[..len], self.config.appliance_mac);
        Disposition::Transmit { len: len as u32 }
    }

    #[inline]
    pub(crate) fn count_endpoint(&mut self, endpoint: u64, packets: u64, bytes: u64) {
        let slot = match self.endpoint_cache {
            Some((cached, slot)) if cached == endpoint => slot,
            _ => {
                let slot = self.stats.endpoint_slot(endpoint);
                self.endpoint_cache = Some((endpoint, slot));
                slot
            }
        };
        self.stats.add_endpoint(slot, packets, bytes);
    }
}

/// Maps a 32-bit hash onto `workers` without a division.
#[inline]
pub(crate) fn owner_of(hash: u32, workers: usize) -> usize {
    ((u64::from(hash) * workers as u64) >> 32) as usize
}

/// Swaps the Ethernet and outer IPv4 addresses (checksum-neutral). The
/// Ethernet source is `mac` rather than the received destination, which
/// may be broadcast or multicast (dispatch accepts those). On the frame's
/// first 34 bytes (Ethernet and an outer IPv4 header without options,
/// which every GENEVE frame that got here has), whose fixed length lets
/// the compiler drop the accessors' per-field length checks.
#[inline]
pub(crate) fn swap_outer(frame: &mut [u8], mac: [u8; 6]) {
    let Some(h) = frame.first_chunk_mut::<{ ethernet::HEADER_LEN + 20 }>() else {
        return;
    };
    let mut eth = ethernet::Frame::new_unchecked(&mut h[..]);
    let peer = eth.src_addr();
    eth.set_dst_addr(peer);
    eth.set_src_addr(mac);
    ipv4::Packet::new_unchecked(eth.payload_mut()).swap_addrs();
}

/// After the inner packet changed length: outer IPv4 total length and
/// checksum, UDP length, and a zero UDP checksum (valid over IPv4).
fn set_outer_lengths(buf: &mut [u8], udp_start: usize, end: usize) {
    let ip_start = ethernet::HEADER_LEN;
    let mut ip = ipv4::Packet::new_unchecked(&mut buf[ip_start..end]);
    ip.set_total_len((end - ip_start) as u16);
    ip.fill_checksum();
    let mut u = udp::Packet::new_unchecked(&mut buf[udp_start..end]);
    u.set_len((end - udp_start) as u16);
    u.set_checksum(0);
}
