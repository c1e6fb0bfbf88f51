//! The sandbox's front door: accepts TCP connections and hands them to the
//! router, with the limits a server on a shared machine needs.
//!
//! - A request head must arrive within the head timeout, or the socket is closed.
//! - At most `max_pending` sockets may be waiting for their head; past that the
//!   one that has waited longest is dropped, so silent sockets cannot crowd
//!   out a client that talks.
//! - Near the open-file limit a new connection is answered 503 at once, so
//!   the users already connected keep the descriptors they need.
//! - The head is read here, before hyper, to keep the header names' casing:
//!   API Gateway passes the client's, and hyper lower-cases them.

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// The largest request head accepted; browsers send a few KB.
const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub head_timeout: Duration,
    pub max_pending: usize,
    pub max_open: usize,
}

/// The header names and values of a connection's first request head, as sent.
#[derive(Clone, Debug)]
pub struct RawHead(pub Arc<Vec<(String, String)>>);

/// Counts what the front door holds, for limits and for tests of them.
#[derive(Default)]
pub struct Gauges {
    /// Accepted sockets not yet closed, upgraded WebSockets included.
    pub open: AtomicUsize,
    pending: Mutex<VecDeque<(u64, AbortHandle)>>,
    next_id: AtomicU64,
}

/// Held by every accepted socket; the count drops when the socket does.
struct OpenGuard(Arc<Gauges>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes a socket off the pending list when its head is read (or it ends).
struct PendingGuard(Arc<Gauges>, u64);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0
            .pending
            .lock()
            .unwrap()
            .retain(|(id, _)| *id != self.1);
    }
}

/// The socket with the head already read put back in front, so hyper reads
/// the request whole. It carries the open-socket guard wherever it goes,
/// including into the upgraded WebSocket.
struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
    _open: OpenGuard,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Why a head could not be read.
enum HeadError {
    Closed,
    TooLarge,
    Malformed,
}

/// Reads until the blank line that ends the head; returns everything read
/// (the head and whatever followed it) and the headers as sent.
async fn read_head(stream: &mut TcpStream) -> Result<(Bytes, RawHead), HeadError> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if stream
            .read_buf(&mut buf)
            .await
            .map_err(|_| HeadError::Closed)?
            == 0
        {
            return Err(HeadError::Closed);
        }
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let pairs = request
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect();
                return Ok((buf.freeze(), RawHead(Arc::new(pairs))));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => continue,
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::TooLarge)
            }
            Err(_) => return Err(HeadError::Malformed),
        }
    }
}

/// A bare HTTP answer for a socket the router never sees.
async fn answer_and_close(mut stream: TcpStream, status: &str, message: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{message}",
        message.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    open: OpenGuard,
    pending: PendingGuard,
) {
    let head = tokio::time::timeout(limits.head_timeout, read_head(&mut stream)).await;
    drop(pending);
    let (prefix, raw) = match head {
        Ok(Ok(head)) => head,
        Ok(Err(HeadError::TooLarge)) => {
            return answer_and_close(
                stream,
                "431 Request Header Fields Too Large",
                "request head over 16 KB\n",
            )
            .await
        }
        Ok(Err(HeadError::Malformed)) => {
            return answer_and_close(stream, "400 Bad Request", "malformed request head\n").await
        }
        // The client went away, or sent no full head in time: nothing to answer.
        Ok(Err(HeadError::Closed)) | Err(_) => return,
    };
    let _ = stream.set_nodelay(true);
    let io = Rewind {
        prefix,
        inner: stream,
        _open: open,
    };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(raw.clone());
        tower::Service::call(&mut app.clone(), request)
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let _ = served.await;
}

/// Accepts until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    gauges: Arc<Gauges>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before accept: wait, go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if gauges.open.load(Ordering::SeqCst) >= limits.max_open {
            tokio::spawn(answer_and_close(
                stream,
                "503 Service Unavailable",
                "wschat dev is at its connection limit; try again later\n",
            ));
            continue;
        }
        gauges.open.fetch_add(1, Ordering::SeqCst);
        let open = OpenGuard(gauges.clone());
        let id = gauges.next_id.fetch_add(1, Ordering::Relaxed);
        let pending = PendingGuard(gauges.clone(), id);
        // Registered before it may run, so it can always be found to evict.
        let mut queue = gauges.pending.lock().unwrap();
        let task = tokio::spawn(connection(stream, peer, app.clone(), limits, open, pending));
        queue.push_back((id, task.abort_handle()));
        while queue.len() > limits.max_pending {
            if let Some((_, oldest)) = queue.pop_front() {
                oldest.abort();
            }
        }
    }
}
