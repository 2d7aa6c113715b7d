//! The compiled programs, each its own process, as an operator runs them.

use std::{collections::HashMap, time::Duration};

use crate::harness::{self, binary, fresh_database, stack_env, start_nats, Options};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `env` with each secret moved into a file (mode 600) under `directory`
/// and named by `<NAME>_FILE`, as Docker and Kubernetes mount secrets.
fn secrets_in_files(
    mut env: HashMap<String, String>,
    directory: &std::path::Path,
) -> HashMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(directory).unwrap();
    let mut moved = 0;
    for name in [
        "NATS_PASSWORD",
        "DATABASE_URL",
        "SIGNING_KEY_ENCRYPTION_KEY",
        "REFRESH_TOKEN_KEY",
        "PARTNER_SECRET_PEPPER",
    ] {
        if let Some(value) = env.remove(name) {
            let file = directory.join(name.to_lowercase());
            std::fs::write(&file, format!("{value}\n")).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
            env.insert(format!("{name}_FILE"), file.display().to_string());
            moved += 1;
        }
    }
    assert!(moved >= 3, "no secrets to move");
    env
}

async fn terminate(process: &mut harness::Guarded, name: &str) {
    let pid = process.child.id().expect("running");
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(15), process.child.wait())
        .await
        .unwrap_or_else(|_| panic!("{name} did not stop within 15 s of SIGTERM"))
        .unwrap();
    assert!(status.success(), "{name} exited with {status}");
}

#[tokio::test]
async fn the_compiled_programs_serve_a_login_and_stop_cleanly_on_sigterm() {
    let nats = start_nats().await;
    let database = fresh_database().await;
    let mut env: HashMap<String, String> = stack_env(&nats, &database, &Options::default());
    let http_port = harness::free_port();
    let admin_port = harness::free_port();
    env.insert("HTTP_ADDR".into(), format!("127.0.0.1:{http_port}"));
    env.insert("ADMIN_ADDR".into(), format!("127.0.0.1:{admin_port}"));
    let logs = std::env::temp_dir().join(format!("sms-it-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&logs).unwrap();
    let mut programs = Vec::new();
    for name in ["jwt", "auth", "gateway"] {
        let path = binary(name);
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --bins` first (make test does)",
            path.display()
        );
        let mut program_env = harness::program_env(&env, name);
        if name != "gateway" {
            // jwt and auth read every secret from a file; the gateway from
            // its environment: both ways reach the same stack.
            program_env = secrets_in_files(program_env, &logs.join(format!("{name}-secrets")));
        }
        programs.push((
            name,
            harness::spawn_guarded(
                &path.display().to_string(),
                &[],
                &program_env,
                Some(logs.join(format!("{name}.log"))),
            ),
        ));
    }
    let http = format!("http://127.0.0.1:{http_port}");
    harness::wait_ready(&http).await;
    let client = nats.connect("admin").await;
    let partner = harness::create_partner(&client, "binaries").await;
    let request_id = format!("it-trace-{}", uuid::Uuid::new_v4().simple());
    let response = reqwest::Client::new()
        .post(format!("{http}/v1/auth/token"))
        .header("X-Request-Id", &request_id)
        .header("traceparent", TRACEPARENT)
        .basic_auth(partner.number, Some(&partner.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    let token: serde_json::Value = response.json().await.unwrap();
    let validated = reqwest::Client::new()
        .get(format!("{http}/validate/token"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(validated.status(), 200);
    for (name, process) in programs.iter_mut().rev() {
        terminate(process, name).await;
    }
    let jwt_log = std::fs::read_to_string(logs.join("jwt.log")).unwrap();
    assert!(
        jwt_log.contains("jwt starting"),
        "settings line missing: {jwt_log}"
    );
    assert!(jwt_log.contains("SIGNING_KEY_ENCRYPTION_KEY=****"));
    assert!(
        !jwt_log.contains(&env["SIGNING_KEY_ENCRYPTION_KEY"]),
        "a secret in the log"
    );
    assert!(
        jwt_log.contains("stopped"),
        "no clean stop in the log: {jwt_log}"
    );
    for name in ["gateway", "auth", "jwt"] {
        let log = std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap();
        assert!(
            name == "gateway" || log.contains(TRACEPARENT),
            "the traceparent did not reach the {name} log"
        );
        assert!(
            log.contains(&request_id),
            "the request id did not reach the {name} log"
        );
    }
    let all_logs: String = ["jwt", "auth", "gateway"]
        .iter()
        .map(|name| std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap())
        .collect();
    for secret in [
        partner.secret.as_str(),
        token["access_token"].as_str().unwrap(),
        token["refresh_token"].as_str().unwrap(),
        env["PARTNER_SECRET_PEPPER"].as_str(),
    ] {
        assert!(
            !all_logs.contains(secret),
            "a secret or token reached a log line"
        );
    }
    let _ = std::fs::remove_dir_all(&logs);
    drop(client);
    database.drop_now().await;
}

#[tokio::test]
async fn a_program_with_a_bad_setting_exits_at_once_naming_it() {
    let output = tokio::process::Command::new(binary("jwt"))
        .env_clear()
        .env("TOKEN_TTL", "soon")
        .env("SIGNING_KEY_ENCRYPTION_KEY", "x")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOKEN_TTL"), "{stderr}");
    let output = tokio::process::Command::new(binary("auth"))
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PARTNER_SECRET_PEPPER"));
    // Durations that would overflow a clock reading, or make every
    // connection time out at once, are settings errors, not panics.
    for (name, value) in [
        ("HTTP_BODY_TIMEOUT", "18446744073709551615"),
        ("HTTP_HEADER_TIMEOUT", "18446744073709551615"),
        ("HTTP_HEADER_TIMEOUT", "0"),
        ("REQUEST_TIMEOUT", "876000h"),
    ] {
        let output = tokio::process::Command::new(binary("gateway"))
            .env_clear()
            .env(name, value)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{name}={value}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[tokio::test]
async fn a_service_whose_subscriptions_are_denied_fails_at_start_saying_so() {
    let nats = start_nats().await;
    let database = fresh_database().await;
    let env = stack_env(&nats, &database, &Options::default());
    // The jwt program with the gateway's NATS user: may not subscribe to sms.jwt.>.
    let output = tokio::process::Command::new(binary("jwt"))
        .env_clear()
        .envs(harness::program_env(&env, "gateway"))
        .output();
    let output = tokio::time::timeout(Duration::from_secs(15), output)
        .await
        .expect("jwt exits instead of running without its subscriptions")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused this service's subscriptions"),
        "{stderr}"
    );
    database.drop_now().await;
}
