//! The trust boundary around the segment: who may create, find and map it.
//!
//! The segment's memory is a sealed memfd (`F_SEAL_SHRINK | F_SEAL_GROW |
//! F_SEAL_SEAL`): a peer holding it can write bytes but never resize it, so
//! nothing can make the dataplane's mapping shorter than its layout (no
//! SIGBUS). A memfd has no name, so the dataplane publishes it at
//! `/dev/shm/tollgate-<name>` as a unix socket that hands the descriptor to
//! each accepted peer (`SCM_RIGHTS`) after checking the peer's credentials.
//!
//! Everything here is start-up or attach work, never on the packet path.

use std::ffi::CString;
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Result, ShmError};

/// Who, besides the dataplane's own user and root, may attach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentAccess {
    /// Members of this group may attach (segment and socket mode 0660);
    /// `None`: owner only (mode 0600).
    pub group: Option<u32>,
}

impl SegmentAccess {
    /// Access for the owner and members of the group called `name`.
    pub fn for_group(name: &str) -> Result<SegmentAccess> {
        Ok(SegmentAccess {
            group: Some(group_id(name)?),
        })
    }

    fn mode(self) -> u32 {
        if self.group.is_some() {
            0o660
        } else {
            0o600
        }
    }
}

/// The id of the group called `name` (for the segment's and the control
/// socket's group access).
pub fn group_id(name: &str) -> Result<u32> {
    let no_such = || ShmError::NoSuchGroup {
        name: name.to_string(),
    };
    let c = CString::new(name).map_err(|_| no_such())?;
    // SAFETY: all-zero is a valid `group` (null pointers, gid 0).
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf's length is
    // passed; getgrnam_r writes only into group, buf and result.
    let rc = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut group,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(no_such());
    }
    Ok(group.gr_gid)
}

const MFD_CLOEXEC: libc::c_uint = 0x0001;
const MFD_ALLOW_SEALING: libc::c_uint = 0x0002;
const SO_PEERGROUPS: libc::c_int = 59;
/// The seals a segment must carry: its size can never change again.
pub(crate) const SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
/// How long an attaching process waits for the dataplane's answer.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn cvt(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A sealed memfd of `len` bytes with the access's mode and group.
pub(crate) fn create_memfd(tag: &str, len: usize, access: SegmentAccess) -> std::io::Result<File> {
    let name = CString::new(tag).map_err(|_| std::io::Error::from(ErrorKind::InvalidInput))?;
    // SAFETY: name is a valid C string; the returned fd is checked and owned below.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), MFD_CLOEXEC | MFD_ALLOW_SEALING) })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_permissions(std::fs::Permissions::from_mode(access.mode()))?;
    if let Some(gid) = access.group {
        std::os::unix::fs::fchown(&file, None, Some(gid))?;
    }
    file.set_len(len as u64)?;
    // SAFETY: fcntl on a descriptor we own; no memory involved.
    cvt(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) })?;
    Ok(file)
}

/// The seals on `file` (0 for files that cannot carry any).
pub(crate) fn seals(file: &File) -> libc::c_int {
    // SAFETY: fcntl on a descriptor we own; no memory involved.
    unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) }.max(0)
}

/// Checks that `meta` (of the published socket or the segment memory)
/// belongs to this process's user or root and that other users have no
/// access: anything else could have been planted or changed by them.
pub(crate) fn check_trusted(path: &Path, what: &str, meta: &std::fs::Metadata) -> Result<()> {
    let untrusted = |reason: String| ShmError::Untrusted {
        path: path.to_path_buf(),
        reason,
    };
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(untrusted(format!(
            "its {what} belongs to uid {}, not to this process's uid {me} or root",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o007 != 0 {
        return Err(untrusted(format!(
            "its {what} has mode {mode:04o}: other users can use it"
        )));
    }
    Ok(())
}

/// `(dev, ino)` of what is at `path` now, without following a symlink.
pub(crate) fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

fn name_taken(path: &Path, reason: String) -> ShmError {
    ShmError::NameTaken {
        path: path.to_path_buf(),
        reason,
    }
}

/// Makes `path` free for a new segment: missing, or a leftover of this
/// user's earlier dataplane that nobody serves any more (removed). Anything
/// else (another user's file, a live dataplane) is refused.
fn clear_stale(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("inspect", path, e)),
    };
    let me = euid();
    if meta.uid() != me {
        return Err(name_taken(
            path,
            format!(
                "it exists and belongs to uid {}, not this dataplane's uid {me}: remove it if it is \
                 not a tollgate segment, or choose another [shm] name",
                meta.uid()
            ),
        ));
    }
    if meta.file_type().is_socket() && UnixStream::connect(path).is_ok() {
        return Err(name_taken(
            path,
            "another running dataplane serves it: stop it or choose another [shm] name".into(),
        ));
    }
    std::fs::remove_file(path).map_err(|e| io_error("remove stale segment", path, e))
}

fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> ShmError {
    ShmError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Binds the segment's socket at `path`, exclusively and never reachable
/// with a wider mode than the access allows: bound in a private directory,
/// given its mode and group, then renamed into place without replacing.
fn bind_exclusive(path: &Path, access: SegmentAccess) -> Result<UnixListener> {
    clear_stale(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tollgate");
    let private = dir.join(format!(
        ".{file_name}.{}.{}",
        std::process::id(),
        crate::clock::monotonic_ns()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| io_error("create private directory", &private, e))?;
    let staged = private.join("s");
    let result = (|| -> Result<UnixListener> {
        let listener = UnixListener::bind(&staged).map_err(|e| io_error("bind", path, e))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(access.mode()))
            .map_err(|e| io_error("chmod", path, e))?;
        if let Some(gid) = access.group {
            std::os::unix::fs::chown(&staged, None, Some(gid))
                .map_err(|e| io_error("chown", path, e))?;
        }
        rename_noreplace(&staged, path).map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                name_taken(
                    path,
                    "someone created it while this dataplane started".into(),
                )
            } else {
                io_error("publish", path, e)
            }
        })?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    result
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(from.as_os_str().as_bytes())?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are valid C strings; renameat2 reads them only.
    cvt(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
    .map(drop)
}

/// The dataplane's side: serves the segment descriptor at its path until
/// dropped.
pub(crate) struct Publisher {
    /// Closing it wakes the server thread, which then exits.
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    pub(crate) fn start(path: &Path, memory: &File, access: SegmentAccess) -> Result<Publisher> {
        let listener = bind_exclusive(path, access)?;
        let memory = memory
            .try_clone()
            .map_err(|e| io_error("duplicate segment descriptor", path, e))?;
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        if let Err(e) = cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }) {
            let _ = std::fs::remove_file(path);
            return Err(io_error("create pipe", path, e));
        }
        // SAFETY: both descriptors are fresh and owned only here.
        let (wake, stop) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let thread = std::thread::Builder::new()
            .name("tollgate-shm".into())
            .spawn(move || serve(&listener, &memory, &wake, access))
            .map_err(|e| {
                let _ = std::fs::remove_file(path);
                io_error("start segment server for", path, e)
            })?;
        Ok(Publisher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Hands `memory` to each accepted peer that may have it; ends when the
/// write end of `wake` is closed.
fn serve(listener: &UnixListener, memory: &File, wake: &OwnedFd, access: SegmentAccess) {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd for the call's duration.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents & libc::POLLIN == 0 {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        // A refused peer gets the connection closed without a descriptor.
        if peer_allowed(&stream, access) {
            let _ = stream.set_write_timeout(Some(HANDOVER_TIMEOUT));
            let _ = send_fd(&stream, memory.as_raw_fd());
        }
    }
}

/// The peer runs as this process's user, as root, or in the access group.
fn peer_allowed(stream: &UnixStream, access: SegmentAccess) -> bool {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for writes of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return false;
    }
    if cred.uid == euid() || cred.uid == 0 {
        return true;
    }
    let Some(group) = access.group else {
        return false;
    };
    if cred.gid == group {
        return true;
    }
    let mut groups = [u32::MAX; 256];
    let mut len = std::mem::size_of_val(&groups) as libc::socklen_t;
    // SAFETY: groups and len are valid for writes of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let count = (len as usize / std::mem::size_of::<u32>()).min(groups.len());
    rc == 0 && groups[..count].contains(&group)
}

/// Room for one descriptor's control message, u64-aligned.
#[repr(C)]
struct FdMessage {
    header: libc::cmsghdr,
    fd: libc::c_int,
    _pad: libc::c_int,
}

fn send_fd(stream: &UnixStream, fd: RawFd) -> std::io::Result<()> {
    let mut byte = [b'T'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: all-zero is a valid cmsghdr and msghdr (null pointers, zero lengths).
    let mut control: FdMessage = unsafe { std::mem::zeroed() };
    // SAFETY: CMSG_LEN is a pure size computation.
    control.header.cmsg_len = unsafe { libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) } as _;
    control.header.cmsg_level = libc::SOL_SOCKET;
    control.header.cmsg_type = libc::SCM_RIGHTS;
    control.fd = fd;
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    msg.msg_controllen = std::mem::size_of::<FdMessage>() as _;
    // SAFETY: msg points at iov, byte and control, all alive for the call;
    // the control message holds exactly one descriptor we own.
    let sent = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Receives the descriptor the dataplane sends; `None` if it closed the
/// connection without one (it refused this process).
pub(crate) fn recv_fd(stream: &UnixStream) -> std::io::Result<Option<OwnedFd>> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: all-zero is valid for both plain C structs.
    let mut control: FdMessage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    msg.msg_controllen = std::mem::size_of::<FdMessage>() as _;
    // SAFETY: msg points at buffers alive for the call and sized as declared.
    let got = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if got < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: CMSG_LEN is a pure size computation.
    let one_fd = unsafe { libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) } as usize;
    let complete = msg.msg_flags & libc::MSG_CTRUNC == 0
        && msg.msg_controllen as usize >= one_fd
        && control.header.cmsg_level == libc::SOL_SOCKET
        && control.header.cmsg_type == libc::SCM_RIGHTS
        && control.header.cmsg_len as usize == one_fd;
    if got == 0 || !complete {
        return Ok(None);
    }
    // SAFETY: the kernel installed this descriptor for us in this message.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(control.fd) }))
}

/// What an attaching process gets: the segment memory, opened on its own
/// (own open file, so its `flock` is its own), and the published socket's
/// identity for staleness checks.
pub(crate) struct Fetched {
    pub(crate) memory: File,
    pub(crate) identity: (u64, u64),
}

/// Control's side: checks the published socket, asks the dataplane for the
/// segment, and checks what comes back before anything is mapped.
pub(crate) fn fetch(path: &Path) -> Result<Fetched> {
    let not_found = || ShmError::NotFound {
        path: path.to_path_buf(),
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(io_error("inspect", path, e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ShmError::Untrusted {
            path: path.to_path_buf(),
            reason: "it is not a segment socket (a dataplane of an older release, or someone \
                     else's file)"
                .into(),
        });
    }
    check_trusted(path, "socket", &meta)?;
    let stream = match UnixStream::connect(path) {
        Ok(s) => s,
        // A socket nobody serves: the dataplane died without cleaning up.
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::NotFound) => {
            return Err(not_found())
        }
        Err(e) => return Err(io_error("connect to", path, e)),
    };
    stream
        .set_read_timeout(Some(HANDOVER_TIMEOUT))
        .map_err(|e| io_error("connect to", path, e))?;
    let fd = recv_fd(&stream)
        .map_err(|e| io_error("receive the segment from", path, e))?
        .ok_or_else(|| ShmError::Untrusted {
            path: path.to_path_buf(),
            reason: format!(
                "the dataplane refused to hand it to uid {}: run as its user, root, or a member \
                 of its [shm] group",
                euid()
            ),
        })?;
    let received = File::from(fd);
    let memory_meta = received
        .metadata()
        .map_err(|e| io_error("stat segment of", path, e))?;
    check_trusted(path, "memory", &memory_meta)?;
    if !memory_meta.file_type().is_file() || seals(&received) & SEALS != SEALS {
        return Err(ShmError::Untrusted {
            path: path.to_path_buf(),
            reason: "its memory is not sealed against resizing".into(),
        });
    }
    // A fresh open of the same memory: the received descriptor shares its
    // open file (and so its flock) with the dataplane and every other peer.
    let own = PathBuf::from(format!("/proc/self/fd/{}", received.as_raw_fd()));
    let memory = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&own)
        .map_err(|e| io_error("reopen segment of", path, e))?;
    Ok(Fetched {
        memory,
        identity: (meta.dev(), meta.ino()),
    })
}
