//! A client's cached tool list, and the retry-safety hints its tools carry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::Tool;

use crate::error::{Error, Result};
use crate::runtime::single_flight::{Claim, SingleFlight};
use crate::runtime::sync::lock;

/// The tool list of one client: fetched once, shared by every caller that asks while it is
/// fetched, and dropped when the server says it changed or a new session starts.
pub(crate) struct ToolCache {
    list: Arc<SingleFlight<Arc<Vec<Tool>>, Error>>,
    /// Bumped on every change, so that a fetch that raced one is not kept.
    changes: AtomicU64,
    /// Tool name -> whether its annotations make a retry safe, from the last listing.
    safe: Mutex<HashMap<String, bool>>,
}

/// The duty to fetch the list for every caller waiting on it. Dropping it unfinished wakes
/// them with the cache's `abandoned` error.
pub(crate) struct Fetch {
    claim: Claim<Arc<Vec<Tool>>, Error>,
    /// The change count when the fetch began.
    changes: u64,
}

impl ToolCache {
    /// An empty cache. `abandoned` is the error waiters get when a fetch is dropped unfinished.
    pub(crate) fn new(abandoned: Error) -> ToolCache {
        ToolCache {
            list: SingleFlight::new(abandoned),
            changes: AtomicU64::new(0),
            safe: Mutex::new(HashMap::new()),
        }
    }

    /// The cached list, or the outcome of the one fetch in flight.
    ///
    /// A caller that finds neither hands the claim to `start`, which must see it completed
    /// with [`begin`](ToolCache::begin) and [`finish`](ToolCache::finish); it then waits for
    /// the outcome like every other caller. `Err(None)` means the cache is closed.
    pub(crate) async fn get(
        &self,
        start: impl FnMut(Claim<Arc<Vec<Tool>>, Error>),
    ) -> Result<Arc<Vec<Tool>>, Option<Error>> {
        self.list.get_or_start(start).await.map(|(tools, _)| tools)
    }

    /// Starts a fetch. Call it once the session is up: a new session drops the cache, which
    /// must not count as a change during this fetch.
    pub(crate) fn begin(&self, claim: Claim<Arc<Vec<Tool>>, Error>) -> Fetch {
        Fetch {
            claim,
            changes: self.changes.load(Ordering::Acquire),
        }
    }

    /// Completes a fetch with what the server listed. A list that changed while it was fetched
    /// is served to the callers waiting for it, but not kept.
    pub(crate) fn finish(&self, fetch: Fetch, listed: Result<Vec<Tool>>) {
        let tools = match listed {
            Ok(tools) => tools,
            Err(error) => return fetch.claim.fail(error),
        };
        self.remember_hints(&tools);
        let tools = Arc::new(tools);
        if let Ok((_, generation)) = fetch.claim.succeed(|_| tools)
            && self.changes.load(Ordering::Acquire) != fetch.changes
        {
            self.list.invalidate(generation);
        }
    }

    /// Drops the cached list: the server said it changed, or a new session may serve another.
    pub(crate) fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        if let Some((_, generation)) = self.list.current() {
            self.list.invalidate(generation);
        }
    }

    /// Whether the last listing said `tool` is safe to call twice (`readOnlyHint` or
    /// `idempotentHint`).
    pub(crate) fn is_safe(&self, tool: &str) -> bool {
        lock(&self.safe).get(tool).copied().unwrap_or(false)
    }

    fn remember_hints(&self, tools: &[Tool]) {
        let mut safe = lock(&self.safe);
        safe.clear();
        for tool in tools {
            let hinted = tool.annotations.as_ref().is_some_and(|hints| {
                hints.read_only_hint == Some(true) || hints.idempotent_hint == Some(true)
            });
            // A name listed twice keeps its first listing, as the Hub offers it.
            safe.entry(tool.name.to_string()).or_insert(hinted);
        }
    }
}
