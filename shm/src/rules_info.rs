//! The rule set the dataplane applied: generation, load time and rule ids,
//! so a restarted control plane can label per-rule hit counters.
//! Written by the dataplane main lcore under a seqlock.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;
use crate::seqlock::{name_from_words, Name64, NameWords, SeqCount};
use crate::worker_stats::MAX_RULES;

#[repr(C, align(64))]
pub(crate) struct RulesInfo {
    seq: SeqCount,
    generation: AtomicU64,
    count: AtomicU64,
    load_time_ns: AtomicU64,
    ids: [Name64; MAX_RULES],
}

/// What [`crate::Segment::rules_info`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RulesSnapshot {
    pub generation: u64,
    /// How long the dataplane took to build and publish the rule set.
    pub load_time_ns: u64,
    /// Rule ids in rule-index order (at most 64 bytes each; longer ones are refused).
    pub ids: Vec<String>,
}

impl RulesInfo {
    /// Caller checked `ids.len() <= MAX_RULES`.
    pub(crate) fn publish<S: AsRef<str>>(&self, generation: u64, load_time_ns: u64, ids: &[S]) {
        self.seq.write(|| {
            self.generation.store(generation, Ordering::Relaxed);
            self.load_time_ns.store(load_time_ns, Ordering::Relaxed);
            self.count.store(ids.len() as u64, Ordering::Relaxed);
            for (slot, id) in self.ids.iter().zip(ids) {
                slot.store(id.as_ref());
            }
        });
    }

    pub(crate) fn snapshot(&self) -> Result<RulesSnapshot> {
        // Copy raw words under the lock, decode outside it: a short read
        // window keeps readers from starving behind an active writer.
        let mut words: Vec<NameWords> = Vec::with_capacity(MAX_RULES);
        let (generation, load_time_ns) = self.seq.read("rules info", || {
            let count = usize::try_from(self.count.load(Ordering::Relaxed))
                .map_or(MAX_RULES, |c| c.min(MAX_RULES));
            words.clear();
            words.extend(self.ids[..count].iter().map(Name64::load_words));
            (
                self.generation.load(Ordering::Relaxed),
                self.load_time_ns.load(Ordering::Relaxed),
            )
        })?;
        Ok(RulesSnapshot {
            generation,
            load_time_ns,
            ids: words.iter().map(name_from_words).collect(),
        })
    }
}
