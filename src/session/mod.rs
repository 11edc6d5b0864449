//! One session with a server: connecting (and signing in), the handshake's hooks, requests
//! and their input rounds, listen streams, and the notifications that come back.

pub(crate) mod backoff;
pub(crate) mod connect;
pub(crate) mod hooks;
pub(crate) mod input_rounds;
pub(crate) mod listen;
pub(crate) mod negotiation;
pub(crate) mod notify;
pub(crate) mod request;
mod running;

pub(crate) use running::*;
