//! JSON bodies that cross NATS between the programs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `sms.jwt.issue` request: only the auth service may send it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueRequest {
    pub partner_number: u32,
}

/// An OAuth2 token response (RFC 6749 §5.1). `expires_at` is our addition:
/// the access token's `exp` as RFC 3339, so callers need not do arithmetic.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// The true remaining lifetime in seconds.
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub expires_at: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The original `/auth/register` answer.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub token: String,
    pub expiry: String,
    pub refresh_token: String,
}

impl From<TokenResponse> for RegisterResponse {
    fn from(token: TokenResponse) -> Self {
        Self {
            token: token.access_token,
            expiry: token.expires_at,
            refresh_token: token.refresh_token,
        }
    }
}

/// `sms.auth.token` request: client credentials as the gateway extracted them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `sms.jwt.validate` and `sms.jwt.revoke` request.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    pub token: String,
}

/// `sms.jwt.refresh` request.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// RFC 7662 introspection response: `active` and, when active, the claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<IntrospectedClaims>,
}

/// The claims of an active token, as introspection and `/validate/token` show them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntrospectedClaims {
    pub sub: String,
    pub partner_number: u32,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(rename = "token_type")]
    pub token_type: String,
    #[serde(rename = "client_id")]
    pub client_id: String,
}

/// Admin: which partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartnerRef {
    pub partner_number: u32,
}

/// Admin: give a partner a new secret. With an overlap the old secret keeps
/// working that long (and tokens stay valid); without one it dies at once
/// and every token of the partner is void.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateSecret {
    pub partner_number: u32,
    /// Seconds the old secret stays valid; none when absent (a leak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<u64>,
}

/// Admin: create a partner; we choose the number when none is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePartner {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_number: Option<u32>,
}

/// Admin: a partner as operators see it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerView {
    pub partner_number: u32,
    pub partner_uuid: String,
    pub name: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    /// Until when the secret before the last rotation still works, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
}

/// Admin: a partner's credentials, shown once at creation or secret rotation.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerCredentials {
    pub partner_number: u32,
    pub partner_uuid: String,
    pub partner_secret: String,
    pub name: String,
    /// After a rotation with an overlap: until when the old secret works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
}

/// Admin: every partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartnerList {
    pub partners: Vec<PartnerView>,
}
