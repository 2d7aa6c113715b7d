//! The OAuth2 routes: client credentials (RFC 6749 §4.4), refresh (§6),
//! introspection (RFC 7662) and revocation (RFC 7009). Each takes a form or
//! a JSON object.

use std::collections::HashMap;

use axum::{
    extract::{Request, State},
    response::Response,
};
use bytes::Bytes;
use common::{
    error::code,
    subjects,
    wire::{ClientCredentials, RefreshRequest, TokenRequest},
};

use super::json_reply;
use crate::{
    bus,
    error::{ApiError, Style},
    forms::{self, MediaType},
    request_id::RequestContext,
    AppState,
};

const BASIC_CHALLENGE: &str = "Basic realm=\"sms\", charset=\"UTF-8\"";

/// The parameters of a form or JSON body, or an `invalid_request`.
async fn parameters(
    state: &AppState,
    context: &RequestContext,
    request: Request,
) -> Result<HashMap<String, String>, ApiError> {
    let (kind, body) = forms::read(
        request,
        state,
        &[MediaType::Form, MediaType::Json],
        Style::OAuth,
        context,
    )
    .await?;
    forms::parameters(kind, &body)
        .map_err(|message| ApiError::bad_request(Style::OAuth, &context.request_id, message))
}

fn encode<T: serde::Serialize>(value: &T) -> Bytes {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .unwrap_or_default()
}

async fn forward(
    state: &AppState,
    context: &RequestContext,
    subject: &str,
    payload: Bytes,
) -> Result<Bytes, ApiError> {
    bus::call(state, context, subject, payload)
        .await
        .map_err(|error| ApiError::from_service(Style::OAuth, &context.request_id, error))
}

/// `POST /v1/auth/token`: client credentials, by Basic or in the body.
pub async fn token(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, ApiError> {
    let id = context.request_id.clone();
    let basic = forms::basic_credentials(request.headers());
    let params = parameters(&state, &context, request).await?;
    match params.get("grant_type").map(String::as_str) {
        None => {
            return Err(ApiError::bad_request(
                Style::OAuth,
                &id,
                "grant_type is required",
            ))
        }
        Some("client_credentials") => {}
        Some(_) => {
            return Err(ApiError::new(
                Style::OAuth,
                &id,
                400,
                code::UNSUPPORTED_GRANT_TYPE,
                "only grant_type=client_credentials is supported here",
            ))
        }
    }
    let in_body = (params.get("client_id"), params.get("client_secret"));
    let invalid_client = |message: &str, basic_used: bool| {
        let error = ApiError::new(Style::OAuth, &id, 401, code::INVALID_CLIENT, message);
        if basic_used {
            error.with_challenge(BASIC_CHALLENGE)
        } else {
            error
        }
    };
    let (credentials, basic_used) = match (basic, in_body) {
        (Err(forms::MalformedBasic), _) => {
            return Err(invalid_client(
                "Authorization header is not valid HTTP Basic",
                true,
            ))
        }
        (Ok(Some(_)), (Some(_), _) | (_, Some(_))) => {
            return Err(ApiError::bad_request(
                Style::OAuth,
                &id,
                "use one client authentication method, not two",
            ))
        }
        (Ok(Some((client_id, client_secret))), _) => (
            ClientCredentials {
                client_id,
                client_secret,
            },
            true,
        ),
        (Ok(None), (Some(client_id), Some(client_secret))) => (
            ClientCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            },
            false,
        ),
        (Ok(None), _) => return Err(invalid_client("client authentication is required", false)),
    };
    if let Ok(number) = common::domain::PartnerNumber::parse_str(credentials.client_id.trim()) {
        let verdict = state.rate_limits.check_partner(number.get());
        if let Some(refusal) = verdict.refusal(Style::OAuth, &context, "for this partner") {
            return Ok(refusal);
        }
    }
    match forward(&state, &context, subjects::AUTH_TOKEN, encode(&credentials)).await {
        Ok(reply) => Ok(json_reply(reply, true)),
        Err(error) if error.status == 401 => Err(if basic_used {
            error.with_challenge(BASIC_CHALLENGE)
        } else {
            error
        }),
        Err(error) => Err(error),
    }
}

/// `POST /v1/auth/refresh`: a refresh token for new tokens.
pub async fn refresh(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, ApiError> {
    let id = context.request_id.clone();
    let params = parameters(&state, &context, request).await?;
    if let Some(grant) = params
        .get("grant_type")
        .filter(|grant| *grant != "refresh_token")
    {
        return Err(ApiError::new(
            Style::OAuth,
            &id,
            400,
            code::UNSUPPORTED_GRANT_TYPE,
            format!("grant_type must be refresh_token here, not {grant:?}"),
        ));
    }
    let Some(refresh_token) = params
        .get("refresh_token")
        .filter(|token| !token.is_empty())
    else {
        return Err(ApiError::bad_request(
            Style::OAuth,
            &id,
            "refresh_token is required",
        ));
    };
    let payload = encode(&RefreshRequest {
        refresh_token: refresh_token.to_owned(),
    });
    Ok(json_reply(
        forward(&state, &context, subjects::JWT_REFRESH, payload).await?,
        true,
    ))
}

fn token_parameter(params: &HashMap<String, String>, id: &str) -> Result<Bytes, ApiError> {
    let Some(token) = params
        .get("token")
        .map(|token| token.trim())
        .filter(|token| !token.is_empty())
    else {
        return Err(ApiError::bad_request(Style::OAuth, id, "token is required"));
    };
    Ok(encode(&TokenRequest {
        token: token.to_owned(),
    }))
}

/// `POST /v1/auth/introspect`: `{"active": ...}` for any token.
pub async fn introspect(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, ApiError> {
    let params = parameters(&state, &context, request).await?;
    let payload = token_parameter(&params, &context.request_id)?;
    Ok(json_reply(
        forward(&state, &context, subjects::JWT_VALIDATE, payload).await?,
        true,
    ))
}

/// `POST /v1/auth/revoke`: 200 whether or not the token was known (RFC 7009 §2.2).
pub async fn revoke(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, ApiError> {
    let params = parameters(&state, &context, request).await?;
    let payload = token_parameter(&params, &context.request_id)?;
    Ok(json_reply(
        forward(&state, &context, subjects::JWT_REVOKE, payload).await?,
        true,
    ))
}
