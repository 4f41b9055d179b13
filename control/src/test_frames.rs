//! Hand-built Ethernet/IPv4/TCP frames for tests: an oracle independent
//! of smoltcp's own codec.

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x50];
pub const APPLIANCE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x65];
pub const CLIENT_IP: [u8; 4] = [10, 254, 11, 50];
pub const APPLIANCE_IP: [u8; 4] = [10, 254, 11, 101];

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = if pair.len() == 2 {
                u16::from_be_bytes([pair[0], pair[1]])
            } else {
                u16::from(pair[0]) << 8
            };
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A host that talks to the appliance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    pub ip: [u8; 4],
    pub mac: [u8; 6],
}

pub const CLIENT: Host = Host {
    ip: CLIENT_IP,
    mac: CLIENT_MAC,
};

/// A TCP segment from the client to the appliance.
pub fn tcp_frame(
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp_frame_from(CLIENT, src_port, dst_port, seq, ack, flags, payload)
}

/// A TCP segment from `host` to the appliance.
pub fn tcp_frame_from(
    host: Host,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp_frame_to(
        host,
        APPLIANCE_IP,
        (src_port, dst_port),
        seq,
        ack,
        flags,
        payload,
    )
}

/// A TCP segment from `host` to `dst_ip`, in a frame to the appliance's MAC.
pub fn tcp_frame_to(
    host: Host,
    dst_ip: [u8; 4],
    (src_port, dst_port): (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&src_port.to_be_bytes());
    tcp.extend_from_slice(&dst_port.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[5 << 4, flags]);
    tcp.extend_from_slice(&64240u16.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let tcp_len = (tcp.len() as u16).to_be_bytes();
    let pseudo = [&host.ip[..], &dst_ip[..], &[0, 6], &tcp_len];
    let c = checksum(&[pseudo[0], pseudo[1], pseudo[2], pseudo[3], &tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&host.ip);
    ip.extend_from_slice(&dst_ip);
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut frame = Vec::new();
    frame.extend_from_slice(&APPLIANCE_MAC);
    frame.extend_from_slice(&host.mac);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&tcp);
    frame
}

/// A TCP segment from the appliance, as parsed from an output frame.
#[derive(Debug, Clone)]
pub struct Segment {
    pub dst_mac: [u8; 6],
    pub dst_ip: [u8; 4],
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

/// Parses an appliance-to-client TCP frame, checking both checksums.
pub fn parse_tcp(frame: &[u8]) -> Option<Segment> {
    if frame.len() < 54 || frame[12..14] != [0x08, 0x00] || frame[6..12] != APPLIANCE_MAC {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert_eq!(checksum(&[&ip[..ihl]]), 0, "IPv4 checksum");
    assert_eq!(&ip[12..16], &APPLIANCE_IP[..]);
    let mut dst_ip = [0; 4];
    dst_ip.copy_from_slice(&ip[16..20]);
    if ip[9] != 6 {
        return None;
    }
    let tcp = &ip[ihl..total];
    let tcp_len = (tcp.len() as u16).to_be_bytes();
    assert_eq!(
        checksum(&[&APPLIANCE_IP, &dst_ip, &[0, 6], &tcp_len, tcp]),
        0,
        "TCP checksum"
    );
    let offset = usize::from(tcp[12] >> 4) * 4;
    let mut dst_mac = [0; 6];
    dst_mac.copy_from_slice(&frame[..6]);
    Some(Segment {
        dst_mac,
        dst_ip,
        src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        ack: u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        flags: tcp[13],
        payload: tcp[offset..].to_vec(),
    })
}
