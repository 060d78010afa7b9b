//! `yagura`: the command line.

mod alerts;
mod analyze;
mod assets;
mod baseline;
mod detection;
mod display;
mod evidence;
mod flush;
mod intel;
mod map;
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
    /// Learn the plant's normal behaviour from capture files into the baseline of a
    /// database (same options as analyze; --db required).
    Learn(analyze::AnalyzeArgs),
    /// Capture live from a network interface (mirror/SPAN port); never transmits.
    Sensor(analyze::SensorArgs),
    /// List the assets in an inventory database.
    Assets(assets::AssetsArgs),
    /// Set an asset's type, name or Purdue level by hand; show its history.
    Asset(assets::AssetArgs),
    /// The alerts in a database, and what an analyst does with them (ack, learn, mute…).
    Alerts(alerts::AlertsArgs),
    /// The learned baseline: export, import, reopen learning.
    Baseline(baseline::BaselineArgs),
    /// Threat intelligence: import, list and remove indicators (plain lists, STIX 2.1).
    Intel(intel::IntelArgs),
    /// Export the communication map (Graphviz DOT, GraphML, JSON).
    Map(map::MapArgs),
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
        Command::Analyze(a) => analyze::analyze(a, detection::Mode::Detect),
        Command::Learn(a) => analyze::analyze(a, detection::Mode::Learn),
        Command::Sensor(a) => analyze::sensor(a),
        Command::Assets(a) => assets::assets(a),
        Command::Asset(a) => assets::asset(a),
        Command::Map(a) => map::map(a),
        Command::Alerts(a) => alerts::alerts(a),
        Command::Baseline(a) => baseline::baseline(a),
        Command::Intel(a) => intel::intel(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
