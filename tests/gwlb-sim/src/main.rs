//! tollgate-sim: a simulated AWS Gateway Load Balancer.
mod arp;
mod checksum;
mod rawsock;
mod traffic;
mod verify;
mod wire;

fn main() {}
