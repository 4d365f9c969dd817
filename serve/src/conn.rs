//! Accepting connections with bounds: a slow or idle client holds at most
//! one of a fixed number of slots, for a bounded time.
//!
//! - The head of every request (also the wait for the next request on a
//!   kept-alive connection) must arrive within `header_timeout`.
//! - A connection on which no byte moves either way for `idle_timeout` is
//!   closed (a client that stopped reading a download, a stalled upload).
//! - At most `max_connections` are open. When a new client comes and every
//!   slot is taken (or the process is out of descriptors), the connection
//!   that has waited longest for its next request's head gives its slot up
//!   (a slow-loris client goes first, also one that sent a request once and
//!   now trickles the next), sparing connections younger than a second and
//!   those with a request in progress; so clients that send requests are
//!   served.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The bounds on connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time for a request's head to arrive (and between kept-alive requests).
    pub header_timeout: Duration,
    /// Time without a byte moving either way.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    /// 512 connections (fewer when the process may open fewer files),
    /// 10 s for a request's head, 60 s idle.
    fn default() -> Limits {
        Limits {
            max_connections: descriptor_budget().min(512),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// How many connections the open-files limit leaves room for: the soft
/// limit less what the store, the database and the logs need, halved (a
/// download holds its file open beside its socket).
fn descriptor_budget() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 { lim.rlim_cur } else { 1024 };
    ((soft.min(1 << 20) as usize).saturating_sub(32) / 2).max(4)
}

/// A young connection is spared eviction for this long: its head is on
/// its way.
const GRACE: Duration = Duration::from_secs(1);

/// One open connection, as the admission sees it.
struct Slot {
    opened: Instant,
    /// Milliseconds after `epoch` when a byte last moved.
    last_active: Arc<AtomicU64>,
    /// What the connection is doing, shared with its task.
    progress: Arc<Progress>,
    /// Tells the connection to give its slot up.
    evict: Arc<Notify>,
}

/// Where a connection is between requests.
struct Progress {
    /// Milliseconds after `epoch` since which it waits for a request's
    /// head (when it opened, or when its last response was made).
    waiting_since: AtomicU64,
    /// Requests being answered now.
    in_flight: std::sync::atomic::AtomicUsize,
}

/// The open connections.
struct Slots {
    epoch: Instant,
    open: Mutex<HashMap<u64, Slot>>,
    freed: Notify,
}

impl Slots {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Asks the connection that deserves it least to close: of those with
    /// no request in progress and older than the grace, the one waiting
    /// longest for a request's head; else the longest idle of all.
    fn evict_one(&self) {
        let Ok(open) = self.open.lock() else { return };
        let idle = |s: &Slot| s.progress.in_flight.load(Ordering::Relaxed) == 0;
        let victim = open
            .iter()
            .filter(|(_, s)| idle(s) && s.opened.elapsed() >= GRACE)
            .min_by_key(|(_, s)| s.progress.waiting_since.load(Ordering::Relaxed))
            .or_else(|| open.iter().min_by_key(|(_, s)| s.last_active.load(Ordering::Relaxed)));
        if let Some((_, s)) = victim {
            s.evict.notify_one();
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
        self.freed.notify_waiters();
    }
}

/// Marks the end of a request on its connection when dropped (the body
/// sent, or the connection gone).
struct Answering {
    progress: Arc<Progress>,
    epoch: Instant,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.progress.waiting_since.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.progress.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its request's [`Answering`] until sent.
struct Sending {
    body: axum::body::Body,
    _done: Answering,
}

impl http_body::Body for Sending {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Gives a connection's slot back when its task ends.
struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.remove(self.id);
    }
}

/// A stream that notes when bytes move.
struct Tracked<S> {
    inner: S,
    last_active: Arc<AtomicU64>,
    epoch: Instant,
}

impl<S> Tracked<S> {
    fn touch(&self) {
        self.last_active.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves;
/// then stops accepting and gives open connections a few seconds to finish.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Slots { epoch: Instant::now(), open: Mutex::new(HashMap::new()), freed: Notify::new() });
    let stopping = Arc::new(Notify::new());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                // Out of descriptors (a slot gives its place up) or a
                // connection reset before accept: never stop serving.
                Err(e) => {
                    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                        slots.evict_one();
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if slots.len() >= limits.max_connections {
            slots.evict_one();
            // The slot frees as soon as the evicted connection has closed.
            let _ = tokio::time::timeout(Duration::from_millis(200), slots.freed.notified()).await;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let last_active = Arc::new(AtomicU64::new(slots.now_ms()));
        let progress = Arc::new(Progress {
            waiting_since: AtomicU64::new(slots.now_ms()),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        });
        let evict = Arc::new(Notify::new());
        if let Ok(mut open) = slots.open.lock() {
            open.insert(
                id,
                Slot {
                    opened: Instant::now(),
                    last_active: last_active.clone(),
                    progress: progress.clone(),
                    evict: evict.clone(),
                },
            );
        }
        let io = TokioIo::new(Tracked { inner: stream, last_active: last_active.clone(), epoch: slots.epoch });
        let router = router.clone();
        let (seen, epoch) = (progress.clone(), slots.epoch);
        let service = hyper::service::service_fn(move |req| {
            // A whole head has arrived: busy until the response is made,
            // then waiting for the next head from that moment.
            seen.in_flight.fetch_add(1, Ordering::Relaxed);
            let (mut router, seen) = (router.clone(), seen.clone());
            async move {
                let done = Answering { progress: seen, epoch };
                let response = tower_service::Service::call(&mut router, req).await;
                // Busy until the body has been sent (a download, an event
                // stream), not only until its head.
                response.map(|r| r.map(|body| axum::body::Body::new(Sending { body, _done: done })))
            }
        });
        let (slots, stopping) = (slots.clone(), stopping.clone());
        tokio::spawn(async move {
            // The slot is given back however the task ends (a handler's
            // panic unwinds through here too).
            let _slot = SlotGuard { slots: slots.clone(), id };
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .serve_connection(io, service);
            let mut conn = std::pin::pin!(conn);
            let idle = async {
                loop {
                    let last = last_active.load(Ordering::Relaxed);
                    let quiet = Duration::from_millis(slots.now_ms().saturating_sub(last));
                    if quiet >= limits.idle_timeout {
                        return;
                    }
                    tokio::time::sleep(limits.idle_timeout - quiet).await;
                }
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = idle => {}
                _ = evict.notified() => {}
                _ = stopping.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                }
            }
        });
    }
    stopping.notify_waiters();
    let deadline = Instant::now() + Duration::from_secs(6);
    while slots.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
