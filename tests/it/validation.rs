//! Validation: each forged token keeps a real token's `jti` and `exp` and
//! changes one thing, so only the check under test can refuse it.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::harness::{login, Options, Stack};

async fn introspect(stack: &Stack, token: &str) -> Value {
    stack
        .request(common::subjects::JWT_VALIDATE, json!({"token": token}))
        .await
        .expect("validate reply")
}

async fn http_validate(stack: &Stack, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/validate/token", stack.http))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn parts(token: &str) -> (Value, Value) {
    let mut pieces = token.split('.');
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(pieces.next().unwrap()).unwrap()).unwrap();
    let claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(pieces.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

/// The stack's active signing key, read the way the jwt service reads it.
async fn signing_key(stack: &Stack) -> jwt::signing_keys::SigningKey {
    let config = jwt::JwtConfig::from_source(&stack.env).unwrap();
    let ring = jwt::signing_keys::KeyRing::load_or_create(stack.pool().clone(), &config)
        .await
        .unwrap();
    let mut connection = stack.pool().acquire().await.unwrap();
    ring.active(&mut connection).await.unwrap()
}

fn sign(claims: &Value, kid: &str, key: &EncodingKey, algorithm: Algorithm) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// A stack, a partner's real token, and its claims.
async fn setup(options: Options) -> (Stack, String, Value) {
    let stack = Stack::start_with(options).await;
    let partner = stack.create_partner("validation").await;
    let (_, token) = login(&stack.http, &partner).await;
    let access = token["access_token"].as_str().unwrap().to_owned();
    let (_, claims) = parts(&access);
    (stack, access, claims)
}

#[tokio::test]
async fn forged_tokens_are_refused_each_for_its_own_fault() {
    let (stack, real, claims) = setup(Options::default()).await;
    let key = signing_key(&stack).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // Control: the real claims signed again are accepted, so the forging works.
    let typed: jwt::claims::Claims = serde_json::from_value(claims.clone()).unwrap();
    assert_eq!(
        jwt::tokens::sign_claims(&typed, &key).unwrap(),
        real,
        "Ed25519 signing is deterministic"
    );
    let resigned = sign(&claims, &key.kid, &key.encoding, Algorithm::EdDSA);
    assert_eq!(introspect(&stack, &resigned).await["active"], true);

    let with = |edit: &dyn Fn(&mut Value)| {
        let mut forged = claims.clone();
        edit(&mut forged);
        forged
    };
    let mut cases: Vec<(&str, String)> = vec![
        (
            "not yet valid",
            sign(
                &with(&|c| c["nbf"] = json!(now + 120)),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "issued in the future",
            sign(
                &with(&|c| c["iat"] = json!(now + 120)),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "wrong audience",
            sign(
                &with(&|c| c["aud"] = json!("someone-else")),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "wrong issuer",
            sign(
                &with(&|c| c["iss"] = json!("evil")),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "exp as a string",
            sign(
                &with(&|c| c["exp"] = json!(c["exp"].to_string())),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "partnerNumber as a string",
            sign(
                &with(&|c| c["partnerNumber"] = json!(c["partnerNumber"].to_string())),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "iat as a float",
            sign(
                &with(&|c| c["iat"] = json!(c["iat"].as_f64().unwrap() + 0.5)),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "aud as an array",
            sign(
                &with(&|c| c["aud"] = json!([c["aud"].clone()])),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "nbf missing",
            sign(
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("nbf");
                }),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "sub of another partner",
            sign(
                &with(&|c| c["sub"] = json!("12345678")),
                &key.kid,
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "unknown kid",
            sign(
                &claims,
                "not-a-key-we-have",
                &key.encoding,
                Algorithm::EdDSA,
            ),
        ),
        (
            "HS256 keyed with the public key",
            sign(
                &claims,
                &key.kid,
                &EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(&key.public_x).unwrap()).unwrap(),
                Algorithm::HS256,
            ),
        ),
        (
            "HS256 keyed with the public key text",
            sign(
                &claims,
                &key.kid,
                &EncodingKey::from_secret(key.public_x.as_bytes()).unwrap(),
                Algorithm::HS256,
            ),
        ),
    ];
    let (header, _) = parts(&real);
    let unsigned_header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "none", "typ": "JWT", "kid": header["kid"]}).to_string());
    let payload = real.split('.').nth(1).unwrap();
    cases.push(("alg none", format!("{unsigned_header}.{payload}.")));
    let mut signature = real.split('.').nth(2).unwrap().to_owned().into_bytes();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    cases.push((
        "altered signature",
        format!(
            "{}.{}.{}",
            real.split('.').next().unwrap(),
            payload,
            String::from_utf8(signature).unwrap()
        ),
    ));
    let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let other_der = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(&other).unwrap();
    cases.push((
        "signed by another Ed25519 key",
        sign(
            &claims,
            &key.kid,
            &EncodingKey::from_ed_der(other_der.as_bytes()),
            Algorithm::EdDSA,
        ),
    ));

    for (name, token) in &cases {
        let answer = introspect(&stack, token).await;
        assert_eq!(answer, json!({"active": false}), "{name} was accepted");
        assert_eq!(
            http_validate(&stack, token).await,
            401,
            "{name} passed /validate/token"
        );
    }
    assert_eq!(
        http_validate(&stack, &real).await,
        200,
        "the real token still validates"
    );
    stack.stop().await;
}

#[tokio::test]
async fn expiry_is_judged_with_the_leeway_on_both_sides() {
    // TTL 3 s, leeway 2 s: valid until exp + 2 s, refused after.
    let (stack, real, claims) = setup(Options {
        token_ttl: "3",
        token_min_remaining: "0",
        leeway: "2",
        ..Options::default()
    })
    .await;
    let exp = claims["exp"].as_i64().unwrap();
    let wait_until = |at: i64| async move {
        let now = time::OffsetDateTime::now_utc();
        let target = time::OffsetDateTime::from_unix_timestamp(at).unwrap();
        if target > now {
            tokio::time::sleep(Duration::try_from(target - now).unwrap()).await;
        }
    };
    wait_until(exp).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        introspect(&stack, &real).await["active"],
        true,
        "inside the leeway"
    );
    wait_until(exp + 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        introspect(&stack, &real).await["active"],
        false,
        "past the leeway"
    );
    assert_eq!(http_validate(&stack, &real).await, 401);
    stack.stop().await;
}

#[tokio::test]
async fn a_disabled_partners_token_is_refused_and_stays_refused_after_enabling() {
    let (stack, real, claims) = setup(Options::default()).await;
    let number = claims["partnerNumber"].as_u64().unwrap();
    stack
        .request(
            common::subjects::ADMIN_PARTNERS_DISABLE,
            json!({"partnerNumber": number}),
        )
        .await
        .unwrap();
    assert_eq!(introspect(&stack, &real).await["active"], false);
    assert_eq!(http_validate(&stack, &real).await, 401);
    stack
        .request(
            common::subjects::ADMIN_PARTNERS_ENABLE,
            json!({"partnerNumber": number}),
        )
        .await
        .unwrap();
    assert_eq!(
        introspect(&stack, &real).await["active"],
        false,
        "enabling does not revive old tokens"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_disabled_partner_cannot_log_in() {
    let stack = Stack::start().await;
    let partner = stack.create_partner("disabled").await;
    stack
        .request(
            common::subjects::ADMIN_PARTNERS_DISABLE,
            json!({"partnerNumber": partner.number}),
        )
        .await
        .unwrap();
    let (status, body) = login(&stack.http, &partner).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_description"], "Invalid partner credentials");
    stack
        .request(
            common::subjects::ADMIN_PARTNERS_ENABLE,
            json!({"partnerNumber": partner.number}),
        )
        .await
        .unwrap();
    assert_eq!(login(&stack.http, &partner).await.0, 200);
    stack.stop().await;
}

/// A property test through the real service: hundreds of mangled versions
/// of a real token (bytes flipped, cut, grown, parts swapped, re-encoded)
/// each get `{"active": false}`, never an error.
#[tokio::test]
async fn mangled_tokens_are_all_inactive_and_never_an_error() {
    let (stack, real, _) = setup(Options::default()).await;
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move |bound: usize| {
        // xorshift: reproducible without another dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
    let parts: Vec<&str> = real.split('.').collect();
    let mut mangled = Vec::new();
    for round in 0..400 {
        let mut bytes = real.clone().into_bytes();
        let token = match round % 6 {
            0 => {
                let at = next(bytes.len());
                bytes[at] = alphabet[next(alphabet.len())];
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => real[..next(real.len())].to_owned(),
            2 => {
                let at = next(bytes.len());
                bytes.insert(at, alphabet[next(alphabet.len())]);
                String::from_utf8_lossy(&bytes).into_owned()
            }
            3 => format!("{}.{}.{}", parts[next(3)], parts[next(3)], parts[next(3)]),
            4 => {
                let claims = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
                let mut claims = claims.clone();
                let at = next(claims.len());
                claims[at] = claims[at].wrapping_add(1 + next(200) as u8);
                format!(
                    "{}.{}.{}",
                    parts[0],
                    URL_SAFE_NO_PAD.encode(claims),
                    parts[2]
                )
            }
            _ => (0..next(300))
                .map(|_| alphabet[next(alphabet.len())] as char)
                .collect(),
        };
        if token != real {
            mangled.push(token);
        }
    }
    for token in &mangled {
        let answer = stack
            .request(common::subjects::JWT_VALIDATE, json!({"token": token}))
            .await;
        assert_eq!(
            answer.as_ref().ok(),
            Some(&json!({"active": false})),
            "{token:?} gave {answer:?}"
        );
    }
    assert!(mangled.len() > 350);
    stack.stop().await;
}
