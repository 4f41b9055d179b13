//! Shared helpers for the integration tests: fixtures as bytes, addresses.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

fn decode_hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len() & 1 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

macro_rules! fixture_list {
    ($($name:ident),* $(,)?) => {
        /// Every fixture, by name.
        pub const ALL: &[(&str, &str)] = &[
            $((stringify!($name), include_str!(concat!("../fixtures/", stringify!($name), ".hex")))),*
        ];
    };
}

fixture_list!(
    gwlb_v4_tcp_syn,
    gwlb_v4_udp,
    gwlb_v4_icmp_echo,
    gwlb_v6_tcp_ext,
    gwlb_v6_icmpv6_echo,
    gwlb_v4_icmp_port_unreachable,
    gwlb_v6_icmpv6_time_exceeded,
    ipv4_options_udp,
    ipv4_frag_first,
    ipv4_frag_later,
    arp_request,
);

/// A fixture's bytes by name.
pub fn fixture(name: &str) -> Vec<u8> {
    let (_, hex) = ALL
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    decode_hex(hex)
}

/// Names of the GWLB frame fixtures.
pub fn gwlb_fixtures() -> impl Iterator<Item = &'static str> {
    ALL.iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with("gwlb_"))
}

pub fn v4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().unwrap().octets()
}

pub fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

pub fn mapped(s: &str) -> u128 {
    u128::from(s.parse::<Ipv4Addr>().unwrap().to_ipv6_mapped())
}

pub fn v6u(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

pub const OUTER_ETH_SRC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const OUTER_ETH_DST: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const OUTER_SPORT: u16 = 51234;
pub const ENDPOINT_ID: u64 = 0x1234_5678_9abc_def0;
pub const ATTACHMENT_ID: u64 = 0x42;
