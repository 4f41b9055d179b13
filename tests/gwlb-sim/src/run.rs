//! `run`: sends GWLB traffic to the appliance and verifies every returned frame.

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::arp;
use crate::matcher::{InFlight, Matcher, Outcome};
use crate::pcap::PcapWriter;
use crate::rawsock::{Direction, RawSocket};
use crate::report::{Corruption, Counts, RunReport, LIST_LIMIT};
use crate::traffic::{self, Generator, TrafficConfig};
use crate::verify;
use crate::wire::{endpoint_name, GENEVE_PORT, MAX_INNER};

/// Receive buffer: the largest frame plus room to see oversize ones.
const RX_BUFFER: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub iface: String,
    pub appliance: Ipv4Addr,
    pub gwlb_ip: Ipv4Addr,
    /// Known appliance MAC; resolved with ARP when absent.
    pub appliance_mac: Option<[u8; 6]>,
    pub src_ip: Option<Ipv4Addr>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    /// Frames per second; 0 sends as fast as the socket takes them.
    pub rate: u64,
    pub traffic: TrafficConfig,
    pub expect_reply: bool,
    pub pcap_out: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub settle: Duration,
    /// Send a flow's answer only after its request came back (what real peers do).
    pub causal: bool,
}

#[derive(Default)]
struct SenderTotals {
    sent: u64,
    bytes: u64,
    endpoints: HashMap<usize, u64>,
    sizes: HashMap<usize, u64>,
    reopened: u64,
    /// Times every flow was waiting for a reply before it could send.
    waits: u64,
    error: Option<String>,
    elapsed: Duration,
}

/// Opens a UDP socket on the GWLB address's port 6081 so the local kernel swallows the
/// replies instead of answering each with ICMP port unreachable towards the appliance.
pub(crate) fn absorb_replies(gwlb_ip: Ipv4Addr) -> Option<UdpSocket> {
    match UdpSocket::bind((gwlb_ip, GENEVE_PORT)) {
        Ok(socket) => Some(socket),
        Err(e) => {
            eprintln!(
                "note: cannot bind UDP {gwlb_ip}:{GENEVE_PORT} ({e}); the kernel may answer replies with ICMP port unreachable"
            );
            None
        }
    }
}

pub fn run(opts: RunOptions) -> Result<RunReport, String> {
    let socket = RawSocket::open(&opts.iface).map_err(|e| e.to_string())?;
    let _absorber = absorb_replies(opts.gwlb_ip);
    let appliance_mac = match opts.appliance_mac {
        Some(mac) => mac,
        None => arp::resolve(&socket, opts.gwlb_ip, opts.appliance).map_err(|e| e.to_string())?,
    };
    let mut traffic = opts.traffic.clone();
    traffic.gwlb_mac = socket.mac;
    traffic.appliance_mac = appliance_mac;
    traffic.outer_src = opts.src_ip.unwrap_or(opts.gwlb_ip);
    traffic.appliance_ip = opts.appliance;
    let endpoints = traffic.endpoints.max(1);
    let run_nonce = traffic.run_nonce;
    socket
        .set_read_timeout(Duration::from_millis(20))
        .map_err(|e| e.to_string())?;
    let mut pcap = match &opts.pcap_out {
        Some(path) => Some(PcapWriter::create(path).map_err(|e| e.to_string())?),
        None => None,
    };

    let pending: Mutex<HashMap<u32, InFlight>> = Mutex::new(HashMap::new());
    let sender_done = AtomicBool::new(false);
    let mut report = RunReport {
        expect: if opts.expect_reply { "reply" } else { "none" }.into(),
        ..Default::default()
    };
    let mut matcher = Matcher::new(run_nonce);
    let mut returned_endpoints = vec![0u64; endpoints];
    let mut returned_sizes: HashMap<usize, u64> = HashMap::new();
    let count = match (opts.count, opts.duration) {
        (None, None) => Some(1000),
        (count, _) => count,
    };
    let start = Instant::now();

    let totals = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut totals = SenderTotals::default();
            let mut generator = Generator::new(traffic);
            let interval = (opts.rate > 0).then(|| Duration::from_secs_f64(1.0 / opts.rate as f64));
            let begin = Instant::now();
            let mut due = begin;
            // Answers wait for their request to come back, unless told otherwise or when
            // nothing is expected back at all.
            let causal = opts.causal && opts.expect_reply;
            let wait_limit = opts.settle.max(Duration::from_millis(100));
            loop {
                if count.is_some_and(|c| totals.sent >= c)
                    || opts.duration.is_some_and(|d| begin.elapsed() >= d)
                {
                    break;
                }
                let now = Instant::now();
                if interval.is_some() && due > now {
                    std::thread::sleep(due - now);
                }
                let next = if causal {
                    generator.next_ready_frame(
                        |seq| {
                            !pending
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .contains_key(&seq)
                        },
                        wait_limit,
                    )
                } else {
                    generator.next_frame().map(Some)
                };
                let sent = match next {
                    Ok(Some(sent)) => sent,
                    Ok(None) => {
                        // Every flow waits for an answer to come back.
                        totals.waits += 1;
                        std::thread::sleep(Duration::from_micros(20));
                        continue;
                    }
                    Err(e) => {
                        totals.error = Some(format!("building frame: {e}"));
                        break;
                    }
                };
                if let Some(interval) = interval {
                    // After a stall, catch up by at most 10 ms worth of frames, not in one burst.
                    let now = Instant::now();
                    due = (due + interval).max(now - Duration::from_millis(10).min(now - begin));
                }
                let record = InFlight {
                    sent_at: Instant::now(),
                    // With no reply expected only the metadata is needed: keeps memory flat.
                    frame: if opts.expect_reply {
                        sent.frame.clone()
                    } else {
                        Vec::new()
                    },
                    endpoint: sent.endpoint,
                    inner_len: sent.inner_len,
                };
                pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(sent.seq, record);
                if let Err(e) = socket.send(&sent.frame) {
                    totals.error = Some(e.to_string());
                    break;
                }
                totals.sent += 1;
                totals.bytes += sent.frame.len() as u64;
                *totals.endpoints.entry(sent.endpoint).or_default() += 1;
                *totals.sizes.entry(sent.inner_len).or_default() += 1;
            }
            totals.reopened = generator.reopened;
            totals.elapsed = begin.elapsed();
            sender_done.store(true, Ordering::Release);
            totals
        });

        let mut buf = vec![0u8; RX_BUFFER];
        let mut finished_at: Option<Instant> = None;
        loop {
            if finished_at.is_none() && sender_done.load(Ordering::Acquire) {
                finished_at = Some(Instant::now());
            }
            if let Some(t) = finished_at {
                let all_back = opts.expect_reply
                    && pending.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
                // Once every frame is back, linger briefly so duplicates are still seen.
                let grace = opts.settle.min(Duration::from_millis(50));
                if (all_back && t.elapsed() >= grace) || t.elapsed() >= opts.settle {
                    break;
                }
            }
            let (len, direction) = match socket.recv(&mut buf) {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("receive error: {e}");
                    break;
                }
            };
            if direction == Direction::Outgoing {
                report.outgoing_copies += 1;
                continue;
            }
            let frame = &buf[..len.min(buf.len())];
            if !verify::is_geneve_reply(frame) {
                report.other_frames += 1;
                continue;
            }
            if let Some(w) = pcap.as_mut() {
                if let Err(e) = w.write(frame) {
                    eprintln!("pcap write failed: {e}");
                    pcap = None;
                }
            }
            report.returned += 1;
            let outcome = matcher.classify(
                &mut pending.lock().unwrap_or_else(|e| e.into_inner()),
                frame,
            );
            let (endpoint, inner_len, rtt) = match outcome {
                Outcome::Matched {
                    endpoint,
                    inner_len,
                    rtt,
                    ..
                } => {
                    report.matched += 1;
                    (endpoint, inner_len, rtt)
                }
                Outcome::Corrupted {
                    seq,
                    endpoint,
                    inner_len,
                    rtt,
                    mismatch,
                } => {
                    report.corrupted += 1;
                    *report
                        .corrupted_by_layer
                        .entry(mismatch.layer.to_string())
                        .or_default() += 1;
                    if report.corruptions.len() < LIST_LIMIT {
                        report.corruptions.push(Corruption { seq, mismatch });
                    }
                    (endpoint, inner_len, rtt)
                }
                Outcome::Duplicate { .. } => {
                    report.duplicated += 1;
                    continue;
                }
                Outcome::Unexpected => {
                    report.unexpected += 1;
                    continue;
                }
            };
            returned_endpoints[endpoint] += 1;
            *returned_sizes.entry(inner_len).or_default() += 1;
            report.rtt_max_us = report.rtt_max_us.max(rtt.as_micros() as u64);
        }
        sender.join().unwrap_or_default()
    });

    if let Some(w) = pcap {
        w.finish().map_err(|e| e.to_string())?;
    }
    if let Some(e) = &totals.error {
        return Err(format!("sending stopped: {e}"));
    }
    let lost: Vec<u32> = {
        let table = pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut seqs: Vec<u32> = table.keys().copied().collect();
        seqs.sort_unstable();
        seqs
    };
    report.lost = lost.len() as u64;
    report.lost_seqs = lost.into_iter().take(LIST_LIMIT).collect();
    report.sent = totals.sent;
    report.sent_bytes = totals.bytes;
    report.reopened_flows = totals.reopened;
    report.flow_waits = totals.waits;
    report.duration_s = start.elapsed().as_secs_f64();
    report.send_pps = totals.sent as f64 / totals.elapsed.as_secs_f64().max(1e-9);
    for (index, returned) in returned_endpoints.iter().enumerate() {
        report.endpoints.insert(
            endpoint_name(traffic::endpoint_id(index)),
            Counts {
                sent: totals.endpoints.get(&index).copied().unwrap_or(0),
                returned: *returned,
            },
        );
    }
    for (size, sent) in &totals.sizes {
        debug_assert!(*size <= MAX_INNER);
        report.sizes.insert(
            *size,
            Counts {
                sent: *sent,
                returned: returned_sizes.get(size).copied().unwrap_or(0),
            },
        );
    }
    report.conclude();
    if let Some(path) = &opts.json {
        crate::report::write_json(path, &report).map_err(|e| e.to_string())?;
    }
    Ok(report)
}
