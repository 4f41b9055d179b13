//! A minimal pcap writer (microsecond format, Ethernet link type): what
//! `net_pcap`'s `rx_pcap` replays.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::frames::FrameSet;

/// Writes every frame of `frames` to `path`, in order.
pub fn write(path: &Path, frames: &FrameSet) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let snaplen: u32 = 65_535;
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&snaplen.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    for i in 0..frames.len() {
        let f = frames.frame(i);
        let usec = (i % 1_000_000) as u32;
        w.write_all(&((i / 1_000_000) as u32).to_le_bytes())?;
        w.write_all(&usec.to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(f)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Sizes;

    #[test]
    fn records_hold_the_frames_in_order() {
        let frames = FrameSet::build(&[3, 1, 2], 10, Sizes::Imix);
        let dir = std::env::temp_dir().join(format!("tg-bench-pcap-{}", std::process::id()));
        write(&dir, &frames).unwrap();
        let bytes = std::fs::read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes());
        let mut at = 24;
        for i in 0..3 {
            let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            assert_eq!(&bytes[at + 16..at + 16 + incl], frames.frame(i));
            at += 16 + incl;
        }
        assert_eq!(at, bytes.len());
    }
}
