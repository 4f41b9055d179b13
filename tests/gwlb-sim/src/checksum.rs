//! RFC 1071 Internet checksum, written here (not taken from tollgate-wire) so the
//! simulator stays an independent check of the dataplane.

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum (odd tail padded with zero).
pub fn sum_words(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([pair[0], pair[1]])));
        // Fold early so a 9000-byte packet cannot overflow the accumulator.
        if sum > 0xffff_0000 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Folds a 32-bit sum into the one's-complement 16-bit checksum value.
pub fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checksum of a byte run (an IPv4 header, an ICMPv4 message).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum_words(0, data))
}

/// Pseudo-header sum for a transport checksum (TCP, UDP, ICMPv6) over IPv4 or IPv6.
/// `src` and `dst` are 4 or 16 bytes.
pub fn pseudo_header_sum(src: &[u8], dst: &[u8], protocol: u8, l4_len: u32) -> u32 {
    let mut sum = sum_words(0, src);
    sum = sum_words(sum, dst);
    sum = sum.wrapping_add(u32::from(protocol));
    sum = sum.wrapping_add(l4_len >> 16).wrapping_add(l4_len & 0xffff);
    sum
}

/// Transport checksum (TCP, UDP, ICMPv6) of `segment` whose checksum field is zero.
pub fn transport_checksum(src: &[u8], dst: &[u8], protocol: u8, segment: &[u8]) -> u16 {
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    finish(sum_words(
        pseudo_header_sum(src, dst, protocol, len),
        segment,
    ))
}

/// True when `data` (with its checksum field filled in) sums to 0xffff, i.e. verifies.
pub fn verifies(data: &[u8]) -> bool {
    checksum(data) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_section_3_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum (with carries folded) to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum_words(0, &data)), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // Classic example header (Wikipedia "IPv4 header checksum"): checksum b861.
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&header), 0xb861);
        header[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verifies(&header));
        header[3] ^= 1;
        assert!(!verifies(&header));
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            checksum(&[0x12, 0x34, 0x56]),
            checksum(&[0x12, 0x34, 0x56, 0x00])
        );
    }

    #[test]
    fn long_input_does_not_overflow() {
        let data = vec![0xffu8; 70_000];
        // All-ones words sum to 0xffff in one's complement: checksum 0.
        assert_eq!(checksum(&data), 0);
    }
}
