//! Run summary: counters, per-endpoint and per-size figures, checks; printed and as JSON.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::verify::Mismatch;

/// How many lost sequence numbers and corruptions are listed individually.
pub const LIST_LIMIT: usize = 20;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub returned: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Corruption {
    pub seq: u32,
    #[serde(flatten)]
    pub mismatch: Mismatch,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunReport {
    pub expect: String,
    pub passed: bool,
    pub duration_s: f64,
    pub sent: u64,
    pub sent_bytes: u64,
    /// GENEVE replies received (every incoming IPv4/UDP frame to port 6081).
    pub returned: u64,
    pub matched: u64,
    pub lost: u64,
    pub lost_seqs: Vec<u32>,
    pub corrupted: u64,
    pub corruptions: Vec<Corruption>,
    pub corrupted_by_layer: BTreeMap<String, u64>,
    pub duplicated: u64,
    /// GENEVE replies that match no frame we sent.
    pub unexpected: u64,
    /// Incoming frames that are not GENEVE replies (ARP, IPv6 ND, ICMP, ...).
    pub other_frames: u64,
    /// Copies of our own transmissions that the raw socket also delivers (ignored).
    pub outgoing_copies: u64,
    pub reopened_flows: u64,
    /// Times the sender found every flow waiting for a reply (rate limited by round trips).
    pub flow_waits: u64,
    pub send_pps: f64,
    pub rtt_max_us: u64,
    pub endpoints: BTreeMap<String, Counts>,
    /// Keyed by inner IP packet length in bytes.
    pub sizes: BTreeMap<usize, Counts>,
    pub checks: Vec<Check>,
}

impl RunReport {
    pub fn check(&mut self, name: &str, ok: bool, detail: String) {
        self.checks.push(Check {
            name: name.to_string(),
            ok,
            detail,
        });
    }

    /// Fills the checks and `passed` from the counters and the expectation.
    pub fn conclude(&mut self) {
        if self.expect == "none" {
            let returned = self.returned;
            self.check(
                "nothing returned",
                returned == 0,
                format!("{returned} GENEVE replies"),
            );
        } else {
            let (lost, corrupted) = (self.lost, self.corrupted);
            self.check(
                "every frame returned",
                lost == 0,
                if lost == 0 {
                    format!("{} of {}", self.matched + corrupted, self.sent)
                } else {
                    format!("{lost} lost, first seqs {:?}", self.lost_seqs)
                },
            );
            let detail = match self.corruptions.first() {
                Some(c) => format!("{corrupted} corrupted, first: seq {} {}", c.seq, c.mismatch),
                None => "0 corrupted".into(),
            };
            self.check("every returned frame intact", corrupted == 0, detail);
            self.check(
                "no duplicates",
                self.duplicated == 0,
                format!("{} duplicated", self.duplicated),
            );
            self.check(
                "no unexpected GENEVE",
                self.unexpected == 0,
                format!("{} unexpected", self.unexpected),
            );
        }
        self.passed = self.checks.iter().all(|c| c.ok);
    }

    pub fn print(&self) {
        println!(
            "sent {} ({} bytes, {:.0} pps over {:.2} s), returned {}, matched {}, lost {}, corrupted {}, duplicated {}, unexpected {}, other frames {}, own copies ignored {}, reopened flows {}, flow waits {}, max rtt {} us",
            self.sent,
            self.sent_bytes,
            self.send_pps,
            self.duration_s,
            self.returned,
            self.matched,
            self.lost,
            self.corrupted,
            self.duplicated,
            self.unexpected,
            self.other_frames,
            self.outgoing_copies,
            self.reopened_flows,
            self.flow_waits,
            self.rtt_max_us,
        );
        for (name, c) in &self.endpoints {
            println!("endpoint {name}: sent {} returned {}", c.sent, c.returned);
        }
        for (size, c) in &self.sizes {
            println!("inner size {size}: sent {} returned {}", c.sent, c.returned);
        }
        for (layer, n) in &self.corrupted_by_layer {
            println!("corrupted in {layer}: {n}");
        }
        for c in &self.checks {
            println!(
                "check {}: {} ({})",
                c.name,
                if c.ok { "ok" } else { "FAILED" },
                c.detail
            );
        }
        println!("result: {}", if self.passed { "PASS" } else { "FAIL" });
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Layer;

    #[test]
    fn conclusions_follow_the_counters() {
        let mut ok = RunReport {
            expect: "reply".into(),
            sent: 3,
            matched: 3,
            ..Default::default()
        };
        ok.conclude();
        assert!(ok.passed);

        let mut lossy = RunReport {
            expect: "reply".into(),
            sent: 3,
            matched: 2,
            lost: 1,
            ..Default::default()
        };
        lossy.conclude();
        assert!(!lossy.passed);

        let mut corrupt = RunReport {
            expect: "reply".into(),
            sent: 1,
            corrupted: 1,
            ..Default::default()
        };
        corrupt.corruptions.push(Corruption {
            seq: 0,
            mismatch: Mismatch {
                offset: 60,
                layer: Layer::GeneveOptions,
                expected: Some(1),
                got: Some(2),
                what: "byte differs",
            },
        });
        corrupt.conclude();
        assert!(!corrupt.passed);
        assert!(corrupt.checks[1].detail.contains("geneve-options"));
        let json = serde_json::to_string(&corrupt).unwrap();
        assert!(json.contains("\"layer\":\"geneve-options\""), "{json}");

        let mut silent = RunReport {
            expect: "none".into(),
            sent: 5,
            lost: 5,
            ..Default::default()
        };
        silent.conclude();
        assert!(silent.passed);
        let mut leaky = RunReport {
            expect: "none".into(),
            sent: 5,
            returned: 1,
            ..Default::default()
        };
        leaky.conclude();
        assert!(!leaky.passed);
    }
}
