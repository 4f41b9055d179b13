//! The small header in front of every packet on a punt or inject ring.
//!
//! Layout (8 bytes, little-endian): worker u16, port u16, packet length u32,
//! then the packet. Producers push it with
//! [`crate::Producer::push_parts`]`(&[&meta.encode(), packet])`.

/// Largest packet either ring carries (jumbo frame).
pub const MAX_PACKET_LEN: usize = 9216;
pub const PACKET_META_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    /// Punt: the worker that received it. Inject: ignored (worker 0 sends).
    pub worker: u16,
    /// DPDK port id the packet came from or goes to.
    pub port: u16,
    pub len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketMetaError {
    #[error("packet message of {0} bytes is shorter than its {PACKET_META_LEN}-byte header")]
    Truncated(usize),
    #[error("packet header says {declared} bytes but {present} follow it")]
    LengthMismatch { declared: u32, present: usize },
    #[error("packet of {0} bytes exceeds the maximum of {MAX_PACKET_LEN}")]
    TooLong(usize),
}

impl PacketMeta {
    /// Header for `packet`, or an error if it is too long to carry.
    pub fn for_packet(worker: u16, port: u16, packet: &[u8]) -> Result<Self, PacketMetaError> {
        if packet.len() > MAX_PACKET_LEN {
            return Err(PacketMetaError::TooLong(packet.len()));
        }
        Ok(PacketMeta {
            worker,
            port,
            len: packet.len() as u32,
        })
    }

    pub fn encode(&self) -> [u8; PACKET_META_LEN] {
        let mut out = [0u8; PACKET_META_LEN];
        out[0..2].copy_from_slice(&self.worker.to_le_bytes());
        out[2..4].copy_from_slice(&self.port.to_le_bytes());
        out[4..8].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Splits a popped message into its header and packet.
    pub fn decode(message: &[u8]) -> Result<(PacketMeta, &[u8]), PacketMetaError> {
        let (head, packet) = message
            .split_first_chunk::<PACKET_META_LEN>()
            .ok_or(PacketMetaError::Truncated(message.len()))?;
        let meta = PacketMeta {
            worker: u16::from_le_bytes([head[0], head[1]]),
            port: u16::from_le_bytes([head[2], head[3]]),
            len: u32::from_le_bytes([head[4], head[5], head[6], head[7]]),
        };
        if packet.len() > MAX_PACKET_LEN {
            return Err(PacketMetaError::TooLong(packet.len()));
        }
        if meta.len as usize != packet.len() {
            return Err(PacketMetaError::LengthMismatch {
                declared: meta.len,
                present: packet.len(),
            });
        }
        Ok((meta, packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_inputs() {
        let pkt = [7u8; 60];
        let meta = PacketMeta::for_packet(3, 1, &pkt).unwrap();
        let mut msg = meta.encode().to_vec();
        msg.extend_from_slice(&pkt);
        assert_eq!(PacketMeta::decode(&msg).unwrap(), (meta, &pkt[..]));
        assert_eq!(
            PacketMeta::decode(&msg[..5]),
            Err(PacketMetaError::Truncated(5))
        );
        assert_eq!(
            PacketMeta::decode(&msg[..20]),
            Err(PacketMetaError::LengthMismatch {
                declared: 60,
                present: 12
            })
        );
        assert_eq!(
            PacketMeta::for_packet(0, 0, &[0; MAX_PACKET_LEN + 1]),
            Err(PacketMetaError::TooLong(MAX_PACKET_LEN + 1))
        );
    }
}
