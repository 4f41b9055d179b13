//! The benchmark scenarios and how each one's traffic is laid out.

use tollgate_wire::IpVersion;

use crate::frames::{FrameSet, Sizes, OUTER_LEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mode {
    /// Every flow is opened in the warm-up; the measured packets find them.
    Established,
    /// Flows idle out (one-way UDP after 1 ms, i.e. at the next 67 ms tick)
    /// before their frame comes round again: nearly every packet finds its
    /// flow expired or gone and opens it anew, in a table with room.
    NewFlows,
    /// Four times more distinct flows than the table holds: nearly every
    /// packet opens a flow by reclaiming a one-way UDP flow of a full table.
    NewFlowsFullTable,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Scenario {
    pub name: String,
    pub mode: Mode,
    /// Distinct flows in the traffic.
    pub flows: u32,
    /// Frames in the replayed traffic (at least `flows`): frame `i` belongs
    /// to flow `i % flows`. The established-flow scaling scenarios replay
    /// the same number of frames whatever their flow count, so that the
    /// device's own cost (`net_pcap` copies each frame from its replay
    /// buffer) is the same in all of them and only the flow table grows,
    /// as on a NIC, whose buffers do not depend on the flow count.
    pub frames: u32,
    pub rules: u32,
    #[serde(serialize_with = "ser_sizes")]
    pub sizes: Sizes,
    pub workers: usize,
    /// With two workers: flows split across the queues without regard to
    /// their owner (as RSS on the outer tuple may), so about half of each
    /// worker's packets are handed to the other worker. Otherwise split by
    /// owner, as an ideal RSS would.
    pub steering: bool,
}

fn ser_sizes<S: serde::Serializer>(s: &Sizes, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.label())
}

impl Scenario {
    fn new(name: &str, mode: Mode, flows: u32, rules: u32, sizes: Sizes, workers: usize) -> Self {
        Scenario {
            name: name.into(),
            mode,
            flows,
            frames: flows,
            rules,
            sizes,
            workers,
            steering: false,
        }
    }

    /// See [`Scenario::steering`].
    fn steering(mut self) -> Self {
        self.steering = true;
        self
    }

    /// See [`Scenario::frames`]: `frames` frames, at least one per flow.
    fn replaying(mut self, frames: u32) -> Self {
        self.frames = frames.max(self.flows);
        self
    }

    /// Whether flows time out at once (see [`Mode::NewFlows`]).
    pub fn fast_expiry(&self) -> bool {
        self.mode == Mode::NewFlows
    }

    /// Flow table capacity per worker.
    pub fn capacity(&self) -> u32 {
        let per_worker = self.flows.div_ceil(self.workers as u32);
        match self.mode {
            Mode::Established => (per_worker + per_worker / 4).max(4096),
            Mode::NewFlows => (per_worker + per_worker / 4).max(4096),
            Mode::NewFlowsFullTable => (per_worker / 4).max(1024),
        }
    }

    /// Data room per mbuf, headroom included: the largest frame fits.
    pub fn mbuf_size(&self) -> u16 {
        let frame = OUTER_LEN + self.sizes.max_inner();
        (128 + frame.next_multiple_of(128)).max(512) as u16
    }

    /// The frames for each worker's queue. With two workers the flows are
    /// split by the pipeline's owner hash, as an ideal RSS would, or (with
    /// `steering`) alternately, whoever owns them.
    pub fn frames(&self) -> Vec<FrameSet> {
        let flows = u64::from(self.flows);
        let all: Vec<u64> = (0..u64::from(self.frames)).map(|i| i % flows).collect();
        if self.workers == 1 {
            return vec![FrameSet::build(&all, self.rules, self.sizes)];
        }
        if self.steering {
            return (0..self.workers)
                .map(|w| {
                    let mine: Vec<u64> =
                        all.iter().copied().skip(w).step_by(self.workers).collect();
                    FrameSet::build(&mine, self.rules, self.sizes)
                })
                .collect();
        }
        let probe = FrameSet::build(
            &(0..flows).collect::<Vec<_>>(),
            self.rules,
            Sizes::Fixed(64),
        );
        let owners: Vec<usize> = (0..probe.len())
            .map(|i| owner(probe.frame(i), self.workers))
            .collect();
        let mut parts = vec![Vec::new(); self.workers];
        for &flow in &all {
            parts[owners[flow as usize]].push(flow);
        }
        parts
            .iter()
            .map(|p| FrameSet::build(p, self.rules, self.sizes))
            .collect()
    }
}

/// The worker owning a frame's flow: the pipeline's rule (the owner hash
/// scaled onto the worker count).
fn owner(frame: &[u8], workers: usize) -> usize {
    let inner = &frame[OUTER_LEN..];
    let Ok(s) = tollgate_wire::summarize(inner, IpVersion::V4) else {
        return 0;
    };
    let h = crate::alone::owner_hasher().hash(crate::frames::ENDPOINT_ID, &s);
    ((u64::from(h) * workers as u64) >> 32) as usize
}

/// Distinct flows of the new-flow scenarios: below 7 Mpps a frame comes
/// round after more than 150 ms, past the 1 ms UDP timeout (which ends at
/// the firewall's next 67 ms tick), so its flow has timed out.
const NEW_FLOWS: u32 = 1 << 20;

/// Frames replayed by the established-flow scenarios of 1k, 100k and 1M
/// flows and one or two workers (see [`Scenario::frames`]).
const ESTABLISHED_FRAMES: u32 = 1 << 20;

/// Every scenario; `quick` leaves out the 1M and 4M established tables and
/// all new-flow cases but the one with 1k rules.
pub fn all(quick: bool) -> Vec<Scenario> {
    use Mode::*;
    let s64 = Sizes::Fixed(64);
    let mut v = vec![
        Scenario::new("est-1k", Established, 1_000, 1_000, s64, 1).replaying(ESTABLISHED_FRAMES),
        Scenario::new("est-100k", Established, 100_000, 1_000, s64, 1)
            .replaying(ESTABLISHED_FRAMES),
    ];
    if !quick {
        v.push(
            Scenario::new("est-1M", Established, 1_000_000, 1_000, s64, 1)
                .replaying(ESTABLISHED_FRAMES),
        );
        v.push(Scenario::new(
            "est-4M",
            Established,
            4_000_000,
            1_000,
            s64,
            1,
        ));
    }
    v.push(Scenario::new("new-1kr", NewFlows, NEW_FLOWS, 1_000, s64, 1));
    if !quick {
        v.push(Scenario::new("new-10r", NewFlows, NEW_FLOWS, 10, s64, 1));
        v.push(Scenario::new(
            "new-10kr", NewFlows, NEW_FLOWS, 10_000, s64, 1,
        ));
        v.push(Scenario::new(
            "new-1kr-full",
            NewFlowsFullTable,
            65_536,
            1_000,
            s64,
            1,
        ));
    }
    v.extend([
        Scenario::new("size-imix", Established, 10_000, 1_000, Sizes::Imix, 1),
        Scenario::new(
            "size-1500",
            Established,
            10_000,
            1_000,
            Sizes::Fixed(1500),
            1,
        ),
        Scenario::new(
            "size-8500",
            Established,
            10_000,
            1_000,
            Sizes::Fixed(8500),
            1,
        ),
        Scenario::new("est-100k-2w", Established, 100_000, 1_000, s64, 2)
            .replaying(ESTABLISHED_FRAMES),
        // The pipeline-alone column runs worker 0's queue without hand-over.
        Scenario::new("est-2w-steer", Established, 100_000, 1_000, s64, 2)
            .replaying(ESTABLISHED_FRAMES)
            .steering(),
    ]);
    v
}

/// The scenarios `only` names (comma-separated, in the table's order), or
/// all of them; an unknown name is an error that lists the known ones.
pub fn select(only: Option<&str>, quick: bool) -> Result<Vec<Scenario>, String> {
    let Some(only) = only else {
        return Ok(all(quick));
    };
    let known = all(false);
    let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
    if let Some(bad) = wanted.iter().find(|w| !known.iter().any(|s| s.name == **w)) {
        let names: Vec<&str> = known.iter().map(|s| s.name.as_str()).collect();
        return Err(format!("no scenario {bad:?} (known: {})", names.join(", ")));
    }
    Ok(known
        .into_iter()
        .filter(|s| wanted.contains(&s.name.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_takes_named_scenarios_in_table_order_and_refuses_unknown_names() {
        let names = |v: Vec<Scenario>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(select(Some("est-1M,est-1k"), true).unwrap()),
            ["est-1k", "est-1M"]
        );
        assert_eq!(names(select(None, false).unwrap()), names(all(false)));
        let err = select(Some("est-1k,est-100"), false).unwrap_err();
        assert!(
            err.starts_with("no scenario \"est-100\" (known: est-1k, est-100k"),
            "{err}"
        );
    }

    #[test]
    fn two_worker_split_keeps_every_flow_once_and_both_get_some() {
        let s = Scenario::new("t", Mode::Established, 2_000, 10, Sizes::Fixed(64), 2);
        let parts = s.frames();
        assert_eq!(parts.iter().map(FrameSet::len).sum::<usize>(), 2_000);
        for (w, p) in parts.iter().enumerate() {
            assert!(p.len() > 800, "worker {w} got {}", p.len());
            for i in 0..p.len() {
                assert_eq!(owner(p.frame(i), 2), w);
            }
        }
    }

    #[test]
    fn steering_split_hands_about_half_of_each_queue_to_the_other_worker() {
        let s = Scenario::new("t", Mode::Established, 2_000, 10, Sizes::Fixed(64), 2).steering();
        let parts = s.frames();
        assert_eq!(parts.iter().map(FrameSet::len).sum::<usize>(), 2_000);
        for (w, p) in parts.iter().enumerate() {
            let foreign = (0..p.len()).filter(|&i| owner(p.frame(i), 2) != w).count();
            assert!(
                (300..700).contains(&foreign),
                "worker {w}: {foreign} of {} owned by the other",
                p.len()
            );
        }
    }

    #[test]
    fn replayed_frames_cycle_through_the_flows() {
        let s =
            Scenario::new("t", Mode::Established, 300, 10, Sizes::Fixed(64), 1).replaying(1_000);
        let frames = &s.frames()[0];
        assert_eq!(frames.len(), 1_000);
        // Frame i is flow i % 300: the same inner tuple every 300 frames.
        let tuple = |i: usize| frames.frame(i)[OUTER_LEN + 12..OUTER_LEN + 24].to_vec();
        assert_eq!(tuple(7), tuple(307));
        assert_eq!(tuple(7), tuple(907));
        assert_ne!(tuple(7), tuple(8));
        // Two workers: every frame once, each on its flow's owner.
        let two =
            Scenario::new("t", Mode::Established, 300, 10, Sizes::Fixed(64), 2).replaying(1_000);
        let parts = two.frames();
        assert_eq!(parts.iter().map(FrameSet::len).sum::<usize>(), 1_000);
        for (w, p) in parts.iter().enumerate() {
            assert!((0..p.len()).all(|i| owner(p.frame(i), 2) == w));
        }
    }

    #[test]
    fn the_scaling_scenarios_replay_the_same_frames() {
        let frames: Vec<u32> = all(false)
            .into_iter()
            .filter(|s| ["est-1k", "est-100k", "est-1M"].contains(&s.name.as_str()))
            .map(|s| s.frames)
            .collect();
        assert_eq!(frames, [ESTABLISHED_FRAMES; 3]);
    }

    #[test]
    fn mbufs_hold_the_largest_frame_and_tables_hold_the_flows() {
        for s in all(false) {
            assert!(usize::from(s.mbuf_size()) >= 128 + OUTER_LEN + s.sizes.max_inner());
            match s.mode {
                Mode::Established => assert!(s.capacity() as usize * s.workers >= s.flows as usize),
                Mode::NewFlows => assert!(s.capacity() >= s.flows),
                Mode::NewFlowsFullTable => assert!(s.capacity() < s.flows / 2),
            }
        }
    }
}
