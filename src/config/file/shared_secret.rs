//! The rule that `MCP_CLIENT_SECRET` goes to one authorization server per hub, whichever
//! files its entries come from.

use std::path::{Path, PathBuf};

use super::ServerEntry;
use crate::error::Error;

/// How many of the other entries an error names; it counts the rest, so that each error is
/// short and all of them take time linear in the number of entries.
const NAMED: usize = 3;

/// The entries of one hub that take their client secret from `MCP_CLIENT_SECRET`, gathered
/// from each config file the hub reads.
#[derive(Debug, Default)]
pub(crate) struct SecretTakers {
    takers: Vec<Taker>,
}

/// One entry that takes its client secret from `MCP_CLIENT_SECRET`.
#[derive(Debug)]
struct Taker {
    server: String,
    /// The line and column of its `oauth` key.
    at: (usize, usize),
    /// The file it comes from, if it was read from one.
    file: Option<PathBuf>,
}

impl SecretTakers {
    /// Notes the entries of one config file (`file`, if it was read from a file) that take
    /// their client secret from `MCP_CLIENT_SECRET`.
    pub(crate) fn add(&mut self, entries: &[ServerEntry], file: Option<&Path>) {
        self.takers.extend(entries.iter().filter_map(|entry| {
            Some(Taker {
                server: entry.name.clone(),
                at: entry.client_secret_from_env?,
                file: file.map(Path::to_owned),
            })
        }));
    }

    /// Each entry's server name with its [`Error::Config`] (at its `oauth` key), if more than
    /// one entry would take the secret; none otherwise.
    pub(crate) fn refusals(&self) -> impl Iterator<Item = (&str, Error)> {
        let count = self.takers.len();
        let takers = if count < 2 { &[][..] } else { &self.takers };
        takers.iter().enumerate().map(move |(index, taker)| {
            let others = self
                .takers
                .iter()
                .enumerate()
                .filter(|&(other, _)| other != index)
                .map(|(_, other)| other);
            let mut named: Vec<String> = others
                .take(NAMED)
                .map(|other| match &other.file {
                    Some(file) if other.file != taker.file => {
                        format!("`{}` in {}", other.server, file.display())
                    }
                    _ => format!("`{}`", other.server),
                })
                .collect();
            let more = count - 1 - named.len();
            let last = if more > 0 {
                format!("{more} more")
            } else {
                named.pop().unwrap_or_default()
            };
            let others = if named.is_empty() {
                last
            } else {
                format!("{} and {last}", named.join(", "))
            };
            let message = format!(
                "`MCP_CLIENT_SECRET` would be sent to the authorization servers of {count} \
                 entries: this one and {others}; give each its own `clientSecret` \
                 (\"${{A_SECRET}}\")"
            );
            let error = Error::Config {
                server: Some(taker.server.clone()),
                field: Some("oauth".to_owned()),
                line: Some(taker.at.0),
                column: Some(taker.at.1),
                message,
                path: None,
                source: None,
            };
            (taker.server.as_str(), error)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::Hub;

    /// The environment of these tests: `MCP_CLIENT_SECRET` is set.
    fn lookup(name: &str) -> Option<String> {
        (name == "MCP_CLIENT_SECRET").then(|| "from-env".to_owned())
    }

    /// Writes each text to a file of its own, and returns their paths.
    fn files(test: &str, texts: &[&str]) -> Vec<PathBuf> {
        let dir =
            std::env::temp_dir().join(format!("mcp-dispatch-secret-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let path = dir.join(format!("{index}.json"));
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect()
    }

    /// The errors of the servers of a hub that reads `paths`, by server name.
    fn errors_of_hub(paths: &[PathBuf]) -> BTreeMap<String, Error> {
        let mut builder = Hub::builder();
        for path in paths {
            builder = builder.servers_from_file(path, &lookup).unwrap();
        }
        let hub = builder.build().unwrap();
        let errors = hub
            .list_tools_blocking()
            .errors
            .into_iter()
            .map(|error| match &error {
                Error::Config {
                    server: Some(server),
                    ..
                } => (server.clone(), error),
                other => panic!("expected a config error naming its server, got {other:?}"),
            })
            .collect();
        hub.close_blocking().unwrap();
        errors
    }

    /// Asserts `error` is the refusal at `(line, column)`, and returns its message.
    #[track_caller]
    fn refusal(error: &Error, at: (usize, usize)) -> &str {
        match error {
            Error::Config {
                field: Some(field),
                line: Some(line),
                column: Some(column),
                message,
                ..
            } if field == "oauth" => {
                assert_eq!((*line, *column), at, "{error}");
                assert!(!message.contains("from-env"), "{message}");
                message
            }
            other => panic!("expected a config error about `oauth`, got {other:?}"),
        }
    }

    #[test]
    fn two_files_with_one_taker_each_are_refused_as_one_file_is() {
        let paths = files(
            "two-files",
            &[
                r#"{"mcpServers": {"first": {"url": "https://a.example/mcp", "oauth": {"clientId": "a"}}}}"#,
                "{\"mcpServers\": {\n  \"second\": {\"url\": \"https://b.example/mcp\", \"oauth\": {\"clientId\": \"b\"}}}}",
            ],
        );
        let errors = errors_of_hub(&paths);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let first = refusal(&errors["first"], (1, 59));
        assert_eq!(
            first,
            format!(
                "`MCP_CLIENT_SECRET` would be sent to the authorization servers of 2 entries: \
                 this one and `second` in {}; give each its own `clientSecret` (\"${{A_SECRET}}\")",
                paths[1].display()
            )
        );
        let second = refusal(&errors["second"], (2, 46));
        assert!(
            second.contains(&format!("this one and `first` in {};", paths[0].display())),
            "{second}"
        );
    }

    #[test]
    fn two_takers_in_one_file_are_refused_and_an_entry_with_its_own_secret_is_not() {
        let paths = files(
            "one-file",
            &[r#"{"mcpServers": {
  "first": {"url": "https://a.example/mcp", "oauth": {"clientId": "a"}},
  "second": {"url": "https://b.example/mcp", "oauth": {"clientId": "b"}},
  "own": {"url": "https://c.example/mcp", "oauth": {"clientId": "c", "clientSecret": "own"}, "disabled": true}
}}"#],
        );
        let errors = errors_of_hub(&paths);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let first = refusal(&errors["first"], (2, 45));
        assert!(
            first.contains("2 entries: this one and `second`;"),
            "{first}"
        );
        let second = refusal(&errors["second"], (3, 46));
        assert!(
            second.contains("2 entries: this one and `first`;"),
            "{second}"
        );
    }

    #[test]
    fn one_taker_is_not_refused() {
        let mut takers = SecretTakers::default();
        let entry = ServerEntry {
            name: "only".to_owned(),
            config: Ok(crate::ServerConfig::http("https://a.example/mcp")),
            client_secret_from_env: Some((1, 2)),
        };
        takers.add(std::slice::from_ref(&entry), None);
        assert_eq!(takers.refusals().count(), 0);
        takers.add(&[entry], None);
        assert_eq!(takers.refusals().count(), 2);
    }

    #[test]
    fn fifty_thousand_takers_each_name_three_others() {
        // 4.6 MB. Each error used to name every other entry: in a release build, 8 000 took
        // 1.9 s and 1.5 GB, and 50 000 ran out of memory past 24 GB; now 0.3 s.
        let mut text = String::from("{\"mcpServers\": {\n");
        for index in 0..50_000 {
            let comma = if index == 0 { "" } else { ",\n" };
            text.push_str(&format!(
                "{comma}  \"server-number-{index:05}\": {{\"url\": \"https://h{index}.example/mcp\", \
                 \"oauth\": {{\"clientId\": \"c\"}}}}"
            ));
        }
        text.push_str("\n}}");
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let entries = crate::config::file::parse(&text, &lookup).unwrap();
            let mut takers = SecretTakers::default();
            takers.add(&entries, None);
            let refusals: Vec<(String, Error)> = takers
                .refusals()
                .map(|(server, error)| (server.to_owned(), error))
                .collect();
            let _ = done.send(refusals);
        });
        let bound = std::time::Duration::from_secs(10);
        let refusals = finished
            .recv_timeout(bound)
            .unwrap_or_else(|error| panic!("not refused within {bound:?}: {error}"));
        assert_eq!(refusals.len(), 50_000);
        let (server, error) = &refusals[0];
        assert_eq!(server, "server-number-00000");
        assert!(
            refusal(error, (2, 60)).contains(
                "50000 entries: this one and `server-number-00001`, `server-number-00002`, \
                 `server-number-00003` and 49996 more;"
            ),
            "{error}"
        );
        let (server, error) = &refusals[49_999];
        assert_eq!(server, "server-number-49999");
        assert!(
            refusal(error, (50_001, 64)).contains(
                "this one and `server-number-00000`, `server-number-00001`, \
                 `server-number-00002` and 49996 more;"
            ),
            "{error}"
        );
    }
}
