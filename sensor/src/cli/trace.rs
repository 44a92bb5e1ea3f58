//! `sensor trace`: every kernel event as a JSON line on stdout.

use std::io::{self, BufWriter, Write};

use anyhow::Context as _;
use clap::Args;

use super::{
    context::ContextArgs,
    pipeline::{self, RingArgs, Sink},
};
use crate::{
    config::AgentConfig,
    context::Enricher,
    event::{
        Event, EventKind,
        clock::{self, BootClock},
        kind_by_name, kind_name,
    },
    kernel::{AddrRange, KernelConfig, OpenFilter, counters::DropDelta},
    output::{context as who_json, json},
};

/// Options of `sensor trace`.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// How the ring buffer is read.
    #[command(flatten)]
    pub ring: RingArgs,
    /// Event kinds to report, comma-separated (exec, fork, exit); the others are
    /// dropped in the kernel. Default: all.
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub events: Vec<EventKind>,
    /// Report opens for reading only under this path prefix (repeatable; `/etc/`
    /// watches a directory). With no --watch-read or --watch-write, every open is
    /// reported.
    #[arg(long, value_name = "PREFIX")]
    pub watch_read: Vec<String>,
    /// Report opens for writing only under this path prefix (repeatable).
    #[arg(long, value_name = "PREFIX")]
    pub watch_write: Vec<String>,
    /// Report successful opens for reading of files with this name, wherever
    /// they are (repeatable; `config.json`). Turns the open filter on as the
    /// prefixes do.
    #[arg(long, value_name = "NAME")]
    pub watch_read_name: Vec<String>,
    /// Report successful opens for writing of files with this name (repeatable).
    #[arg(long, value_name = "NAME")]
    pub watch_write_name: Vec<String>,
    /// Report only processes in this cgroup subtree (repeatable), a path in the
    /// cgroup v2 hierarchy such as `/kubepods`: host processes outside it are left
    /// out. Default: every process.
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroups: Vec<std::path::PathBuf>,
    /// Report network events only for this port (repeatable): the remote port of
    /// a connect, the local port of an accept or listen. Default: every port.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Report network events only for this address range (repeatable), as
    /// `10.0.0.0/8`, `fd00::/8` or an address: the remote address of a connect or
    /// accept, the local one of a bind or listen. Default: every address.
    #[arg(long = "addr", value_name = "CIDR")]
    pub addrs: Vec<AddrRange>,
    /// The agent's config file (YAML); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Where the process, container and pod context comes from.
    #[command(flatten)]
    pub context: ContextArgs,
}

fn parse_kind(name: &str) -> Result<EventKind, String> {
    kind_by_name(name).ok_or_else(|| {
        let known: Vec<_> = EventKind::ALL.into_iter().map(kind_name).collect();
        format!("unknown event kind {name:?}; known: {}", known.join(", "))
    })
}

impl TraceArgs {
    fn kernel_config(&self) -> KernelConfig {
        KernelConfig {
            kinds: if self.events.is_empty() {
                EventKind::ALL.to_vec()
            } else {
                self.events.clone()
            },
            open_filter: (!self.watch_read.is_empty()
                || !self.watch_write.is_empty()
                || !self.watch_read_name.is_empty()
                || !self.watch_write_name.is_empty())
            .then(|| OpenFilter {
                read: self.watch_read.clone(),
                write: self.watch_write.clone(),
                read_names: self.watch_read_name.clone(),
                write_names: self.watch_write_name.clone(),
            }),
            cgroup_scope: (!self.cgroups.is_empty()).then(|| self.cgroups.clone()),
            net_ports: (!self.ports.is_empty()).then(|| self.ports.clone()),
            net_addrs: (!self.addrs.is_empty()).then(|| self.addrs.clone()),
            ..self.ring.kernel_config()
        }
    }
}

pub(super) fn run(args: &TraceArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(trace(args))
}

async fn trace(args: &TraceArgs) -> anyhow::Result<()> {
    // A bad config file is refused before anything is loaded into the kernel.
    let file = match &args.config {
        Some(path) => AgentConfig::load(path)?,
        None => AgentConfig::default(),
    };
    let mut writer = Writer {
        out: BufWriter::new(io::stdout().lock()),
        ticks_per_second: crate::context::procfs::clock_ticks_per_second(),
    };
    pipeline::run(&args.kernel_config(), &args.context, &file, &mut writer).await
}

/// Writes events with their context, and drop reports, as JSON lines.
struct Writer<W> {
    out: W,
    ticks_per_second: u64,
}

impl<W: Write> Sink for Writer<W> {
    fn batch(&mut self, batch: &[Event], enricher: &mut Enricher) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let clock = BootClock::now();
        for event in batch {
            enricher.observe(event);
            let mut value = json::event(event, &clock);
            if let Some(obj) = value.as_object_mut() {
                who_json::add(obj, &enricher.who(event), &clock, self.ticks_per_second);
            }
            enricher.retire(event);
            serde_json::to_writer(&mut self.out, &value)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    fn drops(&mut self, deltas: &[DropDelta]) -> io::Result<()> {
        let clock = BootClock::now();
        let boot_now = clock::boot_ns_now();
        for d in deltas {
            let line = json::drop_report(&clock, boot_now, d.kind, d.reason, d.count, d.total);
            serde_json::to_writer(&mut self.out, &line)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}
