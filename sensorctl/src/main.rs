//! `sensorctl`: the analysts' client of the collector. `findings` pages through
//! stored findings, `tail` follows new ones, `stats` counts them; filters are
//! written in the rule condition language (`k8s.ns.name = prod and proc.name in
//! (sh, bash)`).

mod config;
mod show;
mod table;
mod time;

use std::{
    io::{IsTerminal as _, Write as _},
    process::ExitCode,
    time::SystemTime,
};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sensor_proto::{
    client::endpoint,
    v1::{
        Order, QueryRequest, StatsBy, StatsRequest, TailRequest, collector_client::CollectorClient,
    },
};
use tonic::transport::Channel;

use crate::{config::ConnArgs, show::Format};

/// Query the findings the collector stores.
#[derive(Debug, Parser)]
#[command(name = "sensorctl", version, about)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stored findings, newest first.
    Findings {
        /// From this long ago (`1h`, `30m`) or this time (RFC 3339).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Up to this long ago or this time (excluded).
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Only findings this filter holds for.
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// At most this many findings.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Oldest first.
        #[arg(long)]
        oldest_first: bool,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// New findings as they are stored, until Ctrl-C.
    Tail {
        /// Only findings this filter holds for.
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Findings counted by rule, priority, namespace or node.
    Stats {
        /// What to count by.
        #[arg(long, value_enum, default_value_t = By::Rule)]
        by: By,
        /// From this long ago or this time.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Up to this long ago or this time (excluded).
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Count per time bucket of this length (`1h`); default: one bucket.
        #[arg(long, value_name = "DURATION")]
        bucket: Option<String>,
        /// Only findings this filter holds for.
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// What `stats` counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum By {
    Rule,
    Priority,
    Namespace,
    Node,
}

fn instant(s: Option<&String>, now: SystemTime) -> anyhow::Result<u64> {
    s.map_or(Ok(0), |s| {
        time::parse_instant(s, now).map_err(anyhow::Error::msg)
    })
}

/// Colour only for a terminal, and never with `NO_COLOR` set.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

async fn connect(conn: &ConnArgs) -> anyhow::Result<CollectorClient<Channel>> {
    let conn = conn.resolve()?;
    let channel = endpoint(&conn.url, &conn.tls)?
        .connect()
        .await
        .with_context(|| format!("cannot reach the collector at {}", conn.url))?;
    Ok(CollectorClient::new(channel).max_decoding_message_size(64 << 20))
}

/// A gRPC error as the analyst should read it.
fn status(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("the collector says {:?}: {}", s.code(), s.message())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let mut client = connect(&cli.conn).await?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Findings {
            since,
            until,
            filter,
            limit,
            oldest_first,
            format,
        } => {
            let mut request = QueryRequest {
                filter: filter.unwrap_or_default(),
                since_unix_nano: instant(since.as_ref(), now)?,
                until_unix_nano: instant(until.as_ref(), now)?,
                order: if oldest_first {
                    Order::OldestFirst
                } else {
                    Order::NewestFirst
                } as i32,
                page_size: 0,
                page_token: String::new(),
            };
            let mut shown = 0;
            let mut heading = true;
            while shown < limit {
                request.page_size = u32::try_from((limit - shown).min(1000)).unwrap_or(1000);
                let page = client
                    .query(request.clone())
                    .await
                    .map_err(status)?
                    .into_inner();
                let take = page.findings.len().min(limit - shown);
                show::findings(&mut out, &page.findings[..take], format, colour(), heading)?;
                heading = false;
                shown += take;
                if page.next_page_token.is_empty() || take == 0 {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            if shown == 0 && format == Format::Table {
                writeln!(std::io::stderr(), "no findings")?;
            }
        }
        Command::Tail { filter, format } => {
            let request = TailRequest {
                filter: filter.unwrap_or_default(),
            };
            let mut stream = client.tail(request).await.map_err(status)?.into_inner();
            let mut heading = true;
            loop {
                tokio::select! {
                    next = stream.message() => match next.map_err(status)? {
                        Some(f) => {
                            show::findings(&mut out, std::slice::from_ref(&f), format, colour(), heading)?;
                            heading = false;
                        }
                        None => anyhow::bail!("the collector ended the stream"),
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
        }
        Command::Stats {
            by,
            since,
            until,
            bucket,
            filter,
            format,
        } => {
            let bucket_seconds = match &bucket {
                Some(b) => time::parse_duration(b)
                    .map_err(anyhow::Error::msg)?
                    .as_secs()
                    .max(1),
                None => 0,
            };
            let (by, name) = match by {
                By::Rule => (StatsBy::Rule, "rule"),
                By::Priority => (StatsBy::Priority, "priority"),
                By::Namespace => (StatsBy::Namespace, "namespace"),
                By::Node => (StatsBy::Node, "node"),
            };
            let request = StatsRequest {
                by: by as i32,
                since_unix_nano: instant(since.as_ref(), now)?,
                until_unix_nano: instant(until.as_ref(), now)?,
                bucket_seconds,
                filter: filter.unwrap_or_default(),
            };
            let stats = client.stats(request).await.map_err(status)?.into_inner();
            show::stats(&mut out, &stats.buckets, name, format)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sensorctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`sensorctl findings | head`) is not an error.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("sensorctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
