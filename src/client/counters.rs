//! What a client has done so far, counted as it happens and read as [`Stats`].

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::client::options::{Stats, TransportKind};

/// A client's counters. Each moves only forward, and only through the methods here.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    connects: AtomicU64,
    connect_failures: AtomicU64,
    retries: AtomicU64,
    /// The [`TransportKind`] code of the latest session (0: none yet).
    transport: AtomicU8,
}

impl Counters {
    /// A session started, speaking over `transport`.
    pub(crate) fn connected(&self, transport: TransportKind) {
        self.connects.fetch_add(1, Ordering::Relaxed);
        self.transport.store(transport.code(), Ordering::Relaxed);
    }

    /// A connect failed.
    pub(crate) fn connect_failed(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was sent again on a new session.
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            connects: self.connects.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            transport: TransportKind::from_code(self.transport.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_the_latest_transport_are_read_as_stats() {
        let counters = Counters::default();
        assert_eq!(counters.stats().transport, None);
        counters.connect_failed();
        counters.connected(TransportKind::Sse);
        counters.connected(TransportKind::Stdio);
        counters.retried();
        let stats = counters.stats();
        assert_eq!(
            (stats.connects, stats.connect_failures, stats.retries),
            (2, 1, 1)
        );
        assert_eq!(stats.transport, Some(TransportKind::Stdio));
    }
}
