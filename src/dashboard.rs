//! The dashboard entry point (the terminal UI lives in `app`, `ui`, `tui`).

use std::path::PathBuf;

use crate::cli::Failure;

pub async fn run(config: Option<PathBuf>) -> Result<(), Failure> {
    let _ = config;
    Err(Failure { code: crate::cli::exit::FAILED, message: "the dashboard is not built yet; use the subcommands (--help)".into() })
}
