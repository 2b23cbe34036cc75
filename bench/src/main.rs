//! rtmpws-loadgen: the gateway fan-out benchmark. One publisher replays a ~600 kbps H.264+AAC
//! FLV at real time; N viewers play it over plain RTMP and over WebSocket from rtmpws-gateway,
//! and over plain RTMP from nginx-rtmp (one worker), in the same run on the same machine.
//!
//! For every server, transport and N it prints the server's CPU seconds per viewer-second
//! (from /proc/PID/stat over the measurement window), resident memory per connection (VmRSS
//! with N idle viewers and with N playing, against none), delivery latency from publisher
//! write to viewer read (p50/p99/max, one clock in one process) and from publisher write to
//! arrival in the viewer's socket (kernel receive timestamps: the server's part, without the
//! load generator's own queueing), and messages dropped (expected minus received, per viewer);
//! then the ratios rtmpws/nginx per N.
//!
//! Every measurement starts its server afresh, so memory freed by an earlier one cannot hide
//! the cost of the next. The gateway runs one runtime thread by default, as nginx-rtmp runs
//! one worker (`--gateway-threads`). All load runs on one thread of this process, so that it
//! leaves the servers as much of the machine as it can.
//!
//! ```text
//! cargo run --release -p rtmpws-bench --bin rtmpws-loadgen -- --viewers 100,500,1000,2000 --seconds 20
//! cargo run --release -p rtmpws-bench --bin rtmpws-loadgen -- --smoke
//! ```

mod client;
mod load;
mod rx;
mod servers;
mod sys;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::LocalSet;

use crate::client::Error;
use crate::load::{Phase, Shared, Tag, Transport};
use crate::servers::{Kind, Server, TempDir};

/// Gateway fan-out benchmark against nginx-rtmp.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Numbers of viewers to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000,2000")]
    viewers: Vec<usize>,
    /// Length of each measurement window (seconds).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Playing time before each window, so start-up (GOP bursts, nginx-rtmp waiting for a
    /// keyframe) is not measured (seconds; more than the source's 2 s GOP).
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// What to measure, comma-separated: rtmpws-rtmp, rtmpws-ws, nginx-rtmp.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "rtmpws-rtmp,rtmpws-ws,nginx-rtmp"
    )]
    targets: Vec<String>,
    /// Runtime worker threads of the gateway (TOKIO_WORKER_THREADS); 1 by default, as
    /// nginx-rtmp runs one worker; 0 for tokio's default (one per core).
    #[arg(long, default_value_t = 1)]
    gateway_threads: usize,
    /// The gateway binary; by default `cargo build --release -p rtmpws-gateway` is run and
    /// its output used.
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Runs of each measurement; the run with the median CPU per viewer is reported (a
    /// shared machine makes single runs noisy).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// CI check: 10 viewers, 3 s windows, 2.5 s warm-up, every target, a 10 s source file.
    #[arg(long)]
    smoke: bool,
}

/// One measurement target: a server and the transport its viewers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    kind: Kind,
    transport: Transport,
}

impl Target {
    fn parse(name: &str) -> Result<Target, Error> {
        let (kind, transport) = match name {
            "rtmpws-rtmp" => (Kind::Rtmpws, Transport::Rtmp),
            "rtmpws-ws" => (Kind::Rtmpws, Transport::WebSocket),
            "nginx-rtmp" => (Kind::Nginx, Transport::Rtmp),
            other => return Err(format!("unknown target {other}").into()),
        };
        Ok(Target { kind, transport })
    }

    fn label(self) -> String {
        format!("{} {}", self.kind.name(), self.transport.name())
    }
}

/// The figures of one measurement.
#[derive(Debug, Clone)]
struct Row {
    target: Target,
    viewers: usize,
    failed: usize,
    window_s: f64,
    /// Server CPU seconds per viewer-second.
    cpu_per_viewer_s: f64,
    /// Server CPU, percent of one core.
    server_cpu_pct: f64,
    /// Share of the server's CPU time spent in the kernel (stime), percent.
    kernel_share_pct: f64,
    loadgen_cpu_pct: f64,
    idle_kib_per_conn: f64,
    playing_kib_per_conn: f64,
    baseline_rss_kib: u64,
    /// Publisher write to viewer read.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Publisher write to arrival in the viewer's socket (kernel receive timestamp).
    arrival_p50_ms: f64,
    arrival_p99_ms: f64,
    arrival_max_ms: f64,
    /// How many runs this row is the median of, and the lowest and highest CPU per viewer
    /// among them.
    runs: usize,
    cpu_spread: (f64, f64),
    /// Media messages each viewer should have received.
    expected: u64,
    dropped_total: u64,
    dropped_max: u64,
    unmatched: u64,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtmpws-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let mut args = Args::parse();
    if args.smoke {
        args.viewers = vec![10];
        args.seconds = 3;
        // nginx-rtmp starts new viewers' video at the next keyframe (every 2 s).
        args.warmup = 2.5;
    }
    if args.viewers.is_empty() || args.seconds == 0 {
        return Err("nothing to measure".into());
    }
    let targets = args
        .targets
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let fd_limit = sys::raise_fd_limit()?;
    let largest = args.viewers.iter().copied().max().unwrap_or(0);
    if (largest as u64) + 64 > fd_limit {
        return Err(
            format!("{largest} viewers need more than the {fd_limit} open files allowed").into(),
        );
    }
    let tmp = TempDir::new("rtmpws-bench")?;
    let gateway = match &args.gateway {
        Some(path) => path.clone(),
        None => servers::build_gateway()?,
    };
    let source_secs = if args.smoke { 10 } else { 30 };
    let flv = load::make_source(tmp.path(), source_secs)?;
    let tags = Rc::new(load::load_flv(&flv)?);
    let bytes: usize = tags.iter().map(|t| t.payload.len()).sum();
    println!(
        "gateway: {} with {}; nginx-rtmp: one worker",
        gateway.display(),
        match args.gateway_threads {
            0 => "one runtime thread per core".to_owned(),
            1 => "one runtime thread".to_owned(),
            n => format!("{n} runtime threads"),
        }
    );
    println!(
        "source: {} tags, {:.0} kbps over {source_secs} s; windows of {} s after {} s of warm-up; fd limit {fd_limit}",
        tags.len(),
        bytes as f64 * 8.0 / 1000.0 / source_secs as f64,
        args.seconds,
        args.warmup
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = LocalSet::new();
    let rows = local.block_on(&runtime, async {
        let mut rows = Vec::new();
        for &n in &args.viewers {
            let mut runs: Vec<Vec<Row>> = vec![Vec::new(); targets.len()];
            // Rounds interleave the targets, so a noisy moment on a shared machine hits one
            // run of each rather than every run of one.
            for round in 0..args.repeat.max(1) {
                for (i, &target) in targets.iter().enumerate() {
                    let dir = tmp.path().join(format!(
                        "{}-{}-{n}-{round}",
                        target.kind.name(),
                        target.transport.name()
                    ));
                    std::fs::create_dir_all(&dir)?;
                    let row = measure(target, n, &args, &gateway, &dir, Rc::clone(&tags)).await?;
                    print_progress(&row);
                    runs[i].push(row);
                }
            }
            rows.extend(runs.into_iter().filter_map(median_run));
        }
        Ok::<_, Error>(rows)
    })?;
    print_report(&rows);
    if args.smoke {
        // CI asserts that the benchmark works, never how fast anything is.
        if let Some(row) = rows.iter().find(|r| r.failed > 0 || r.p50_ms.is_nan()) {
            return Err(format!(
                "smoke: {} had {} failed viewers or delivered nothing",
                row.target.label(),
                row.failed
            )
            .into());
        }
    }
    Ok(())
}

async fn sleep(seconds: f64) {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

/// Polls `done` every 20 ms for up to `limit`; true if it became true.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// One measurement: a fresh server, a publisher, `n` viewers idle then playing.
async fn measure(
    target: Target,
    n: usize,
    args: &Args,
    gateway: &Path,
    dir: &Path,
    tags: Rc<Vec<Tag>>,
) -> Result<Row, Error> {
    let mut server = match target.kind {
        Kind::Rtmpws => Server::gateway(
            gateway,
            dir,
            Some(args.gateway_threads).filter(|&t| t > 0),
            servers::ONE_ADDRESS,
        )?,
        Kind::Nginx => Server::nginx(dir)?,
    };
    let addr = match target.transport {
        Transport::Rtmp => server.rtmp,
        Transport::WebSocket => server.http.ok_or("no WebSocket address")?,
    };
    let shared = Rc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel();
    let publisher = tokio::task::spawn_local(load::publisher(
        server.rtmp,
        tags,
        Rc::clone(&shared),
        ready_tx,
        stop_rx,
    ));
    if tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .is_err()
    {
        let why = match publisher.await {
            Ok(Err(e)) => e.to_string(),
            _ => "no Publish.Start within 10 s".into(),
        };
        return Err(format!(
            "{}: publisher failed: {why}\n{}",
            target.label(),
            server.log()
        )
        .into());
    }
    // A GOP in the cache and the allocator warmed by the publisher alone.
    sleep(if args.smoke { 1.0 } else { 2.5 }).await;
    let baseline = server.rss_kib();

    let (phase_tx, phase_rx) = watch::channel(Phase::Idle);
    // Bounded concurrent setups: a burst of thousands of SYNs would overflow listen backlogs
    // and measure TCP retransmission timers instead of servers.
    let setup = Rc::new(Semaphore::new(64));
    let viewers: Vec<_> = (0..n)
        .map(|_| {
            tokio::task::spawn_local(load::viewer(
                target.transport,
                addr,
                Rc::clone(&shared),
                phase_rx.clone(),
                Rc::clone(&setup),
            ))
        })
        .collect();
    wait_until(Duration::from_secs(120), || {
        shared.ready.get() + shared.failed.get() >= n
    })
    .await;
    sleep(1.0).await;
    let idle_rss = server.rss_kib();
    let connected = shared.ready.get();

    let _ = phase_tx.send(Phase::Play);
    wait_until(Duration::from_secs(15), || {
        shared.playing.get() + shared.failed.get() >= n
    })
    .await;
    sleep(args.warmup).await;

    let ticks = sys::clock_ticks();
    let me = std::process::id();
    let cpu0 = server.cpu_ticks();
    let self0 = sys::cpu_ticks(me).map(|(u, s)| u + s)?;
    let start = Instant::now();
    shared.start_window(start);
    sleep(args.seconds as f64).await;
    let end = Instant::now();
    shared.end_window(end);
    let cpu1 = server.cpu_ticks();
    let self1 = sys::cpu_ticks(me).map(|(u, s)| u + s)?;
    let playing_rss = server.rss_kib();
    // Let what was sent in the window arrive.
    sleep(1.0).await;
    let _ = phase_tx.send(Phase::Stop);
    let _ = stop_tx.send(true);

    let expected = shared.expected();
    let mut ok = 0;
    let mut dropped_total = 0;
    let mut dropped_max = 0;
    let mut first_error = None;
    for viewer in viewers {
        let outcome = viewer.await?;
        let dropped = expected.saturating_sub(outcome.received);
        dropped_total += dropped;
        dropped_max = dropped_max.max(dropped);
        match outcome.error {
            None => ok += 1,
            Some(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match publisher.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("{}: publisher: {e}", target.label()),
        Err(e) => eprintln!("{}: publisher task: {e}", target.label()),
    }
    if let Some(e) = first_error {
        eprintln!(
            "{} n={n}: {} viewers failed, first: {e}",
            target.label(),
            n - ok
        );
    }
    server.stop();

    let window_s = (end - start).as_secs_f64();
    let user_ticks = cpu1.0.saturating_sub(cpu0.0);
    let system_ticks = cpu1.1.saturating_sub(cpu0.1);
    let cpu_s = (user_ticks + system_ticks) as f64 / ticks;
    let (mut latencies, mut arrivals) = shared.take_latencies();
    latencies.sort_unstable();
    arrivals.sort_unstable();
    let percentile = |sorted: &[u32], p: f64| -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
        f64::from(sorted[i]) / 1000.0
    };
    let per_conn = |rss: u64| -> f64 {
        if connected == 0 {
            f64::NAN
        } else {
            (rss as f64 - baseline as f64) / connected as f64
        }
    };
    Ok(Row {
        target,
        viewers: n,
        failed: n - ok,
        window_s,
        cpu_per_viewer_s: cpu_s / (n as f64 * window_s),
        runs: 1,
        cpu_spread: (cpu_s / (n as f64 * window_s), cpu_s / (n as f64 * window_s)),
        server_cpu_pct: cpu_s / window_s * 100.0,
        kernel_share_pct: if user_ticks + system_ticks == 0 {
            f64::NAN
        } else {
            system_ticks as f64 * 100.0 / (user_ticks + system_ticks) as f64
        },
        loadgen_cpu_pct: self1.saturating_sub(self0) as f64 / ticks / window_s * 100.0,
        idle_kib_per_conn: per_conn(idle_rss),
        playing_kib_per_conn: per_conn(playing_rss),
        baseline_rss_kib: baseline,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: percentile(&latencies, 1.0),
        arrival_p50_ms: percentile(&arrivals, 0.50),
        arrival_p99_ms: percentile(&arrivals, 0.99),
        arrival_max_ms: percentile(&arrivals, 1.0),
        expected,
        dropped_total,
        dropped_max,
        unmatched: shared.unmatched.get(),
    })
}

/// Of repeated runs, the one with the median CPU per viewer (all its figures, so they stay
/// consistent with each other), noting the spread of CPU figures.
fn median_run(mut runs: Vec<Row>) -> Option<Row> {
    runs.sort_by(|a, b| a.cpu_per_viewer_s.total_cmp(&b.cpu_per_viewer_s));
    let low = runs.first()?.cpu_per_viewer_s;
    let high = runs.last()?.cpu_per_viewer_s;
    let count = runs.len();
    let mut row = runs.swap_remove(count / 2);
    row.runs = count;
    row.cpu_spread = (low, high);
    Some(row)
}

fn print_progress(row: &Row) {
    println!(
        "{:<20} N={:<5} cpu {:>6.1} µs/viewer·s ({:>5.1}% of a core, {:>3.0}% kernel; loadgen {:>5.1}%)  idle {:>5.1} KiB/conn  playing {:>5.1} KiB/conn  latency p50 {:.2} p99 {:.2} max {:.1} ms (arrival p50 {:.2} p99 {:.2} max {:.1} ms)  dropped {} (worst viewer {} of {})  failed {}  unmatched {}",
        row.target.label(),
        row.viewers,
        row.cpu_per_viewer_s * 1e6,
        row.server_cpu_pct,
        row.kernel_share_pct,
        row.loadgen_cpu_pct,
        row.idle_kib_per_conn,
        row.playing_kib_per_conn,
        row.p50_ms,
        row.p99_ms,
        row.max_ms,
        row.arrival_p50_ms,
        row.arrival_p99_ms,
        row.arrival_max_ms,
        row.dropped_total,
        row.dropped_max,
        row.expected,
        row.failed,
        row.unmatched,
    );
}

/// The tables, in Markdown so they can go into BENCHMARKS.md as they are.
fn print_report(rows: &[Row]) {
    println!();
    println!("| server | viewers | CPU µs per viewer-second | server CPU (% of a core; kernel share) | idle KiB/conn | playing KiB/conn | read latency p50 / p99 / max ms | arrival latency p50 / p99 / max ms | dropped (total / worst viewer / expected per viewer) | failed | loadgen CPU % |");
    println!("|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.1} ({:.0}%) | {:.1} | {:.1} | {:.2} / {:.2} / {:.1} | {:.2} / {:.2} / {:.1} | {} / {} / {} | {} | {:.0} |",
            row.target.label(),
            row.viewers,
            if row.runs > 1 {
                format!(
                    "{:.1} ({:.0}–{:.0})",
                    row.cpu_per_viewer_s * 1e6,
                    row.cpu_spread.0 * 1e6,
                    row.cpu_spread.1 * 1e6
                )
            } else {
                format!("{:.1}", row.cpu_per_viewer_s * 1e6)
            },
            row.server_cpu_pct,
            row.kernel_share_pct,
            row.idle_kib_per_conn,
            row.playing_kib_per_conn,
            row.p50_ms,
            row.p99_ms,
            row.max_ms,
            row.arrival_p50_ms,
            row.arrival_p99_ms,
            row.arrival_max_ms,
            row.dropped_total,
            row.dropped_max,
            row.expected,
            row.failed,
            row.loadgen_cpu_pct,
        );
    }
    let find = |kind: Kind, transport: Transport, n: usize| {
        rows.iter()
            .find(|r| r.target.kind == kind && r.target.transport == transport && r.viewers == n)
    };
    let mut viewers: Vec<usize> = rows.iter().map(|r| r.viewers).collect();
    viewers.dedup();
    let ratio = |a: f64, b: f64| {
        if b > 0.0 && a.is_finite() && b.is_finite() {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    println!();
    println!("Ratios rtmpws / nginx-rtmp (below 1 means rtmpws uses less):");
    println!();
    println!("| viewers | CPU RTMP/RTMP | CPU WebSocket/RTMP | idle memory RTMP/RTMP | idle memory WebSocket/RTMP | p99 read latency RTMP/RTMP | p99 read latency WebSocket/RTMP | p99 arrival latency RTMP/RTMP | p99 arrival latency WebSocket/RTMP |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in viewers {
        let Some(nginx) = find(Kind::Nginx, Transport::Rtmp, n) else {
            continue;
        };
        let tcp = find(Kind::Rtmpws, Transport::Rtmp, n);
        let ws = find(Kind::Rtmpws, Transport::WebSocket, n);
        let cell = |row: Option<&Row>, f: fn(&Row) -> f64| {
            row.map_or("-".into(), |r| ratio(f(r), f(nginx)))
        };
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(tcp, |r| r.cpu_per_viewer_s),
            cell(ws, |r| r.cpu_per_viewer_s),
            cell(tcp, |r| r.idle_kib_per_conn),
            cell(ws, |r| r.idle_kib_per_conn),
            cell(tcp, |r| r.p99_ms),
            cell(ws, |r| r.p99_ms),
            cell(tcp, |r| r.arrival_p99_ms),
            cell(ws, |r| r.arrival_p99_ms),
        );
    }
    if let Some(row) = rows.first() {
        println!();
        println!(
            "(window {:.1} s; {}; baseline RSS of the first server {} KiB)",
            row.window_s,
            if row.runs > 1 {
                format!(
                    "each row the median-CPU run of {}, CPU range in parentheses",
                    row.runs
                )
            } else {
                "one run per row".to_owned()
            },
            row.baseline_rss_kib
        );
    }
}
