//! Rule files are parsed and validated on a thread of their own, so that a
//! large push never holds up the service loop: health checks, the metrics
//! view and other API calls keep being answered while it runs. One
//! validation at a time; the service decides what a second request does
//! (an API push is refused as busy, a SIGHUP reload waits its turn).

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crate::rules_set::{self, RuleText};

/// How long a validation may take before its requester is answered with an
/// error. The rule crate's limits keep the real time far below this; the
/// thread cannot be stopped, so the worker stays busy until it returns.
pub const VALIDATION_BUDGET: Duration = Duration::from_secs(20);

/// A validation's outcome: the validated text, or its errors one per line.
pub type Validated = Result<RuleText, Vec<String>>;

struct Job {
    id: u64,
    origin: String,
    text: String,
}

/// The validation in progress.
pub struct Running<T> {
    id: u64,
    pub origin: String,
    pub started: Instant,
    /// Whoever waits for the outcome; taken when the budget runs out.
    pub waiter: Option<T>,
}

/// The validating thread and the job it runs; `T` is who waits for it.
pub struct RulesWorker<T> {
    jobs: Sender<Job>,
    results: Receiver<(u64, Validated)>,
    running: Option<Running<T>>,
    next_id: u64,
}

/// What [`RulesWorker::poll`] found.
pub enum Polled<T> {
    /// Nothing finished or ran out of budget.
    Nothing,
    Done(T, Validated),
    /// The budget ran out: the waiter gets an error; the thread runs on.
    OverBudget(T, String),
}

impl<T> RulesWorker<T> {
    /// Starts the thread. It ends when the worker is dropped.
    pub fn start() -> std::io::Result<RulesWorker<T>> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("rules".into())
            .spawn(move || {
                for job in job_rx {
                    let outcome = rules_set::validate(&job.origin, job.text);
                    if result_tx.send((job.id, outcome)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(RulesWorker {
            jobs,
            results,
            running: None,
            next_id: 0,
        })
    }

    /// The validation in progress, if any (also one past its budget).
    pub fn running(&self) -> Option<&Running<T>> {
        self.running.as_ref()
    }

    /// Starts validating `text`; `Err` gives `waiter` back with the reason
    /// when a validation is already running or the thread is gone.
    pub fn submit(&mut self, origin: String, text: String, waiter: T) -> Result<(), (T, String)> {
        if let Some(r) = &self.running {
            let message = format!(
                "busy: the rule set from {} is still being validated ({} ms so far); retry when it is done",
                r.origin,
                r.started.elapsed().as_millis()
            );
            return Err((waiter, message));
        }
        self.next_id += 1;
        let job = Job {
            id: self.next_id,
            origin: origin.clone(),
            text,
        };
        if self.jobs.send(job).is_err() {
            return Err((waiter, "the rule validation thread has stopped".into()));
        }
        self.running = Some(Running {
            id: self.next_id,
            origin,
            started: Instant::now(),
            waiter: Some(waiter),
        });
        Ok(())
    }

    /// Collects a finished validation or reports one past `budget`. Never blocks.
    pub fn poll(&mut self, budget: Duration) -> Polled<T> {
        let Some(running) = self.running.as_mut() else {
            return Polled::Nothing;
        };
        match self.results.try_recv() {
            Ok((id, outcome)) if id == running.id => {
                let waiter = self.running.take().and_then(|r| r.waiter);
                match waiter {
                    Some(w) => Polled::Done(w, outcome),
                    // Its waiter was answered when the budget ran out.
                    None => Polled::Nothing,
                }
            }
            Ok(_) => Polled::Nothing,
            Err(TryRecvError::Disconnected) => {
                let waiter = self.running.take().and_then(|r| r.waiter);
                match waiter {
                    Some(w) => Polled::OverBudget(w, "the rule validation thread stopped".into()),
                    None => Polled::Nothing,
                }
            }
            Err(TryRecvError::Empty) => {
                if running.started.elapsed() <= budget {
                    return Polled::Nothing;
                }
                match running.waiter.take() {
                    Some(w) => Polled::OverBudget(
                        w,
                        format!(
                            "validating the rule set from {} took longer than {} s; nothing was applied",
                            running.origin,
                            budget.as_secs()
                        ),
                    ),
                    None => Polled::Nothing,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_until_done(w: &mut RulesWorker<u32>) -> (u32, Validated) {
        for _ in 0..5000 {
            if let Polled::Done(who, v) = w.poll(Duration::from_secs(60)) {
                return (who, v);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("no result");
    }

    #[test]
    fn validates_one_at_a_time_and_refuses_a_second_as_busy() {
        let mut w = RulesWorker::start().unwrap();
        w.submit("a.toml".into(), "default_action = \"drop\"\n".into(), 1)
            .unwrap();
        let (who, message) = w
            .submit("b.toml".into(), "default_action = \"pass\"\n".into(), 2)
            .unwrap_err();
        assert_eq!(who, 2);
        assert!(
            message.starts_with("busy: the rule set from a.toml is still being validated"),
            "{message}"
        );
        let (who, outcome) = poll_until_done(&mut w);
        assert_eq!((who, outcome.unwrap().origin.as_str()), (1, "a.toml"));
        assert!(w.running().is_none());
        w.submit("c.toml".into(), "nonsense".into(), 3).unwrap();
        let (who, outcome) = poll_until_done(&mut w);
        assert_eq!(who, 3);
        assert!(outcome.unwrap_err()[0].starts_with("c.toml:1: TOML syntax"));
    }

    #[test]
    fn a_validation_past_its_budget_answers_its_waiter_and_stays_busy() {
        let mut w = RulesWorker::start().unwrap();
        w.submit("a.toml".into(), "default_action = \"drop\"\n".into(), 7)
            .unwrap();
        match w.poll(Duration::ZERO) {
            Polled::OverBudget(7, message) => {
                assert!(message.contains("took longer than 0 s"), "{message}")
            }
            // It may have finished at once: then the result is simply collected.
            Polled::Done(7, _) => return,
            _ => panic!("expected the waiter back"),
        }
        // Busy until the thread returns; its late result goes nowhere.
        for _ in 0..5000 {
            if w.running().is_none() {
                break;
            }
            assert!(matches!(w.poll(Duration::ZERO), Polled::Nothing));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(w.running().is_none());
    }
}
