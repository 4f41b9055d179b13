//! What keeps the API and metrics servers from being blocked: a cap on the
//! connections a server holds that makes room by cutting the oldest one
//! still waiting for its request (an idle or trickling client never locks
//! out a new one), and reads and writes bounded by a deadline for the whole
//! request rather than a timeout per system call.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A stream whose every blocking call can be bounded and which another
/// thread can cut.
pub trait Conn: Read + Write + Send + Sized + 'static {
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
    fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
    /// Ends both directions: a thread blocked on it returns at once.
    fn cut(&self);
    fn try_clone(&self) -> std::io::Result<Self>;
}

macro_rules! conn_impl {
    ($t:ty) => {
        impl Conn for $t {
            fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
                <$t>::set_read_timeout(self, t)
            }
            fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
                <$t>::set_write_timeout(self, t)
            }
            fn cut(&self) {
                let _ = self.shutdown(Shutdown::Both);
            }
            fn try_clone(&self) -> std::io::Result<Self> {
                <$t>::try_clone(self)
            }
        }
    };
}
conn_impl!(UnixStream);
conn_impl!(TcpStream);

/// What one server turned away; exported by the metrics server.
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Connections cut to make room: the oldest still sending its request.
    pub cut: AtomicU64,
    /// Connections refused: every one held was being answered.
    pub refused: AtomicU64,
    /// Requests not complete by their deadline.
    pub deadline: AtomicU64,
    /// Requests longer than the server's maximum.
    pub too_large: AtomicU64,
    /// Requests refused because other connections held the byte budget.
    pub busy: AtomicU64,
}

impl ServerCounters {
    /// Counts a request that could not be read, unless the client left.
    pub fn count(&self, e: &ReadError) {
        let counter = match e {
            ReadError::Deadline => &self.deadline,
            ReadError::TooLong => &self.too_large,
            ReadError::Busy => &self.busy,
            ReadError::Closed | ReadError::Io(_) => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct Slot<S> {
    id: u64,
    /// Still receiving its request: the connection that may be cut.
    reading: bool,
    /// A clone of the stream, to cut it.
    stream: S,
}

/// At most `cap` connections, oldest first.
pub struct Connections<S> {
    slots: Mutex<Vec<Slot<S>>>,
    cap: usize,
    next_id: AtomicU64,
    counters: Arc<ServerCounters>,
}

/// A connection's place under the cap; freed on drop.
pub struct Admitted<S: Conn> {
    connections: Arc<Connections<S>>,
    id: u64,
}

impl<S: Conn> Connections<S> {
    pub fn new(cap: usize, counters: Arc<ServerCounters>) -> Arc<Connections<S>> {
        Arc::new(Connections {
            slots: Mutex::new(Vec::with_capacity(cap)),
            cap: cap.max(1),
            next_id: AtomicU64::new(0),
            counters,
        })
    }

    /// Takes `stream` in, first cutting the oldest connection still reading
    /// its request if the cap is reached. `None`: every connection is busy
    /// being answered (each within its own deadline), so there is no room.
    pub fn admit(self: &Arc<Self>, stream: &S) -> Option<Admitted<S>> {
        let handle = stream.try_clone().ok()?;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= self.cap {
            let Some(oldest) = slots.iter().position(|s| s.reading) else {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            slots.remove(oldest).stream.cut();
            self.counters.cut.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        slots.push(Slot {
            id,
            reading: true,
            stream: handle,
        });
        Some(Admitted {
            connections: self.clone(),
            id,
        })
    }

    /// Connections held now.
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: Conn> Admitted<S> {
    /// The request is in: this connection is no longer one to cut.
    pub fn request_read(&self) {
        let mut slots = self
            .connections
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.iter_mut().find(|s| s.id == self.id) {
            s.reading = false;
        }
    }
}

impl<S: Conn> Drop for Admitted<S> {
    fn drop(&mut self) {
        let mut slots = self
            .connections
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| s.id != self.id);
    }
}

/// Bytes all connections of one server may hold in request buffers at once.
pub struct ByteBudget {
    left: AtomicUsize,
}

impl ByteBudget {
    pub fn new(bytes: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            left: AtomicUsize::new(bytes),
        })
    }

    fn take(&self, n: usize) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.left.fetch_add(n, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub enum ReadError {
    /// The whole request did not arrive by the deadline.
    Deadline,
    /// Longer than the maximum.
    TooLong,
    /// The server's byte budget is spent by other connections.
    Busy,
    /// The peer closed (or was cut) before the request ended.
    Closed,
    Io(std::io::Error),
}

/// The time left until `deadline`, or `None` if it has passed.
fn left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads until `end` finds the end of the request in the bytes so far (it
/// returns the request's length) or until `max` bytes, whichever comes
/// first, all by `deadline`. Bytes held count against `budget`.
pub fn read_request<S: Conn>(
    stream: &mut S,
    deadline: Instant,
    max: usize,
    budget: Option<&ByteBudget>,
    end: impl Fn(&[u8], usize) -> Option<usize>,
) -> Result<Vec<u8>, ReadError> {
    let mut held = 0usize;
    let result = read_request_inner(stream, deadline, max, budget, &mut held, end);
    if let Some(b) = budget {
        b.give(held);
    }
    result
}

fn read_request_inner<S: Conn>(
    stream: &mut S,
    deadline: Instant,
    max: usize,
    budget: Option<&ByteBudget>,
    held: &mut usize,
    end: impl Fn(&[u8], usize) -> Option<usize>,
) -> Result<Vec<u8>, ReadError> {
    const CHUNK: usize = 64 << 10;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let t = left(deadline).ok_or(ReadError::Deadline)?;
        stream.set_read_timeout(Some(t)).map_err(ReadError::Io)?;
        let start = buf.len();
        // One byte beyond `max` tells "too long" from "exactly max".
        let room = CHUNK.min(max + 1 - start);
        if let Some(b) = budget {
            if !b.take(room) {
                return Err(ReadError::Busy);
            }
            *held += room;
        }
        buf.resize(start + room, 0);
        let n = match stream.read(&mut buf[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => 0,
            Err(e) if timed_out(&e) => return Err(ReadError::Deadline),
            Err(e) => return Err(ReadError::Io(e)),
        };
        buf.truncate(start + n);
        if let Some(b) = budget {
            b.give(room - n);
            *held -= room - n;
        }
        if let Some(len) = end(&buf, start) {
            buf.truncate(len);
            return Ok(buf);
        }
        if buf.len() > max {
            return Err(ReadError::TooLong);
        }
        if n == 0 && room > 0 {
            return Err(ReadError::Closed);
        }
    }
}

/// Writes all of `bytes` by `deadline`, however slowly the peer reads.
pub fn write_all_by<S: Conn>(
    stream: &mut S,
    mut bytes: &[u8],
    deadline: Instant,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let t = left(deadline).ok_or_else(|| std::io::Error::from(ErrorKind::TimedOut))?;
        stream.set_write_timeout(Some(t))?;
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.flush()
}

/// For [`read_request`]: a request ends with its first newline (kept out).
pub fn line_end(buf: &[u8], new_from: usize) -> Option<usize> {
    buf[new_from..]
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| new_from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_cuts_the_oldest_reader_and_spares_connections_being_answered() {
        let counters = Arc::new(ServerCounters::default());
        let conns = Connections::<UnixStream>::new(2, counters.clone());
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let (b, mut b_peer) = UnixStream::pair().unwrap();
        let (c, _c_peer) = UnixStream::pair().unwrap();
        let (d, _d_peer) = UnixStream::pair().unwrap();
        let admitted_a = conns.admit(&a).unwrap();
        admitted_a.request_read();
        let _admitted_b = conns.admit(&b).unwrap();
        // a is being answered, so b (reading) is cut for c.
        let admitted_c = conns.admit(&c).unwrap();
        assert_eq!(conns.len(), 2);
        assert_eq!(ServerCounters::get(&counters.cut), 1);
        let mut byte = [0u8; 1];
        b_peer
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        assert_eq!(b_peer.read(&mut byte).unwrap(), 0);
        a_peer
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert!(a_peer.read(&mut byte).is_err(), "a must stay open");
        // Both answering: no room, nothing cut.
        admitted_c.request_read();
        assert!(conns.admit(&d).is_none());
        assert_eq!(ServerCounters::get(&counters.cut), 1);
        assert_eq!(ServerCounters::get(&counters.refused), 1);
        drop(admitted_a);
        assert_eq!(conns.len(), 1);
        assert!(conns.admit(&d).is_some());
    }

    #[test]
    fn reads_end_at_the_line_the_maximum_the_deadline_or_the_budget() {
        let (mut server, mut client) = UnixStream::pair().unwrap();
        let far = Instant::now() + Duration::from_secs(5);
        client.write_all(b"{\"a\":1}\nrest").unwrap();
        let got = read_request(&mut server, far, 100, None, line_end).unwrap();
        assert_eq!(got, b"{\"a\":1}");

        let (mut server, mut client) = UnixStream::pair().unwrap();
        client.write_all(&[b'x'; 101]).unwrap();
        assert!(matches!(
            read_request(&mut server, far, 100, None, line_end),
            Err(ReadError::TooLong)
        ));
        // Exactly the maximum is fine.
        let (mut server, mut client) = UnixStream::pair().unwrap();
        client.write_all(&[b'x'; 100]).unwrap();
        client.write_all(b"\n").unwrap();
        assert_eq!(
            read_request(&mut server, far, 100, None, line_end)
                .unwrap()
                .len(),
            100
        );

        let (mut server, mut client) = UnixStream::pair().unwrap();
        client.write_all(b"{").unwrap();
        let started = Instant::now();
        let soon = started + Duration::from_millis(300);
        assert!(matches!(
            read_request(&mut server, soon, 100, None, line_end),
            Err(ReadError::Deadline)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));

        let budget = ByteBudget::new(10);
        let (mut server, mut client) = UnixStream::pair().unwrap();
        client.write_all(b"{}\n").unwrap();
        assert!(matches!(
            read_request(&mut server, far, 100, Some(&budget), line_end),
            Err(ReadError::Busy)
        ));
        // Nothing stays taken after a read, whatever its outcome.
        assert_eq!(budget.left.load(Ordering::Relaxed), 10);
        let budget = ByteBudget::new(1000);
        let (mut server, mut client) = UnixStream::pair().unwrap();
        client.write_all(b"{}\n").unwrap();
        read_request(&mut server, far, 100, Some(&budget), line_end).unwrap();
        assert_eq!(budget.left.load(Ordering::Relaxed), 1000);

        let (mut server, client) = UnixStream::pair().unwrap();
        drop(client);
        assert!(matches!(
            read_request(&mut server, far, 100, None, line_end),
            Err(ReadError::Closed)
        ));
    }

    #[test]
    fn a_write_to_a_reader_that_never_reads_ends_at_its_deadline() {
        let (mut server, _client) = UnixStream::pair().unwrap();
        let started = Instant::now();
        let big = vec![0u8; 8 << 20];
        let r = write_all_by(&mut server, &big, started + Duration::from_millis(300));
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
