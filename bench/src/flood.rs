//! rtmpws-flood: floods at the door, against rtmpws-gateway and nginx-rtmp (one worker) in the
//! same run on the same machine. Each server is started fresh, with a publisher replaying an
//! FLV at real time (the Rust client of `rtmpws-loadgen`), and measured three ways:
//!
//! 1. A new viewer on the idle server: time to its first video message (the Rust client) and
//!    to its first decoded frame (ffmpeg, `-frames:v 1`), from the start of its connect.
//! 2. A burst: N connects at once from one thread, each sending C0+C1. A connection counts as
//!    accepted once the server answers (S0) or closes it (the gateway sheds half-open
//!    connections past its budget, which it can only do once it accepted them). Reported: the
//!    time until all are accepted, per-connection p50/p99, connects that took over 1 s (a SYN
//!    dropped by a full accept queue is retransmitted after 1 s), failures, the kernel's
//!    ListenOverflows count over the burst (system-wide) and the server's CPU time.
//! 3. H half-finished handshakes (C0 and half of C1, then nothing) opened at once and held; a
//!    new viewer's start (as in 1) 100 ms into that flood, while its connections arrive; how
//!    many the server still holds a second after the last one opened; a new viewer's start
//!    with them held; and whether the publisher kept publishing.
//!
//! Each server is measured `--repeat` times, interleaved; the table shows each one's run with
//! the median burst time, with ratios rtmpws/nginx-rtmp. The gateway runs one runtime thread by
//! default, as nginx-rtmp runs one worker, with its default door budgets and room for every
//! connection from 127.0.0.1 (`--gateway-config`).
//!
//! ```text
//! cargo run --release -p rtmpws-bench --bin rtmpws-flood
//! cargo run --release -p rtmpws-bench --bin rtmpws-flood -- --smoke
//! ```

// Shared with rtmpws-loadgen, which uses the rest of them.
#[allow(dead_code)]
mod client;
#[allow(dead_code)]
mod load;
#[allow(dead_code)]
mod rx;
#[allow(dead_code)]
mod servers;
#[allow(dead_code)]
mod sys;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use rtmpws_protocol::amf::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::LocalSet;

use crate::client::{Conn, Error, Incoming};
use crate::load::{Shared, APP, STREAM};
use crate::servers::{Kind, Server, TempDir};

/// Floods at the door: connect bursts and half-open connections, against nginx-rtmp.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Connects in the burst.
    #[arg(long, default_value_t = 5000)]
    burst: usize,
    /// Half-finished handshakes held open while a new viewer starts.
    #[arg(long, default_value_t = 9000)]
    half_open: usize,
    /// Servers to measure, comma-separated: rtmpws, nginx-rtmp.
    #[arg(long, value_delimiter = ',', default_value = "rtmpws,nginx-rtmp")]
    targets: Vec<String>,
    /// Runtime worker threads of the gateway (TOKIO_WORKER_THREADS); 0 for one per core.
    #[arg(long, default_value_t = 1)]
    gateway_threads: usize,
    /// The gateway binary; by default `cargo build --release -p rtmpws-gateway` is run and its
    /// output used.
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// TOML lines added to the gateway's config (its addresses and folders); by default room
    /// for 20,000 connections, all from one address.
    #[arg(long, default_value = servers::ONE_ADDRESS)]
    gateway_config: String,
    /// Runs per server, interleaved; the run with the median burst time is reported (a shared
    /// machine makes single runs noisy).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// CI check: one run, a burst of 300, 500 half-open; fails if a viewer cannot start.
    #[arg(long)]
    smoke: bool,
}

/// How long a viewer gets to start, and a connection to be answered.
const VIEWER_LIMIT: Duration = Duration::from_secs(10);
const ANSWER_LIMIT: Duration = Duration::from_secs(15);

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtmpws-flood: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let mut args = Args::parse();
    if args.smoke {
        args.burst = 300;
        args.half_open = 500;
        args.repeat = 1;
    }
    let kinds = args
        .targets
        .iter()
        .map(|t| match t.as_str() {
            "rtmpws" => Ok(Kind::Rtmpws),
            "nginx-rtmp" => Ok(Kind::Nginx),
            other => Err(format!("unknown target {other:?} (rtmpws, nginx-rtmp)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fd_limit = sys::raise_fd_limit()?;
    let needed = args.burst.max(args.half_open) as u64 + 256;
    if needed > fd_limit {
        return Err(format!("{needed} sockets need more than the {fd_limit} files allowed").into());
    }
    let tmp = TempDir::new("rtmpws-flood")?;
    let gateway = match &args.gateway {
        Some(path) => path.clone(),
        None => servers::build_gateway()?,
    };
    let tags = Rc::new(load::load_flv(&load::make_source(tmp.path(), 10)?)?);
    println!(
        "gateway: {} ({} runtime thread(s), config: {}); nginx-rtmp: one worker; fd limit {fd_limit}",
        gateway.display(),
        match args.gateway_threads {
            0 => "per core".to_owned(),
            n => n.to_string(),
        },
        args.gateway_config.replace('\n', "; "),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = LocalSet::new();
    let runs = local.block_on(&runtime, async {
        let mut runs: Vec<Vec<Report>> = kinds.iter().map(|_| Vec::new()).collect();
        for round in 0..args.repeat.max(1) {
            for (i, &kind) in kinds.iter().enumerate() {
                let dir = tmp.path().join(format!("{}-{round}", kind.name()));
                std::fs::create_dir_all(&dir)?;
                let mut server = match kind {
                    Kind::Rtmpws => Server::gateway(
                        &gateway,
                        &dir,
                        Some(args.gateway_threads).filter(|&t| t > 0),
                        &args.gateway_config,
                    )?,
                    Kind::Nginx => Server::nginx(&dir)?,
                };
                let report = measure(&server, &args, Rc::clone(&tags)).await;
                server.stop();
                let report = report?;
                print_progress(&report);
                runs[i].push(report);
            }
        }
        Ok::<_, Error>(runs)
    })?;
    for (kind, runs) in kinds.iter().zip(&runs) {
        let mut all: Vec<Duration> = runs.iter().map(|r| r.burst.all).collect();
        all.sort();
        let all: Vec<String> = all.into_iter().map(ms).collect();
        println!(
            "{}: burst, all accepted, every run: {}",
            kind.name(),
            all.join(", ")
        );
    }
    let reports: Vec<Report> = runs
        .into_iter()
        .filter_map(|mut runs| {
            runs.sort_by_key(|r| r.burst.all);
            let middle = runs.len() / 2;
            runs.into_iter().nth(middle)
        })
        .collect();
    print_table(&reports, &args);
    if args.smoke {
        // CI asserts that the benchmark works and that viewers start, never how fast.
        for report in &reports {
            let starts = [&report.arrival_start, &report.flood_start];
            if starts.iter().any(|s| s.rust.is_err() || s.ffmpeg.is_err()) {
                return Err(format!(
                    "smoke: no viewer started on {} with {} half-open connections held",
                    report.kind.name(),
                    args.half_open
                )
                .into());
            }
            if report.burst.failed > 0 {
                return Err(format!("smoke: {} burst connects failed", report.burst.failed).into());
            }
        }
    }
    Ok(())
}

/// A new viewer's start: the Rust client's first video message, ffmpeg's first frame.
struct Start {
    rust: Result<Duration, String>,
    ffmpeg: Result<Duration, String>,
}

struct Burst {
    n: usize,
    failed: usize,
    first_error: Option<String>,
    /// Until the last connection was accepted.
    all: Duration,
    p50: Duration,
    p99: Duration,
    /// Connects that took over a second (a SYN retransmitted).
    slow_connects: usize,
    overflows: Option<u64>,
    cpu_secs: f64,
}

struct Flood {
    n: usize,
    failed: usize,
    opened: Duration,
    /// Still open from the client's side a second after the last one opened.
    held: usize,
}

struct Report {
    kind: Kind,
    idle_start: Start,
    burst: Burst,
    flood: Flood,
    /// A new viewer's start while the half-open connections arrive, and once they are held.
    arrival_start: Start,
    flood_start: Start,
    publishing: bool,
}

async fn measure(server: &Server, args: &Args, tags: Rc<Vec<load::Tag>>) -> Result<Report, Error> {
    let addr = server.rtmp;
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let publisher = tokio::task::spawn_local(load::publisher(
        addr,
        tags,
        Rc::new(Shared::default()),
        ready_tx,
        stop_rx,
    ));
    if tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .is_err()
    {
        return Err(format!("{}: no Publish.Start within 10 s", server.kind.name()).into());
    }
    // Past the first GOP, so a new viewer of either server finds one.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let idle_start = viewer_start(addr).await;
    let burst = burst(server, args.burst).await;
    // Let the server take the burst's closes before the next measurement.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (flood, streams, arrival_start) = open_half(addr, args.half_open).await;
    let flood_start = viewer_start(addr).await;
    let publishing = !publisher.is_finished();
    drop(streams);
    let _ = stop_tx.send(true);
    let _ = publisher.await;
    Ok(Report {
        kind: server.kind,
        idle_start,
        burst,
        flood,
        arrival_start,
        flood_start,
        publishing,
    })
}

async fn viewer_start(addr: SocketAddr) -> Start {
    Start {
        rust: first_video(addr).await,
        ffmpeg: ffmpeg_first_frame(addr).await,
    }
}

/// The Rust client connects and plays; the time to its first video message.
async fn first_video(addr: SocketAddr) -> Result<Duration, String> {
    let start = Instant::now();
    let play = async {
        let mut conn = Conn::tcp(addr).await?;
        let stream_id = conn
            .connect_and_create_stream(APP, &format!("rtmp://{addr}/{APP}"))
            .await?;
        conn.command(
            stream_id,
            "play",
            Value::Null,
            vec![STREAM.into(), (-2.0).into(), (-1.0).into(), true.into()],
        );
        conn.flush().await?;
        loop {
            if conn.read().await?.is_none() {
                return Err::<Duration, Error>("the server closed the connection".into());
            }
            while let Some(incoming) = conn.next()? {
                if let Incoming::Media { type_id: 9, .. } = incoming {
                    return Ok(start.elapsed());
                }
            }
            conn.flush().await?;
        }
    };
    match tokio::time::timeout(VIEWER_LIMIT, play).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no video within {VIEWER_LIMIT:?}")),
    }
}

/// ffmpeg plays until it decoded one video frame; the time it took.
async fn ffmpeg_first_frame(addr: SocketAddr) -> Result<Duration, String> {
    let start = Instant::now();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(format!("rtmp://{addr}/{APP}/{STREAM}"))
        .args(["-frames:v", "1", "-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(start.elapsed()),
            Ok(Some(status)) => {
                let mut message = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut message);
                }
                let message = message.lines().last().unwrap_or("").to_owned();
                return Err(format!("ffmpeg {status}: {message}"));
            }
            Ok(None) if start.elapsed() > VIEWER_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no frame within {VIEWER_LIMIT:?}"));
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// C0 and C1 (C1's time and zero fields, then zeros for the random part).
fn c0c1() -> Rc<Vec<u8>> {
    let mut bytes = vec![0u8; 1 + 1536];
    bytes[0] = 3;
    Rc::new(bytes)
}

async fn burst(server: &Server, n: usize) -> Burst {
    let addr = server.rtmp;
    let hello = c0c1();
    let overflows_before = sys::listen_overflows();
    let (user0, system0) = server.cpu_ticks();
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let hello = Rc::clone(&hello);
            tokio::task::spawn_local(async move {
                let connect = tokio::time::timeout(ANSWER_LIMIT, TcpStream::connect(addr)).await;
                let mut stream = match connect {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return Err(format!("connect failed: {e}")),
                    Err(_) => return Err(format!("connect took over {ANSWER_LIMIT:?}")),
                };
                let connected = start.elapsed();
                // A connection shed at once may refuse the write; the read below tells.
                let _ = stream.write_all(&hello).await;
                let mut byte = [0u8; 1];
                match tokio::time::timeout(ANSWER_LIMIT, stream.read(&mut byte)).await {
                    // S0, or closed (EOF or reset): either way the server accepted it.
                    Ok(_) => Ok((connected, start.elapsed(), stream)),
                    Err(_) => Err(format!("neither answered nor closed in {ANSWER_LIMIT:?}")),
                }
            })
        })
        .collect();
    let mut accepted = Vec::with_capacity(n);
    let mut streams = Vec::with_capacity(n);
    let mut slow_connects = 0;
    let mut failed = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok((connected, answered, stream))) => {
                if connected > Duration::from_secs(1) {
                    slow_connects += 1;
                }
                accepted.push(answered);
                streams.push(stream);
            }
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let (user1, system1) = server.cpu_ticks();
    let overflows = overflows_before
        .zip(sys::listen_overflows())
        .map(|(before, after)| after.saturating_sub(before));
    drop(streams);
    accepted.sort();
    let at = |q: f64| -> Duration {
        if accepted.is_empty() {
            return Duration::ZERO;
        }
        accepted[((accepted.len() - 1) as f64 * q).round() as usize]
    };
    Burst {
        n,
        failed,
        first_error,
        all: accepted.last().copied().unwrap_or_default(),
        p50: at(0.5),
        p99: at(0.99),
        slow_connects,
        overflows,
        cpu_secs: ((user1 + system1) - (user0 + system0)) as f64 / sys::clock_ticks(),
    }
}

/// Opens `n` half-finished handshakes, all at once as a flood does, and holds them; a new
/// viewer starts 100 ms into the flood (while its connections are arriving).
async fn open_half(addr: SocketAddr, n: usize) -> (Flood, Vec<TcpStream>, Start) {
    let mut half = vec![0x5Au8; 1 + 700];
    half[0] = 3;
    let half = Rc::new(half);
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let half = Rc::clone(&half);
            tokio::task::spawn_local(async move {
                let mut stream = tokio::time::timeout(ANSWER_LIMIT, TcpStream::connect(addr))
                    .await
                    .map_err(|_| "connect timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
                let _ = stream.write_all(&half).await;
                Ok::<_, String>(stream)
            })
        })
        .collect();
    let during = tokio::task::spawn_local(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        viewer_start(addr).await
    });
    let mut streams = Vec::with_capacity(n);
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(stream)) => streams.push(stream),
            _ => failed += 1,
        }
    }
    let opened = start.elapsed();
    let during = during.await.unwrap_or_else(|e| Start {
        rust: Err(e.to_string()),
        ffmpeg: Err(e.to_string()),
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = streams.iter().filter(|s| is_open(s)).count();
    (
        Flood {
            n,
            failed,
            opened,
            held,
        },
        streams,
        during,
    )
}

/// Whether the server still holds `stream` open: what it sent (S0 and S1, for a server that
/// answers C0 at once) is read and dropped until the socket would block (open) or ends.
fn is_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn start_text(start: &Result<Duration, String>) -> String {
    match start {
        Ok(d) => ms(*d),
        Err(e) => format!("FAILED ({e})"),
    }
}

fn print_progress(report: &Report) {
    let b = &report.burst;
    println!(
        "{}: idle viewer {} / ffmpeg {}; burst of {}: all accepted in {}, {} failed{}, {} slow \
         connects; {} half-open: viewer while arriving {} / ffmpeg {}, {} held, viewer {} / ffmpeg {}",
        report.kind.name(),
        start_text(&report.idle_start.rust),
        start_text(&report.idle_start.ffmpeg),
        b.n,
        ms(b.all),
        b.failed,
        b.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        b.slow_connects,
        report.flood.n,
        start_text(&report.arrival_start.rust),
        start_text(&report.arrival_start.ffmpeg),
        report.flood.held,
        start_text(&report.flood_start.rust),
        start_text(&report.flood_start.ffmpeg),
    );
}

fn print_table(reports: &[Report], args: &Args) {
    let gateway = reports.iter().find(|r| r.kind == Kind::Rtmpws);
    let nginx = reports.iter().find(|r| r.kind == Kind::Nginx);
    println!();
    println!(
        "| measurement | {} | ratio rtmpws/nginx |",
        reports
            .iter()
            .map(|r| r.kind.name())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(reports.len()));
    type Cell = fn(&Report) -> (String, Option<f64>);
    let rows: Vec<(String, Cell)> = vec![
        ("idle: new viewer, first video (Rust client)".into(), |r| {
            start_cell(&r.idle_start.rust)
        }),
        ("idle: new viewer, first frame (ffmpeg)".into(), |r| {
            start_cell(&r.idle_start.ffmpeg)
        }),
        (format!("burst of {}: all accepted", args.burst), |r| {
            (ms(r.burst.all), Some(r.burst.all.as_secs_f64()))
        }),
        ("burst: accepted, p50 / p99 per connection".into(), |r| {
            (
                format!("{} / {}", ms(r.burst.p50), ms(r.burst.p99)),
                Some(r.burst.p99.as_secs_f64()),
            )
        }),
        ("burst: connects over 1 s (SYN retransmitted)".into(), |r| {
            (r.burst.slow_connects.to_string(), None)
        }),
        ("burst: failed".into(), |r| {
            (r.burst.failed.to_string(), None)
        }),
        ("burst: kernel ListenOverflows (system-wide)".into(), |r| {
            (
                r.burst.overflows.map_or("n/a".into(), |n| n.to_string()),
                None,
            )
        }),
        ("burst: server CPU".into(), |r| {
            (format!("{:.2} s", r.burst.cpu_secs), Some(r.burst.cpu_secs))
        }),
        (format!("{} half-open: opened in", args.half_open), |r| {
            (
                format!("{} ({} failed)", ms(r.flood.opened), r.flood.failed),
                Some(r.flood.opened.as_secs_f64()),
            )
        }),
        (
            "half-open arriving: new viewer, first video (Rust client)".into(),
            |r| start_cell(&r.arrival_start.rust),
        ),
        (
            "half-open arriving: new viewer, first frame (ffmpeg)".into(),
            |r| start_cell(&r.arrival_start.ffmpeg),
        ),
        (
            "half-open: still held by the server after 1 s".into(),
            |r| (r.flood.held.to_string(), None),
        ),
        (
            "half-open held: new viewer, first video (Rust client)".into(),
            |r| start_cell(&r.flood_start.rust),
        ),
        (
            "half-open held: new viewer, first frame (ffmpeg)".into(),
            |r| start_cell(&r.flood_start.ffmpeg),
        ),
        ("half-open held: publisher still publishing".into(), |r| {
            ((if r.publishing { "yes" } else { "no" }).into(), None)
        }),
    ];
    for (label, cell) in rows {
        let cells: Vec<_> = reports.iter().map(cell).collect();
        let ratio = match (gateway.map(cell), nginx.map(cell)) {
            (Some((_, Some(g))), Some((_, Some(n)))) if n > 0.0 => ratio(g / n),
            _ => String::new(),
        };
        println!(
            "| {label} | {} | {ratio} |",
            cells
                .iter()
                .map(|(text, _)| text.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}

/// Two significant digits, however small.
fn ratio(r: f64) -> String {
    if r >= 0.1 || r == 0.0 {
        format!("{r:.2}")
    } else {
        let digits = (1 - r.log10().floor() as i32).max(2) as usize;
        format!("{r:.digits$}")
    }
}

fn start_cell(start: &Result<Duration, String>) -> (String, Option<f64>) {
    (
        start_text(start),
        start.as_ref().ok().map(Duration::as_secs_f64),
    )
}
