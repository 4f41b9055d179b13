//! `scenario`: firewall test flows from a TOML file, each expected to `pass` (both directions
//! come back intact), `drop` (nothing comes back) or `reject` (a TCP RST or ICMP unreachable
//! comes back in the tunnel with the request's GENEVE options).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::arp;
use crate::pcap::PcapWriter;
use crate::rawsock::{Direction, RawSocket};
use crate::reject;
use crate::traffic::{self, make_tag, Flow, FlowSpec, Protocol, Rng, SizePlan};
use crate::verify;
use crate::wire::{self, parse_endpoint, Outer, GENEVE_PORT, MAX_INNER};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Pass,
    Drop,
    Reject,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub endpoint: Option<String>,
    pub attachment: Option<u64>,
    pub exchanges: Option<usize>,
    pub size: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowEntry {
    pub name: String,
    pub protocol: Protocol,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Client port; for ICMP the echo identifier. Random when absent.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub endpoint: Option<String>,
    pub attachment: Option<u64>,
    pub exchanges: Option<usize>,
    pub size: Option<usize>,
    /// TCP only: start after the handshake (a flow moved here from another appliance).
    #[serde(default)]
    pub midstream: bool,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub defaults: Defaults,
    pub flow: Vec<FlowEntry>,
}

impl ScenarioFile {
    pub fn load(path: &Path) -> Result<ScenarioFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ScenarioFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<ScenarioFile, String> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for flow in &file.flow {
            let name = &flow.name;
            if flow.src.is_ipv4() != flow.dst.is_ipv4() {
                return Err(format!(
                    "flow {name:?}: src and dst are of different IP families"
                ));
            }
            if flow.midstream && flow.protocol != Protocol::Tcp {
                return Err(format!("flow {name:?}: midstream applies to tcp only"));
            }
            if flow.protocol != Protocol::Icmp && flow.dst_port.is_none() {
                return Err(format!(
                    "flow {name:?}: dst_port is required for {:?}",
                    flow.protocol
                ));
            }
            let endpoint = flow.endpoint.as_ref().or(file.defaults.endpoint.as_ref());
            if let Some(text) = endpoint {
                if parse_endpoint(text).is_none() {
                    return Err(format!(
                        "flow {name:?}: bad endpoint {text:?}: expected vpce-0 and 16 hex digits"
                    ));
                }
            }
            if let Some(size) = flow.size.or(file.defaults.size) {
                if size > MAX_INNER {
                    return Err(format!("flow {name:?}: size {size} exceeds {MAX_INNER}"));
                }
            }
        }
        if file.flow.is_empty() {
            return Err("no [[flow]] entries".into());
        }
        Ok(file)
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    pub iface: String,
    pub appliance: Ipv4Addr,
    pub gwlb_ip: Ipv4Addr,
    /// Known appliance MAC; resolved with ARP when absent.
    pub appliance_mac: Option<[u8; 6]>,
    pub file: PathBuf,
    pub json: Option<PathBuf>,
    pub pcap_out: Option<PathBuf>,
    pub reply_timeout: Duration,
    pub settle: Duration,
    pub unknown_option: bool,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowResult {
    pub name: String,
    pub expect: Expect,
    pub endpoint: String,
    pub ok: bool,
    pub sent: usize,
    pub returned: usize,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScenarioReport {
    pub passed: bool,
    pub flows: Vec<FlowResult>,
    /// GENEVE frames that arrived while no flow was waiting for them.
    pub unexpected: u64,
    pub other_frames: u64,
}

impl ScenarioReport {
    pub fn print(&self) {
        for f in &self.flows {
            println!(
                "flow {:?} ({}) expect {:?}: {} (sent {}, returned {}) {}",
                f.name,
                f.endpoint,
                f.expect,
                if f.ok { "ok" } else { "FAILED" },
                f.sent,
                f.returned,
                f.detail
            );
        }
        println!(
            "unexpected GENEVE {}, other frames {}",
            self.unexpected, self.other_frames
        );
        println!("result: {}", if self.passed { "PASS" } else { "FAIL" });
    }
}

struct Session<'a> {
    socket: &'a RawSocket,
    pcap: Option<PcapWriter>,
    buf: Vec<u8>,
    report: ScenarioReport,
}

impl Session<'_> {
    /// Receives until `deadline`; returns the first GENEVE reply `want` accepts.
    fn wait(
        &mut self,
        deadline: Instant,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, String> {
        while Instant::now() < deadline {
            let Some((len, direction)) =
                self.socket.recv(&mut self.buf).map_err(|e| e.to_string())?
            else {
                continue;
            };
            if direction == Direction::Outgoing {
                continue;
            }
            let frame = &self.buf[..len.min(self.buf.len())];
            if !verify::is_geneve_reply(frame) {
                self.report.other_frames += 1;
                continue;
            }
            if let Some(w) = self.pcap.as_mut() {
                w.write(frame).map_err(|e| e.to_string())?;
            }
            if want(frame) {
                return Ok(Some(frame.to_vec()));
            }
            self.report.unexpected += 1;
        }
        Ok(None)
    }
}

fn flow_label(flow: &Flow, index: usize) -> String {
    let kind = match flow.spec.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
    };
    format!("{kind} packet {index}")
}

pub fn run(opts: ScenarioOptions) -> Result<ScenarioReport, String> {
    let file = ScenarioFile::load(&opts.file)?;
    let socket = RawSocket::open(&opts.iface).map_err(|e| e.to_string())?;
    // Swallow replies locally so the kernel does not answer them with ICMP port unreachable.
    let _absorber = UdpSocket::bind((opts.gwlb_ip, GENEVE_PORT)).ok();
    let appliance_mac = match opts.appliance_mac {
        Some(mac) => mac,
        None => arp::resolve(&socket, opts.gwlb_ip, opts.appliance).map_err(|e| e.to_string())?,
    };
    socket
        .set_read_timeout(Duration::from_millis(10))
        .map_err(|e| e.to_string())?;
    let pcap = match &opts.pcap_out {
        Some(p) => Some(PcapWriter::create(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut session = Session {
        socket: &socket,
        pcap,
        buf: vec![0u8; 16 * 1024],
        report: ScenarioReport::default(),
    };
    let mut rng = Rng::new(opts.seed);
    let nonce = rng.next() as u16;
    let mut seq = 0u32;

    for entry in &file.flow {
        let endpoint_text = entry.endpoint.as_ref().or(file.defaults.endpoint.as_ref());
        let endpoint_id = endpoint_text
            .and_then(|t| parse_endpoint(t))
            .unwrap_or(traffic::endpoint_id(0));
        let outer_port_forward = rng.port();
        let spec = FlowSpec {
            endpoint_id,
            attachment_id: entry.attachment.or(file.defaults.attachment).unwrap_or(0),
            cookie: rng.next() as u32,
            protocol: entry.protocol,
            client: entry.src,
            server: entry.dst,
            client_port: entry.src_port.unwrap_or_else(|| rng.port()),
            server_port: entry.dst_port.unwrap_or(0),
            outer_port_forward,
            // The other direction on another outer port, as GWLB may do.
            outer_port_reverse: outer_port_forward ^ 0x0101,
            exchanges: entry.exchanges.or(file.defaults.exchanges).unwrap_or(2),
            unknown_option: opts.unknown_option,
        };
        let size = entry.size.or(file.defaults.size).unwrap_or(200);
        let sizes = SizePlan {
            choices: vec![(size, 1)],
        };
        let mut flow = Flow::new(spec.clone(), &mut rng);
        if entry.midstream {
            flow.skip_handshake();
        }
        let options = flow.options();
        let mut result = FlowResult {
            name: entry.name.clone(),
            expect: entry.expect,
            endpoint: wire::endpoint_name(endpoint_id),
            ok: true,
            sent: 0,
            returned: 0,
            detail: String::new(),
        };
        let mut build = |flow: &mut Flow, rng: &mut Rng| -> Result<Option<Vec<u8>>, String> {
            let tag = make_tag(nonce, seq);
            seq += 1;
            let Some(packet) = flow
                .next_packet(tag, &sizes, rng)
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let outer = Outer {
                src_mac: socket.mac,
                dst_mac: appliance_mac,
                src_ip: opts.gwlb_ip,
                dst_ip: opts.appliance,
                ip_id: seq as u16,
                ttl: 255,
                udp_src_port: if packet.from_client {
                    spec.outer_port_forward
                } else {
                    spec.outer_port_reverse
                },
                udp_dst_port: GENEVE_PORT,
            };
            wire::encapsulate(&outer, &options, &packet.inner)
                .map(Some)
                .map_err(|e| e.to_string())
        };
        match entry.expect {
            Expect::Pass => {
                let mut index = 0;
                while let Some(frame) = build(&mut flow, &mut rng)? {
                    socket.send(&frame).map_err(|e| e.to_string())?;
                    result.sent += 1;
                    let tag = verify::read_tag(&frame);
                    let deadline = Instant::now() + opts.reply_timeout;
                    let reply = session.wait(deadline, |f| verify::read_tag(f) == tag)?;
                    let Some(reply) = reply else {
                        result.ok = false;
                        result.detail = format!("{} got no reply", flow_label(&flow, index));
                        break;
                    };
                    result.returned += 1;
                    if let Err(m) = verify::verify_hairpin(&frame, &reply) {
                        result.ok = false;
                        result.detail =
                            format!("{} came back corrupted: {m}", flow_label(&flow, index));
                        break;
                    }
                    index += 1;
                }
                if result.ok {
                    result.detail = "both directions came back intact".into();
                }
            }
            Expect::Drop => {
                while let Some(frame) = build(&mut flow, &mut rng)? {
                    socket.send(&frame).map_err(|e| e.to_string())?;
                    result.sent += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                let deadline = Instant::now() + opts.settle;
                let mut returned = 0;
                while session
                    .wait(deadline, |f| {
                        verify::read_tag(f).is_some_and(|(n, _)| n == nonce)
                    })?
                    .is_some()
                {
                    returned += 1;
                }
                result.returned = returned;
                result.ok = returned == 0;
                result.detail = if result.ok {
                    "nothing came back".into()
                } else {
                    format!("{returned} frames came back")
                };
            }
            Expect::Reject => {
                let frame = build(&mut flow, &mut rng)?.ok_or("flow has no packets")?;
                socket.send(&frame).map_err(|e| e.to_string())?;
                result.sent = 1;
                let reply = session.wait(Instant::now() + opts.reply_timeout, |_| true)?;
                match reply {
                    None => {
                        result.ok = false;
                        result.detail = "no reject came back".into();
                    }
                    Some(reply) => {
                        result.returned = 1;
                        if verify::verify_hairpin(&frame, &reply).is_ok() {
                            result.ok = false;
                            result.detail =
                                "the request came back unchanged: passed, not rejected".into();
                        } else {
                            match reject::check_reject(&frame, &reply) {
                                Ok(what) => {
                                    result.detail =
                                        format!("{what} with the request's GENEVE options")
                                }
                                Err(why) => {
                                    result.ok = false;
                                    result.detail = format!("bad reject: {why}");
                                }
                            }
                        }
                    }
                }
            }
        }
        session.report.flows.push(result);
    }
    // Late stragglers count as unexpected.
    let tail = Instant::now() + opts.settle.min(Duration::from_millis(300));
    while session.wait(tail, |_| false)?.is_some() {}
    let mut report = session.report;
    if let Some(w) = session.pcap {
        w.finish().map_err(|e| e.to_string())?;
    }
    report.passed = report.flows.iter().all(|f| f.ok) && report.unexpected == 0;
    if let Some(path) = &opts.json {
        crate::report::write_json(path, &report).map_err(|e| e.to_string())?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_scenario_parses() {
        let text = include_str!("../scenarios/firewall-example.toml");
        let file = ScenarioFile::parse(text).unwrap();
        assert!(file.flow.iter().any(|f| f.expect == Expect::Pass));
        assert!(file.flow.iter().any(|f| f.expect == Expect::Drop));
        assert!(file.flow.iter().any(|f| f.expect == Expect::Reject));
        assert!(file.flow.iter().any(|f| f.src.is_ipv6()));
    }

    #[test]
    fn bad_scenarios_are_rejected_with_reasons() {
        let base = "[[flow]]\nname = \"x\"\nprotocol = \"tcp\"\nexpect = \"pass\"\n";
        let cases = [
            (format!("{base}src = \"10.0.0.1\"\ndst = \"::1\"\ndst_port = 1\n"), "different IP families"),
            (format!("{base}src = \"10.0.0.1\"\ndst = \"10.0.0.2\"\n"), "dst_port is required"),
            (format!("{base}src = \"10.0.0.1\"\ndst = \"10.0.0.2\"\ndst_port = 1\nendpoint = \"vpce-zz\"\n"), "bad endpoint"),
            (format!("{base}src = \"10.0.0.1\"\ndst = \"10.0.0.2\"\ndst_port = 1\ncolour = 1\n"), "unknown field"),
            ("flow = []\n".to_string(), "no [[flow]]"),
            (
                "[[flow]]\nname = \"x\"\nprotocol = \"udp\"\nexpect = \"pass\"\nsrc = \"10.0.0.1\"\ndst = \"10.0.0.2\"\ndst_port = 1\nmidstream = true\n".to_string(),
                "tcp only",
            ),
        ];
        for (text, want) in cases {
            let err = ScenarioFile::parse(&text).unwrap_err();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
