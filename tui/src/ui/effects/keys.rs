//! The key store: list, generate, import from a PEM file, export a public key. Every call
//! runs on the blocking pool (an OS keyring may prompt or block).

use std::path::Path;

use super::{Ctx, Event, blocking, resolve};
use crate::keystore::{Backend, KeyKind, KeyStore};

/// `Effect::ListKeys`.
pub(super) async fn list(ctx: &Ctx) -> Event {
    let keys = ctx.keys.clone();
    let result = blocking(move || keys.list().map_err(|e| e.to_string())).await;
    Event::Keys {
        result,
        warning: ctx.keys.warning().map(str::to_string),
        backend: backend_label(&ctx.keys),
    }
}

/// `Effect::GenerateKey`.
pub(super) async fn generate(ctx: &Ctx, kind: KeyKind, name: String) -> Event {
    let keys = ctx.keys.clone();
    Event::KeyAdded(blocking(move || keys.generate(kind, &name).map_err(|e| e.to_string())).await)
}

/// `Effect::ImportKey`.
pub(super) async fn import(ctx: &Ctx, kind: KeyKind, name: String, path: &Path) -> Event {
    let path = resolve(&ctx.workspace, path);
    let keys = ctx.keys.clone();
    Event::KeyAdded(
        blocking(move || {
            let pem = read_pem(&path)?;
            keys.import_pem(kind, &name, &pem)
                .map_err(|e| e.to_string())
        })
        .await,
    )
}

/// `Effect::ExportPublic`: `<name>.pub.pem` in the workspace.
pub(super) async fn export_public(ctx: &Ctx, name: String) -> Event {
    let keys = ctx.keys.clone();
    let workspace = ctx.workspace.clone();
    Event::Exported(
        blocking(move || {
            let pem = keys.export_public_pem(&name).map_err(|e| e.to_string())?;
            workspace
                .write_public(&format!("{name}.pub.pem"), pem.as_bytes())
                .map_err(|e| e.to_string())
        })
        .await,
    )
}

fn backend_label(keys: &KeyStore) -> String {
    match keys.backend() {
        Backend::Keyring => "OS keyring".into(),
        Backend::File => "0600 files in the workspace (keys/)".into(),
        Backend::Memory => "memory (nothing persisted)".into(),
    }
}

fn read_pem(path: &Path) -> Result<String, String> {
    if path.as_os_str().is_empty() {
        return Err("no path given: type the path of a PEM file".into());
    }
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {}: {e}. Give the path of a PKCS#8 PEM file (-----BEGIN PRIVATE KEY-----); nothing was stored",
            path.display()
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "{} is not a text PEM file (binary DER?); convert it with `openssl pkey -in FILE -out key.pem`; nothing was stored",
            path.display()
        )
    })
}
