//! Messages on the command ring (control -> dataplane) and the reply ring
//! (dataplane -> control).
//!
//! Every message is `version: u8, kind: u8, request_id: u64` then a body;
//! integers little-endian, strings `u32` byte length + UTF-8, IP addresses
//! `family: u8 (4|6)` + 4 or 16 bytes. A reply echoes its request's id.
//! Decoding checks every length against the bytes present and rejects
//! unknown kinds, flags and trailing bytes, so no input can panic or make it
//! allocate more than the input's size.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bump when any encoding below changes.
pub const WIRE_VERSION: u8 = 2;

/// Control's requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Compile and apply this rule-file text as rule set `generation`.
    LoadRules {
        generation: u64,
        text: String,
    },
    FlushFlows {
        filter: FlowFilter,
    },
    /// One page of the flows matching `filter`: up to `limit` of them,
    /// from `cursor` on (`None`: from the start). The reply says where the
    /// next page starts.
    ListFlows {
        filter: FlowFilter,
        cursor: Option<FlowCursor>,
        limit: u32,
    },
    Ping,
}

/// The dataplane's answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    RulesApplied {
        generation: u64,
    },
    RulesRejected {
        generation: u64,
        message: String,
    },
    FlowsFlushed {
        count: u64,
    },
    /// One page of a listing; `next`: where the next page starts (`None`:
    /// the walk is complete). A page may hold fewer than the limit, even
    /// none, and still have a next one.
    FlowList {
        entries: Vec<FlowEntry>,
        next: Option<FlowCursor>,
    },
    Pong,
    /// The request could not be handled at all (e.g. it did not decode).
    Failed {
        message: String,
    },
    /// Something the dataplane tells on its own (start, rule set applied
    /// from its file, link change, stop); sent with request id [`EVENT_ID`].
    Event {
        message: String,
    },
}

/// The request id events carry; control never uses it for a request.
pub const EVENT_ID: u64 = 0;

impl Response {
    /// An event for the reply ring.
    pub fn event(message: impl Into<String>) -> Response {
        Response {
            id: EVENT_ID,
            reply: Reply::Event {
                message: message.into(),
            },
        }
    }
}

/// Which flows a command applies to; `None` fields match anything.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlowFilter {
    /// Matches either inner address.
    pub address: Option<IpPrefix>,
    /// Matches either inner port.
    pub port: Option<u16>,
    pub protocol: Option<u8>,
    /// GWLB endpoint id.
    pub endpoint: Option<u64>,
    /// The firewall's name for a flow state (as listed, e.g.
    /// "ESTABLISHED"); at most [`MAX_STATE_NAME_LEN`] bytes.
    pub state: Option<String>,
}

/// The longest state name a filter carries.
pub const MAX_STATE_NAME_LEN: usize = 32;

/// An address and a prefix length (32 or 128: that address alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpPrefix {
    /// `None` when `len` is longer than the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<IpPrefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IpPrefix { addr, len })
    }

    pub fn host(addr: IpAddr) -> IpPrefix {
        IpPrefix {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for IpPrefix {
    type Err = String;

    /// `ADDR` or `ADDR/LEN`.
    fn from_str(s: &str) -> Result<IpPrefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or prefix"))?;
        match len {
            None => Ok(IpPrefix::host(addr)),
            Some(l) => l
                .parse()
                .ok()
                .and_then(|l| IpPrefix::new(addr, l))
                .ok_or_else(|| format!("{s:?}: prefix length must be 0-32 (IPv4) or 0-128 (IPv6)")),
        }
    }
}

/// Where a flow listing goes on: a worker and a slot of its flow table.
/// Written `WORKER:SLOT` for operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowCursor {
    pub worker: u32,
    pub slot: u64,
}

impl std::fmt::Display for FlowCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.worker, self.slot)
    }
}

impl std::str::FromStr for FlowCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<FlowCursor, String> {
        s.split_once(':')
            .and_then(|(w, slot)| {
                Some(FlowCursor {
                    worker: w.parse().ok()?,
                    slot: slot.parse().ok()?,
                })
            })
            .ok_or_else(|| format!("{s:?} is not a cursor (WORKER:SLOT, as a page's next)"))
    }
}

/// Inner addresses of a flow; both of one IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowAddresses {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl FlowAddresses {
    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            FlowAddresses::V4 { .. } => 4,
            FlowAddresses::V6 { .. } => 6,
        }
    }

    pub fn src(&self) -> IpAddr {
        match *self {
            FlowAddresses::V4 { src, .. } => src.into(),
            FlowAddresses::V6 { src, .. } => src.into(),
        }
    }

    pub fn dst(&self) -> IpAddr {
        match *self {
            FlowAddresses::V4 { dst, .. } => dst.into(),
            FlowAddresses::V6 { dst, .. } => dst.into(),
        }
    }
}

/// One flow as listed by `ListFlows`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowEntry {
    pub endpoint: u64,
    pub addresses: FlowAddresses,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// The firewall's name for the flow state, e.g. "established".
    pub state: String,
    /// Time left before the flow expires if it stays idle.
    pub expires_in_ns: u64,
}

/// A command with the id its reply will carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    pub command: Command,
}

/// A reply to the request with the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: u64,
    pub reply: Reply,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "message truncated: {field} needs {needed} bytes at offset {offset}, {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("message format version {found}, this build speaks {expected}: restart both from the same release")]
    Version { found: u8, expected: u8 },
    #[error("unknown {what} kind {kind:#04x}")]
    UnknownKind { what: &'static str, kind: u8 },
    #[error("{field} is not valid UTF-8")]
    Utf8 { field: &'static str },
    #[error("{field} has invalid value {value:#x}")]
    InvalidValue { field: &'static str, value: u64 },
    #[error("{count} unexpected bytes after the end of the message")]
    Trailing { count: usize },
}

mod kind {
    pub const LOAD_RULES: u8 = 0x01;
    pub const FLUSH_FLOWS: u8 = 0x02;
    pub const LIST_FLOWS: u8 = 0x03;
    pub const PING: u8 = 0x04;
    pub const RULES_APPLIED: u8 = 0x81;
    pub const RULES_REJECTED: u8 = 0x82;
    pub const FLOWS_FLUSHED: u8 = 0x83;
    pub const FLOW_LIST: u8 = 0x84;
    pub const PONG: u8 = 0x85;
    pub const FAILED: u8 = 0x86;
    pub const EVENT: u8 = 0x87;
}

mod filter_bit {
    pub const ADDRESS: u8 = 1;
    pub const PORT: u8 = 2;
    pub const PROTOCOL: u8 = 4;
    pub const ENDPOINT: u8 = 8;
    pub const STATE: u8 = 16;
    pub const ALL: u8 = ADDRESS | PORT | PROTOCOL | ENDPOINT | STATE;
}

/// Smallest encoding of a [`FlowEntry`], to bound allocation on decode.
const MIN_FLOW_ENTRY_LEN: usize = 8 + 1 + 4 + 4 + 1 + 2 + 2 + 4 + 8;

/// Bytes of a `FlowList` reply besides its entries (header, count, next).
pub const FLOW_LIST_OVERHEAD: usize = 1 + 1 + 8 + 4 + 1 + 4 + 8;

impl FlowEntry {
    /// Bytes this entry takes in a `FlowList` reply.
    pub fn encoded_len(&self) -> usize {
        let addresses = match self.addresses {
            FlowAddresses::V4 { .. } => 8,
            FlowAddresses::V6 { .. } => 32,
        };
        MIN_FLOW_ENTRY_LEN - 8 + addresses + self.state.len()
    }
}

// ---------------------------------------------------------------- encoding

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        // Strings beyond 4 GiB cannot cross a ring anyway; cut rather than panic.
        let mut len = s.len().min(u32::MAX as usize);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        self.u32(len as u32);
        self.0.extend_from_slice(&s.as_bytes()[..len]);
    }
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                self.u8(4);
                self.0.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u8(6);
                self.0.extend_from_slice(&a.octets());
            }
        }
    }
    fn header(&mut self, kind: u8, id: u64) {
        self.u8(WIRE_VERSION);
        self.u8(kind);
        self.u64(id);
    }
    fn filter(&mut self, f: &FlowFilter) {
        let mut bits = 0;
        if f.address.is_some() {
            bits |= filter_bit::ADDRESS;
        }
        if f.port.is_some() {
            bits |= filter_bit::PORT;
        }
        if f.protocol.is_some() {
            bits |= filter_bit::PROTOCOL;
        }
        if f.endpoint.is_some() {
            bits |= filter_bit::ENDPOINT;
        }
        if f.state.is_some() {
            bits |= filter_bit::STATE;
        }
        self.u8(bits);
        if let Some(a) = f.address {
            self.ip(a.addr);
            self.u8(a.len);
        }
        if let Some(p) = f.port {
            self.u16(p);
        }
        if let Some(p) = f.protocol {
            self.u8(p);
        }
        if let Some(e) = f.endpoint {
            self.u64(e);
        }
        if let Some(s) = &f.state {
            self.str(s);
        }
    }
    fn cursor(&mut self, c: Option<FlowCursor>) {
        match c {
            None => self.u8(0),
            Some(c) => {
                self.u8(1);
                self.u32(c.worker);
                self.u64(c.slot);
            }
        }
    }
    fn flow(&mut self, e: &FlowEntry) {
        self.u64(e.endpoint);
        self.u8(e.addresses.version());
        match e.addresses {
            FlowAddresses::V4 { src, dst } => {
                self.0.extend_from_slice(&src.octets());
                self.0.extend_from_slice(&dst.octets());
            }
            FlowAddresses::V6 { src, dst } => {
                self.0.extend_from_slice(&src.octets());
                self.0.extend_from_slice(&dst.octets());
            }
        }
        self.u8(e.protocol);
        self.u16(e.src_port);
        self.u16(e.dst_port);
        self.str(&e.state);
        self.u64(e.expires_in_ns);
    }
}

impl Request {
    /// Appends the encoding to `out` (reuse one buffer to avoid allocating).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        match &self.command {
            Command::LoadRules { generation, text } => {
                w.header(kind::LOAD_RULES, self.id);
                w.u64(*generation);
                w.str(text);
            }
            Command::FlushFlows { filter } => {
                w.header(kind::FLUSH_FLOWS, self.id);
                w.filter(filter);
            }
            Command::ListFlows {
                filter,
                cursor,
                limit,
            } => {
                w.header(kind::LIST_FLOWS, self.id);
                w.filter(filter);
                w.cursor(*cursor);
                w.u32(*limit);
            }
            Command::Ping => w.header(kind::PING, self.id),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Request, DecodeError> {
        let mut r = Reader::new(bytes);
        let (kind, id) = r.header()?;
        let command = match kind {
            kind::LOAD_RULES => Command::LoadRules {
                generation: r.u64("generation")?,
                text: r.string("rule text")?,
            },
            kind::FLUSH_FLOWS => Command::FlushFlows {
                filter: r.filter()?,
            },
            kind::LIST_FLOWS => Command::ListFlows {
                filter: r.filter()?,
                cursor: r.cursor()?,
                limit: r.u32("limit")?,
            },
            kind::PING => Command::Ping,
            kind => {
                return Err(DecodeError::UnknownKind {
                    what: "command",
                    kind,
                })
            }
        };
        r.finish()?;
        Ok(Request { id, command })
    }

    /// The request id of a message that may not decode otherwise, so the
    /// dataplane can still answer `Failed` to the right request.
    pub fn peek_id(bytes: &[u8]) -> Option<u64> {
        let id = bytes.get(2..10)?;
        Some(u64::from_le_bytes(id.try_into().ok()?))
    }
}

impl Response {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        match &self.reply {
            Reply::RulesApplied { generation } => {
                w.header(kind::RULES_APPLIED, self.id);
                w.u64(*generation);
            }
            Reply::RulesRejected {
                generation,
                message,
            } => {
                w.header(kind::RULES_REJECTED, self.id);
                w.u64(*generation);
                w.str(message);
            }
            Reply::FlowsFlushed { count } => {
                w.header(kind::FLOWS_FLUSHED, self.id);
                w.u64(*count);
            }
            Reply::FlowList { entries, next } => {
                w.header(kind::FLOW_LIST, self.id);
                w.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
                for e in entries.iter().take(u32::MAX as usize) {
                    w.flow(e);
                }
                w.cursor(*next);
            }
            Reply::Pong => w.header(kind::PONG, self.id),
            Reply::Failed { message } => {
                w.header(kind::FAILED, self.id);
                w.str(message);
            }
            Reply::Event { message } => {
                w.header(kind::EVENT, self.id);
                w.str(message);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Response, DecodeError> {
        let mut r = Reader::new(bytes);
        let (kind, id) = r.header()?;
        let reply = match kind {
            kind::RULES_APPLIED => Reply::RulesApplied {
                generation: r.u64("generation")?,
            },
            kind::RULES_REJECTED => Reply::RulesRejected {
                generation: r.u64("generation")?,
                message: r.string("message")?,
            },
            kind::FLOWS_FLUSHED => Reply::FlowsFlushed {
                count: r.u64("count")?,
            },
            kind::FLOW_LIST => {
                let count = r.u32("entry count")? as usize;
                // Never trust a count beyond what the bytes could hold.
                let mut entries = Vec::with_capacity(count.min(r.remaining() / MIN_FLOW_ENTRY_LEN));
                for _ in 0..count {
                    entries.push(r.flow()?);
                }
                Reply::FlowList {
                    entries,
                    next: r.cursor()?,
                }
            }
            kind::PONG => Reply::Pong,
            kind::FAILED => Reply::Failed {
                message: r.string("message")?,
            },
            kind::EVENT => Reply::Event {
                message: r.string("event message")?,
            },
            kind => {
                return Err(DecodeError::UnknownKind {
                    what: "reply",
                    kind,
                })
            }
        };
        r.finish()?;
        Ok(Response { id, reply })
    }
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], DecodeError> {
        let out = self
            .bytes
            .get(self.offset..)
            .and_then(|rest| rest.get(..needed))
            .ok_or(DecodeError::Truncated {
                field,
                offset: self.offset,
                needed,
                available: self.remaining(),
            })?;
        self.offset += needed;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_le_bytes)
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_le_bytes)
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_le_bytes)
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.u32(field)? as usize;
        let bytes = self.take(field, len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8 { field })
    }

    fn family(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        match self.u8(field)? {
            v @ (4 | 6) => Ok(v),
            v => Err(DecodeError::InvalidValue {
                field,
                value: u64::from(v),
            }),
        }
    }

    fn ip(&mut self, field: &'static str) -> Result<IpAddr, DecodeError> {
        Ok(match self.family(field)? {
            4 => IpAddr::V4(self.array::<4>(field)?.into()),
            _ => IpAddr::V6(self.array::<16>(field)?.into()),
        })
    }

    fn filter(&mut self) -> Result<FlowFilter, DecodeError> {
        let bits = self.u8("filter flags")?;
        if bits & !filter_bit::ALL != 0 {
            return Err(DecodeError::InvalidValue {
                field: "filter flags",
                value: u64::from(bits),
            });
        }
        let has = |bit| bits & bit != 0;
        Ok(FlowFilter {
            address: if has(filter_bit::ADDRESS) {
                let addr = self.ip("filter address")?;
                let len = self.u8("filter prefix length")?;
                Some(IpPrefix::new(addr, len).ok_or(DecodeError::InvalidValue {
                    field: "filter prefix length",
                    value: u64::from(len),
                })?)
            } else {
                None
            },
            port: if has(filter_bit::PORT) {
                Some(self.u16("filter port")?)
            } else {
                None
            },
            protocol: if has(filter_bit::PROTOCOL) {
                Some(self.u8("filter protocol")?)
            } else {
                None
            },
            endpoint: if has(filter_bit::ENDPOINT) {
                Some(self.u64("filter endpoint")?)
            } else {
                None
            },
            state: if has(filter_bit::STATE) {
                let name = self.string("filter state")?;
                if name.len() > MAX_STATE_NAME_LEN {
                    return Err(DecodeError::InvalidValue {
                        field: "filter state length",
                        value: name.len() as u64,
                    });
                }
                Some(name)
            } else {
                None
            },
        })
    }

    fn cursor(&mut self) -> Result<Option<FlowCursor>, DecodeError> {
        match self.u8("cursor flag")? {
            0 => Ok(None),
            1 => Ok(Some(FlowCursor {
                worker: self.u32("cursor worker")?,
                slot: self.u64("cursor slot")?,
            })),
            v => Err(DecodeError::InvalidValue {
                field: "cursor flag",
                value: u64::from(v),
            }),
        }
    }

    fn flow(&mut self) -> Result<FlowEntry, DecodeError> {
        let endpoint = self.u64("flow endpoint")?;
        let addresses = match self.family("flow ip version")? {
            4 => FlowAddresses::V4 {
                src: self.array::<4>("flow source")?.into(),
                dst: self.array::<4>("flow destination")?.into(),
            },
            _ => FlowAddresses::V6 {
                src: self.array::<16>("flow source")?.into(),
                dst: self.array::<16>("flow destination")?.into(),
            },
        };
        Ok(FlowEntry {
            endpoint,
            addresses,
            protocol: self.u8("flow protocol")?,
            src_port: self.u16("flow source port")?,
            dst_port: self.u16("flow destination port")?,
            state: self.string("flow state")?,
            expires_in_ns: self.u64("flow expires in")?,
        })
    }

    fn header(&mut self) -> Result<(u8, u64), DecodeError> {
        let version = self.u8("version")?;
        if version != WIRE_VERSION {
            return Err(DecodeError::Version {
                found: version,
                expected: WIRE_VERSION,
            });
        }
        let kind = self.u8("kind")?;
        Ok((kind, self.u64("request id")?))
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::Trailing { count }),
        }
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
