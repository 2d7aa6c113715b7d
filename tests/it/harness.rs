//! The test harness: a real `nats-server` on a free port with the project's
//! config, a fresh Postgres database per stack, the services in-process
//! through their lib crates (or as compiled binaries), the gateway on port 0.

use std::{
    collections::HashMap, net::TcpListener as StdListener, path::PathBuf, process::Stdio,
    sync::OnceLock, time::Duration,
};

use base64::Engine;
use serde_json::{json, Value};
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::sync::CancellationToken;

/// Where the workspace is.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the compiled binaries are (`cargo build --bins` before the tests).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/it-xxxx → target/debug/<name>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join(name)
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn nats_server_bin() -> String {
    if let Ok(path) = std::env::var("NATS_SERVER_BIN") {
        return path;
    }
    for candidate in [
        "/usr/sbin/nats-server",
        "/usr/local/bin/nats-server",
        "/usr/bin/nats-server",
    ] {
        if std::path::Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    "nats-server".to_owned()
}

/// A child process that also dies when this test process dies: it runs
/// under `sh`, which kills it when our end of its stdin closes.
pub struct Guarded {
    pub child: Child,
    _stdin: ChildStdin,
}

pub fn spawn_guarded(
    program: &str,
    args: &[String],
    env: &HashMap<String, String>,
    log: Option<PathBuf>,
) -> Guarded {
    // `sh` forwards SIGTERM to the program and exits with its status; a
    // watcher kills the program when our end of the pipe on fd 3 closes.
    let script = r#"exec 3<&0
prog="$1"; shift
"$prog" "$@" & pid=$!
(read _ignored <&3; kill -TERM $pid 2>/dev/null) &
watcher=$!
trap 'kill -TERM $pid 2>/dev/null' TERM
status=0
while kill -0 $pid 2>/dev/null; do wait $pid; status=$?; done
kill $watcher 2>/dev/null
exit $status"#;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(program)
        .args(args);
    // A secret given as `<NAME>_FILE` must not meet an inherited `<NAME>`.
    for name in env.keys().filter_map(|name| name.strip_suffix("_FILE")) {
        command.env_remove(name);
    }
    command.envs(env).stdin(Stdio::piped()).kill_on_drop(true);
    match log {
        Some(path) => {
            let file = std::fs::File::create(&path).expect("log file");
            command
                .stdout(file.try_clone().expect("log file"))
                .stderr(file);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
    let stdin = child.stdin.take().expect("stdin");
    Guarded {
        child,
        _stdin: stdin,
    }
}

/// The NATS users of `nats/nats-server.conf`.
pub const NATS_USERS: [&str; 5] = ["gateway", "auth", "jwt", "admin", "extension"];

/// The environment variable holding `user`'s NATS password.
pub fn password_variable(user: &str) -> String {
    format!("SMS_NATS_{}_PASSWORD", user.to_uppercase())
}

/// A fresh NATS password. nats-server reads `$VARIABLE` references in its
/// config as config values, so a password must lex as a plain string: a
/// letter first, then letters and digits (`7e3f…` lexes as a number and the
/// server refuses to start; `1k` becomes 1000).
pub fn nats_password() -> String {
    format!("p{}", uuid::Uuid::new_v4().simple())
}

/// A running `nats-server` with the project's configuration and fresh passwords.
pub struct Nats {
    pub url: String,
    pub passwords: HashMap<String, String>,
    /// The CA to trust when the server requires TLS.
    pub tls_ca_file: Option<String>,
    _process: Guarded,
}

impl Nats {
    /// `NATS_URL`, `NATS_USER` and `NATS_PASSWORD` for `user`.
    pub fn user_env(&self, user: &str) -> HashMap<String, String> {
        let mut env = HashMap::from([
            ("NATS_URL".to_owned(), self.url.clone()),
            ("NATS_USER".to_owned(), user.to_owned()),
            ("NATS_PASSWORD".to_owned(), self.passwords[user].clone()),
        ]);
        if let Some(ca_file) = &self.tls_ca_file {
            env.insert("NATS_TLS_CA_FILE".to_owned(), ca_file.clone());
        }
        env
    }

    /// A connection as `user`, the way the programs connect.
    pub async fn connect(&self, user: &str) -> async_nats::Client {
        common::nats::NatsConfig::from_source(&self.user_env(user))
            .expect("nats config")
            .connect(&format!("test-{user}"))
            .await
            .expect("connect to test nats")
    }
}

pub async fn start_nats() -> Nats {
    start_nats_with(None).await
}

/// Certificate and key files for a TLS-only nats-server, and the CA that
/// signed them.
pub struct TlsFiles {
    pub cert_file: String,
    pub key_file: String,
    pub ca_file: String,
}

/// A fresh CA and a server certificate for 127.0.0.1 and localhost, written
/// under the target directory.
pub fn tls_files() -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let directory = workspace()
        .join("target/it-tls")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&directory).expect("tls directory");
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let write = |name: &str, pem: String| {
        let path = directory.join(name);
        std::fs::write(&path, pem).expect("write pem");
        path.display().to_string()
    };
    TlsFiles {
        cert_file: write("server.pem", server_cert.pem()),
        key_file: write("server-key.pem", server_key.serialize_pem()),
        ca_file: write("ca.pem", ca_cert.pem()),
    }
}

/// A nats-server with the project's configuration; with `tls`, it takes
/// only TLS connections.
pub async fn start_nats_with(tls: Option<&TlsFiles>) -> Nats {
    for _ in 0..5 {
        let port = free_port();
        let config = workspace().join("nats/nats-server.conf");
        let mut args = vec![
            "-c".to_owned(),
            config.display().to_string(),
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        if let Some(tls) = tls {
            args.extend([
                "--tls".to_owned(),
                "--tlscert".to_owned(),
                tls.cert_file.clone(),
                "--tlskey".to_owned(),
                tls.key_file.clone(),
            ]);
        }
        let passwords: HashMap<String, String> = NATS_USERS
            .iter()
            .map(|user| (user.to_string(), nats_password()))
            .collect();
        let env = passwords
            .iter()
            .map(|(user, password)| (password_variable(user), password.clone()))
            .collect();
        let log_dir = workspace().join("target/it-logs");
        std::fs::create_dir_all(&log_dir).expect("log directory");
        let log = log_dir.join(format!("nats-server-{port}.log"));
        let mut process = spawn_guarded(&nats_server_bin(), &args, &env, Some(log.clone()));
        for _ in 0..200 {
            if let Ok(Some(status)) = process.child.try_wait() {
                // Most likely the port was taken between free_port() and
                // the bind: try another.
                eprintln!(
                    "nats-server on port {port} exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                break;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Nats {
                    url: format!("nats://127.0.0.1:{port}"),
                    passwords,
                    tls_ca_file: tls.map(|tls| tls.ca_file.clone()),
                    _process: process,
                };
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    panic!(
        "nats-server did not start (is it installed? set NATS_SERVER_BIN; logs in target/it-logs)"
    );
}

pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, ""), |(base, query)| (base, query));
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let server = rest.split_once('/').map_or(rest, |(server, _)| server);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{server}/{database}{query}")
}

/// Drops databases left by earlier runs that died (none in use is touched).
async fn sweep_old_databases() {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let Ok(admin) = PgPoolOptions::new()
                .max_connections(1)
                .connect(&admin_database_url())
                .await
            else {
                return;
            };
            let names: Vec<String> = sqlx::query_scalar(
                "select datname from pg_database d where datname like 'sms_it_%'
                 and not exists (select 1 from pg_stat_activity a where a.datname = d.datname)",
            )
            .fetch_all(&admin)
            .await
            .unwrap_or_default();
            for name in names {
                let _ = sqlx::query(&format!("drop database if exists {name}"))
                    .execute(&admin)
                    .await;
            }
            admin.close().await;
        })
        .await;
}

/// A fresh, migrated database; dropped by [`Database::drop_now`].
pub struct Database {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

pub async fn fresh_database() -> Database {
    sweep_old_databases().await;
    let name = format!("sms_it_{}", uuid::Uuid::new_v4().simple());
    let url = with_database(&admin_database_url(), &name);
    smsctl::migrate(&url)
        .await
        .expect("create and migrate the test database");
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect(&url)
        .await
        .expect("connect to test database");
    Database { name, url, pool }
}

impl Database {
    pub async fn drop_now(self) {
        self.pool.close().await;
        if let Ok(admin) = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_database_url())
            .await
        {
            let _ = sqlx::query(&format!(
                "drop database if exists {} with (force)",
                self.name
            ))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

fn random_key() -> String {
    let bytes: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn rand_byte() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

/// Settings a test may change.
#[derive(Clone)]
pub struct Options {
    pub token_ttl: &'static str,
    pub token_min_remaining: &'static str,
    pub refresh_ttl: &'static str,
    pub leeway: &'static str,
    /// Reach Postgres through a proxy the test can cut (a database outage).
    pub database_proxy: bool,
    /// Failed logins that lock a partner number; high by default, since
    /// tests share partners and fail logins on purpose.
    pub login_max_failures: &'static str,
    pub login_failure_window: &'static str,
    /// Gateway rate limits, per second; high unless a test is about them.
    pub rate_limit_per_address: &'static str,
    pub rate_limit_per_partner: &'static str,
    /// Any other settings, set last.
    pub extra_env: &'static [(&'static str, &'static str)],
    /// A nats-server that takes only TLS; every program trusts its CA.
    pub nats_tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token_ttl: "3600",
            token_min_remaining: "60",
            refresh_ttl: "86400",
            leeway: "2",
            database_proxy: false,
            login_max_failures: "1000",
            login_failure_window: "300",
            rate_limit_per_address: "100000",
            rate_limit_per_partner: "100000",
            extra_env: &[],
            nats_tls: false,
        }
    }
}

/// A partner's credentials, as created through the admin subject.
#[derive(Debug, Clone)]
pub struct Partner {
    pub number: u32,
    pub uuid: String,
    pub secret: String,
}

/// The whole stack, in-process.
pub struct Stack {
    pub nats: Nats,
    pub database: Database,
    pub env: HashMap<String, String>,
    /// Connected as the gateway user (public subjects, `$SRV`).
    pub client: async_nats::Client,
    /// Connected as the admin user (`sms.admin.>`).
    pub admin_client: async_nats::Client,
    pub http: String,
    pub admin: String,
    tasks: Vec<Running>,
    /// Present when the stack reaches Postgres through a proxy it can cut.
    pub database_proxy: Option<DatabaseProxy>,
}

/// One in-process program and the token that stops it.
struct Running {
    name: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The environment every program of a stack gets.
pub fn stack_env(nats: &Nats, database: &Database, options: &Options) -> HashMap<String, String> {
    let mut env = HashMap::from([
        ("NATS_URL".to_owned(), nats.url.clone()),
        ("DATABASE_URL".to_owned(), database.url.clone()),
        ("DATABASE_MAX_CONNECTIONS".to_owned(), "8".to_owned()),
        ("SIGNING_KEY_ENCRYPTION_KEY".to_owned(), random_key()),
        ("REFRESH_TOKEN_KEY".to_owned(), random_key()),
        ("PARTNER_SECRET_PEPPER".to_owned(), random_key()),
        ("TOKEN_TTL".to_owned(), options.token_ttl.to_owned()),
        (
            "TOKEN_MIN_REMAINING".to_owned(),
            options.token_min_remaining.to_owned(),
        ),
        ("REFRESH_TTL".to_owned(), options.refresh_ttl.to_owned()),
        ("TOKEN_LEEWAY".to_owned(), options.leeway.to_owned()),
        ("REQUEST_TIMEOUT".to_owned(), "5".to_owned()),
        (
            "LOGIN_MAX_FAILURES".to_owned(),
            options.login_max_failures.to_owned(),
        ),
        (
            "LOGIN_FAILURE_WINDOW".to_owned(),
            options.login_failure_window.to_owned(),
        ),
        (
            "RATE_LIMIT_PER_ADDRESS".to_owned(),
            options.rate_limit_per_address.to_owned(),
        ),
        (
            "RATE_LIMIT_PER_PARTNER".to_owned(),
            options.rate_limit_per_partner.to_owned(),
        ),
        (
            "CORS_ALLOWED_ORIGINS".to_owned(),
            "https://partners.example".to_owned(),
        ),
        ("SHUTDOWN_GRACE".to_owned(), "5".to_owned()),
        ("HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("ADMIN_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ]);
    for (user, password) in &nats.passwords {
        env.insert(password_variable(user), password.clone());
    }
    if let Some(ca_file) = &nats.tls_ca_file {
        env.insert("NATS_TLS_CA_FILE".to_owned(), ca_file.clone());
    }
    for (name, value) in options.extra_env {
        env.insert((*name).to_owned(), (*value).to_owned());
    }
    env
}

/// The stack's environment as `user` sees it: its own NATS credentials.
pub fn program_env(env: &HashMap<String, String>, user: &str) -> HashMap<String, String> {
    let mut env = env.clone();
    env.insert("NATS_USER".to_owned(), user.to_owned());
    env.insert(
        "NATS_PASSWORD".to_owned(),
        env[&password_variable(user)].clone(),
    );
    env
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        // Service logs go to the test's captured output, shown when it fails.
        common::telemetry::init(common::telemetry::LogFormat::Text);
        let tls = options.nats_tls.then(tls_files);
        let nats = start_nats_with(tls.as_ref()).await;
        let database = fresh_database().await;
        let mut env = stack_env(&nats, &database, &options);
        let mut proxy = None;
        if options.database_proxy {
            let started = DatabaseProxy::start(database_upstream()).await;
            env.insert(
                "DATABASE_URL".into(),
                with_host(&database.url, &format!("127.0.0.1:{}", started.port)),
            );
            proxy = Some(started);
        }
        let mut stack = Self::on(nats, database, env).await;
        stack.database_proxy = proxy;
        stack.start_jwt().await;
        stack.start_auth().await;
        stack.start_gateway().await;
        stack.wait_ready().await;
        stack
    }

    async fn on(nats: Nats, database: Database, env: HashMap<String, String>) -> Self {
        let client = nats.connect("gateway").await;
        let admin_client = nats.connect("admin").await;
        Self {
            nats,
            database,
            env,
            client,
            admin_client,
            http: String::new(),
            admin: String::new(),
            tasks: Vec::new(),
            database_proxy: None,
        }
    }

    fn launch<F>(
        &mut self,
        name: String,
        program: impl FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> F,
    ) where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(program(Box::pin(async move { token.cancelled().await })));
        self.tasks.push(Running { name, stop, task });
    }

    /// Stops one program (as SIGTERM would) and waits for it to finish cleanly.
    pub async fn stop_program(&mut self, name: &str) {
        let at = self
            .tasks
            .iter()
            .position(|running| running.name == name)
            .expect("program running");
        let running = self.tasks.remove(at);
        finish(running).await;
    }

    /// Stops the jwt service and starts a new instance (same settings, same database).
    pub async fn restart_jwt(&mut self) {
        self.stop_program("jwt").await;
        self.start_jwt().await;
        self.wait_ready().await;
    }

    pub async fn start_jwt(&mut self) {
        self.start_jwt_named("jwt").await;
    }

    /// Another jwt instance, stopped by its `name`.
    pub async fn start_jwt_named(&mut self, name: &str) {
        let config =
            jwt::JwtConfig::from_source(&program_env(&self.env, "jwt")).expect("jwt config");
        let pool = config
            .pool_options()
            .connect(&self.env["DATABASE_URL"])
            .await
            .expect("jwt pool");
        let client = self.nats.connect("jwt").await;
        self.launch(name.to_owned(), move |shutdown| {
            jwt::run(config, pool, client, shutdown)
        });
    }

    pub async fn start_auth(&mut self) {
        self.start_auth_named("auth").await;
    }

    /// Another auth instance, stopped by its `name`.
    pub async fn start_auth_named(&mut self, name: &str) {
        let config =
            auth::AuthConfig::from_source(&program_env(&self.env, "auth")).expect("auth config");
        let pool = config
            .pool_options()
            .connect(&self.env["DATABASE_URL"])
            .await
            .expect("auth pool");
        let client = self.nats.connect("auth").await;
        self.launch(name.to_owned(), move |shutdown| {
            auth::run(config, pool, client, shutdown)
        });
    }

    pub async fn start_gateway(&mut self) {
        let config = gateway::GatewayConfig::from_source(&program_env(&self.env, "gateway"))
            .expect("gateway config");
        let public = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let operator = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.http = format!("http://{}", public.local_addr().expect("addr"));
        self.admin = format!("http://{}", operator.local_addr().expect("addr"));
        let client = self.nats.connect("gateway").await;
        self.launch("gateway".to_owned(), move |shutdown| {
            gateway::serve(config, client, public, operator, shutdown)
        });
    }

    /// Waits until `/readyz` says every service answers.
    pub async fn wait_ready(&self) {
        wait_ready(&self.http).await;
    }

    /// Stops every program, checks each stopped cleanly, drops the database.
    pub async fn stop(mut self) {
        if let Some(proxy) = &self.database_proxy {
            proxy.restore().await;
        }
        // Gateway first, as an operator would stop them.
        while let Some(running) = self.tasks.pop() {
            finish(running).await;
        }
        self.database.drop_now().await;
    }

    pub async fn create_partner(&self, name: &str) -> Partner {
        create_partner(&self.admin_client, name).await
    }

    /// A NATS request; the reply body or the ADR-32 error.
    /// A NATS request as the user allowed to make it: admin for
    /// `sms.admin.>`, the gateway for the rest.
    pub async fn request(&self, subject: &str, body: Value) -> Result<Value, common::ServiceError> {
        let client = if subject.starts_with("sms.admin.") {
            &self.admin_client
        } else {
            &self.client
        };
        nats_request(client, subject, body).await
    }

    pub fn pool(&self) -> &PgPool {
        &self.database.pool
    }
}

async fn finish(running: Running) {
    running.stop.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(15), running.task)
        .await
        .unwrap_or_else(|_| panic!("{} did not stop within 15 s", running.name))
        .unwrap_or_else(|_| panic!("{} panicked", running.name));
    outcome.unwrap_or_else(|error| panic!("{} stopped with an error: {error}", running.name));
}

/// `host:port` of the test Postgres.
fn database_upstream() -> String {
    let url = admin_database_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let server = rest.split(['/', '?']).next().unwrap_or("127.0.0.1:5432");
    if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:5432")
    }
}

/// `url` pointed at `server` (`host:port`) instead.
fn with_host(url: &str, server: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (user, rest) = rest
        .rsplit_once('@')
        .map_or(("", rest), |(user, rest)| (user, rest));
    let path = rest.find(['/', '?']).map_or("", |at| &rest[at..]);
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("{scheme}://{user}{server}{path}")
}

/// A TCP proxy in front of Postgres: `cut` drops every connection and
/// refuses new ones (a database outage), `restore` brings it back.
pub struct DatabaseProxy {
    pub port: u16,
    upstream: String,
    running: tokio::sync::Mutex<Option<CancellationToken>>,
}

impl DatabaseProxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Self {
            port,
            upstream,
            running: tokio::sync::Mutex::new(None),
        };
        proxy.serve(listener).await;
        proxy
    }

    async fn serve(&self, listener: tokio::net::TcpListener) {
        let stop = CancellationToken::new();
        *self.running.lock().await = Some(stop.clone());
        let upstream = self.upstream.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let upstream = upstream.clone();
                        let stop = stop.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                            tokio::select! {
                                () = stop.cancelled() => {}
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            }
                        });
                    }
                }
            }
        });
    }

    /// Drops every connection and refuses new ones.
    pub async fn cut(&self) {
        if let Some(stop) = self.running.lock().await.take() {
            stop.cancel();
        }
        // Let the listener close before anyone tries again.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Accepts connections again, on the same port.
    pub async fn restore(&self) {
        if self.running.lock().await.is_some() {
            return;
        }
        for _ in 0..50 {
            if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(listener).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot bind the database proxy again on port {}", self.port);
    }
}

pub async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stack at {base} did not become ready");
}

pub async fn nats_request(
    client: &async_nats::Client,
    subject: &str,
    body: Value,
) -> Result<Value, common::ServiceError> {
    let payload = bytes::Bytes::from(serde_json::to_vec(&body).expect("json"));
    let reply = common::nats::request(
        client,
        subject,
        async_nats::HeaderMap::new(),
        payload,
        Duration::from_secs(10),
    )
    .await?;
    Ok(serde_json::from_slice(&reply).expect("a JSON reply"))
}

pub async fn create_partner(client: &async_nats::Client, name: &str) -> Partner {
    let created = nats_request(
        client,
        common::subjects::ADMIN_PARTNERS_CREATE,
        json!({"name": name}),
    )
    .await
    .expect("create partner");
    Partner {
        number: created["partnerNumber"].as_u64().expect("number") as u32,
        uuid: created["partnerUuid"].as_str().expect("uuid").to_owned(),
        secret: created["partnerSecret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    }
}

/// A partner's registration body, the original's shape, with `edit` applied.
pub fn registration(partner: &Partner, edit: impl FnOnce(&mut Value)) -> Value {
    let future = (time::OffsetDateTime::now_utc().date() + time::Duration::days(365)).to_string();
    let mut body = json!({
        "partnerCredential": {"partnerUuid": partner.uuid, "partnerSecret": partner.secret},
        "enrollmentDetail": {"partnerNumber": partner.number, "subscriberData": {
            "firstName": "Asha", "lastName": "Rao", "phoneNumber": 9876543210u64, "email": "asha@example.com",
            "billingDetail": {"address": "12 Harbour Road", "cardDetail": {
                "cardNumber": "4111111111111111", "cardType": "VISA", "cardHolder": "Asha Rao",
                "cardExpiry": future}}}}
    });
    edit(&mut body);
    body
}

/// Client-credentials login over HTTP (Basic), the raw response.
pub async fn login_response(http: &str, partner: &Partner) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{http}/v1/auth/token"))
        .basic_auth(partner.number, Some(&partner.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
}

/// Client-credentials login over HTTP; the response status and JSON body.
pub async fn login(http: &str, partner: &Partner) -> (u16, Value) {
    status_and_json(login_response(http, partner).await).await
}

/// The original `/auth/register` with a valid body for `partner`.
pub async fn register(http: &str, partner: &Partner) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{http}/auth/register"))
        .json(&registration(partner, |_| {}))
        .send()
        .await
        .expect("register request");
    status_and_json(response).await
}

/// A form POST to `path`; the response status and JSON body.
pub async fn post_form(http: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{http}{path}"))
        .form(form)
        .send()
        .await
        .expect("form request");
    status_and_json(response).await
}

/// `GET url`, its JSON body.
pub async fn get_json(url: &str) -> Value {
    reqwest::get(url)
        .await
        .expect("GET")
        .json()
        .await
        .expect("a JSON body")
}

async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The shared stack for tests that only read: started once, on its own
/// runtime, for the whole test process.
pub struct Shared {
    pub http: String,
    pub partner: Partner,
}

pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let stack = Stack::start().await;
                let partner = stack.create_partner("shared").await;
                let _ = sender.send(Shared {
                    http: stack.http.clone(),
                    partner,
                });
                // Lives as long as the test process.
                std::future::pending::<()>().await;
                drop(stack);
            });
        });
        receiver.recv().expect("shared stack started")
    })
}
