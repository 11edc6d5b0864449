//! Keeping sign-ins between runs: the [`CredentialStore`] a host plugs in, the file store
//! that ships, and (with `http`) the record kept in it and rmcp's view of it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a client keeps its sign-ins between runs, so that a program does not send its user
/// to the browser every time it starts. Without one, tokens live as long as the client.
///
/// Each server's sign-in is one opaque text document (JSON, with the tokens in it) under the
/// server's name. [`FileCredentialStore`] keeps them in files; implement this trait to keep
/// them in a keychain or a secrets service instead. The methods run on a thread of the
/// library's, never on a host's loop; they should not take long.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use mcp_dispatch::CredentialStore;
///
/// /// Keeps sign-ins in memory, as a keychain would keep them under `server`.
/// #[derive(Default)]
/// struct Keychain(Mutex<HashMap<String, String>>);
///
/// impl CredentialStore for Keychain {
///     fn load(&self, server: &str) -> std::io::Result<Option<String>> {
///         Ok(self.0.lock().unwrap().get(server).cloned())
///     }
///     fn save(&self, server: &str, sign_in: &str) -> std::io::Result<()> {
///         self.0.lock().unwrap().insert(server.to_owned(), sign_in.to_owned());
///         Ok(())
///     }
///     fn remove(&self, server: &str) -> std::io::Result<()> {
///         self.0.lock().unwrap().remove(server);
///         Ok(())
///     }
/// }
///
/// let keychain = Keychain::default();
/// keychain.save("notion", "{}")?;
/// assert_eq!(keychain.load("notion")?.as_deref(), Some("{}"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait CredentialStore: Send + Sync + 'static {
    /// The sign-in kept for `server`, if there is one.
    fn load(&self, server: &str) -> io::Result<Option<String>>;

    /// Keeps `sign_in` for `server`, in place of what was kept.
    ///
    /// # Errors
    ///
    /// An error is logged as a warning and fails nothing: the client goes on with the
    /// sign-in in memory, which then lasts as long as the client.
    fn save(&self, server: &str, sign_in: &str) -> io::Result<()>;

    /// Forgets `server`'s sign-in (signing out). Forgetting one that is not kept is not an
    /// error.
    fn remove(&self, server: &str) -> io::Result<()>;
}

impl<S: CredentialStore + ?Sized> CredentialStore for Arc<S> {
    fn load(&self, server: &str) -> io::Result<Option<String>> {
        (**self).load(server)
    }

    fn save(&self, server: &str, sign_in: &str) -> io::Result<()> {
        (**self).save(server, sign_in)
    }

    fn remove(&self, server: &str) -> io::Result<()> {
        (**self).remove(server)
    }
}

/// A [`CredentialStore`] that keeps one file per server in a folder.
///
/// The folder is created (mode 0700 on Unix) when the first sign-in is saved. Each file is
/// written whole to a temporary file beside it and renamed into place, so a reader never
/// sees half of one, and it is created with mode 0600 on Unix (readable by its owner only):
/// it holds tokens.
///
/// File names are the server names, with every byte other than ASCII letters, digits, `-`
/// and `_` written as `%XX`, so that a name can never leave the folder, and `.json` after
/// it. A file name that would be longer than 120 bytes (file systems take 255 at most, and
/// each byte of a non-ASCII name takes three) is shortened: the first 48 bytes or less of
/// the escaped name (whole characters only), a `.`, the SHA-256 of the server name in 64 hex
/// digits, and `.json`. An escaped name has no `.`, so a shortened name never equals
/// another server's full one, and two shortened names differ whenever their server names
/// do (short of a SHA-256 collision).
///
/// ```
/// use mcp_dispatch::{CredentialStore, FileCredentialStore};
///
/// let folder = std::env::temp_dir().join(format!("mcp-dispatch-doc-{}", std::process::id()));
/// let store = FileCredentialStore::new(&folder);
/// store.save("../notion", r#"{"token":"..."}"#)?;
/// assert_eq!(store.path("../notion"), folder.join("%2E%2E%2Fnotion.json"));
/// assert!(store.load("../notion")?.is_some());
/// store.remove("../notion")?;
/// assert_eq!(store.load("../notion")?, None);
///
/// let long = "サーバー".repeat(8);
/// let name = store.path(&long).file_name().unwrap().to_str().unwrap().to_owned();
/// assert!(name.starts_with("%E3%82%B5%E3%83%BC%E3%83%90%E3%83%BC%E3%82%B5."), "{name}");
/// assert_eq!(name.len(), 45 + 1 + 64 + ".json".len());
/// # std::fs::remove_dir_all(&folder)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileCredentialStore {
    folder: PathBuf,
}

impl FileCredentialStore {
    /// A store in `folder`, which need not exist yet.
    pub fn new(folder: impl Into<PathBuf>) -> FileCredentialStore {
        FileCredentialStore {
            folder: folder.into(),
        }
    }

    /// The folder the files are in.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The file that holds `server`'s sign-in: in the folder, named as the type's
    /// documentation says.
    pub fn path(&self, server: &str) -> PathBuf {
        self.folder.join(file_name(server))
    }

    fn create_folder(&self) -> io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.folder)
    }
}

/// The longest file name that is the whole escaped server name.
const MAX_FILE_NAME: usize = 120;
/// The most bytes of the escaped server name a shortened file name starts with (whole
/// characters only).
const SHORTENED_PREFIX: usize = 48;

/// Whether `byte` stands for itself in a file name; other bytes are written `%XX`.
fn plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The name of the file that holds `server`'s sign-in (see [`FileCredentialStore`]).
fn file_name(server: &str) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;

    let escaped_len = |text: &str| -> usize {
        text.bytes()
            .map(|byte| if plain(byte) { 1 } else { 3 })
            .sum()
    };
    let whole = escaped_len(server) + ".json".len() <= MAX_FILE_NAME;
    let mut name = String::with_capacity(MAX_FILE_NAME);
    let mut buffer = [0; 4];
    for character in server.chars() {
        let character = character.encode_utf8(&mut buffer);
        if !whole && name.len() + escaped_len(character) > SHORTENED_PREFIX {
            break;
        }
        for byte in character.bytes() {
            if plain(byte) {
                name.push(char::from(byte));
            } else {
                let _ = write!(name, "%{byte:02X}");
            }
        }
    }
    if !whole {
        name.push('.');
        for byte in sha2::Sha256::digest(server.as_bytes()) {
            let _ = write!(name, "{byte:02x}");
        }
    }
    name.push_str(".json");
    name
}

/// `error`, with what was being done to which file in front.
fn at(path: &Path, doing: &str, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot {doing} {}: {error}", path.display()),
    )
}

impl CredentialStore for FileCredentialStore {
    fn load(&self, server: &str) -> io::Result<Option<String>> {
        let path = self.path(server);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(at(&path, "read", error)),
        }
    }

    fn save(&self, server: &str, sign_in: &str) -> io::Result<()> {
        use std::io::Write;
        use std::sync::atomic::{AtomicU64, Ordering};
        static WRITES: AtomicU64 = AtomicU64::new(0);

        let path = self.path(server);
        self.create_folder()
            .map_err(|error| at(&self.folder, "create", error))?;
        let temporary = self.folder.join(format!(
            ".{}.{}-{}.tmp",
            path.file_name()
                .map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&temporary).and_then(|mut file| {
            file.write_all(sign_in.as_bytes())?;
            file.sync_all()
        });
        let renamed = written.and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(error) = renamed {
            let _ = std::fs::remove_file(&temporary);
            return Err(at(&path, "write", error));
        }
        Ok(())
    }

    fn remove(&self, server: &str) -> io::Result<()> {
        let path = self.path(server);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(at(&path, "remove", error))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "oauth")]
pub(crate) use kept::Kept;

#[cfg(feature = "oauth")]
mod kept {
    use std::sync::{Arc, Mutex};

    use rmcp::transport::auth::{AuthError, AuthorizationMetadata, StoredCredentials};
    use serde_json::{Value, json};

    use super::CredentialStore;
    use crate::runtime::sync::lock;

    /// What is kept of a server's sign-in: enough to use and refresh its token in a later
    /// run without discovery.
    #[derive(Clone)]
    pub(crate) struct Record {
        /// The server the token is for; a record for another URL is not used.
        pub(crate) url: String,
        pub(crate) redirect_uri: Option<String>,
        pub(crate) metadata: Option<AuthorizationMetadata>,
        pub(crate) credentials: StoredCredentials,
    }

    impl Record {
        /// The version of the record's layout, written as `version`.
        const VERSION: u64 = 1;

        fn text(&self) -> serde_json::Result<String> {
            serde_json::to_string_pretty(&json!({
                "version": Record::VERSION,
                "url": self.url,
                "redirect_uri": self.redirect_uri,
                "metadata": self.metadata,
                "credentials": serde_json::to_value(&self.credentials)?,
            }))
        }

        fn parse(text: &str) -> Result<Record, String> {
            let mut value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
            let version = value.get("version").and_then(Value::as_u64);
            if version != Some(Record::VERSION) {
                return Err(format!("version {version:?}, not {}", Record::VERSION));
            }
            let mut take = |key: &str| value.get_mut(key).map(Value::take).unwrap_or_default();
            // Not the error's text: it may quote a token.
            let field = |key: &str, _: serde_json::Error| format!("`{key}` is malformed");
            Ok(Record {
                url: serde_json::from_value(take("url")).map_err(|e| field("url", e))?,
                redirect_uri: serde_json::from_value(take("redirect_uri"))
                    .map_err(|e| field("redirect_uri", e))?,
                metadata: serde_json::from_value(take("metadata"))
                    .map_err(|e| field("metadata", e))?,
                credentials: serde_json::from_value(take("credentials"))
                    .map_err(|e| field("credentials", e))?,
            })
        }
    }

    /// One server's sign-in as rmcp's authorization manager stores it: in memory, and
    /// written through to the host's [`CredentialStore`]. Clones share it.
    #[derive(Clone)]
    pub(crate) struct Kept {
        inner: Arc<Shared>,
    }

    struct Shared {
        server: String,
        url: String,
        store: Arc<dyn CredentialStore>,
        credentials: Mutex<Option<StoredCredentials>>,
        /// The redirect URI and metadata of the sign-in that is being (or was last) kept.
        context: Mutex<(Option<String>, Option<AuthorizationMetadata>)>,
    }

    impl Kept {
        pub(crate) fn new(server: &str, url: &str, store: Arc<dyn CredentialStore>) -> Kept {
            Kept {
                inner: Arc::new(Shared {
                    server: server.to_owned(),
                    url: url.to_owned(),
                    store,
                    credentials: Mutex::new(None),
                    context: Mutex::new((None, None)),
                }),
            }
        }

        /// Sets what the next saved record says of how the token was obtained.
        pub(crate) fn set_context(
            &self,
            redirect_uri: Option<String>,
            metadata: Option<AuthorizationMetadata>,
        ) {
            *lock(&self.inner.context) = (redirect_uri, metadata);
        }

        /// The record kept from an earlier run, if there is a usable one for this server's
        /// URL; it is then also what this store holds. A record that cannot be read is
        /// logged and left to be replaced by the next sign-in.
        pub(crate) async fn restore(&self) -> Option<Record> {
            let shared = self.inner.clone();
            let loaded =
                crate::runtime::run_blocking(move || shared.store.load(&shared.server)).await;
            let server = &self.inner.server;
            let text = match loaded {
                Ok(text) => text?,
                Err(error) => {
                    log::warn!("mcp-dispatch: server `{server}`: kept sign-in not read: {error}");
                    return None;
                }
            };
            let record = match Record::parse(&text) {
                Ok(record) => record,
                Err(error) => {
                    log::warn!(
                        "mcp-dispatch: server `{server}`: kept sign-in is not readable \
                         ({error}); signing in again will replace it"
                    );
                    return None;
                }
            };
            if record.url != self.inner.url {
                log::info!(
                    "mcp-dispatch: server `{server}`: kept sign-in is for another URL, not used"
                );
                return None;
            }
            *lock(&self.inner.credentials) = Some(record.credentials.clone());
            *lock(&self.inner.context) = (record.redirect_uri.clone(), record.metadata.clone());
            Some(record)
        }

        /// Drops the restored sign-in from memory (not from the host's store), so that its
        /// token is not sent.
        pub(crate) fn forget(&self) {
            *lock(&self.inner.credentials) = None;
        }

        /// Holds `credentials` (or none) in memory, and writes them through to the host's
        /// store. A store that fails is logged (with no token in the line) and otherwise
        /// ignored: a sign-in the user just completed is not thrown away for it, and lasts
        /// as long as this client.
        async fn write(&self, credentials: Option<StoredCredentials>) {
            *lock(&self.inner.credentials) = credentials.clone();
            let shared = self.inner.clone();
            let keeping = credentials.is_some();
            let text = match credentials {
                Some(credentials) => {
                    let (redirect_uri, metadata) = lock(&shared.context).clone();
                    let record = Record {
                        url: shared.url.clone(),
                        redirect_uri,
                        metadata,
                        credentials,
                    };
                    // Not the error's text: it may quote a token.
                    match record.text() {
                        Ok(text) => Some(text),
                        Err(_) => return self.not_kept("it cannot be written as JSON"),
                    }
                }
                None => None,
            };
            let written = crate::runtime::run_blocking(move || match text {
                Some(text) => shared.store.save(&shared.server, &text),
                None => shared.store.remove(&shared.server),
            })
            .await;
            match written {
                Err(error) if keeping => self.not_kept(&error.to_string()),
                Err(error) => log::warn!(
                    "mcp-dispatch: server `{}`: sign-in not removed from the credential store: \
                     {error}",
                    self.inner.server
                ),
                Ok(()) => {}
            }
        }

        /// Logs that the sign-in could not be saved, and `why`.
        fn not_kept(&self, why: &str) {
            log::warn!(
                "mcp-dispatch: server `{}`: sign-in not kept in the credential store ({why}); \
                 it lasts as long as this client",
                self.inner.server
            );
        }
    }

    #[async_trait::async_trait]
    impl rmcp::transport::auth::CredentialStore for Kept {
        async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
            Ok(lock(&self.inner.credentials).clone())
        }

        async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
            self.write(Some(credentials)).await;
            Ok(())
        }

        async fn clear(&self) -> Result<(), AuthError> {
            self.write(None).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_fits_keeps_its_escaped_file_name() {
        assert_eq!(file_name("notion"), "notion.json");
        assert_eq!(file_name("../a b"), "%2E%2E%2Fa%20b.json");
        let longest = "x".repeat(MAX_FILE_NAME - ".json".len());
        assert_eq!(file_name(&longest), format!("{longest}.json"));
    }

    #[test]
    fn a_long_name_gets_a_bounded_file_name_of_its_own() {
        let japanese: String = "日本語のサーバー名".chars().cycle().take(32).collect();
        let names = [
            japanese,
            "x".repeat(MAX_FILE_NAME - ".json".len() + 1),
            "x".repeat(250),
            "/".repeat(84),
            format!("{}a", "x".repeat(300)),
            format!("{}b", "x".repeat(300)),
        ];
        let files: Vec<String> = names.iter().map(|name| file_name(name)).collect();
        for (name, file) in names.iter().zip(&files) {
            assert!(file.len() <= MAX_FILE_NAME, "{file}");
            let (prefix, digest) = file.trim_end_matches(".json").split_once('.').unwrap();
            assert!(
                prefix.len() <= SHORTENED_PREFIX && !prefix.is_empty(),
                "{file}"
            );
            assert_eq!(digest.len(), 64, "{file}");
            assert_eq!(file_name(name), *file, "the same name, the same file");
        }
        // Whole characters only: 16 of `%2F` are 48 bytes, 5 of `%E6%97%A5` 45.
        assert!(
            files[3].starts_with(&format!("{}.", "%2F".repeat(16))),
            "{}",
            files[3]
        );
        let five = "%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%81%AE%E3%82%B5.";
        assert!(files[0].starts_with(five), "{}", files[0]);
        let mut distinct = files.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), files.len(), "{files:?}");
    }
}
