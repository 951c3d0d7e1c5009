//! Ctrl-C (SIGINT, and SIGTERM). While nodes run, the first interrupt cancels the run: no node
//! starts after it, the queries running are interrupted (DuckDB stops them and their
//! transactions roll back), and the command writes what finished and exits 130; a second one
//! exits at once. Outside a run, the first interrupt exits at once, as without a handler.
//!
//! The signal handler is process-wide (signals are); the state it acts on is this value, which
//! the binary creates and hands to the command through `Settings`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A stop function: interrupts one connection's running query.
pub type Interrupter = Box<dyn Fn() + Send + Sync>;

/// The cancellation state of one invocation.
#[derive(Default)]
pub struct Cancel {
    signals: AtomicUsize,
    graceful: AtomicBool,
    interrupters: Mutex<Vec<Interrupter>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel").field("signals", &self.signals.load(Ordering::SeqCst)).finish()
    }
}

/// What the signal handler should do after an interrupt.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// The run was cancelled; it winds down and exits 130.
    WindDown,
    /// Exit now with 130.
    Exit,
}

impl Cancel {
    /// Whether an interrupt arrived.
    pub fn is_cancelled(&self) -> bool {
        self.signals.load(Ordering::SeqCst) > 0
    }

    /// From now on the first interrupt winds the run down instead of exiting.
    pub fn wind_down_on_interrupt(&self) {
        self.graceful.store(true, Ordering::SeqCst);
    }

    /// Register a connection's interrupter; called at once when the run is already cancelled.
    pub fn register(&self, f: Interrupter) {
        if self.is_cancelled() {
            f();
        }
        self.interrupters.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    /// An interrupt arrived: the first one during a run interrupts every registered
    /// connection; anything else asks for an exit.
    pub fn signal(&self) -> Action {
        let n = self.signals.fetch_add(1, Ordering::SeqCst) + 1;
        if n > 1 || !self.graceful.load(Ordering::SeqCst) {
            return Action::Exit;
        }
        for f in self.interrupters.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            f();
        }
        Action::WindDown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_first_interrupt_of_a_run_interrupts_connections_and_the_second_exits() {
        let c = Cancel::default();
        assert_eq!(c.signal(), Action::Exit, "outside a run an interrupt exits");
        let c = Cancel::default();
        c.wind_down_on_interrupt();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        c.register(Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(!c.is_cancelled());
        assert_eq!(c.signal(), Action::WindDown);
        assert!(c.is_cancelled());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // A connection opened after the interrupt is interrupted as it registers.
        let h = hits.clone();
        c.register(Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(c.signal(), Action::Exit);
    }
}
