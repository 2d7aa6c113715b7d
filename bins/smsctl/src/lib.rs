//! smsctl's library half: the migrations (one owner applies them) and the
//! admin requests, so tests use exactly what operators use.

use std::{collections::HashMap, path::Path, time::Duration};

use anyhow::Context;
use bytes::Bytes;
use common::{config::Source, nats::trace_headers, ServiceError};
use sqlx::{migrate::MigrateDatabase, PgPool};

/// Every migration in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Creates the database when missing, then applies pending migrations
/// (sqlx takes an advisory lock, so concurrent runs wait for each other).
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    if !sqlx::Postgres::database_exists(database_url)
        .await
        .context("cannot reach Postgres (DATABASE_URL)")?
    {
        sqlx::Postgres::create_database(database_url)
            .await
            .context("cannot create the database")?;
    }
    let pool = PgPool::connect(database_url)
        .await
        .context("cannot connect to Postgres")?;
    MIGRATOR.run(&pool).await.context("migration failed")?;
    pool.close().await;
    Ok(())
}

/// The environment, falling back to the settings `make run` leaves in
/// `.run/stack.env` so smsctl reaches a local stack with no flags.
pub struct StackEnv {
    file: HashMap<String, String>,
}

impl StackEnv {
    pub fn load(path: &Path) -> Self {
        let file = std::fs::read_to_string(path)
            .map(|text| {
                text.lines()
                    .filter_map(|line| line.split_once('='))
                    .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self { file }
    }
}

impl Source for StackEnv {
    fn get(&self, name: &str) -> Option<String> {
        // The environment wins, variable by variable.
        common::config::Env.get(name).or_else(|| {
            self.file
                .get(name)
                .cloned()
                .filter(|value| !value.is_empty())
        })
    }
}

/// Sends an admin request and decodes the reply.
pub async fn admin_request<T: serde::de::DeserializeOwned>(
    client: &async_nats::Client,
    subject: &str,
    body: &serde_json::Value,
) -> Result<T, ServiceError> {
    let request_id = format!("smsctl-{}", uuid::Uuid::new_v4());
    let payload = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let reply = common::nats::request(
        client,
        subject,
        trace_headers(&request_id, None),
        payload,
        Duration::from_secs(10),
    )
    .await?;
    serde_json::from_slice(&reply).map_err(|error| {
        ServiceError::new(502, "bad_reply", format!("cannot read the reply: {error}"))
    })
}
