//! The jwt service's NATS endpoints: decode, call [`Tokens`], encode.

use bytes::Bytes;
use common::{
    service::{decode, encode, EndpointSpec, Handler, Incoming, ServiceSpec},
    subjects,
    wire::{IssueRequest, RefreshRequest, TokenRequest},
    ServiceError,
};

use crate::tokens::Tokens;

/// The service as registered with the NATS Service API.
pub fn spec() -> ServiceSpec {
    ServiceSpec {
        name: subjects::JWT_SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        description:
            "Issues, validates, refreshes and revokes partner access tokens; publishes the JWKS",
        endpoints: vec![
            EndpointSpec {
                name: "issue",
                subject: subjects::JWT_ISSUE,
                metadata: &[
                    ("request", r#"{"partnerNumber": 12345678}"#),
                    ("response", "token response"),
                    ("internal", "true"),
                ],
            },
            EndpointSpec {
                name: "validate",
                subject: subjects::JWT_VALIDATE,
                metadata: &[
                    ("http", "POST /v1/auth/introspect, GET /validate/token"),
                    ("request", r#"{"token": "<jwt>"}"#),
                    ("response", "RFC 7662 introspection"),
                ],
            },
            EndpointSpec {
                name: "refresh",
                subject: subjects::JWT_REFRESH,
                metadata: &[
                    ("http", "POST /v1/auth/refresh"),
                    ("request", r#"{"refresh_token": "..."}"#),
                    ("response", "token response"),
                ],
            },
            EndpointSpec {
                name: "revoke",
                subject: subjects::JWT_REVOKE,
                metadata: &[
                    ("http", "POST /v1/auth/revoke"),
                    ("request", r#"{"token": "<access or refresh token>"}"#),
                    ("response", "{}"),
                ],
            },
            EndpointSpec {
                name: "jwks",
                subject: subjects::JWT_JWKS,
                metadata: &[
                    ("http", "GET /.well-known/jwks.json"),
                    ("request", "{}"),
                    ("response", "JWKS"),
                ],
            },
            EndpointSpec {
                name: "keys_rotate",
                subject: subjects::ADMIN_KEYS_ROTATE,
                metadata: &[
                    ("admin", "true"),
                    ("request", "{}"),
                    ("response", r#"{"kid"}"#),
                ],
            },
            EndpointSpec {
                name: "keys_list",
                subject: subjects::ADMIN_KEYS_LIST,
                metadata: &[
                    ("admin", "true"),
                    ("request", "{}"),
                    ("response", r#"{"keys": [...]}"#),
                ],
            },
        ],
    }
}

pub struct JwtHandler {
    tokens: Tokens,
}

impl JwtHandler {
    pub fn new(tokens: Tokens) -> Self {
        Self { tokens }
    }

    async fn dispatch(&self, request: Incoming) -> Result<Bytes, ServiceError> {
        let id = request.request_id.as_str();
        match request.endpoint {
            "issue" => {
                let issue: IssueRequest = decode(&request.payload)?;
                encode(&self.tokens.issue(issue.partner_number, id).await?)
            }
            "validate" => {
                let token: TokenRequest = decode(&request.payload)?;
                encode(&self.tokens.validate(&token.token).await?)
            }
            "refresh" => {
                let refresh: RefreshRequest = decode(&request.payload)?;
                encode(&self.tokens.refresh(&refresh.refresh_token, id).await?)
            }
            "revoke" => {
                let token: TokenRequest = decode(&request.payload)?;
                self.tokens.revoke(&token.token, id).await?;
                Ok(Bytes::from_static(b"{}"))
            }
            "jwks" => encode(&self.tokens.jwks().await?),
            "keys_rotate" => encode(&self.tokens.rotate_key(id).await?),
            "keys_list" => encode(&self.tokens.list_keys().await?),
            other => Err(ServiceError::not_found(format!("no endpoint {other}"))),
        }
    }
}

impl Handler for JwtHandler {
    async fn handle(&self, request: Incoming) -> Result<Bytes, ServiceError> {
        self.dispatch(request).await
    }
}
