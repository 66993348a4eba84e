//! The Kubernetes manifests in `assets/deploy/` against the real binaries: every `--flag`
//! they pass and every `SEEDWARD_*` variable they set must be one the binary's `--help`
//! (or its subcommand's) names. A renamed flag would otherwise only show up as a crash loop
//! in someone's cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/deploy")
}

fn help(bin: &Path, sub: Option<&str>) -> String {
    let mut cmd = Command::new(bin);
    if let Some(sub) = sub {
        cmd.arg(sub);
    }
    let out = cmd.arg("--help").output().unwrap();
    assert!(out.status.success(), "{} --help failed", bin.display());
    // clap wraps long lines (even inside `[env: …]`): compare on single spaces.
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        + " "
}

/// `--flag` tokens (without `=value`) and `SEEDWARD_*` names in a manifest, with line numbers.
/// A token and the line it is on.
type Found = Vec<(usize, String)>;

fn tokens(yaml: &str) -> (Found, Found) {
    let mut flags = Vec::new();
    let mut envs = Vec::new();
    for (n, line) in yaml.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for word in line.split(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | '[' | ']')) {
            if let Some(flag) = word.strip_prefix("--")
                && flag.starts_with(|c: char| c.is_ascii_lowercase())
                && flag.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c == '-'
                        || c == '='
                        || c.is_ascii_alphanumeric()
                        || "/.:".contains(c)
                })
            {
                flags.push((n + 1, format!("--{}", flag.split('=').next().unwrap())));
            }
        }
        if let Some(name) = line.strip_prefix("- name: ")
            && name.starts_with("SEEDWARD_")
        {
            envs.push((n + 1, name.to_string()));
        }
    }
    (flags, envs)
}

fn check(file: &str, bin: PathBuf, subcommands: &[&str]) {
    let yaml = std::fs::read_to_string(assets().join(file)).unwrap();
    let mut helps = vec![help(&bin, None)];
    for sub in subcommands {
        helps.push(help(&bin, Some(sub)));
    }
    let (flags, envs) = tokens(&yaml);
    assert!(
        !flags.is_empty(),
        "{file}: no flags found — is the parser still right?"
    );
    for (line, flag) in flags {
        assert!(
            helps
                .iter()
                .any(|h| h.contains(&format!(" {flag} ")) || h.contains(&format!(" {flag}="))),
            "{file}:{line}: {flag} is not a flag of {}",
            bin.display()
        );
    }
    for (line, env) in envs {
        assert!(
            helps.iter().any(|h| h.contains(&format!("env: {env}="))),
            "{file}:{line}: {env} is not an environment variable of {}",
            bin.display()
        );
    }
}

#[test]
fn the_single_replica_manifest_uses_real_flags() {
    check("coordinator.yaml", seedward_tests::coordinator_bin(), &[]);
}

#[test]
fn the_ha_manifest_uses_real_flags() {
    check(
        "coordinator-ha.yaml",
        seedward_tests::coordinator_bin(),
        &[],
    );
}

#[test]
fn the_workload_example_uses_real_flags() {
    check(
        "workload-example.yaml",
        seedward_tests::bin_dir().join("seedward-initializer"),
        &["cryptsetup"],
    );
}
