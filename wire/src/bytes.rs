//! Big-endian field access at fixed offsets. Callers pass slices taken with
//! the named ranges of each protocol's `mod field`, whose length the
//! protocol's `new_checked` has already validated.

#[inline(always)]
pub(crate) fn be16(s: &[u8]) -> u16 {
    u16::from_be_bytes([s[0], s[1]])
}

#[inline(always)]
pub(crate) fn be32(s: &[u8]) -> u32 {
    u32::from_be_bytes([s[0], s[1], s[2], s[3]])
}

#[inline(always)]
pub(crate) fn be64(s: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&s[..8]);
    u64::from_be_bytes(a)
}

#[inline(always)]
pub(crate) fn put16(s: &mut [u8], v: u16) {
    s[..2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(s: &mut [u8], v: u32) {
    s[..4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn array<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&s[..N]);
    a
}
