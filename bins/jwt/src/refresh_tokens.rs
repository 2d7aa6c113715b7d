//! Refresh tokens: the row id plus an HMAC-SHA-256 tag under a key from the
//! environment. Postgres holds only the id, which is useless without the key.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &SecretBox<Vec<u8>>, id: &Uuid) -> HmacSha256 {
    // HMAC takes keys of any length; the config demands at least 32 bytes.
    let mut mac =
        HmacSha256::new_from_slice(key.expose_secret()).expect("hmac takes any key length");
    mac.update(b"sms refresh token v1:");
    mac.update(id.as_bytes());
    mac
}

/// The refresh token for `id`: always the same string for the same id and key.
pub fn encode(key: &SecretBox<Vec<u8>>, id: &Uuid) -> String {
    let tag = mac(key, id).finalize().into_bytes();
    let mut raw = id.as_bytes().to_vec();
    raw.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The id inside a refresh token, if its tag is right (compared in constant time).
pub fn decode(key: &SecretBox<Vec<u8>>, token: &str) -> Option<Uuid> {
    if token.len() != 64 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (id, tag) = raw.split_at_checked(16)?;
    let id = Uuid::from_slice(id).ok()?;
    mac(key, &id).verify_slice(tag).ok()?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretBox<Vec<u8>> {
        SecretBox::new(Box::new(vec![byte; 32]))
    }

    #[test]
    fn a_refresh_token_decodes_to_its_id() {
        let id = Uuid::new_v4();
        let token = encode(&key(1), &id);
        assert_eq!(token.len(), 64);
        assert_eq!(decode(&key(1), &token), Some(id));
    }

    #[test]
    fn a_refresh_token_under_another_key_or_altered_is_refused() {
        let id = Uuid::new_v4();
        let token = encode(&key(1), &id);
        assert_eq!(decode(&key(2), &token), None);
        let mut altered = token.into_bytes();
        altered[40] = if altered[40] == b'A' { b'B' } else { b'A' };
        assert_eq!(decode(&key(1), &String::from_utf8(altered).unwrap()), None);
        assert_eq!(decode(&key(1), "not-a-real-token"), None);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn no_made_up_string_is_a_refresh_token(token in "[A-Za-z0-9_-]{0,80}") {
            let key = SecretBox::new(Box::new(vec![3u8; 32]));
            prop_assert_eq!(decode(&key, &token), None);
        }
    }
}
