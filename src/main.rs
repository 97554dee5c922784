//! certdrop's entry point: parse the command line, load the configuration, dispatch.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use certdrop::cli::{Cli, Command};
use certdrop::config::Config;
use certdrop::{commands, server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CERTDROP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let config = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Serve(_) => match actix_web::rt::System::new().block_on(server::serve(config)) {
            Ok(()) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
        Command::Ca(c) => commands::ca(&config, c).map_err(|e| e.to_string()),
        Command::Challenge(c) => commands::challenge(&config, c).map_err(|e| e.to_string()),
        Command::Cert(c) => commands::cert(&config, c).map_err(|e| e.to_string()),
        Command::Crl(c) => commands::crl(&config, c).map_err(|e| e.to_string()),
        Command::Request(c) => commands::request(&config, c).map_err(|e| e.to_string()),
        Command::Profile(c) => commands::profile(&config, c).map_err(|e| e.to_string()),
        Command::Link(c) => commands::link(&config, c).map_err(|e| e.to_string()),
        Command::Identity(c) => commands::identity(&config, c).map_err(|e| e.to_string()),
        Command::Audit { since, json } => {
            commands::audit(&config, since.as_deref(), *json).map_err(|e| e.to_string())
        }
        Command::Backup { out } => commands::backup(&config, out).map_err(|e| e.to_string()),
        Command::Restore { file } => commands::restore(&config, file).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
