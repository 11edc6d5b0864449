//! Notifications on protocol 2026-07-28, where a server sends list changes and resource
//! updates only on the `subscriptions/listen` streams a client opens: one per session for
//! the list changes the server advertises, and one per subscribed resource. What they carry
//! reaches the same [`notifications`](crate::Client::notifications) as on older sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::Either;
use rmcp::model::{
    ErrorData, ProtocolVersion, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{ServiceError, Subscription};
use rmcp::{Peer, RoleClient};

use crate::runtime::sync::{Flag, lock};
use crate::session::hooks::Hooks;

/// How long a new session waits for the server to acknowledge its stream of list changes
/// (at most the connect timeout). A server sends the acknowledgment first thing.
pub(crate) const ACKNOWLEDGE_BOUND: Duration = Duration::from_secs(5);

/// True when the session speaks protocol 2026-07-28 or later.
pub(crate) fn modern(peer: &Peer<RoleClient>) -> bool {
    peer.peer_info()
        .is_some_and(|info| info.protocol_version >= ProtocolVersion::V_2026_07_28)
}

/// On a 2026-07-28 session, opens the stream of the list changes the server advertises,
/// waiting at most `bound` for the server to acknowledge it (before the session serves calls,
/// so that no change after the connect goes unseen). A server that refuses is logged, and the
/// session goes on without list changes; one that does not answer in time is not asked
/// again by this client.
pub(crate) async fn list_changes(peer: &Peer<RoleClient>, hooks: &Arc<Hooks>, bound: Duration) {
    if !modern(peer) || hooks.negotiation.listen_unanswered() {
        return;
    }
    let Some(info) = peer.peer_info() else {
        return;
    };
    let all = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed()
        .build();
    let filter = all.supported_by(&info.capabilities);
    if filter == SubscriptionFilter::default() {
        return;
    }
    match crate::runtime::timeout(bound, peer.listen(filter.clone())).await {
        Some(Ok(subscription)) => {
            let stream = Stream {
                hooks: hooks.clone(),
                peer: peer.clone(),
                filter,
                stop: None,
                resource: None,
            };
            crate::runtime::spawn(stream.keep(subscription));
        }
        Some(Err(error)) => log::warn!(
            "mcp-dispatch: server `{}`: cannot listen for list changes: {error}",
            hooks.server
        ),
        None => {
            hooks.negotiation.note_listen_unanswered();
            log::warn!(
                "mcp-dispatch: server `{}`: listening for list changes was not acknowledged \
                 within {bound:?}; its sessions go on without list changes",
                hooks.server
            );
        }
    }
}

/// Subscribes to updates of the resource at `uri`: `resources/subscribe` on older sessions,
/// a `subscriptions/listen` stream of its own on 2026-07-28 ones.
pub(crate) async fn subscribe(
    peer: &Peer<RoleClient>,
    hooks: &Arc<Hooks>,
    uri: String,
) -> Result<(), ServiceError> {
    if !modern(peer) {
        #[allow(deprecated)]
        return peer.subscribe(SubscribeRequestParams::new(uri)).await;
    }
    let filter = SubscriptionFilter::builder()
        .resource_subscription(uri.clone())
        .build();
    let mut subscription = peer.listen(filter.clone()).await?;
    let accepted = subscription
        .acknowledged()
        .resource_subscriptions
        .as_ref()
        .is_some_and(|uris| uris.contains(&uri));
    if !accepted {
        let _ = subscription.cancel().await;
        return Err(ServiceError::McpError(ErrorData::invalid_params(
            format!("the server did not accept a subscription to {uri}"),
            None,
        )));
    }
    let stop = hooks.listens.open(&uri);
    let stream = Stream {
        hooks: hooks.clone(),
        peer: peer.clone(),
        filter,
        stop: Some(stop),
        resource: Some(uri),
    };
    crate::runtime::spawn(stream.keep(subscription));
    Ok(())
}

/// Ends the subscription to `uri`: `resources/unsubscribe` on older sessions; on 2026-07-28
/// ones, cancels its stream (nothing to do when there is none).
pub(crate) async fn unsubscribe(
    peer: &Peer<RoleClient>,
    hooks: &Arc<Hooks>,
    uri: String,
) -> Result<(), ServiceError> {
    if !modern(peer) {
        #[allow(deprecated)]
        return peer.unsubscribe(UnsubscribeRequestParams::new(uri)).await;
    }
    hooks.listens.stop(&uri);
    Ok(())
}

/// A client's listen streams: one per subscribed resource, each stopped by raising its flag,
/// and the flag raised when the latest session closes, which stops them all.
#[derive(Default)]
pub(crate) struct Listens {
    by_uri: Mutex<HashMap<String, Arc<Flag>>>,
    session_closing: Mutex<Arc<Flag>>,
}

impl Listens {
    /// The stop flag of a new stream for `uri`; a stream already open for it is stopped.
    fn open(&self, uri: &str) -> Arc<Flag> {
        let stop = Arc::new(Flag::default());
        if let Some(replaced) = lock(&self.by_uri).insert(uri.to_owned(), stop.clone()) {
            replaced.set();
        }
        stop
    }

    /// Stops the stream for `uri`, if there is one.
    fn stop(&self, uri: &str) {
        if let Some(stop) = lock(&self.by_uri).remove(uri) {
            stop.set();
        }
    }

    /// Forgets the stream for `uri` that `stop` stops, once it has ended (unless another
    /// stream replaced it since).
    fn ended(&self, uri: &str, stop: &Arc<Flag>) {
        let mut by_uri = lock(&self.by_uri);
        if by_uri.get(uri).is_some_and(|held| Arc::ptr_eq(held, stop)) {
            by_uri.remove(uri);
        }
    }

    /// The flag raised when the latest session closes.
    fn session_closing(&self) -> Arc<Flag> {
        lock(&self.session_closing).clone()
    }

    /// Makes `closing` the flag that stops the streams, for a new session.
    pub(crate) fn session_started(&self, closing: Arc<Flag>) {
        *lock(&self.session_closing) = closing;
    }
}

/// How many times in a row a stream that ended soon after it opened is opened again.
const REOPENS: u32 = 3;

/// A stream that lasted this long before it ended was not ending at once: the count of
/// reopens starts again.
const LASTED: Duration = Duration::from_secs(30);

/// One listen stream of a session, kept open: what it carries is delivered, and when the
/// server ends it, or it breaks while the session lives (a proxy that cuts long requests,
/// say), it is opened again with the same filter, backing off, at most [`REOPENS`] times in a
/// row. It stops for good when `stop` is raised or its session closes (both cancel it), or
/// its session dies. The stream of a resource forgets its entry in the hooks when it stops.
struct Stream {
    hooks: Arc<Hooks>,
    peer: Peer<RoleClient>,
    filter: SubscriptionFilter,
    stop: Option<Arc<Flag>>,
    resource: Option<String>,
}

/// Why a stream stopped carrying notifications.
enum Ended {
    /// `stop` was raised or the session is closing: the stream was cancelled.
    Stopped,
    /// The stream ended or broke.
    Ended,
}

impl Stream {
    async fn keep(self, mut subscription: Subscription) {
        let closing = self.hooks.listens.session_closing();
        let mut quick_ends = 0;
        loop {
            let opened = std::time::Instant::now();
            if let Ended::Stopped = self.forward(&mut subscription, &closing).await {
                break;
            }
            if opened.elapsed() >= LASTED {
                quick_ends = 0;
            }
            quick_ends += 1;
            if self.peer.is_transport_closed() || quick_ends > REOPENS {
                break;
            }
            let delay = Duration::from_millis(100 << quick_ends);
            let stopped = {
                let wait = std::pin::pin!(crate::runtime::sleep(delay));
                let stopped = std::pin::pin!(self.stopped(&closing));
                matches!(
                    futures::future::select(wait, stopped).await,
                    Either::Right(_)
                )
            };
            if stopped {
                break;
            }
            match crate::runtime::timeout(ACKNOWLEDGE_BOUND, self.peer.listen(self.filter.clone()))
                .await
            {
                Some(Ok(reopened)) => {
                    log::info!(
                        "mcp-dispatch: server `{}`: a subscriptions/listen stream ended; \
                         opened it again",
                        self.hooks.server
                    );
                    subscription = reopened;
                }
                Some(Err(error)) => {
                    log::warn!(
                        "mcp-dispatch: server `{}`: cannot open a subscriptions/listen stream \
                         again: {error}",
                        self.hooks.server
                    );
                    break;
                }
                None => break,
            }
        }
        if let (Some(uri), Some(stop)) = (&self.resource, &self.stop) {
            self.hooks.listens.ended(uri, stop);
        }
    }

    /// Delivers what `subscription` carries until it ends, or until it is stopped, which
    /// cancels it.
    async fn forward(&self, subscription: &mut Subscription, closing: &Flag) -> Ended {
        loop {
            let next = {
                let next = std::pin::pin!(subscription.next());
                let stopped = std::pin::pin!(self.stopped(closing));
                match futures::future::select(next, stopped).await {
                    Either::Left((next, _)) => Some(next),
                    Either::Right(_) => None,
                }
            };
            match next {
                Some(Ok(Some(notification))) => self.hooks.deliver(notification),
                Some(Ok(None)) => return Ended::Ended,
                Some(Err(error)) => {
                    log::warn!(
                        "mcp-dispatch: server `{}`: a subscriptions/listen stream failed: {error}",
                        self.hooks.server
                    );
                    return Ended::Ended;
                }
                None => {
                    let _ = subscription.cancel().await;
                    return Ended::Stopped;
                }
            }
        }
    }

    /// Completes when `stop` is raised or the session closes.
    async fn stopped(&self, closing: &Flag) {
        match &self.stop {
            Some(stop) => {
                let stopped = std::pin::pin!(stop.wait());
                futures::future::select(stopped, std::pin::pin!(closing.wait())).await;
            }
            None => closing.wait().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_per_uri_replaced_stopped_or_forgotten_once_ended() {
        let listens = Listens::default();
        let first = listens.open("file:///a");
        let second = listens.open("file:///a");
        assert!(
            first.is_set(),
            "a second stream for the URI stops the first"
        );
        assert!(!second.is_set());
        // The first stream ending does not forget the second.
        listens.ended("file:///a", &first);
        listens.stop("file:///a");
        assert!(second.is_set());
        let third = listens.open("file:///b");
        listens.ended("file:///b", &third);
        listens.stop("file:///b");
        assert!(
            !third.is_set(),
            "an ended stream is forgotten, not stopped again"
        );
        let closing = Arc::new(Flag::default());
        listens.session_started(closing.clone());
        assert!(Arc::ptr_eq(&listens.session_closing(), &closing));
    }
}
