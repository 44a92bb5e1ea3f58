//! `collector`: serves sensors and analysts over mutual TLS, keeping findings
//! in SQLite; `collector dev-certs` makes development certificates.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use collector::{
    certs,
    server::{self, Config, TlsPem},
    store::SqliteStore,
};
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

// Ingest decodes and prepares hundreds of thousands of small strings a second
// on every runtime thread, and each 500-finding message arrives in a buffer
// that grows to most of a megabyte: glibc's malloc spent a third of those
// threads' time in its own locks and chunk merging. mimalloc's per-thread
// heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stores the findings sensors send and answers analysts' queries.
#[derive(Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a development CA, a server certificate and client certificates.
    DevCerts(DevCertsArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, env = "COLLECTOR_LISTEN", required = true)]
    listen: Option<SocketAddr>,
    /// The SQLite file (created when missing).
    #[arg(long, env = "COLLECTOR_DB", required = true)]
    db: Option<PathBuf>,
    /// The server's certificate chain (PEM).
    #[arg(long, env = "COLLECTOR_TLS_CERT", required = true)]
    tls_cert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long, env = "COLLECTOR_TLS_KEY", required = true)]
    tls_key: Option<PathBuf>,
    /// The CA that client certificates must chain to (PEM).
    #[arg(long, env = "COLLECTOR_CLIENT_CA", required = true)]
    client_ca: Option<PathBuf>,
    /// Findings older than this are removed ("30d", "12h"; "0" keeps them).
    #[arg(long, env = "COLLECTOR_RETENTION_AGE", default_value = "30d", value_parser = parse_age)]
    retention_age: Duration,
    /// The oldest findings beyond this size are removed ("10GiB"; none by default).
    #[arg(long, env = "COLLECTOR_RETENTION_BYTES", value_parser = parse_bytes)]
    retention_bytes: Option<u64>,
    /// The largest message a client may send.
    #[arg(long, env = "COLLECTOR_MAX_MESSAGE_BYTES", default_value = "4MiB", value_parser = parse_bytes)]
    max_message_bytes: u64,
    /// The most findings one batch may hold.
    #[arg(long, env = "COLLECTOR_MAX_BATCH", default_value_t = 5000)]
    max_batch: usize,
}

#[derive(Args)]
struct DevCertsArgs {
    /// Where to write them (an existing CA there is reused).
    #[arg(long)]
    dir: PathBuf,
    /// DNS names or IP addresses of the server (default: localhost, 127.0.0.1, ::1).
    #[arg(long = "server-name")]
    server_names: Vec<String>,
    /// A node to make a client certificate for (repeatable).
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Another client (an analyst, sensorctl) to make a certificate for.
    #[arg(long = "client")]
    clients: Vec<String>,
}

/// A duration; "0" is zero (keep everything).
fn parse_age(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// Bytes with an optional binary (KiB, MiB, GiB, TiB) or decimal (K, M, G, T,
/// KB, ...) suffix.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("`{s}` is not a size"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(format!("unknown unit in `{s}`")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for people: log files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::DevCerts(args)) => dev_certs(args),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?
            .block_on(serve(cli.serve)),
    }
}

fn dev_certs(args: DevCertsArgs) -> Result<()> {
    let clients: Vec<String> = args.nodes.into_iter().chain(args.clients).collect();
    let written = certs::write_dev_certs(&args.dir, &args.server_names, &clients)?;
    let verb = if written.ca_created {
        "created"
    } else {
        "reused"
    };
    println!("{verb} CA {}", written.ca.display());
    println!(
        "server {} {}",
        written.server.0.display(),
        written.server.1.display()
    );
    for (name, cert, key) in &written.clients {
        println!("client {name} {} {}", cert.display(), key.display());
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    // clap makes these required unless a subcommand is given.
    let (Some(listen), Some(db), Some(cert), Some(key), Some(ca)) = (
        args.listen,
        args.db,
        args.tls_cert,
        args.tls_key,
        args.client_ca,
    ) else {
        anyhow::bail!("--listen, --db, --tls-cert, --tls-key and --client-ca are required");
    };
    let tls = TlsPem::from_files(&cert, &key, &ca)?;
    let mut config = Config::new(tls);
    config.max_message_bytes =
        usize::try_from(args.max_message_bytes).context("--max-message-bytes is too large")?;
    config.max_batch = args.max_batch;
    config.retention.max_age = (!args.retention_age.is_zero()).then_some(args.retention_age);
    config.retention.max_bytes = args.retention_bytes;
    let store = SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    info!(%addr, db = %db.display(), "collector listening");
    // On stdout, one line, for scripts and tests that asked for port 0.
    println!("listening on {addr}");
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT"),
        }
    };
    server::serve(config, Arc::new(store), listener, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_read_with_their_units() {
        assert_eq!(parse_bytes("4MiB"), Ok(4 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("2 G"), Ok(2_000_000_000));
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("4XB").is_err());
        assert!(parse_bytes("99999999999999TiB").is_err());
    }
}
