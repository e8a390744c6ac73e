//! `sst-b2bua`: parse the command line, load the configuration, run until SIGTERM/SIGINT.
//! Exit codes: 0 clean stop or valid `--check`; 1 runtime failure (a port that cannot be bound);
//! 2 invalid configuration or command line.

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use sst_b2bua::cli::Cli;
use sst_b2bua::net::tls::TlsMaterial;
use sst_b2bua::{actor, config, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match &cli.config {
        Some(path) => config::from_file(path).map(|c| (c, path.display().to_string())),
        None => config::from_str(config::DEFAULT_CONFIG, config::DEFAULT_CONFIG_NAME)
            .map(|c| (c, config::DEFAULT_CONFIG_NAME.to_owned())),
    };
    let (config, source) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("sst-b2bua: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    // The certificate, key and CA files are part of the configuration: a bad one is exit 2, `--check` too.
    let tls = match TlsMaterial::load(&config) {
        Ok(tls) => tls,
        Err((key, reason)) => {
            eprintln!(
                "sst-b2bua: invalid configuration: {}",
                config::ConfigError::new(&source, &key, reason)
            );
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!("{source}: configuration is valid");
        return ExitCode::SUCCESS;
    }
    telemetry::init(cli.log_format, cli.verbose);
    tracing::info!(config = %source, version = env!("CARGO_PKG_VERSION"), "starting sst-b2bua");
    let workers = config.limits.worker_threads;
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("sst-b2bua: cannot start the runtime: {e}");
                return ExitCode::from(1);
            }
        };
    match runtime.block_on(actor::run(config, tls, actor::shutdown::signal())) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sst-b2bua: {e}");
            ExitCode::from(1)
        }
    }
}
