//! B2k recovery: how long a `freshet run` worker killed with SIGKILL takes, once restarted, to serve
//! again and to catch up, with B2's state for 1,000,000 entities.
//!
//! The worker is the real binary in a child process (next to this one in the target directory), so
//! the kill is a real SIGKILL: no shutdown checkpoint, no goodbye to the consumer group. The broker is
//! librdkafka's mock cluster in this process, over TCP.
//!
//! 1. B2's events are produced (not timed), the worker consumes them all and writes a checkpoint.
//! 2. More events are produced and consumed but not yet checkpointed: the work a crash loses.
//! 3. SIGKILL; the same command starts again at once. Timed from that start: the server answering
//!    `/health`, and the worker caught up (its positions cover every produced record, which means the
//!    checkpoint was restored and the lost tail replayed).
//!
//! With `--static-membership` the source carries `group.instance.id`, so on a real broker the restarted
//! worker takes its old place in the group; without it, the group waits for the dead member's session
//! to time out. librdkafka's mock broker implements only the wait, so both modes measure it here.
//! With `--fixed-assignment` the worker owns every partition by `assignment: fixed` and joins no
//! group, so there is nothing to wait for.
//!
//! Target (PRODUCT.md section 8): caught up within 5 s of the restart.

use crate::b2k::{Args, Setup, events, produce, setup};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `freshet` binary built beside this benchmark.
fn freshet_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("freshet");
    anyhow::ensure!(
        path.exists(),
        "{} is missing; build it with `cargo build --release -p freshet -p freshet-bench`",
        path.display()
    );
    Ok(path)
}

/// The body of `GET path` on the local `port`, if the server answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nhost: bench\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_owned())
}

/// The sum of the worker's `freshet_stream_position` gauges: records it has applied, over all the
/// partitions it owns.
fn applied(port: u16) -> Option<u64> {
    let metrics = http_get(port, "/metrics")?;
    Some(
        metrics
            .lines()
            .filter(|l| l.starts_with("freshet_stream_position{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum(),
    )
}

/// `freshet_checkpoints_total` of the worker.
fn checkpoints(port: u16) -> Option<u64> {
    http_get(port, "/metrics")?
        .lines()
        .find(|l| l.starts_with("freshet_checkpoints_total "))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// Polls `done` every 10 ms until it holds or `limit` passes; returns the time it took.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while !done() {
        anyhow::ensure!(started.elapsed() < limit, "not done after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(started.elapsed())
}

fn start_worker(binary: &Path, project: &Path, port: u16, log: &Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Ok(Command::new(binary)
        .args(["run", "--checkpoint-interval", "3600", "--port"])
        .arg(port.to_string())
        .arg("-p")
        .arg(project)
        .env("FRESHET_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let binary = freshet_binary()?;
    let options = if args.static_membership {
        "    options: {group.instance.id: freshet-bench-worker}\n"
    } else if args.fixed_assignment {
        "    assignment: fixed\n"
    } else {
        ""
    };
    let Setup {
        cluster: _cluster,
        brokers,
        dir: _dir,
        project_dir,
    } = setup(args, options)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::env::temp_dir().join("freshet-bench-recovery.log");
    let _ = std::fs::remove_file(&log);

    let mut all = events(args)?;
    let tail = all.split_off(all.len() - all.len() / 10);
    let before = all.len() as u64;
    produce(&brokers, &all)?;
    drop(all);
    let mut worker = start_worker(&binary, &project_dir, port, &log)?;
    let took = wait_for(Duration::from_secs(600), || applied(port) == Some(before))?;
    println!(
        "state:   {before} events over up to {} entities applied in {:.1} s",
        args.entities,
        took.as_secs_f64()
    );
    // A checkpoint covering them: SIGTERM would write one, but the worker must keep running, so the
    // benchmark asks for one the way an operator's schedule would: by restarting it cleanly.
    terminate(&mut worker)?;
    let mut worker = start_worker(&binary, &project_dir, port, &log)?;
    wait_for(Duration::from_secs(120), || applied(port) == Some(before))?;
    let checkpointed = checkpoints(port).unwrap_or(0);

    produce(&brokers, &tail)?;
    let total = before + tail.len() as u64;
    wait_for(Duration::from_secs(600), || applied(port) == Some(total))?;
    anyhow::ensure!(
        checkpoints(port).unwrap_or(0) == checkpointed,
        "a checkpoint covered the tail; the crash would lose nothing"
    );
    println!(
        "crash:   {} more events applied and not checkpointed; SIGKILL",
        tail.len()
    );
    worker.kill()?;
    worker.wait()?;

    let restarted = Instant::now();
    let mut worker = start_worker(&binary, &project_dir, port, &log)?;
    let serving = wait_for(Duration::from_secs(600), || {
        http_get(port, "/health").is_some()
    })?;
    // Positions appear once the group hands the partitions back and their checkpoints are loaded.
    wait_for(Duration::from_secs(600), || {
        applied(port).is_some_and(|n| n > 0)
    })?;
    let back = restarted.elapsed();
    wait_for(Duration::from_secs(600), || applied(port) == Some(total))?;
    let caught_up = restarted.elapsed();
    let owner = if args.static_membership {
        "back from the group (static membership)"
    } else if args.fixed_assignment {
        "restored by the fixed assignment, no group"
    } else {
        "back from the group (dynamic membership)"
    };
    println!(
        "restart: serving after {:.2} s; partitions {owner} after {:.2} s; caught up ({total} records) after {:.2} s (target <= 5 s)",
        serving.as_secs_f64(),
        back.as_secs_f64(),
        caught_up.as_secs_f64(),
    );
    // The worker publishes its positions once a second, so a restore and a replay that finish
    // within that second show as one moment.
    if caught_up > back {
        println!(
            "         from the first position published to caught up (the rest of the replay): {:.2} s",
            (caught_up - back).as_secs_f64()
        );
    }
    terminate(&mut worker)?;
    Ok(())
}

/// SIGTERM, and wait: the worker checkpoints and leaves.
fn terminate(worker: &mut Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    worker.wait()?;
    Ok(())
}
