//! The one error type of the codec: `Copy`, allocation-free, and naming the
//! layer that was wrong so the dataplane can count drops per layer.

use core::fmt;

/// The protocol layer a parse error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Ethernet,
    Arp,
    Ipv4,
    Ipv6,
    Udp,
    Tcp,
    Icmpv4,
    Icmpv6,
    Geneve,
    GwlbOptions,
    /// The IP packet carried inside GENEVE (either family).
    InnerIp,
}

impl Layer {
    /// Every layer, in declaration order (for per-layer counter arrays).
    pub const ALL: [Layer; 11] = [
        Layer::Ethernet,
        Layer::Arp,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Udp,
        Layer::Tcp,
        Layer::Icmpv4,
        Layer::Icmpv6,
        Layer::Geneve,
        Layer::GwlbOptions,
        Layer::InnerIp,
    ];

    /// Position in [`Layer::ALL`]: an index for a counter array.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name used in messages and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Icmpv4 => "icmpv4",
            Layer::Icmpv6 => "icmpv6",
            Layer::Geneve => "geneve",
            Layer::GwlbOptions => "gwlb options",
            Layer::InnerIp => "inner ip",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What was wrong with a packet, and at which layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer (or a length field bounding it) is shorter than the
    /// layer needs.
    Truncated {
        layer: Layer,
        need: usize,
        have: usize,
    },
    /// A field holds a value the format does not allow
    /// (e.g. an IPv4 header length below 20).
    Malformed { layer: Layer, what: &'static str },
    /// A well-formed value this codec does not handle
    /// (e.g. a VLAN tag, or a GENEVE version other than 0).
    Unsupported {
        layer: Layer,
        what: &'static str,
        value: u32,
    },
}

impl Error {
    /// The layer the error belongs to.
    pub const fn layer(&self) -> Layer {
        match *self {
            Error::Truncated { layer, .. }
            | Error::Malformed { layer, .. }
            | Error::Unsupported { layer, .. } => layer,
        }
    }

    /// The same error attributed to another layer (the inner IP packet uses
    /// the IPv4/IPv6 views but counts as [`Layer::InnerIp`]).
    pub const fn at_layer(self, layer: Layer) -> Error {
        match self {
            Error::Truncated { need, have, .. } => Error::Truncated { layer, need, have },
            Error::Malformed { what, .. } => Error::Malformed { layer, what },
            Error::Unsupported { what, value, .. } => Error::Unsupported { layer, what, value },
        }
    }

    pub(crate) const fn truncated(layer: Layer, need: usize, have: usize) -> Error {
        Error::Truncated { layer, need, have }
    }

    pub(crate) const fn malformed(layer: Layer, what: &'static str) -> Error {
        Error::Malformed { layer, what }
    }

    pub(crate) const fn unsupported(layer: Layer, what: &'static str, value: u32) -> Error {
        Error::Unsupported { layer, what, value }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { layer, need, have } => {
                write!(f, "{layer}: truncated: need {need} bytes, have {have}")
            }
            Error::Malformed { layer, what } => write!(f, "{layer}: malformed: {what}"),
            Error::Unsupported { layer, what, value } => {
                write!(f, "{layer}: unsupported {what} {value} ({value:#x})")
            }
        }
    }
}

impl std::error::Error for Error {}

/// `Err(Truncated)` unless `have >= need`.
#[inline]
pub(crate) const fn need(layer: Layer, need: usize, have: usize) -> Result<(), Error> {
    if have < need {
        Err(Error::truncated(layer, need, have))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_precise() {
        let e = Error::truncated(Layer::Geneve, 40, 37);
        assert_eq!(e.to_string(), "geneve: truncated: need 40 bytes, have 37");
        let e = Error::malformed(Layer::Ipv4, "header length below 20 bytes");
        assert_eq!(
            e.to_string(),
            "ipv4: malformed: header length below 20 bytes"
        );
        let e = Error::unsupported(Layer::Ethernet, "ethertype", 0x8100);
        assert_eq!(
            e.to_string(),
            "ethernet: unsupported ethertype 33024 (0x8100)"
        );
        assert_eq!(e.layer(), Layer::Ethernet);
        assert_eq!(e.at_layer(Layer::InnerIp).layer(), Layer::InnerIp);
    }

    #[test]
    fn layer_index_matches_all() {
        for (i, l) in Layer::ALL.iter().enumerate() {
            assert_eq!(l.index(), i);
        }
    }
}
