//! `seedward`: the terminal UI without a subcommand, scriptable subcommands with one.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // Before an owner key, a share or a seed is in memory: no core dump, no ptrace by the
    // same user (docs/CLI.md).
    if let Err(e) = seedward_fs::process::harden() {
        eprintln!("error: {e}");
        return ExitCode::from(cli::exit::OTHER);
    }
    let cli = cli::Cli::parse();
    match cli.command {
        None => {
            // With the embedded local Coordinator, the workspace lives next to its state in the
            // platform data directory, so `cargo run` in a checkout writes no secrets there.
            // With --coordinator it is the current directory, as for the subcommands.
            let default_workspace = || match (&cli.coordinator, &cli.state_dir) {
                (None, Some(state)) => Ok(state.join("workspace")),
                (None, None) => directories::ProjectDirs::from("", "", "seedward")
                    .map(|d| d.data_dir().join("workspace"))
                    .ok_or_else(|| std::io::Error::other("no home directory; pass --workspace")),
                (Some(_), _) => std::env::current_dir(),
            };
            let workspace = match cli
                .workspace
                .clone()
                .map(Ok)
                .unwrap_or_else(default_workspace)
            {
                Ok(dir) => dir,
                Err(e) => {
                    eprintln!("error: cannot choose a workspace directory: {e}");
                    return ExitCode::from(cli::exit::OTHER);
                }
            };
            if let Err(e) = std::fs::create_dir_all(&workspace) {
                eprintln!(
                    "error: cannot create the workspace {}: {e}",
                    workspace.display()
                );
                return ExitCode::from(cli::exit::OTHER);
            }
            let shown = workspace.display().to_string();
            let plain = cli.plain || std::env::var("TERM").is_ok_and(|t| t == "dumb");
            let no_color = plain
                || cli.no_color
                || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let appraisal = match cli.appraisal_policy() {
                Ok(policy) => policy,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(cli::exit::USAGE);
                }
            };
            let opts = seedward::ui::UiOptions {
                appraisal,
                coordinator: cli.coordinator.clone(),
                workspace,
                no_color,
                plain,
                read_only: cli.read_only,
                key_store: cli.key_store.into(),
                state_dir: cli.state_dir.clone(),
            };
            match seedward::ui::run(opts) {
                Ok(ended) => {
                    println!(
                        "seedward: workspace (seed shares, pinned root CA, manifest) in {shown}"
                    );
                    match ended {
                        seedward::ui::Ended::Quit => ExitCode::SUCCESS,
                        // Like a process ended by SIGINT.
                        seedward::ui::Ended::Interrupted => ExitCode::from(130),
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(cli::exit::OTHER)
                }
            }
        }
        Some(_) => {
            let mut cli = cli;
            let command = cli.command.take();
            match command {
                Some(command) => ExitCode::from(cli::run(cli, command)),
                None => ExitCode::SUCCESS,
            }
        }
    }
}
