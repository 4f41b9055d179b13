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
//! - TCP follows Linux conntrack's states ([`FlowState`], `tcp.rs`); UDP is
//!   single (30 s) until seen both ways, then stream (120 s); ICMP echo is
//!   opened by a request and matched by its identifier (30 s); ICMP and
//!   ICMPv6 errors pass when the flow they quote is allowed (related); other
//!   ICMP messages are classified per packet and create no flow; other
//!   protocols are tracked per address pair (600 s). All timeouts are in
//!   [`Timeouts`]; ESTABLISHED defaults to Linux's 5 days, above GWLB's
//!   350 s idle timeout (configurable at GWLB up to 6000 s).
//! - Mid-stream pickup (on by default): a TCP ACK or FIN|ACK of an unknown
//!   flow opens it in ESTABLISHED / FIN_WAIT, a SYN/ACK in SYN_RECV, if the
//!   rules allow. The sender is taken as the initiator; when the rules deny
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
//! allocation. Memory: 64-byte entries plus 4-byte signatures, 25 % slot
//! headroom: 85 bytes per flow of capacity, all allocated at construction.
//! Expiry is incremental: each packet advances a clock hand over
//! `expiry_slots_per_packet` slots (default 2), lookups drop expired
//! entries they meet, and an insert into a full table examines its two
//! buckets and at most `reclaim_scan_slots` more. When full, expired flows
//! are reclaimed first, then not-yet-established or finished ones (SYN_SENT,
//! SYN_RECV, one-way UDP, TIME_WAIT, CLOSE, denied); an established flow is
//! never evicted: the new flow is refused and counted instead.
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
//! # Workers
//! Each worker owns one [`Firewall`]; [`owner_hash`] picks the one worker
//! that owns a flow (both directions, and the ICMP errors about it).

mod classify;
mod clock;
mod config;
mod decision;
mod existing;
mod firewall;
mod key;
mod listing;
mod new_flow;
mod owner;
mod related;
mod rules_adapter;
mod state;
mod table;
mod tcp;

pub use classify::{Action, Classify, OnRuleChange, RuleMatch};
pub use clock::TICK_NS;
pub use config::{ConfigError, FirewallConfig, Timeouts};
pub use decision::{Decision, DropReason, FirewallCounters, Verdict};
pub use firewall::{Firewall, Prepared};
pub use key::{key_hash, FlowKey, Side};
pub use listing::{FlowFilter, FlowInfo, Prefix};
pub use owner::owner_hash;
pub use state::FlowState;
pub use table::MAX_CAPACITY;
