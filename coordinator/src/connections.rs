//! What a connection may hold: the connection cap, the idle timeout, eviction, and
//! rate-limited log lines (docs/COORDINATOR.md, "Connections").
//!
//! Every accepted TCP stream is wrapped in a [`TrackedIo`] registered in a [`Registry`]
//! before the TLS handshake starts. A connection is *idle* while no request is in flight on
//! it; [`ActivityLayer`] counts the requests (it finds the connection through the
//! connect-info tonic puts into every request). The wrapper closes the connection — its
//! next read is an end of file, its next write an error, so hyper drops it and the
//! descriptor is freed — when it has been idle for the idle timeout, or when the registry
//! evicts it: at the cap, to make room for a new connection, the connection idle the
//! longest goes; at shutdown, after the grace period, all of them go.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::codegen::http;
use tonic::transport::server::{Connected, TlsConnectInfo};

/// Descriptors kept free below `RLIMIT_NOFILE` for everything that is not a client
/// connection: the listener, the store's files and locks, etcd, the runtime, logging.
pub const FD_RESERVE: u64 = 32;

/// Limits on client connections (`--max-connections`, `--idle-timeout-secs`, …).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most connections held at once (handshakes included). The effective cap is also kept
    /// [`FD_RESERVE`] below the open-files limit, read again at every accept.
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// A TLS handshake that takes longer is abandoned.
    pub handshake_timeout: Duration,
    /// HTTP/2 PING interval, and how long the answer may take before the connection is
    /// closed: a peer that vanished is noticed even with requests in flight.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may take before every connection is
    /// closed.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ConnectionLimits {
    /// The cap right now: `max_connections`, but at most the open-files limit minus the
    /// reserve (and at least 1).
    pub fn effective_cap(&self) -> usize {
        let by_fds = seedward_fs::process::open_files_limit()
            .map(|n| usize::try_from(n.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX))
            .unwrap_or(usize::MAX);
        self.max_connections.min(by_fds).max(1)
    }
}

/// One connection's bookkeeping, shared by its I/O wrapper, its requests and the registry.
#[derive(Debug)]
pub struct ConnState {
    id: u64,
    peer: SocketAddr,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last request start or end (or the accept).
    last_activity_ms: AtomicU64,
    active: AtomicUsize,
    evicted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnState {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    fn last_activity(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }

    fn is_idle(&self) -> bool {
        self.active.load(Ordering::Acquire) == 0
    }

    /// Closes the connection at its next read or write, and wakes its reader.
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Some(waker) = lock(&self.waker).take() {
            waker.wake();
        }
    }

    /// Marks a request in flight until the guard is dropped.
    fn begin(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.touch();
        ActiveGuard(self.clone())
    }
}

struct ActiveGuard(Arc<ConnState>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A poisoned lock only means a panic elsewhere; the data (a waker, a map) is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// All live connections.
#[derive(Debug, Default)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
}

impl Registry {
    pub fn len(&self) -> usize {
        lock(&self.conns).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers `tcp` and wraps it.
    pub fn track(self: &Arc<Self>, tcp: TcpStream, peer: SocketAddr, idle: Duration) -> TrackedIo {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState {
            id,
            peer,
            epoch: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        lock(&self.conns).insert(id, state.clone());
        TrackedIo {
            inner: tcp,
            state,
            registry: self.clone(),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Evicts the connection idle the longest; `None` if every connection has a request in
    /// flight.
    pub fn evict_oldest_idle(&self) -> Option<SocketAddr> {
        let conns = lock(&self.conns);
        let victim = conns
            .values()
            .filter(|c| c.is_idle() && !c.evicted.load(Ordering::Acquire))
            .min_by_key(|c| c.last_activity())?;
        victim.evict();
        Some(victim.peer)
    }

    /// Evicts every connection (the end of a graceful shutdown).
    pub fn evict_all(&self) -> usize {
        let conns = lock(&self.conns);
        for c in conns.values() {
            c.evict();
        }
        conns.len()
    }
}

/// What a request learns about its connection (the connect-info of [`TrackedIo`]).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    state: Arc<ConnState>,
}

/// The peer address of the connection a request came on.
pub fn peer_of<T>(request: &tonic::Request<T>) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<TlsConnectInfo<ConnInfo>>()
        .map(|info| info.get_ref().peer)
}

/// A TCP stream that closes itself when idle for too long or when evicted.
pub struct TrackedIo {
    inner: TcpStream,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl TrackedIo {
    /// Whether the connection must close now: evicted, or idle past the timeout. Otherwise
    /// re-arms the timer (registering `cx`'s waker with it).
    fn must_close(&mut self, cx: &mut Context<'_>) -> bool {
        if self.state.evicted.load(Ordering::Acquire) {
            return true;
        }
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            let deadline = if self.state.is_idle() {
                self.state.last_activity() + self.idle
            } else {
                now + self.idle
            };
            if deadline <= now {
                tracing::debug!(peer = %self.state.peer, idle_secs = self.idle.as_secs(), "closing an idle connection");
                return true;
            }
            self.timer.as_mut().reset(deadline.into());
        }
    }
}

impl Drop for TrackedIo {
    fn drop(&mut self) {
        lock(&self.registry.conns).remove(&self.state.id);
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                *lock(&this.state.waker) = Some(cx.waker().clone());
                if this.must_close(cx) {
                    // End of file: the TLS layer and hyper end the connection.
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                }
            }
            ready => ready,
        }
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.state.evicted.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for TrackedIo {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            peer: self.state.peer,
            state: self.state.clone(),
        }
    }
}

/// The tower layer that marks a connection busy while one of its requests is in flight:
/// from the request's arrival until its response body has been sent (or dropped).
#[derive(Debug, Clone, Copy, Default)]
pub struct ActivityLayer;

impl<S> tower::Layer<S> for ActivityLayer {
    type Service = Activity<S>;

    fn layer(&self, inner: S) -> Activity<S> {
        Activity { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Activity<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for Activity<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let guard = request
            .extensions()
            .get::<TlsConnectInfo<ConnInfo>>()
            .map(|info| info.get_ref().state.begin());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // The guard moves into the body: a long body (GetManifests) keeps the
            // connection busy until its last byte.
            Ok(response.map(|inner| GuardedBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// A response body that keeps its connection marked busy until it is done or dropped.
pub struct GuardedBody<B> {
    inner: B,
    _guard: Option<ActiveGuard>,
}

impl<B: http_body::Body + Unpin> http_body::Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// At most one log line per interval for a recurring event; the line carries how many
/// events it stands for.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimiter {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts one event; `Some(n)` when a line may be written now, standing for `n` events
    /// (this one and those not logged since the last line).
    pub fn admit(&self) -> Option<u64> {
        let mut state = lock(&self.state);
        state.1 += 1;
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.interval => None,
            _ => {
                let n = state.1;
                *state = (Some(now), 0);
                Some(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_admits_one_line_per_interval_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_millis(200));
        assert_eq!(limiter.admit(), Some(1));
        for _ in 0..9 {
            assert_eq!(limiter.admit(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limiter.admit(), Some(10));
    }

    #[test]
    fn the_cap_stays_below_the_open_files_limit() {
        let limits = ConnectionLimits {
            max_connections: usize::MAX,
            ..ConnectionLimits::default()
        };
        let nofile = seedward_fs::process::open_files_limit().unwrap_or(u64::MAX);
        let cap = u64::try_from(limits.effective_cap()).unwrap_or(u64::MAX);
        assert!(cap < nofile, "cap {cap}, open files limit {nofile}");
        let small = ConnectionLimits {
            max_connections: 3,
            ..ConnectionLimits::default()
        };
        assert_eq!(small.effective_cap(), 3);
    }
}
