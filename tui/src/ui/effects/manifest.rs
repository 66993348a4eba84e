//! Manifest files of the workspace: the list the wizards offer, the template written on
//! request, and a manifest read, parsed, validated and matched with its policy documents.

use std::path::{Path, PathBuf};

use seedward_shared::history::Digest;
use seedward_shared::manifest::Manifest;

use crate::keystore::INDEX_FILE;
use crate::ops_bundle;
use crate::workspace::{SEED_SHARES_FILE, Workspace};

/// Folder of the workspace that holds policy documents.
pub const POLICIES_DIR: &str = "policies";
/// File names of the template's example policies, in [`Manifest::template`] order.
const TEMPLATE_POLICY_NAMES: [&str; 2] = ["coordinator.policy", "web.policy"];

/// A manifest read from the workspace, checked for the UI.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub path: PathBuf,
    pub manifest: Option<Manifest>,
    /// Why the bytes are not a well-formed manifest.
    pub parse_error: Option<String>,
    /// (field path, message) for every validation problem.
    pub issues: Vec<(String, String)>,
    pub warnings: Vec<String>,
    pub policies: Vec<Vec<u8>>,
    /// Why the policy documents do not fit the manifest.
    pub policy_error: Option<String>,
}

impl LoadedManifest {
    pub fn is_valid(&self) -> bool {
        self.manifest.is_some()
            && self.parse_error.is_none()
            && self.issues.is_empty()
            && self.policy_error.is_none()
    }
}

/// `*.json` files of the workspace that could be manifests.
pub fn list_manifests(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".json")
                && n != SEED_SHARES_FILE
                && n != INDEX_FILE
                && !n.starts_with('.')
                && !n.starts_with(ops_bundle::BUNDLE_FILE_PREFIX)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Writes the template manifest (to the first free of `manifest.json`, `manifest-2.json`, …
/// unless one already holds exactly these bytes) and its policy documents to `policies/`.
/// Returns the manifest's path first, then the policies'.
pub fn write_template(
    workspace: &Workspace,
    owner_hex: &[String],
    workload_hex: &[String],
) -> Result<Vec<PathBuf>, String> {
    let template = Manifest::template(owner_hex, workload_hex);
    let dir = workspace.dir();
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    let manifest_path = (1..100)
        .map(|i| {
            if i == 1 {
                dir.join("manifest.json")
            } else {
                dir.join(format!("manifest-{i}.json"))
            }
        })
        .find(|p| match std::fs::read(p) {
            Ok(existing) => existing == template.manifest,
            Err(_) => true,
        })
        .ok_or_else(|| "too many manifest-N.json files in the workspace; clean up".to_string())?;
    write_if_absent(&manifest_path, &template.manifest)?;
    files.push(manifest_path);
    let policies = dir.join(POLICIES_DIR);
    std::fs::create_dir_all(&policies)
        .map_err(|e| format!("cannot create {}: {e}", policies.display()))?;
    for (i, doc) in template.policies.iter().enumerate() {
        let mut path = policies.join(TEMPLATE_POLICY_NAMES.get(i).copied().unwrap_or("policy"));
        if std::fs::read(&path).is_ok_and(|old| old != *doc) {
            path = policies.join(format!("{}.policy", &Digest::of(doc).to_hex()[..12]));
        }
        write_if_absent(&path, doc)?;
        files.push(path);
    }
    Ok(files)
}

fn write_if_absent(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads, parses and validates a manifest, and collects its policy documents from
/// `policies/` of the workspace.
pub fn load_manifest(workspace: &Workspace, path: &Path) -> LoadedManifest {
    // Manifests are picked from the workspace listing: relative means relative to it.
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        workspace.dir().join(path)
    };
    let mut loaded = LoadedManifest {
        path: path.clone(),
        manifest: None,
        parse_error: None,
        issues: Vec::new(),
        warnings: Vec::new(),
        policies: Vec::new(),
        policy_error: None,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            loaded.parse_error = Some(format!("cannot read {}: {e}", path.display()));
            return loaded;
        }
    };
    let manifest = match Manifest::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            loaded.parse_error = Some(e.to_string());
            return loaded;
        }
    };
    if let Err(errors) = manifest.validate() {
        loaded.issues = errors
            .issues()
            .iter()
            .map(|i| (i.path().to_string(), i.to_string()))
            .collect();
    }
    loaded.warnings = manifest
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    let wanted: Vec<Digest> = manifest
        .policies()
        .keys()
        .filter_map(|k| k.parse::<Digest>().ok())
        .collect();
    let dir = workspace.dir().join(POLICIES_DIR);
    let mut docs: Vec<Vec<u8>> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(doc) = std::fs::read(&p)
                && wanted.contains(&Digest::of(&doc))
                && !docs.contains(&doc)
            {
                docs.push(doc);
            }
        }
    }
    if loaded.issues.is_empty()
        && let Err(e) = manifest.check_policies(&docs)
    {
        loaded.policy_error = Some(format!("{e} (looked in {})", dir.display()));
    }
    loaded.policies = docs;
    loaded.manifest = Some(manifest);
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_round_trips_through_load() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let owner = seedward_shared::keys::OwnerKeyPair::generate(&mut rand_core::OsRng);
        let files = write_template(&ws, &[owner.public_key().to_hex()], &[]).unwrap();
        assert_eq!(files.len(), 3);
        let loaded = load_manifest(&ws, Path::new("manifest.json"));
        assert!(loaded.is_valid(), "{loaded:?}");
        assert_eq!(loaded.policies.len(), 2);
        assert_eq!(
            list_manifests(dir.path()).unwrap(),
            vec!["manifest.json".to_string()]
        );
        // Writing it again reuses the same file.
        let again = write_template(&ws, &[owner.public_key().to_hex()], &[]).unwrap();
        assert_eq!(again[0], files[0]);
    }

    #[test]
    fn broken_manifest_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        std::fs::write(dir.path().join("bad.json"), b"{\"Policies\": ").unwrap();
        let loaded = load_manifest(&ws, Path::new("bad.json"));
        assert!(!loaded.is_valid());
        assert!(loaded.parse_error.unwrap().contains("not valid JSON"));
    }
}
