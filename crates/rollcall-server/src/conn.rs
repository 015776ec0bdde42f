//! Connection and body-read limits (SPEC §13: slow or half-open clients cannot
//! exhaust the server).
//!
//! - [`Guard`], an acceptor in front of hyper: a cap on concurrent connections (a
//!   connection past it is closed at once instead of holding a descriptor) and an
//!   idle timeout (no byte read or written for that long closes the connection,
//!   which also ends a client that stops reading its answer).
//! - The header read timeout is hyper's own (set in [`crate::serve`]); its timer
//!   starts whenever a connection waits for a request head, so it also ends idle
//!   keep-alive connections and half-sent headers.
//! - [`guard_body`], a middleware that refuses a declared body over the limit before
//!   reading it and ends a body that arrives slower than a minimum rate (408).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::AppState;

/// Accepts connections up to a cap and wraps each in an idle timer.
#[derive(Clone)]
pub struct Guard<A> {
    inner: A,
    permits: Arc<Semaphore>,
    idle: Duration,
}

impl<A> Guard<A> {
    pub fn new(inner: A, max_connections: usize, idle: Duration) -> Self {
        Guard {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            idle,
        }
    }
}

impl<A, I, S> axum_server::accept::Accept<I, S> for Guard<A>
where
    A: axum_server::accept::Accept<Guarded<I>, S> + Clone + Send + 'static,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let inner = self.inner.clone();
        let idle = self.idle;
        Box::pin(async move {
            let Ok(permit) = permit else {
                // Dropping the stream closes it: past the cap, a connection costs nothing.
                tracing::warn!("connection refused: the concurrent connection cap is reached");
                return Err(io::Error::other("too many connections"));
            };
            inner
                .accept(Guarded::new(stream, permit, idle), service)
                .await
        })
    }
}

/// A connection holding its permit, closed after `idle` without traffic.
pub struct Guarded<I> {
    inner: I,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<I> Guarded<I> {
    fn new(inner: I, permit: OwnedSemaphorePermit, idle: Duration) -> Self {
        Guarded {
            inner,
            _permit: permit,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn touch(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.idle);
    }

    /// Called when the inner stream is not ready: an error once the timer has run out.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.check_idle(cx).map(Err),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The body limits of this server, for the messages of the extractors.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub min_rate: u64,
}

impl BodyLimits {
    pub fn too_large(&self) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than this server accepts: at most {} bytes (set by --max-body-bytes or ROLLCALL_MAX_BODY_BYTES)",
                self.max_bytes
            ),
        )
    }
    pub fn too_slow(&self) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body arrived slower than this server's minimum of {} bytes/s (set by --body-min-rate or ROLLCALL_BODY_MIN_RATE)",
                self.min_rate
            ),
        )
    }
}

/// The error a too-slow body ends with; [`crate::extract::BodyBytes`] finds it.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

/// Refuses a declared oversize body before reading it and puts a minimum rate on the rest.
pub async fn guard_body(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let limits = BodyLimits {
        max_bytes: state.config.max_body_bytes,
        min_rate: state.config.body_min_rate,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return limits.too_large().into_response();
    }
    request.extensions_mut().insert(limits);
    if limits.min_rate > 0 && declared != Some(0) {
        let grace = state.config.body_grace;
        let (parts, body) = request.into_parts();
        let body = Body::from_stream(MinRate {
            inner: body.into_data_stream(),
            started: Instant::now(),
            received: 0,
            min_rate: limits.min_rate,
            grace,
            timer: Box::pin(tokio::time::sleep(grace)),
        });
        request = Request::from_parts(parts, body);
    }
    next.run(request).await
}

/// A body stream that fails when it falls behind `grace + received / min_rate`.
struct MinRate {
    inner: axum::body::BodyDataStream,
    started: Instant,
    received: u64,
    min_rate: u64,
    grace: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Stream for MinRate {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                let allowed = self.grace
                    + Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
                let deadline = self.started + allowed;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(TooSlow)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
