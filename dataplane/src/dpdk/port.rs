//! Ethernet ports: lookup, capabilities, configuration, queues, statistics.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tollgate_ffi as ffi;
use tollgate_shm::PortCounters;

use super::eal::ensure_running;
use super::error::{check, DpdkError};
use super::ids::{PortId, QueueId, SocketId};
use super::mempool::Mempool;
use super::offload;
use super::queue::{RxQueue, TxQueue};

/// What a device can do, from `rte_eth_dev_info_get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// PMD name, e.g. `net_af_packet`.
    pub driver_name: String,
    /// Most RX queues the device offers.
    pub max_rx_queues: u16,
    /// Most TX queues the device offers.
    pub max_tx_queues: u16,
    /// Smallest MTU.
    pub min_mtu: u16,
    /// Largest MTU ethdev accepts, by its own rule: the driver's `max_mtu`
    /// when it set one, else `max_rx_pktlen` minus Ethernet header and CRC
    /// (net_af_packet: 1500, although it carries jumbo frames, see the docs).
    pub max_mtu: u16,
    /// `max_mtu` as the driver reported it (`u16::MAX` when it set none).
    pub driver_max_mtu: u16,
    /// Largest frame the device receives, in bytes.
    pub max_rx_pktlen: u32,
    /// RX offloads the port supports (`offload::RX_OFFLOAD_*`).
    pub rx_offload_capa: u64,
    /// TX offloads the port supports (`offload::TX_OFFLOAD_*`).
    pub tx_offload_capa: u64,
    /// RSS hash types the device can compute (`offload::RSS_*`); 0: no RSS.
    pub flow_type_rss_offloads: u64,
    /// RSS redirection table size.
    pub reta_size: u16,
    /// Most RX descriptors per queue.
    pub rx_desc_max: u16,
    /// Most TX descriptors per queue.
    pub tx_desc_max: u16,
}

impl PortInfo {
    /// True when the device can spread flows over queues by hash.
    pub fn supports_rss(&self) -> bool {
        self.flow_type_rss_offloads != 0
    }
}

/// How to configure a port. Offload masks are `offload::*_OFFLOAD_*` bits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortConfig {
    /// RX queues (one per worker).
    pub rx_queues: u16,
    /// TX queues (one per worker).
    pub tx_queues: u16,
    /// Spread flows over RX queues by IP/UDP/TCP hash. With more than one RX
    /// queue the device must support RSS; with one it is ignored if not.
    pub rss: bool,
    /// MTU to configure, checked against the driver's range; `None` keeps
    /// the device's current MTU, clamped to that range.
    pub mtu: Option<u16>,
    /// RX offloads to enable.
    pub rx_offloads: u64,
    /// TX offloads to enable.
    pub tx_offloads: u64,
}

/// Link state, from `rte_eth_link_get_nowait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Carrier present.
    pub up: bool,
    /// Speed in Mbit/s; `None` when the driver does not know.
    pub speed_mbps: Option<u32>,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Extended statistics: names fetched once, values refreshed in place by
/// [`Port::read_xstats`] without allocating (unless the driver adds counters).
#[derive(Debug, Clone, Default)]
pub struct Xstats {
    names: Vec<String>,
    raw: Vec<ffi::rte_eth_xstat>,
    values: Vec<u64>,
}

impl Xstats {
    /// Counter names, index-aligned with `values`.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Counter values from the last read.
    pub fn values(&self) -> &[u64] {
        &self.values
    }

    /// (name, value) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().copied())
    }

    /// The value of one counter by name.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Ports with a live [`Port`] handle in this process. Two handles on one port
/// could hand out the same queue twice, and DPDK queues are single-owner.
static PORT_CLAIMED: [AtomicBool; ffi::RTE_MAX_ETHPORTS as usize] =
    [const { AtomicBool::new(false) }; ffi::RTE_MAX_ETHPORTS as usize];

/// One ethdev port, at most one handle per port in the process. Queue
/// handles come from [`Port::queue_pair`] after setup.
///
/// `stop` and `close` refuse while any queue handle is alive (a worker
/// may still poll it). Each RX queue keeps its [`Mempool`] alive (through an `Arc`) while the
/// port or the queue's handle may still use it.
#[derive(Debug)]
pub struct Port {
    id: PortId,
    name: String,
    rx_queues: u16,
    tx_queues: u16,
    rx_pools: Vec<Option<Arc<Mempool>>>,
    tx_ready: Vec<bool>,
    handed_out: Vec<bool>,
    started: bool,
    /// Cloned into every queue handle: while its count is above 1, some
    /// worker may still poll, so `stop` and `close` refuse.
    queue_handles: Arc<()>,
    /// ethdev control calls are not thread-safe: one thread drives a port.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

impl Port {
    /// Finds a port by device name (a vdev name such as `net_ring0` or a PCI
    /// address). The error lists the ports that do exist.
    pub fn by_name(name: &str) -> Result<Port, DpdkError> {
        ensure_running("rte_eth_dev_get_port_by_name")?;
        let c_name = CString::new(name).map_err(|_| DpdkError::InvalidArgument {
            op: "rte_eth_dev_get_port_by_name".into(),
            reason: format!("device name {name:?} contains a NUL byte"),
        })?;
        let mut id: u16 = 0;
        // SAFETY: c_name is a valid C string; id is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if ret < 0 {
            return Err(DpdkError::PortNotFound {
                name: name.to_owned(),
                existing: Self::all_names(),
            });
        }
        Self::claim(PortId(id), name.to_owned())
    }

    /// Opens a port by number.
    pub fn by_id(id: PortId) -> Result<Port, DpdkError> {
        ensure_running("rte_eth_dev_get_name_by_port")?;
        let name = name_of(id).ok_or_else(|| DpdkError::PortNotFound {
            name: id.to_string(),
            existing: Self::all_names(),
        })?;
        Self::claim(id, name)
    }

    /// Names of every port EAL knows.
    pub fn all_names() -> Vec<String> {
        let mut names = Vec::new();
        let mut p: u16 = 0;
        loop {
            // SAFETY: plain lookup over the ethdev table; returns
            // RTE_MAX_ETHPORTS when there is no further port.
            p = unsafe { ffi::rte_eth_find_next(p) };
            if u32::from(p) >= ffi::RTE_MAX_ETHPORTS {
                break;
            }
            if let Some(n) = name_of(PortId(p)) {
                names.push(n);
            }
            p += 1;
        }
        names
    }

    fn claim(id: PortId, name: String) -> Result<Port, DpdkError> {
        let slot = PORT_CLAIMED
            .get(usize::from(id.0))
            .ok_or_else(|| DpdkError::PortNotFound {
                name: name.clone(),
                existing: Self::all_names(),
            })?;
        if slot.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::Unsupported {
                port: name,
                reason: "is already open in this process (one Port handle per port)".into(),
            });
        }
        Ok(Port {
            id,
            name,
            rx_queues: 0,
            tx_queues: 0,
            rx_pools: Vec::new(),
            tx_ready: Vec::new(),
            handed_out: Vec::new(),
            started: false,
            queue_handles: Arc::new(()),
            _not_sync: std::marker::PhantomData,
        })
    }

    /// The port number.
    pub fn id(&self) -> PortId {
        self.id
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn op(&self, call: &str) -> String {
        format!("{call}(port {} {})", self.id.0, self.name)
    }

    /// The socket the device is attached to (`ANY` for virtual devices).
    pub fn socket(&self) -> SocketId {
        // SAFETY: plain getter; an invalid port yields -1.
        let s = unsafe { ffi::rte_eth_dev_socket_id(self.id.0) };
        if s < 0 {
            SocketId::ANY
        } else {
            SocketId(s)
        }
    }

    /// The device's capabilities.
    pub fn info(&self) -> Result<PortInfo, DpdkError> {
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: info is a valid, zeroed out struct the call fills.
        let ret = unsafe { ffi::rte_eth_dev_info_get(self.id.0, &mut info) };
        check(|| self.op("rte_eth_dev_info_get"), ret)?;
        let driver_name = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static C string owned by the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(PortInfo {
            driver_name,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            min_mtu: info.min_mtu,
            max_mtu: effective_max_mtu(info.max_mtu, info.max_rx_pktlen),
            driver_max_mtu: info.max_mtu,
            max_rx_pktlen: info.max_rx_pktlen,
            rx_offload_capa: info.rx_offload_capa,
            tx_offload_capa: info.tx_offload_capa,
            flow_type_rss_offloads: info.flow_type_rss_offloads,
            reta_size: info.reta_size,
            rx_desc_max: info.rx_desc_lim.nb_max,
            tx_desc_max: info.tx_desc_lim.nb_max,
        })
    }

    /// Checks `cfg` against the device's capabilities, then configures it.
    /// The port must be stopped; queues must be set up again afterwards.
    pub fn configure(&mut self, cfg: &PortConfig) -> Result<(), DpdkError> {
        let info = self.info()?;
        self.validate(cfg, &info)?;
        let mut conf = ffi::rte_eth_conf::default();
        conf.rxmode.offloads = cfg.rx_offloads;
        conf.txmode.offloads = cfg.tx_offloads;
        conf.rxmode.mtu = u32::from(match cfg.mtu {
            Some(mtu) => mtu,
            // ethdev would otherwise take the device's current MTU, which
            // net_af_packet copies from a jumbo interface (9001) and then
            // refuses (max 1500); it still moves jumbo frames when its ring
            // frames and the mbufs are big enough.
            None => self
                .mtu()?
                .clamp(info.min_mtu, info.max_mtu.max(info.min_mtu)),
        });
        // A single queue needs no RSS; a device without it keeps MQ_RX_NONE
        // (validate refused RSS over several queues on such a device).
        if cfg.rss && info.supports_rss() {
            conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf =
                (offload::RSS_IP | offload::RSS_UDP | offload::RSS_TCP)
                    & info.flow_type_rss_offloads;
        } else {
            conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_NONE;
        }
        // SAFETY: conf is a fully initialised configuration (zeroed, then
        // set); DPDK copies it.
        let ret =
            unsafe { ffi::rte_eth_dev_configure(self.id.0, cfg.rx_queues, cfg.tx_queues, &conf) };
        check(|| self.op("rte_eth_dev_configure"), ret)?;
        self.rx_queues = cfg.rx_queues;
        self.tx_queues = cfg.tx_queues;
        self.rx_pools = vec![None; usize::from(cfg.rx_queues)];
        self.tx_ready = vec![false; usize::from(cfg.tx_queues)];
        self.handed_out = vec![false; usize::from(cfg.rx_queues.min(cfg.tx_queues))];

        Ok(())
    }

    fn validate(&self, cfg: &PortConfig, info: &PortInfo) -> Result<(), DpdkError> {
        let unsupported = |reason: String| DpdkError::Unsupported {
            port: self.name.clone(),
            reason,
        };
        if self.started {
            return Err(unsupported("is started; stop it before configuring".into()));
        }
        if self.handed_out.iter().any(|&h| h) {
            return Err(unsupported(
                "has queue handles out; it cannot be reconfigured under them".into(),
            ));
        }
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
            return Err(unsupported(format!(
                "needs at least one rx and one tx queue ({} rx, {} tx requested)",
                cfg.rx_queues, cfg.tx_queues
            )));
        }
        for (dir, available, wanted) in [
            ("rx", info.max_rx_queues, cfg.rx_queues),
            ("tx", info.max_tx_queues, cfg.tx_queues),
        ] {
            if wanted > available {
                return Err(DpdkError::TooManyQueues {
                    port: self.name.clone(),
                    dir,
                    available,
                    wanted,
                });
            }
        }
        if let Some(mtu) = cfg.mtu {
            if mtu > info.max_mtu || mtu < info.min_mtu {
                return Err(unsupported(format!(
                    "MTU {mtu} requested, driver {} accepts {}..={} (max frame {} bytes)",
                    info.driver_name, info.min_mtu, info.max_mtu, info.max_rx_pktlen
                )));
            }
        }
        if cfg.rss && cfg.rx_queues > 1 && !info.supports_rss() {
            return Err(unsupported(format!(
                "RSS requested but driver {} offers no RSS hash types",
                info.driver_name
            )));
        }
        let missing_rx = cfg.rx_offloads & !info.rx_offload_capa;
        if missing_rx != 0 {
            return Err(unsupported(format!(
                "RX offloads not supported: {}",
                offload_names(missing_rx, ffi::rte_eth_dev_rx_offload_name)
            )));
        }
        let missing_tx = cfg.tx_offloads & !info.tx_offload_capa;
        if missing_tx != 0 {
            return Err(unsupported(format!(
                "TX offloads not supported: {}",
                offload_names(missing_tx, ffi::rte_eth_dev_tx_offload_name)
            )));
        }
        Ok(())
    }

    fn check_queue(&self, q: QueueId, configured: u16) -> Result<(), DpdkError> {
        if q.0 >= configured {
            return Err(DpdkError::Queue {
                port: self.name.clone(),
                queue: q.0,
                reason: "beyond the queues configured (call configure first)",
            });
        }
        Ok(())
    }

    /// Sets up RX queue `q` with `descs` descriptors, receiving into `pool`
    /// (kept alive by the port and by the queue's handle).
    pub fn setup_rx_queue(
        &mut self,
        q: QueueId,
        descs: u16,
        pool: &Arc<Mempool>,
    ) -> Result<(), DpdkError> {
        self.check_queue(q, self.rx_queues)?;
        let socket = self.socket();
        // SAFETY: the port is configured with more than q RX queues; a NULL
        // rxconf selects the driver defaults plus the port offloads; the
        // pool stays alive: the port keeps an Arc to it from here on.
        let ret = unsafe {
            ffi::rte_eth_rx_queue_setup(
                self.id.0,
                q.0,
                descs,
                socket.0 as u32,
                std::ptr::null(),
                pool.as_ptr(),
            )
        };
        check(
            || {
                format!(
                    "rte_eth_rx_queue_setup(port {} {}, queue {})",
                    self.id.0, self.name, q.0
                )
            },
            ret,
        )?;
        self.rx_pools[usize::from(q.0)] = Some(Arc::clone(pool));
        Ok(())
    }

    /// Sets up TX queue `q` with `descs` descriptors.
    pub fn setup_tx_queue(&mut self, q: QueueId, descs: u16) -> Result<(), DpdkError> {
        self.check_queue(q, self.tx_queues)?;
        let socket = self.socket();
        // SAFETY: the port is configured with more than q TX queues; a NULL
        // txconf selects the driver defaults plus the port offloads.
        let ret = unsafe {
            ffi::rte_eth_tx_queue_setup(self.id.0, q.0, descs, socket.0 as u32, std::ptr::null())
        };
        check(
            || {
                format!(
                    "rte_eth_tx_queue_setup(port {} {}, queue {})",
                    self.id.0, self.name, q.0
                )
            },
            ret,
        )?;
        self.tx_ready[usize::from(q.0)] = true;
        Ok(())
    }

    /// Starts the port; every configured queue must have been set up.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        // SAFETY: plain ethdev call on a valid port id.
        let ret = unsafe { ffi::rte_eth_dev_start(self.id.0) };
        check(|| self.op("rte_eth_dev_start"), ret)?;
        self.started = true;
        Ok(())
    }

    fn ensure_no_queue_handles(&self) -> Result<(), DpdkError> {
        let live = Arc::strong_count(&self.queue_handles) - 1;
        if live > 0 {
            return Err(DpdkError::Unsupported {
                port: self.name.clone(),
                reason: format!(
                    "{live} queue handles are still alive; let the workers return \
                     (Eal::wait_all) and drop their queues first"
                ),
            });
        }
        Ok(())
    }

    /// Stops the port. Every queue handle must have been dropped (the
    /// workers returned), so nothing polls a stopped queue.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        self.ensure_no_queue_handles()?;
        // SAFETY: plain ethdev call on a valid port id; no queue handle
        // exists, so no worker polls the queues (checked above).
        let ret = unsafe { ffi::rte_eth_dev_stop(self.id.0) };
        check(|| self.op("rte_eth_dev_stop"), ret)?;
        self.started = false;
        Ok(())
    }

    /// Stops (if needed) and closes the port, releasing its queues and the
    /// mbufs they held.
    pub fn close(mut self) -> Result<(), DpdkError> {
        self.ensure_no_queue_handles()?;
        if self.started {
            self.stop()?;
        }
        // SAFETY: the port is stopped, no queue handle exists (checked) and
        // this handle is consumed, so no one calls into it afterwards.
        let ret = unsafe { ffi::rte_eth_dev_close(self.id.0) };
        check(|| self.op("rte_eth_dev_close"), ret)?;
        // The device is gone; its id stays claimed so that queue handles
        // still held somewhere can never alias a new handle's queues.
        self.handed_out.iter_mut().for_each(|h| *h = true);
        Ok(())
    }

    /// The RX/TX handles of queue pair `q`, handed out at most once.
    pub fn queue_pair(&mut self, q: QueueId) -> Result<(RxQueue, TxQueue), DpdkError> {
        let i = usize::from(q.0);
        let err = |reason| DpdkError::Queue {
            port: self.name.clone(),
            queue: q.0,
            reason,
        };
        if i >= self.handed_out.len() {
            return Err(err("beyond the queue pairs configured"));
        }
        let (Some(pool), true) = (&self.rx_pools[i], self.tx_ready[i]) else {
            return Err(err("rx and tx queue must both be set up first"));
        };
        if self.handed_out[i] {
            return Err(err("queue pair already handed out"));
        }
        self.handed_out[i] = true;
        Ok((
            RxQueue::new(
                self.id,
                q,
                Arc::clone(pool),
                Arc::clone(&self.queue_handles),
            ),
            TxQueue::new(self.id, q, Arc::clone(&self.queue_handles)),
        ))
    }

    /// The port's MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6], DpdkError> {
        let mut mac = ffi::rte_ether_addr::default();
        // SAFETY: mac is a valid out struct.
        let ret = unsafe { ffi::rte_eth_macaddr_get(self.id.0, &mut mac) };
        check(|| self.op("rte_eth_macaddr_get"), ret)?;
        Ok(mac.addr_bytes)
    }

    /// Link state without waiting for autonegotiation.
    pub fn link(&self) -> Result<Link, DpdkError> {
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: link is a valid out struct.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(self.id.0, &mut link) };
        check(|| self.op("rte_eth_link_get_nowait"), ret)?;
        Ok(Link {
            up: u32::from(link.link_status()) == ffi::RTE_ETH_LINK_UP,
            speed_mbps: match link.link_speed {
                ffi::RTE_ETH_SPEED_NUM_NONE | ffi::RTE_ETH_SPEED_NUM_UNKNOWN => None,
                s => Some(s),
            },
            full_duplex: u32::from(link.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// The current MTU.
    pub fn mtu(&self) -> Result<u16, DpdkError> {
        let mut mtu: u16 = 0;
        // SAFETY: mtu is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_dev_get_mtu(self.id.0, &mut mtu) };
        check(|| self.op("rte_eth_dev_get_mtu"), ret)?;
        Ok(mtu)
    }

    /// Changes the MTU.
    pub fn set_mtu(&mut self, mtu: u16) -> Result<(), DpdkError> {
        // SAFETY: plain ethdev call on a valid port id.
        let ret = unsafe { ffi::rte_eth_dev_set_mtu(self.id.0, mtu) };
        check(
            || {
                format!(
                    "rte_eth_dev_set_mtu(port {} {}, {mtu})",
                    self.id.0, self.name
                )
            },
            ret,
        )?;
        Ok(())
    }

    /// Turns promiscuous mode on or off.
    pub fn promiscuous(&mut self, enable: bool) -> Result<(), DpdkError> {
        // SAFETY: plain ethdev calls on a valid port id.
        let ret = unsafe {
            if enable {
                ffi::rte_eth_promiscuous_enable(self.id.0)
            } else {
                ffi::rte_eth_promiscuous_disable(self.id.0)
            }
        };
        check(|| self.op("rte_eth_promiscuous_enable/disable"), ret)?;
        Ok(())
    }

    /// Basic counters, from `rte_eth_stats_get`.
    pub fn stats(&self) -> Result<PortCounters, DpdkError> {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: s is a valid out struct.
        let ret = unsafe { ffi::rte_eth_stats_get(self.id.0, &mut s) };
        check(|| self.op("rte_eth_stats_get"), ret)?;
        Ok(PortCounters {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// An [`Xstats`] buffer with the current counter names and values.
    pub fn xstats(&self) -> Result<Xstats, DpdkError> {
        let mut x = Xstats::default();
        self.read_xstats(&mut x)?;
        Ok(x)
    }

    /// Refreshes `x` in place; allocates only when the counter set changed.
    pub fn read_xstats(&self, x: &mut Xstats) -> Result<(), DpdkError> {
        loop {
            let cap = u32::try_from(x.raw.len()).unwrap_or(u32::MAX);
            // SAFETY: raw has room for `cap` entries (0 means "just count").
            let ret = unsafe { ffi::rte_eth_xstats_get(self.id.0, x.raw.as_mut_ptr(), cap) };
            let n = check(|| self.op("rte_eth_xstats_get"), ret)? as usize;
            if n <= x.raw.len() && n == x.names.len() {
                x.raw.truncate(n);
                x.values.clear();
                x.values.extend(x.raw.iter().map(|s| s.value));
                return Ok(());
            }
            // The counter set is new or changed: fetch names and size buffers.
            let mut names = vec![ffi::rte_eth_xstat_name::default(); n];
            let cap = u32::try_from(n).unwrap_or(u32::MAX);
            // SAFETY: names has room for n entries.
            let ret = unsafe { ffi::rte_eth_xstats_get_names(self.id.0, names.as_mut_ptr(), cap) };
            let got = check(|| self.op("rte_eth_xstats_get_names"), ret)? as usize;
            names.truncate(got.min(n));
            x.names = names.iter().map(|n| c_array_to_string(&n.name)).collect();
            x.raw = vec![ffi::rte_eth_xstat::default(); x.names.len()];
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // Queue handles outlive the Port (workers own them); while any may
        // exist, a new Port on this id could hand out the same queues again.
        if !self.handed_out.iter().any(|&h| h) {
            PORT_CLAIMED[usize::from(self.id.0)].store(false, Ordering::Release);
        }
    }
}

/// ethdev's check (`eth_dev_get_overhead_len` in 22.11): the frame an MTU
/// makes must fit `max_rx_pktlen`, with 18 bytes of overhead unless the
/// driver's own `max_mtu` implies another.
fn effective_max_mtu(driver_max_mtu: u16, max_rx_pktlen: u32) -> u16 {
    const ETHER_OVERHEAD: u32 = 14 + 4;
    if driver_max_mtu != u16::MAX && u32::from(driver_max_mtu) < max_rx_pktlen {
        return driver_max_mtu;
    }
    let by_frame = max_rx_pktlen.saturating_sub(ETHER_OVERHEAD);
    driver_max_mtu.min(u16::try_from(by_frame).unwrap_or(u16::MAX))
}

fn name_of(id: PortId) -> Option<String> {
    let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, the size DPDK writes at most.
    let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id.0, buf.as_mut_ptr()) };
    (ret == 0).then(|| c_array_to_string(&buf))
}

fn c_array_to_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// DPDK's names for each set bit, e.g. "IPV4_CKSUM, RSS_HASH".
fn offload_names(mask: u64, name_of_bit: unsafe extern "C" fn(u64) -> *const c_char) -> String {
    (0..64)
        .map(|b| 1u64 << b)
        .filter(|bit| mask & bit != 0)
        .map(|bit| offload_name(bit, name_of_bit))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn offload_name(
    bit: u64,
    name_of_bit: unsafe extern "C" fn(u64) -> *const c_char,
) -> String {
    // SAFETY: the name functions return a static C string ("UNKNOWN" for
    // bits they do not know) and have no other preconditions.
    let p = unsafe { name_of_bit(bit) };
    if p.is_null() {
        return format!("bit {}", bit.trailing_zeros());
    }
    // SAFETY: non-null static NUL-terminated string from DPDK.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// DPDK's name for one RX offload bit (used to check `offload` constants).
pub fn rx_offload_name(bit: u64) -> String {
    offload_name(bit, ffi::rte_eth_dev_rx_offload_name)
}

/// DPDK's name for one TX offload bit.
pub fn tx_offload_name(bit: u64) -> String {
    offload_name(bit, ffi::rte_eth_dev_tx_offload_name)
}

#[cfg(test)]
mod tests {
    use super::effective_max_mtu;

    #[test]
    fn effective_max_mtu_follows_ethdev() {
        // net_af_packet: no max_mtu, 1518-byte frames.
        assert_eq!(effective_max_mtu(u16::MAX, 1518), 1500);
        // A NIC that states both: its max_mtu wins.
        assert_eq!(effective_max_mtu(9702, 9728), 9702);
        // net_ring style: nothing limiting.
        assert_eq!(effective_max_mtu(u16::MAX, u32::MAX), u16::MAX);
    }
}
