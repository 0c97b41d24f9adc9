//! The `wagate` command: `serve`, `account create`, `key create`, `key revoke`, `migrate`.
//!
//! Exit codes: 0 ok, 2 bad usage (clap's own), 1 anything else with the reason on stderr in one line.

mod cli;
mod commands;

use clap::Parser;

fn main() {
    // Everything wagate writes (the data directory, the database, media, the secret key) holds
    // secrets and message content: readable by its owner only, whatever the caller's umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => fail(&format!("cannot start the runtime: {e}")),
    };
    if let Err(e) = runtime.block_on(commands::run(cli)) {
        fail(&format!("{e:#}"));
    }
}

fn fail(reason: &str) -> ! {
    eprintln!("wagate: {}", reason.replace('\n', " "));
    std::process::exit(1)
}
