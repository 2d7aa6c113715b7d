//! `POST /auth/register`: the original flow, forwarded whole to the auth
//! service, which checks every field.

use axum::{
    extract::{Request, State},
    response::Response,
};
use common::subjects;

use super::json_reply;
use crate::{
    bus,
    error::{ApiError, Style},
    forms::{self, MediaType},
    request_id::RequestContext,
    AppState,
};

pub async fn register(
    State(state): State<AppState>,
    context: RequestContext,
    request: Request,
) -> Result<Response, ApiError> {
    let (_, body) =
        forms::read(request, &state, &[MediaType::Json], Style::Plain, &context).await?;
    let partner = common::strict_json::parse(&body).ok().and_then(|value| {
        common::domain::PartnerNumber::parse(value.pointer("/enrollmentDetail/partnerNumber")?).ok()
    });
    if let Some(partner) = partner {
        let verdict = state.rate_limits.check_partner(partner.get());
        if let Some(refusal) = verdict.refusal(Style::Plain, &context, "for this partner") {
            return Ok(refusal);
        }
    }
    let reply = bus::call(&state, &context, subjects::AUTH_REGISTER, body)
        .await
        .map_err(|error| ApiError::from_service(Style::Plain, &context.request_id, error))?;
    Ok(json_reply(reply, true))
}
