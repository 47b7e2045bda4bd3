//! `assay`: the command line of Assay (see the library's documentation for its two binaries).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use assay_cli::Cli;
use clap::Parser;

// The system allocator: no command of this binary trains (mimalloc is `assay-train`'s).

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.trains() {
        return assay_cli::exec_training();
    }
    assay_cli::run(cli)
}
