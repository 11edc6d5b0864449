//! Helpers for the config file tests: a fixed environment, entries found, errors checked.

use std::collections::HashMap;
use std::ffi::OsString;

use super::{ServerEntry, parse};
use crate::config::{HttpConfig, ServerConfig, StdioConfig, TransportConfig};
use crate::error::Error;
use crate::oauth::OAuth;

/// The environment the tests see.
pub(super) fn env() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("HOME_DIR", "/home/me"),
        ("TOKEN", "s3cret"),
        ("EMPTY", ""),
        ("PORT", "8080"),
        ("DOLLAR", "${NOT_EXPANDED}"),
    ])
}

pub(super) fn parse_ok(text: &str) -> Vec<ServerEntry> {
    parse_with(text, &[])
}

/// [`parse_ok`] with `extra` variables set on top of [`env`].
pub(super) fn parse_with(text: &str, extra: &[(&'static str, &'static str)]) -> Vec<ServerEntry> {
    let mut env = env();
    env.extend(extra.iter().copied());
    parse(text, &|name| env.get(name).map(|v| (*v).to_owned()))
        .unwrap_or_else(|error| panic!("parse failed: {error}"))
}

pub(super) fn parse_err(text: &str) -> Error {
    let env = env();
    match parse(text, &|name| env.get(name).map(|v| (*v).to_owned())) {
        Ok(entries) => panic!("expected an error, got {entries:?}"),
        Err(error) => error,
    }
}

pub(super) fn names(entries: &[ServerEntry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.name.as_str()).collect()
}

/// The entry named `name`.
pub(super) fn entry<'e>(entries: &'e [ServerEntry], name: &str) -> &'e ServerEntry {
    entries
        .iter()
        .find(|entry| entry.name == name)
        .unwrap_or_else(|| panic!("no entry `{name}` in {entries:?}"))
}

pub(super) fn config<'e>(entries: &'e [ServerEntry], name: &str) -> &'e ServerConfig {
    match &entry(entries, name).config {
        Ok(config) => {
            assert_eq!(config.server_name(), name);
            config
        }
        Err(error) => panic!("entry `{name}` failed: {error}"),
    }
}

pub(super) fn stdio<'e>(entries: &'e [ServerEntry], name: &str) -> &'e StdioConfig {
    match &config(entries, name).transport {
        TransportConfig::Stdio(stdio) => stdio,
        other => panic!("`{name}` is not stdio: {other:?}"),
    }
}

pub(super) fn http<'e>(entries: &'e [ServerEntry], name: &str) -> &'e HttpConfig {
    match &config(entries, name).transport {
        TransportConfig::Http(http) => http,
        other => panic!("`{name}` is not http: {other:?}"),
    }
}

/// The sign-in settings of the HTTP entry `name`.
pub(super) fn oauth<'e>(entries: &'e [ServerEntry], name: &str) -> &'e OAuth {
    &http(entries, name).oauth
}

pub(super) fn entry_error<'e>(entries: &'e [ServerEntry], name: &str) -> &'e Error {
    match &entry(entries, name).config {
        Ok(config) => panic!("entry `{name}` should fail, got {config:?}"),
        Err(error) => error,
    }
}

pub(super) fn os(values: &[&str]) -> Vec<OsString> {
    values.iter().map(OsString::from).collect()
}

pub(super) fn pairs(values: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    values
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

/// Asserts that `error` is a `Config` error with these parts, and `message` contains
/// `needle`.
#[track_caller]
pub(super) fn assert_config(
    error: &Error,
    server: Option<&str>,
    field: Option<&str>,
    at: (usize, usize),
    needle: &str,
) {
    match error {
        Error::Config {
            server: s,
            field: f,
            line: Some(line),
            column: Some(column),
            message,
            ..
        } => {
            assert_eq!(s.as_deref(), server, "server of {error}");
            assert_eq!(f.as_deref(), field, "field of {error}");
            assert_eq!((*line, *column), at, "position of {error}");
            assert!(message.contains(needle), "`{message}` lacks `{needle}`");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// [`parse_ok`] on a thread of its own with a 2 MiB stack (a stack overflow would abort the
/// test process), failing if it takes longer than `bound`. A slow parse is left running; the
/// test process ends without it.
pub(super) fn parse_within(text: String, bound: std::time::Duration) -> Vec<ServerEntry> {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let _ = done.send(parse_ok(&text));
        })
        .unwrap();
    finished
        .recv_timeout(bound)
        .unwrap_or_else(|error| panic!("not parsed within {bound:?}: {error}"))
}
