//! AF_PACKET raw socket bound to one interface: whole Ethernet frames in and out.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Socket buffer size asked for in both directions (the kernel caps it at rmem_max unless
/// SO_*BUFFORCE is allowed, which it is for root).
const SOCKET_BUFFER: libc::c_int = 64 << 20;

/// Direction of a received frame, from `sll_pkttype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Addressed to us, broadcast, multicast or another host: an incoming frame.
    Incoming,
    /// A copy of a frame sent from this host (PACKET_OUTGOING): ignored by callers.
    Outgoing,
}

pub struct RawSocket {
    fd: OwnedFd,
    ifindex: i32,
    pub mac: [u8; 6],
    pub name: String,
}

fn last_error(what: &str, iface: &str) -> io::Error {
    let err = io::Error::last_os_error();
    io::Error::new(err.kind(), format!("{what} on {iface}: {err}"))
}

impl RawSocket {
    /// Opens a socket receiving every protocol on `iface`.
    pub fn open(iface: &str) -> io::Result<RawSocket> {
        let name = CString::new(iface)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
        // SAFETY: if_nametoindex reads a NUL-terminated string that outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("interface {iface} does not exist in this network namespace"),
            ));
        }
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(protocol)) };
        if raw < 0 {
            return Err(last_error("socket(AF_PACKET)", iface));
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut socket = RawSocket {
            fd,
            ifindex: ifindex as i32,
            mac: [0; 6],
            name: iface.to_string(),
        };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid starting value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = socket.ifindex;
        // SAFETY: addr is a valid sockaddr_ll and the length passed matches its size.
        let rc = unsafe {
            libc::bind(
                socket.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_error("bind", iface));
        }
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if socket
                .set_int(libc::SOL_SOCKET, force, SOCKET_BUFFER)
                .is_err()
            {
                socket.set_int(libc::SOL_SOCKET, plain, SOCKET_BUFFER)?;
            }
        }
        socket.mac = socket.read_mac()?;
        Ok(socket)
    }

    fn set_int(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: value is a c_int living across the call and the length matches.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_error("setsockopt", &self.name));
        }
        Ok(())
    }

    fn read_mac(&self) -> io::Result<[u8; 6]> {
        let path = format!("/sys/class/net/{}/address", self.name);
        // sysfs shows the interface of the namespace the process mounted sysfs in; fall back
        // to SIOCGIFHWADDR which always answers for the socket's own namespace.
        // SAFETY: ifreq is plain data; all-zero is valid.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(self.name.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        // SAFETY: SIOCGIFHWADDR fills the ifreq we pass, which lives across the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
        if rc < 0 {
            let text = std::fs::read_to_string(&path)
                .map_err(|_| last_error("SIOCGIFHWADDR", &self.name))?;
            return parse_mac(text.trim()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad MAC in {path}"))
            });
        }
        // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
        let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
        let mut mac = [0u8; 6];
        for (dst, src) in mac.iter_mut().zip(data.iter()) {
            *dst = *src as u8;
        }
        Ok(mac)
    }

    /// Stops the socket from seeing copies of the frames this host sends.
    pub fn ignore_outgoing(&self) -> io::Result<()> {
        self.set_int(libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
    }

    /// Frames the kernel dropped because the receive buffer was full, since the last call.
    pub fn take_drops(&self) -> io::Result<u64> {
        // SAFETY: tpacket_stats is plain data; all-zero is valid.
        let mut stats: libc::tpacket_stats = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: stats and len are valid for writing and outlive the call.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(last_error("PACKET_STATISTICS", &self.name));
        }
        Ok(u64::from(stats.tp_drops))
    }

    /// Sets the receive timeout so `recv` returns `Ok(None)` when nothing arrives in time.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros().max(1) as i32),
        };
        // SAFETY: tv is a valid timeval living across the call and the length matches.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_error("SO_RCVTIMEO", &self.name));
        }
        Ok(())
    }

    /// Sends one whole Ethernet frame.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: the buffer is valid for frame.len() bytes; the socket is bound, so no
            // destination address is needed.
            let rc =
                unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
            if rc >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // The device queue is momentarily full: retry rather than lose the frame.
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::EINTR) => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                _ => return Err(last_error("send", &self.name)),
            }
        }
    }

    /// Receives one frame into `buf`; `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Direction)>> {
        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut addr_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and addr are valid for the lengths passed and outlive the call.
        let rc = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut addr as *mut libc::sockaddr_ll).cast(),
                &mut addr_len,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(last_error("recv", &self.name)),
            };
        }
        let direction = if addr.sll_pkttype == libc::PACKET_OUTGOING {
            Direction::Outgoing
        } else {
            Direction::Incoming
        };
        // With MSG_TRUNC the return value is the real length even if the buffer was short.
        Ok(Some((rc as usize, direction)))
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_text_round_trip() {
        let mac = parse_mac("02:00:0a:fe:0b:3c").unwrap();
        assert_eq!(mac, [2, 0, 0x0a, 0xfe, 0x0b, 0x3c]);
        assert_eq!(format_mac(&mac), "02:00:0a:fe:0b:3c");
        assert_eq!(parse_mac("02:00:0a"), None);
        assert_eq!(parse_mac("02:00:0a:fe:0b:3c:01"), None);
    }

    #[test]
    fn missing_interface_is_a_clear_error() {
        match RawSocket::open("tgs-nonexist0") {
            Err(e) => assert!(e.to_string().contains("does not exist"), "{e}"),
            Ok(_) => panic!("opened a socket on an interface that does not exist"),
        }
    }
}
