//! `seedward-bench`: end-to-end benchmarks of the real release binaries, with the
//! cryptographic floor measured in the same run.
//!
//! ```text
//! cargo run --release -p seedward-tests --bin seedward-bench -- all        # ~5 min, writes docs/perf/
//! cargo run --release -p seedward-tests --bin seedward-bench -- all --quick  # ~1 min, writes target/perf-quick/
//! ```
//!
//! Sections (each also runs alone: `coordinator`, `history`, `tui`, `ha`):
//! - **coordinator**: cold start (spawn → first successful `GetStatus` over TLS), idle RSS,
//!   `GetStatus` and `SetManifest` latency (p50/p99) and throughput on loopback with TLS;
//! - **history**: for 1, 1k, 10k and 100k transitions, `Recover` (after a restart),
//!   `GetManifests`, the client's verification of the answer, and the daemon's peak RSS, each
//!   against the floor (one P-384 verification + SHA-256 of every blob + reading every file),
//!   which is measured in this process, in the same run, on the same files;
//! - **ha**: `SetManifest` latency on etcd (a real 3-member cluster) vs the filesystem
//!   store, and after a SIGKILL of the etcd leader etcd's own election time vs the time
//!   until a write through the Coordinator succeeds again;
//! - **tui**: time to the first frame of the real `seedward` binary in a pseudo-terminal
//!   (`script`), frame render time with a 100k-entry audit timeline (`TestBackend`), chain
//!   verification of 100k entries, and the memory the audited history takes;
//! - **workload**: `GetCredentials` (evidence check, certificate, workload secret) with 1, 16
//!   and 200 concurrent callers, development and SEV-SNP evidence (test AMD), against the floor
//!   (one P-384 signature + the same evidence verification, in this process, same threads).
//!
//! Large histories are not built with 100k RPCs: the fixture goes through the same
//! [`History`] API the Coordinator uses, over a bulk store that writes the same file layout
//! as `FsStore` but without the per-file fsync, and only the latest pointer is signed (by the
//! key derived from the fixture's seed). The daemon then starts on that state directory in
//! the recovery-required state, exactly as after a restart.
//!
//! The binary builds the release `seedward-coordinator` and `seedward` next to itself
//! (`cargo build --release`, a no-op when fresh) when run through `cargo run`; pass
//! `--no-build` to skip that. Never used by tests: there are no timed assertions anywhere.

mod cli;
mod coordinator;
mod ha;
mod history;
mod material;
mod measure;
mod report;
mod tui;
mod workload;

use anyhow::{Context, Result};

use crate::cli::{Bins, Machine, Opts};
use crate::coordinator::coordinator_section;
use crate::ha::ha_section;
use crate::history::history_section;
use crate::report::{Report, memory_svg, scaling_svg};
use crate::tui::tui_section;
use crate::workload::workload_section;

pub(crate) const FULL_SIZES: [usize; 4] = [1, 1_000, 10_000, 100_000];
pub(crate) const QUICK_SIZES: [usize; 3] = [1, 1_000, 10_000];

fn main() -> Result<()> {
    let opts = Opts::parse()?;
    let bins = Bins::locate(opts.build)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let machine = Machine::describe();
    eprintln!("machine: {}", machine.one_line());
    let mut report = Report {
        machine,
        quick: opts.quick,
        ..Report::default()
    };
    if opts.sections.coordinator {
        report.coordinator = Some(runtime.block_on(coordinator_section(&bins, &opts))?);
    }
    if opts.sections.history {
        report.history = runtime.block_on(history_section(&bins, &opts))?;
    }
    if opts.sections.tui {
        report.tui = Some(runtime.block_on(tui_section(&bins, &opts))?);
    }
    if opts.sections.workload {
        report.workload = runtime.block_on(workload_section(&bins, &opts))?;
    }
    if opts.sections.ha {
        report.ha = Some(runtime.block_on(ha_section(&bins, &opts))?);
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let markdown = report.markdown();
    let results = opts.out.join("results.md");
    std::fs::write(&results, &markdown)
        .with_context(|| format!("cannot write {}", results.display()))?;
    if report.history.len() >= 2 {
        let svg_path = opts.out.join("history-scaling.svg");
        std::fs::write(&svg_path, scaling_svg(&report.history))
            .with_context(|| format!("cannot write {}", svg_path.display()))?;
        eprintln!("wrote {}", svg_path.display());
        let svg_path = opts.out.join("history-memory.svg");
        std::fs::write(&svg_path, memory_svg(&report.history))
            .with_context(|| format!("cannot write {}", svg_path.display()))?;
        eprintln!("wrote {}", svg_path.display());
    }
    if !report.workload.is_empty() {
        let chart = opts.out.join("workload.txt");
        std::fs::write(&chart, report.workload_chart())
            .with_context(|| format!("cannot write {}", chart.display()))?;
        eprintln!("wrote {}", chart.display());
    }
    println!("{markdown}");
    eprintln!("wrote {}", results.display());
    Ok(())
}
