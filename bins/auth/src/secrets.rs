//! Partner secrets: generated with more than 256 bits of entropy, stored
//! only as HMAC-SHA-256 under a pepper from the environment, compared in
//! constant time.

use hmac::{Hmac, Mac};
use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// 44 letters and digits: 44 × log2(62) ≈ 262 bits.
pub const SECRET_LENGTH: usize = 44;

/// A new secret from the operating system's random source.
pub fn generate() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(SECRET_LENGTH)
        .map(char::from)
        .collect()
}

/// The stored form of a secret.
pub fn hash(pepper: &SecretBox<Vec<u8>>, secret: &str) -> [u8; 32] {
    // HMAC takes keys of any length; the config demands at least 32 bytes.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(pepper.expose_secret()).expect("hmac takes any key length");
    mac.update(b"sms partner secret v1:");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether `secret` hashes to `stored`, in time that does not depend on where they differ.
pub fn matches(pepper: &SecretBox<Vec<u8>>, secret: &str, stored: &[u8]) -> bool {
    hash(pepper, secret).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> SecretBox<Vec<u8>> {
        SecretBox::new(Box::new(b"0123456789abcdef0123456789abcdef".to_vec()))
    }

    #[test]
    fn a_generated_secret_is_44_letters_and_digits_and_new_each_time() {
        let first = generate();
        assert_eq!(first.len(), SECRET_LENGTH);
        assert!(first.bytes().all(|byte| byte.is_ascii_alphanumeric()));
        assert_ne!(first, generate());
    }

    #[test]
    fn a_secret_matches_its_hash_and_no_other() {
        let stored = hash(&pepper(), "RightSecret1");
        assert!(matches(&pepper(), "RightSecret1", &stored));
        assert!(!matches(&pepper(), "RightSecret2", &stored));
        assert!(!matches(&pepper(), "RightSecret1", &stored[..31]));
    }

    #[test]
    fn the_hash_depends_on_the_pepper() {
        let other = SecretBox::new(Box::new(b"another pepper of thirty-two byt".to_vec()));
        assert_ne!(hash(&pepper(), "S3cret"), hash(&other, "S3cret"));
    }
}
