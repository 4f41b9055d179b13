//! TUN devices for `bridge`: created inside another network namespace so that real Linux
//! hosts there send their IP packets to the simulator.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// One TUN device: whole IP packets in and out, no packet-information prefix.
pub struct Tun {
    fd: OwnedFd,
    pub name: String,
}

fn os_error(what: &str, name: &str) -> io::Error {
    let err = io::Error::last_os_error();
    io::Error::new(err.kind(), format!("{what} for {name}: {err}"))
}

/// Path of a named network namespace as `ip netns` keeps it; an absolute path is kept as is.
pub fn netns_path(netns: &str) -> String {
    if netns.starts_with('/') {
        netns.to_string()
    } else {
        format!("/var/run/netns/{netns}")
    }
}

impl Tun {
    /// Creates TUN device `name` in network namespace `netns` ("." for the simulator's own).
    /// The descriptor keeps working in this process's namespace; the device disappears when it
    /// is closed.
    pub fn create_in(netns: &str, name: &str) -> io::Result<Tun> {
        if netns == "." {
            return Tun::create(name);
        }
        let path = netns_path(netns);
        let namespace = File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("network namespace {path}: {e}")))?;
        // setns changes only the calling thread's namespace: a throwaway thread joins it,
        // creates the device there and ends, leaving the rest of the process where it was.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: setns on a descriptor we own, for the calling thread only.
                    let rc = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
                    if rc < 0 {
                        return Err(os_error("setns", &path));
                    }
                    Tun::create(name)
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("TUN creation thread panicked")))
        })
    }

    /// Creates TUN device `name` in the calling thread's network namespace.
    fn create(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}: 1 to 15 bytes"),
            ));
        }
        let path = CString::new("/dev/net/tun").expect("no NUL in a literal");
        // SAFETY: open(2) on a NUL-terminated path that outlives the call; result checked.
        let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(os_error("open /dev/net/tun", name));
        }
        // SAFETY: `raw` is a freshly opened descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifreq is plain data; all-zero is a valid starting value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and updates the ifreq we pass, which lives across the call.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(os_error("TUNSETIFF", name));
        }
        // SAFETY: fcntl on a descriptor we own; reads return EAGAIN instead of blocking, so
        // a reader can drain the queue and then wait in poll(2).
        let rc = unsafe {
            libc::fcntl(
                fd.as_raw_fd(),
                libc::F_SETFL,
                libc::O_NONBLOCK | libc::O_RDWR,
            )
        };
        if rc < 0 {
            return Err(os_error("fcntl(O_NONBLOCK)", name));
        }
        Ok(Tun {
            fd,
            name: name.to_string(),
        })
    }

    /// Waits until a packet can be read or `timeout` passes; true when readable.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd that lives across the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(os_error("poll", &self.name));
        }
        Ok(rc > 0)
    }

    /// Reads one packet; `Ok(None)` when none is queued.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buf is valid for buf.len() bytes and outlives the call.
        let rc = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(os_error("read", &self.name)),
            };
        }
        Ok(Some(rc as usize))
    }

    /// Hands one IP packet to the kernel as if it had arrived on the device.
    pub fn write(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: packet is valid for packet.len() bytes and outlives the call.
        let rc = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if rc < 0 {
            return Err(os_error("write", &self.name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_names_map_to_ip_netns_paths() {
        assert_eq!(netns_path("tgr-cli-1"), "/var/run/netns/tgr-cli-1");
        assert_eq!(netns_path("/proc/1/ns/net"), "/proc/1/ns/net");
    }

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        assert!(Tun::create_in(".", "").is_err());
        assert!(Tun::create_in(".", "a-name-far-too-long").is_err());
    }

    #[test]
    fn missing_namespace_is_a_clear_error() {
        match Tun::create_in("tgs-no-such-netns", "tgs0") {
            Err(e) => assert!(e.to_string().contains("tgs-no-such-netns"), "{e}"),
            Ok(_) => panic!("created a TUN in a namespace that does not exist"),
        }
    }
}
