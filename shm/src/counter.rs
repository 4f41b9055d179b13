//! The per-worker counters and how each one is exported to Prometheus.
//!
//! Adding a counter is one line in the `counters!` table below. The table's
//! order is the index into every worker's counter array, so a change alters
//! the schema fingerprint ([`COUNTER_SCHEMA`]) and an old control plane then
//! refuses to attach instead of mislabelling numbers.

/// Whether a metric only goes up (summed and exported with `_total`) or is a
/// level that each worker sets (summed across workers, exported as is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Counter,
    Gauge,
}

impl MetricKind {
    /// The word Prometheus uses in its `# TYPE` line.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// How one [`Counter`] appears in the Prometheus text format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterDesc {
    /// Metric family name, `tollgate_` prefix; counters end in `_total`.
    pub name: &'static str,
    /// Label pairs that tell this counter apart from others in its family.
    pub labels: &'static [(&'static str, &'static str)],
    /// The `# HELP` text, identical across a family.
    pub help: &'static str,
    pub kind: MetricKind,
}

macro_rules! counters {
    ($( $variant:ident : $kind:ident $name:literal { $($lk:literal = $lv:literal),* } $help:literal ; )*) => {
        /// One slot of a worker's counter array; see [`Counter::desc`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Counter {
            $( $variant, )*
        }

        impl Counter {
            /// Every counter, in index order.
            pub const ALL: &'static [Counter] = &[ $( Counter::$variant, )* ];
            /// Number of counters (the length of a worker's counter array).
            pub const COUNT: usize = Self::ALL.len();
            const DESCS: &'static [CounterDesc] = &[ $( CounterDesc {
                name: $name,
                labels: &[ $( ($lk, $lv) ),* ],
                help: $help,
                kind: MetricKind::$kind,
            }, )* ];

            /// Name, labels, help and kind for the Prometheus exporter.
            pub fn desc(self) -> &'static CounterDesc {
                &Self::DESCS[self as usize]
            }

            /// The index of this counter in a worker's counter array.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

counters! {
    RxPackets: Counter "tollgate_rx_packets_total" {} "Packets received from the data port.";
    RxBytes: Counter "tollgate_rx_bytes_total" {} "Bytes received from the data port.";
    TxPackets: Counter "tollgate_tx_packets_total" {} "Packets transmitted on the data port.";
    TxBytes: Counter "tollgate_tx_bytes_total" {} "Bytes transmitted on the data port.";
    Punted: Counter "tollgate_punted_packets_total" {} "Packets handed to the control plane through a punt ring.";
    PuntRingFull: Counter "tollgate_punt_dropped_packets_total" {"reason" = "ring_full"} "Packets meant for the control plane but dropped, by reason.";
    PuntRateLimited: Counter "tollgate_punt_dropped_packets_total" {"reason" = "rate_limited"} "Packets meant for the control plane but dropped, by reason.";
    PuntTooLong: Counter "tollgate_punt_dropped_packets_total" {"reason" = "too_long"} "Packets meant for the control plane but dropped, by reason.";
    PuntSourceNotAllowed: Counter "tollgate_punt_dropped_packets_total" {"reason" = "source_not_allowed"} "Packets meant for the control plane but dropped, by reason.";
    Injected: Counter "tollgate_injected_packets_total" {} "Packets from the control plane transmitted by the dataplane.";
    ArpReplies: Counter "tollgate_arp_replies_total" {} "ARP replies sent for the appliance address.";
    IcmpEchoReplies: Counter "tollgate_icmp_echo_replies_total" {} "ICMP echo replies sent for the appliance address.";
    DropNotForUs: Counter "tollgate_dropped_packets_total" {"reason" = "not_for_us"} "Packets dropped by the dataplane, by reason.";
    DropSpoofedGeneve: Counter "tollgate_dropped_packets_total" {"reason" = "spoofed_geneve"} "Packets dropped by the dataplane, by reason.";
    DropUnsupportedEthertype: Counter "tollgate_dropped_packets_total" {"reason" = "unsupported_ethertype"} "Packets dropped by the dataplane, by reason.";
    MalformedEthernet: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "ethernet"} "Packets dropped by the dataplane, by reason.";
    MalformedArp: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "arp"} "Packets dropped by the dataplane, by reason.";
    MalformedIpv4: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "ipv4"} "Packets dropped by the dataplane, by reason.";
    MalformedIpv6: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "ipv6"} "Packets dropped by the dataplane, by reason.";
    MalformedUdp: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "udp"} "Packets dropped by the dataplane, by reason.";
    MalformedTcp: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "tcp"} "Packets dropped by the dataplane, by reason.";
    MalformedIcmpv4: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "icmpv4"} "Packets dropped by the dataplane, by reason.";
    MalformedIcmpv6: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "icmpv6"} "Packets dropped by the dataplane, by reason.";
    MalformedGeneve: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "geneve"} "Packets dropped by the dataplane, by reason.";
    MalformedGwlbOptions: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "gwlb_options"} "Packets dropped by the dataplane, by reason.";
    MalformedInnerIp: Counter "tollgate_dropped_packets_total" {"reason" = "malformed", "layer" = "inner_ip"} "Packets dropped by the dataplane, by reason.";
    DropTxFull: Counter "tollgate_dropped_packets_total" {"reason" = "tx_full"} "Packets dropped by the dataplane, by reason.";
    DropFirewall: Counter "tollgate_dropped_packets_total" {"reason" = "firewall"} "Packets dropped by the dataplane, by reason.";
    DropRuleDenied: Counter "tollgate_dropped_packets_total" {"reason" = "rule_denied"} "Packets dropped by the dataplane, by reason.";
    DropFlushed: Counter "tollgate_dropped_packets_total" {"reason" = "flow_flushed"} "Packets dropped by the dataplane, by reason.";
    DropPickupOff: Counter "tollgate_dropped_packets_total" {"reason" = "mid_stream_pickup_off"} "Packets dropped by the dataplane, by reason.";
    DropTcpInvalid: Counter "tollgate_dropped_packets_total" {"reason" = "tcp_invalid"} "Packets dropped by the dataplane, by reason.";
    DropTcpInvalidRst: Counter "tollgate_dropped_packets_total" {"reason" = "tcp_invalid_rst"} "Packets dropped by the dataplane, by reason.";
    DropTcpOutOfWindow: Counter "tollgate_dropped_packets_total" {"reason" = "tcp_out_of_window"} "Packets dropped by the dataplane, by reason.";
    DropUnsolicitedEchoReply: Counter "tollgate_dropped_packets_total" {"reason" = "unsolicited_echo_reply"} "Packets dropped by the dataplane, by reason.";
    DropIcmpErrorUnrelated: Counter "tollgate_dropped_packets_total" {"reason" = "icmp_error_unrelated"} "Packets dropped by the dataplane, by reason.";
    DropInnerFragment: Counter "tollgate_dropped_packets_total" {"reason" = "inner_fragment"} "Packets dropped by the dataplane, by reason.";
    DropNoRuleSet: Counter "tollgate_dropped_packets_total" {"reason" = "no_rule_set"} "Packets dropped by the dataplane, by reason.";
    DropFlowTableFull: Counter "tollgate_dropped_packets_total" {"reason" = "flow_table_full"} "Packets dropped by the dataplane, by reason.";
    DropEndpointShare: Counter "tollgate_dropped_packets_total" {"reason" = "endpoint_share"} "Packets dropped by the dataplane, by reason.";
    DropMultiSegment: Counter "tollgate_dropped_packets_total" {"reason" = "multi_segment"} "Packets dropped by the dataplane, by reason.";
    DropNoBuffer: Counter "tollgate_dropped_packets_total" {"reason" = "no_buffer"} "Packets dropped by the dataplane, by reason.";
    InjectMalformed: Counter "tollgate_inject_dropped_packets_total" {"reason" = "malformed"} "Packets from the control plane not transmitted, by reason.";
    DropSteerRingFull: Counter "tollgate_dropped_packets_total" {"reason" = "steer_ring_full"} "Packets dropped by the dataplane, by reason.";
    VerdictPass: Counter "tollgate_firewall_verdicts_total" {"verdict" = "pass"} "Firewall verdicts, by verdict.";
    VerdictDrop: Counter "tollgate_firewall_verdicts_total" {"verdict" = "drop"} "Firewall verdicts, by verdict.";
    VerdictReject: Counter "tollgate_firewall_verdicts_total" {"verdict" = "reject"} "Firewall verdicts, by verdict.";
    FlowsCreated: Counter "tollgate_flows_created_total" {} "Flows inserted into the flow table.";
    FlowsExpired: Counter "tollgate_flows_expired_total" {} "Flows removed from the flow table after their idle timeout.";
    FlowsRefused: Counter "tollgate_flows_refused_total" {"reason" = "table_full"} "Allowed new flows not inserted, by reason: the worker's flow table was full (table_full), or full and the flow's GWLB endpoint held its endpoint_share of it (endpoint_share).";
    FlowsRefusedEndpointShare: Counter "tollgate_flows_refused_total" {"reason" = "endpoint_share"} "Allowed new flows not inserted, by reason: the worker's flow table was full (table_full), or full and the flow's GWLB endpoint held its endpoint_share of it (endpoint_share).";
    FlowsEvictedUnconfirmed: Counter "tollgate_flows_evicted_total" {"reason" = "unconfirmed"} "Live flows evicted from a full flow table to admit a new one, by the evicted flow's kind: unconfirmed TCP pickup, embryonic (SYN_SENT, SYN_RECV, one-way UDP), closing (FIN_WAIT to CLOSE), denied.";
    FlowsEvictedEmbryonic: Counter "tollgate_flows_evicted_total" {"reason" = "embryonic"} "Live flows evicted from a full flow table to admit a new one, by the evicted flow's kind: unconfirmed TCP pickup, embryonic (SYN_SENT, SYN_RECV, one-way UDP), closing (FIN_WAIT to CLOSE), denied.";
    FlowsEvictedClosing: Counter "tollgate_flows_evicted_total" {"reason" = "closing"} "Live flows evicted from a full flow table to admit a new one, by the evicted flow's kind: unconfirmed TCP pickup, embryonic (SYN_SENT, SYN_RECV, one-way UDP), closing (FIN_WAIT to CLOSE), denied.";
    FlowsEvictedDenied: Counter "tollgate_flows_evicted_total" {"reason" = "denied"} "Live flows evicted from a full flow table to admit a new one, by the evicted flow's kind: unconfirmed TCP pickup, embryonic (SYN_SENT, SYN_RECV, one-way UDP), closing (FIN_WAIT to CLOSE), denied.";
    FlowsActive: Gauge "tollgate_flows_active" {} "Flows currently in the flow table.";
    Steered: Counter "tollgate_steered_packets_total" {} "Packets handed to another worker that owns their flow.";
}

/// FNV-1a over every counter's name and labels, in order: both processes
/// must agree on it before reading counters by index.
pub const COUNTER_SCHEMA: u64 = counter_schema();

const fn fnv_bytes(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    // A separator so that ("ab","c") and ("a","bc") differ.
    hash ^= 0xff;
    hash.wrapping_mul(0x0000_0100_0000_01b3)
}

const fn counter_schema() -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < Counter::DESCS.len() {
        let desc = &Counter::DESCS[i];
        hash = fnv_bytes(hash, desc.name.as_bytes());
        let mut l = 0;
        while l < desc.labels.len() {
            hash = fnv_bytes(hash, desc.labels[l].0.as_bytes());
            hash = fnv_bytes(hash, desc.labels[l].1.as_bytes());
            l += 1;
        }
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn indexes_follow_all() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        assert_eq!(Counter::COUNT, Counter::ALL.len());
    }

    #[test]
    fn prometheus_names_follow_conventions() {
        let mut series = HashSet::new();
        let mut families: HashMap<&str, (&str, MetricKind)> = HashMap::new();
        for c in Counter::ALL {
            let d = c.desc();
            assert!(d.name.starts_with("tollgate_"), "{}", d.name);
            assert!(
                d.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                d.name
            );
            match d.kind {
                MetricKind::Counter => assert!(d.name.ends_with("_total"), "{}", d.name),
                MetricKind::Gauge => assert!(!d.name.ends_with("_total"), "{}", d.name),
            }
            assert!(!d.help.is_empty());
            let mut labels: Vec<_> = d.labels.to_vec();
            labels.sort();
            assert!(series.insert((d.name, labels)), "duplicate series {c:?}");
            // One family, one HELP and one TYPE.
            let prev = families.entry(d.name).or_insert((d.help, d.kind));
            assert_eq!(*prev, (d.help, d.kind), "family {} disagrees", d.name);
        }
    }

    #[test]
    fn required_counters_exist() {
        let layers = [
            "ethernet",
            "arp",
            "ipv4",
            "ipv6",
            "udp",
            "tcp",
            "icmpv4",
            "icmpv6",
            "geneve",
            "gwlb_options",
            "inner_ip",
        ];
        for layer in layers {
            assert!(
                Counter::ALL
                    .iter()
                    .any(|c| c.desc().labels == [("reason", "malformed"), ("layer", layer)]),
                "no malformed counter for {layer}"
            );
        }
    }
}
