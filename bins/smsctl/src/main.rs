//! smsctl: operate the stack. Partners and keys over the admin NATS
//! subjects, migrations straight to Postgres.

use std::path::Path;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::{
    config,
    nats::NatsConfig,
    subjects,
    wire::{PartnerCredentials, PartnerList, PartnerView, RotateSecret},
};
use secrecy::ExposeSecret;
use serde_json::json;
use smsctl::{admin_request, StackEnv};

#[derive(Parser)]
#[command(
    name = "smsctl",
    version,
    about = "Operate the SMS partner-authentication stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if missing and apply pending migrations (DATABASE_URL).
    Migrate,
    /// Partner administration.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The registry: services and instances, as `nats micro ls|info|stats` shows them.
    #[command(subcommand)]
    Services(ServicesCommand),
}

#[derive(Subcommand)]
enum ServicesCommand {
    /// Every instance of every service.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// One service's instances and endpoints.
    Info {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Requests, errors and average time per endpoint and instance.
    Stats {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new signing key active for every jwt instance; old tokens stay valid until they expire.
    Rotate {
        #[arg(long)]
        json: bool,
    },
    /// List the signing keys and whether JWKS publishes them.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PartnerCommand {
    /// Create a partner; its secret is shown once.
    Create {
        #[arg(long)]
        name: String,
        /// 8 digits; chosen for you when left out.
        #[arg(long)]
        number: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// List every partner.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one partner.
    Get {
        number: u32,
        #[arg(long)]
        json: bool,
    },
    /// Give a partner a new secret (shown once). Without --overlap the old
    /// secret and every token stop working at once (a leak); with it, the old
    /// secret keeps working that long and tokens stay valid (a roll-over).
    RotateSecret {
        number: u32,
        /// How long the old secret keeps working: 3600, 90m, 24h (at most 720h).
        #[arg(long, value_parser = parse_overlap)]
        overlap: Option<std::time::Duration>,
        #[arg(long)]
        json: bool,
    },
    /// Disable a partner; its tokens stop working.
    Disable {
        number: u32,
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled partner.
    Enable {
        number: u32,
        #[arg(long)]
        json: bool,
    },
}

fn print_credentials(credentials: &PartnerCredentials, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(credentials).unwrap_or_default());
    } else {
        println!("partner number: {}", credentials.partner_number);
        println!("partner uuid:   {}", credentials.partner_uuid);
        println!("partner secret: {}", credentials.partner_secret);
        println!("name:           {}", credentials.name);
        if let Some(until) = &credentials.previous_secret_expires_at {
            println!("old secret:     still valid until {until}");
        }
        println!("(the secret is shown only now; store it safely)");
    }
}

fn print_partners(partners: &[PartnerView], as_json: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&json!({ "partners": partners })).unwrap_or_default()
        );
        return;
    }
    println!(
        "{:<10} {:<36} {:<9} {:<30} NAME",
        "NUMBER", "UUID", "STATUS", "CREATED"
    );
    for partner in partners {
        println!(
            "{:<10} {:<36} {:<9} {:<30} {}",
            partner.partner_number,
            partner.partner_uuid,
            partner.status,
            partner.created_at,
            partner.name
        );
        if let Some(until) = &partner.previous_secret_expires_at {
            println!("{:<10} previous secret valid until {until}", "");
        }
    }
}

fn print_partner(partner: &PartnerView, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(partner).unwrap_or_default());
    } else {
        print_partners(std::slice::from_ref(partner), false);
    }
}

/// How long to wait for every instance's answer.
const DISCOVERY_WINDOW: std::time::Duration = std::time::Duration::from_millis(500);

async fn services(client: &async_nats::Client, command: ServicesCommand) {
    let (verb, name, as_json) = match &command {
        ServicesCommand::Ls { json } => ("INFO", None, *json),
        ServicesCommand::Info { name, json } => ("INFO", Some(name.as_str()), *json),
        ServicesCommand::Stats { name, json } => ("STATS", name.as_deref(), *json),
    };
    let subject = match name {
        Some(name) => format!("$SRV.{verb}.{name}"),
        None => format!("$SRV.{verb}"),
    };
    let mut replies = common::nats::gather(client, &subject, DISCOVERY_WINDOW).await;
    replies.sort_by_key(|reply| (reply["name"].to_string(), reply["id"].to_string()));
    if as_json {
        println!("{}", serde_json::Value::Array(replies));
        return;
    }
    let text = |value: &serde_json::Value| value.as_str().unwrap_or("-").to_owned();
    match command {
        ServicesCommand::Ls { .. } => {
            println!("{:<8} {:<9} {:<24} DESCRIPTION", "NAME", "VERSION", "ID");
            for reply in &replies {
                println!(
                    "{:<8} {:<9} {:<24} {}",
                    text(&reply["name"]),
                    text(&reply["version"]),
                    text(&reply["id"]),
                    text(&reply["description"])
                );
            }
        }
        ServicesCommand::Info { .. } => {
            for reply in &replies {
                println!(
                    "{} {} ({})  {}",
                    text(&reply["name"]),
                    text(&reply["version"]),
                    text(&reply["id"]),
                    text(&reply["description"])
                );
                for endpoint in reply["endpoints"].as_array().into_iter().flatten() {
                    let route = text(&endpoint["metadata"]["http"]);
                    println!(
                        "  {:<24} {:<34} queue {:<3} {}",
                        text(&endpoint["name"]),
                        text(&endpoint["subject"]),
                        text(&endpoint["queue_group"]),
                        route
                    );
                }
            }
        }
        ServicesCommand::Stats { .. } => {
            println!(
                "{:<8} {:<24} {:<24} {:>9} {:>7} {:>10}",
                "NAME", "ID", "ENDPOINT", "REQUESTS", "ERRORS", "AVG MS"
            );
            for reply in &replies {
                for endpoint in reply["endpoints"].as_array().into_iter().flatten() {
                    let average_ms =
                        endpoint["average_processing_time"].as_f64().unwrap_or(0.0) / 1e6;
                    println!(
                        "{:<8} {:<24} {:<24} {:>9} {:>7} {:>10.2}",
                        text(&reply["name"]),
                        text(&reply["id"]),
                        text(&endpoint["name"]),
                        endpoint["num_requests"].as_u64().unwrap_or(0),
                        endpoint["data"]["errors"].as_u64().unwrap_or(0),
                        average_ms
                    );
                }
            }
        }
    }
    if replies.is_empty() {
        eprintln!(
            "smsctl: no service answered {subject} within {} ms",
            DISCOVERY_WINDOW.as_millis()
        );
    }
}

async fn keys(
    client: &async_nats::Client,
    command: KeysCommand,
) -> Result<(), common::ServiceError> {
    match command {
        KeysCommand::Rotate { json } => {
            let rotated: serde_json::Value =
                admin_request(client, subjects::ADMIN_KEYS_ROTATE, &json!({})).await?;
            if json {
                println!("{rotated}");
            } else {
                println!(
                    "new active signing key: {}",
                    rotated["kid"].as_str().unwrap_or("?")
                );
            }
        }
        KeysCommand::List { json } => {
            let list: serde_json::Value =
                admin_request(client, subjects::ADMIN_KEYS_LIST, &json!({})).await?;
            if json {
                println!("{list}");
                return Ok(());
            }
            println!(
                "{:<44} {:<8} {:<10} {:<30} {:<30} PUBLISHED",
                "KID", "ALG", "STATUS", "CREATED", "RETIRED"
            );
            for key in list["keys"].as_array().into_iter().flatten() {
                let text = |name: &str| key[name].as_str().unwrap_or("-").to_owned();
                println!(
                    "{:<44} {:<8} {:<10} {:<30} {:<30} {}",
                    text("kid"),
                    text("algorithm"),
                    text("status"),
                    text("created_at"),
                    text("retired_at"),
                    key["published"].as_bool().unwrap_or(false)
                );
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(error) = run(Cli::parse()).await {
        eprintln!("smsctl: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let source = StackEnv::load(Path::new(".run/stack.env"));
    if let Command::Migrate = cli.command {
        let url = config::secret_or(
            &source,
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/sms",
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        let url = url.expose_secret();
        smsctl::migrate(url).await?;
        println!("migrations applied to {}", config::mask_url(url));
        return Ok(());
    }
    let nats = NatsConfig::from_source(&source).map_err(|error| anyhow::anyhow!("{error}"))?;
    let client = nats.connect("smsctl").await?;
    let failed =
        |error: common::ServiceError| anyhow::anyhow!("{} ({})", error.message, error.error);
    let command = match cli.command {
        Command::Partner(command) => command,
        Command::Keys(command) => {
            keys(&client, command).await.map_err(failed)?;
            client.flush().await.context("cannot flush NATS")?;
            return Ok(());
        }
        Command::Services(command) => {
            services(&client, command).await;
            return Ok(());
        }
        Command::Migrate => return Ok(()),
    };
    match command {
        PartnerCommand::Create { name, number, json } => {
            let body = json!({"name": name, "partnerNumber": number});
            let credentials: PartnerCredentials =
                admin_request(&client, subjects::ADMIN_PARTNERS_CREATE, &body)
                    .await
                    .map_err(failed)?;
            print_credentials(&credentials, json);
        }
        PartnerCommand::List { json } => {
            let list: PartnerList =
                admin_request(&client, subjects::ADMIN_PARTNERS_LIST, &json!({}))
                    .await
                    .map_err(failed)?;
            print_partners(&list.partners, json);
        }
        PartnerCommand::Get { number, json } => {
            let partner: PartnerView = admin_request(
                &client,
                subjects::ADMIN_PARTNERS_GET,
                &json!({"partnerNumber": number}),
            )
            .await
            .map_err(failed)?;
            print_partner(&partner, json);
        }
        PartnerCommand::RotateSecret {
            number,
            overlap,
            json,
        } => {
            let credentials: PartnerCredentials = admin_request(
                &client,
                subjects::ADMIN_PARTNERS_ROTATE_SECRET,
                &serde_json::to_value(RotateSecret {
                    partner_number: number,
                    overlap_seconds: overlap.map(|overlap| overlap.as_secs()),
                })
                .unwrap_or_default(),
            )
            .await
            .map_err(failed)?;
            print_credentials(&credentials, json);
        }
        PartnerCommand::Disable { number, json } | PartnerCommand::Enable { number, json } => {
            let subject = if matches!(command, PartnerCommand::Disable { .. }) {
                subjects::ADMIN_PARTNERS_DISABLE
            } else {
                subjects::ADMIN_PARTNERS_ENABLE
            };
            let partner: PartnerView =
                admin_request(&client, subject, &json!({"partnerNumber": number}))
                    .await
                    .map_err(failed)?;
            print_partner(&partner, json);
        }
    }
    client.flush().await.context("cannot flush NATS")?;
    Ok(())
}

/// `--overlap`: the services' duration syntax, in whole seconds of at least
/// one (a shorter overlap would silently be none, the opposite of intended).
fn parse_overlap(raw: &str) -> Result<std::time::Duration, String> {
    let overlap = common::config::parse_duration(raw)
        .ok_or_else(|| format!("{raw:?} is not a duration (use seconds, or 90m, 24h)"))?;
    if overlap.subsec_nanos() != 0 || overlap.is_zero() {
        return Err(format!(
            "{raw:?}: an overlap is whole seconds, at least 1 (leave --overlap out for none)"
        ));
    }
    Ok(overlap)
}
