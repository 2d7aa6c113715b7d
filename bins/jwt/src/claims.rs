//! The access token's claims, in a fixed order: serialising the same claims
//! always gives the same bytes, so the same token can be signed again
//! (Ed25519 is deterministic) instead of being stored.

use serde::{Deserialize, Serialize};

/// Our access token's claims. Unknown claims or a wrong JSON type make a
/// token invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(rename = "partnerNumber")]
    pub partner_number: u32,
}

impl Claims {
    pub fn introspected(&self) -> common::wire::IntrospectedClaims {
        common::wire::IntrospectedClaims {
            sub: self.sub.clone(),
            partner_number: self.partner_number,
            iss: self.iss.clone(),
            aud: self.aud.clone(),
            iat: self.iat,
            nbf: self.nbf,
            exp: self.exp,
            jti: self.jti.clone(),
            token_type: "Bearer".to_owned(),
            client_id: self.partner_number.to_string(),
        }
    }
}
