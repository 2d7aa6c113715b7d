//! Reading request bodies: size limit, content type, and OAuth-style
//! parameters from a form or a JSON object (a repeated parameter is refused,
//! as RFC 6749 §3.1 requires).

use std::collections::HashMap;

use axum::{
    body::to_bytes,
    extract::Request,
    http::{header, HeaderMap},
};
use bytes::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::{
    error::{ApiError, Style},
    request_id::RequestContext,
    AppState,
};

/// The body's media type, as far as we care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Form,
    Other,
}

pub fn media_type(headers: &HeaderMap) -> MediaType {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return MediaType::Other;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => MediaType::Json,
        "application/x-www-form-urlencoded" => MediaType::Form,
        _ => MediaType::Other,
    }
}

/// The body, at most `BODY_LIMIT` bytes, with its media type; refuses media
/// types not in `accepted` with 415.
pub async fn read(
    request: Request,
    state: &AppState,
    accepted: &[MediaType],
    style: Style,
    context: &RequestContext,
) -> Result<(MediaType, Bytes), ApiError> {
    let kind = media_type(request.headers());
    if !accepted.contains(&kind) {
        let names: Vec<&str> = accepted
            .iter()
            .map(|kind| match kind {
                MediaType::Json => "application/json",
                MediaType::Form => "application/x-www-form-urlencoded",
                MediaType::Other => "",
            })
            .collect();
        return Err(ApiError::new(
            style,
            &context.request_id,
            415,
            "unsupported_media_type",
            format!("Content-Type must be {}", names.join(" or ")),
        ));
    }
    let too_large = || {
        ApiError::new(
            style,
            &context.request_id,
            413,
            "invalid_request",
            format!(
                "request body is larger than {} bytes",
                state.config.body_limit
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > state.config.body_limit) {
        return Err(too_large());
    }
    // A body trickled in a byte at a time would hold the connection open.
    let bytes = tokio::time::timeout(
        state.config.body_timeout,
        to_bytes(request.into_body(), state.config.body_limit),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            style,
            &context.request_id,
            408,
            "invalid_request",
            format!(
                "request body not received within {} ms",
                state.config.body_timeout.as_millis()
            ),
        )
    })?
    .map_err(|error| {
        // Over the limit, or a body that breaks off (bad chunked encoding,
        // the connection closed early): 413 for one, 400 for the other.
        let over_limit =
            std::iter::successors(Some(&error as &dyn std::error::Error), |error| error.source())
                .any(|error| error.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            ApiError::bad_request(
                style,
                &context.request_id,
                "request body is malformed or cut off (bad chunked encoding, or the connection closed early)",
            )
        }
    })?;
    Ok((kind, bytes))
}

/// Parameters of a form or of a flat JSON object (strings or numbers).
pub fn parameters(kind: MediaType, body: &[u8]) -> Result<HashMap<String, String>, String> {
    match kind {
        MediaType::Form => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| "request body is not a valid form".to_owned())?;
            let mut map = HashMap::new();
            for (key, value) in pairs {
                if map.insert(key.clone(), value).is_some() {
                    return Err(format!("parameter {key} is repeated"));
                }
            }
            Ok(map)
        }
        MediaType::Json => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err("request body is empty".to_owned());
            }
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            let map = deserializer
                .deserialize_map(FlatObject)
                .map_err(|error| format!("request body is not a flat JSON object: {error}"))?;
            deserializer
                .end()
                .map_err(|_| "request body has trailing characters".to_owned())?;
            Ok(map)
        }
        MediaType::Other => Err("unsupported content type".to_owned()),
    }
}

/// A JSON object of strings or numbers, refusing repeated keys.
struct FlatObject;

impl<'de> Visitor<'de> for FlatObject {
    type Value = HashMap<String, String>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = HashMap::new();
        while let Some((key, value)) = access.next_entry::<String, serde_json::Value>()? {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Null => continue,
                _ => return Err(serde::de::Error::custom(format!("{key} must be a string"))),
            };
            if map.insert(key.clone(), text).is_some() {
                return Err(serde::de::Error::custom(format!("key {key} is repeated")));
            }
        }
        Ok(map)
    }
}

/// An `Authorization` header that is not well-formed HTTP Basic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedBasic;

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each
/// part form-urlencoded). `Err` when the header is there but malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, MalformedBasic> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| MalformedBasic)?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(MalformedBasic);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(MalformedBasic);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| MalformedBasic)?;
    let decoded = String::from_utf8(decoded).map_err(|_| MalformedBasic)?;
    let (id, secret) = decoded.split_once(':').ok_or(MalformedBasic)?;
    let unescape = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| MalformedBasic)
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_repeated_form_parameter_is_refused() {
        assert!(parameters(MediaType::Form, b"grant_type=a&grant_type=b").is_err());
        assert_eq!(parameters(MediaType::Form, b"a=1&b=2").unwrap().len(), 2);
    }

    #[test]
    fn a_repeated_json_key_or_nested_value_is_refused() {
        assert!(parameters(MediaType::Json, br#"{"a": "1", "a": "2"}"#).is_err());
        assert!(parameters(MediaType::Json, br#"{"a": {"b": 1}}"#).is_err());
        assert!(parameters(MediaType::Json, br#"[1, 2]"#).is_err());
        assert!(parameters(MediaType::Json, br#"{"a": "1"} x"#).is_err());
        assert_eq!(
            parameters(MediaType::Json, br#"{"a": 12345678}"#).unwrap()["a"],
            "12345678"
        );
    }

    #[test]
    fn basic_credentials_are_decoded_and_unescaped() {
        // "12345678:se%2Bcret" in base64
        let headers = with_authorization("Basic MTIzNDU2Nzg6c2UlMkJjcmV0");
        assert_eq!(
            basic_credentials(&headers),
            Ok(Some(("12345678".into(), "se+cret".into())))
        );
    }

    #[test]
    fn basic_credentials_that_are_not_base64_are_refused() {
        assert_eq!(
            basic_credentials(&with_authorization("Basic %%%not-base64")),
            Err(MalformedBasic)
        );
        assert_eq!(basic_credentials(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn a_bearer_token_is_taken_from_the_header() {
        assert_eq!(
            bearer_token(&with_authorization("Bearer abc.def")),
            Some("abc.def".into())
        );
        assert_eq!(bearer_token(&with_authorization("Basic abc")), None);
        assert_eq!(bearer_token(&with_authorization("Bearer ")), None);
    }
}

/// Any body or header at all: parameters or a message, never a panic.
#[cfg(test)]
mod properties {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_form_or_json_body_gives_parameters_or_a_message(body in prop::collection::vec(any::<u8>(), 0..256)) {
            for kind in [MediaType::Form, MediaType::Json] {
                if let Err(message) = parameters(kind, &body) {
                    prop_assert!(!message.is_empty());
                }
            }
        }

        #[test]
        fn any_authorization_header_is_read_or_refused(value in "[ -~]{0,120}") {
            if let Ok(value) = HeaderValue::from_str(&value) {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                let _ = basic_credentials(&headers);
                let _ = bearer_token(&headers);
            }
        }
    }
}
