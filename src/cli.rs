//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A SIP back-to-back user agent that keeps long calls alive with RFC 4028 session timers.
#[derive(Debug, Parser)]
#[command(name = "sst-b2bua", version, about)]
pub struct Cli {
    /// YAML configuration file; without it the embedded default (config/sst-b2bua.yaml) is used.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Validate the configuration and exit: 0 when valid, 2 with the reason when not.
    #[arg(long)]
    pub check: bool,

    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// More log detail (-v debug, -vv trace). RUST_LOG, when set, takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}
