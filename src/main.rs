#![forbid(unsafe_code)]

use clap::Parser;

use agentdock::cli::{self, exit, Cli};

fn main() {
    // clap prints usage errors itself and exits 2 (our usage code).
    let args = Cli::parse();
    agentdock::logging::init();
    // as many open files as allowed: the dashboard reads a few files per container
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if limit.current < limit.maximum {
        let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum });
    }
    // The dashboard's work is light and mostly waiting: one thread serves it (and the CLI) and
    // keeps its memory small.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentdock: cannot start the runtime: {e}");
            std::process::exit(exit::FAILED);
        }
    };
    let code = runtime.block_on(async move {
        match args.command {
            Some(cmd) => match cli::run(cmd, args.config, args.engine).await {
                Ok(code) => code,
                Err(f) => {
                    tracing::warn!(code = f.code, "{}", f.message);
                    eprintln!("agentdock: {}", f.message);
                    f.code
                }
            },
            None => match agentdock::dashboard::run(args.config, args.engine).await {
                Ok(()) => exit::OK,
                Err(f) => {
                    eprintln!("agentdock: {}", f.message);
                    f.code
                }
            },
        }
    });
    // Streams still open (a followed log) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
