//! clusteradm: the command line is defined and run by the library
//! (`lib.rs`), which also gives the man pages their source.

use std::process::ExitCode;

fn main() -> ExitCode {
    clusteradm::main()
}
