//! The `rtmpws-gateway` command: reads its configuration and runs the gateway
//! ([`rtmpws_gateway::listen::run`]); the layout of the code is in the library's docs.

use std::process::ExitCode;

use clap::Parser;
use tracing::error;

use rtmpws_gateway::config::{Args, Command, Config, LogFormat};
use rtmpws_gateway::names::StreamName;
use rtmpws_gateway::signing;

fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = Config::load(&args);
    // The log format is the config's; a config that does not load is reported as text.
    let format = loaded.as_ref().map_or(LogFormat::Text, |c| c.log_format);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter)
            .init(),
    }
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Sign {
        app,
        name,
        expires_in,
    }) = &args.command
    {
        return print_signed_name(&config, app, name, *expires_in);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr_file = args.addr_file.clone();
    match runtime.block_on(rtmpws_gateway::listen::run(config, addr_file, Some(args))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `rtmpws-gateway sign`: a signed name for `app`, with the secret of its configuration.
fn print_signed_name(config: &Config, app: &str, name: &str, expires_in: u64) -> ExitCode {
    let Some(rules) = config.apps.get(app) else {
        error!("no application {app:?} in the configuration");
        return ExitCode::from(2);
    };
    let Some(secret) = rules.secret.as_deref().filter(|s| !s.is_empty()) else {
        error!("apps.{app} has no secret to sign with");
        return ExitCode::from(2);
    };
    let name = StreamName::parse(name);
    let key = name.key();
    let expires = signing::unix_now().saturating_add(expires_in);
    let value = signing::sign(secret, app, key, expires);
    println!("{key}?sign={value}");
    ExitCode::SUCCESS
}
