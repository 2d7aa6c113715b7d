//! The auth service's NATS endpoints: decode, call the domain, encode.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;

use common::{
    domain::{PartnerNumber, PartnerSecret},
    nats::{request_with_retry, trace_headers, Idempotent},
    service::{decode, encode, EndpointSpec, Handler, Incoming, ServiceSpec},
    subjects,
    wire::{
        ClientCredentials, CreatePartner, IssueRequest, PartnerRef, RegisterResponse, RotateSecret,
        TokenResponse,
    },
    ServiceError,
};

use crate::{
    admin, config::AuthConfig, credentials, error::AuthError, lockout, partner_store, register,
};

/// The service as registered with the NATS Service API.
pub fn spec() -> ServiceSpec {
    const BY_NUMBER: &[(&str, &str)] = &[
        ("admin", "true"),
        ("request", r#"{"partnerNumber": 12345678}"#),
    ];
    let admin = |name, subject| EndpointSpec {
        name,
        subject,
        metadata: BY_NUMBER,
    };
    ServiceSpec {
        name: subjects::AUTH_SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        description: "Checks subscriber details and partner credentials and hands out the partner's token; partner administration",
        endpoints: vec![
            EndpointSpec {
                name: "register",
                subject: subjects::AUTH_REGISTER,
                metadata: &[
                    ("http", "POST /auth/register"),
                    ("request", r#"{"partnerCredential": {...}, "enrollmentDetail": {...}}"#),
                    ("response", r#"{"token", "expiry", "refreshToken"}"#),
                ],
            },
            EndpointSpec {
                name: "token",
                subject: subjects::AUTH_TOKEN,
                metadata: &[
                    ("http", "POST /v1/auth/token"),
                    ("request", r#"{"client_id", "client_secret"}"#),
                    ("response", "token response"),
                ],
            },
            EndpointSpec {
                name: "partners_create",
                subject: subjects::ADMIN_PARTNERS_CREATE,
                metadata: &[("admin", "true"), ("request", r#"{"name": "...", "partnerNumber": 12345678}"#)],
            },
            admin("partners_get", subjects::ADMIN_PARTNERS_GET),
            EndpointSpec { name: "partners_list", subject: subjects::ADMIN_PARTNERS_LIST, metadata: &[("admin", "true"), ("request", "{}")] },
            admin("partners_rotate_secret", subjects::ADMIN_PARTNERS_ROTATE_SECRET),
            admin("partners_disable", subjects::ADMIN_PARTNERS_DISABLE),
            admin("partners_enable", subjects::ADMIN_PARTNERS_ENABLE),
        ],
    }
}

pub struct AuthHandler {
    config: AuthConfig,
    pool: PgPool,
    client: async_nats::Client,
}

impl AuthHandler {
    pub fn new(config: AuthConfig, pool: PgPool, client: async_nats::Client) -> Self {
        Self {
            config,
            pool,
            client,
        }
    }

    /// Asks the jwt service for the partner's token.
    async fn issue(
        &self,
        partner_number: PartnerNumber,
        request: &Incoming,
    ) -> Result<TokenResponse, AuthError> {
        let body = encode(&IssueRequest {
            partner_number: partner_number.get(),
        })
        .map_err(AuthError::Downstream)?;
        let reply = request_with_retry(
            &self.client,
            subjects::JWT_ISSUE,
            trace_headers(&request.request_id, request.traceparent.as_deref()),
            body,
            self.config.request_timeout,
            self.config.attempt_timeout,
            // The same partner gets the same current token, however often.
            Idempotent::Yes,
        )
        .await
        .map_err(AuthError::Downstream)?;
        serde_json::from_slice(&reply)
            .map_err(|error| AuthError::Internal(format!("bad reply from jwt: {error}")))
    }

    /// Audits a credential check; failures are audited too.
    async fn checked(
        &self,
        route: &str,
        partner_number: PartnerNumber,
        uuid: Option<uuid::Uuid>,
        secret: &PartnerSecret,
        request: &Incoming,
    ) -> Result<(), AuthError> {
        let number =
            i32::try_from(partner_number.get()).map_err(|_| AuthError::InvalidCredentials)?;
        let audit = |outcome: &'static str, reason: &'static str| {
            partner_store::audit(
                &self.pool,
                "partner",
                "login",
                outcome,
                Some(number),
                &request.request_id,
                json!({"route": route, "reason": reason}),
            )
        };
        // Before any hashing: a locked number costs one query. The
        // transaction holds the number's lock until the outcome is counted.
        let (mut transaction, standing) =
            lockout::begin(&self.pool, self.config.lockout, number).await?;
        if let lockout::Standing::Locked(wait) = standing {
            transaction.commit().await?;
            audit("refused", "locked_out").await;
            return Err(AuthError::LockedOut(wait));
        }
        let outcome = credentials::check(
            &mut transaction,
            &self.config.partner_secret_pepper,
            partner_number,
            uuid,
            secret,
        )
        .await;
        match &outcome {
            Ok(()) if standing == lockout::Standing::Failed => {
                lockout::clear(&mut transaction, number).await?;
            }
            Err(AuthError::InvalidCredentials) => {
                lockout::record_failure(&mut transaction, number).await?;
            }
            _ => {}
        }
        transaction.commit().await?;
        match &outcome {
            Ok(()) => audit("success", "ok").await,
            Err(AuthError::InvalidCredentials) => audit("failure", "invalid_credentials").await,
            Err(_) => {}
        }
        outcome
    }

    async fn dispatch(&self, request: Incoming) -> Result<Bytes, AuthError> {
        let pepper = &self.config.partner_secret_pepper;
        let id = request.request_id.as_str();
        let reply = |value: Result<Bytes, ServiceError>| value.map_err(AuthError::Downstream);
        match request.endpoint {
            "register" => {
                let today = OffsetDateTime::now_utc().date();
                let registration = register::parse(&request.payload, today)?;
                self.checked(
                    "register",
                    registration.partner_number,
                    Some(registration.partner_uuid),
                    &registration.partner_secret,
                    &request,
                )
                .await?;
                let token = self.issue(registration.partner_number, &request).await?;
                reply(encode(&RegisterResponse::from(token)))
            }
            "token" => {
                let credentials: ClientCredentials =
                    decode(&request.payload).map_err(AuthError::Downstream)?;
                // A client id that is not a partner number is an unknown client.
                let number = PartnerNumber::parse_str(credentials.client_id.trim())
                    .map_err(|_| AuthError::InvalidCredentials)?;
                let secret = PartnerSecret::parse_str(&credentials.client_secret, "client_secret")
                    .map_err(|_| AuthError::InvalidCredentials)?;
                self.checked("client_credentials", number, None, &secret, &request)
                    .await?;
                reply(encode(&self.issue(number, &request).await?))
            }
            "partners_create" => {
                let create: CreatePartner =
                    decode(&request.payload).map_err(AuthError::Downstream)?;
                reply(encode(
                    &admin::create(&self.pool, pepper, create, id).await?,
                ))
            }
            "partners_list" => reply(encode(&admin::list(&self.pool).await?)),
            "partners_rotate_secret" => {
                let rotate: RotateSecret =
                    decode(&request.payload).map_err(AuthError::Downstream)?;
                // No overlap named: none. A leak response must not depend
                // on which instance answers.
                let overlap = Duration::from_secs(rotate.overlap_seconds.unwrap_or(0));
                reply(encode(
                    &admin::rotate_secret(
                        &self.pool,
                        pepper,
                        rotate.partner_number,
                        overlap,
                        self.config.max_secret_overlap,
                        id,
                    )
                    .await?,
                ))
            }
            endpoint => {
                let partner: PartnerRef =
                    decode(&request.payload).map_err(AuthError::Downstream)?;
                let number = partner.partner_number;
                match endpoint {
                    "partners_get" => reply(encode(&admin::get(&self.pool, number).await?)),
                    "partners_disable" => reply(encode(
                        &admin::set_status(&self.pool, number, false, id).await?,
                    )),
                    "partners_enable" => reply(encode(
                        &admin::set_status(&self.pool, number, true, id).await?,
                    )),
                    other => Err(AuthError::NotFound(format!("no endpoint {other}"))),
                }
            }
        }
    }
}

impl Handler for AuthHandler {
    async fn handle(&self, request: Incoming) -> Result<Bytes, ServiceError> {
        self.dispatch(request).await.map_err(ServiceError::from)
    }
}
