//! `seedward keys …`

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{CliError, Ctx, KindArg, json};
use seedward::keystore::{KeyInfo, KeyKind};

pub const KEYS_AFTER_HELP: &str = "\
Examples:
  seedward keys generate --kind owner                  # seed share owner key 'seedshare-owner'
  seedward keys generate --kind workload               # workload owner key 'workload-owner'
  seedward keys import --kind workload --name ci ci-key.pem
  seedward keys export --name seedshare-owner          # public key PEM to stdout
  seedward keys export --name seedshare-owner --private --out backup.pem --yes
  seedward keys list";

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new key in the key store (never replaces one).
    #[command(after_help = "\
Examples:
  seedward keys generate --kind owner
  seedward --key-store file keys generate --kind workload --name release-signer")]
    Generate {
        /// What the key is for.
        #[arg(long, value_enum, default_value_t = KindArg::Owner)]
        kind: KindArg,
        /// Key name (default: seedshare-owner or workload-owner).
        #[arg(long)]
        name: Option<String>,
    },
    /// Import a private key PEM (PKCS#8; SEC1 `EC PRIVATE KEY` for workload keys).
    #[command(after_help = "\
Examples:
  seedward keys import --kind owner owner.pem
  openssl genpkey -algorithm X25519 | seedward keys import --kind owner --name laptop -
  seedward keys import --kind workload workload-sec1.pem")]
    Import {
        #[arg(long, value_enum, default_value_t = KindArg::Owner)]
        kind: KindArg,
        #[arg(long)]
        name: Option<String>,
        /// PEM file, or `-` for stdin.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Export a public key (default) or, explicitly, a private key.
    #[command(after_help = "\
Examples:
  seedward keys export --kind owner                         # public PEM to stdout
  seedward keys export --name workload-owner --out wl.pub.pem
  seedward keys export --name seedshare-owner --private --out backup.pem   # asks to confirm
  seedward keys export --name seedshare-owner --private --out - --yes      # private PEM to stdout")]
    Export {
        #[arg(long, value_enum, default_value_t = KindArg::Owner)]
        kind: KindArg,
        /// Key name (default: the default name of --kind).
        #[arg(long)]
        name: Option<String>,
        /// Export the private key (needs --out FILE; a new file, mode 0600).
        #[arg(long)]
        private: bool,
        /// Output file (`-` = stdout; for --private only together with --yes).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the keys of this workspace (public facts only).
    #[command(after_help = "\
Examples:
  seedward keys list
  seedward keys list --json | jq -r '.keys[] | select(.kind==\"owner\") | .public_hex'")]
    List,
}

impl KeysCommand {
    pub fn name(&self) -> &'static str {
        match self {
            KeysCommand::Generate { .. } => "keys generate",
            KeysCommand::Import { .. } => "keys import",
            KeysCommand::Export { .. } => "keys export",
            KeysCommand::List => "keys list",
        }
    }
}

fn manifest_field(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SeedShareOwner => "SeedshareOwnerPubKeys",
        KeyKind::WorkloadOwner => "WorkloadOwnerPubKeys",
    }
}

fn print_added(ctx: &Ctx, verb: &str, info: &KeyInfo, warning: Option<&str>) {
    let out = &ctx.out;
    out.line(format!(
        "{} {} {} {:?} (fingerprint {}), stored in the {}",
        out.check(),
        if verb == "generate" {
            "generated"
        } else {
            "imported"
        },
        info.kind.describe(),
        info.name,
        info.fingerprint,
        match info.backend {
            seedward::keystore::Backend::Keyring => "OS keyring".to_string(),
            seedward::keystore::Backend::File => format!("file keys/{}.pem (mode 0600)", info.name),
            seedward::keystore::Backend::Memory => "memory".to_string(),
        }
    ));
    out.line(format!(
        "public key for the manifest's {}:",
        manifest_field(info.kind)
    ));
    out.line(format!("  {}", info.public_hex));
    out.object(
        &format!("keys {verb}"),
        true,
        &json::KeyAdded {
            key: info.into(),
            warning,
        },
    );
}

pub fn run(ctx: &Ctx, cmd: KeysCommand) -> Result<(), CliError> {
    let store = ctx.keystore()?;
    match cmd {
        KeysCommand::Generate { kind, name } => {
            let kind = KeyKind::from(kind);
            let name = name.unwrap_or_else(|| kind.default_name().to_string());
            let info = store.generate(kind, &name)?;
            print_added(ctx, "generate", &info, store.warning());
        }
        KeysCommand::Import { kind, name, file } => {
            let kind = KeyKind::from(kind);
            let name = name.unwrap_or_else(|| kind.default_name().to_string());
            let pem = read_pem(&file)?;
            let info = store.import_pem(kind, &name, &pem)?;
            print_added(ctx, "import", &info, store.warning());
        }
        KeysCommand::Export {
            kind,
            name,
            private,
            out,
        } => {
            let kind = KeyKind::from(kind);
            let name = name.unwrap_or_else(|| kind.default_name().to_string());
            if private {
                export_private(ctx, &store, &name, out)?;
            } else {
                let pem = store.export_public_pem(&name)?;
                match out.as_deref() {
                    None => {
                        if !ctx.out.json() {
                            print!("{pem}");
                        }
                        ctx.out.object(
                            "keys export",
                            true,
                            &json::KeysExport {
                                name: &name,
                                private: false,
                                out: None,
                                pem: Some(&pem),
                            },
                        );
                    }
                    Some(p) if p.as_os_str() == "-" => {
                        print!("{pem}");
                    }
                    Some(path) => {
                        write_new_public(path, pem.as_bytes(), "--out")?;
                        ctx.out.line(format!(
                            "{} public key {name:?} written to {}",
                            ctx.out.check(),
                            path.display()
                        ));
                        ctx.out.object(
                            "keys export",
                            true,
                            &json::KeysExport {
                                name: &name,
                                private: false,
                                out: Some(path.display().to_string()),
                                pem: None,
                            },
                        );
                    }
                }
            }
        }
        KeysCommand::List => {
            let keys = store.list()?;
            if keys.is_empty() {
                ctx.out
                    .line("no keys yet; create one with `seedward keys generate --kind owner`");
            } else {
                ctx.out.line(format!(
                    "{:<20} {:<9} {:<8} {:<39} public key",
                    "NAME", "KIND", "STORE", "FINGERPRINT"
                ));
                for k in &keys {
                    let short = if k.public_hex.len() > 24 {
                        format!("{}…", &k.public_hex[..24])
                    } else {
                        k.public_hex.clone()
                    };
                    ctx.out.line(format!(
                        "{:<20} {:<9} {:<8} {:<39} {short}",
                        k.name,
                        k.kind.as_str(),
                        k.backend.as_str(),
                        k.fingerprint
                    ));
                }
            }
            ctx.out.object(
                "keys list",
                true,
                &json::KeysList {
                    backend: store.backend().as_str(),
                    warning: store.warning(),
                    keys: keys.iter().map(json::Key::from).collect(),
                },
            );
        }
    }
    Ok(())
}

fn export_private(
    ctx: &Ctx,
    store: &seedward::keystore::KeyStore,
    name: &str,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    let Some(path) = out else {
        return Err(CliError::usage(
            "a private key is only exported to a file: pass --out FILE (a new file, mode 0600)",
        ));
    };
    let to_stdout = path.as_os_str() == "-";
    if to_stdout && !ctx.yes {
        return Err(CliError::usage(
            "refusing to print a private key without --yes: pass --out - --yes, or better --out FILE",
        ));
    }
    let info = store.find(name)?.ok_or_else(|| {
        CliError::from(seedward::keystore::KeyStoreError::NotFound {
            name: name.to_string(),
        })
    })?;
    ctx.confirm(
        &format!(
            "This writes the PRIVATE {} {name:?} ({}) to {}. Anyone with that file can act as you.",
            info.kind.describe(),
            info.fingerprint,
            path.display()
        ),
        name,
    )?;
    if to_stdout {
        let pem: Zeroizing<String> = store.export_private_pem(name)?;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(pem.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::other(format!("cannot write to stdout: {e}")))?;
        return Ok(());
    }
    store.export_private_to(name, &path)?;
    ctx.out.line(format!(
        "{} private key {name:?} written to {} (mode 0600). Keep it offline; delete copies you do not need.",
        ctx.out.check(),
        path.display()
    ));
    ctx.out.object(
        "keys export",
        true,
        &json::KeysExport {
            name,
            private: true,
            out: Some(path.display().to_string()),
            pem: None,
        },
    );
    Ok(())
}

/// Reads a PEM from a file or stdin (`-`) into zeroizing memory.
fn read_pem(file: &std::path::Path) -> Result<Zeroizing<String>, CliError> {
    let mut text = Zeroizing::new(String::new());
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::other(format!("cannot read the key from stdin: {e}")))?;
    } else {
        let mut f = std::fs::File::open(file)
            .map_err(|e| CliError::other(format!("cannot open {}: {e}", file.display())))?;
        f.read_to_string(&mut text).map_err(|e| {
            CliError::other(format!(
                "cannot read {}: {e} (is it a PEM text file?)",
                file.display()
            ))
        })?;
    }
    Ok(text)
}

/// Writes a new public file (0644), refusing to overwrite (a symlink included). `flag` is the
/// option that chose the path (`--out`, `--out-dir`), named in the error.
pub fn write_new_public(path: &std::path::Path, bytes: &[u8], flag: &str) -> Result<(), CliError> {
    let (dir, name) = seedward_fs::Dir::parent_of(path, 0o755)
        .map_err(|e| CliError::other(format!("cannot create {}: {e}", path.display())))?;
    dir.create_new(&name, bytes, 0o644).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::other(format!(
                "{} already exists; choose another {flag} or move it away",
                path.display()
            ))
        } else {
            CliError::other(format!("cannot create {}: {e}", path.display()))
        }
    })
}
