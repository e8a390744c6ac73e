//! Message boundaries on stream transports (RFC 3261 §18.3: Content-Length frames the body) and the
//! CRLF keep-alive of RFC 5626 §3.5.1. Works on bytes only, so binary bodies pass through untouched.

/// The largest message we accept on any transport; above it a stream is closed and a datagram dropped.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message occupies `buf[skip..skip + len]`; consume `skip + len` bytes.
    Message { skip: usize, len: usize },
    /// A double-CRLF ping: answer with one CRLF (RFC 5626 §3.5.1) and consume `consumed` bytes.
    Ping { consumed: usize },
    /// Stray CRLFs (a pong, or padding between messages): consume them.
    Skip { consumed: usize },
    /// More bytes are needed.
    Incomplete,
    /// The stream cannot be framed any more; close it.
    Error(FrameError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("invalid Content-Length")]
    BadContentLength,
}

/// Finds the end of the head: the index just past the blank line.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    // From line end to line end (memchr), not byte by byte: every message is framed once.
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'\n', &buf[from..]) {
        let i = from + at;
        match buf.get(i + 1..) {
            Some([b'\n', ..]) => return Some(i + 2),
            Some([b'\r', b'\n', ..]) => return Some(i + 3),
            _ => from = i + 1,
        }
    }
    None
}

/// The Content-Length of a head (long or compact `l` form), `Ok(None)` when absent.
pub fn content_length(head: &[u8]) -> Result<Option<usize>, FrameError> {
    let values = head.split(|b| *b == b'\n').skip(1).filter_map(|line| {
        let colon = line.iter().position(|b| *b == b':')?;
        let name = line[..colon].trim_ascii();
        (name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l"))
            .then(|| line[colon + 1..].trim_ascii())
    });
    content_length_of(values)
}

/// The length the Content-Length values of one message give: each 1 to 9 digits, all the same
/// (RFC 3261 §20.14); `Ok(None)` without one. Framing reads the values from the head, the parser from its
/// headers.
pub fn content_length_of<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<usize>, FrameError> {
    let mut found = None;
    for value in values {
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadContentLength);
        }
        // Nine digits at most: the number fits.
        let n = value.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// Looks for the next frame at the start of a stream buffer.
pub fn next_frame(buf: &[u8]) -> Frame {
    if buf.starts_with(b"\r\n\r\n") {
        return Frame::Ping { consumed: 4 };
    }
    let skip = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    if skip == buf.len() {
        // Only line ends so far: a pong (one CRLF) or the first half of a ping.
        return if buf == b"\r\n" { Frame::Skip { consumed: 2 } } else { Frame::Incomplete };
    }
    let body = &buf[skip..];
    let Some(head_len) = head_end(body) else {
        return if body.len() > MAX_MESSAGE { Frame::Error(FrameError::TooLarge) } else { Frame::Incomplete };
    };
    // RFC 3261 §18.3: on a stream a missing Content-Length is an error; we read it as zero.
    let body_len = match content_length(&body[..head_len]) {
        Ok(len) => len.unwrap_or(0),
        Err(e) => return Frame::Error(e),
    };
    let len = head_len + body_len;
    if len > MAX_MESSAGE {
        return Frame::Error(FrameError::TooLarge);
    }
    if body.len() < len {
        return Frame::Incomplete;
    }
    Frame::Message { skip, len }
}
