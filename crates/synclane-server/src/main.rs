//! `synclane-server --db <sqlite path | postgres URL> --listen 127.0.0.1:8787 [--config FILE]
//! [--token TOKEN=WORKSPACE,...]`

use clap::Parser;
use synclane_server::config::{Settings, TokenGrant};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(version, about = "The reference synclane sync server (docs/PROTOCOL.md).")]
struct Args {
    /// A SQLite file (created if missing) or a postgres:// URL.
    #[arg(long, default_value = "synclane.db")]
    db: String,
    /// The address to listen on (port 0: any free port; the chosen one is logged).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: String,
    /// A JSON settings file (tokens, limits, retention; see README).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// A token and the workspaces it may use: TOKEN=WS1,WS2 (or TOKEN=* for all). Repeatable.
    #[arg(long = "token", value_parser = TokenGrant::parse_flag)]
    tokens: Vec<TokenGrant>,
    /// `text` (default) or `json` logs, on stderr.
    #[arg(long, default_value = "text")]
    log_format: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SYNCLANE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    if let Err(message) = run(args).await {
        tracing::error!("{message}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut settings = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            Settings::from_json(&text)?
        }
        None => Settings::default(),
    };
    settings.tokens.extend(args.tokens);
    if settings.tokens.is_empty() {
        return Err("no tokens: pass --token TOKEN=WORKSPACE or list them in --config".into());
    }
    let listener =
        TcpListener::bind(&args.listen).await.map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // One line on stdout, for scripts and tests that start the server on port 0.
    println!("synclane-server listening on http://{address}");
    synclane_server::serve(settings, &args.db, listener, shutdown_signal()).await.map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
