//! Flow listings in pages, and the filter listings and flushes share.
//!
//! A listing walks the workers' flow tables in order, slot by slot. A page
//! ends at its limit, at its byte bound, or when its scan budget is spent
//! (then it may hold fewer flows than asked, even none), and names the
//! cursor (worker, slot) the next page starts from; the client asks until
//! there is no next. Slots are stable positions, so a walk always moves
//! forward and ends, and returns each slot's flow at most once. Flows
//! inserted or removed meanwhile may or may not be seen. An insertion into
//! two full buckets can move an entry to its other bucket: if that moves it
//! behind the cursor it is missed, ahead of it, it is seen a second time.
//!
//! Workers scan between bursts, a bounded number of slots per visit, so a
//! listing never holds up a worker's packets for long.

use tollgate_firewall::{Classify, Firewall, FlowFilter, FlowInfo, FlowState, Prefix};
use tollgate_shm::message::{self, FlowAddresses, FlowCursor, FlowEntry, FLOW_LIST_OVERHEAD};
use tollgate_wire::summary::ipv4_mapped;

/// Flows one page holds at most, whatever the request asks.
pub const MAX_PAGE_FLOWS: usize = 4096;
/// A page's reply is at most this long, and at most a quarter of the
/// reply ring (`page_bytes`): pages, events and other replies fit at once.
pub const MAX_PAGE_BYTES: usize = 256 << 10;
/// Table slots a worker scans for one visit (between two bursts).
pub const SCAN_SLOTS_PER_VISIT: usize = 32 << 10;
/// Visits one page makes at most: bounds the time a page takes.
pub const VISITS_PER_PAGE: usize = 8;

/// The byte bound of a page for a reply ring taking messages of up to
/// `ring_max_message` bytes.
pub fn page_bytes(ring_max_message: usize) -> usize {
    MAX_PAGE_BYTES.min(ring_max_message / 4)
}

/// A control-plane filter in the firewall's terms: every field that is
/// set must match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSelector {
    pub filter: FlowFilter,
    pub state: Option<FlowState>,
}

impl FlowSelector {
    /// An error names what cannot be matched (an unknown state name).
    pub fn from_message(f: &message::FlowFilter) -> Result<FlowSelector, String> {
        let state = match &f.state {
            None => None,
            Some(name) => Some(
                FlowState::ALL
                    .into_iter()
                    .find(|s| s.name().eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        let names: Vec<&str> = FlowState::ALL.iter().map(|s| s.name()).collect();
                        format!("unknown flow state {name:?}; one of {}", names.join(", "))
                    })?,
            ),
        };
        Ok(FlowSelector {
            filter: FlowFilter {
                endpoint: f.endpoint,
                address: f.address.map(prefix),
                port: f.port,
                protocol: f.protocol,
            },
            state,
        })
    }

    pub fn matches(&self, flow: &FlowInfo) -> bool {
        self.state.is_none_or(|s| s == flow.state) && self.filter.matches(&flow.key)
    }

    /// Removes the flows this selects from `fw`; returns how many.
    pub fn flush<C: Classify>(&self, fw: &mut Firewall<C>) -> usize {
        fw.flush_where(|key, state| {
            self.state.is_none_or(|s| s == state) && self.filter.matches(key)
        })
    }
}

/// An address prefix as the firewall keys addresses (IPv4 mapped into IPv6).
fn prefix(p: message::IpPrefix) -> Prefix {
    match p.addr {
        std::net::IpAddr::V4(v4) => Prefix {
            addr: ipv4_mapped(v4.octets()),
            len: 96 + p.len.min(32),
        },
        std::net::IpAddr::V6(v6) => Prefix {
            addr: u128::from(v6),
            len: p.len.min(128),
        },
    }
}

/// Worker side of a visit: the live flows `selector` matches from slot
/// `from` on, scanning at most `budget` slots, appended to `out` up to its
/// capacity (so the worker does not allocate). Returns the slot to go on
/// from, `None` when the scan reached the end of the table. When `out` has
/// room, the slot returned is past `from`.
pub fn scan<C: Classify>(
    fw: &Firewall<C>,
    now_ns: u64,
    from: usize,
    budget: usize,
    selector: &FlowSelector,
    out: &mut Vec<(usize, FlowInfo)>,
) -> Option<usize> {
    let slots = fw.slots();
    if from >= slots {
        return None;
    }
    let end = from.saturating_add(budget.max(1)).min(slots);
    for (slot, flow) in fw.flows_in(from..end, now_ns) {
        if !selector.matches(&flow) {
            continue;
        }
        if out.len() == out.capacity() {
            return Some(slot);
        }
        out.push((slot, flow));
    }
    (end < slots).then_some(end)
}

/// What one worker visit returned: flows with their slots, in slot order,
/// and where that worker's scan goes on (`None`: its table is done).
#[derive(Debug, Default)]
pub struct Visit {
    pub flows: Vec<(usize, FlowInfo)>,
    pub next: Option<usize>,
}

/// One page of a listing.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<FlowEntry>,
    /// Where the next page starts; `None`: the walk is complete.
    pub next: Option<FlowCursor>,
}

/// Main lcore side: one page from `cursor` on, at most `limit` flows (0 or
/// more than [`MAX_PAGE_FLOWS`]: that many) and `max_bytes` of reply. Asks
/// `visit(worker, from_slot, room)` for up to `room` flows of one worker at
/// a time, at most [`VISITS_PER_PAGE`] times. A cursor past a worker's
/// table (or past the last worker) is simply the end of it.
pub fn build_page(
    workers: usize,
    cursor: Option<FlowCursor>,
    limit: u32,
    max_bytes: usize,
    mut visit: impl FnMut(usize, usize, usize) -> Result<Visit, String>,
) -> Result<Page, String> {
    let limit = match limit as usize {
        0 => MAX_PAGE_FLOWS,
        n => n.min(MAX_PAGE_FLOWS),
    };
    let (mut worker, mut slot) = cursor.map_or((0, 0), |c| {
        (
            c.worker as usize,
            usize::try_from(c.slot).unwrap_or(usize::MAX),
        )
    });
    let here = |worker: usize, slot: usize| FlowCursor {
        worker: worker as u32,
        slot: slot as u64,
    };
    let mut entries = Vec::new();
    let mut bytes = FLOW_LIST_OVERHEAD;
    for _ in 0..VISITS_PER_PAGE {
        if worker >= workers || entries.len() >= limit {
            break;
        }
        let v = visit(worker, slot, limit - entries.len())?;
        for (at, flow) in v.flows {
            let entry = flow_entry(flow);
            if entries.len() >= limit || bytes + entry.encoded_len() > max_bytes {
                // This one starts the next page.
                return Ok(Page {
                    entries,
                    next: Some(here(worker, at.max(slot))),
                });
            }
            bytes += entry.encoded_len();
            entries.push(entry);
        }
        match v.next {
            // Always forward, whatever a worker says.
            Some(next) => slot = next.max(slot.saturating_add(1)),
            None => (worker, slot) = (worker + 1, 0),
        }
    }
    Ok(Page {
        entries,
        next: (worker < workers).then(|| here(worker, slot)),
    })
}

/// A flow as the control plane lists it, initiator first.
pub fn flow_entry(f: FlowInfo) -> FlowEntry {
    let (src, src_port) = f.key.side(f.initiator);
    let (dst, dst_port) = f.key.side(f.initiator.other());
    let addresses = match f.key.version {
        tollgate_wire::IpVersion::V4 => FlowAddresses::V4 {
            src: (src as u32).into(),
            dst: (dst as u32).into(),
        },
        tollgate_wire::IpVersion::V6 => FlowAddresses::V6 {
            src: src.into(),
            dst: dst.into(),
        },
    };
    FlowEntry {
        endpoint: f.key.endpoint,
        addresses,
        protocol: f.key.protocol,
        src_port,
        dst_port,
        state: f.state.name().to_string(),
        expires_in_ns: u64::try_from(f.expires_in.as_nanos()).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
#[path = "flow_pages_tests.rs"]
mod tests;
