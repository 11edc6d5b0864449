//! A single-flight slot: at most one connect in flight, its outcome shared by every waiter.
//!
//! The slot holds the live value (a session) with its generation number. Callers
//! [`get_or_start`](SingleFlight::get_or_start) it: they get the live value, or become the one
//! caller that connects (a [`Claim`]), or wait for the connect in flight and share its outcome. A
//! failure is handed to the waiters of that attempt and then forgotten, so the next caller
//! tries again. A claim dropped before it completes (cancelled, panicked, or dropped by a
//! dispatcher that shut down) resets the slot and wakes the waiters with the `abandoned` error,
//! so no slot is ever left stuck "connecting".
//!
//! [`invalidate`](SingleFlight::invalidate) removes a value only if it is still the given
//! generation, so N callers that all saw the same session die cause exactly one reconnect.

use std::sync::{Arc, Mutex};

use event_listener::Event;

use crate::runtime::sync::lock;

/// What acquiring the slot found.
pub(crate) enum Acquired<T: Clone, E: Clone> {
    /// A live value and its generation.
    Ready(T, u64),
    /// The caller must connect and complete the claim.
    Claimed(Claim<T, E>),
    /// The attempt this caller waited for failed with this error.
    Failed(E),
    /// The slot was closed for good.
    Closed,
}

enum Slot<T> {
    Empty,
    Connecting { attempt: u64 },
    Ready { value: T, generation: u64 },
    Closed,
}

struct State<T, E> {
    slot: Slot<T>,
    attempts: u64,
    generations: u64,
    last_failure: Option<(u64, E)>,
}

/// The single-flight slot. See the module docs.
pub(crate) struct SingleFlight<T, E> {
    state: Mutex<State<T, E>>,
    changed: Event,
    abandoned: E,
}

impl<T: Clone, E: Clone> SingleFlight<T, E> {
    /// An empty slot. `abandoned` is the error waiters get when a claim is dropped unfinished.
    pub(crate) fn new(abandoned: E) -> Arc<Self> {
        Arc::new(SingleFlight {
            state: Mutex::new(State {
                slot: Slot::Empty,
                attempts: 0,
                generations: 0,
                last_failure: None,
            }),
            changed: Event::new(),
            abandoned,
        })
    }

    /// The live value, or a claim to connect, or the shared outcome of the connect in flight.
    #[cfg(test)]
    pub(crate) async fn acquire(self: &Arc<Self>) -> Acquired<T, E> {
        self.acquire_after(None).await
    }

    /// Acquires the slot like `acquire`, but first waits for the outcome of `attempt`, a claim
    /// this caller handed to someone else to complete.
    async fn acquire_after(self: &Arc<Self>, attempt: Option<u64>) -> Acquired<T, E> {
        let mut waited_for: Option<u64> = attempt;
        loop {
            let listener = {
                let mut state = lock(&self.state);
                if let (Some(waited), Some((failed, error))) = (waited_for, &state.last_failure)
                    && waited == *failed
                {
                    return Acquired::Failed(error.clone());
                }
                match &state.slot {
                    Slot::Ready { value, generation } => {
                        return Acquired::Ready(value.clone(), *generation);
                    }
                    Slot::Closed => return Acquired::Closed,
                    Slot::Connecting { attempt } => {
                        waited_for = Some(*attempt);
                        self.changed.listen()
                    }
                    Slot::Empty => {
                        state.attempts += 1;
                        let attempt = state.attempts;
                        state.slot = Slot::Connecting { attempt };
                        return Acquired::Claimed(Claim {
                            flight: Some(self.clone()),
                            attempt,
                        });
                    }
                }
            };
            listener.await;
        }
    }

    /// The live value and its generation, or the outcome of the one attempt in flight.
    ///
    /// A caller that finds neither claims the attempt and hands the claim to `start`, which
    /// must see it completed (the client runs it as a job of its own, so it finishes even if
    /// this caller is dropped); the caller then waits for the outcome like every other.
    /// `Err(None)` means the slot is closed.
    pub(crate) async fn get_or_start(
        self: &Arc<Self>,
        mut start: impl FnMut(Claim<T, E>),
    ) -> Result<(T, u64), Option<E>> {
        let mut handed_off = None;
        loop {
            match self.acquire_after(handed_off.take()).await {
                Acquired::Ready(value, generation) => return Ok((value, generation)),
                Acquired::Failed(error) => return Err(Some(error)),
                Acquired::Closed => return Err(None),
                Acquired::Claimed(claim) => {
                    handed_off = Some(claim.attempt());
                    start(claim);
                }
            }
        }
    }

    /// The live value and its generation, without connecting or waiting.
    pub(crate) fn current(&self) -> Option<(T, u64)> {
        match &lock(&self.state).slot {
            Slot::Ready { value, generation } => Some((value.clone(), *generation)),
            _ => None,
        }
    }

    /// True once [`close`](Self::close) has been called.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(lock(&self.state).slot, Slot::Closed)
    }

    /// Removes the live value if it is still `generation`, and returns it (for closing).
    pub(crate) fn invalidate(&self, generation: u64) -> Option<T> {
        let mut state = lock(&self.state);
        match &state.slot {
            Slot::Ready {
                generation: live, ..
            } if *live == generation => {}
            _ => return None,
        }
        let Slot::Ready { value, .. } = std::mem::replace(&mut state.slot, Slot::Empty) else {
            unreachable!("checked above");
        };
        drop(state);
        self.changed.notify(usize::MAX);
        Some(value)
    }

    /// Closes the slot for good and returns the live value, if any (for closing).
    ///
    /// Waiters get [`Acquired::Closed`]; a connect in flight hands its value back from
    /// [`Claim::succeed`] instead of storing it.
    pub(crate) fn close(&self) -> Option<T> {
        let mut state = lock(&self.state);
        let previous = std::mem::replace(&mut state.slot, Slot::Closed);
        drop(state);
        self.changed.notify(usize::MAX);
        match previous {
            Slot::Ready { value, .. } => Some(value),
            _ => None,
        }
    }

    /// How many connect attempts have been claimed so far.
    #[cfg(test)]
    pub(crate) fn attempts(&self) -> u64 {
        lock(&self.state).attempts
    }
}

/// The right, and the duty, to complete one connect attempt.
///
/// Dropping it unfinished resets the slot and wakes the waiters.
pub(crate) struct Claim<T: Clone, E: Clone> {
    flight: Option<Arc<SingleFlight<T, E>>>,
    attempt: u64,
}

impl<T: Clone, E: Clone> Claim<T, E> {
    /// The attempt number this claim completes.
    pub(crate) fn attempt(&self) -> u64 {
        self.attempt
    }

    /// Stores `value` as the live value and returns its generation.
    ///
    /// If the slot was closed meanwhile, the value is handed back as `Err`.
    pub(crate) fn succeed(mut self, make: impl FnOnce(u64) -> T) -> Result<(T, u64), ()> {
        let flight = self.flight.take().expect("a claim completes once");
        let mut state = lock(&flight.state);
        if !matches!(state.slot, Slot::Connecting { attempt } if attempt == self.attempt) {
            return Err(());
        }
        state.generations += 1;
        let generation = state.generations;
        let value = make(generation);
        state.slot = Slot::Ready {
            value: value.clone(),
            generation,
        };
        drop(state);
        flight.changed.notify(usize::MAX);
        Ok((value, generation))
    }

    /// Records `error` as this attempt's outcome for its waiters, and empties the slot.
    pub(crate) fn fail(mut self, error: E) {
        let flight = self.flight.take().expect("a claim completes once");
        finish_failed(&flight, self.attempt, error);
    }
}

fn finish_failed<T: Clone, E: Clone>(flight: &SingleFlight<T, E>, attempt: u64, error: E) {
    let mut state = lock(&flight.state);
    if matches!(state.slot, Slot::Connecting { attempt: a } if a == attempt) {
        state.slot = Slot::Empty;
    }
    state.last_failure = Some((attempt, error));
    drop(state);
    flight.changed.notify(usize::MAX);
}

impl<T: Clone, E: Clone> Drop for Claim<T, E> {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            let error = flight.abandoned.clone();
            finish_failed(&flight, self.attempt, error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::executor::block_on;

    type Flight = SingleFlight<u32, String>;

    fn flight() -> Arc<Flight> {
        SingleFlight::new("abandoned".to_owned())
    }

    fn ready(acquired: Acquired<u32, String>) -> (u32, u64) {
        match acquired {
            Acquired::Ready(value, generation) => (value, generation),
            _ => panic!("expected a ready value"),
        }
    }

    fn claim(acquired: Acquired<u32, String>) -> Claim<u32, String> {
        match acquired {
            Acquired::Claimed(claim) => claim,
            _ => panic!("expected a claim"),
        }
    }

    #[test]
    fn first_caller_claims_and_later_callers_see_the_value() {
        let flight = flight();
        let claim = claim(block_on(flight.acquire()));
        assert_eq!(claim.succeed(|_| 7).unwrap(), (7, 1));
        assert_eq!(ready(block_on(flight.acquire())), (7, 1));
        assert_eq!(flight.attempts(), 1);
    }

    #[test]
    fn waiters_share_one_connect_outcome() {
        let flight = flight();
        let claim = claim(block_on(flight.acquire()));
        let started = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let flight = flight.clone();
                let started = started.clone();
                std::thread::spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    ready(block_on(flight.acquire()))
                })
            })
            .collect();
        while started.load(Ordering::SeqCst) < 16 {
            std::thread::yield_now();
        }
        claim.succeed(|generation| 40 + generation as u32).unwrap();
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), (41, 1));
        }
        assert_eq!(flight.attempts(), 1);
    }

    #[test]
    fn waiters_of_a_failed_attempt_get_its_error_and_the_next_caller_retries() {
        let flight = flight();
        let first = claim(block_on(flight.acquire()));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let flight = flight.clone();
            std::thread::spawn(move || {
                let mut acquire = Box::pin(flight.acquire());
                // Register as a waiter before the failure is recorded.
                let waker = futures::task::noop_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                assert!(acquire.as_mut().poll(&mut cx).is_pending());
                tx.send(()).unwrap();
                match block_on(acquire) {
                    Acquired::Failed(error) => error,
                    _ => panic!("expected the shared failure"),
                }
            })
        };
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        first.fail("spawn failed".to_owned());
        assert_eq!(waiter.join().unwrap(), "spawn failed");
        // The failure is not cached: the next caller claims a new attempt.
        let second = claim(block_on(flight.acquire()));
        assert_eq!(second.succeed(|_| 1).unwrap(), (1, 1));
        assert_eq!(flight.attempts(), 2);
    }

    #[test]
    fn a_dropped_claim_wakes_waiters_and_leaves_the_slot_free() {
        let flight = flight();
        let first = claim(block_on(flight.acquire()));
        let mut waiting = Box::pin(flight.acquire());
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(first);
        match block_on(waiting) {
            Acquired::Failed(error) => assert_eq!(error, "abandoned"),
            _ => panic!("expected the abandoned error"),
        }
        let next = claim(block_on(flight.acquire()));
        assert_eq!(next.succeed(|_| 5).unwrap(), (5, 1));
    }

    #[test]
    fn concurrent_invalidations_of_one_generation_cause_one_reconnect() {
        let flight = flight();
        claim(block_on(flight.acquire())).succeed(|_| 1).unwrap();
        let removed: usize = (0..8)
            .map(|_| flight.invalidate(1))
            .filter(Option::is_some)
            .count();
        assert_eq!(removed, 1);
        let reconnect = claim(block_on(flight.acquire()));
        assert_eq!(reconnect.succeed(|_| 2).unwrap(), (2, 2));
        // A stale invalidation does not remove the new session.
        assert!(flight.invalidate(1).is_none());
        assert_eq!(ready(block_on(flight.acquire())), (2, 2));
        assert_eq!(flight.attempts(), 2);
    }

    #[test]
    fn close_wakes_waiters_and_refuses_a_late_connect() {
        let flight = flight();
        let pending = claim(block_on(flight.acquire()));
        let mut waiting = Box::pin(flight.acquire());
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(flight.close().is_none());
        assert!(matches!(block_on(waiting), Acquired::Closed));
        assert!(pending.succeed(|_| 9).is_err());
        assert!(matches!(block_on(flight.acquire()), Acquired::Closed));
        assert!(flight.current().is_none());
    }
}
