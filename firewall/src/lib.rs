//! Tollgate's stateful firewall: a per-worker flow table with
//! conntrack-grade tracking, deciding new flows with a rule set.
//!
//! # Model
//! - A flow is keyed by (GWLB endpoint, IP version, addresses, protocol,
//!   ports or ICMP echo identifier); other protocols by address pair. The
//!   key is canonical ([`FlowKey`]), so either direction finds the entry and
//!   learns whether the packet came from the initiator.
//! - The rules ([`Classify`]) decide the packet that opens a flow, in the
//!   initiator's direction. Every later packet of an allowed flow passes on
//!   its state; a denied flow is remembered too (dropped, or rejected,
//!   without rule evaluation until it idles out for `Timeouts::denied`).
//! - TCP follows Linux conntrack's states ([`FlowState`], `tcp.rs`) in both
//!   directions (no SYN from the responder outside a simultaneous open)
//!   and its sequence windows (`window.rs`): segments out of window are
//!   dropped as [`DropReason::TcpOutOfWindow`]; UDP is
//!   single until seen both ways, then stream (120 s each: GWLB's idle
//!   timeout); ICMP echo is opened by a request and matched by its identifier
//!   (120 s); ICMP and ICMPv6 errors pass when the flow they quote is allowed
//!   (related); other ICMP messages are classified per packet and create no
//!   flow; other protocols are tracked per address pair (600 s). All timeouts
//!   are in [`Timeouts`]; ESTABLISHED defaults to Linux's 5 days, above
//!   GWLB's 350 s idle timeout (configurable at GWLB up to 6000 s).
//! - Mid-stream pickup (on by default): a TCP ACK of an unknown flow opens
//!   it in UNCONFIRMED (short timeout, evicted first; the other side's ACK
//!   makes it ESTABLISHED, a SYN never does), a FIN|ACK in FIN_WAIT, a
//!   SYN/ACK in SYN_RECV, if the rules allow. The sender is taken as the initiator; when the rules deny
//!   that direction, the reverse is tried (`pickup_try_reverse`), because
//!   after a GWLB failover the first packet seen is often the server's.
//!   Caveat: the true initiator of a picked-up flow is a guess, so rules
//!   that allow only one direction see the flow as if opened by whichever
//!   side the guess picked, and a flow picked up in its reverse direction
//!   is listed with the roles swapped. A RST of an unknown flow is decided
//!   by the rules and creates nothing. With pickup off, such packets are
//!   dropped with [`DropReason::MidStreamPickupOff`].
//! - Non-first fragments are dropped ([`DropReason::Fragment`]): without
//!   reassembly they cannot be tied to a flow (GWLB's 8500-byte MTU makes
//!   them rare).
//!
//! # Costs
//! Time is passed in (`now_ns`); the per-packet path does no syscall and no
//! allocation. Memory: 64-byte entries, 32-byte TCP windows and 2-byte
//! signatures, 25 % slot headroom: 123 bytes per flow of capacity, all
//! allocated at construction.
//! Expiry is incremental: a clock hand goes once around the table per
//! `expiry_lap` (default 1 s), paced by the clock and moved by the packets
//! (at most `expiry_slots_per_packet` slots each, default 2; a burst takes
//! its packets' steps at once, [`Firewall::sweep_for_burst`]) and by idle
//! calls to [`Firewall::expire`]; lookups drop expired entries they meet,
//! and an insert into a full table examines its two
//! buckets and at most `reclaim_scan_slots` more. When full, expired flows
//! are reclaimed first, then live ones as Linux conntrack's early drop
//! does, in [`EvictReason`] order: unconfirmed pickups, then embryonic
//! flows (SYN_SENT, SYN_RECV, one-way UDP), then closing ones (FIN_WAIT to
//! CLOSE), then denied ones, the one expiring first among equals. An
//! established flow (or UDP stream, ICMP echo, generic flow) is never
//! evicted: the new flow is refused and counted instead.
//!
//! Fairness: the table counts live flows per GWLB endpoint. When it is
//! full, an endpoint holding `endpoint_share` percent of the capacity or
//! more (default 50) may evict only its own flows, and other endpoints
//! evict the flows of endpoints at or over their share first. So a flood
//! of one-packet flows from one endpoint, however large, keeps recycling
//! its own slots while other endpoints still open flows. Endpoints beyond
//! the first 192 seen at once share one count (and one share). Refusals
//! are counted by [`RefuseReason`], evictions by [`EvictReason`].
//!
//! # Rule changes
//! [`Firewall::set_rules`] swaps the snapshot in O(1) between bursts and
//! applies [`OnRuleChange`] lazily, by epoch, at each flow's next packet:
//! `Keep` leaves flows alone, `Revalidate` re-classifies a flow with its
//! initiator's tuple, `Flush` kills it (its packets are dropped with
//! [`DropReason::Flushed`] until it idles out; a new TCP SYN or ICMP echo
//! request on the same tuple opens a fresh flow). Until a rule set is
//! loaded every packet is dropped with [`DropReason::NoRuleSet`].
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use tollgate_firewall::{FlowAction, Firewall, FirewallConfig, OnRuleChange, RuleMatch, Verdict};
//! use tollgate_wire::summary::{ipv4_mapped, tcp_flags, Fragment, IpVersion, L4Summary};
//! use tollgate_wire::InnerSummary;
//!
//! // Allow TCP to port 443; the default action drops the rest.
//! let rules = |_endpoint: u64, pkt: &InnerSummary| match pkt.l4 {
//!     L4Summary::Tcp { dst_port: 443, .. } => RuleMatch { rule: Some(0), action: FlowAction::Pass },
//!     _ => RuleMatch { rule: None, action: FlowAction::Drop },
//! };
//! let config = FirewallConfig { capacity: 1024, ..FirewallConfig::default() };
//! let mut fw = Firewall::new(config).unwrap();
//! fw.set_rules(Arc::new(rules), 1, OnRuleChange::Keep);
//!
//! let segment = |src, dst, sport, dport, flags| InnerSummary {
//!     version: IpVersion::V4,
//!     src: ipv4_mapped(src),
//!     dst: ipv4_mapped(dst),
//!     protocol: 6,
//!     fragment: Fragment::None,
//!     l4: L4Summary::Tcp {
//!         src_port: sport, dst_port: dport, flags, seq: 100, ack: 1, window: 1024, payload_len: 0,
//!         window_scale: None,
//!     },
//!     l4_offset: 20,
//!     total_len: 40,
//! };
//! let (client, server) = ([10, 1, 0, 5], [10, 2, 0, 9]);
//! let syn = segment(client, server, 40000, 443, tcp_flags::SYN);
//! let d = fw.process(0, 7, &syn);
//! assert_eq!((d.verdict, d.rule, d.flow_created), (Verdict::Pass, Some(0), true));
//! // The reply passes on the flow's state (SYN/ACK acknowledging seq 100).
//! let mut syn_ack = segment(server, client, 443, 40000, tcp_flags::SYN | tcp_flags::ACK);
//! if let L4Summary::Tcp { ack, .. } = &mut syn_ack.l4 { *ack = 101; }
//! assert_eq!(fw.process(1_000, 7, &syn_ack).verdict, Verdict::Pass);
//! assert_eq!(fw.counters().active, 1);
//! ```
//!
//! # Measured (`examples/flow_bench.rs`, release, 1M-flow table, thread CPU
//! time on the shared 2-core build VM)
//! Established-flow packet (lookup + state update), one at a time: about
//! 40 ns at 1k flows, 190-200 ns at 100k, 220 ns at 1M (two dependent cache
//! and TLB misses); in bursts of 32 with `prepare` / `prefetch_flow` /
//! `process_prepared`: 44, 70 and 77 ns. New-flow insert: 200-270 ns one at
//! a time, 110-125 ns in bursts.
//!
//! # Workers
//! Each worker owns one [`Firewall`]; [`OwnerHasher`] picks the one worker
//! that owns a flow (both directions, and the ICMP errors about it).

mod classify;
mod clock;
mod config;
mod decision;
mod existing;
mod express;
mod firewall;
mod key;
mod listing;
mod new_flow;
mod owner;
mod related;
mod state;
mod sweep_pace;
mod table;
mod tcp;
mod window;

pub use classify::{Classify, FlowAction, OnRuleChange, RuleMatch};
pub use clock::TICK_NS;
pub use config::{
    ConfigError, FirewallConfig, Timeouts, GWLB_IDLE_TIMEOUTS, MAX_EXPIRY_LAP, MAX_TIMEOUT,
};
pub use decision::{Decision, DropReason, FirewallCounters, RefuseReason, Verdict};
pub use express::FastTimes;
pub use firewall::{Firewall, Prepared};
pub use key::{FlowKey, HashKey, Side};
pub use listing::{FlowFilter, FlowInfo, Prefix};
pub use owner::OwnerHasher;
pub use state::{EvictReason, FlowState};
pub use table::MAX_CAPACITY;
