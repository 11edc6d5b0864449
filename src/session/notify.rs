//! What servers say outside of answers: notifications to subscribers, and progress to the
//! call that asked for it.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use rmcp::model::ProgressToken;

use crate::runtime::blocking::block_on_bounded;
use crate::runtime::sync::lock;

/// How many notifications a subscription buffers before it drops new ones.
const SUBSCRIPTION_CAPACITY: usize = 1024;
/// How many unclaimed progress reports a session keeps, and for how long.
const PENDING_PROGRESS: usize = 256;
const PENDING_PROGRESS_AGE: Duration = Duration::from_secs(5);

/// A notification a server sent on its own, outside of an answer.
///
/// Receive them with [`Client::notifications`](crate::Client::notifications) (or the Hub's).
/// Progress on a call goes to that call's callback instead
/// ([`CallOptions::on_progress`](crate::CallOptions::on_progress)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// A log message (`notifications/message`).
    Log {
        /// The server's name.
        server: String,
        /// The severity, as the protocol spells it (`debug`, `info`, `warning`, `error`, ...).
        level: String,
        /// The logger's name, if given.
        logger: Option<String>,
        /// The message: any JSON.
        data: serde_json::Value,
    },
    /// A subscribed resource changed (`notifications/resources/updated`).
    ResourceUpdated {
        /// The server's name.
        server: String,
        /// The resource's URI.
        uri: String,
    },
    /// The server's tool list changed. The client's cached list has already been dropped.
    ToolListChanged {
        /// The server's name.
        server: String,
    },
    /// The server's resource list changed.
    ResourceListChanged {
        /// The server's name.
        server: String,
    },
    /// The server's prompt list changed.
    PromptListChanged {
        /// The server's name.
        server: String,
    },
}

impl Notification {
    /// The name of the server that sent it.
    pub fn server(&self) -> &str {
        match self {
            Notification::Log { server, .. }
            | Notification::ResourceUpdated { server, .. }
            | Notification::ToolListChanged { server }
            | Notification::ResourceListChanged { server }
            | Notification::PromptListChanged { server } => server,
        }
    }
}

/// A progress report on one call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Progress so far; it increases with every report.
    pub progress: f64,
    /// The total, if the server knows it.
    pub total: Option<f64>,
    /// A message, if any.
    pub message: Option<String>,
}

/// A subscription to [`Notification`]s: a [`Stream`][stream], with blocking and non-blocking
/// receives for code without an executor.
///
/// It buffers up to 1024 notifications; when a slow reader lets it fill up, newer ones are
/// dropped (and counted by [`dropped`](Notifications::dropped)) rather than ever blocking a
/// server. Dropping it unsubscribes.
///
/// [stream]: https://docs.rs/futures/0.3/futures/stream/trait.Stream.html
///
/// ```
/// use mcp_dispatch::{Client, ServerConfig};
///
/// let client = Client::new(ServerConfig::stdio("my-mcp-server"));
/// let notifications = client.notifications();
/// assert!(notifications.try_recv().is_none());
/// ```
#[derive(Debug)]
pub struct Notifications {
    receiver: Pin<Box<async_channel::Receiver<Notification>>>,
    dropped: Arc<AtomicU64>,
}

impl Notifications {
    /// The next notification, if one is waiting.
    pub fn try_recv(&self) -> Option<Notification> {
        self.receiver.try_recv().ok()
    }

    /// Waits for the next notification, at most `timeout`.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread up to `timeout`. Do not call it on a thread that runs this
    /// library's jobs: nothing could arrive while it waits.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Notification> {
        block_on_bounded(self.receiver.recv(), timeout).and_then(Result::ok)
    }

    /// Waits for the next notification. `None` once the sender side is gone for good.
    pub async fn recv(&self) -> Option<Notification> {
        self.receiver.recv().await.ok()
    }

    /// How many notifications were dropped because this subscription was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Stream for Notifications {
    type Item = Notification;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        self.receiver.as_mut().poll_next(cx)
    }
}

/// Fans notifications out to subscriptions without ever blocking.
#[derive(Default)]
pub(crate) struct Bus {
    subscribers: Mutex<Vec<(async_channel::Sender<Notification>, Arc<AtomicU64>)>>,
}

impl Bus {
    pub(crate) fn subscribe(&self) -> Notifications {
        let (sender, receiver) = async_channel::bounded(SUBSCRIPTION_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        lock(&self.subscribers).push((sender, dropped.clone()));
        Notifications {
            receiver: Box::pin(receiver),
            dropped,
        }
    }

    pub(crate) fn publish(&self, notification: &Notification) {
        let mut subscribers = lock(&self.subscribers);
        subscribers.retain(
            |(sender, dropped)| match sender.try_send(notification.clone()) {
                Ok(()) => true,
                Err(async_channel::TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(async_channel::TrySendError::Closed(_)) => false,
            },
        );
    }
}

/// Routes progress reports to the calls that asked for them.
///
/// A report can arrive before its call has registered (the server may answer quickly), so
/// unclaimed reports are kept for a few seconds and handed over on registration.
#[derive(Default)]
pub(crate) struct ProgressRoutes {
    state: Mutex<RoutesState>,
}

#[derive(Default)]
struct RoutesState {
    routes: HashMap<(u64, ProgressToken), futures::channel::mpsc::UnboundedSender<Progress>>,
    pending: VecDeque<(Instant, (u64, ProgressToken), Progress)>,
}

impl ProgressRoutes {
    /// Routes reports for `token` of session `session` to `sink` until the guard drops.
    pub(crate) fn register(
        self: &Arc<Self>,
        session: u64,
        token: ProgressToken,
        sink: futures::channel::mpsc::UnboundedSender<Progress>,
    ) -> RouteGuard {
        let key = (session, token);
        let mut state = lock(&self.state);
        let mut kept = VecDeque::new();
        for (at, pending_key, progress) in state.pending.drain(..) {
            if pending_key == key {
                let _ = sink.unbounded_send(progress);
            } else {
                kept.push_back((at, pending_key, progress));
            }
        }
        state.pending = kept;
        state.routes.insert(key.clone(), sink);
        RouteGuard {
            routes: self.clone(),
            key: Some(key),
        }
    }

    pub(crate) fn deliver(&self, session: u64, token: ProgressToken, progress: Progress) {
        let key = (session, token);
        let mut state = lock(&self.state);
        if let Some(sink) = state.routes.get(&key) {
            let _ = sink.unbounded_send(progress);
            return;
        }
        let now = Instant::now();
        while state
            .pending
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > PENDING_PROGRESS_AGE)
            || state.pending.len() >= PENDING_PROGRESS
        {
            state.pending.pop_front();
        }
        state.pending.push_back((now, key, progress));
    }
}

/// Removes a progress route when the call ends.
pub(crate) struct RouteGuard {
    routes: Arc<ProgressRoutes>,
    key: Option<(u64, ProgressToken)>,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.routes.state).routes.remove(&key);
        }
    }
}
