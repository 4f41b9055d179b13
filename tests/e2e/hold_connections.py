#!/usr/bin/env python3
"""Opens TCP connections from one source address and holds them idle.

Used by test_health_flood.sh: from a non-GWLB address (the dataplane should
never let them reach control) and from a GWLB node itself (more than the
responder's sockets). Connects without blocking at a steady rate, never
sends a byte, closes everything after the duration and prints how many
connections were opened and how many got established.

    hold_connections.py SRC_IP DST_IP PORT --per-second N --seconds S
"""

import argparse
import socket
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("src_ip")
    p.add_argument("dst_ip")
    p.add_argument("port", type=int)
    p.add_argument("--per-second", type=int, default=20)
    p.add_argument("--seconds", type=float, default=20)
    a = p.parse_args()

    held = []
    established = 0
    start = time.monotonic()
    while time.monotonic() - start < a.seconds:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((a.src_ip, 0))
        s.connect_ex((a.dst_ip, a.port))
        held.append(s)
        time.sleep(1.0 / a.per_second)
    for s in held:
        try:
            s.getpeername()
            established += 1
        except OSError:
            pass
        s.close()
    print(len(held), established)


if __name__ == "__main__":
    main()
