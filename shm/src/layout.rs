//! Where each region lives in the segment, computed from the config alone so
//! both processes derive (and cross-check) the same offsets.

use std::mem::size_of;

use crate::error::{Result, ShmError};
use crate::header::Header;
use crate::port_stats::PortStatsRegion;
use crate::ring::RING_CONTROL_BYTES;
use crate::rules_info::RulesInfo;
use crate::worker_stats::WorkerStats;

/// Regions start on page boundaries.
pub const REGION_ALIGN: usize = 4096;
pub const MAX_WORKERS: usize = 64;
pub const MAX_NAME_LEN: usize = 64;
pub const MIN_RING_BYTES: usize = 4096;
pub const MAX_RING_BYTES: usize = 1 << 30;

/// Sizes the dataplane chooses when it creates the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentConfig {
    pub workers: usize,
    /// Published for health and metrics; the flow table itself is not here.
    pub flow_capacity: u64,
    /// Data bytes of each ring; powers of two.
    pub command_ring_bytes: usize,
    pub reply_ring_bytes: usize,
    pub punt_ring_bytes: usize,
    pub inject_ring_bytes: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            workers: 1,
            flow_capacity: 0,
            command_ring_bytes: 16 << 20,
            reply_ring_bytes: 1 << 20,
            punt_ring_bytes: 1 << 20,
            inject_ring_bytes: 1 << 20,
        }
    }
}

impl SegmentConfig {
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(ShmError::InvalidConfig(format!(
                "workers is {}, expected 1..={MAX_WORKERS}",
                self.workers
            )));
        }
        for (what, bytes) in [
            ("command_ring_bytes", self.command_ring_bytes),
            ("reply_ring_bytes", self.reply_ring_bytes),
            ("punt_ring_bytes", self.punt_ring_bytes),
            ("inject_ring_bytes", self.inject_ring_bytes),
        ] {
            if !bytes.is_power_of_two() || !(MIN_RING_BYTES..=MAX_RING_BYTES).contains(&bytes) {
                return Err(ShmError::InvalidConfig(format!(
                    "{what} is {bytes}, expected a power of two from {MIN_RING_BYTES} to {MAX_RING_BYTES}"
                )));
            }
        }
        Ok(())
    }
}

/// Index into the header's region table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum RegionId {
    Header,
    RulesInfo,
    PortStats,
    /// `workers` blocks of `worker_stride` bytes.
    WorkerStats,
    CommandRing,
    ReplyRing,
    /// `workers` rings of `punt_stride` bytes.
    PuntRings,
    InjectRing,
}

pub const REGION_COUNT: usize = 8;

impl RegionId {
    pub const ALL: [RegionId; REGION_COUNT] = [
        RegionId::Header,
        RegionId::RulesInfo,
        RegionId::PortStats,
        RegionId::WorkerStats,
        RegionId::CommandRing,
        RegionId::ReplyRing,
        RegionId::PuntRings,
        RegionId::InjectRing,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub offset: usize,
    pub size: usize,
}

impl Region {
    pub fn end(&self) -> usize {
        self.offset + self.size
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Layout {
    pub config: SegmentConfig,
    pub regions: [Region; REGION_COUNT],
    pub worker_stride: usize,
    pub punt_stride: usize,
    pub total_size: usize,
}

const fn align_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl Layout {
    /// Lays regions out back to back, each page-aligned.
    pub fn compute(config: &SegmentConfig) -> Result<Layout> {
        config.validate()?;
        let worker_stride = align_up(size_of::<WorkerStats>(), 64);
        let punt_stride = align_up(RING_CONTROL_BYTES + config.punt_ring_bytes, REGION_ALIGN);
        let sizes = [
            size_of::<Header>(),
            size_of::<RulesInfo>(),
            size_of::<PortStatsRegion>(),
            worker_stride * config.workers,
            RING_CONTROL_BYTES + config.command_ring_bytes,
            RING_CONTROL_BYTES + config.reply_ring_bytes,
            punt_stride * config.workers,
            RING_CONTROL_BYTES + config.inject_ring_bytes,
        ];
        let mut regions = [Region::default(); REGION_COUNT];
        let mut offset = 0;
        for (region, size) in regions.iter_mut().zip(sizes) {
            *region = Region { offset, size };
            offset = align_up(offset + size, REGION_ALIGN);
        }
        Ok(Layout {
            config: config.clone(),
            regions,
            worker_stride,
            punt_stride,
            total_size: offset,
        })
    }

    pub fn region(&self, id: RegionId) -> Region {
        self.regions[id as usize]
    }

    pub fn worker_stats_offset(&self, worker: usize) -> usize {
        self.region(RegionId::WorkerStats).offset + worker * self.worker_stride
    }

    pub fn punt_ring_offset(&self, worker: usize) -> usize {
        self.region(RegionId::PuntRings).offset + worker * self.punt_stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_aligned_ordered_and_disjoint() {
        for workers in [1, 2, 7, MAX_WORKERS] {
            let cfg = SegmentConfig {
                workers,
                punt_ring_bytes: 64 << 10,
                ..SegmentConfig::default()
            };
            let l = Layout::compute(&cfg).unwrap();
            let mut prev_end = 0;
            for id in RegionId::ALL {
                let r = l.region(id);
                assert_eq!(r.offset % REGION_ALIGN, 0, "{id:?}");
                assert!(r.offset >= prev_end, "{id:?} overlaps the previous region");
                assert!(r.size > 0);
                prev_end = r.end();
            }
            assert!(prev_end <= l.total_size);
            assert_eq!(l.total_size % REGION_ALIGN, 0);
            for w in 0..workers {
                assert_eq!(l.worker_stats_offset(w) % 64, 0);
                assert_eq!(l.punt_ring_offset(w) % REGION_ALIGN, 0);
                assert!(
                    l.worker_stats_offset(w) + size_of::<WorkerStats>()
                        <= l.region(RegionId::WorkerStats).end()
                );
                assert!(
                    l.punt_ring_offset(w) + RING_CONTROL_BYTES + cfg.punt_ring_bytes
                        <= l.region(RegionId::PuntRings).end()
                );
            }
        }
    }

    #[test]
    fn header_fits_one_page_and_blocks_are_cache_aligned() {
        assert!(size_of::<Header>() <= REGION_ALIGN);
        assert_eq!(std::mem::align_of::<WorkerStats>(), 64);
        assert_eq!(size_of::<WorkerStats>() % 64, 0);
    }

    #[test]
    fn bad_configs_are_refused_precisely() {
        let bad = [
            SegmentConfig {
                workers: 0,
                ..SegmentConfig::default()
            },
            SegmentConfig {
                workers: MAX_WORKERS + 1,
                ..SegmentConfig::default()
            },
            SegmentConfig {
                command_ring_bytes: 3 << 20,
                ..SegmentConfig::default()
            },
            SegmentConfig {
                punt_ring_bytes: 1024,
                ..SegmentConfig::default()
            },
        ];
        for cfg in bad {
            let err = Layout::compute(&cfg).unwrap_err().to_string();
            assert!(err.starts_with("invalid segment config"), "{err}");
        }
    }
}
