//! What machine a figure was measured on: CPU model, cores, memory, and the process's resident memory.

use std::collections::BTreeMap;
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
    stat_cpu_seconds(&fs::read_to_string("/proc/self/stat").ok()?).map(|(_, cpu)| cpu)
}

/// CPU time (user + system) used by this process's threads whose name starts with `prefix`, alive
/// or not yet reaped, seconds (Linux). Lets a benchmark leave out a thread that is not the system
/// under test, such as an in-process broker's.
pub(crate) fn threads_cpu_seconds(prefix: &str) -> Option<f64> {
    let by_name = cpu_seconds_by_thread()?;
    Some(
        by_name
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, cpu)| cpu)
            .sum(),
    )
}

/// CPU time (user + system) of this process's live threads, summed by thread name, seconds
/// (Linux). Two readings subtracted tell which part of a pipeline a change made cheaper, which a
/// whole-process figure on a noisy host hides.
pub(crate) fn cpu_seconds_by_thread() -> Option<BTreeMap<String, f64>> {
    let mut by_name = BTreeMap::new();
    for task in fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended since the listing
        };
        if let Some((name, cpu)) = stat_cpu_seconds(&stat) {
            *by_name.entry(name.to_owned()).or_insert(0.0) += cpu;
        }
    }
    Some(by_name)
}

/// The command name and the user + system seconds of a `/proc/.../stat` line.
fn stat_cpu_seconds(stat: &str) -> Option<(&str, f64)> {
    // Fields after the command name, which is parenthesised and may hold spaces.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of 1/100 s (USER_HZ) on every mainstream architecture.
    Some((name, (utime + stime) / 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_even_with_spaces_and_parentheses() {
        let stat = "4242 (rdk:mock (x) y) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0";
        assert_eq!(stat_cpu_seconds(stat), Some(("rdk:mock (x) y", 4.0)));
    }

    #[test]
    fn this_threads_cpu_is_counted_under_its_name() {
        let spin = std::thread::Builder::new()
            .name("cpu-probe-test".into())
            .spawn(|| {
                // Spin until the kernel has charged this thread a tick, however busy the host.
                let started = std::time::Instant::now();
                let mut x = 0u64;
                loop {
                    let seconds = threads_cpu_seconds("cpu-probe-test");
                    if seconds != Some(0.0) || started.elapsed().as_secs() >= 10 {
                        return seconds;
                    }
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
            })
            .unwrap();
        let seconds = spin.join().unwrap().unwrap();
        assert!(seconds > 0.0, "{seconds}");
        assert_eq!(threads_cpu_seconds("no-such-thread-name"), Some(0.0));
    }
}
