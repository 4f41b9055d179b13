//! Traffic model: GWLB-like flows (endpoint, attachment, flow cookie, outer source ports per
//! direction) whose packets follow real exchanges (TCP handshake, data, FIN; UDP
//! request/response; ICMP echo), in both directions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::verify::TAG_LEN;
use crate::wire::{
    self, inner_headers_len, BuildError, GeneveOption, GwlbMeta, Outer, L4, MAX_INNER, TCP_ACK,
    TCP_FIN, TCP_PSH, TCP_SYN,
};

/// Smallest inner IP packet GWLB sends in our model (gives a 128-byte frame, 132 with FCS).
pub const MIN_INNER: usize = 46;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "icmp" | "icmpv6" => Ok(Protocol::Icmp),
            other => Err(format!(
                "unknown protocol {other:?}: expected tcp, udp or icmp"
            )),
        }
    }
}

/// Inner packet sizes to draw from, with weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizePlan {
    pub choices: Vec<(usize, u32)>,
}

impl SizePlan {
    /// Parses `min`, `imix`, or numbers, comma-separated (e.g. `min,imix,1500,8500`).
    /// IMIX is the classic 7:4:1 mix, here of inner sizes 46, 576 and 1500.
    pub fn parse(text: &str) -> Result<SizePlan, String> {
        let mut choices = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "min" => choices.push((MIN_INNER, 1)),
                "imix" => choices.extend([(MIN_INNER, 7), (576, 4), (1500, 1)]),
                number => {
                    let size: usize = number.parse().map_err(|_| {
                        format!("bad size {number:?}: expected min, imix or a number")
                    })?;
                    if !(MIN_INNER..=MAX_INNER).contains(&size) {
                        return Err(format!(
                            "inner size {size} outside {MIN_INNER}..={MAX_INNER}"
                        ));
                    }
                    choices.push((size, 1));
                }
            }
        }
        if choices.is_empty() {
            return Err("no sizes given".into());
        }
        Ok(SizePlan { choices })
    }

    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total: u32 = self.choices.iter().map(|c| c.1).sum();
        let mut roll = (rng.next() % u64::from(total)) as u32;
        for &(size, weight) in &self.choices {
            if roll < weight {
                return size;
            }
            roll -= weight;
        }
        self.choices[0].0
    }
}

/// xorshift64*: small, seedable, good enough for traffic variety.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Every seed its own sequence: the seed goes through splitmix64
    /// (xorshift's state must not be zero, and `seed | 1` made 2k and
    /// 2k + 1 the same run).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn port(&mut self) -> u16 {
        10_000 + self.below(50_000) as u16
    }
}

/// What defines one flow instance (one GWLB flow cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSpec {
    pub endpoint_id: u64,
    pub attachment_id: u64,
    pub cookie: u32,
    pub protocol: Protocol,
    pub client: IpAddr,
    pub server: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
    /// Outer UDP source port GWLB uses for client-to-server packets.
    pub outer_port_forward: u16,
    /// Outer UDP source port for server-to-client packets (may differ).
    pub outer_port_reverse: u16,
    /// Data exchanges (TCP data segments, UDP datagrams, ICMP echoes) in the script.
    pub exchanges: usize,
    /// Extra GENEVE option of an unknown class that must come back untouched.
    pub unknown_option: bool,
}

/// One inner packet of a flow's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPacket {
    pub inner: Vec<u8>,
    pub from_client: bool,
    pub l4: L4,
}

/// A flow instance walking its script.
#[derive(Debug, Clone)]
pub struct Flow {
    pub spec: FlowSpec,
    step: usize,
    client_next: u32,
    server_next: u32,
    echo_size: usize,
}

/// The option of an unknown class we add when asked: class 0xff01 (experimental range).
pub fn unknown_option(cookie: u32) -> GeneveOption {
    let mut data = b"tgsim\0\0\0".to_vec();
    data[5..8].copy_from_slice(&cookie.to_be_bytes()[1..]);
    GeneveOption {
        class: 0xff01,
        kind: 0x42,
        data,
    }
}

impl Flow {
    pub fn new(spec: FlowSpec, rng: &mut Rng) -> Flow {
        Flow {
            spec,
            step: 0,
            client_next: rng.next() as u32,
            server_next: rng.next() as u32,
            echo_size: 0,
        }
    }

    /// Starts a TCP flow after its handshake, as an appliance sees a flow that GWLB moved to
    /// it from a failed target (mid-stream pickup). No effect on other protocols.
    pub fn skip_handshake(&mut self) {
        if self.spec.protocol == Protocol::Tcp && self.step == 0 {
            self.step = 3;
            // The peers have exchanged SYN and SYN-ACK (each consuming one sequence number).
            self.client_next = self.client_next.wrapping_add(1);
            self.server_next = self.server_next.wrapping_add(1);
        }
    }

    /// Direction of the next packet (`true`: client to server); `None` when finished.
    pub fn next_from_client(&self) -> Option<bool> {
        if self.is_done() {
            return None;
        }
        let step = self.step;
        let last = self.script_len() - 1;
        Some(match self.spec.protocol {
            Protocol::Tcp => match step {
                0 | 2 => true,
                1 => false,
                n if n == last - 2 || n == last => true,
                n if n == last - 1 => false,
                n => (n - 3) % 2 == 0,
            },
            Protocol::Udp | Protocol::Icmp => step & 1 == 0,
        })
    }

    pub fn is_done(&self) -> bool {
        self.step >= self.script_len()
    }

    /// Packets in the whole script.
    pub fn script_len(&self) -> usize {
        let exchanges = self.spec.exchanges.max(1);
        match self.spec.protocol {
            // SYN, SYN-ACK, ACK, data both ways, FIN, FIN, ACK.
            Protocol::Tcp => 3 + 2 * exchanges + 3,
            Protocol::Udp | Protocol::Icmp => 2 * exchanges,
        }
    }

    pub fn options(&self) -> Vec<GeneveOption> {
        let mut options = GwlbMeta {
            endpoint_id: self.spec.endpoint_id,
            attachment_id: self.spec.attachment_id,
            flow_cookie: self.spec.cookie,
        }
        .options();
        if self.spec.unknown_option {
            options.push(unknown_option(self.spec.cookie));
        }
        options
    }

    /// Builds the next packet of the script, with `tag` at the start of its payload and a
    /// size drawn from `sizes` for data packets. `None` when the script is finished.
    pub fn next_packet(
        &mut self,
        tag: [u8; TAG_LEN],
        sizes: &SizePlan,
        rng: &mut Rng,
    ) -> Result<Option<FlowPacket>, BuildError> {
        if self.is_done() {
            return Ok(None);
        }
        let step = self.step;
        let last = self.script_len() - 1;
        let ipv6 = self.spec.client.is_ipv6();
        let (c, s) = (self.spec.client_port, self.spec.server_port);
        let (from_client, l4, data_size) = match self.spec.protocol {
            Protocol::Tcp => {
                let (from_client, flags, data) = match step {
                    0 => (true, TCP_SYN, false),
                    1 => (false, TCP_SYN | TCP_ACK, false),
                    2 => (true, TCP_ACK, false),
                    n if n == last - 2 => (true, TCP_FIN | TCP_ACK, false),
                    n if n == last - 1 => (false, TCP_FIN | TCP_ACK, false),
                    n if n == last => (true, TCP_ACK, false),
                    n => ((n - 3) % 2 == 0, TCP_PSH | TCP_ACK, true),
                };
                let (src_port, dst_port, seq, ack) = if from_client {
                    (c, s, self.client_next, self.server_next)
                } else {
                    (s, c, self.server_next, self.client_next)
                };
                let ack = if flags & TCP_ACK != 0 { ack } else { 0 };
                (
                    from_client,
                    L4::Tcp {
                        src_port,
                        dst_port,
                        seq,
                        ack,
                        flags,
                    },
                    data,
                )
            }
            Protocol::Udp => {
                let from_client = step & 1 == 0;
                let l4 = if from_client {
                    L4::Udp {
                        src_port: c,
                        dst_port: s,
                    }
                } else {
                    L4::Udp {
                        src_port: s,
                        dst_port: c,
                    }
                };
                (from_client, l4, true)
            }
            Protocol::Icmp => {
                let request = step & 1 == 0;
                // The echo identifier plays the role of the client port.
                (
                    request,
                    L4::Echo {
                        request,
                        ident: c,
                        seq: (step / 2) as u16,
                    },
                    true,
                )
            }
        };
        let headers = inner_headers_len(ipv6, &l4);
        let minimum = (headers + TAG_LEN).max(MIN_INNER);
        let size = match (self.spec.protocol, data_size) {
            (_, false) => minimum,
            // An echo reply has the size of its request.
            (Protocol::Icmp, true) if !from_client => self.echo_size,
            _ => sizes.pick(rng).max(minimum),
        };
        self.echo_size = size;
        let mut payload = Vec::with_capacity(size - headers);
        payload.extend_from_slice(&tag);
        let fill = tag[5];
        payload.extend((0..size - headers - TAG_LEN).map(|i| fill.wrapping_add(i as u8)));
        if let L4::Tcp { flags, .. } = l4 {
            let consumed = payload.len() as u32
                + u32::from(flags & TCP_SYN != 0)
                + u32::from(flags & TCP_FIN != 0);
            let next = if from_client {
                &mut self.client_next
            } else {
                &mut self.server_next
            };
            *next = next.wrapping_add(consumed);
        }
        let (src, dst) = if from_client {
            (self.spec.client, self.spec.server)
        } else {
            (self.spec.server, self.spec.client)
        };
        let flow_label = u32::from(self.spec.client_port) ^ (self.spec.cookie & 0xf_ffff);
        let inner = wire::inner_packet(src, dst, &l4, &payload, rng.next() as u16, flow_label)?;
        self.step += 1;
        Ok(Some(FlowPacket {
            inner,
            from_client,
            l4,
        }))
    }
}

/// Addressing of the tunnel and what the traffic should contain.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    pub gwlb_mac: [u8; 6],
    pub appliance_mac: [u8; 6],
    /// Outer source address written into frames (the GWLB address, or a spoofed one).
    pub outer_src: Ipv4Addr,
    pub appliance_ip: Ipv4Addr,
    pub endpoints: usize,
    pub flows: usize,
    pub sizes: SizePlan,
    pub families_v6: Vec<bool>,
    pub protocols: Vec<Protocol>,
    /// Every n-th flow carries an extra unknown GENEVE option (0 = never).
    pub unknown_option_every: usize,
    pub run_nonce: u16,
    pub seed: u64,
}

/// One frame handed to the wire.
#[derive(Debug, Clone)]
pub struct SentFrame {
    pub seq: u32,
    pub frame: Vec<u8>,
    pub endpoint: usize,
    pub inner_len: usize,
}

/// Endpoint ID of endpoint number `index` (printed as vpce-0...).
pub fn endpoint_id(index: usize) -> u64 {
    0x1a2b_3c4d_5e6f_0000 + index as u64
}

/// Attachment ID of an endpoint: 0 for even endpoints, a value for odd ones.
pub fn attachment_id(index: usize) -> u64 {
    if index & 1 == 0 {
        0
    } else {
        0x0fed_cba9_8765_0000 + index as u64
    }
}

/// Produces GWLB frames round-robin over `flows` concurrent flow instances; a finished flow
/// is replaced by a new instance (a third of the time on the same 5-tuple, with a new cookie).
pub struct Generator {
    cfg: TrafficConfig,
    rng: Rng,
    flows: Vec<(usize, Flow)>,
    cursor: usize,
    next_seq: u32,
    instances: usize,
    /// Per slot: sequence number, direction and send time of its latest packet.
    last: Vec<Option<(u32, bool, Instant)>>,
    /// Flow instances that reused a previous 5-tuple with a new cookie.
    pub reopened: u64,
}

impl Generator {
    pub fn new(cfg: TrafficConfig) -> Generator {
        let mut rng = Rng::new(cfg.seed);
        let mut generator = Generator {
            flows: Vec::with_capacity(cfg.flows),
            cfg,
            rng: rng.clone(),
            cursor: 0,
            next_seq: 0,
            instances: 0,
            last: Vec::new(),
            reopened: 0,
        };
        for slot in 0..generator.cfg.flows.max(1) {
            let (endpoint, spec) = generator.fresh_spec(slot);
            let flow = Flow::new(spec, &mut rng);
            generator.flows.push((endpoint, flow));
        }
        generator.rng = rng;
        generator.last = vec![None; generator.flows.len()];
        generator
    }

    /// A new flow instance for `slot` and the index of its endpoint. Endpoints rotate per
    /// instance, so every endpoint gets traffic even with fewer flows than endpoints.
    fn fresh_spec(&mut self, slot: usize) -> (usize, FlowSpec) {
        let instance = self.instances;
        self.instances += 1;
        let endpoint = instance % self.cfg.endpoints.max(1);
        let ipv6 = self.cfg.families_v6[instance % self.cfg.families_v6.len()];
        let protocol =
            self.cfg.protocols[(instance / self.cfg.families_v6.len()) % self.cfg.protocols.len()];
        let host = self.rng.below(65_000) as u16 + 1;
        let (client, server) = if ipv6 {
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, host)),
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    2,
                    0,
                    0,
                    0,
                    0,
                    (slot % 200) as u16 + 1,
                )),
            )
        } else {
            let [hi, lo] = host.to_be_bytes();
            (
                IpAddr::V4(Ipv4Addr::new(10, 1, hi, lo)),
                IpAddr::V4(Ipv4Addr::new(10, 2, 11, (slot % 200) as u8 + 1)),
            )
        };
        let server_port = match protocol {
            Protocol::Tcp => [443, 80, 22, 8443][instance % 4],
            Protocol::Udp => [53, 123, 51820, 51821][instance % 4],
            Protocol::Icmp => 0,
        };
        let outer_port_forward = self.rng.port();
        // GWLB may use a different outer port for the other direction: do so for half the flows.
        let outer_port_reverse = if self.rng.below(2) == 0 {
            outer_port_forward
        } else {
            self.rng.port()
        };
        let every = self.cfg.unknown_option_every;
        let spec = FlowSpec {
            endpoint_id: endpoint_id(endpoint),
            attachment_id: attachment_id(endpoint),
            cookie: self.rng.next() as u32,
            protocol,
            client,
            server,
            client_port: self.rng.port(),
            server_port,
            outer_port_forward,
            outer_port_reverse,
            exchanges: 1 + self.rng.below(4) as usize,
            unknown_option: every > 0 && instance % every == every - 1,
        };
        (endpoint, spec)
    }

    /// Builds the next frame, ignoring causality (every flow is always ready).
    pub fn next_frame(&mut self) -> Result<SentFrame, BuildError> {
        let frame = self.next_ready_frame(|_| true, Duration::ZERO)?;
        Ok(frame.expect("with every flow ready one is always picked"))
    }

    /// Builds the next frame of the first flow (round robin) that may send now, or `None`.
    /// A packet that turns the direction of its flow, or starts a new instance on its slot,
    /// waits until `returned(seq)` says the slot's previous packet came back through the
    /// appliance (or `wait_limit` passed): a server cannot answer a SYN it never received,
    /// and a stateful firewall rightly drops a SYN-ACK that overtakes its SYN.
    pub fn next_ready_frame(
        &mut self,
        returned: impl Fn(u32) -> bool,
        wait_limit: Duration,
    ) -> Result<Option<SentFrame>, BuildError> {
        let n = self.flows.len();
        for i in 0..n {
            let slot = (self.cursor + i) % n;
            if let Some((seq, from_client, sent_at)) = self.last[slot] {
                let turns = self.flows[slot].1.next_from_client() != Some(from_client);
                if turns && sent_at.elapsed() < wait_limit && !returned(seq) {
                    continue;
                }
            }
            self.cursor = (slot + 1) % n;
            return self.build_from(slot).map(Some);
        }
        Ok(None)
    }

    fn build_from(&mut self, slot: usize) -> Result<SentFrame, BuildError> {
        if self.flows[slot].1.is_done() {
            let old = self.flows[slot].1.spec.clone();
            let (mut endpoint, mut spec) = self.fresh_spec(slot);
            if self.rng.below(3) == 0 {
                endpoint = self.flows[slot].0;
                // Same 5-tuple, same endpoint, new flow instance: GWLB gives it a new cookie.
                spec = FlowSpec {
                    cookie: spec.cookie,
                    outer_port_forward: spec.outer_port_forward,
                    outer_port_reverse: spec.outer_port_reverse,
                    unknown_option: spec.unknown_option,
                    ..old.clone()
                };
                if spec.cookie == old.cookie {
                    spec.cookie = spec.cookie.wrapping_add(1);
                }
                self.reopened += 1;
            }
            self.flows[slot] = (endpoint, Flow::new(spec, &mut self.rng));
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let tag = make_tag(self.cfg.run_nonce, seq);
        let (endpoint, flow) = &mut self.flows[slot];
        let endpoint = *endpoint;
        let options = flow.options();
        let spec = flow.spec.clone();
        let packet = flow
            .next_packet(tag, &self.cfg.sizes, &mut self.rng)?
            .expect("a replaced flow has packets left");
        let outer = Outer {
            src_mac: self.cfg.gwlb_mac,
            dst_mac: self.cfg.appliance_mac,
            src_ip: self.cfg.outer_src,
            dst_ip: self.cfg.appliance_ip,
            ip_id: seq as u16,
            ttl: 255,
            udp_src_port: if packet.from_client {
                spec.outer_port_forward
            } else {
                spec.outer_port_reverse
            },
            udp_dst_port: wire::GENEVE_PORT,
        };
        let inner_len = packet.inner.len();
        let frame = wire::encapsulate(&outer, &options, &packet.inner)?;
        self.last[slot] = Some((seq, packet.from_client, Instant::now()));
        Ok(SentFrame {
            seq,
            frame,
            endpoint,
            inner_len,
        })
    }
}

pub fn make_tag(run_nonce: u16, seq: u32) -> [u8; TAG_LEN] {
    let mut tag = [0u8; TAG_LEN];
    tag[..2].copy_from_slice(&run_nonce.to_be_bytes());
    tag[2..].copy_from_slice(&seq.to_be_bytes());
    tag
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn neighbouring_seeds_give_different_runs() {
        for seed in [0u64, 2, 1 << 40, u64::MAX - 1] {
            let (mut a, mut b) = (Rng::new(seed), Rng::new(seed + 1));
            let (xa, xb): (Vec<u64>, Vec<u64>) = (0..4).map(|_| (a.next(), b.next())).unzip();
            assert_ne!(xa, xb, "seeds {seed} and {}", seed + 1);
        }
    }

    use super::*;
    use crate::checksum;
    use crate::verify::{read_tag, Layout};

    fn config(v6: Vec<bool>, protocols: Vec<Protocol>) -> TrafficConfig {
        TrafficConfig {
            gwlb_mac: [2, 0, 0, 0, 0, 0x60],
            appliance_mac: [2, 0, 0, 0, 0, 1],
            outer_src: Ipv4Addr::new(10, 254, 11, 60),
            appliance_ip: Ipv4Addr::new(10, 254, 11, 101),
            endpoints: 3,
            flows: 8,
            sizes: SizePlan::parse("min,imix,1500,8500").unwrap(),
            families_v6: v6,
            protocols,
            unknown_option_every: 4,
            run_nonce: 0xbeef,
            seed: 7,
        }
    }

    #[test]
    fn size_plan_parsing() {
        assert_eq!(SizePlan::parse("min").unwrap().choices, vec![(46, 1)]);
        assert_eq!(SizePlan::parse("imix").unwrap().choices.len(), 3);
        assert_eq!(
            SizePlan::parse("100, 8500").unwrap().choices,
            vec![(100, 1), (8500, 1)]
        );
        assert!(SizePlan::parse("8501").is_err());
        assert!(SizePlan::parse("45").is_err());
        assert!(SizePlan::parse("big").is_err());
        assert!(SizePlan::parse("").is_err());
    }

    #[test]
    fn tcp_script_has_handshake_data_and_fin_with_coherent_numbers() {
        let mut rng = Rng::new(1);
        let spec = FlowSpec {
            endpoint_id: 1,
            attachment_id: 0,
            cookie: 5,
            protocol: Protocol::Tcp,
            client: "10.1.0.1".parse().unwrap(),
            server: "10.2.0.1".parse().unwrap(),
            client_port: 40000,
            server_port: 443,
            outer_port_forward: 1111,
            outer_port_reverse: 2222,
            exchanges: 2,
            unknown_option: false,
        };
        let mut flow = Flow::new(spec, &mut rng);
        let sizes = SizePlan::parse("100").unwrap();
        let mut packets = Vec::new();
        while let Some(p) = flow.next_packet([0; TAG_LEN], &sizes, &mut rng).unwrap() {
            packets.push(p);
        }
        let flags: Vec<(bool, u8)> = packets
            .iter()
            .map(|p| match p.l4 {
                L4::Tcp { flags, .. } => (p.from_client, flags),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                (true, TCP_SYN),
                (false, TCP_SYN | TCP_ACK),
                (true, TCP_ACK),
                (true, TCP_PSH | TCP_ACK),
                (false, TCP_PSH | TCP_ACK),
                (true, TCP_PSH | TCP_ACK),
                (false, TCP_PSH | TCP_ACK),
                (true, TCP_FIN | TCP_ACK),
                (false, TCP_FIN | TCP_ACK),
                (true, TCP_ACK),
            ]
        );
        // Every packet acknowledges exactly what the other side has sent so far.
        let mut sent_end = [0u32; 2];
        for p in &packets {
            if let L4::Tcp {
                seq, ack, flags, ..
            } = p.l4
            {
                let me = usize::from(!p.from_client);
                if flags & TCP_SYN == 0 {
                    assert_eq!(seq, sent_end[me], "sequence continues");
                    assert_eq!(ack, sent_end[1 - me], "ack covers the peer's data");
                } else if flags & TCP_ACK != 0 {
                    assert_eq!(ack, sent_end[1 - me]);
                }
                let len = p.inner.len() as u32 - 40;
                sent_end[me] =
                    seq + len + u32::from(flags & TCP_SYN != 0) + u32::from(flags & TCP_FIN != 0);
            }
        }
        assert_eq!(packets[3].inner.len(), 100);
        let mut replay = Flow::new(flow.spec.clone(), &mut rng);
        for p in &packets {
            assert_eq!(replay.next_from_client(), Some(p.from_client));
            replay.next_packet([0; TAG_LEN], &sizes, &mut rng).unwrap();
        }
        assert_eq!(replay.next_from_client(), None);
        assert_eq!(packets[0].inner.len(), 46);
    }

    #[test]
    fn answers_wait_for_their_request_to_return() {
        let mut cfg = config(vec![false], vec![Protocol::Tcp]);
        cfg.flows = 2;
        let mut generator = Generator::new(cfg);
        let never = |_: u32| false;
        let long = Duration::from_secs(60);
        // Both SYNs go out; the SYN-ACKs must wait for them.
        let a = generator.next_ready_frame(never, long).unwrap().unwrap();
        let b = generator.next_ready_frame(never, long).unwrap().unwrap();
        assert_eq!((a.seq, b.seq), (0, 1));
        assert!(generator.next_ready_frame(never, long).unwrap().is_none());
        // Once SYN 1 is back, its flow's SYN-ACK may go (flow 0 still waits).
        let c = generator
            .next_ready_frame(|s| s == 1, long)
            .unwrap()
            .unwrap();
        let flags = |f: &SentFrame| f.frame[Layout::parse(&f.frame).unwrap().inner_start + 33];
        assert_eq!(flags(&c), TCP_SYN | TCP_ACK);
        assert!(generator
            .next_ready_frame(|s| s == 1, long)
            .unwrap()
            .is_none());
        // A lost request stops blocking after the wait limit.
        std::thread::sleep(Duration::from_millis(5));
        assert!(generator
            .next_ready_frame(never, Duration::from_millis(1))
            .unwrap()
            .is_some());
    }

    #[test]
    fn midstream_flow_starts_with_data() {
        let mut rng = Rng::new(2);
        let spec = FlowSpec {
            endpoint_id: 1,
            attachment_id: 0,
            cookie: 5,
            protocol: Protocol::Tcp,
            client: "10.1.0.1".parse().unwrap(),
            server: "10.2.0.1".parse().unwrap(),
            client_port: 40000,
            server_port: 443,
            outer_port_forward: 1111,
            outer_port_reverse: 2222,
            exchanges: 1,
            unknown_option: false,
        };
        let full = Flow::new(spec.clone(), &mut rng.clone());
        let mut flow = Flow::new(spec, &mut rng);
        flow.skip_handshake();
        let sizes = SizePlan::parse("min").unwrap();
        let first = flow
            .next_packet([0; TAG_LEN], &sizes, &mut rng)
            .unwrap()
            .unwrap();
        match first.l4 {
            L4::Tcp {
                seq, ack, flags, ..
            } => {
                assert_eq!(flags, TCP_PSH | TCP_ACK);
                assert!(first.from_client);
                // Numbering continues past a SYN and a SYN-ACK that this appliance never saw.
                assert_eq!(seq, full.client_next.wrapping_add(1));
                assert_eq!(ack, full.server_next.wrapping_add(1));
            }
            other => panic!("not TCP: {other:?}"),
        }
        let mut count = 1;
        while flow
            .next_packet([0; TAG_LEN], &sizes, &mut rng)
            .unwrap()
            .is_some()
        {
            count += 1;
        }
        assert_eq!(count, full.script_len() - 3);
    }

    #[test]
    fn generator_frames_are_valid_and_varied() {
        let mut generator = Generator::new(config(
            vec![false, true],
            vec![Protocol::Tcp, Protocol::Udp, Protocol::Icmp],
        ));
        let mut cookies_per_tuple =
            std::collections::HashMap::<Vec<u8>, std::collections::HashSet<u32>>::new();
        let mut endpoints = std::collections::HashSet::new();
        let mut ports = std::collections::HashSet::new();
        let mut max_inner = 0;
        let mut unknown = 0;
        for expected_seq in 0..3000u32 {
            let sent = generator.next_frame().unwrap();
            assert_eq!(sent.seq, expected_seq);
            let f = &sent.frame;
            assert_eq!(read_tag(f), Some((0xbeef, expected_seq)));
            assert!(checksum::verifies(&f[14..34]));
            let layout = Layout::parse(f).unwrap();
            if layout.inner_start - layout.options_start > 32 {
                unknown += 1;
            }
            let inner = &f[layout.inner_start..];
            assert_eq!(inner.len(), sent.inner_len);
            max_inner = max_inner.max(inner.len());
            endpoints.insert(f[54..62].to_vec());
            ports.insert(u16::from_be_bytes([f[34], f[35]]));
            let cookie = u32::from_be_bytes([f[78], f[79], f[80], f[81]]);
            let v6 = inner[0] >> 4 == 6;
            let (addrs, l4) = if v6 {
                (&inner[8..40], &inner[40..])
            } else {
                (&inner[12..20], &inner[20..])
            };
            let mut key = addrs.to_vec();
            key.extend_from_slice(&l4[..4]);
            cookies_per_tuple.entry(key).or_default().insert(cookie);
        }
        assert_eq!(endpoints.len(), 3);
        let mut few = config(vec![false], vec![Protocol::Udp]);
        few.flows = 1;
        let mut generator = Generator::new(few);
        let reached: std::collections::HashSet<usize> = (0..200)
            .map(|_| generator.next_frame().unwrap().endpoint)
            .collect();
        assert_eq!(
            reached.len(),
            3,
            "one flow slot still rotates over every endpoint"
        );
        assert!(ports.len() > 50, "many outer source ports");
        assert_eq!(max_inner, 8500);
        assert!(unknown > 0);
        assert!(generator.reopened > 0);
        assert!(
            cookies_per_tuple.values().any(|c| c.len() > 1),
            "a reused 5-tuple got a new cookie"
        );
    }
}
