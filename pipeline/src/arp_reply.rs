//! Answers ARP requests for the appliance address in place.

use tollgate_shm::Counter;
use tollgate_wire::{arp, ethernet};

/// Turns an ARP request for `ip` into the reply, in place. `Err` carries the
/// drop counter when the frame is not a request for us or is malformed.
pub(crate) fn answer(frame: &mut [u8], ip: [u8; 4], mac: [u8; 6]) -> Result<(), Counter> {
    let mut eth =
        ethernet::Frame::new_checked(&mut *frame).map_err(|_| Counter::MalformedEthernet)?;
    let mut pkt = arp::Packet::new_checked(eth.payload_mut()).map_err(|_| Counter::MalformedArp)?;
    if pkt.operation() != arp::OP_REQUEST || pkt.target_protocol_addr() != ip {
        return Err(Counter::DropNotForUs);
    }
    let (asker_mac, asker_ip) = (pkt.sender_hardware_addr(), pkt.sender_protocol_addr());
    pkt.set_operation(arp::OP_REPLY);
    pkt.set_sender_hardware_addr(mac);
    pkt.set_sender_protocol_addr(ip);
    pkt.set_target_hardware_addr(asker_mac);
    pkt.set_target_protocol_addr(asker_ip);
    eth.set_dst_addr(asker_mac);
    eth.set_src_addr(mac);
    Ok(())
}
