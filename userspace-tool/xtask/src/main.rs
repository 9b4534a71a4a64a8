//! xtask: makes clusteradm's man pages and shell completions from the
//! command line's definition (`clusteradm::command()`), so that they say
//! what the binary parses.
//!
//!     xtask man DIR            DIR/man8/clusteradm*.8, DIR/man5/ipcluster.toml.5
//!     xtask completions DIR    DIR/bash/clusteradm, DIR/zsh/_clusteradm,
//!                              DIR/fish/clusteradm.fish

mod complete;
mod man;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [what, dir] if what == "man" => man::write_all(Path::new(dir)),
        [what, dir] if what == "completions" => complete::write_all(Path::new(dir)),
        _ => {
            eprintln!("usage: xtask man DIR | xtask completions DIR");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
