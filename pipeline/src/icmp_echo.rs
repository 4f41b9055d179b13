//! Answers ICMP echo requests to the appliance address in place.

use tollgate_shm::Counter;
use tollgate_wire::{checksum, ethernet, icmpv4, ipv4};

/// Turns the echo request in `frame` (Ethernet, IPv4, ICMP) into its reply
/// from `mac`. Other ICMP messages: `Err(None)`
/// (the caller punts them); malformed: `Err(Some(counter))`.
pub(crate) fn answer(frame: &mut [u8], mac: [u8; 6]) -> Result<(), Option<Counter>> {
    let mut eth =
        ethernet::Frame::new_checked(&mut *frame).map_err(|_| Some(Counter::MalformedEthernet))?;
    let mut ip =
        ipv4::Packet::new_checked(eth.payload_mut()).map_err(|_| Some(Counter::MalformedIpv4))?;
    {
        let mut icmp = icmpv4::Packet::new_checked(ip.payload_mut())
            .map_err(|_| Some(Counter::MalformedIcmpv4))?;
        if icmp.msg_type() != icmpv4::msg_type::ECHO_REQUEST || icmp.code() != 0 {
            return Err(None);
        }
        if !icmp.verify_checksum() {
            return Err(Some(Counter::MalformedIcmpv4));
        }
        // Only the type changes (8 -> 0): adjust the checksum for that word.
        let old = u16::from_be_bytes([icmpv4::msg_type::ECHO_REQUEST, 0]);
        let new = u16::from_be_bytes([icmpv4::msg_type::ECHO_REPLY, 0]);
        icmp.set_msg_type(icmpv4::msg_type::ECHO_REPLY);
        icmp.set_checksum(checksum::update16(icmp.checksum(), old, new));
    }
    ip.swap_addrs();
    ip.set_ttl(64);
    ip.fill_checksum();
    let asker = eth.src_addr();
    eth.set_dst_addr(asker);
    eth.set_src_addr(mac);
    Ok(())
}
