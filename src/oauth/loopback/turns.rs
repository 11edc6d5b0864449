//! Turns at the loopback addresses that this process's
//! [`LoopbackSignIn`](super::LoopbackSignIn)s listen on: one sign-in per address at a time,
//! and a sign-in that wants an address in use waits for the one that holds it to end.

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::runtime::sync::lock;

/// The addresses a sign-in step of this process holds.
static HELD: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());
/// Notified whenever an address is let go.
static FREED: Condvar = Condvar::new();

/// The right to listen on an address. Dropping it lets the address go and wakes the sign-ins
/// waiting for it; a listener on the address must be closed first.
#[derive(Debug)]
pub(super) struct Turn(SocketAddr);

/// Why a sign-in got no turn.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoTurn {
    /// The address was still held at the deadline.
    TimedOut,
    /// The sign-in ended while it waited.
    Cancelled,
}

impl Turn {
    /// The turn at `address`, if no sign-in holds it.
    pub(super) fn try_take(address: SocketAddr) -> Option<Turn> {
        let mut held = lock(&HELD);
        if held.contains(&address) {
            return None;
        }
        held.push(address);
        Some(Turn(address))
    }

    /// The turn at `address`, waiting for it until `deadline`; `cancelled` is looked at every
    /// `poll` while it waits.
    pub(super) fn take(
        address: SocketAddr,
        deadline: Instant,
        poll: Duration,
        cancelled: impl Fn() -> bool,
    ) -> Result<Turn, NoTurn> {
        let mut held = lock(&HELD);
        loop {
            if !held.contains(&address) {
                held.push(address);
                return Ok(Turn(address));
            }
            if cancelled() {
                return Err(NoTurn::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NoTurn::TimedOut);
            }
            held = match FREED.wait_timeout(held, poll.min(deadline - now)) {
                Ok((held, _)) => held,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        lock(&HELD).retain(|address| *address != self.0);
        FREED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_had_once_at_a_time_and_waited_for_within_bounds() {
        // An address no other test uses: port 1 is never listened on by a sign-in.
        let address: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let turn = Turn::try_take(address).unwrap();
        assert!(Turn::try_take(address).is_none());
        let soon = Instant::now() + Duration::from_millis(50);
        let poll = Duration::from_millis(5);
        assert_eq!(
            Turn::take(address, soon, poll, || false).unwrap_err(),
            NoTurn::TimedOut
        );
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            Turn::take(address, later, poll, || true).unwrap_err(),
            NoTurn::Cancelled
        );
        let waiting = std::thread::spawn(move || Turn::take(address, later, poll, || false));
        drop(turn);
        let turn = waiting.join().unwrap().expect("the turn, once let go");
        drop(turn);
        assert!(Turn::try_take(address).is_some());
    }
}
