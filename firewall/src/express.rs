//! The established-flow fast path: an IPv4 TCP or UDP packet of a flow the
//! table already passes, decided without building the packet's summary.
//!
//! Most packets belong to established flows, and for them the general
//! path's work (the full inner summary, the tracker's state machine, the
//! decision value) reduces to: find the entry, check that nothing needs a
//! decision (not expired, no rule change pending, a state this packet
//! keeps, a TCP segment within the flow's sequence windows, which it
//! updates), refresh the timer, count. [`Firewall::pass_established`] does
//! only that and otherwise changes nothing, so the caller can hand the
//! packet to the general path ([`Firewall::process_swept`]) which then
//! decides it exactly as if the fast path had not looked.

use tollgate_wire::summary::{ipv4_mapped, tcp_flags, IpVersion};
use tollgate_wire::{TcpFields, TupleV4};

use crate::classify::Classify;
use crate::firewall::{Firewall, Prepared, Tracker};
use crate::key::{FlowKey, Side};
use crate::state::FlowState;
use crate::window;

impl FlowKey {
    /// The key of an IPv4 TCP or UDP packet on `endpoint`, and its
    /// sender's side: the same as [`FlowKey::of_packet`] for its summary.
    #[inline]
    pub fn of_tuple_v4(endpoint: u64, tuple: &TupleV4) -> (FlowKey, Side) {
        FlowKey::from_tuple(
            endpoint,
            IpVersion::V4,
            tuple.protocol,
            (ipv4_mapped(tuple.src), tuple.src_port),
            (ipv4_mapped(tuple.dst), tuple.dst_port),
        )
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;

impl<C: Classify> Firewall<C> {
    /// [`Self::prepare_into`] for a packet keyed by [`FlowKey::of_tuple_v4`].
    #[inline]
    pub fn prepare_key_into(&self, key: (FlowKey, Side), out: &mut Prepared) {
        (out.key, out.sender) = key;
        self.hash_prepared(out);
    }

    /// Passes the packet prepared as `prepared` (from [`FlowKey::of_tuple_v4`],
    /// with `tcp_flags` its TCP flags, 0 for UDP, and `tcp` giving its TCP
    /// header's other fields, asked for only on a TCP flow), if its flow is
    /// in the table, unexpired, decided under the current
    /// rules, and in a state this packet keeps it in or moves it along
    /// without a decision: UDP, or an ESTABLISHED TCP flow whose windows
    /// are known and a segment with ACK and without SYN, FIN or RST that
    /// lies in them. Then the flow's timer restarts, its windows learn from
    /// the segment and the packet is counted as passed, exactly as
    /// [`Self::process_swept`] would, and the result is true. Otherwise
    /// nothing changes and the result is false: decide the packet with
    /// [`Self::process_swept`].
    #[inline]
    pub fn pass_established(
        &mut self,
        now_ns: u64,
        prepared: &Prepared,
        tcp_flags: u8,
        tcp: impl FnOnce() -> TcpFields,
    ) -> bool {
        match self.fast_times(now_ns) {
            Some(times) => self.pass_established_at(&times, prepared, tcp_flags, tcp),
            None => false,
        }
    }

    /// What [`Self::pass_established_at`] needs for packets received at
    /// `now_ns`, computed once for a burst; `None` without a rule set
    /// (nothing passes).
    #[inline]
    pub fn fast_times(&mut self, now_ns: u64) -> Option<FastTimes> {
        self.rules.as_ref()?;
        let t = &mut self.tracker;
        Some(match t.fast_times {
            Some(times) if times.now_ns == now_ns => times,
            _ => t.refresh_fast_times(now_ns),
        })
    }

    /// [`Self::pass_established`] with `times` from [`Self::fast_times`]
    /// for the same `now_ns`, with no rule set installed since.
    #[inline(always)]
    pub fn pass_established_at(
        &mut self,
        times: &FastTimes,
        prepared: &Prepared,
        tcp_flags: u8,
        tcp: impl FnOnce() -> TcpFields,
    ) -> bool {
        let t = &mut self.tracker;
        let Some(slot) = t.table.find_probed(&prepared.key, prepared.probe) else {
            return false;
        };
        let (e, windows) = t.table.entry_and_windows(slot);
        if e.is_expired(times.now_tick) || e.rules_epoch < t.stale_below {
            return false;
        }
        const TCP_ACK_ONLY: u8 = tcp_flags::ACK;
        const TCP_CONTROL: u8 = tcp_flags::ACK | tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST;
        e.expires = match (prepared.key.protocol, e.state) {
            (UDP, s) if s == FlowState::UdpStream as u8 => times.udp_stream,
            (UDP, s) if s == FlowState::UdpSingle as u8 => {
                if prepared.sender == e.initiator() {
                    times.udp_single
                } else {
                    e.state = FlowState::UdpStream as u8;
                    times.udp_stream
                }
            }
            (TCP, s)
                if s == FlowState::TcpEstablished as u8
                    && tcp_flags & TCP_CONTROL == TCP_ACK_ONLY
                    && window::pass_ack(&mut windows[slot], prepared.sender, &tcp()) =>
            {
                times.tcp_established
            }
            _ => return false,
        };
        t.counters.fast_passed += 1;
        true
    }
}

/// The current tick and the expiry ticks the fast path sets, for one
/// `now_ns`: a burst's packets share its time, so these are computed once
/// per burst instead of once per packet.
#[derive(Debug, Clone, Copy)]
pub struct FastTimes {
    now_ns: u64,
    now_tick: u32,
    udp_single: u32,
    udp_stream: u32,
    tcp_established: u32,
}

impl Tracker {
    /// Advances the clock to `now_ns` and computes its [`FastTimes`].
    #[cold]
    fn refresh_fast_times(&mut self, now_ns: u64) -> FastTimes {
        let now_tick = self.clock.advance(now_ns);
        let expiry = |state: FlowState| self.clock.expiry(self.timeouts_ns[state as usize]);
        let times = FastTimes {
            now_ns,
            now_tick,
            udp_single: expiry(FlowState::UdpSingle),
            udp_stream: expiry(FlowState::UdpStream),
            tcp_established: expiry(FlowState::TcpEstablished),
        };
        self.fast_times = Some(times);
        times
    }
}
