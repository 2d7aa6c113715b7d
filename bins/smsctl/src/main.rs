//! smsctl: operate the stack. Partners and keys over the admin NATS
//! subjects, migrations straight to Postgres.

use std::path::Path;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::{
    config,
    nats::NatsConfig,
    subjects,
    wire::{PartnerCredentials, PartnerList, PartnerView},
};
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
    /// Give a partner a new secret (shown once); its tokens stop working.
    RotateSecret {
        number: u32,
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
        println!(
            "{}",
            json!({"partnerNumber": credentials.partner_number, "partnerUuid": credentials.partner_uuid,
                   "partnerSecret": credentials.partner_secret, "name": credentials.name})
        );
    } else {
        println!("partner number: {}", credentials.partner_number);
        println!("partner uuid:   {}", credentials.partner_uuid);
        println!("partner secret: {}", credentials.partner_secret);
        println!("name:           {}", credentials.name);
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
    }
}

fn print_partner(partner: &PartnerView, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(partner).unwrap_or_default());
    } else {
        print_partners(std::slice::from_ref(partner), false);
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
                "{:<44} {:<8} {:<10} {:<26} {:<26} PUBLISHED",
                "KID", "ALG", "STATUS", "CREATED", "RETIRED"
            );
            for key in list["keys"].as_array().into_iter().flatten() {
                let text = |name: &str| key[name].as_str().unwrap_or("-").to_owned();
                println!(
                    "{:<44} {:<8} {:<10} {:<26} {:<26} {}",
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
        let url = config::string(
            &source,
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/sms",
        );
        smsctl::migrate(&url).await?;
        println!("migrations applied to {}", config::mask_url(&url));
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
        PartnerCommand::RotateSecret { number, json } => {
            let credentials: PartnerCredentials = admin_request(
                &client,
                subjects::ADMIN_PARTNERS_ROTATE_SECRET,
                &json!({"partnerNumber": number}),
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
