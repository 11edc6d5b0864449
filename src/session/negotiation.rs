//! What a client has learnt of its server's protocol over its sessions, so that later
//! sessions do not ask again what earlier ones found out.

use std::sync::atomic::{AtomicBool, Ordering};

/// A client's knowledge of how its server answers the 2026-07-28 lifecycle. Each fact is
/// learnt once and never forgotten for the client's lifetime.
#[derive(Debug, Default)]
pub(crate) struct Negotiation {
    /// The server settled on a version older than 2026-07-28, or answered
    /// `server/discover` in a way only the `initialize` handshake can follow.
    initialize_only: AtomicBool,
    /// The server left the listen stream for list changes unacknowledged.
    listen_unanswered: AtomicBool,
}

impl Negotiation {
    /// True when sessions open with `initialize` alone, skipping the `server/discover` probe.
    pub(crate) fn initialize_only(&self) -> bool {
        self.initialize_only.load(Ordering::Relaxed)
    }

    /// Learns that the server is to be spoken to with `initialize` alone; true if that was
    /// already known.
    pub(crate) fn settle_on_initialize(&self) -> bool {
        self.initialize_only.swap(true, Ordering::Relaxed)
    }

    /// True when a session should not wait for the list-changes listen stream to be
    /// acknowledged, because this server once left it unanswered.
    pub(crate) fn listen_unanswered(&self) -> bool {
        self.listen_unanswered.load(Ordering::Relaxed)
    }

    /// Learns that the server leaves the list-changes listen stream unanswered.
    pub(crate) fn note_listen_unanswered(&self) {
        self.listen_unanswered.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Negotiation;

    #[test]
    fn each_fact_is_learnt_once_and_kept() {
        let negotiation = Negotiation::default();
        assert!(!negotiation.initialize_only());
        assert!(!negotiation.settle_on_initialize(), "not known before");
        assert!(negotiation.settle_on_initialize(), "known the second time");
        assert!(negotiation.initialize_only());
        assert!(!negotiation.listen_unanswered());
        negotiation.note_listen_unanswered();
        assert!(negotiation.listen_unanswered());
    }
}
