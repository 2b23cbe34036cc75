//! What the load generator reads from the kernel: CPU time and resident memory of a process
//! (from /proc), the clock tick, and the open-file limit it raises for itself and the servers
//! it starts (children inherit it).

use std::fs;
use std::io;

/// Raises the soft RLIMIT_NOFILE to the hard limit: thousands of sockets are needed on both
/// sides, and the servers started afterwards inherit the raised limit. Returns the new limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// Clock ticks per second, the unit of utime and stime in /proc/PID/stat.
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// The fields of /proc/PID/stat after the command name (which may contain spaces and
/// parentheses, so everything up to the last ')' is skipped).
fn stat_fields(pid: u32) -> io::Result<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    Ok(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime and stime of a process, all threads, in clock ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<(u64, u64)> {
    // After the command name: state(0) ppid(1) ... utime(11) stime(12).
    let fields = stat_fields(pid)?;
    let field = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))
    };
    Ok((field(11)?, field(12)?))
}

/// Resident memory of a process (VmRSS) in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/PID/status"))
}

/// The processes whose parent is `pid` (nginx's workers under its master).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            stat_fields(child)
                .ok()
                .and_then(|f| f.get(1).and_then(|p| p.parse::<u32>().ok()))
                == Some(pid)
        })
        .collect()
}

/// Sends a signal to one process by its id.
pub fn signal(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// The kernel's count of connections dropped because a listen queue was full
/// (TcpExt ListenOverflows in /proc/net/netstat), system-wide. (rtmpws-flood's; not
/// rtmpws-loadgen's.)
#[allow(dead_code)]
pub fn listen_overflows() -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let names = lines.next()?;
    let values = lines.next()?;
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, value)| value.parse().ok())
}
