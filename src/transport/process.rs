//! Process-group signals, and the parent-death signal that stops a server when its host dies.
//!
//! This is the one module with `unsafe` code: setting the parent-death signal has to happen
//! in the child between `fork` and `exec`.

/// Sends SIGKILL to the process group led by `pid`, if any of it is left.
#[cfg(unix)]
pub(crate) fn kill_group(pid: Option<u32>) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    match killpg(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) => log::debug!("mcp-dispatch: killed what was left of process group {pid}"),
        Err(nix::errno::Errno::ESRCH) => {}
        Err(error) => log::debug!("mcp-dispatch: killpg({pid}) failed: {error}"),
    }
}

#[cfg(not(unix))]
pub(crate) fn kill_group(_pid: Option<u32>) {}

/// Kills the process group led by its pid when dropped, then raises the flag.
pub(crate) struct KillGroupOnDrop<'a>(
    pub(crate) Option<u32>,
    pub(crate) &'a crate::runtime::sync::Flag,
);

impl Drop for KillGroupOnDrop<'_> {
    fn drop(&mut self) {
        kill_group(self.0);
        self.1.set();
    }
}

/// Makes the child receive SIGKILL when the thread that started it exits, which for the
/// library's tokio thread means when the host process dies (even by SIGKILL, when no
/// destructor runs). A host that died before the child got this far is caught by comparing
/// the parent's pid: the child then exits before `exec`.
///
/// Only on the library's own thread: a thread of a host's tokio runtime
/// ([`tokio_handle`](crate::ClientBuilder::tokio_handle)) may end long before the process
/// (`block_in_place` hands its worker on), and would take the server with it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn die_with_parent(command: &mut tokio::process::Command) {
    use nix::sys::prctl::set_pdeathsig;
    use nix::sys::signal::Signal;
    use nix::unistd::{getpid, getppid};

    if !crate::runtime::on_library_thread() {
        return;
    }
    let parent = getpid();
    // SAFETY: the closure runs in the forked child before `exec`, where only
    // async-signal-safe operations are allowed. It makes two system calls, prctl(2) and
    // getppid(2), and builds its errors from raw OS codes; it neither allocates nor takes a
    // lock, and it captures only a `Copy` pid.
    unsafe {
        command.pre_exec(move || {
            set_pdeathsig(Signal::SIGKILL)?;
            if getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Other platforms have no parent-death signal: a host killed without running destructors
/// leaves servers that ignore stdin EOF running (see the README's Limits).
#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_parent(_command: &mut tokio::process::Command) {}
