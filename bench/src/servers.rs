//! The servers under test, each started fresh for every measurement (so that memory freed by an
//! earlier run cannot hide the cost of the next) and stopped by PID.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys;

pub type Error = Box<dyn std::error::Error>;

/// Gateway settings for loads of thousands of connections that come from one address
/// (127.0.0.1), as every benchmark's do.
pub const ONE_ADDRESS: &str = "max_connections = 20000\nmax_connections_per_ip = 20000";

/// Which server a measurement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rtmpws,
    Nginx,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rtmpws => "rtmpws",
            Kind::Nginx => "nginx-rtmp",
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
pub fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running server.
pub struct Server {
    pub kind: Kind,
    child: Option<Child>,
    /// The processes whose CPU and memory are counted: the gateway, or nginx's master and its
    /// worker.
    pids: Vec<u32>,
    pub rtmp: SocketAddr,
    /// The gateway's HTTP (WebSocket) address.
    pub http: Option<SocketAddr>,
    log: PathBuf,
}

impl Server {
    /// Starts `rtmpws-gateway` with a TOML config in `dir` (plus `extra_config` lines), with
    /// `threads` runtime worker threads (tokio's default, one per core, if `None`).
    pub fn gateway(
        binary: &Path,
        dir: &Path,
        threads: Option<usize>,
        extra_config: &str,
    ) -> Result<Server, Error> {
        for sub in ["media", "www", "dist"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let config = dir.join("gateway.toml");
        fs::write(
            &config,
            format!(
                "rtmp_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\nmedia_dir = \"{media}\"\n\
                 www_dir = \"{www}\"\npackage_dir = \"{dist}\"\n{extra_config}\n",
                media = dir.join("media").display(),
                www = dir.join("www").display(),
                dist = dir.join("dist").display(),
            ),
        )?;
        let log = dir.join("gateway.log");
        // Port 0: the gateway reports the ports it bound, so nothing else can take them between
        // our choice and its bind.
        let addr_file = dir.join("addresses");
        let _ = fs::remove_file(&addr_file);
        let mut command = Command::new(binary);
        if let Some(threads) = threads {
            command.env("TOKIO_WORKER_THREADS", threads.to_string());
        }
        let child = command
            .arg("--config")
            .arg(&config)
            .arg("--addr-file")
            .arg(&addr_file)
            // Per-connection info lines would cost the gateway CPU that nginx (logging errors
            // only) does not spend.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()?;
        let pid = child.id();
        let mut server = Server {
            kind: Kind::Rtmpws,
            child: Some(child),
            pids: vec![pid],
            rtmp: ([127, 0, 0, 1], 0).into(),
            http: None,
            log,
        };
        let (rtmp, http) = server.wait_addr_file(&addr_file)?;
        server.rtmp = rtmp;
        server.http = Some(http);
        Ok(server)
    }

    /// Starts nginx with the RTMP module and one worker, with its own config, pid file and
    /// logs in `dir`. nginx cannot bind port 0 and report it, so it gets a port that was free a
    /// moment ago; if something took it in between, nginx fails and we try another.
    pub fn nginx(dir: &Path) -> Result<Server, Error> {
        let mut last = None;
        for _ in 0..3 {
            match Self::nginx_on(dir, ([127, 0, 0, 1], free_port()?).into()) {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| "nginx did not start".into()))
    }

    fn nginx_on(dir: &Path, rtmp: SocketAddr) -> Result<Server, Error> {
        let module = Path::new("/usr/lib/nginx/modules/ngx_rtmp_module.so");
        if !module.exists() {
            return Err("nginx-rtmp is missing: apt-get install -y nginx libnginx-mod-rtmp".into());
        }
        fs::create_dir_all(dir.join("logs"))?;
        let config = dir.join("nginx.conf");
        fs::write(
            &config,
            format!(
                "load_module {module};\n\
                 daemon off;\n\
                 master_process on;\n\
                 worker_processes 1;\n\
                 worker_rlimit_nofile 20000;\n\
                 pid {dir}/nginx.pid;\n\
                 error_log {dir}/logs/error.log warn;\n\
                 events {{ worker_connections 20000; }}\n\
                 rtmp {{\n\
                 \x20 server {{\n\
                 \x20   listen {rtmp};\n\
                 \x20   chunk_size 4096;\n\
                 \x20   application live {{ live on; }}\n\
                 \x20 }}\n\
                 }}\n",
                module = module.display(),
                dir = dir.display(),
            ),
        )?;
        let log = dir.join("logs/error.log");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(&log)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e}"))?;
        let pid = child.id();
        let mut server = Server {
            kind: Kind::Nginx,
            child: Some(child),
            pids: vec![pid],
            rtmp,
            http: None,
            log,
        };
        server.wait_listening(&[rtmp])?;
        // The worker does the work; the master is counted too (it only waits).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let workers = sys::children(pid);
            if !workers.is_empty() {
                server.pids.extend(workers);
                break;
            }
            if Instant::now() > deadline {
                return Err("nginx started no worker".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Waits for the gateway's `--addr-file` and returns the RTMP and HTTP addresses in it.
    fn wait_addr_file(&mut self, path: &Path) -> Result<(SocketAddr, SocketAddr), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = fs::read_to_string(path) {
                let address = |key: &str| -> Result<SocketAddr, Error> {
                    let value = text
                        .lines()
                        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                        .ok_or_else(|| format!("no {key}= line in {}", path.display()))?;
                    Ok(value.parse()?)
                };
                return Ok((address("rtmp")?, address("http")?));
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() > deadline {
                return Err(format!("{} did not start:\n{}", self.kind.name(), self.log()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_listening(&mut self, addrs: &[SocketAddr]) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in addrs {
            while std::net::TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_err() {
                let exited = self
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some());
                if exited || Instant::now() > deadline {
                    let log = fs::read_to_string(&self.log).unwrap_or_default();
                    return Err(format!("{} did not start:\n{log}", self.kind.name()).into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// CPU time of the server's processes in clock ticks: user and system (kernel).
    pub fn cpu_ticks(&self) -> (u64, u64) {
        self.pids
            .iter()
            .filter_map(|&pid| sys::cpu_ticks(pid).ok())
            .fold((0, 0), |(user, system), (u, s)| (user + u, system + s))
    }

    /// Resident memory of the server's processes, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.pids
            .iter()
            .filter_map(|&pid| sys::rss_kib(pid).ok())
            .sum()
    }

    /// The server's log so far (for error reports).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        sys::signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        // nginx's worker goes with its master; kill it by PID if it did not.
        for &pid in &self.pids[1..] {
            sys::signal(pid, libc::SIGKILL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Builds the gateway in release mode (a no-op when it is up to date) and returns its path.
pub fn build_gateway() -> Result<PathBuf, Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "rtmpws-gateway"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        return Err("cargo build --release -p rtmpws-gateway failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("rtmpws-gateway"))
}

/// A temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir, Error> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
