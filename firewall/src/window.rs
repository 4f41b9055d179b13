//! TCP sequence windows: which sequence and acknowledgement numbers each
//! side of a flow may send, after Linux conntrack's `tcp_in_window`.
//!
//! Each side keeps the highest sequence number it has sent (`end`), the
//! highest the other side's window lets it send (`maxend`) and the largest
//! window it has advertised (`maxwin`, scaled). A segment is in window when
//! its sequence range lies between what the receiver may still accept and
//! its window's right edge, and it acknowledges nothing the receiver has not
//! sent and nothing older than a window ago. Segments without data are not
//! checked by their sequence number (keepalives send one below the
//! window). Out-of-window segments (a blind RST or data injection, or
//! acknowledgements of data never sent) are dropped as `tcp_out_of_window`.
//!
//! A flow picked up mid-stream missed the SYNs and their window scales: it
//! learns each side's window from its first segment and drops nothing for
//! being out of window until both sides have been seen. Its scales are
//! taken as the largest (14), so that no real connection's window is
//! underestimated: its sequence bounds are wide, while the bound on what
//! an acknowledgement may cover (data the other side has sent) stays
//! exact.

use tollgate_wire::TcpFields;

use crate::key::Side;
use crate::state::FlowState;
use crate::tcp::{Segment, TcpClass};

/// The window that acknowledgements may trail the receiver's data by,
/// before the sender's own window is known to be larger (Linux's).
const MIN_ACK_WINDOW: u32 = 66_000;

/// The largest window-scale shift count (RFC 7323).
const MAX_SCALE: u8 = 14;

/// The largest window TCP can advertise (65535 << 14): windows stay far
/// below half the sequence space, where before/after comparisons hold.
const MAX_WINDOW: u32 = 0xffff << MAX_SCALE;

/// Flag bits of [`SeqSide::flags`].
pub(crate) mod side_flag {
    /// The side's SYN carried the window-scale option.
    pub const WSCALE: u8 = 0x01;
    /// Picked up mid-stream (or restarted): segments out of window still
    /// pass while the windows are being learned. Set and cleared on both
    /// sides at once.
    pub const LIBERAL: u8 = 0x02;
}

/// One side's view of the sequence space (conntrack's `ip_ct_tcp_state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct SeqSide {
    /// The highest sequence number this side has sent, plus one.
    pub end: u32,
    /// The highest sequence number the other side's window allows.
    pub maxend: u32,
    /// The largest window this side advertised (scaled); 0 before this
    /// side was seen.
    pub maxwin: u32,
    /// Window-scale shift count of this side's window fields.
    pub scale: u8,
    /// See [`side_flag`].
    pub flags: u8,
}

/// Both sides of one TCP flow, kept beside its table entry (see
/// `FlowTable`): half a cache line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(32))]
pub(crate) struct TcpWindows {
    pub a: SeqSide,
    pub b: SeqSide,
}

const _: () = assert!(std::mem::size_of::<TcpWindows>() == 32);

/// `x` comes after `y` in sequence space.
#[inline(always)]
fn after(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) > 0
}

/// `x` is `y` or before it in sequence space.
#[inline(always)]
fn at_most(x: u32, y: u32) -> bool {
    !after(x, y)
}

impl TcpWindows {
    pub const EMPTY: TcpWindows = TcpWindows {
        a: SeqSide {
            end: 0,
            maxend: 0,
            maxwin: 0,
            scale: 0,
            flags: 0,
        },
        b: SeqSide {
            end: 0,
            maxend: 0,
            maxwin: 0,
            scale: 0,
            flags: 0,
        },
    };

    /// The sender's side and the receiver's.
    #[inline(always)]
    pub fn sides(&mut self, sender: Side) -> (&mut SeqSide, &mut SeqSide) {
        match sender {
            Side::A => (&mut self.a, &mut self.b),
            Side::B => (&mut self.b, &mut self.a),
        }
    }

    /// Windows for a flow picked up from `seg`, sent by `sender`: learned
    /// liberally, and the scales unknown, so taken as the largest.
    pub fn picked_up(sender: Side, seg: &Segment) -> TcpWindows {
        let side = SeqSide {
            flags: side_flag::LIBERAL,
            scale: MAX_SCALE,
            ..SeqSide::default()
        };
        let mut w = TcpWindows { a: side, b: side };
        let (s, r) = w.sides(sender);
        s.end = seg.end();
        s.maxwin = (u32::from(seg.window) << MAX_SCALE).max(1);
        s.maxend = s.end.wrapping_add(s.maxwin);
        if seg.has_ack {
            r.end = seg.ack;
            r.maxend = seg.ack;
        }
        w
    }

    /// Check `seg`, sent by `sender` on a flow in `state` (before the
    /// segment), against the windows and learn from it. False: out of
    /// window (nothing learned).
    pub fn track(
        &mut self,
        sender: Side,
        state: FlowState,
        from_initiator: bool,
        seg: &Segment,
    ) -> bool {
        let (s, r) = self.sides(sender);
        let syn = seg.is_syn();
        let mut seq = seg.seq;
        let mut end = seg.end();
        let win = u32::from(seg.window);
        let mut ack = seg.ack;

        if s.maxwin == 0 {
            if syn {
                s.init_from_syn(end, win, seg.window_scale);
                if r.maxwin != 0 && s.flags & r.flags & side_flag::WSCALE == 0 {
                    // The other side's SYN was seen: RFC 7323 scales only
                    // when both sides offer it.
                    s.scale = 0;
                    r.scale = 0;
                }
                if !seg.has_ack {
                    return true;
                }
            } else {
                // The first segment seen from this side: its history is
                // lost, start from here.
                s.end = end;
                s.maxwin = win.wrapping_shl(u32::from(s.scale)).max(1);
                s.maxend = end.wrapping_add(s.maxwin);
                if r.maxwin == 0 {
                    // Not seen the other side yet: what this one
                    // acknowledges is the best guess of its end.
                    let guess = if seg.has_ack { ack } else { r.end };
                    r.end = guess;
                    r.maxend = guess;
                } else if ack == r.end.wrapping_add(1) {
                    // The answer to a keepalive (sent one below the end).
                    r.end = ack;
                }
            }
        } else if ((state == FlowState::TcpSynSent && from_initiator)
            || (state == FlowState::TcpSynRecv && !from_initiator))
            && syn
            && after(end, s.end)
        {
            // A SYN or SYN/ACK sent again with a new ISN: start over.
            s.init_from_syn(end, win, seg.window_scale);
        }

        if !seg.has_ack || (seg.class == TcpClass::Rst && ack == 0) {
            // Nothing acknowledged (or a stack's RST|ACK with ack 0).
            ack = r.end;
        }
        if seq == end
            && (seg.class != TcpClass::Rst || (seq == 0 && state == FlowState::TcpSynSent))
        {
            // No data: the sequence number says nothing (a keepalive, or a
            // RST answering a SYN with seq 0).
            seq = s.end;
            end = s.end;
        }
        let win = if syn {
            win
        } else {
            win.wrapping_shl(u32::from(s.scale))
        };
        if !in_window(s, r, seq, end, ack) {
            return s.flags & side_flag::LIBERAL != 0;
        }
        learn(s, r, end, ack, win);
        if s.flags & side_flag::LIBERAL != 0 && r.maxwin != 0 {
            // Both sides seen: windows known from here on.
            s.flags &= !side_flag::LIBERAL;
            r.flags &= !side_flag::LIBERAL;
        }
        true
    }
}

impl SeqSide {
    fn init_from_syn(&mut self, end: u32, win: u32, scale: Option<u8>) {
        self.end = end;
        self.maxend = end;
        self.maxwin = win.max(1);
        self.flags &= side_flag::LIBERAL;
        self.scale = 0;
        if let Some(scale) = scale {
            self.flags |= side_flag::WSCALE;
            self.scale = scale.min(MAX_SCALE);
        }
    }
}

/// Sequence range `seq..end` and acknowledgement `ack` from sender `s` to
/// receiver `r` are in window (Linux's four bounds).
#[inline(always)]
pub(crate) fn in_window(s: &SeqSide, r: &SeqSide, seq: u32, end: u32, ack: u32) -> bool {
    let ack_window = s.maxwin.max(MIN_ACK_WINDOW);
    // Not past what the receiver's window allows.
    at_most(seq, s.maxend)
        // Not entirely before what the receiver may still take.
        && (r.maxwin == 0 || after(end, s.end.wrapping_sub(r.maxwin).wrapping_sub(1)))
        // Acknowledges nothing the receiver has not sent...
        && at_most(ack, r.end)
        // ...and nothing older than a window.
        && after(ack, r.end.wrapping_sub(ack_window).wrapping_sub(1))
}

/// Learn from an in-window segment: `end` its sequence end, `ack` its
/// acknowledgement, `win` its window (scaled).
#[inline(always)]
pub(crate) fn learn(s: &mut SeqSide, r: &mut SeqSide, end: u32, ack: u32, win: u32) {
    if s.maxwin < win {
        s.maxwin = win;
    }
    if after(end, s.end) {
        s.end = end;
    }
    if r.maxwin != 0 && after(end, s.maxend) {
        r.maxwin = r
            .maxwin
            .saturating_add(end.wrapping_sub(s.maxend))
            .min(MAX_WINDOW);
    }
    let right_edge = ack.wrapping_add(win);
    if after(right_edge, r.maxend.wrapping_sub(1)) {
        // A zero window still lets one byte through (a window probe).
        r.maxend = right_edge.wrapping_add(u32::from(win == 0));
    }
}

/// The express lane's check of a data or ACK segment (ACK set; no SYN,
/// FIN or RST) on an ESTABLISHED flow with both sides known: in window and
/// learned, or false with nothing changed (the general path then decides).
#[inline(always)]
pub(crate) fn pass_ack(w: &mut TcpWindows, sender: Side, tcp: &TcpFields) -> bool {
    let TcpFields {
        seq,
        ack,
        window,
        payload_len,
    } = *tcp;
    let (s, r) = w.sides(sender);
    // Both sides are marked liberal, or neither; and on an ESTABLISHED
    // flow a side not seen yet (maxwin 0) is always a liberal one.
    if s.flags & side_flag::LIBERAL != 0 {
        return false;
    }
    let (seq, end) = if payload_len == 0 {
        (s.end, s.end)
    } else {
        (seq, seq.wrapping_add(u32::from(payload_len)))
    };
    if !in_window(s, r, seq, end, ack) {
        return false;
    }
    learn(
        s,
        r,
        end,
        ack,
        u32::from(window).wrapping_shl(u32::from(s.scale)),
    );
    true
}
