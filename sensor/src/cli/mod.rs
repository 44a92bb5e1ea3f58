//! The `sensor` command line.

mod context;
mod fields;
mod pipeline;
mod rules;
mod run;
mod trace;

use clap::{Parser, Subcommand};

pub use context::ContextArgs;
pub use run::RunArgs;
pub use trace::TraceArgs;

/// Runtime security sensor for Kubernetes nodes.
#[derive(Debug, Parser)]
#[command(name = "sensor", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The sensor's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every kernel event as one JSON object per line, until Ctrl-C or SIGTERM.
    Trace(Box<TraceArgs>),
    /// Test every event against the detection rules and report findings, until
    /// Ctrl-C or SIGTERM; SIGHUP or a change of the rule files reloads the rules.
    Run(Box<RunArgs>),
    /// Work with detection rule files.
    Rules {
        /// What to do with them.
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Print the catalogue of event fields used in output, rules and queries.
    Fields {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Trace(args) => trace::run(&args),
            Command::Run(args) => run::run(&args),
            Command::Fields { json } => fields::run(json),
            Command::Rules { command } => rules::run(&command),
        }
    }
}

/// The log filter when `RUST_LOG` is unset. `aya::bpf` is held to errors because
/// aya-log-ebpf 0.2 declares its level as `Global<u8>`, whose BTF type name
/// (`MaybeUninit<u8>`) kernels refuse; aya then loads the object without its BTF,
/// which costs nothing the sensor uses, but warns with a dump of the whole BTF.
pub const DEFAULT_LOG_FILTER: &str = "info,aya::bpf=error";

/// Logs go to stderr through `tracing`, filtered by `RUST_LOG` (default
/// [`DEFAULT_LOG_FILTER`]), so that stdout carries nothing but events.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
