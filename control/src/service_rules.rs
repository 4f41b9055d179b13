//! The rule set control holds: loaded from the file or pushed, validated
//! on the rules thread, shipped as `LoadRules`, adopted when the dataplane
//! acknowledges it, and re-sent when the dataplane's (epoch, generation) is
//! not the one it acknowledged.

use std::sync::mpsc::Sender;
use std::time::Instant;

use tollgate_shm::message::{Command, Reply};

use super::{answer, log, pid_alive, HeldRules, PendingKind, Service, Waiter, RULES_RETRY};
use crate::api::ApiResponse;
use crate::rules_set::{self, RuleText};
use crate::rules_worker::{Polled, RulesWorker, Validated, VALIDATION_BUDGET};

impl Service {
    /// Loads the configured rule file (start and SIGHUP): validated on the
    /// rules thread, then shipped. Invalid: logs the errors and keeps the
    /// rule set in force. While another validation runs, the reload waits
    /// for it (one reload is remembered, however many signals came).
    pub fn load_rules_file(&mut self) {
        let Some(path) = self.config.rules.file.clone() else {
            return;
        };
        if self
            .validator
            .as_ref()
            .is_some_and(|v| v.running().is_some())
        {
            if !self.reload_queued {
                log("rule file reload queued behind the validation in progress");
            }
            self.reload_queued = true;
            return;
        }
        match rules_set::read(&path) {
            Err(e) => log(format!(
                "rule file not loaded; keeping the rule set in force: {e}"
            )),
            Ok((origin, text)) => self.validate_rules(origin, text, Waiter::File),
        }
    }

    /// Whether a rule file is being validated (the rules thread is busy).
    pub fn rules_validating(&self) -> bool {
        self.validator
            .as_ref()
            .is_some_and(|v| v.running().is_some())
    }

    /// Hands `text` to the rules thread; an API push while another
    /// validation runs is refused as busy.
    pub(super) fn validate_rules(&mut self, origin: String, text: String, waiter: Waiter) {
        if self.validator.is_none() {
            match RulesWorker::start() {
                Ok(w) => self.validator = Some(w),
                Err(e) => {
                    let message = format!("cannot start the rule validation thread: {e}");
                    return self.validated(waiter, Err(vec![message]));
                }
            }
        }
        let Some(validator) = self.validator.as_mut() else {
            return;
        };
        if let Err((waiter, message)) = validator.submit(origin, text, waiter) {
            match waiter {
                Waiter::Api(reply) => answer(Some(reply), ApiResponse::Error { message }),
                Waiter::File => log(format!("rule file not loaded: {message}")),
            }
        }
    }

    /// Takes a finished validation, if any; true if one was taken.
    pub(super) fn poll_validation(&mut self) -> bool {
        let Some(validator) = self.validator.as_mut() else {
            return false;
        };
        let polled = validator.poll(VALIDATION_BUDGET);
        let idle = validator.running().is_none();
        let work = match polled {
            Polled::Nothing => false,
            Polled::Done(waiter, outcome) => {
                self.validated(waiter, outcome);
                true
            }
            Polled::OverBudget(waiter, message) => {
                // Nothing was shipped, so rule_loads_total does not count it.
                log(&message);
                if let Waiter::Api(reply) = waiter {
                    answer(Some(reply), ApiResponse::Error { message });
                }
                true
            }
        };
        if idle && self.reload_queued {
            self.reload_queued = false;
            self.load_rules_file();
        }
        work
    }

    /// Acts on a validation's outcome for whoever asked.
    fn validated(&mut self, waiter: Waiter, outcome: Validated) {
        match (waiter, outcome) {
            (Waiter::Api(reply), Err(errors)) => {
                answer(Some(reply), ApiResponse::RulesInvalid { errors })
            }
            (Waiter::File, Err(errors)) => {
                log("rule file is invalid; keeping the rule set in force:");
                for e in errors {
                    log(format!("  {e}"));
                }
            }
            (waiter, Ok(rules)) => {
                for w in &rules.warnings {
                    log(format!("warning: {w}"));
                }
                log(format!(
                    "validated {} rules from {}",
                    rules.rules, rules.origin
                ));
                let reply = match waiter {
                    Waiter::Api(reply) => Some(reply),
                    Waiter::File => None,
                };
                if self.attachment.is_some() {
                    return self.send_rules(rules, reply);
                }
                self.current = Some(HeldRules {
                    rules,
                    generation: 0,
                });
                self.acked = None;
                let message = format!(
                    "{}; the validated rule set is kept and sent when the dataplane appears",
                    self.not_attached_message()
                );
                answer(reply, ApiResponse::Error { message });
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
