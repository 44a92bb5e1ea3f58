//! `sensor`: the runtime security sensor's node agent.
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = sensor::cli::Cli::parse();
    sensor::cli::init_logging();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain of causes on one line.
            eprintln!("sensor: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
