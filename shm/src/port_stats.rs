//! Data-port statistics, written by the dataplane main lcore and read by
//! control under a seqlock so a reader never mixes two updates.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;
use crate::seqlock::{name_from_words, Name64, NameWords, SeqCount};

/// Extended statistics kept per update; further ones are not stored.
pub const MAX_XSTATS: usize = 256;

#[repr(C, align(64))]
pub(crate) struct PortStatsRegion {
    seq: SeqCount,
    updated_ns: AtomicU64,
    basic: [AtomicU64; 8],
    xstat_count: AtomicU64,
    xstats: [Xstat; MAX_XSTATS],
}

#[repr(C)]
struct Xstat {
    name: Name64,
    value: AtomicU64,
}

/// The basic counters of `rte_eth_stats`, as the dataplane reads them
/// from the port and publishes them here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortCounters {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the NIC dropped because RX queues were full.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

impl PortCounters {
    fn to_array(self) -> [u64; 8] {
        [
            self.ipackets,
            self.opackets,
            self.ibytes,
            self.obytes,
            self.imissed,
            self.ierrors,
            self.oerrors,
            self.rx_nombuf,
        ]
    }

    fn from_array(a: [u64; 8]) -> Self {
        let [ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf] = a;
        PortCounters {
            ipackets,
            opackets,
            ibytes,
            obytes,
            imissed,
            ierrors,
            oerrors,
            rx_nombuf,
        }
    }
}

/// One consistent reading of the port statistics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortStatsSnapshot {
    /// CLOCK_MONOTONIC ns of the update (0: never written).
    pub updated_ns: u64,
    pub counters: PortCounters,
    pub xstats: Vec<(String, u64)>,
}

impl PortStatsRegion {
    /// Returns how many xstats were stored (at most [`MAX_XSTATS`]).
    pub(crate) fn write<'a>(
        &self,
        now_ns: u64,
        counters: &PortCounters,
        xstats: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> usize {
        self.seq.write(|| {
            self.updated_ns.store(now_ns, Ordering::Relaxed);
            for (cell, v) in self.basic.iter().zip(counters.to_array()) {
                cell.store(v, Ordering::Relaxed);
            }
            let mut n = 0;
            for (slot, (name, value)) in self.xstats.iter().zip(xstats) {
                slot.name.store(name);
                slot.value.store(value, Ordering::Relaxed);
                n += 1;
            }
            self.xstat_count.store(n as u64, Ordering::Relaxed);
            n
        })
    }

    pub(crate) fn snapshot(&self) -> Result<PortStatsSnapshot> {
        // Raw words under the lock, strings outside it (short read window).
        let mut raw: Vec<(NameWords, u64)> = Vec::with_capacity(MAX_XSTATS);
        let (updated_ns, basic) = self.seq.read("port stats", || {
            let n = usize::try_from(self.xstat_count.load(Ordering::Relaxed))
                .map_or(MAX_XSTATS, |n| n.min(MAX_XSTATS));
            raw.clear();
            raw.extend(
                self.xstats[..n]
                    .iter()
                    .map(|x| (x.name.load_words(), x.value.load(Ordering::Relaxed))),
            );
            let mut basic = [0u64; 8];
            for (v, cell) in basic.iter_mut().zip(&self.basic) {
                *v = cell.load(Ordering::Relaxed);
            }
            (self.updated_ns.load(Ordering::Relaxed), basic)
        })?;
        Ok(PortStatsSnapshot {
            updated_ns,
            counters: PortCounters::from_array(basic),
            xstats: raw
                .iter()
                .map(|(name, value)| (name_from_words(name), *value))
                .collect(),
        })
    }
}
