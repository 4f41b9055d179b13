//! TCP connection tracking: the state machine of one flow.
//!
//! Modelled on Linux conntrack's `tcp_conntracks` table, in both
//! directions, with the acknowledgement checks that make each step mean
//! what its name says: SYN/ACK must acknowledge the SYN, the handshake ACK
//! the SYN/ACK, and CLOSE_WAIT / TIME_WAIT are entered only when the FIN is
//! acknowledged. A SYN from the responder or a SYN/ACK from the initiator
//! is invalid outside a simultaneous open. The initiator's SYN is invalid
//! on an ESTABLISHED flow (stricter than Linux, which ignores it: passing
//! it would let a flow's one side probe the other with handshakes the
//! rules never saw), and on a closing or closed flow it starts a new flow,
//! which the rules decide in the initiator's direction. A RST
//! is accepted in any state but SYN_SENT, where only a RST acknowledging
//! the SYN (RFC 793) or from the initiator counts.

use tollgate_wire::summary::tcp_flags as f;
use tollgate_wire::summary::L4Summary;

use crate::decision::DropReason;
use crate::key::Side;
use crate::state::FlowState;
use crate::table::{flag, FlowEntry};
use crate::window::TcpWindows;

/// How far past the responder's ISN the handshake ACK may acknowledge.
const HANDSHAKE_ACK_SLACK: u32 = 1 << 20;

/// What a segment's flags make it, for state transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpClass {
    Syn,
    SynAck,
    Fin,
    Ack,
    Rst,
    /// No flags, SYN with FIN or RST, or FIN without ACK.
    Invalid,
}

/// The parts of a TCP segment the tracker reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub class: TcpClass,
    pub has_ack: bool,
    pub seq: u32,
    pub ack: u32,
    pub payload_len: u16,
    /// The advertised window, unscaled.
    pub window: u16,
    /// A SYN's window-scale option.
    pub window_scale: Option<u8>,
}

impl Segment {
    /// The segment of a TCP summary; `None` for other protocols.
    pub fn of(l4: &L4Summary) -> Option<Segment> {
        match *l4 {
            L4Summary::Tcp {
                flags,
                seq,
                ack,
                window,
                payload_len,
                window_scale,
                ..
            } => Some(Segment {
                window,
                window_scale,
                ..Segment::new(flags, seq, ack, payload_len)
            }),
            _ => None,
        }
    }

    pub fn new(flags: u8, seq: u32, ack: u32, payload_len: u16) -> Segment {
        let has_ack = flags & f::ACK != 0;
        let class = if flags & f::SYN != 0 {
            if flags & (f::FIN | f::RST) != 0 {
                TcpClass::Invalid
            } else if has_ack {
                TcpClass::SynAck
            } else {
                TcpClass::Syn
            }
        } else if flags & f::RST != 0 {
            TcpClass::Rst
        } else if flags & f::FIN != 0 {
            if has_ack {
                TcpClass::Fin
            } else {
                TcpClass::Invalid
            }
        } else if has_ack {
            TcpClass::Ack
        } else {
            TcpClass::Invalid
        };
        Segment {
            class,
            has_ack,
            seq,
            ack,
            payload_len,
            window: 0,
            window_scale: None,
        }
    }

    pub fn is_syn(&self) -> bool {
        matches!(self.class, TcpClass::Syn | TcpClass::SynAck)
    }

    /// The sequence number after this segment: its data, SYN and FIN
    /// each take sequence space.
    pub fn end(&self) -> u32 {
        self.seq
            .wrapping_add(u32::from(self.payload_len))
            .wrapping_add(u32::from(self.is_syn()))
            .wrapping_add(u32::from(self.class == TcpClass::Fin))
    }

    /// The sequence number just after this segment's FIN.
    fn fin_end(&self) -> u32 {
        self.seq
            .wrapping_add(u32::from(self.payload_len))
            .wrapping_add(1)
    }

    /// A handshake acknowledgement: it acknowledges the SYN or SYN/ACK
    /// whose ISN is `isn`, plus at most a first window of data sent with it
    /// (TCP Fast Open); anything else is a blind guess. Used for the
    /// SYN/ACK, the ACK that completes the handshake, and a RST in SYN_SENT
    /// (RFC 793: acceptable if it acknowledges the SYN).
    fn acks_handshake(&self, isn: u32) -> bool {
        self.has_ack && self.ack.wrapping_sub(isn.wrapping_add(1)) <= HANDSHAKE_ACK_SLACK
    }

    /// This segment acknowledges everything before `seq`.
    fn acks(&self, seq: u32) -> bool {
        self.has_ack && (self.ack.wrapping_sub(seq) as i32) >= 0
    }
}

/// The outcome of one segment on an existing flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpStep {
    /// Pass; the entry's state may have changed.
    Pass,
    Drop(DropReason),
    /// A SYN on a finished flow: forget it and open a new flow.
    Reopen,
}

fn fin_flag(side: Side) -> u8 {
    match side {
        Side::A => flag::FIN_A,
        Side::B => flag::FIN_B,
    }
}

/// In UNCONFIRMED: the side whose segment picked the flow up.
fn pickup_sender(e: &FlowEntry) -> Side {
    if e.flags & flag::PICKUP_SENDER_A != 0 {
        Side::A
    } else {
        Side::B
    }
}

/// The side that sent the first FIN (valid in FIN_WAIT and CLOSE_WAIT).
fn first_fin_side(e: &FlowEntry) -> Side {
    if e.flags & flag::FIN_A != 0 {
        Side::A
    } else {
        Side::B
    }
}

fn enter_last_ack(e: &mut FlowEntry, sender: Side, seg: &Segment) {
    e.state = FlowState::TcpLastAck as u8;
    e.flags |= fin_flag(sender);
    // The other side must acknowledge this FIN.
    if sender == Side::B {
        e.flags |= flag::LAST_ACKER_A;
    } else {
        e.flags &= !flag::LAST_ACKER_A;
    }
    e.track_seq = seg.fin_end();
}

/// In SYN_SENT: `seg` acknowledges the initiator's SYN, exactly, or after
/// a SYN with data (TCP Fast Open) possibly that data too. Both the SYN/ACK
/// and a RST from the responder must (RFC 793).
fn acks_syn(e: &FlowEntry, seg: &Segment) -> bool {
    if e.flags & flag::SYN_DATA != 0 {
        seg.acks_handshake(e.track_seq)
    } else {
        seg.has_ack && seg.ack == e.track_seq.wrapping_add(1)
    }
}

/// What a segment does to a flow, before its windows are consulted.
enum Move {
    /// A segment of the connection: checked against the windows.
    Tracked,
    /// Passed without window tracking, as Linux ignores it (a SYN or
    /// SYN/ACK sent again, a challenge ACK).
    Ignored,
    Drop(DropReason),
    Reopen,
}

/// Apply `seg`, sent by `sender`, to the TCP flow `e` and its windows `w`.
/// A segment the state machine accepts but that lies out of window is
/// dropped and changes nothing.
pub(crate) fn step(e: &mut FlowEntry, w: &mut TcpWindows, sender: Side, seg: &Segment) -> TcpStep {
    let Some(state) = e.state() else {
        return TcpStep::Drop(DropReason::Inconsistent);
    };
    let mut next = *e;
    match transition(&mut next, state, sender, seg) {
        Move::Drop(reason) => return TcpStep::Drop(reason),
        Move::Reopen => return TcpStep::Reopen,
        Move::Ignored => {}
        Move::Tracked => {
            let from_initiator = sender == e.initiator();
            if !w.track(sender, state, from_initiator, seg) {
                return TcpStep::Drop(DropReason::TcpOutOfWindow);
            }
        }
    }
    *e = next;
    TcpStep::Pass
}

fn transition(e: &mut FlowEntry, state: FlowState, sender: Side, seg: &Segment) -> Move {
    use FlowState::*;
    use TcpClass::*;
    let from_initiator = sender == e.initiator();
    let set = |e: &mut FlowEntry, s: FlowState| e.state = s as u8;

    if seg.class == Invalid {
        return Move::Drop(DropReason::TcpInvalid);
    }
    if seg.class == Rst {
        if state == TcpSynSent && !from_initiator && !acks_syn(e, seg) {
            return Move::Drop(DropReason::TcpInvalidRst);
        }
        set(e, TcpClose);
        return Move::Tracked;
    }

    match (state, seg.class, from_initiator) {
        (TcpSynSent, Syn, true) => {
            e.track_seq = seg.seq;
            if seg.payload_len > 0 {
                e.flags |= flag::SYN_DATA;
            }
        }
        // Simultaneous open (Linux's SYN_SENT2): each side's SYN/ACK then
        // acknowledges the other's SYN.
        (TcpSynSent, Syn, false) => e.flags |= flag::SIMULTANEOUS,
        (TcpSynSent, SynAck, false) => {
            if !acks_syn(e, seg) {
                return Move::Drop(DropReason::TcpInvalid);
            }
            set(e, TcpSynRecv);
            e.track_seq = seg.seq;
        }
        (TcpSynSent, SynAck, true) if e.flags & flag::SIMULTANEOUS != 0 => {
            if seg.seq != e.track_seq {
                return Move::Drop(DropReason::TcpInvalid);
            }
            // Its ACK must cover the responder's SYN, whose ISN it names.
            set(e, TcpSynRecv);
            e.track_seq = seg.ack.wrapping_sub(1);
        }
        // The responder's answer to a SYN it takes for part of an old
        // connection (a challenge ACK): the initiator's RST then clears
        // the way (Linux ignores it too).
        (TcpSynSent, Ack, false) => return Move::Ignored,
        (TcpSynSent, _, _) => return Move::Drop(DropReason::TcpInvalid),

        (TcpSynRecv, Ack | Fin, true) => {
            if !seg.acks_handshake(e.track_seq) {
                return Move::Drop(DropReason::TcpInvalid);
            }
            e.flags &= !flag::SIMULTANEOUS;
            if seg.class == Fin {
                set(e, TcpFinWait);
                e.flags |= fin_flag(sender);
                e.track_seq = seg.fin_end();
            } else {
                set(e, TcpEstablished);
            }
        }
        (TcpSynRecv, SynAck, true) if e.flags & flag::SIMULTANEOUS != 0 => {
            if !seg.acks_handshake(e.track_seq) {
                return Move::Drop(DropReason::TcpInvalid);
            }
        }
        (TcpSynRecv, SynAck, false) => e.track_seq = seg.seq,
        (TcpSynRecv, Syn, true) => return Move::Ignored,
        (TcpSynRecv, Ack | Fin, false) => {}
        (TcpSynRecv, _, _) => return Move::Drop(DropReason::TcpInvalid),

        (TcpEstablished, Syn, true) => return Move::Drop(DropReason::TcpInvalid),
        (TcpEstablished, Fin, _) => {
            set(e, TcpFinWait);
            e.flags |= fin_flag(sender);
            e.track_seq = seg.fin_end();
        }

        (TcpUnconfirmed, Ack, _) if sender != pickup_sender(e) => set(e, TcpEstablished),
        (TcpUnconfirmed, Ack, _) => {}
        (TcpUnconfirmed, Fin, _) => {
            set(e, TcpFinWait);
            e.flags |= fin_flag(sender);
            e.track_seq = seg.fin_end();
        }
        // A guess confirmed by nobody cannot be turned into a handshake.
        (TcpUnconfirmed, _, _) => return Move::Drop(DropReason::TcpInvalid),

        (TcpFinWait, Ack, _) if sender != first_fin_side(e) => {
            if seg.acks(e.track_seq) {
                set(e, TcpCloseWait);
            }
        }
        (TcpFinWait | TcpCloseWait, Fin, _) if sender != first_fin_side(e) => {
            enter_last_ack(e, sender, seg);
        }

        (TcpLastAck, Ack | Fin, _) => {
            let acker = if e.flags & flag::LAST_ACKER_A != 0 {
                Side::A
            } else {
                Side::B
            };
            if sender == acker && seg.acks(e.track_seq) {
                set(e, TcpTimeWait);
            }
        }

        (TcpFinWait | TcpCloseWait | TcpLastAck | TcpTimeWait | TcpClose, Syn, true) => {
            return Move::Reopen
        }

        // From here on the handshake is over: a SYN from the responder or
        // a SYN/ACK from the initiator has no place in it (the first could
        // open the initiator's ports to the responder), while the
        // responder's SYN/ACK is a retransmission, passed unchanged.
        (
            TcpEstablished | TcpFinWait | TcpCloseWait | TcpLastAck | TcpTimeWait | TcpClose,
            Syn,
            false,
        )
        | (
            TcpEstablished | TcpFinWait | TcpCloseWait | TcpLastAck | TcpTimeWait | TcpClose,
            SynAck,
            true,
        ) => return Move::Drop(DropReason::TcpInvalid),
        (
            TcpEstablished | TcpFinWait | TcpCloseWait | TcpLastAck | TcpTimeWait | TcpClose,
            SynAck,
            false,
        ) => return Move::Ignored,
        (
            TcpEstablished | TcpFinWait | TcpCloseWait | TcpLastAck | TcpTimeWait | TcpClose,
            _,
            _,
        ) => {}

        (UdpSingle | UdpStream | IcmpEcho | Generic | Denied, _, _) => {
            return Move::Drop(DropReason::Inconsistent)
        }
    }
    Move::Tracked
}
