//! Offload and RSS bit values. DPDK defines these with the `RTE_BIT64()`
//! macro, which bindgen cannot evaluate; the values are copied from the 22.11
//! headers (rte_ethdev.h, rte_mbuf_core.h) and checked against DPDK's own
//! name tables in the tests.

/// RX offload: verify IPv4 header checksums.
pub const RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
/// RX offload: verify UDP checksums.
pub const RX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
/// RX offload: verify TCP checksums.
pub const RX_OFFLOAD_TCP_CKSUM: u64 = 1 << 3;
/// RX offload: receive frames larger than one mbuf as segment chains.
pub const RX_OFFLOAD_SCATTER: u64 = 1 << 13;
/// RX offload: deliver the RSS hash in the mbuf.
pub const RX_OFFLOAD_RSS_HASH: u64 = 1 << 19;

/// TX offload: compute IPv4 header checksums.
pub const TX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
/// TX offload: compute UDP checksums.
pub const TX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
/// TX offload: compute TCP checksums.
pub const TX_OFFLOAD_TCP_CKSUM: u64 = 1 << 3;
/// TX offload: send multi-segment mbufs.
pub const TX_OFFLOAD_MULTI_SEGS: u64 = 1 << 15;

/// RSS hash types.
pub const RSS_IPV4: u64 = 1 << 2;
/// RSS on fragmented IPv4.
pub const RSS_FRAG_IPV4: u64 = 1 << 3;
/// RSS on IPv4/TCP ports.
pub const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
/// RSS on IPv4/UDP ports.
pub const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
/// RSS on other IPv4.
pub const RSS_NONFRAG_IPV4_OTHER: u64 = 1 << 7;
/// RSS on IPv6.
pub const RSS_IPV6: u64 = 1 << 8;
/// RSS on fragmented IPv6.
pub const RSS_FRAG_IPV6: u64 = 1 << 9;
/// RSS on IPv6/TCP ports.
pub const RSS_NONFRAG_IPV6_TCP: u64 = 1 << 10;
/// RSS on IPv6/UDP ports.
pub const RSS_NONFRAG_IPV6_UDP: u64 = 1 << 11;
/// RSS on other IPv6.
pub const RSS_NONFRAG_IPV6_OTHER: u64 = 1 << 13;
/// RSS on IPv6 with extension headers.
pub const RSS_IPV6_EX: u64 = 1 << 15;
/// RSS on IPv6/TCP with extension headers.
pub const RSS_IPV6_TCP_EX: u64 = 1 << 16;
/// RSS on IPv6/UDP with extension headers.
pub const RSS_IPV6_UDP_EX: u64 = 1 << 17;
/// `RTE_ETH_RSS_IP`.
pub const RSS_IP: u64 = RSS_IPV4
    | RSS_FRAG_IPV4
    | RSS_NONFRAG_IPV4_OTHER
    | RSS_IPV6
    | RSS_FRAG_IPV6
    | RSS_NONFRAG_IPV6_OTHER
    | RSS_IPV6_EX;
/// `RTE_ETH_RSS_UDP`.
pub const RSS_UDP: u64 = RSS_NONFRAG_IPV4_UDP | RSS_NONFRAG_IPV6_UDP | RSS_IPV6_UDP_EX;
/// `RTE_ETH_RSS_TCP`.
pub const RSS_TCP: u64 = RSS_NONFRAG_IPV4_TCP | RSS_NONFRAG_IPV6_TCP | RSS_IPV6_TCP_EX;

/// mbuf RX flags: IPv4 header checksum verdict (two bits).
pub const RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
/// Checked and bad.
pub const RX_IP_CKSUM_BAD: u64 = 1 << 4;
/// Checked and good.
pub const RX_IP_CKSUM_GOOD: u64 = 1 << 7;
/// mbuf RX flags: L4 checksum verdict (two bits).
pub const RX_L4_CKSUM_MASK: u64 = (1 << 3) | (1 << 8);
/// Checked and bad.
pub const RX_L4_CKSUM_BAD: u64 = 1 << 3;
/// Checked and good.
pub const RX_L4_CKSUM_GOOD: u64 = 1 << 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::{rx_offload_name, tx_offload_name};

    // DPDK's name tables are independent of our copied values: a wrong bit
    // here would name a different offload.
    #[test]
    fn offload_bits_match_dpdk_names() {
        assert_eq!(rx_offload_name(RX_OFFLOAD_IPV4_CKSUM), "IPV4_CKSUM");
        assert_eq!(rx_offload_name(RX_OFFLOAD_UDP_CKSUM), "UDP_CKSUM");
        assert_eq!(rx_offload_name(RX_OFFLOAD_TCP_CKSUM), "TCP_CKSUM");
        assert_eq!(rx_offload_name(RX_OFFLOAD_SCATTER), "SCATTER");
        assert_eq!(rx_offload_name(RX_OFFLOAD_RSS_HASH), "RSS_HASH");
        assert_eq!(tx_offload_name(TX_OFFLOAD_IPV4_CKSUM), "IPV4_CKSUM");
        assert_eq!(tx_offload_name(TX_OFFLOAD_UDP_CKSUM), "UDP_CKSUM");
        assert_eq!(tx_offload_name(TX_OFFLOAD_TCP_CKSUM), "TCP_CKSUM");
        assert_eq!(tx_offload_name(TX_OFFLOAD_MULTI_SEGS), "MULTI_SEGS");
    }

    #[test]
    fn rss_groups_are_disjoint_and_nonempty() {
        assert_ne!(RSS_IP, 0);
        assert_eq!(RSS_IP & RSS_UDP, 0);
        assert_eq!(RSS_IP & RSS_TCP, 0);
        assert_eq!(RSS_UDP & RSS_TCP, 0);
    }
}
