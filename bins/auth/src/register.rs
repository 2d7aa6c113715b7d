//! The original `/auth/register` body, parsed: every subscriber detail is
//! checked (card data is checked and dropped), then the partner's number,
//! UUID and secret are checked for form.

use serde_json::{Map, Value};
use time::Date;
use uuid::Uuid;

use common::domain::{
    check_card, parse_address, parse_email, parse_name, parse_partner_uuid, parse_phone_number,
    Invalid, PartnerNumber, PartnerSecret,
};

/// A well-formed registration: the partner's credentials and the checked
/// subscriber (no card number kept).
#[derive(Debug)]
pub struct Registration {
    pub partner_number: PartnerNumber,
    pub partner_uuid: Uuid,
    pub partner_secret: PartnerSecret,
    pub subscriber: Subscriber,
}

/// The subscriber details that passed every rule.
#[derive(Debug)]
pub struct Subscriber {
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub email: Option<String>,
    pub address: String,
}

fn object<'a>(
    parent: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a Map<String, Value>, Invalid> {
    match parent.get(field) {
        None | Some(Value::Null) => Err(Invalid(format!("{field} is required"))),
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(Invalid(format!("{field} must be an object"))),
    }
}

/// Parses the body against `today` (for the card's expiry).
pub fn parse(body: &[u8], today: Date) -> Result<Registration, Invalid> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Invalid("request body is empty".into()));
    }
    let value = common::strict_json::parse(body)
        .map_err(|error| Invalid(format!("request body is not valid JSON: {error}")))?;
    let Value::Object(root) = value else {
        return Err(Invalid("request body must be a JSON object".into()));
    };
    let credential = object(&root, "partnerCredential")?;
    let enrollment = object(&root, "enrollmentDetail")?;
    let subscriber = object(enrollment, "subscriberData")?;
    let billing = object(subscriber, "billingDetail")?;

    let checked = Subscriber {
        first_name: parse_name(subscriber.get("firstName"), "firstName")?,
        last_name: parse_name(subscriber.get("lastName"), "lastName")?,
        phone_number: parse_phone_number(subscriber.get("phoneNumber"))?,
        email: parse_email(subscriber.get("email"))?,
        address: parse_address(billing.get("address"))?,
    };
    check_card(billing.get("cardDetail"), today)?;

    let partner_number = match enrollment.get("partnerNumber") {
        None | Some(Value::Null) => return Err(Invalid("partnerNumber is required".into())),
        Some(number) => PartnerNumber::parse(number)?,
    };
    let partner_uuid = match credential.get("partnerUuid") {
        None | Some(Value::Null) => return Err(Invalid("partnerUuid is required".into())),
        Some(uuid) => parse_partner_uuid(uuid)?,
    };
    let partner_secret = match credential.get("partnerSecret") {
        None | Some(Value::Null) => return Err(Invalid("partnerSecret is required".into())),
        Some(secret) => PartnerSecret::parse(secret, "partnerSecret")?,
    };
    Ok(Registration {
        partner_number,
        partner_uuid,
        partner_secret,
        subscriber: checked,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    fn valid() -> Value {
        json!({
            "partnerCredential": {"partnerUuid": "6f1c2f5e-1d2b-4c3a-9f8e-7d6c5b4a3f21", "partnerSecret": "Abc123"},
            "enrollmentDetail": {"partnerNumber": 12345678, "subscriberData": {
                "firstName": "Asha", "lastName": "Rao", "phoneNumber": 9876543210u64, "email": "asha@example.com",
                "billingDetail": {"address": "12 Harbour Road", "cardDetail": {
                    "cardNumber": "4111111111111111", "cardType": "VISA", "cardHolder": "Asha Rao",
                    "cardExpiry": "2027-06-30"}}}}
        })
    }

    fn parse_value(value: &Value) -> Result<Registration, Invalid> {
        parse(value.to_string().as_bytes(), date!(2026 - 12 - 03))
    }

    #[test]
    fn a_complete_registration_parses() {
        let registration = parse_value(&valid()).unwrap();
        assert_eq!(registration.partner_number.get(), 12345678);
        assert_eq!(registration.subscriber.first_name, "Asha");
    }

    #[test]
    fn a_missing_nested_object_is_named() {
        let mut body = valid();
        body["enrollmentDetail"]["subscriberData"]["billingDetail"]
            .as_object_mut()
            .unwrap()
            .remove("cardDetail");
        assert_eq!(parse_value(&body).unwrap_err().0, "cardDetail is required");
    }

    #[test]
    fn subscriber_details_are_checked_before_the_partner() {
        let mut body = valid();
        body["enrollmentDetail"]["partnerNumber"] = json!(1);
        body["enrollmentDetail"]["subscriberData"]["firstName"] = json!("J0hn");
        assert_eq!(
            parse_value(&body).unwrap_err().0,
            "firstName must contain letters only"
        );
    }

    #[test]
    fn a_repeated_key_is_refused() {
        let body = br#"{"partnerCredential": {"partnerSecret": "a", "partnerSecret": "b"}}"#;
        assert!(parse(body, date!(2026 - 12 - 03))
            .unwrap_err()
            .0
            .contains("repeated"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert!(parse(b"[1,2]", date!(2026 - 12 - 03)).is_err());
        assert!(parse(b"", date!(2026 - 12 - 03)).is_err());
        assert!(parse(b"{\"partnerCredential\": {", date!(2026 - 12 - 03)).is_err());
    }
}

/// Any body at all: a registration or a message naming what is wrong.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_give_a_registration_or_a_message(body in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Err(invalid) = parse(&body, date!(2026 - 12 - 03)) {
                prop_assert!(!invalid.0.is_empty());
            }
        }

        #[test]
        fn any_text_shaped_like_json_gives_a_registration_or_a_message(body in "[{}\\[\\]\":, a-zA-Z0-9.-]{0,300}") {
            if let Err(invalid) = parse(body.as_bytes(), date!(2026 - 12 - 03)) {
                prop_assert!(!invalid.0.is_empty());
            }
        }
    }
}
