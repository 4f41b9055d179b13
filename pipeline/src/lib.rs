//! What a worker does to one packet, without DPDK.
//!
//! [`Pipeline::process`] takes a received Ethernet frame in a writable
//! buffer (the frame plus the buffer's tailroom) and returns a [`Disposition`]:
//! transmit the rewritten frame on the same port, punt it to the control
//! plane, hand it to the worker owning its flow, or drop it with a counted
//! reason. One step per file:
//!
//! - `dispatch`: Ethernet, ARP and outer IPv4 checks; decides the path.
//! - `arp_reply`, `icmp_echo`: answers for the appliance address.
//! - `express`: the fast lane for packets of established flows.
//! - `hairpin`: GENEVE from GWLB: decap, steer, firewall, re-encap.
//! - `reject`: TCP RST / ICMP unreachable built inside the tunnel.
//! - `punt_limit`: token bucket in front of the punt ring.
//! - `rules_adapter`: the compiled rule set as the firewall's classifier
//!   (the only place the rule language meets the firewall).
//!
//! The fast path allocates nothing, takes no lock and makes no syscall:
//! counters go to the worker's own block in shared memory.

mod arp_reply;
mod dispatch;
mod express;
mod hairpin;
mod icmp_echo;
mod punt_limit;
mod reject;
mod rules_adapter;

pub use dispatch::{Disposition, Pipeline, PipelineConfig, Prefix4};
pub use punt_limit::TokenBucket;
pub use rules_adapter::RuleSnapshot;

#[cfg(test)]
mod tests;
