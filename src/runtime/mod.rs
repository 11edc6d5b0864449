//! Where futures run: the library's tokio context and thread, the executors and dispatchers
//! that run jobs, blocking waits, and the primitives they share.
//!
//! Only this layer and the transports name tokio; the layers above it use
//! [`context`]'s `timeout`, `sleep` and `spawn`.

pub(crate) mod blocking;
mod context;
pub(crate) mod dispatcher;
pub(crate) mod executor;
pub(crate) mod jobs;
pub(crate) mod single_flight;
pub(crate) mod sync;

pub(crate) use context::*;
