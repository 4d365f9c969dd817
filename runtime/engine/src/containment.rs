//! Containment: every process a command node starts ends with the node,
//! and with phx when phx is killed.
//!
//! A node's shell runs in a process group of its own, but a process may
//! leave the group (`setsid`, a double-forked daemon). Two marks follow it
//! wherever it goes:
//!
//! - **A cgroup** (cgroup v2), where this user may make one below the
//!   cgroup phx is in: `phx-SUPERVISOR-N`. The shell moves itself into it
//!   between fork and exec, so everything it starts is born inside, and the
//!   node's end writes `cgroup.kill` (every process in it and below gets
//!   SIGKILL) and removes it.
//! - **An environment entry**, `PHX_SUPERVISOR_<pid>_<start>=<n>`: this phx
//!   process (its pid and start time, so a reused pid is another name) and
//!   the node's number. Every descendant inherits it, `setsid` and daemons
//!   included (Jenkins' ProcessTreeKiller works the same way). The node's
//!   end sweeps `/proc`: every process of this user whose environment holds
//!   exactly that entry gets SIGKILL, round after round until none is left.
//!   Nested runs add their own entry (the name holds the supervisor), so
//!   an outer phx still finds an inner one's processes.
//!
//! Both are used where the cgroup exists: a process that empties its
//! environment (`env -i`) escapes the sweep but not the cgroup, one that
//! moves itself to another cgroup (it needs the right to) escapes the
//! cgroup but not the sweep. Without cgroups, only the sweep: an emptied
//! environment escapes it.
//!
//! A killed phx ends nothing, so a [`Watchdog`] (the phx binary again, as
//! `phx watchdog`) waits on a pipe only phx can write to. End-of-file
//! without a goodbye means phx died: [`watch`] then ends every cgroup and
//! every process marked with phx's identity.

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The environment variables that mark nodes' processes start with this;
/// the rest of the name is the supervisor's id.
pub const VAR_PREFIX: &str = "PHX_SUPERVISOR_";

/// How long ending a node's processes may take before phx gives up on
/// stragglers (a process the kernel cannot end yet, in uninterruptible
/// sleep).
const PATIENCE: Duration = Duration::from_secs(2);

/// This process as a supervisor: `PID_START`, its pid and its start time
/// (clock ticks after boot), unique on this machine while it runs.
pub fn supervisor_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let start = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| start_time(&s)).unwrap_or(0);
        format!("{}_{start}", std::process::id())
    })
}

/// Whether `id` has the shape of a supervisor id: digits, `_`, digits.
pub fn is_supervisor_id(id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    id.split_once('_').is_some_and(|(pid, start)| digits(pid) && digits(start))
}

/// The name of the variable that marks `supervisor`'s nodes.
pub fn supervisor_var(supervisor: &str) -> String {
    format!("{VAR_PREFIX}{supervisor}")
}

/// Field 22 of `/proc/PID/stat`, the start time. The command name before
/// it (in parentheses) may hold spaces and parentheses itself.
fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// What a sweep looks for in a process's environment.
#[derive(Clone, Copy, Debug)]
pub enum Marked<'a> {
    /// Exactly this entry, `NAME=VALUE`: one node's processes.
    Entry(&'a [u8]),
    /// Any entry that begins with this, `NAME=`: every node of one
    /// supervisor.
    Prefix(&'a [u8]),
}

impl Marked<'_> {
    /// Whether `environ` (`/proc/PID/environ`: entries ended by NUL) holds
    /// the mark.
    pub fn in_environ(self, environ: &[u8]) -> bool {
        environ.split(|b| *b == 0).any(|e| match self {
            Marked::Entry(x) => !x.is_empty() && e == x,
            Marked::Prefix(p) => !p.is_empty() && e.starts_with(p),
        })
    }
}

/// A process to signal: a pidfd where the kernel has them (Linux 5.3), so
/// that a pid reused after its environment was read gets no signal; else
/// the pid.
struct Handle {
    pid: i32,
    fd: Option<OwnedFd>,
}

impl Handle {
    /// `None` when the process is gone.
    fn open(pid: i32) -> Option<Handle> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: pidfd_open takes a pid and flags and returns a new
            // descriptor, which we own.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            if fd >= 0 {
                // SAFETY: `fd` was just opened and nobody else owns it.
                return Some(Handle { pid, fd: Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }) });
            }
            if io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
                return None;
            }
        }
        Some(Handle { pid, fd: None })
    }

    /// Sends SIGKILL; whether the signal was delivered.
    fn kill(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            // SAFETY: signals the process the descriptor refers to.
            return unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<u8>(), 0)
            } == 0;
        }
        // SAFETY: kill() of one positive pid other than 1 and this process
        // (the scan never yields those).
        unsafe { libc::kill(self.pid, libc::SIGKILL) == 0 }
    }
}

/// One pass over `/proc`, with buffers kept between processes and rounds.
#[derive(Default)]
struct Scan {
    environ: Vec<u8>,
    path: String,
}

impl Scan {
    /// Calls `act` on every process of this user, other than pid 1 and
    /// this process, whose environment holds `marked`; counts the calls
    /// that returned true.
    fn each(&mut self, marked: Marked<'_>, mut act: impl FnMut(&Handle) -> bool) -> usize {
        let me = std::process::id() as i32;
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
        let mut count = 0;
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            if pid <= 1 || pid == me {
                continue;
            }
            if !self.holds(pid, uid, marked) {
                continue;
            }
            // Read again once a handle pins the process: what gets
            // signalled is a process that holds the mark, or nothing (the
            // pid may have been reused in between).
            let Some(handle) = Handle::open(pid) else { continue };
            if self.holds(pid, uid, marked) && act(&handle) {
                count += 1;
            }
        }
        count
    }

    /// Whether process `pid` belongs to `uid` and its environment holds
    /// `marked`.
    fn holds(&mut self, pid: i32, uid: u32, marked: Marked<'_>) -> bool {
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/environ");
        let Ok(mut file) = std::fs::File::open(&self.path) else { return false };
        if file.metadata().map_or(true, |m| m.uid() != uid) {
            return false;
        }
        self.environ.clear();
        file.read_to_end(&mut self.environ).is_ok() && marked.in_environ(&self.environ)
    }
}

/// Sends SIGKILL to every process of this user (never pid 1 or this
/// process) whose environment holds `marked`, round after round until a
/// round finds none, for at most [`PATIENCE`]. Returns how many signals it
/// sent (a process still dying when the next round looks gets another).
pub fn sweep(marked: Marked<'_>) -> usize {
    let deadline = Instant::now() + PATIENCE;
    let mut scan = Scan::default();
    let mut sent = 0;
    let mut pause = Duration::from_millis(1);
    loop {
        let found = scan.each(marked, Handle::kill);
        sent += found;
        if found == 0 || Instant::now() >= deadline {
            return sent;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The pids of the processes of this user whose environment holds
/// `marked` now (zombies hold none).
pub fn carriers(marked: Marked<'_>) -> Vec<i32> {
    let mut pids = Vec::new();
    Scan::default().each(marked, |h| {
        pids.push(h.pid);
        true
    });
    pids
}

/// Whether nodes still try cgroups: the first failure to make or join one
/// turns them off for this process.
static CGROUPS: AtomicBool = AtomicBool::new(true);

/// The file a node's script leaves in its working folder when it could not
/// join its cgroup.
pub const NOT_JOINED: &str = ".phx-no-cgroup";

/// The cgroup v2 folder this process is in, where node cgroups go.
fn cgroup_base() -> Option<&'static Path> {
    static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();
    BASE.get_or_init(|| {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        cgroup_dir(&cgroup, &mountinfo)
    })
    .as_deref()
}

/// The folder of a cgroup v2: its path (the `0::PATH` line of
/// `/proc/PID/cgroup`) below the mount point of a `cgroup2` file system
/// (from `/proc/PID/mountinfo`) whose root holds it.
fn cgroup_dir(cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    if path.ends_with(" (deleted)") {
        return None;
    }
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        if fs.split(' ').next() != Some("cgroup2") {
            return None;
        }
        let mut fields = mount.split(' ').skip(3);
        let (root, point) = (unescape(fields.next()?), unescape(fields.next()?));
        let rel = if root == "/" { path } else { path.strip_prefix(root.as_str())? };
        if !rel.is_empty() && !rel.starts_with('/') {
            return None;
        }
        Some(PathBuf::from(point).join(rel.trim_start_matches('/')))
    })
}

/// A mountinfo field with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a cgroup (or one below it) still holds a process.
fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|e| e.lines().any(|l| l.trim() == "populated 1"))
        .unwrap_or(false)
}

/// Ends every process in the cgroup `dir` and below (`cgroup.kill`), waits
/// until it is empty (at most [`PATIENCE`]) and removes its folders.
fn end_cgroup(dir: &Path) {
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_micros(200);
    while populated(dir) && Instant::now() < deadline {
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    remove_cgroup(dir);
}

/// Removes a cgroup folder and the ones below it (a nested phx's).
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Whether the supervisor `PID_START` still runs (the same pid with the
/// same start time).
fn supervisor_alive(id: &str) -> bool {
    let Some((pid, start)) = id.split_once('_') else { return false };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| start_time(&s))
        .is_some_and(|t| t.to_string() == start)
}

/// Removes the empty node cgroups in `base` of supervisors that are gone
/// (a phx killed together with its watchdog leaves them). A populated one
/// is left alone: its processes may belong to a phx this process cannot
/// see (another pid namespace).
fn remove_stale_cgroups(base: &Path) {
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix("phx-")).and_then(|n| n.rsplit_once('-')).map(|p| p.0)
        else {
            continue;
        };
        if is_supervisor_id(id) && !supervisor_alive(id) && !populated(&e.path()) {
            remove_cgroup(&e.path());
        }
    }
}

/// A node's cgroup.
struct Cgroup {
    dir: PathBuf,
    /// Its `cgroup.procs`, ready for the child to open.
    procs: CString,
}

impl Cgroup {
    /// Makes `name` below this process's cgroup, if this user may and the
    /// kernel can kill a cgroup (5.14).
    fn make(name: &str) -> Option<Cgroup> {
        static TIDIED: std::sync::Once = std::sync::Once::new();
        if !CGROUPS.load(Ordering::Relaxed) {
            return None;
        }
        let made = cgroup_base().and_then(|base| {
            TIDIED.call_once(|| remove_stale_cgroups(base));
            let dir = base.join(name);
            std::fs::create_dir(&dir).ok()?;
            let procs = CString::new(dir.join("cgroup.procs").into_os_string().into_vec()).ok();
            match procs {
                Some(procs) if dir.join("cgroup.kill").exists() => Some(Cgroup { dir, procs }),
                _ => {
                    let _ = std::fs::remove_dir(&dir);
                    None
                }
            }
        });
        if made.is_none() {
            CGROUPS.store(false, Ordering::Relaxed);
        }
        made
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is
/// `procs`. Runs in the child between fork and exec: system calls only.
fn join(procs: &CString) -> io::Result<()> {
    // SAFETY: open, write and close on a NUL-terminated path and a buffer
    // we own; all three are async-signal-safe.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if written == 1 { Ok(()) } else { Err(err) }
    }
}

/// One node's processes: the mark they carry and, where this user may make
/// one, their cgroup. Ending it (or dropping it) ends every one of them.
pub struct Containment {
    name: String,
    value: String,
    entry: Vec<u8>,
    cgroup: Option<Cgroup>,
    ended: bool,
}

impl Containment {
    /// A new node: the next number of this supervisor, and a cgroup where
    /// one can be made.
    pub fn new() -> Containment {
        Containment::make(true)
    }

    /// A node marked by its environment alone (what happens where cgroups
    /// are not available).
    pub fn without_cgroup() -> Containment {
        Containment::make(false)
    }

    fn make(cgroup: bool) -> Containment {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let supervisor = supervisor_id();
        let name = supervisor_var(supervisor);
        let value = n.to_string();
        let entry = format!("{name}={value}").into_bytes();
        let cgroup = if cgroup { Cgroup::make(&format!("phx-{supervisor}-{n}")) } else { None };
        Containment { name, value, entry, cgroup, ended: false }
    }

    /// The environment entry every process of the node carries.
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// Whether the node has a cgroup.
    pub fn has_cgroup(&self) -> bool {
        self.cgroup.is_some()
    }

    /// Marks the command's process: the environment entry and, with a
    /// cgroup, joining it before the program runs (a spawn fails when it
    /// cannot: then [`Containment::forgo_cgroup`] and spawn again).
    pub fn prepare(&self, cmd: &mut std::process::Command) {
        cmd.env(&self.name, &self.value);
        if let Some(cg) = &self.cgroup {
            let procs = cg.procs.clone();
            // SAFETY: `join` makes system calls only, which is what may
            // run between fork and exec.
            unsafe {
                cmd.pre_exec(move || join(&procs));
            }
        }
    }

    /// Marks a `/bin/sh` script's process with the environment entry only;
    /// the script joins the cgroup itself, with [`Containment::shell_join`]
    /// as its first line. Without a `pre_exec` hook the process is started
    /// by `posix_spawn` rather than `fork`, whose copy of the page tables
    /// grows with phx's memory (a run of 100,000 nodes slowed from 250 to
    /// 80 starts a second).
    pub fn prepare_shell(&self, cmd: &mut std::process::Command) {
        cmd.env(&self.name, &self.value);
    }

    /// The shell line that moves the script's shell into the node's cgroup
    /// (empty without one). Writing `0` to `cgroup.procs` moves the writer,
    /// and `echo` is the shell's own. Where it cannot be joined the node
    /// runs on, kept by its mark alone, and leaves [`NOT_JOINED`] in its
    /// working folder for [`Containment::joined`] to find.
    pub fn shell_join(&self) -> String {
        match &self.cgroup {
            Some(cg) => {
                let path = cg.dir.join("cgroup.procs").display().to_string();
                format!("echo 0 2>/dev/null >'{}' || : >{NOT_JOINED}\n", path.replace('\'', "'\\''"))
            }
            None => String::new(),
        }
    }

    /// After a script started with [`Containment::shell_join`] in
    /// `work_dir`: whether it joined its cgroup. One that could not turns
    /// cgroups off for the nodes after it (they would fail alike); this
    /// node is still ended by its mark.
    pub fn joined(&mut self, work_dir: &Path) -> bool {
        if self.cgroup.is_none() || !work_dir.join(NOT_JOINED).exists() {
            return true;
        }
        self.forgo_cgroup();
        false
    }

    /// Gives up the cgroup (it could not be joined): the sweep alone keeps
    /// this node, and later nodes do not try cgroups again.
    pub fn forgo_cgroup(&mut self) {
        CGROUPS.store(false, Ordering::Relaxed);
        if let Some(cg) = self.cgroup.take() {
            remove_cgroup(&cg.dir);
        }
    }

    /// Ends every process of the node: the cgroup's, then every one that
    /// carries the mark.
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        if let Some(cg) = self.cgroup.take() {
            end_cgroup(&cg.dir);
        }
        sweep(Marked::Entry(&self.entry));
    }
}

impl Default for Containment {
    fn default() -> Self {
        Containment::new()
    }
}

impl Drop for Containment {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Ends everything `supervisor` started: its nodes' cgroups (below this
/// process's cgroup, which is the supervisor's for its watchdog), then
/// every process carrying its mark. Returns how many processes the sweep
/// signalled.
pub fn end_supervisor(supervisor: &str) -> usize {
    if !is_supervisor_id(supervisor) {
        return 0;
    }
    if let Some(base) = cgroup_base() {
        let prefix = format!("phx-{supervisor}-");
        for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
                end_cgroup(&e.path());
            }
        }
    }
    let prefix = format!("{}=", supervisor_var(supervisor));
    sweep(Marked::Prefix(prefix.as_bytes()))
}

/// What `phx watchdog SUPERVISOR` does: reads `input` until a byte comes
/// (the supervisor is done: nothing to do) or it ends without one (the
/// supervisor died: end everything it started, [`end_supervisor`]).
/// Returns how many processes it ended.
pub fn watch(mut input: impl Read, supervisor: &str) -> io::Result<usize> {
    if !is_supervisor_id(supervisor) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{supervisor}` is not a supervisor id")));
    }
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Ok(end_supervisor(supervisor))
}

/// [`watch`] on stdin, as the watchdog process: hang-ups and Ctrl-C at the
/// terminal are for phx, and the watchdog stays to clean up after it.
pub fn watch_stdin(supervisor: &str) -> io::Result<usize> {
    // SAFETY: setting two signals' disposition to "ignore".
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    watch(io::stdin().lock(), supervisor)
}

/// The process that ends this process's nodes if this process is killed:
/// it reads a pipe that only this process holds the writing end of
/// (children do not inherit it). Dropping the watchdog says goodbye, and it
/// exits without doing anything.
pub struct Watchdog {
    tell: Option<io::PipeWriter>,
    child: Option<std::process::Child>,
}

impl Watchdog {
    /// Starts `program ARGS` (the phx binary's `watchdog` command, given
    /// [`supervisor_id`]) with the pipe on its stdin, in a process group of
    /// its own (a Ctrl-C at the terminal is for phx, not for it).
    pub fn start(program: &Path, args: &[&str]) -> io::Result<Watchdog> {
        let (read, write) = io::pipe()?;
        let child = std::process::Command::new(program)
            .args(args)
            .stdin(read)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Watchdog { tell: Some(write), child: Some(child) })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(mut tell) = self.tell.take() {
            let _ = tell.write_all(b"done");
        }
        // Reaped on the side: the caller does not wait for it to start up
        // and leave (a process that exits meanwhile takes the thread along).
        if let Some(mut child) = self.child.take() {
            let _ = std::thread::Builder::new().name("phx-watchdog-reaper".into()).spawn(move || child.wait());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_whatever_the_command_name() {
        let tail = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
        assert_eq!(start_time(&format!("42 (sleep) {tail}")), Some(987654));
        assert_eq!(start_time(&format!("42 (a b) (c)) {tail}")), Some(987654));
        assert_eq!(start_time("42 (x) S 1"), None);
        let own = start_time(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        assert!(own > 0);
        assert_eq!(supervisor_id(), format!("{}_{own}", std::process::id()));
        assert!(is_supervisor_id(supervisor_id()));
        for bad in ["", "_", "1_", "_2", "1-2", "1_2_3", "a_1", "1_2=3"] {
            assert!(!is_supervisor_id(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_exact_entry_or_prefix_matches() {
        let env = b"PATH=/bin\0PHX_SUPERVISOR_7_9=12\0HOME=/root\0";
        assert!(Marked::Entry(b"PHX_SUPERVISOR_7_9=12").in_environ(env));
        // A longer or shorter value, another supervisor, a substring: no.
        for other in
            ["PHX_SUPERVISOR_7_9=1", "PHX_SUPERVISOR_7_9=123", "PHX_SUPERVISOR_7_99=12", "SUPERVISOR_7_9=12", ""]
        {
            assert!(!Marked::Entry(other.as_bytes()).in_environ(env), "{other}");
        }
        assert!(Marked::Prefix(b"PHX_SUPERVISOR_7_9=").in_environ(env));
        assert!(!Marked::Prefix(b"PHX_SUPERVISOR_7_99=").in_environ(env));
        assert!(!Marked::Prefix(b"").in_environ(env));
        // Without the last NUL, and an empty environment (a zombie's).
        assert!(Marked::Entry(b"HOME=/root").in_environ(b"A=1\0HOME=/root"));
        assert!(!Marked::Entry(b"HOME=/root").in_environ(b""));
        // A value that holds the mark is not the mark.
        assert!(!Marked::Entry(b"PHX_SUPERVISOR_7_9=12").in_environ(b"X=PHX_SUPERVISOR_7_9=12\0"));
    }

    #[test]
    fn the_cgroup_folder_comes_from_the_cgroup2_mount() {
        let hybrid = "9:name=systemd:/\n4:memory:/x\n0::/\n";
        let mounts = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                      31 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup_dir(hybrid, mounts), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let v2 = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/a b.scope\n";
        let mounts = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup_dir(v2, mounts),
            Some(PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/a b.scope"))
        );
        // A mount of part of the tree (a container's), with an escaped space.
        let mounts = "40 30 0:30 /ci /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup_dir("0::/ci/job\n", mounts), Some(PathBuf::from("/sys/fs/cgroup x/job")));
        assert_eq!(cgroup_dir("0::/cixyz\n", mounts), None);
        assert_eq!(cgroup_dir("0::/gone (deleted)\n", mounts), None);
        // cgroup v1 only.
        assert_eq!(cgroup_dir("4:memory:/x\n", "30 25 0:26 / /m rw - cgroup cgroup rw\n"), None);
    }

    /// A test's folder and the processes it started (their pid files),
    /// killed and removed when the test ends, passed or not.
    struct Started {
        dir: PathBuf,
        pid_files: Vec<PathBuf>,
    }

    impl Started {
        fn new(name: &str) -> Started {
            let dir = std::env::temp_dir().join(format!("phx-containment-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Started { dir, pid_files: Vec::new() }
        }
    }

    impl Drop for Started {
        fn drop(&mut self) {
            for f in &self.pid_files {
                if let Some(pid) = pid_in(f).filter(|p| alive(*p)) {
                    // SAFETY: a sleep this test started (checked by alive).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn pid_in(file: &Path) -> Option<i32> {
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// Whether `pid` is one of this test's sleeps, and not a zombie.
    fn alive(pid: i32) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
        state.is_some_and(|s| s != "Z") && cmd.starts_with(b"sleep\0")
    }

    fn wait_for(file: &Path) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(pid) = pid_in(file) {
                return pid;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{} never appeared", file.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn gone_soon(pid: i32) -> bool {
        let start = Instant::now();
        while alive(pid) {
            if start.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Starts a `setsid` sleep (a new session: no process group reaches
    /// it) with `env` and waits for its pid.
    fn escaped(started: &mut Started, name: &str, env: &[(&str, &str)]) -> i32 {
        let pid_file = started.dir.join(format!("{name}.pid"));
        started.pid_files.push(pid_file.clone());
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("setsid sh -c 'echo $$ > {name}.pid; exec sleep 3001' &"))
            .current_dir(&started.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        assert!(cmd.status().unwrap().success());
        wait_for(&pid_file)
    }

    #[test]
    fn the_sweep_ends_exactly_the_processes_that_carry_the_entry() {
        let mut started = Started::new("sweep");
        let c = Containment::without_cgroup();
        let entry = String::from_utf8(c.entry().to_vec()).unwrap();
        let (name, value) = entry.split_once('=').unwrap();
        let marked = escaped(&mut started, "marked", &[(name, value)]);
        let longer = format!("{value}0");
        let other_value = escaped(&mut started, "other", &[(name, &longer)]);
        let other_name = escaped(&mut started, "name", &[(&format!("{name}9"), value)]);
        assert_eq!(carriers(Marked::Entry(c.entry())), vec![marked]);
        assert!(alive(marked));
        c.end();
        assert!(gone_soon(marked), "the marked process outlived its node");
        assert!(carriers(Marked::Entry(entry.as_bytes())).is_empty());
        for pid in [other_value, other_name] {
            assert!(alive(pid), "a process without the exact entry was signalled");
        }
    }

    #[test]
    fn a_script_that_cannot_join_its_cgroup_says_so_and_turns_cgroups_off() {
        let work = std::env::temp_dir().join(format!("phx-containment-{}-join", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        // A cgroup whose folder is gone: its `cgroup.procs` cannot be written.
        let gone = work.join("gone");
        let mut c = Containment::without_cgroup();
        c.cgroup = Some(Cgroup {
            dir: gone.clone(),
            procs: CString::new(gone.join("cgroup.procs").into_os_string().into_vec()).unwrap(),
        });
        let script = format!("{}set -e\necho ran > ran.txt\n", c.shell_join());
        let status = std::process::Command::new("/bin/sh").arg("-c").arg(&script).current_dir(&work).status().unwrap();
        assert!(status.success(), "the node runs on");
        assert!(work.join("ran.txt").is_file());
        assert!(!c.joined(&work), "the failed join is found");
        assert!(!c.has_cgroup() && !CGROUPS.load(Ordering::Relaxed), "and cgroups are off from here on");
        assert!(!Containment::new().has_cgroup());
        // Without a cgroup there is nothing to join, and nothing to find.
        assert!(Containment::without_cgroup().joined(&work));
        std::fs::remove_dir_all(&work).unwrap();
    }

    #[test]
    fn the_watchdog_ends_its_supervisors_processes_only_when_it_dies() {
        let mut started = Started::new("watch");
        // A made-up supervisor: nothing of this test process carries it.
        let supervisor = format!("{}_{}", std::process::id(), u64::MAX - 7);
        let var = supervisor_var(&supervisor);
        let a = escaped(&mut started, "a", &[(&var, "1")]);
        let b = escaped(&mut started, "b", &[(&var, "2")]);
        // Goodbye: nothing happens.
        let (read, mut write) = io::pipe().unwrap();
        let watcher = {
            let supervisor = supervisor.clone();
            std::thread::spawn(move || watch(read, &supervisor))
        };
        write.write_all(b"done").unwrap();
        drop(write);
        assert_eq!(watcher.join().unwrap().unwrap(), 0);
        assert!(alive(a) && alive(b));
        // The supervisor dies (its end of the pipe closes): all of it goes.
        let (read, write) = io::pipe().unwrap();
        let watcher = {
            let supervisor = supervisor.clone();
            std::thread::spawn(move || watch(read, &supervisor))
        };
        drop(write);
        assert!(watcher.join().unwrap().unwrap() >= 2);
        assert!(gone_soon(a) && gone_soon(b));
        assert!(watch(io::empty(), "not an id").is_err());
    }

    #[test]
    fn empty_cgroups_of_supervisors_that_are_gone_are_removed() {
        let Some(base) = Containment::new().has_cgroup().then(cgroup_base).flatten() else {
            eprintln!("no usable cgroup v2 here; skipped");
            return;
        };
        assert!(supervisor_alive(supervisor_id()));
        // This pid with another start time: a phx that is gone.
        let gone = base.join(format!("phx-{}_1-1", std::process::id()));
        let ours = base.join(format!("phx-{}-999999", supervisor_id()));
        let unrelated = base.join(format!("phx-test-{}", std::process::id()));
        for d in [&gone, &ours, &unrelated] {
            std::fs::create_dir(d).unwrap();
        }
        remove_stale_cgroups(base);
        let (gone_left, ours_left, unrelated_left) = (gone.exists(), ours.exists(), unrelated.exists());
        for d in [&gone, &ours, &unrelated] {
            let _ = std::fs::remove_dir(d);
        }
        assert!(!gone_left, "the gone supervisor's cgroup stayed");
        assert!(ours_left && unrelated_left, "a live supervisor's or another cgroup was removed");
    }

    #[test]
    fn a_cgroup_ends_even_processes_that_empty_their_environment() {
        let c = Containment::new();
        if !c.has_cgroup() {
            // No cgroup v2 this user may write to: the sweep alone (above).
            eprintln!("no usable cgroup v2 here; skipped");
            return;
        }
        let mut started = Started::new("cgroup");
        let dir = started.dir.clone();
        started.pid_files.push(dir.join("scrubbed.pid"));
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("env -i setsid sh -c 'echo $$ > scrubbed.pid; exec sleep 3002' &")
            .current_dir(&dir)
            .stdin(Stdio::null());
        c.prepare(&mut cmd);
        assert!(cmd.status().unwrap().success());
        let pid = wait_for(&dir.join("scrubbed.pid"));
        assert!(carriers(Marked::Entry(c.entry())).is_empty(), "it carries no mark");
        assert!(alive(pid));
        let cg = c.cgroup.as_ref().unwrap().dir.clone();
        assert!(populated(&cg));
        c.end();
        assert!(gone_soon(pid), "the cgroup's process outlived it");
        assert!(!cg.exists(), "the cgroup was removed");
    }
}
