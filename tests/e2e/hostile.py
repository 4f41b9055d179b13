#!/usr/bin/python3
"""Hostile GENEVE traffic for tests/e2e/test_hostile_tcp.sh, sent as a GWLB
node would send it (real frames on the GWLB side of the veth) and checked by
what the appliance returns.

  hostile.py walk-through ...   an outside host tries to open a session
                                  the rules deny (issue 19, attack 1)
  hostile.py ack-flood ...      bare-ACK pickups flood the flow table
                                  (attack 2): confirmed flows keep passing,
                                  new flows of every endpoint still open

Exit status 0 when the appliance behaved, 1 with one line per failure.
"""
import argparse
import struct
import sys
import time

from scapy.all import AsyncSniffer, Ether, IP, TCP, UDP, Raw, conf, sendp  # noqa: E402

conf.verb = 0

APPLIANCE_IP = "10.254.11.101"
GWLB_IP = "10.254.11.60"
AWS_CLASS = 0x0108
EP1 = 0x01A2B3C4D5E6F000
EP2 = 0x01A2B3C4D5E6F001


def geneve(endpoint, cookie, attachment=0):
    opts = struct.pack(">HBBQ", AWS_CLASS, 1, 2, endpoint)
    opts += struct.pack(">HBBQ", AWS_CLASS, 2, 2, attachment)
    opts += struct.pack(">HBBI", AWS_CLASS, 3, 1, cookie)
    base = struct.pack(">BBHI", len(opts) // 4, 0, 0x0800, 0)
    return base + opts


class Gwlb:
    """Sends inner packets through the tunnel and collects what returns."""

    def __init__(self, iface, appliance_mac):
        self.iface = iface
        self.appliance_mac = appliance_mac
        self.returned = []
        self.sniffer = AsyncSniffer(
            iface=iface,
            filter=f"udp and src host {APPLIANCE_IP} and dst port 6081",
            prn=self._collect,
            store=False,
        )
        self.sniffer.start()
        time.sleep(0.5)

    def _collect(self, frame):
        if UDP not in frame:
            return
        payload = bytes(frame[UDP].payload)
        if len(payload) < 8:
            return
        header_len = 8 + (payload[0] & 0x3F) * 4
        endpoint = None
        if header_len >= 20:
            (endpoint,) = struct.unpack(">Q", payload[12:20])
        inner = IP(payload[header_len:])
        if TCP in inner:
            t = inner[TCP]
            self.returned.append(
                (endpoint, inner.src, t.sport, inner.dst, t.dport, int(t.flags))
            )

    def frame(self, endpoint, inner, sport):
        cookie = hash((endpoint, inner.src, inner.dst)) & 0xFFFFFFFF
        return (
            Ether(dst=self.appliance_mac)
            / IP(src=GWLB_IP, dst=APPLIANCE_IP, ttl=64)
            / UDP(sport=sport, dport=6081)
            / Raw(geneve(endpoint, cookie) + bytes(inner))
        )

    def send(self, frames):
        sendp(frames, iface=self.iface, verbose=False)

    def came_back(self, endpoint, pkt, wait=1.0):
        """True when `pkt` (an inner IP/TCP packet) was returned."""
        want = (endpoint, pkt.src, pkt[TCP].sport, pkt.dst, pkt[TCP].dport, int(pkt[TCP].flags))
        deadline = time.time() + wait
        while time.time() < deadline:
            if want in self.returned:
                return True
            time.sleep(0.05)
        return want in self.returned

    def exchange(self, endpoint, pkt, sport=40000, wait=1.0):
        self.send([self.frame(endpoint, pkt, sport)])
        return self.came_back(endpoint, pkt, wait)

    def stop(self):
        self.sniffer.stop()


def seg(src, sport, dst, dport, flags, seq, ack=0, payload=b""):
    p = IP(src=src, dst=dst, ttl=64) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=65535)
    if payload:
        p = p / Raw(payload)
    return IP(bytes(p))


def walk_through(g, failures):
    inside, outside = "10.1.11.10", "10.2.11.20"
    # 1. The outside host's ACK from :443 to the inside host's ssh port: its
    #    reverse (inside -> outside:443) is allowed, so it may be picked up,
    #    but it must not make the outside host a client of the inside one.
    g.exchange(EP1, seg(outside, 443, inside, 22, "A", 5000, 7000))
    syn = seg(outside, 443, inside, 22, "S", 9000)
    if g.exchange(EP1, syn):
        failures.append("walk-through: the outside host's SYN to inside:22 came back after its ACK was picked up")
    synack = seg(inside, 22, outside, 443, "SA", 3000, 9001)
    if g.exchange(EP1, synack):
        failures.append("walk-through: the inside server's SYN/ACK to the outside host came back")
    # 2. After a proper handshake inside -> outside:443, a SYN from the
    #    responder must not pass either.
    c_port = 41000
    steps = [
        (seg(inside, c_port, outside, 443, "S", 100), True),
        (seg(outside, 443, inside, c_port, "SA", 500, 101), True),
        (seg(inside, c_port, outside, 443, "A", 101, 501), True),
        (seg(outside, 443, inside, c_port, "S", 800), False),
    ]
    for i, (pkt, allowed) in enumerate(steps):
        back = g.exchange(EP1, pkt)
        if back != allowed:
            what = "did not come back" if allowed else "came back"
            failures.append(f"handshake step {i} ({pkt[TCP].flags} {pkt.src} -> {pkt.dst}) {what}")


def ack_flood(g, confirmed, flood, failures):
    outside = "10.2.11.20"
    # Confirmed flows first: a pickup plus the other side's answer.
    flows = [(f"10.1.12.{1 + i // 200}", 20000 + i) for i in range(confirmed)]
    for addr, port in flows:
        g.send([g.frame(EP1, seg(addr, port, outside, 443, "A", 1, 1), 40001)])
        g.send([g.frame(EP1, seg(outside, 443, addr, port, "A", 1, 1), 40002)])
    time.sleep(0.5)
    lost = [f for f in flows if not g.came_back(EP1, seg(outside, 443, f[0], f[1], "A", 1, 1), 0.1)]
    if lost:
        failures.append(f"setup: {len(lost)} of {confirmed} confirmed flows not established")
        return
    # The flood: bare ACKs of unseen flows, each one a distinct pickup.
    frames = []
    for i in range(flood):
        src = f"10.1.{100 + (i >> 16) % 100}.{(i >> 8) & 0xFF}"
        frames.append(g.frame(EP1, seg(src, 1024 + (i & 0xFF) * 200 + (i >> 16), outside, 443, "A", 7, 7), 40003 + i % 1000))
    start = time.time()
    g.send(frames)
    print(f"ack-flood: {flood} pickups sent in {time.time() - start:.1f} s")
    time.sleep(0.5)
    g.returned.clear()
    # Every confirmed flow still passes, both ways.
    still = 0
    # Ten bytes of data and their acknowledgement: in window both ways.
    data = lambda addr, port: seg(addr, port, outside, 443, "PA", 1, 1, b"0123456789")
    ack = lambda addr, port: seg(outside, 443, addr, port, "A", 1, 11)
    for addr, port in flows:
        g.send([g.frame(EP1, data(addr, port), 40001), g.frame(EP1, ack(addr, port), 40002)])
    time.sleep(1.0)
    for addr, port in flows:
        if g.came_back(EP1, data(addr, port), 0) and g.came_back(EP1, ack(addr, port), 0):
            still += 1
    if still != confirmed:
        failures.append(f"ack-flood: only {still} of {confirmed} confirmed flows still pass")
    # New flows of the flooding endpoint and of another one still open.
    for ep, name in ((EP1, "the flooding endpoint"), (EP2, "another endpoint")):
        opened = sum(
            g.exchange(ep, seg("10.1.13.1", 30000 + i, outside, 443, "S", 1000 + i), 40010 + i, 0.5)
            for i in range(5)
        )
        if opened != 5:
            failures.append(f"ack-flood: {5 - opened} of 5 new flows of {name} did not open")
    print(f"ack-flood: {still} of {confirmed} confirmed flows pass after the flood")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("attack", choices=["walk-through", "ack-flood"])
    ap.add_argument("--iface", default="gwlb0")
    ap.add_argument("--appliance-mac", required=True)
    ap.add_argument("--confirmed", type=int, default=100)
    ap.add_argument("--flood", type=int, default=4000)
    args = ap.parse_args()
    g = Gwlb(args.iface, args.appliance_mac)
    failures = []
    try:
        if args.attack == "walk-through":
            walk_through(g, failures)
        else:
            ack_flood(g, args.confirmed, args.flood, failures)
    finally:
        g.stop()
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print(f"{args.attack}: the appliance held")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
