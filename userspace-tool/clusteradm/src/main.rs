//! clusteradm: ipcluster's operator CLI (and, later, its membership daemon).
//!
//! Speaks like `ip`: objects and verbs, `-j` for JSON, exit 0 on success,
//! 1 on failure, 2 on a usage error.

mod flow;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// ipcluster's operator CLI.
#[derive(Parser, Debug)]
#[command(name = "clusteradm", version, about, long_about = None)]
struct Cli {
    /// JSON output.
    #[arg(short = 'j', long = "json", global = true)]
    json: bool,
    #[command(subcommand)]
    object: Object,
}

#[derive(Subcommand, Debug)]
enum Object {
    /// The flow hash, computed here (no kernel needed).
    Hash(flow::HashArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return ExitCode::from(if usage { 2 } else { 0 });
        }
    };
    let res = match cli.object {
        Object::Hash(a) => flow::hash(&a, cli.json),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clusteradm: {e}");
            ExitCode::from(1)
        }
    }
}
