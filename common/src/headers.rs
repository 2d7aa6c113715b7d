//! Header names carried from HTTP into NATS so one request can be followed
//! through every service's log lines.

pub const REQUEST_ID: &str = "X-Request-Id";
pub const TRACEPARENT: &str = "traceparent";

/// A request id we accept from outside: short, printable, no separators that
/// could forge a log line.
pub fn is_sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_a_sane_request_id() {
        assert!(is_sane_request_id("5f0c1f9e-8f7a-4d1b-9a57-0e5b2a7f3c11"));
    }

    #[test]
    fn a_request_id_with_a_newline_or_space_is_refused() {
        assert!(!is_sane_request_id("abc\ninjected"));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id(&"a".repeat(129)));
    }
}
