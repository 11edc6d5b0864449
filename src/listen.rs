//! Notifications on protocol 2026-07-28, where a server sends list changes and resource
//! updates only on the `subscriptions/listen` streams a client opens: one per session for
//! the list changes the server advertises, and one per subscribed resource. What they carry
//! reaches the same [`notifications`](crate::Client::notifications) as on older sessions.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::Either;
use rmcp::model::{
    ErrorData, ProtocolVersion, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{ServiceError, Subscription};
use rmcp::{Peer, RoleClient};

use crate::handler::Hooks;
use crate::sync::{Flag, lock};

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
    if !modern(peer) || hooks.listen_unanswered.load(Ordering::Relaxed) {
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
    match crate::runtime::timeout(bound, peer.listen(filter)).await {
        Some(Ok(subscription)) => {
            crate::runtime::spawn(forward(hooks.clone(), subscription, None, None));
        }
        Some(Err(error)) => log::warn!(
            "mcp-dispatch: server `{}`: cannot listen for list changes: {error}",
            hooks.server
        ),
        None => {
            hooks.listen_unanswered.store(true, Ordering::Relaxed);
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
    let mut subscription = peer.listen(filter).await?;
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
    let stop = Arc::new(Flag::default());
    let replaced = lock(&hooks.listens).insert(uri.clone(), stop.clone());
    if let Some(replaced) = replaced {
        replaced.set();
    }
    crate::runtime::spawn(forward(hooks.clone(), subscription, Some(stop), Some(uri)));
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
    if let Some(stop) = lock(&hooks.listens).remove(&uri) {
        stop.set();
    }
    Ok(())
}

/// Delivers what `subscription` carries until it ends (its session died, or the server ended
/// it), or until `stop` is raised or its session closes, which cancel it. The stream of a
/// resource forgets its entry in the hooks when it ends.
async fn forward(
    hooks: Arc<Hooks>,
    mut subscription: Subscription,
    stop: Option<Arc<Flag>>,
    resource: Option<String>,
) {
    let closing = lock(&hooks.session_closing).clone();
    loop {
        let next = {
            let next = std::pin::pin!(subscription.next());
            let stopped = std::pin::pin!(async {
                match &stop {
                    Some(stop) => {
                        let stopped = std::pin::pin!(stop.wait());
                        futures::future::select(stopped, std::pin::pin!(closing.wait())).await;
                    }
                    None => closing.wait().await,
                }
            });
            match futures::future::select(next, stopped).await {
                Either::Left((next, _)) => Some(next),
                Either::Right(_) => None,
            }
        };
        match next {
            Some(Ok(Some(notification))) => hooks.deliver(notification),
            Some(Ok(None)) => break,
            Some(Err(error)) => {
                log::warn!(
                    "mcp-dispatch: server `{}`: a subscriptions/listen stream failed: {error}",
                    hooks.server
                );
                break;
            }
            None => {
                let _ = subscription.cancel().await;
                break;
            }
        }
    }
    if let (Some(uri), Some(stop)) = (resource, stop) {
        let mut listens = lock(&hooks.listens);
        if listens
            .get(&uri)
            .is_some_and(|held| Arc::ptr_eq(held, &stop))
        {
            listens.remove(&uri);
        }
    }
}
