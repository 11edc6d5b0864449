//! Server entries checked and turned into [`ServerConfig`]s, each error at its key.

use std::collections::HashMap;

use super::expand::{expand, expand_secret};
use super::jsonc::{Kind, Member, Node};
use super::position::Positions;
use crate::config::ServerConfig;
use crate::error::Error;

/// The transport an entry asks for.
#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Stdio,
    /// `type` is `http` (or `streamable-http`).
    Http,
    Sse,
    /// A `url` and no `type`: streamable HTTP, falling back to HTTP+SSE.
    Remote,
}

/// One server entry being turned into a config.
pub(super) struct Entry<'a> {
    pub(super) name: &'a str,
    /// Byte offset of the server's key.
    pub(super) at: usize,
    /// The file's text, to locate errors.
    pub(super) positions: &'a Positions<'a>,
    pub(super) lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The offset of the entry's `oauth` key if it took its client secret from
    /// `MCP_CLIENT_SECRET`, which must not go to several authorization servers.
    pub(super) took_client_secret: std::cell::Cell<Option<usize>>,
    /// The unknown fields logged so far while reading this file: each is logged once.
    pub(super) unknown_fields: &'a std::cell::RefCell<std::collections::HashSet<String>>,
}

impl Entry<'_> {
    /// Where `member`'s key is, for messages.
    fn place(&self, member: &Member) -> String {
        self.positions.place(member.at)
    }

    /// An [`Error::Config`] about `field` of this entry, located at byte `at`.
    fn error(&self, field: Option<&str>, at: usize, message: impl Into<String>) -> Error {
        self.positions.error_at(at, Some(self.name), field, message)
    }

    /// An [`Error::Config`] saying that `field`, whose key is at byte `at`, must be `expected`
    /// and is `found` instead.
    fn wrong_type(&self, field: &str, at: usize, expected: &str, found: &Kind) -> Error {
        self.error(Some(field), at, must_be(field, expected, found))
    }

    /// The entry's config, or `None` if it is disabled.
    pub(super) fn config(&self, value: &Node) -> Option<Result<ServerConfig, Error>> {
        let Kind::Object(fields) = &value.kind else {
            return Some(Err(self.error(
                None,
                self.at,
                format!(
                    "the server entry must be an object, found {}",
                    value.kind.describe()
                ),
            )));
        };
        match self.disabled(fields) {
            Ok(true) => None,
            Ok(false) => Some(self.enabled_config(fields)),
            Err(error) => Some(Err(error)),
        }
    }

    fn disabled(&self, fields: &[Member]) -> Result<bool, Error> {
        match self.field(fields, "disabled")? {
            None => Ok(false),
            Some(member) => match member.value.kind {
                Kind::Bool(disabled) => Ok(disabled),
                ref other => Err(self.wrong_type("disabled", member.at, "true or false", other)),
            },
        }
    }

    fn enabled_config(&self, fields: &[Member]) -> Result<ServerConfig, Error> {
        if self.name.is_empty() {
            return Err(self.error(None, self.at, "the server name is empty"));
        }
        self.unknown_fields(fields)?;
        let (transport, type_name) = match self.field(fields, "type")? {
            Some(member) => {
                let Kind::String(name) = &member.value.kind else {
                    return Err(self.error(
                        Some("type"),
                        member.at,
                        format!(
                            "`type` must be one of stdio, http, streamable-http, sse; found {}",
                            member.value.kind.describe()
                        ),
                    ));
                };
                let transport = match name.as_str() {
                    "stdio" => Transport::Stdio,
                    "http" | "streamable-http" | "streamableHttp" => Transport::Http,
                    "sse" => Transport::Sse,
                    other => {
                        return Err(self.error(
                            Some("type"),
                            member.at,
                            format!(
                                "`type` must be one of stdio, http, streamable-http, sse; \
                                 found `{other}`"
                            ),
                        ));
                    }
                };
                (transport, Some(name.as_str()))
            }
            None => {
                let command = self.field(fields, "command")?.is_some();
                let url = self.field(fields, "url")?.is_some();
                match (command, url) {
                    (true, false) => (Transport::Stdio, None),
                    (false, true) => (Transport::Remote, None),
                    (true, true) => {
                        return Err(self.error(
                            Some("type"),
                            self.at,
                            "both `command` and `url` are set; add `type` to choose the transport",
                        ));
                    }
                    (false, false) => {
                        return Err(self.error(
                            Some("command"),
                            self.at,
                            "missing `command` (or `url`)",
                        ));
                    }
                }
            }
        };
        match transport {
            Transport::Stdio => self.stdio(fields, type_name),
            Transport::Http => self.http(fields, type_name, ServerConfig::http),
            Transport::Sse => self.http(fields, type_name, ServerConfig::sse),
            Transport::Remote => self.http(fields, type_name, ServerConfig::remote),
        }
    }

    fn stdio(&self, fields: &[Member], type_name: Option<&str>) -> Result<ServerConfig, Error> {
        let Some(command) = self.string_field(fields, "command")? else {
            let why = type_name.map_or(String::new(), |name| {
                format!(" (required when `type` is {name})")
            });
            return Err(self.error(Some("command"), self.at, format!("missing `command`{why}")));
        };
        if command.0.is_empty() {
            return Err(self.error(Some("command"), command.1, "`command` is empty"));
        }
        let mut config = ServerConfig::stdio(command.0);

        if let Some(member) = self.field(fields, "args")? {
            let Kind::Array(items) = &member.value.kind else {
                return Err(self.wrong_type(
                    "args",
                    member.at,
                    "an array of strings",
                    &member.value.kind,
                ));
            };
            for (index, item) in items.iter().enumerate() {
                let field = format!("args[{index}]");
                let Kind::String(arg) = &item.kind else {
                    return Err(self.wrong_type(&field, item.at, "a string", &item.kind));
                };
                config = config.arg(self.expand(arg, &field, item.at)?);
            }
        }

        for key in self.map(fields, "env")? {
            let field = format!("env.{}", key.key);
            if key.key.is_empty() || key.key.contains(['=', '\0']) {
                return Err(self.error(
                    Some(&field),
                    key.at,
                    "environment variable names cannot be empty or contain `=` or NUL",
                ));
            }
            let value = match &key.value.kind {
                Kind::String(value) => self.expand(value, &field, key.at)?,
                Kind::Number(number) => number.clone(),
                Kind::Bool(value) => value.to_string(),
                other => {
                    return Err(self.wrong_type(
                        &field,
                        key.at,
                        "a string (or a number or boolean)",
                        other,
                    ));
                }
            };
            config = config.env(&key.key, value);
        }

        if let Some((cwd, _)) = self.string_field(fields, "cwd")?
            && !cwd.is_empty()
        {
            config = config.cwd(cwd);
        }
        Ok(config)
    }

    fn http(
        &self,
        fields: &[Member],
        type_name: Option<&str>,
        remote: fn(String) -> ServerConfig,
    ) -> Result<ServerConfig, Error> {
        let Some((url, at)) = self.string_field(fields, "url")? else {
            let why = type_name.map_or(String::new(), |name| {
                format!(" (required when `type` is {name})")
            });
            return Err(self.error(Some("url"), self.at, format!("missing `url`{why}")));
        };
        if !is_http_url(&url) {
            return Err(self.error(
                Some("url"),
                at,
                format!(
                    "`url` must start with http:// or https://, found `{}`",
                    crate::config::redact_url(&url)
                ),
            ));
        }
        let mut config = remote(url);
        for name in self.map(fields, "headers")? {
            let field = format!("headers.{}", name.key);
            let Kind::String(value) = &name.value.kind else {
                return Err(self.wrong_type(&field, name.at, "a string", &name.value.kind));
            };
            let value = self.expand(value, &field, name.at)?;
            #[cfg(feature = "http")]
            self.check_header(&name.key, &value, &field, name.at)?;
            config = config.header(&name.key, value);
        }
        if let Some(oauth) = self.oauth(fields)? {
            config = config.oauth(oauth);
        }
        Ok(config)
    }

    /// Checks a header's name and expanded value as the HTTP transport will when it connects,
    /// so that a bad one is reported with its position. The value is not quoted: it may be a
    /// secret.
    #[cfg(feature = "http")]
    fn check_header(&self, name: &str, value: &str, field: &str, at: usize) -> Result<(), Error> {
        if http::HeaderName::try_from(name).is_err() {
            return Err(self.error(
                Some(field),
                at,
                format!("`{name}` is not a valid HTTP header name"),
            ));
        }
        if http::HeaderValue::try_from(value).is_err() {
            return Err(self.error(
                Some(field),
                at,
                format!(
                    "the value of `{field}` is not a valid HTTP header value \
                     (it has a line break, NUL or other control character)"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a field that looks like a misspelling of one of [`FIELDS`] (it would be
    /// ignored, and the server started without it), and logs each other unknown field, once
    /// per name and file.
    fn unknown_fields(&self, fields: &[Member]) -> Result<(), Error> {
        for member in fields {
            let key = member.key.as_str();
            if FIELDS.contains(&key) {
                continue;
            }
            if let Some(meant) = misspelt(key) {
                return Err(self.error(
                    Some(key),
                    member.at,
                    format!("unknown field `{key}`; did you mean `{meant}`?"),
                ));
            }
            if self.unknown_fields.borrow_mut().insert(key.to_owned()) {
                log::info!(
                    "mcp-dispatch: config {}: server `{}`: field `{key}` is not one mcp-dispatch \
                     reads; ignored",
                    self.place(member),
                    self.name
                );
            }
        }
        Ok(())
    }

    /// The member `key` of the entry, `None` if it is absent or `null`; an error if it is
    /// given twice.
    fn field<'f>(&self, fields: &'f [Member], key: &str) -> Result<Option<&'f Member>, Error> {
        self.member(fields, key, key)
    }

    /// The member `key` of `fields`, an object found at the field path `path` less its last
    /// key (`oauth.clientId` is the key `clientId` of `oauth`): `None` if it is absent or
    /// `null`, an error naming `path` if it is given twice.
    fn member<'f>(
        &self,
        fields: &'f [Member],
        key: &str,
        path: &str,
    ) -> Result<Option<&'f Member>, Error> {
        let mut found: Option<&Member> = None;
        for member in fields.iter().filter(|member| member.key == key) {
            if let Some(first) = found {
                return Err(self.error(
                    Some(path),
                    member.at,
                    format!("`{path}` appears twice (first at {})", self.place(first)),
                ));
            }
            found = Some(member);
        }
        Ok(found.filter(|member| !matches!(member.value.kind, Kind::Null)))
    }

    /// The string member `key`, expanded, with the offset of its key.
    fn string_field(&self, fields: &[Member], key: &str) -> Result<Option<(String, usize)>, Error> {
        self.string_member(fields, key, key)
    }

    /// The string member `key` of `fields`, at the field path `path` (see
    /// [`member`](Entry::member)), expanded, with the offset of its key.
    fn string_member(
        &self,
        fields: &[Member],
        key: &str,
        path: &str,
    ) -> Result<Option<(String, usize)>, Error> {
        let Some((value, at)) = self.unexpanded_string(fields, key, path)? else {
            return Ok(None);
        };
        Ok(Some((self.expand(value, path, at)?, at)))
    }

    /// The string member `key` of `fields`, at the field path `path`, as written (not yet
    /// expanded), with the offset of its key.
    fn unexpanded_string<'f>(
        &self,
        fields: &'f [Member],
        key: &str,
        path: &str,
    ) -> Result<Option<(&'f str, usize)>, Error> {
        let Some(member) = self.member(fields, key, path)? else {
            return Ok(None);
        };
        let Kind::String(value) = &member.value.kind else {
            return Err(self.wrong_type(path, member.at, "a string", &member.value.kind));
        };
        Ok(Some((value, member.at)))
    }

    /// The members of the object member `key` (`env`, `headers`); none if it is absent. An
    /// error if it is not an object or repeats a key.
    fn map<'f>(&self, fields: &'f [Member], key: &str) -> Result<&'f [Member], Error> {
        let Some(member) = self.field(fields, key)? else {
            return Ok(&[]);
        };
        let Kind::Object(members) = &member.value.kind else {
            return Err(self.wrong_type(key, member.at, "an object", &member.value.kind));
        };
        let mut seen: HashMap<&str, &Member> = HashMap::new();
        for inner in members {
            if let Some(first) = seen.insert(&inner.key, inner) {
                return Err(self.error(
                    Some(&format!("{key}.{}", inner.key)),
                    inner.at,
                    format!(
                        "`{}` appears twice in `{key}` (first at {})",
                        inner.key,
                        self.place(first)
                    ),
                ));
            }
        }
        Ok(members)
    }

    /// Expands the variables of `value`, the value of `field`, whose key is at byte `at`.
    fn expand(&self, value: &str, field: &str, at: usize) -> Result<String, Error> {
        expand(value, self.lookup).map_err(|message| self.error(Some(field), at, message))
    }

    /// [`expand`](Entry::expand) for a secret: the error quotes no part of `value`.
    fn expand_secret(&self, value: &str, field: &str, at: usize) -> Result<String, Error> {
        expand_secret(value, self.lookup).map_err(|message| self.error(Some(field), at, message))
    }
}

/// The fields of a server entry that this crate reads.
const FIELDS: [&str; 10] = [
    "type", "command", "args", "env", "cwd", "url", "headers", "oauth", "auth", "disabled",
];

/// Fields of other tools that [`misspelt`] would take for one of [`FIELDS`]: VS Code's `dev`
/// (its watch and debug settings) is one letter from `env`.
const OTHER_TOOLS_FIELDS: [&str; 1] = ["dev"];

/// The field of [`FIELDS`] that `key` (not one of them) looks like a misspelling of: the
/// same but for case, or for a trailing `s`, or within one edit (a letter inserted, deleted
/// or replaced, or two neighbours swapped) of a field of up to five letters, two of a longer
/// one; the closest, if several are. Fields of other tools that are that close are not
/// misspellings ([`OTHER_TOOLS_FIELDS`]).
fn misspelt(key: &str) -> Option<&'static str> {
    if OTHER_TOOLS_FIELDS.contains(&key) {
        return None;
    }
    let key = key.to_lowercase();
    let edits = |field: &str| {
        if key.strip_suffix('s') == Some(field) || field.strip_suffix('s') == Some(key.as_str()) {
            return Some(1);
        }
        crate::error::similar::edits_within(
            key.as_bytes(),
            field.as_bytes(),
            if field.len() <= 5 { 1 } else { 2 },
        )
    };
    FIELDS
        .into_iter()
        .filter_map(|field| Some((edits(field)?, field)))
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, field)| field)
}

/// Whether `url` starts with `http://` or `https://`, in any case.
fn is_http_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    })
}

/// The message saying that `field` must be `expected` and is `found` instead.
pub(super) fn must_be(field: &str, expected: &str, found: &Kind) -> String {
    format!("`{field}` must be {expected}, found {}", found.describe())
}

mod oauth;
#[cfg(test)]
mod tests;
