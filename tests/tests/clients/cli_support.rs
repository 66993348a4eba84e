//! Helpers of the `cli_*` tests: run the real `seedward` binary, normalize its output, and
//! compare it with golden files under `tests/golden/cli/` (`SEEDWARD_BLESS=1` rewrites them).

#![allow(dead_code, reason = "each test module uses a subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use seedward_tests::seedward_bin;

/// One `seedward` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A workspace and the Coordinator address the commands go to.
pub struct Cli {
    pub workspace: PathBuf,
    pub addr: String,
    /// Replaced by `<TMP>` in normalized output.
    pub tmp: PathBuf,
    /// `--key-store` value (default `file`).
    pub key_store: &'static str,
    /// Extra environment for every run (e.g. `SEEDWARD_LOG=trace`).
    pub env: Vec<(String, String)>,
    /// Global flags before every command's own (e.g. `--test-trust-anchor FILE`).
    pub global: Vec<String>,
}

impl Cli {
    pub fn new(tmp: &Path, workspace: &Path, addr: &str) -> Self {
        std::fs::create_dir_all(workspace).unwrap();
        Self {
            workspace: workspace.to_path_buf(),
            addr: addr.to_string(),
            tmp: tmp.to_path_buf(),
            key_store: "file",
            env: Vec::new(),
            global: Vec::new(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = Command::new(seedward_bin());
        cmd.arg("--workspace")
            .arg(&self.workspace)
            .arg("--coordinator")
            .arg(&self.addr)
            .arg("--key-store")
            .arg(self.key_store)
            .args(&self.global)
            .args(args)
            .env_remove("SEEDWARD_COORDINATOR")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output: Output = match stdin {
            None => cmd.stdin(Stdio::null()).output().unwrap(),
            Some(bytes) => {
                use std::io::Write as _;
                let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
                child.stdin.take().unwrap().write_all(bytes).unwrap();
                child.wait_with_output().unwrap()
            }
        };
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Replaces what differs between runs: paths, the address, hashes, keys, fingerprints.
    pub fn normalize(&self, text: &str) -> String {
        let mut s = text.to_string();
        let ws = self.workspace.display().to_string();
        let tmp = self.tmp.display().to_string();
        s = s
            .replace(&ws, "<WS>")
            .replace(&tmp, "<TMP>")
            .replace(&self.addr, "<ADDR>");
        normalize_hex(&s)
    }
}

/// `xxxx:xxxx:…` fingerprints → `<FP>`; runs of 12 or more lowercase hex characters →
/// `<HEX:len>`; the package version → `<VERSION>`.
pub fn normalize_hex(text: &str) -> String {
    let text = text.replace(env!("CARGO_PKG_VERSION"), "<VERSION>");
    let chars: Vec<char> = text.chars().collect();
    let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // Fingerprint: groups of four hex characters joined by ':' (at least two groups).
        let group =
            |at: usize| at + 4 <= chars.len() && chars[at..at + 4].iter().all(|c| is_hex(*c));
        let boundary_before = i == 0 || !is_hex(chars[i - 1]);
        if boundary_before && group(i) && chars.get(i + 4) == Some(&':') && group(i + 5) {
            let mut j = i + 4;
            while chars.get(j) == Some(&':') && group(j + 1) {
                j += 5;
            }
            if j >= chars.len() || !is_hex(chars[j]) {
                out.push_str("<FP>");
                i = j;
                continue;
            }
        }
        if is_hex(chars[i]) && boundary_before {
            let mut j = i;
            while j < chars.len() && is_hex(chars[j]) {
                j += 1;
            }
            let run = j - i;
            let boundary_after = j >= chars.len() || !chars[j].is_ascii_alphanumeric();
            if run >= 12 && boundary_after {
                out.push_str(&format!("<HEX:{run}>"));
                i = j;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Compares `actual` with `tests/golden/cli/<name>`; `SEEDWARD_BLESS=1` writes it instead.
#[track_caller]
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden/cli")
        .join(name);
    if std::env::var("SEEDWARD_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "golden file {} is missing; run with SEEDWARD_BLESS=1 to create it. Actual output:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "output differs from {} (SEEDWARD_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

/// Writes the template manifest (with the given owner keys) and its policies into `dir`;
/// returns the manifest path and the policy paths.
pub fn write_template(dir: &Path, owner_hex: &str, workload_hex: &str) -> (PathBuf, Vec<PathBuf>) {
    std::fs::create_dir_all(dir).unwrap();
    let t = seedward_shared::manifest::Manifest::template(
        &[owner_hex.to_string()],
        &[workload_hex.to_string()],
    );
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, &t.manifest).unwrap();
    let policies = t
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = dir.join(format!("policy-{i}.toml"));
            std::fs::write(&path, p).unwrap();
            path
        })
        .collect();
    (manifest, policies)
}

/// A changed copy of a manifest: its `ReferenceValues` replaced by `reference_values`
/// (valid ones, e.g. [`seedward_tests::reference_values`]`(n)`, so that the update is still
/// accepted by a development Coordinator).
pub fn write_changed(from: &Path, to: &Path, reference_values: serde_json::Value) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    v["ReferenceValues"] = reference_values;
    let text = format!("{v:#}\n");
    seedward_shared::manifest::Manifest::parse_and_validate(text.clone().into_bytes())
        .expect("the changed manifest is valid");
    std::fs::write(to, text).unwrap();
}

/// The public hex of key `name` from `keys list --json`.
pub fn public_hex(cli: &Cli, name: &str) -> String {
    let list = cli.run(&["--json", "keys", "list"]).ok().json();
    list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name}: {list}"))["public_hex"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
