//! Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! [`sum`] returns the folded 16-bit ones-complement sum (not inverted);
//! [`combine`] adds two sums; a checksum field holds `!sum`. A buffer with a
//! correct checksum in it sums to `0xffff`. Only the last piece of a
//! concatenation may have odd length (pseudo-headers are always even).

use crate::bytes::{be16, be32};

/// Folds a wide ones-complement accumulator (a sum of 16-, 32- or 64-bit
/// big-endian words, carries included) to 16 bits.
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Whether a 20-byte header (IPv4 without options) sums to `0xffff`, that
/// is, carries a correct checksum. Whether a ones-complement sum is all
/// ones does not depend on byte order (RFC 1071 section 2), so the words
/// are summed as loaded, without byte swaps, and each fold takes the
/// end-around carry with one rotate: the express parse's version of
/// `sum(h) == 0xffff`.
#[inline(always)]
pub fn header20_ok(h: &[u8; 20]) -> bool {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let s = w(0) + w(4) + w(8) + w(12) + w(16);
    // The high half of s + rotl(s, 32) is the two halves' ones-complement
    // sum: the low half's carry lands in it.
    let s32 = (s.wrapping_add(s.rotate_left(32)) >> 32) as u32;
    let s16 = s32.wrapping_add(s32.rotate_left(16)) >> 16;
    s16 == 0xffff
}

/// Ones-complement sum of `data` as big-endian 16-bit words, an odd last
/// byte padded with zero. Sums 64-bit words with end-around carry, which
/// equals the 16-bit sum after folding (RFC 1071 section 2).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = acc.overflowing_add(w);
        acc = s + u64::from(carry);
    }
    let (s, carry) = acc.overflowing_add(tail_word(chunks.remainder()));
    acc = s + u64::from(carry);
    fold(acc)
}

/// Up to 7 bytes as the big-endian 64-bit word they start, zero padded.
/// Built from 4-, 2- and 1-byte loads: a copy into a padded array would
/// be a `memcpy` call of variable length on every checksum.
#[inline(always)]
fn tail_word(rest: &[u8]) -> u64 {
    debug_assert!(rest.len() < 8);
    let mut word = 0u64;
    let mut at = 0;
    if rest.len() >= 4 {
        word |= u64::from(be32(&rest[..4])) << 32;
        at = 4;
    }
    if rest.len() - at >= 2 {
        word |= u64::from(be16(&rest[at..at + 2])) << (48 - 8 * at);
        at += 2;
    }
    if rest.len() > at {
        word |= u64::from(rest[at]) << (56 - 8 * at);
    }
    word
}

/// Ones-complement addition of two 16-bit sums.
#[inline(always)]
pub const fn combine(a: u16, b: u16) -> u16 {
    let s = a as u32 + b as u32;
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Sum of `data` with the 16-bit field at even offset `at` taken as zero,
/// so a checksum can be computed over a buffer that already holds one.
#[inline]
fn sum_without_field(data: &[u8], at: usize) -> u16 {
    let end = data.len().min(at + 2);
    combine(sum(&data[..at.min(data.len())]), sum(&data[end..]))
}

/// Sum of the IPv4 pseudo-header (RFC 768/793).
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u16) -> u16 {
    let s = be16(&src[..2]) as u32
        + be16(&src[2..]) as u32
        + be16(&dst[..2]) as u32
        + be16(&dst[2..]) as u32
        + protocol as u32
        + length as u32;
    fold(u64::from(s))
}

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, length: u32) -> u16 {
    let s = combine(sum(src), sum(dst));
    let tail = fold(u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next_header));
    combine(s, tail)
}

/// Checksum for an IPv4 header (the checksum field at 10 is ignored).
#[inline]
pub fn ipv4_header(header: &[u8]) -> u16 {
    !sum_without_field(header, 10)
}

/// Transport checksum over `segment` with its checksum field at `field_at`
/// ignored and `pseudo` (a pseudo-header sum, 0 for ICMPv4) added.
#[inline]
fn transport(pseudo: u16, segment: &[u8], field_at: usize) -> u16 {
    !combine(pseudo, sum_without_field(segment, field_at))
}

/// UDP checksum over IPv4; a computed 0 is sent as `0xffff` (0 means none).
pub fn udp_v4(src: [u8; 4], dst: [u8; 4], datagram: &[u8]) -> u16 {
    let ph = pseudo_header_v4(src, dst, 17, datagram.len() as u16);
    nonzero(transport(ph, datagram, 6))
}

/// UDP checksum over IPv6 (mandatory; a computed 0 is sent as `0xffff`).
pub fn udp_v6(src: &[u8; 16], dst: &[u8; 16], datagram: &[u8]) -> u16 {
    let ph = pseudo_header_v6(src, dst, 17, datagram.len() as u32);
    nonzero(transport(ph, datagram, 6))
}

/// TCP checksum over IPv4.
pub fn tcp_v4(src: [u8; 4], dst: [u8; 4], segment: &[u8]) -> u16 {
    transport(
        pseudo_header_v4(src, dst, 6, segment.len() as u16),
        segment,
        16,
    )
}

/// TCP checksum over IPv6.
pub fn tcp_v6(src: &[u8; 16], dst: &[u8; 16], segment: &[u8]) -> u16 {
    transport(
        pseudo_header_v6(src, dst, 6, segment.len() as u32),
        segment,
        16,
    )
}

/// ICMPv4 checksum (no pseudo-header).
pub fn icmpv4(message: &[u8]) -> u16 {
    transport(0, message, 2)
}

/// ICMPv6 checksum (with the IPv6 pseudo-header, next header 58).
pub fn icmpv6(src: &[u8; 16], dst: &[u8; 16], message: &[u8]) -> u16 {
    transport(
        pseudo_header_v6(src, dst, 58, message.len() as u32),
        message,
        2,
    )
}

#[inline(always)]
fn nonzero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// New checksum after a 16-bit field changed from `old` to `new`
/// (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
///
/// A UDP checksum of 0 means "no checksum" and must not be updated; that is
/// the caller's decision.
#[inline]
pub const fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!checksum, !old), new)
}

/// New checksum after a 32-bit field (e.g. an IPv4 address) changed.
#[inline]
pub const fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header20_ok_agrees_with_the_plain_sum() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut ok, mut bad) = (0, 0);
        for round in 0..20_000 {
            let mut h = [0u8; 20];
            for b in h.iter_mut() {
                *b = next() as u8;
            }
            // Extremes: all ones, all zeros, one word of ones.
            match round % 50 {
                0 => h = [0xff; 20],
                1 => h = [0; 20],
                2 => h[..2].copy_from_slice(&[0xff, 0xff]),
                _ => {}
            }
            if round % 2 == 0 {
                // Repair the checksum field (bytes 10..12).
                h[10..12].copy_from_slice(&[0, 0]);
                let c = !sum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let expected = sum(&h) == 0xffff;
            assert_eq!(header20_ok(&h), expected, "{h:02x?}");
            if expected {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        assert!(ok > 9_000 && bad > 9_000, "{ok} valid, {bad} not");
    }

    /// Reference: plain 16-bit word loop.
    fn slow_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
    }

    #[test]
    fn wide_sum_matches_word_sum() {
        let mut data = [0u8; 67];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(0xf1);
        }
        for len in 0..data.len() {
            assert_eq!(sum(&data[..len]), slow_sum(&data[..len]), "len {len}");
        }
        let ones = [0xffu8; 33];
        for len in 0..ones.len() {
            assert_eq!(sum(&ones[..len]), slow_sum(&ones[..len]), "len {len}");
        }
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // Header from Wikipedia's "IPv4 header checksum" example: 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(sum(&h), 0xffff);
        assert_eq!(ipv4_header(&h), 0xb861);
    }

    #[test]
    fn incremental_update_of_all_zero_data_gives_the_other_zero() {
        // Field 0x0001 -> 0x0000 in otherwise zero data: recomputation gives
        // 0xffff, RFC 1624 eqn. 3 gives 0x0000, the same ones-complement value.
        let c = !sum(&[0, 1, 0, 0]);
        assert_eq!(update16(c, 1, 0), 0x0000);
        assert_eq!(!sum(&[0, 0, 0, 0]), 0xffff);
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = ipv4_header(&h);
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        let c2 = update32(c, 0xc0a8_0001, 0x0a00_0001);
        assert_eq!(c2, ipv4_header(&h));
        h[8] = 0x3f; // TTL 64 -> 63, the word at 8 is ttl|protocol
        assert_eq!(update16(c2, 0x4011, 0x3f11), ipv4_header(&h));
    }
}
