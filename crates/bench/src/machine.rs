//! What machine a figure was measured on: CPU model, cores, memory, and the process's resident memory.

use std::fs;

/// One line describing the machine (Linux; elsewhere what can be known).
pub(crate) fn describe() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = meminfo_kib("MemTotal:").map_or("unknown".to_owned(), |k| {
        format!("{:.0} GiB", k as f64 / 1_048_576.0)
    });
    format!(
        "machine: {model}, {cores} cores, {memory} RAM, rustc build profile {}",
        if cfg!(debug_assertions) {
            "debug (figures meaningless)"
        } else {
            "release"
        }
    )
}

fn meminfo_kib(key: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// A memory figure of this process in bytes (Linux `/proc/self/status`), e.g. `VmRSS:`.
fn status_bytes(key: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next())?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resident memory of this process in bytes (Linux), for state-size figures.
pub(crate) fn resident_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`).
pub(crate) fn peak_resident_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// CPU time (user + system) this process has used, seconds (Linux).
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is parenthesised and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of 1/100 s (USER_HZ) on every mainstream architecture.
    Some((utime + stime) / 100.0)
}
