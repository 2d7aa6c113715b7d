//! Domain types parsed at the edge: once a value has one of these types it
//! is known to be well formed. Each `parse` names the field it refuses.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::{macros::format_description, Date};
use uuid::Uuid;

/// Why an input was refused: a message that names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// Digits given as a JSON number or a string, exactly `length` long.
fn digits(value: &Value, length: usize) -> Option<String> {
    let text = match value {
        Value::Number(number) => number.as_u64()?.to_string(),
        Value::String(text) => text.clone(),
        _ => return None,
    };
    (text.len() == length && text.bytes().all(|byte| byte.is_ascii_digit())).then_some(text)
}

/// A partner's number: 8 digits, 10000000–99999999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartnerNumber(u32);

impl PartnerNumber {
    pub const MIN: u32 = 10_000_000;
    pub const MAX: u32 = 99_999_999;

    pub fn parse(value: &Value) -> Result<Self, Invalid> {
        digits(value, 8)
            .and_then(|text| text.parse::<u32>().ok())
            .and_then(|number| Self::new(number).ok())
            .ok_or_else(|| invalid("Partner Number should be 8 digit"))
    }

    pub fn parse_str(text: &str) -> Result<Self, Invalid> {
        Self::parse(&Value::String(text.to_owned()))
    }

    pub fn new(number: u32) -> Result<Self, Invalid> {
        if (Self::MIN..=Self::MAX).contains(&number) {
            Ok(Self(number))
        } else {
            Err(invalid("Partner Number should be 8 digit"))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for PartnerNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// A partner's UUID, written with or without hyphens.
pub fn parse_partner_uuid(value: &Value) -> Result<Uuid, Invalid> {
    value
        .as_str()
        .filter(|text| text.len() == 32 || text.len() == 36)
        .and_then(|text| Uuid::try_parse(text).ok())
        .ok_or_else(|| invalid("partnerUuid must be a UUID"))
}

/// A partner's secret: letters and digits only. Never printed.
#[derive(Clone)]
pub struct PartnerSecret(SecretString);

impl PartnerSecret {
    pub const MAX_LENGTH: usize = 256;

    pub fn parse(value: &Value, field: &str) -> Result<Self, Invalid> {
        let text = value
            .as_str()
            .ok_or_else(|| invalid(format!("{field} must be a string")))?;
        Self::parse_str(text, field)
    }

    pub fn parse_str(text: &str, field: &str) -> Result<Self, Invalid> {
        if text.is_empty() {
            return Err(invalid(format!("{field} must not be empty")));
        }
        if text.len() > Self::MAX_LENGTH || !text.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "{field} must be letters and digits only, at most {} long",
                Self::MAX_LENGTH
            )));
        }
        Ok(Self(SecretString::from(text.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PartnerSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("PartnerSecret(****)")
    }
}

/// A required, non-blank string of at most `max` characters.
fn text(value: Option<&Value>, field: &str, max: usize) -> Result<String, Invalid> {
    match value {
        None | Some(Value::Null) => Err(invalid(format!("{field} is required"))),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(invalid(format!("{field} must not be empty")))
        }
        Some(Value::String(text)) if text.chars().count() > max => {
            Err(invalid(format!("{field} must be at most {max} characters")))
        }
        Some(Value::String(text)) => Ok(text.trim().to_owned()),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

/// A first or last name: letters only (any script).
pub fn parse_name(value: Option<&Value>, field: &str) -> Result<String, Invalid> {
    let name = text(value, field, 100)?;
    if name.chars().all(char::is_alphabetic) {
        Ok(name)
    } else {
        Err(invalid(format!("{field} must contain letters only")))
    }
}

/// A phone number: 10 digits, as a JSON number or a string.
pub fn parse_phone_number(value: Option<&Value>) -> Result<String, Invalid> {
    match value {
        None | Some(Value::Null) => Err(invalid("phoneNumber is required")),
        Some(value) => digits(value, 10).ok_or_else(|| invalid("phoneNumber must be 10 digits")),
    }
}

/// An optional e-mail address: one `@`, a dotted domain, no spaces.
pub fn parse_email(value: Option<&Value>) -> Result<Option<String>, Invalid> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(email)) => {
            let well_formed = email.len() <= 254
                && !email
                    .chars()
                    .any(|character| character.is_whitespace() || character.is_control())
                && matches!(email.split_once('@'), Some((local, domain))
                    if !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.'));
            if well_formed {
                Ok(Some(email.clone()))
            } else {
                Err(invalid("email is not a valid e-mail address"))
            }
        }
        Some(_) => Err(invalid("email must be a string")),
    }
}

/// A postal address: required, not blank.
pub fn parse_address(value: Option<&Value>) -> Result<String, Invalid> {
    text(value, "address", 300)
}

/// Exactly `DDDD-DD-DD`: no sign, no extra digits.
fn is_iso_date_shape(raw: &str) -> bool {
    raw.len() == 10
        && raw.bytes().enumerate().all(|(at, byte)| {
            if at == 4 || at == 7 {
                byte == b'-'
            } else {
                byte.is_ascii_digit()
            }
        })
}

/// Card details: validated, then dropped; the type holds no card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCard {
    pub card_type: String,
    pub expiry: Date,
}

/// Checks a `cardDetail` object against `today`; keeps only what is safe.
pub fn check_card(card: Option<&Value>, today: Date) -> Result<CheckedCard, Invalid> {
    let card = match card {
        None | Some(Value::Null) => return Err(invalid("cardDetail is required")),
        Some(Value::Object(card)) => card,
        Some(_) => return Err(invalid("cardDetail must be an object")),
    };
    match card.get("cardNumber") {
        None | Some(Value::Null) => return Err(invalid("cardNumber is required")),
        Some(number) => {
            digits(number, 16).ok_or_else(|| invalid("cardNumber must be 16 digits"))?;
        }
    }
    let card_type = text(card.get("cardType"), "cardType", 40)?;
    text(card.get("cardHolder"), "cardHolder", 100)?;
    let expiry = match card.get("cardExpiry") {
        None | Some(Value::Null) => return Err(invalid("cardExpiry is required")),
        Some(Value::String(raw)) if is_iso_date_shape(raw) => {
            Date::parse(raw, format_description!("[year]-[month]-[day]"))
                .map_err(|_| invalid("cardExpiry must be a date written YYYY-MM-DD"))?
        }
        Some(_) => return Err(invalid("cardExpiry must be a date written YYYY-MM-DD")),
    };
    if expiry < today {
        return Err(invalid("Card has expired"));
    }
    Ok(CheckedCard { card_type, expiry })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 12 - 03);

    fn card(overrides: Value) -> Value {
        let mut card = json!({"cardNumber": "4111111111111111", "cardType": "VISA",
            "cardHolder": "Asha Rao", "cardExpiry": "2027-01-31"});
        for (key, value) in overrides.as_object().unwrap() {
            card[key] = value.clone();
        }
        card
    }

    #[test]
    fn a_partner_number_of_eight_digits_is_taken_as_number_or_string() {
        assert_eq!(
            PartnerNumber::parse(&json!(12345678)).unwrap().get(),
            12345678
        );
        assert_eq!(
            PartnerNumber::parse(&json!("12345678")).unwrap().get(),
            12345678
        );
    }

    #[test]
    fn a_partner_number_of_seven_or_nine_digits_or_signed_or_fractional_is_refused() {
        for bad in [
            json!(1234567),
            json!(123456789),
            json!(-12345678),
            json!(12345678.5),
            json!("0123456"),
            json!("1234567a"),
            json!(null),
            json!(true),
            json!("01234567"),
        ] {
            assert!(PartnerNumber::parse(&bad).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn a_uuid_is_taken_with_or_without_hyphens_but_not_braced() {
        let hyphenated = "6f1c2f5e-1d2b-4c3a-9f8e-7d6c5b4a3f21";
        assert!(parse_partner_uuid(&json!(hyphenated)).is_ok());
        assert!(parse_partner_uuid(&json!(hyphenated.replace('-', ""))).is_ok());
        assert!(parse_partner_uuid(&json!("not-a-uuid")).is_err());
        assert!(parse_partner_uuid(&json!(format!("{{{hyphenated}}}"))).is_err());
        assert!(parse_partner_uuid(&json!(7)).is_err());
    }

    #[test]
    fn a_secret_with_symbols_or_empty_is_refused() {
        assert!(PartnerSecret::parse(&json!("abc&$$def"), "partnerSecret").is_err());
        assert!(PartnerSecret::parse(&json!(""), "partnerSecret").is_err());
        assert!(PartnerSecret::parse(&json!("Abc123"), "partnerSecret").is_ok());
    }

    #[test]
    fn a_secret_is_never_printed_by_debug() {
        let secret = PartnerSecret::parse_str("TopSecret42", "partnerSecret").unwrap();
        assert!(!format!("{secret:?}").contains("TopSecret42"));
    }

    #[test]
    fn names_take_letters_of_any_script_only() {
        assert!(parse_name(Some(&json!("Zoë")), "firstName").is_ok());
        assert!(parse_name(Some(&json!("Анна")), "firstName").is_ok());
        assert!(parse_name(Some(&json!("J0hn")), "firstName").is_err());
        assert!(parse_name(Some(&json!("")), "firstName").is_err());
        assert!(parse_name(Some(&json!(null)), "lastName").is_err());
        assert!(parse_name(None, "lastName").is_err());
    }

    #[test]
    fn a_phone_number_is_ten_digits() {
        assert!(parse_phone_number(Some(&json!(9876543210u64))).is_ok());
        assert!(parse_phone_number(Some(&json!("9876543210"))).is_ok());
        assert!(parse_phone_number(Some(&json!(987654321))).is_err());
        assert!(parse_phone_number(Some(&json!("98765-43210"))).is_err());
    }

    #[test]
    fn an_email_is_optional_but_must_be_well_formed() {
        assert_eq!(parse_email(None).unwrap(), None);
        assert!(parse_email(Some(&json!("asha@example.com"))).is_ok());
        assert!(parse_email(Some(&json!("asha@example"))).is_err());
        assert!(parse_email(Some(&json!("a sha@example.com"))).is_err());
        assert!(parse_email(Some(&json!("@example.com"))).is_err());
    }

    #[test]
    fn a_card_expiring_today_is_taken_and_yesterday_refused() {
        assert!(check_card(Some(&card(json!({"cardExpiry": "2026-12-03"}))), TODAY).is_ok());
        let error =
            check_card(Some(&card(json!({"cardExpiry": "2026-12-02"}))), TODAY).unwrap_err();
        assert_eq!(error.0, "Card has expired");
    }

    #[test]
    fn a_card_number_must_be_sixteen_digits() {
        assert!(check_card(Some(&card(json!({"cardNumber": "411111111111"}))), TODAY).is_err());
        assert!(check_card(
            Some(&card(json!({"cardNumber": "41111111111111112222"}))),
            TODAY
        )
        .is_err());
        assert!(check_card(Some(&card(json!({"cardNumber": null}))), TODAY).is_err());
        assert!(check_card(
            Some(&card(json!({"cardNumber": "4111-1111-1111-1111"}))),
            TODAY
        )
        .is_err());
    }

    #[test]
    fn a_card_expiry_not_written_as_iso_date_is_refused() {
        assert!(check_card(Some(&card(json!({"cardExpiry": "31/12/2030"}))), TODAY).is_err());
        assert!(check_card(Some(&card(json!({"cardExpiry": "2030-02-30"}))), TODAY).is_err());
        assert!(check_card(Some(&card(json!({"cardExpiry": null}))), TODAY).is_err());
        assert!(check_card(Some(&card(json!({"cardExpiry": "+2030-01-01"}))), TODAY).is_err());
        assert!(check_card(Some(&card(json!({"cardExpiry": "2030-1-01"}))), TODAY).is_err());
    }
}

/// Any input at all: the parsers answer `Ok` or `Err`, never panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::Value;
    use time::macros::date;

    use super::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|number| serde_json::Number::from_f64(number)
                    .map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::String),
            "[0-9]{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn every_field_parser_takes_any_json_without_panicking(value in any_json()) {
            let _ = PartnerNumber::parse(&value);
            let _ = parse_partner_uuid(&value);
            let _ = PartnerSecret::parse(&value, "partnerSecret");
            let _ = parse_name(Some(&value), "firstName");
            let _ = parse_phone_number(Some(&value));
            let _ = parse_email(Some(&value));
            let _ = parse_address(Some(&value));
            let _ = check_card(Some(&value), date!(2026 - 12 - 03));
        }

        #[test]
        fn a_partner_number_that_parses_is_eight_digits_in_range(text in "\\PC{0,12}") {
            if let Ok(number) = PartnerNumber::parse_str(&text) {
                prop_assert!((PartnerNumber::MIN..=PartnerNumber::MAX).contains(&number.get()));
                prop_assert_eq!(number.to_string(), text);
            }
        }

        #[test]
        fn a_secret_that_parses_is_letters_and_digits(text in "\\PC{0,300}") {
            if let Ok(secret) = PartnerSecret::parse_str(&text, "partnerSecret") {
                prop_assert!(!secret.expose().is_empty());
                prop_assert!(secret.expose().bytes().all(|byte| byte.is_ascii_alphanumeric()));
            }
        }

        #[test]
        fn strict_json_takes_any_bytes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = crate::strict_json::parse(&bytes);
        }

        #[test]
        fn strict_json_agrees_with_serde_json_when_no_key_repeats(value in any_json()) {
            let text = value.to_string();
            prop_assert_eq!(crate::strict_json::parse(text.as_bytes()).ok(), serde_json::from_str::<Value>(&text).ok());
        }
    }
}
