//! ARP request/reply frames and resolving the appliance MAC over the raw socket.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::rawsock::{Direction, RawSocket};
use crate::wire::ETHERTYPE_ARP;

const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

/// A parsed IPv4-over-Ethernet ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl Arp {
    pub fn is_request(&self) -> bool {
        self.op == OP_REQUEST
    }

    /// Parses an Ethernet frame carrying IPv4 ARP.
    pub fn parse(frame: &[u8]) -> Option<Arp> {
        if frame.len() < 42 || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_ARP {
            return None;
        }
        let a = &frame[14..42];
        if a[0..6] != [0, 1, 0x08, 0x00, 6, 4] {
            return None;
        }
        let mac = |s: &[u8]| -> [u8; 6] { [s[0], s[1], s[2], s[3], s[4], s[5]] };
        Some(Arp {
            op: u16::from_be_bytes([a[6], a[7]]),
            sender_mac: mac(&a[8..14]),
            sender_ip: Ipv4Addr::new(a[14], a[15], a[16], a[17]),
            target_mac: mac(&a[18..24]),
            target_ip: Ipv4Addr::new(a[24], a[25], a[26], a[27]),
        })
    }

    /// Encodes the message in an Ethernet frame to `eth_dst` (padded to 60 bytes).
    pub fn to_frame(self, eth_dst: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::with_capacity(60);
        f.extend_from_slice(&eth_dst);
        f.extend_from_slice(&self.sender_mac);
        f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        f.extend_from_slice(&self.op.to_be_bytes());
        f.extend_from_slice(&self.sender_mac);
        f.extend_from_slice(&self.sender_ip.octets());
        f.extend_from_slice(&self.target_mac);
        f.extend_from_slice(&self.target_ip.octets());
        f.resize(60, 0);
        f
    }

    pub fn request(my_mac: [u8; 6], my_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Arp {
        Arp {
            op: OP_REQUEST,
            sender_mac: my_mac,
            sender_ip: my_ip,
            target_mac: [0; 6],
            target_ip,
        }
    }

    /// The reply that answers this request with `mac` as the owner of the target address.
    pub fn answer(&self, mac: [u8; 6]) -> Arp {
        Arp {
            op: OP_REPLY,
            sender_mac: mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }
}

/// Resolves `target` with ARP requests over `socket` (one every 500 ms, 2 s in all).
pub fn resolve(socket: &RawSocket, my_ip: Ipv4Addr, target: Ipv4Addr) -> io::Result<[u8; 6]> {
    let request = Arp::request(socket.mac, my_ip, target).to_frame([0xff; 6]);
    socket.set_read_timeout(Duration::from_millis(50))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut next_send = Instant::now();
    let mut buf = vec![0u8; 2048];
    while Instant::now() < deadline {
        if Instant::now() >= next_send {
            socket.send(&request)?;
            next_send += Duration::from_millis(500);
        }
        if let Some((len, Direction::Incoming)) = socket.recv(&mut buf)? {
            if let Some(arp) = Arp::parse(&buf[..len.min(buf.len())]) {
                if arp.op == OP_REPLY && arp.sender_ip == target {
                    return Ok(arp.sender_mac);
                }
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no ARP reply for {target} on {} within 2 s", socket.name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_and_answer() {
        let me = [2, 0, 0, 0, 0, 0x60];
        let req = Arp::request(
            me,
            Ipv4Addr::new(10, 254, 11, 60),
            Ipv4Addr::new(10, 254, 11, 101),
        );
        let frame = req.to_frame([0xff; 6]);
        assert_eq!(frame.len(), 60);
        assert_eq!(&frame[12..22], &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        assert_eq!(&frame[38..42], &[10, 254, 11, 101]);
        let parsed = Arp::parse(&frame).unwrap();
        assert_eq!(parsed, req);
        let reply = parsed.answer([2, 0, 0, 0, 0, 1]);
        assert_eq!(reply.op, OP_REPLY);
        assert_eq!(reply.sender_ip, Ipv4Addr::new(10, 254, 11, 101));
        assert_eq!(reply.target_mac, me);
        assert_eq!(Arp::parse(&frame[..41]), None);
    }
}
