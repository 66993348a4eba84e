//! A real 3-member etcd cluster on loopback for tests: Debian's `etcd` binary
//! (`scripts/install-test-deps.sh` installs `etcd-server`), one process per member on free
//! ports in a temp dir, all killed (SIGKILL, then reaped) on drop.
//!
//! ```text
//! let cluster = EtcdCluster::start(3);
//! let leader = cluster.wait_for_leader(Duration::from_secs(10)).unwrap();
//! cluster.kill(leader);            // SIGKILL: a crash, no graceful leader transfer
//! cluster.restart(leader);         // same data dir, rejoins the cluster
//! ```
//!
//! The timing flags are etcd's defaults written out (heartbeat 100 ms, election 1000 ms),
//! so that measurements made here are those of a default cluster. SIGTERM is never used: a
//! leader may not stop on it, so every stop is a SIGKILL.

#![allow(
    clippy::expect_used,
    reason = "test harness: a panic with the reason is how a broken environment is reported"
)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The etcd binary: `$SEEDWARD_TEST_ETCD`, else `etcd` on the `PATH`.
pub fn etcd_bin() -> PathBuf {
    std::env::var_os("SEEDWARD_TEST_ETCD").map_or_else(|| PathBuf::from("etcd"), PathBuf::from)
}

/// Panics with what to install when there is no etcd binary: the etcd tests must fail
/// loudly, never pass by skipping.
pub fn require_etcd() {
    let ok = Command::new(etcd_bin())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the `etcd` binary is not installed (or $SEEDWARD_TEST_ETCD does not point at one); run scripts/install-test-deps.sh, which installs Debian's etcd-server (CI runs it)"
    );
}

/// One member's process and addresses.
pub struct EtcdMember {
    pub name: String,
    /// `http://127.0.0.1:<port>`
    pub client_url: String,
    peer_url: String,
    /// Plain-HTTP `/health` (and `/metrics`), also for members that serve clients over TLS.
    metrics_url: String,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A running etcd cluster; every member is SIGKILLed and reaped on drop.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<EtcdMember>,
    initial_cluster: String,
    token: String,
    extra: Vec<String>,
}

impl EtcdCluster {
    /// Starts `size` members and waits until each is healthy (a leader was elected).
    pub fn start(size: usize) -> Self {
        Self::start_with(size, &[])
    }

    /// As [`start`](Self::start), with extra etcd flags for every member (e.g. TLS).
    pub fn start_with(size: usize, extra: &[&str]) -> Self {
        Self::start_in(size, extra, "http")
    }

    /// As [`start_with`](Self::start_with), with client URLs of `scheme` (`https` needs the
    /// TLS flags in `extra`).
    pub fn start_in(size: usize, extra: &[&str], scheme: &str) -> Self {
        require_etcd();
        // A port picked as free can be taken by someone else before etcd binds it (the
        // suite runs many servers at once): start again on other ports.
        for _ in 0..3 {
            let mut cluster = Self::spawn_all(size, extra, scheme);
            match cluster.try_wait_healthy(Duration::from_secs(30)) {
                Ok(()) => return cluster,
                Err(log) if log.contains("address already in use") => continue,
                Err(log) => panic!("etcd did not become healthy; its log:\n{log}"),
            }
        }
        panic!("etcd could not bind free ports in 3 attempts");
    }

    fn spawn_all(size: usize, extra: &[&str], scheme: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for etcd");
        let token = format!("seedward-test-{}", std::process::id() ^ rand_u32());
        let mut members = Vec::with_capacity(size);
        for i in 0..size {
            let name = format!("m{i}");
            members.push(EtcdMember {
                client_url: format!("{scheme}://127.0.0.1:{}", free_port()),
                peer_url: format!("http://127.0.0.1:{}", free_port()),
                metrics_url: format!("http://127.0.0.1:{}", free_port()),
                data_dir: dir.path().join(&name),
                log: dir.path().join(format!("{name}.log")),
                name,
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            dir,
            members,
            initial_cluster,
            token,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let member = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .expect("etcd log file");
        let child = Command::new(etcd_bin())
            .args(["--name", &member.name])
            .arg("--data-dir")
            .arg(&member.data_dir)
            .args(["--listen-client-urls", &member.client_url])
            .args(["--advertise-client-urls", &member.client_url])
            .args(["--listen-peer-urls", &member.peer_url])
            .args(["--initial-advertise-peer-urls", &member.peer_url])
            .args(["--listen-metrics-urls", &member.metrics_url])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "100", "--election-timeout", "1000"])
            .args([
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
                "--log-level",
                "warn",
            ])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        self.members[i].child = Some(child);
    }

    /// The client URLs, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The client URLs joined with commas (`--etcd-endpoints`).
    pub fn endpoints_csv(&self) -> String {
        self.endpoints().join(",")
    }

    pub fn members(&self) -> &[EtcdMember] {
        &self.members
    }

    /// The temp dir holding the members' data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILLs member `i` and reaps it: a crash.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data dir; it rejoins the cluster.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i);
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// The index of the member that is leader now, asked of every running member; `None`
    /// when no running member knows a leader. Plain-HTTP clusters only (etcd's JSON gateway
    /// on the client URL).
    pub fn leader(&self) -> Option<usize> {
        let mut leader_id = None;
        let mut ids = vec![None; self.members.len()];
        for (i, member) in self.members.iter().enumerate() {
            if member.child.is_none() {
                continue;
            }
            let Some(status) = http_post_json(&member.client_url, "/v3/maintenance/status") else {
                continue;
            };
            ids[i] = status["header"]["member_id"].as_str().map(str::to_owned);
            if let Some(l) = status["leader"].as_str().filter(|l| *l != "0") {
                leader_id = Some(l.to_owned());
            }
        }
        let leader_id = leader_id?;
        ids.iter()
            .position(|id| id.as_deref() == Some(leader_id.as_str()))
    }

    /// Waits until a running member is leader; returns its index.
    pub fn wait_for_leader(&self, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.leader() {
                return Some(i);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every running member answers `/health` with `"health":"true"`, or
    /// returns the log of the first member that did not (or that exited).
    fn try_wait_healthy(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                continue;
            }
            loop {
                if http_get(&self.members[i].metrics_url, "/health")
                    .is_some_and(|body| body.contains("\"health\":\"true\""))
                {
                    break;
                }
                let exited = self.members[i]
                    .child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
                if exited || Instant::now() > deadline {
                    return Err(self.log(i));
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(())
    }

    /// Waits until every running member answers `/health` with `"health":"true"`.
    pub fn wait_healthy(&mut self, timeout: Duration) {
        if let Err(log) = self.try_wait_healthy(timeout) {
            panic!("an etcd member did not become healthy; its log:\n{log}");
        }
    }

    /// Member `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A port that was free a moment ago (bound and released).
/// A loopback port that is free now, below Linux's ephemeral range (32768–60999) so that
/// the kernel does not hand it to another socket bound to port 0 or to an outgoing
/// connection before etcd binds it; distinct within this process.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = NEXT.fetch_add(1, Ordering::Relaxed) == 0;
    if start {
        NEXT.store(rand_u32() % 10_000, Ordering::Relaxed);
    }
    for _ in 0..10_000 {
        let port = 20_000 + (NEXT.fetch_add(1, Ordering::Relaxed) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn rand_u32() -> u32 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32()
}

/// `host:port` of an `http://host:port` URL (plain HTTP only: the harness's own probes).
fn authority(url: &str) -> Option<&str> {
    url.strip_prefix("http://")
}

fn http(url: &str, request: String) -> Option<String> {
    let addr = authority(url)?;
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

fn http_get(url: &str, path: &str) -> Option<String> {
    let host = authority(url)?;
    http(
        url,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// POSTs `{}` to etcd's JSON gateway and parses the answer (chunked or not: the JSON
/// object is taken from the first `{` to the last `}`).
fn http_post_json(url: &str, path: &str) -> Option<serde_json::Value> {
    let host = authority(url)?;
    let body = http(
        url,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    )?;
    let json = &body[body.find('{')?..=body.rfind('}')?];
    serde_json::from_str(json).ok()
}
