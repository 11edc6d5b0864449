//! The third-party servers of the interop tests, installed at their pinned versions on first
//! use, under the target directory (`target/tmp/interop/`), so that `cargo test` needs no
//! step before it and does not depend on what else the machine has installed.
//!
//! Each install goes to a directory named after what it holds (the Python version and the
//! SDK's, or a hash of the npm lock file): present, it is used as it is, with no network.
//! Otherwise the tools install into a fresh directory of this process, which is then
//! renamed into place: a test binary that loses the race to another uses the winner's, and
//! one that is killed midway leaves only its own directory behind, never a half install
//! under the final name. Within a test binary each install runs once, whatever the number
//! of tests that wait for it.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The Python SDK release the tests are pinned to.
pub const PYTHON_SDK: &str = "mcp==2.3.0";

/// How many lines of an installer's stderr a failure shows.
const STDERR_LINES: usize = 25;

/// The directory to put on `PYTHONPATH` for [`PYTHON_SDK`] and its dependencies, installed
/// there by `python3 -m pip install --target` if needed; or why it could not be.
pub fn python_sdk() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            // Packages with compiled parts (pydantic-core) are built for one Python version.
            let version = output(
                Command::new("python3")
                    .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
                "python3",
            )?;
            let name = format!("python{}-{}", version.trim(), PYTHON_SDK.replace("==", "-"));
            let dist_info = format!("{}.dist-info", PYTHON_SDK.replace("==", "-"));
            install(
                &name,
                |dir| dir.join("mcp/__init__.py").exists() && dir.join(&dist_info).exists(),
                |dir| {
                    run(Command::new("python3")
                        .args(["-m", "pip", "install", "--target"])
                        .arg(dir)
                        .args([
                            "--no-input",
                            "--disable-pip-version-check",
                            "--no-warn-script-location",
                            "--quiet",
                            "--retries",
                            "2",
                            "--timeout",
                            "30",
                            PYTHON_SDK,
                        ]))
                },
            )
        })
        .clone()
}

/// The entry point (`dist/index.js`) of `@modelcontextprotocol/server-everything`, at the
/// version of `tests/interop/package-lock.json`, installed there by `npm ci` if needed; or
/// why it could not be.
pub fn everything_server() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
            let files = ["package.json", "package-lock.json"];
            let mut hash = Sha256::new();
            for file in files {
                let path = source.join(file);
                hash.update(
                    std::fs::read(&path)
                        .map_err(|error| format!("cannot read {}: {error}", path.display()))?,
                );
            }
            let hash: String = hash.finalize()[..6]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            let entry = "node_modules/@modelcontextprotocol/server-everything/dist/index.js";
            let dir = install(
                &format!("node-{hash}"),
                |dir| dir.join(entry).exists(),
                |dir| {
                    for file in files {
                        std::fs::copy(source.join(file), dir.join(file)).map_err(|error| {
                            format!("cannot copy {file} to {}: {error}", dir.display())
                        })?;
                    }
                    run(Command::new("npm").args(["ci", "--prefix"]).arg(dir).args([
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        // Offline, npm's default backoff takes over a minute to give up.
                        "--fetch-retries=2",
                        "--fetch-retry-mintimeout=1000",
                        "--fetch-retry-maxtimeout=5000",
                        "--fetch-timeout=60000",
                    ]))
                },
            )?;
            Ok(dir.join(entry))
        })
        .clone()
}

/// The directory `name` under `target/tmp/interop/`, if `complete` says it is; else made
/// by `fill` in a directory of this process's own and renamed into place.
fn install(
    name: &str,
    complete: impl Fn(&Path) -> bool,
    fill: impl Fn(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop");
    let done = root.join(name);
    if complete(&done) {
        return Ok(done);
    }
    let partial = root.join(format!(".{name}.{}", std::process::id()));
    // Left by an earlier process of the same id that was killed midway.
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .map_err(|error| format!("cannot create {}: {error}", partial.display()))?;
    let filled = fill(&partial).and_then(|()| {
        if complete(&partial) {
            Ok(())
        } else {
            Err(format!(
                "the installer succeeded but left {} incomplete",
                partial.display()
            ))
        }
    });
    if let Err(error) = filled {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(error);
    }
    if done.exists() && !complete(&done) {
        // Damaged since it was installed: replace it.
        let _ = std::fs::remove_dir_all(&done);
    }
    match std::fs::rename(&partial, &done) {
        Ok(()) => Ok(done),
        // Another test binary installed it first.
        Err(_) if complete(&done) => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(done)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(format!(
                "cannot move {} to {}: {error}",
                partial.display(),
                done.display()
            ))
        }
    }
}

/// Runs an installer to its end; an error says what ran, how it ended and the end of its
/// stderr.
fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {shown}: {error}"))?;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|error| format!("{shown}: {error}"))?;
    if status.success() {
        return Ok(());
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n");
    Err(format!(
        "{shown} failed ({status}); its stderr ends:\n{tail}"
    ))
}

/// The stdout of a command that must succeed, named `what` in errors.
fn output(command: &mut Command, what: &str) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {what}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
