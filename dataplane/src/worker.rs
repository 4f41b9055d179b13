//! One poll-mode worker: owns one RX/TX queue pair and one pipeline (with
//! its flow table), pinned to its lcore.
//!
//! Loop: RX burst -> pipeline per packet -> TX burst; then the packets
//! other workers steered here (this worker owns their flows), then, on
//! worker 0, packets the control plane injects. Every millisecond or so:
//! heartbeat, rule-set mailbox, firewall counters to shared memory.
//! Nothing in the loop allocates, locks or makes a syscall, except the
//! optional idle sleep after a run of empty polls.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use tollgate_firewall::{EvictReason, RefuseReason};
use tollgate_pipeline::{Disposition, Pipeline, RuleSnapshot};
use tollgate_shm::{Consumer, Counter, PacketMeta, Producer, WorkerStats};

use crate::clock::TscClock;
use crate::dpdk::{CksumStatus, Mbuf, MbufBurst, Mempool, RxQueue, TxQueue};
use crate::flow_pages::{self, FlowSelector, Visit};

/// Packets per RX and TX burst.
pub const BURST: usize = 32;
/// Empty polls before an idle sleep (when configured).
const IDLE_POLLS: u32 = 1024;

/// What the main lcore and the workers share.
pub struct Shared {
    pub stop: AtomicBool,
    /// Per worker: rule sets to adopt, and the generation each has adopted.
    pub rules_inbox: Vec<ArrayQueue<Arc<RuleSnapshot>>>,
    pub rules_applied: Vec<AtomicU64>,
    /// Snapshots a worker no longer uses, freed by the main lcore (no
    /// deallocation on a worker).
    pub retired: ArrayQueue<Arc<RuleSnapshot>>,
    /// Per worker: packets of flows it owns, handed over by other workers.
    pub steer_inbox: Vec<ArrayQueue<Mbuf>>,
    /// Per worker: operator requests about its flows, and the answers.
    pub flow_requests: Vec<ArrayQueue<FlowAsk>>,
    pub flow_answers: Vec<ArrayQueue<FlowReply>>,
    /// Id of the last flow request sent (main lcore only).
    last_flow_ask: AtomicU64,
    /// Answers dropped because they belong to an earlier request that timed out.
    pub late_flow_answers: AtomicU64,
}

/// A [`FlowRequest`] and the id its answer carries.
pub struct FlowAsk {
    pub id: u64,
    pub request: FlowRequest,
}

/// A worker's answer to the [`FlowAsk`] with the same id.
pub struct FlowReply {
    pub id: u64,
    pub answer: FlowAnswer,
}

/// An operator request a worker answers about the flows it owns.
pub enum FlowRequest {
    Flush(FlowSelector),
    /// The flows `selector` matches from table slot `from` on, scanning at
    /// most `budget` slots (see [`flow_pages::scan`]). `out` comes with its
    /// capacity reserved: the worker does not allocate.
    List {
        selector: FlowSelector,
        from: usize,
        budget: usize,
        out: Vec<(usize, tollgate_firewall::FlowInfo)>,
    },
}

pub enum FlowAnswer {
    Flushed(usize),
    Listed(Visit),
}

impl Shared {
    pub fn new(workers: usize, steer_ring: usize) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            rules_inbox: (0..workers).map(|_| ArrayQueue::new(4)).collect(),
            rules_applied: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            retired: ArrayQueue::new(4 * workers.max(1)),
            steer_inbox: (0..workers).map(|_| ArrayQueue::new(steer_ring)).collect(),
            flow_requests: (0..workers).map(|_| ArrayQueue::new(1)).collect(),
            // One request queued plus one being answered: two answers at
            // most are in flight, so a worker's push never fails.
            flow_answers: (0..workers).map(|_| ArrayQueue::new(2)).collect(),
            last_flow_ask: AtomicU64::new(0),
            late_flow_answers: AtomicU64::new(0),
        }
    }
}

impl Shared {
    /// Main lcore: sends one request to every worker and collects every
    /// answer by `timeout`; the workers answer between bursts. Each request
    /// has its own id: an answer to an earlier one that timed out is
    /// dropped (and counted), never taken for this one's.
    pub fn ask_workers(
        &self,
        request: impl Fn() -> FlowRequest,
        timeout: Duration,
    ) -> Result<Vec<FlowAnswer>, String> {
        let workers = self.flow_requests.len();
        self.ask((0..workers).map(|w| (w, request())), timeout)
    }

    /// Main lcore: the same for worker `worker` alone.
    pub fn ask_worker(
        &self,
        worker: usize,
        request: FlowRequest,
        timeout: Duration,
    ) -> Result<FlowAnswer, String> {
        if worker >= self.flow_requests.len() {
            return Err(format!("no worker {worker}"));
        }
        let mut answers = self.ask(std::iter::once((worker, request)), timeout)?;
        answers
            .pop()
            .ok_or_else(|| format!("worker {worker} gave no answer"))
    }

    /// Sends each request to its worker (each worker once at most) and
    /// collects the answers, in the same order.
    fn ask(
        &self,
        requests: impl Iterator<Item = (usize, FlowRequest)>,
        timeout: Duration,
    ) -> Result<Vec<FlowAnswer>, String> {
        let id = self.last_flow_ask.fetch_add(1, Ordering::Relaxed) + 1;
        let mut asked = Vec::new();
        for (w, request) in requests {
            // Frees the answer slot for this request's answer.
            while let Some(late) = self.flow_answers[w].pop() {
                self.late_answer(w, late.id);
            }
            if self.flow_requests[w].push(FlowAsk { id, request }).is_err() {
                return Err(format!(
                    "worker {w} is still busy with an earlier request; retry"
                ));
            }
            asked.push(w);
        }
        let deadline = Instant::now() + timeout;
        let mut answers: Vec<Option<FlowAnswer>> = asked.iter().map(|_| None).collect();
        loop {
            for (&w, slot) in asked.iter().zip(answers.iter_mut()) {
                if slot.is_some() {
                    continue;
                }
                match self.flow_answers[w].pop() {
                    Some(reply) if reply.id == id => *slot = Some(reply.answer),
                    Some(late) => self.late_answer(w, late.id),
                    None => {}
                }
            }
            if answers.iter().all(Option::is_some) {
                break;
            }
            if Instant::now() > deadline {
                let missing: Vec<String> = asked
                    .iter()
                    .zip(&answers)
                    .filter(|(_, a)| a.is_none())
                    .map(|(w, _)| w.to_string())
                    .collect();
                return Err(format!(
                    "workers {} did not answer within {} ms",
                    missing.join(", "),
                    timeout.as_millis()
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(answers.into_iter().flatten().collect())
    }

    fn late_answer(&self, worker: usize, id: u64) {
        self.late_flow_answers.fetch_add(1, Ordering::Relaxed);
        eprintln!(
            "tollgate-dataplane: worker {worker} answered flow request {id} after it timed out; dropped"
        );
    }

    /// Worker `index`: answers the main lcore's pending request, if any.
    pub fn serve_flow_request(&self, index: usize, answer: impl FnOnce(FlowRequest) -> FlowAnswer) {
        if let Some(ask) = self.flow_requests[index].pop() {
            let reply = FlowReply {
                id: ask.id,
                answer: answer(ask.request),
            };
            // Room for it: see `Shared::new`.
            let _ = self.flow_answers[index].push(reply);
        }
    }
}

pub struct Worker {
    index: usize,
    port: u16,
    rx: RxQueue,
    tx: TxQueue,
    pool: Arc<Mempool>,
    pipeline: Pipeline<'static, RuleSnapshot>,
    stats: &'static WorkerStats,
    punt: Producer,
    /// Worker 0 transmits what the control plane injects.
    inject: Option<Consumer>,
    shared: Arc<Shared>,
    clock: TscClock,
    idle_sleep_us: u32,
}

impl Worker {
    /// Worker `index` polling its queue pair; it counts into the pipeline's
    /// stats slot, allocates injected frames from `pool` and punts into
    /// `punt`. It injects nothing and never sleeps unless told with
    /// [`Self::with_inject`] and [`Self::with_idle_sleep_us`].
    pub fn new(
        index: usize,
        (rx, tx): (RxQueue, TxQueue),
        pool: Arc<Mempool>,
        pipeline: Pipeline<'static, RuleSnapshot>,
        punt: Producer,
        shared: Arc<Shared>,
        clock: TscClock,
    ) -> Worker {
        Worker {
            index,
            port: rx.port().0,
            stats: pipeline.stats(),
            rx,
            tx,
            pool,
            pipeline,
            punt,
            inject: None,
            shared,
            clock,
            idle_sleep_us: 0,
        }
    }

    /// Transmits what the control plane injects through `inject`.
    pub fn with_inject(mut self, inject: Consumer) -> Worker {
        self.inject = Some(inject);
        self
    }

    /// Sleeps this long when a run of polls found nothing (0: never).
    pub fn with_idle_sleep_us(mut self, idle_sleep_us: u32) -> Worker {
        self.idle_sleep_us = idle_sleep_us;
        self
    }

    /// Runs until `shared.stop`; returns 0 (the lcore's exit value).
    pub fn run(mut self) -> i32 {
        let mut rx = MbufBurst::<BURST>::new();
        let mut tx = MbufBurst::<BURST>::new();
        let mut trash = MbufBurst::<BURST>::new();
        let mut steered = MbufBurst::<BURST>::new();
        let mut inject_buf =
            vec![0u8; tollgate_shm::PACKET_META_LEN + tollgate_shm::MAX_PACKET_LEN];
        let mut next_housekeeping = 0u64;
        let mut idle = 0u32;
        self.housekeeping(self.clock.now_ns());
        while !self.shared.stop.load(Ordering::Relaxed) {
            let n = self.rx.rx_burst(&mut rx);
            let now = self.clock.now_ns();
            let mut work = n;
            if n > 0 {
                self.handle_burst(now, &mut rx, &mut trash);
            }
            // Packets of our flows that other workers received: a burst
            // through the pipeline too (counted as received over there).
            while !steered.is_full() {
                let Some(mbuf) = self.shared.steer_inbox[self.index].pop() else {
                    break;
                };
                if let Err(m) = steered.push(mbuf) {
                    discard(&mut trash, m);
                }
            }
            if !steered.is_empty() {
                work += steered.len();
                self.process_burst(now, &mut steered, true, &mut trash);
            }
            if self.inject.is_some() {
                work += self.inject_from_control(&mut inject_buf, &mut tx);
            }
            self.flush(&mut tx);
            trash.drop_unsent();
            if now >= next_housekeeping {
                self.housekeeping(now);
                next_housekeeping = now + 1_000_000;
            }
            if work == 0 {
                // Keep flows ageing while idle.
                self.pipeline.firewall_mut().expire(now, 64);
                idle += 1;
                if self.idle_sleep_us > 0 && idle >= IDLE_POLLS {
                    std::thread::sleep(std::time::Duration::from_micros(u64::from(
                        self.idle_sleep_us,
                    )));
                }
            } else {
                idle = 0;
            }
        }
        self.flush(&mut tx);
        self.housekeeping(self.clock.now_ns());
        0
    }

    /// A received burst: counted, the packets the pipeline cannot take
    /// sorted out (rare), the rest through the pipeline in one call so that
    /// their flow table lookups overlap (`Pipeline::process_burst`), then
    /// each action. The packets to transmit stay in `rx` and leave from
    /// there, as one TX burst, before anything else this iteration sends.
    #[inline]
    fn handle_burst(&mut self, now: u64, rx: &mut MbufBurst<BURST>, trash: &mut MbufBurst<BURST>) {
        let mut bytes = 0u64;
        let mut unfit = false;
        for m in rx.as_slice() {
            bytes += u64::from(m.pkt_len());
            unfit |= !m.is_contiguous() | (m.rx_ip_cksum() == CksumStatus::Bad);
        }
        self.stats.add(Counter::RxPackets, rx.len() as u64);
        self.stats.add(Counter::RxBytes, bytes);
        if unfit {
            self.drop_unfit(rx);
        }
        self.process_burst(now, rx, false, trash);
    }

    /// `rx` (contiguous packets) through the pipeline in one call, then
    /// each action; the packets to transmit leave from `rx` as one TX
    /// burst. `steered`: another worker handed them over.
    #[inline]
    fn process_burst(
        &mut self,
        now: u64,
        rx: &mut MbufBurst<BURST>,
        steered: bool,
        trash: &mut MbufBurst<BURST>,
    ) {
        let n = rx.len();
        let mut decided = [Disposition::Punt; BURST];
        {
            let mut frames: [(&mut [u8], usize); BURST] =
                std::array::from_fn(|_| Default::default());
            for (m, frame) in rx.as_mut_slice().iter_mut().zip(&mut frames) {
                let len = usize::from(m.data_len());
                *frame = (m.data_with_tailroom_mut(), len);
            }
            self.pipeline
                .process_burst(now, &mut frames[..n], steered, &mut decided[..n]);
        }
        let mut tx_bytes = 0u64;
        let mut actions = decided.iter();
        rx.retain_owned(|mut mbuf| {
            // `decided` has an action for each of the n packets.
            let action = actions.next().copied().unwrap_or(Disposition::Punt);
            if let Disposition::Transmit { len } = action {
                if mbuf.set_data_len(len as usize).is_ok() {
                    tx_bytes += len as u64;
                    return Some(mbuf);
                }
                self.stats.inc(Counter::DropTxFull);
                discard(trash, mbuf);
            } else {
                self.act_other(mbuf, action, trash);
            }
            None
        });
        self.send(rx, tx_bytes);
    }

    /// Drops, and counts, what the pipeline must not see: multi-segment
    /// packets, and those whose outer IPv4 checksum a NIC that checks them
    /// (offload enabled when offered) has already condemned.
    #[cold]
    #[inline(never)]
    fn drop_unfit(&mut self, rx: &mut MbufBurst<BURST>) {
        let stats = self.stats;
        rx.retain(|m| {
            if !m.is_contiguous() {
                stats.inc(Counter::DropMultiSegment);
                false
            } else if m.rx_ip_cksum() == CksumStatus::Bad {
                stats.inc(Counter::MalformedIpv4);
                false
            } else {
                true
            }
        });
    }

    /// The actions other than transmit, out of the burst loop.
    #[inline(never)]
    fn act_other(&mut self, mbuf: Mbuf, action: Disposition, trash: &mut MbufBurst<BURST>) {
        match action {
            Disposition::Punt => {
                self.punt(&mbuf);
                discard(trash, mbuf);
            }
            Disposition::Steer { worker } => {
                match self.shared.steer_inbox[worker as usize].push(mbuf) {
                    Ok(()) => self.stats.inc(Counter::Steered),
                    Err(refused) => {
                        self.stats.inc(Counter::DropSteerRingFull);
                        discard(trash, refused);
                    }
                }
            }
            Disposition::Drop(_) | Disposition::Transmit { .. } => discard(trash, mbuf),
        }
    }

    fn punt(&mut self, mbuf: &Mbuf) {
        let packet = mbuf.data();
        let Ok(meta) = PacketMeta::for_packet(self.index as u16, self.port, packet) else {
            self.stats.inc(Counter::PuntTooLong);
            return;
        };
        match self.punt.push_parts(&[&meta.encode(), packet]) {
            Ok(()) => self.stats.inc(Counter::Punted),
            Err(_) => self.stats.inc(Counter::PuntRingFull),
        }
    }

    /// Transmits up to a burst of injected packets; returns how many.
    fn inject_from_control(&mut self, buf: &mut [u8], tx: &mut MbufBurst<BURST>) -> usize {
        let mut sent = 0;
        while sent < BURST {
            let Some(inject) = self.inject.as_mut() else {
                break;
            };
            let len = match inject.pop_into(buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(_) => {
                    // A message we cannot read: skip the ring's backlog
                    // rather than stall on it.
                    inject.discard_all();
                    self.stats.inc(Counter::InjectMalformed);
                    break;
                }
            };
            sent += 1;
            let Ok((_, packet)) = PacketMeta::decode(&buf[..len]) else {
                self.stats.inc(Counter::InjectMalformed);
                continue;
            };
            let Some(mut mbuf) = Mbuf::alloc(&self.pool) else {
                self.stats.inc(Counter::DropNoBuffer);
                continue;
            };
            match mbuf.append(packet.len()) {
                Ok(room) => room.copy_from_slice(packet),
                Err(_) => {
                    self.stats.inc(Counter::InjectMalformed);
                    continue;
                }
            }
            self.stats.inc(Counter::Injected);
            if tx.is_full() {
                self.flush(tx);
            }
            if tx.push(mbuf).is_err() {
                self.stats.inc(Counter::DropTxFull);
            }
        }
        sent
    }

    /// Sends what `tx` holds (steered and injected packets).
    #[inline]
    fn flush(&mut self, tx: &mut MbufBurst<BURST>) {
        if tx.is_empty() {
            return;
        }
        let bytes = tx.as_slice().iter().map(|m| u64::from(m.pkt_len())).sum();
        self.send(tx, bytes);
    }

    /// Sends the burst, of `bytes` bytes in all; what the queue refuses is
    /// dropped and counted.
    #[inline]
    fn send(&mut self, burst: &mut MbufBurst<BURST>, mut bytes: u64) {
        if burst.is_empty() {
            return;
        }
        let packets = burst.len() as u64;
        let mut sent = self.tx.tx_burst(burst);
        let mut unsent = 0;
        if !burst.is_empty() {
            // One retry: the queue often frees descriptors within microseconds.
            sent += self.tx.tx_burst(burst);
            bytes -= burst
                .as_slice()
                .iter()
                .map(|m| u64::from(m.pkt_len()))
                .sum::<u64>();
            unsent = burst.drop_unsent() as u64;
            if unsent > 0 {
                self.stats.add(Counter::DropTxFull, unsent);
            }
        }
        debug_assert_eq!(sent as u64 + unsent, packets);
        self.stats.add(Counter::TxPackets, packets - unsent);
        self.stats.add(Counter::TxBytes, bytes);
    }

    fn housekeeping(&mut self, now: u64) {
        self.stats.beat(tollgate_shm::monotonic_ns());
        if let Some(rules) = self.shared.rules_inbox[self.index].pop() {
            let generation = rules.generation;
            let on_change = rules.on_rule_change;
            if let Some(old) = self.pipeline.firewall().rules().cloned() {
                // The main lcore frees it. Only if the main lcore has
                // stalled with its queue full is it freed here.
                let _ = self.shared.retired.push(old);
            }
            self.pipeline.set_rules(rules, generation, on_change);
            self.shared.rules_applied[self.index].store(generation, Ordering::Release);
        }
        let pipeline = &mut self.pipeline;
        self.shared
            .serve_flow_request(self.index, |request| answer(pipeline, now, request));
        let fw = self.pipeline.firewall().counters();
        self.stats.set(Counter::FlowsCreated, fw.created);
        self.stats.set(Counter::FlowsExpired, fw.expired);
        for reason in RefuseReason::ALL {
            self.stats
                .set(refused_counter(reason), fw.refused[reason as usize]);
        }
        for reason in EvictReason::ALL {
            self.stats
                .set(evicted_counter(reason), fw.evicted[reason as usize]);
        }
        self.stats.set(Counter::FlowsActive, fw.active);
        self.pipeline.firewall_mut().expire(now, 0);
    }
}

/// Walks this worker's flow table (off the fast path: an operator asked).
fn answer(
    pipeline: &mut Pipeline<'static, RuleSnapshot>,
    now: u64,
    request: FlowRequest,
) -> FlowAnswer {
    match request {
        FlowRequest::Flush(selector) => {
            FlowAnswer::Flushed(selector.flush(pipeline.firewall_mut()))
        }
        FlowRequest::List {
            selector,
            from,
            budget,
            mut out,
        } => {
            let next =
                flow_pages::scan(pipeline.firewall(), now, from, budget, &selector, &mut out);
            FlowAnswer::Listed(Visit { flows: out, next })
        }
    }
}

/// The counter of new flows refused for `reason`.
fn refused_counter(reason: RefuseReason) -> Counter {
    match reason {
        RefuseReason::TableFull => Counter::FlowsRefused,
        RefuseReason::EndpointShare => Counter::FlowsRefusedEndpointShare,
    }
}

/// The counter of live flows evicted for `reason`.
fn evicted_counter(reason: EvictReason) -> Counter {
    match reason {
        EvictReason::Unconfirmed => Counter::FlowsEvictedUnconfirmed,
        EvictReason::Embryonic => Counter::FlowsEvictedEmbryonic,
        EvictReason::Closing => Counter::FlowsEvictedClosing,
        EvictReason::Denied => Counter::FlowsEvictedDenied,
    }
}

/// Puts a packet to be freed into `trash` (freed in bulk by its owner);
/// when it is full, frees what it holds first.
#[inline]
fn discard(trash: &mut MbufBurst<BURST>, mbuf: Mbuf) {
    if trash.is_full() {
        trash.drop_unsent();
    }
    // Cannot fail: the burst has room now.
    let _ = trash.push(mbuf);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flushed(answers: &[FlowAnswer]) -> Vec<usize> {
        answers
            .iter()
            .map(|a| match a {
                FlowAnswer::Flushed(n) => *n,
                FlowAnswer::Listed(_) => usize::MAX,
            })
            .collect()
    }

    #[test]
    fn asking_one_worker_leaves_the_others_alone() {
        let shared = Arc::new(Shared::new(2, 4));
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    shared.serve_flow_request(1, |request| match request {
                        FlowRequest::List { from, out, .. } => FlowAnswer::Listed(Visit {
                            flows: out,
                            next: Some(from + 7),
                        }),
                        FlowRequest::Flush(_) => FlowAnswer::Flushed(0),
                    });
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let list = FlowRequest::List {
            selector: FlowSelector::default(),
            from: 10,
            budget: 100,
            out: Vec::with_capacity(4),
        };
        match shared.ask_worker(1, list, Duration::from_secs(2)) {
            Ok(FlowAnswer::Listed(visit)) => assert_eq!(visit.next, Some(17)),
            _ => panic!("no listing from worker 1"),
        }
        assert!(shared.flow_requests[0].is_empty() && shared.flow_answers[0].is_empty());
        let flush = FlowRequest::Flush(FlowSelector::default());
        assert_eq!(
            shared.ask_worker(2, flush, Duration::from_secs(1)).err(),
            Some("no worker 2".to_string())
        );
        shared.stop.store(true, Ordering::Relaxed);
        worker.join().unwrap();
    }

    #[test]
    fn a_late_worker_answer_is_never_taken_for_the_next_request() {
        let shared = Arc::new(Shared::new(1, 4));
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut served = 0;
                while !shared.stop.load(Ordering::Relaxed) {
                    shared.serve_flow_request(0, |_| {
                        served += 1;
                        if served == 1 {
                            // Busy past the main lcore's patience.
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        FlowAnswer::Flushed(served)
                    });
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let flush = || FlowRequest::Flush(FlowSelector::default());
        let first = shared.ask_workers(flush, Duration::from_millis(100));
        assert!(first.is_err_and(|e| e.contains("did not answer within 100 ms")));
        // The first answer arrives while the second request waits.
        let second = shared.ask_workers(flush, Duration::from_secs(2)).unwrap();
        assert_eq!(flushed(&second), [2]);
        assert_eq!(shared.late_flow_answers.load(Ordering::Relaxed), 1);
        // A third request after a quiet spell finds nothing stale.
        let third = shared.ask_workers(flush, Duration::from_secs(2)).unwrap();
        assert_eq!(flushed(&third), [3]);
        assert_eq!(shared.late_flow_answers.load(Ordering::Relaxed), 1);
        shared.stop.store(true, Ordering::Relaxed);
        worker.join().unwrap();
    }
}
