//! `yagura`: the command line.

mod analyze;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Yagura (櫓): passive OT/ICS network security monitor.
#[derive(Parser)]
#[command(name = "yagura", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse capture files (pcap, pcapng, gzip/zstd-compressed; files or directories).
    Analyze(analyze::AnalyzeArgs),
    /// Capture live from a network interface (mirror/SPAN port); never transmits.
    Sensor(analyze::SensorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("YAGURA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        Command::Analyze(a) => analyze::analyze(a),
        Command::Sensor(a) => analyze::sensor(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
