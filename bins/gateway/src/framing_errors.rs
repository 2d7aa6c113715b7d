//! JSON bodies for hyper's own error answers. A request hyper cannot parse
//! (bad header bytes, two Content-Lengths, a head over its buffer) never
//! reaches the router: hyper writes a bare `400`, `414` or `431` with an
//! empty body and closes. This wrapper sits between hyper and the socket and
//! swaps exactly those answers for the same status with a JSON body in both
//! error shapes, so every client gets a body that says what is wrong.
//!
//! It relies on two facts of hyper 1.x: with a socket that does not claim
//! vectored writes, a whole response head is handed to `poll_write` at once;
//! and the router never answers those statuses with an empty body (every
//! error of ours carries JSON).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{ready, Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A socket whose parse-error answers get a JSON body.
pub struct JsonFramingErrors<T> {
    inner: T,
    /// The client, for the log line that carries the answer's request id.
    peer: SocketAddr,
    /// Our answer in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<T> JsonFramingErrors<T> {
    pub fn new(inner: T, peer: SocketAddr) -> Self {
        Self {
            inner,
            peer,
            replacement: None,
        }
    }
}

/// What hyper's automatic answer says.
#[derive(Debug, PartialEq, Eq)]
struct Automatic {
    /// `HTTP/1.1` or `HTTP/1.0`, as hyper answered.
    version: &'static str,
    status: u16,
    reason: &'static str,
    message: &'static str,
}

/// hyper's automatic answer: a head with `content-length: 0`, nothing after.
fn automatic_answer(bytes: &[u8]) -> Option<Automatic> {
    let version = if bytes.starts_with(b"HTTP/1.1 ") {
        "HTTP/1.1"
    } else if bytes.starts_with(b"HTTP/1.0 ") {
        "HTTP/1.0"
    } else {
        return None;
    };
    let (status, reason, message) = match bytes.get(9..13)? {
        b"400 " => (
            400,
            "Bad Request",
            "malformed HTTP request: bad request line, header or framing",
        ),
        b"414 " => (414, "URI Too Long", "request target is too long"),
        b"431 " => (
            431,
            "Request Header Fields Too Large",
            "request headers are too large",
        ),
        _ => return None,
    };
    let end = bytes.windows(4).position(|window| window == b"\r\n\r\n")? + 4;
    let head = bytes[..end].to_ascii_lowercase();
    let empty = head
        .windows(19)
        .any(|window| window == b"\r\ncontent-length: 0");
    (end == bytes.len() && empty).then_some(Automatic {
        version,
        status,
        reason,
        message,
    })
}

fn json_answer(answer: &Automatic, request_id: &str) -> Vec<u8> {
    let Automatic {
        version,
        status,
        reason,
        message,
    } = answer;
    let body = serde_json::json!({
        "code": status,
        "error": "invalid_request",
        "message": message,
        "error_description": message,
        "request_id": request_id,
    })
    .to_string();
    format!(
        "{version} {status} {reason}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
         x-request-id: {request_id}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncWrite + Unpin> JsonFramingErrors<T> {
    /// Writes what is left of the replacement; ready when all of it is out.
    fn poll_replacement(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let count = ready!(Pin::new(&mut self.inner).poll_write(context, &bytes[*written..]))?;
            if count == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += count;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonFramingErrors<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(context, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonFramingErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none() {
            match automatic_answer(buf) {
                Some(answer) => {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    tracing::info!(
                        peer = %this.peer,
                        request_id,
                        status = answer.status,
                        "refused a request hyper could not parse"
                    );
                    this.replacement = Some((json_answer(&answer, &request_id), 0));
                }
                None => return Pin::new(&mut this.inner).poll_write(context, buf),
            }
        }
        // hyper offers the same buffer again until it is taken: it is taken
        // whole once our answer is out.
        ready!(this.poll_replacement(context))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(context))?;
        Pin::new(&mut this.inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(context))?;
        Pin::new(&mut this.inner).poll_shutdown(context)
    }

    // Not vectored: hyper then hands over each head in one piece.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Whatever is written, the check never panics, and it replaces
        /// only an empty-bodied 400, 414 or 431 head.
        #[test]
        fn any_write_is_passed_on_unless_it_is_hyper_s_answer(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Some(answer) = automatic_answer(&bytes) {
                prop_assert!([400, 414, 431].contains(&answer.status));
                prop_assert!(bytes.ends_with(b"\r\n\r\n"));
            }
        }

        /// A head of ours with a body is never taken for hyper's.
        #[test]
        fn an_answer_with_a_body_is_never_replaced(status in prop::sample::select(vec![400u16, 414, 431]), body in "[ -~]{1,64}") {
            let response = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            prop_assert!(automatic_answer(response.as_bytes()).is_none());
        }
    }

    fn status(bytes: &[u8]) -> Option<u16> {
        automatic_answer(bytes).map(|answer| answer.status)
    }

    #[test]
    fn only_hyper_s_empty_parse_error_answers_are_replaced() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 19:00:00 GMT\r\n\r\n";
        assert_eq!(status(hyper), Some(400));
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(status(big), Some(431));
        let old = b"HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            automatic_answer(old).map(|answer| answer.version),
            Some("HTTP/1.0")
        );
        // Ours: a JSON body follows the head.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(status(ours), None);
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        assert_eq!(
            status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n"),
            None
        );
        assert_eq!(status(b"HTTP/1.1 40"), None);
    }

    #[test]
    fn the_replacement_is_a_complete_json_response() {
        let automatic = Automatic {
            version: "HTTP/1.0",
            status: 431,
            reason: "Request Header Fields Too Large",
            message: "too large",
        };
        let answer = String::from_utf8(json_answer(&automatic, "id-1")).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 431 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed["code"], 431);
        assert_eq!(parsed["error"], "invalid_request");
        assert_eq!(parsed["request_id"], "id-1");
    }
}
