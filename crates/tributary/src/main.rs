//! `tributary`: one binary for every role of the media server.
//!
//! Each subcommand is a thin shell: it parses its configuration, sets up
//! logging and hands over to library code (`media`, `ingest-node`,
//! `edge-node`, `operator`, `control`).

mod analyse;
mod ctl;
mod edge;
mod ingest;
mod node;
mod operator;
mod relay_tls;
mod standalone;
mod webrtc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tributary: a live media server cluster.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything in one process with the embedded state store (no etcd needed).
    Standalone(standalone::Config),
    /// An ingest node: inputs, live buffers, pushes, QUIC relay server.
    Ingest(Box<ingest::Args>),
    /// An edge node: viewer-facing outputs fed over the QUIC relay.
    Edge(Box<edge::Args>),
    /// The Kubernetes operator for Stream and Push resources.
    Operator(Box<operator::Args>),
    /// Print the tracks and frames of a media file (TS, FLV, MP4, ADTS).
    Analyse(analyse::Args),
    /// Command-line client of the gRPC control API.
    Ctl(ctl::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyse(args) => analyse::run(&args),
        Command::Standalone(config) => {
            init_logging();
            match standalone::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Ingest(args) => {
            init_logging();
            report(ingest::run(*args))
        }
        Command::Edge(args) => {
            init_logging();
            report(edge::run(*args))
        }
        Command::Operator(args) => {
            init_logging();
            report(operator::run(*args))
        }
        Command::Ctl(args) => ctl::run(args),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
