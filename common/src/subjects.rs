//! Every NATS subject of the system, in one place.

/// Services, as registered with the NATS Service API (ADR-32).
pub const AUTH_SERVICE: &str = "auth";
pub const JWT_SERVICE: &str = "jwt";

pub const AUTH_REGISTER: &str = "sms.auth.register";
pub const AUTH_TOKEN: &str = "sms.auth.token";

pub const JWT_ISSUE: &str = "sms.jwt.issue";
pub const JWT_VALIDATE: &str = "sms.jwt.validate";
pub const JWT_REFRESH: &str = "sms.jwt.refresh";
pub const JWT_REVOKE: &str = "sms.jwt.revoke";
pub const JWT_JWKS: &str = "sms.jwt.jwks";

pub const ADMIN_PARTNERS_CREATE: &str = "sms.admin.partners.create";
pub const ADMIN_PARTNERS_GET: &str = "sms.admin.partners.get";
pub const ADMIN_PARTNERS_LIST: &str = "sms.admin.partners.list";
pub const ADMIN_PARTNERS_ROTATE_SECRET: &str = "sms.admin.partners.rotate_secret";
pub const ADMIN_PARTNERS_DISABLE: &str = "sms.admin.partners.disable";
pub const ADMIN_PARTNERS_ENABLE: &str = "sms.admin.partners.enable";

pub const ADMIN_KEYS_ROTATE: &str = "sms.admin.keys.rotate";
pub const ADMIN_KEYS_LIST: &str = "sms.admin.keys.list";

/// The ADR-32 discovery subject for `verb` (PING, INFO, STATS) of `service`.
pub fn discovery(verb: &str, service: &str) -> String {
    format!("$SRV.{verb}.{service}")
}
