#!/usr/bin/env python3
"""Sends TCP SYNs as raw Ethernet frames from many spoofed IPv4 sources.

Used by test_health_flood.sh to flood the appliance's health port from
addresses that are not GWLB's. Plain AF_PACKET (no scapy), paced to a rate,
bounded by a duration; prints the number of frames sent.

    syn_flood.py IFACE DST_MAC DST_IP PORT --rate PPS --seconds S --sources CIDR
"""

import argparse
import ipaddress
import socket
import struct
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, seq) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("dst_mac")
    p.add_argument("dst_ip")
    p.add_argument("port", type=int)
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--sources", default="10.254.200.0/22")
    a = p.parse_args()

    dst_mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    dst_ip = socket.inet_aton(a.dst_ip)
    hosts = list(ipaddress.ip_network(a.sources).hosts())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    interval = 1.0 / a.rate
    start = time.monotonic()
    sent = 0
    while True:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        due = int((now - start) / interval) + 1
        while sent < due:
            host = hosts[sent % len(hosts)]
            src_ip = host.packed
            src_mac = b"\x02\x66" + src_ip
            sport = 1024 + (sent * 7919) % 60000
            s.send(syn_frame(src_mac, dst_mac, src_ip, dst_ip, sport, a.port, sent * 104729))
            sent += 1
        time.sleep(interval / 2)
    print(sent)


if __name__ == "__main__":
    main()
