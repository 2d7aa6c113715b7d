//! The NATS passwords the project generates are ones nats-server can read.
//! nats-server resolves `$SMS_NATS_…_PASSWORD` in its config as a config
//! value, not as text: a password such as `7e3f…` lexes as a number and the
//! server refuses to start (this stopped a test stack once in a few hundred,
//! and could stop `make run`). Passwords are therefore a letter, then
//! letters and digits, and `scripts/secrets.sh` replaces any older one that
//! is not.

use std::{collections::HashMap, path::Path};

use crate::harness::{nats_password, nats_server_bin, password_variable, workspace, NATS_USERS};

/// The shape every generated password has.
fn readable_by_nats_server(password: &str) -> bool {
    let mut characters = password.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && characters.all(|character| character.is_ascii_alphanumeric())
        && password.len() >= 16
}

/// `nats-server -t` (check the config, then exit) with these passwords.
async fn config_accepts(passwords: &HashMap<String, String>) -> Result<(), String> {
    let mut command = tokio::process::Command::new(nats_server_bin());
    command
        .arg("-c")
        .arg(workspace().join("nats/nats-server.conf"))
        .arg("-t");
    for user in NATS_USERS {
        command.env(password_variable(user), &passwords[user]);
    }
    let output = command.output().await.expect("run nats-server -t");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn passwords_with(gateway: &str) -> HashMap<String, String> {
    NATS_USERS
        .iter()
        .map(|user| {
            let password = if *user == "gateway" {
                gateway.to_owned()
            } else {
                nats_password()
            };
            (user.to_string(), password)
        })
        .collect()
}

/// The NATS passwords in a `secrets.env`.
fn passwords_in(file: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(file).expect("secrets.env");
    NATS_USERS
        .iter()
        .map(|user| {
            let prefix = format!("{}=", password_variable(user));
            let password = text
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"));
            (user.to_string(), password.to_owned())
        })
        .collect()
}

async fn run_secrets_script(run_dir: &Path) -> String {
    let output = tokio::process::Command::new("bash")
        .arg(workspace().join("scripts/secrets.sh"))
        .env("SMS_RUN_DIR", run_dir)
        .output()
        .await
        .expect("run scripts/secrets.sh");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "secrets.sh failed: {stderr}");
    stderr
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let directory = workspace()
        .join("target/it-secrets")
        .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

#[tokio::test]
async fn a_password_that_lexes_as_a_number_stops_nats_server_and_ours_never_do() {
    // The failing input of the flaky start: a hex password with a digit, an
    // `e` and a digit first.
    let refused = config_accepts(&passwords_with("7e3f0c1d2b4a49e8a6c1d2b4a49e8a6c")).await;
    assert!(
        refused.is_err(),
        "nats-server took a password that lexes as a number"
    );
    for _ in 0..500 {
        let password = nats_password();
        assert!(readable_by_nats_server(&password), "{password}");
    }
    config_accepts(&passwords_with(&nats_password()))
        .await
        .expect("a test password");
}

#[tokio::test]
async fn secrets_sh_makes_readable_passwords_and_replaces_unreadable_ones() {
    let mut seen = 0;
    for round in 0..20 {
        let directory = scratch_dir(&format!("fresh-{round}"));
        run_secrets_script(&directory).await;
        let file = directory.join("secrets.env");
        let passwords = passwords_in(&file);
        for password in passwords.values() {
            assert!(
                readable_by_nats_server(password),
                "secrets.sh made {password:?}"
            );
            seen += 1;
        }
        if round == 0 {
            config_accepts(&passwords)
                .await
                .expect("secrets.sh's passwords");
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&file).unwrap().permissions(),
            );
            assert_eq!(mode & 0o077, 0, "secrets.env is readable by others");
        }
        std::fs::remove_dir_all(&directory).unwrap();
    }
    assert_eq!(seen, 20 * NATS_USERS.len());

    // A file from the older script: its keys stay, its unreadable password
    // is replaced and the readable ones are kept.
    let directory = scratch_dir("older");
    let file = directory.join("secrets.env");
    let mut old = String::from(
        "SIGNING_KEY_ENCRYPTION_KEY=a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=\n\
         REFRESH_TOKEN_KEY=cmVmcmVzaHJlZnJlc2hyZWZyZXNocmVmcmVzaHJlZnI=\n\
         PARTNER_SECRET_PEPPER=cGVwcGVycGVwcGVycGVwcGVycGVwcGVycGVwcGVycGU=\n",
    );
    let kept = nats_password();
    for user in NATS_USERS {
        let password = if user == "auth" {
            "7e3f0c1d2b4a49e8a6c1d2b4a49e8a6c"
        } else {
            &kept
        };
        old.push_str(&format!("{}={password}\n", password_variable(user)));
    }
    std::fs::write(&file, &old).unwrap();
    let said = run_secrets_script(&directory).await;
    assert!(said.contains("SMS_NATS_AUTH_PASSWORD"), "{said}");
    let text = std::fs::read_to_string(&file).unwrap();
    for line in old.lines().take(3) {
        assert!(text.contains(line), "a key changed: {line}");
    }
    let passwords = passwords_in(&file);
    assert!(readable_by_nats_server(&passwords["auth"]));
    assert_ne!(passwords["auth"], "7e3f0c1d2b4a49e8a6c1d2b4a49e8a6c");
    assert_eq!(passwords["gateway"], kept);
    assert_eq!(text.matches("SMS_NATS_AUTH_PASSWORD=").count(), 1);
    config_accepts(&passwords)
        .await
        .expect("repaired passwords");
    std::fs::remove_dir_all(&directory).unwrap();
}
