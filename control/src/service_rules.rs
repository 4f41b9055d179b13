//! The rule set control holds: loaded from the file, shipped as
//! `LoadRules`, adopted when the dataplane acknowledges it, and re-sent when
//! the dataplane's (epoch, generation) is not the one it acknowledged.

use std::sync::mpsc::Sender;
use std::time::Instant;

use tollgate_shm::message::{Command, Reply};

use super::{log, pid_alive, HeldRules, PendingKind, Service, RULES_RETRY};
use crate::api::ApiResponse;
use crate::rules_set::{self, RuleText};

impl Service {
    /// Loads the configured rule file (start and SIGHUP). Invalid: logs the
    /// errors and keeps the rule set in force.
    pub fn load_rules_file(&mut self) {
        let Some(path) = self.config.rules.file.clone() else {
            return;
        };
        match rules_set::load(&path) {
            Err(errors) => {
                log(format!(
                    "rule file {} is invalid; keeping the rule set in force:",
                    path.display()
                ));
                for e in errors {
                    log(format!("  {e}"));
                }
            }
            Ok(rules) => {
                for w in &rules.warnings {
                    log(format!("warning: {w}"));
                }
                log(format!(
                    "loaded {} rules from {}",
                    rules.rules, rules.origin
                ));
                if self.attachment.is_some() {
                    self.send_rules(rules, None);
                } else {
                    self.current = Some(HeldRules {
                        rules,
                        generation: 0,
                    });
                    self.acked = None;
                }
            }
        }
    }

    /// Sends the held rule set when the dataplane's generation is not the
    /// one it acknowledged for it (a restarted dataplane or control).
    pub(super) fn reconcile_rules(&mut self, now: Instant) {
        let (Some(att), Some(held)) = (&self.attachment, &self.current) else {
            return;
        };
        let state = (att.segment.epoch(), att.segment.applied_rules().0);
        if self.acked == Some(state) || self.rules_in_flight > 0 || now < self.next_rules_attempt {
            return;
        }
        // A dataplane that died without removing its segment cannot answer.
        if !pid_alive(att.segment.dataplane_pid()) {
            return;
        }
        self.next_rules_attempt = now + RULES_RETRY;
        let rules = held.rules.clone();
        log(format!(
            "dataplane has rules generation {} (epoch {}); sending {}",
            state.1, state.0, rules.origin
        ));
        self.send_rules(rules, None);
    }

    pub(super) fn send_rules(&mut self, rules: RuleText, reply: Option<Sender<ApiResponse>>) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let command = Command::LoadRules {
            generation,
            text: rules.text.clone(),
        };
        if self.send_command(
            command,
            PendingKind::LoadRules {
                candidate: rules,
                generation,
            },
            reply,
        ) {
            self.rules_in_flight += 1;
        } else {
            self.counters.rules_failed += 1;
        }
    }

    pub(super) fn rules_reply(
        &mut self,
        candidate: RuleText,
        generation: u64,
        reply: Reply,
        epoch: u64,
    ) -> ApiResponse {
        match reply {
            Reply::RulesApplied { generation: g } if g == generation => {
                log(format!(
                    "rules generation {g} applied ({}, {} rules)",
                    candidate.origin, candidate.rules
                ));
                self.counters.rules_applied += 1;
                let response = ApiResponse::RulesApplied {
                    generation,
                    rules: candidate.rules,
                    warnings: candidate.warnings.clone(),
                };
                self.current = Some(HeldRules {
                    rules: candidate,
                    generation,
                });
                self.acked = Some((epoch, generation));
                response
            }
            Reply::RulesRejected {
                generation: g,
                message,
            } => {
                log(format!(
                    "dataplane rejected rules generation {g} ({}): {message}",
                    candidate.origin
                ));
                self.counters.rules_failed += 1;
                ApiResponse::RulesRejected {
                    generation: g,
                    message,
                }
            }
            other => {
                self.counters.rules_failed += 1;
                let message = match other {
                    Reply::Failed { message } => format!("dataplane: {message}"),
                    other => format!("dataplane gave an unexpected reply to rules generation {generation}: {other:?}"),
                };
                log(&message);
                ApiResponse::Error { message }
            }
        }
    }
}
