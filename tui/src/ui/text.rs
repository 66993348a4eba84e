//! Every user-facing string of the TUI, in one place.

pub const APP: &str = "Seedward";

// Screens
pub const DASHBOARD_TITLE: &str = "Dashboard";
pub const SETUP_TITLE: &str = "First-time setup";
pub const RECOVERY_TITLE: &str = "Recovery";
pub const HISTORY_TITLE: &str = "History audit";
pub const UPDATE_TITLE: &str = "Manifest update";
pub const KEYS_TITLE: &str = "Owner keys";
pub const HELP_TITLE: &str = "Keys (from the live keymap)";
/// The key store's fallback warning on one line; the whole warning is in the help overlay.
pub const KEYRING_FALLBACK_LINE: &str =
    "⚠ no OS keyring: keys are in 0600 files in keys/ · ? says why and how to fix";
pub const HELP_NOTE_TITLE: &str = "Key store";
/// The key store's warning when the unreachable keyring holds this workspace's keys.
pub const KEYRING_STRANDED_LINE: &str =
    "✗ OS keyring unreachable and your keys are in it: unlock it · ? says more";
/// The one line for the key store's warning (the whole warning is in the help overlay).
pub fn keyring_warning_line(warning: &str) -> &'static str {
    if warning.starts_with(crate::keystore::STRANDED_PREFIX) {
        KEYRING_STRANDED_LINE
    } else {
        KEYRING_FALLBACK_LINE
    }
}
pub const HELP_END: &str = "(end of help · Esc closes)";

pub const SETUP_STEPS: [&str; 6] = [
    "Owner keys",
    "Manifest",
    "Recovery threshold",
    "Coordinator",
    "Confirm and set",
    "Share drill",
];

pub const RECOVERY_STEPS: [&str; 7] = [
    "Owner key",
    "Decrypt seed share",
    "Pre-flight",
    "Check Coordinator",
    "Send recovery",
    "Re-verify",
    "Checklist",
];

// Terminal
pub const TOO_SMALL_TITLE: &str = "Terminal too small";
pub fn too_small(w: u16, h: u16, min_w: u16, min_h: u16) -> String {
    format!(
        "The terminal is {w}×{h}; Seedward needs at least {min_w}×{min_h}. Enlarge the window, or press q to quit."
    )
}

// Status bar
/// The status bar's location of an embedded Coordinator, before its state directory.
pub fn local_location(address: &str) -> String {
    format!("local {address} · state ")
}
/// A second `seedward` on a state directory that another one holds.
pub fn state_dir_held(dir: &str, pid: Option<u32>, address: Option<&str>) -> String {
    let who = pid.map_or("another seedward".to_string(), |p| {
        format!("another seedward (pid {p})")
    });
    let serving = address.map_or(" (still starting)".to_string(), |a| format!(" on {a}"));
    format!(
        "{who} already runs the local Coordinator with its state in {dir}{serving}; a second one would write the same files"
    )
}
/// `seedward` with no subcommand and no terminal (a script, `< /dev/null`, a pipe).
pub const NO_TERMINAL: &str = "the console needs an interactive terminal, and this one has none; in scripts use the subcommands (`seedward --help` lists them, e.g. `seedward status`)";
pub const CONNECT_OR_EXIT: &str =
    "Type c and Enter to connect to that Coordinator, or just Enter to exit: ";
pub const EXITED_NOTHING_STARTED: &str = "Exited; nothing was started.";
pub fn remote_location(address: &str) -> String {
    format!("Coordinator at {address}")
}
pub fn health_ok(ms: u64) -> String {
    format!("✓ connected ({ms} ms)")
}
pub const HEALTH_CONNECTING: &str = "… connecting";
/// The connection line when the last refresh failed. A server that answered, but not as a
/// Coordinator (plain HTTP on that port), is said to be that, not "unreachable".
pub fn health_failed(message: &str) -> String {
    if message.contains("is not a Seedward Coordinator") {
        let what = message
            .strip_prefix("the Coordinator refused: ")
            .unwrap_or(message);
        return format!("✗ wrong server: {what}");
    }
    format!("✗ unreachable: {message}")
}
/// What to do next while the Coordinator does not answer.
pub fn next_unreachable(address: &str) -> String {
    format!(
        "Nothing usable answers at {address}: check that the Coordinator runs there and the address and port are right (--coordinator ADDR). The dashboard retries every 2 s; F5 retries now."
    )
}

// Dashboard
pub const COORDINATOR_BLOCK: &str = "Coordinator";
pub const KEYS_BLOCK: &str = "Owner keys";
pub const REPLICAS_BLOCK: &str = "Replicas (shared store)";
pub const NEXT_BLOCK: &str = "What to do next";
pub const LABEL_STATE: &str = "State";
pub const LABEL_GENERATION: &str = "Generation";
pub const LABEL_LATEST: &str = "Latest";
pub const LABEL_ROOT_CA: &str = "Root CA key";
pub const LABEL_EVIDENCE: &str = "Evidence";
pub const LABEL_TRUST: &str = "Trust";
pub const LABEL_CONNECTION: &str = "Connection";
pub const LABEL_ADDRESS: &str = "Address";
pub const LABEL_TLS: &str = "TLS key";
pub const LABEL_VERSION: &str = "Version";
pub const NONE_YET: &str = "(none yet)";
pub const NO_KEYS: &str =
    "No owner keys yet. Press s (setup) or o (owner keys) to create or import them.";
pub const NO_STATUS_YET: &str = "The Coordinator's state is not known yet: wait for the first refresh, or check the connection in the status bar.";
pub const TRUST_PINNED: &str = "✓ pinned: certificate signed by the root CA key saved at setup";
pub const TRUST_MISMATCH: &str =
    "… not the pinned root CA yet: expected while recovery is required";
pub const TRUST_TAKEOVER: &str = "✗ TAKEOVER: ready, but NOT from the root CA pinned at setup: these are not your deployment's keys. Do not use it; see docs/RELIABILITY.md";
pub const TRUST_MISSING_PIN: &str =
    "! unpinned: seed shares but no coordinator-root-ca.pem; recovery or the share drill writes it";
pub const TRUST_FIRST_USE: &str = "first use: nothing pinned yet (pinned after setup)";
pub const ATTESTED_BADGE: &str = " ATTESTED ";
pub const REFRESHING: &str = "refreshing every 2 s";

pub const NO_MATCHES: &str = "   no matches · Esc clears the filter";
pub const READ_ONLY_BADGE: &str = " READ-ONLY ";
pub const READ_ONLY_NEXT: &str =
    "Auditor mode (--read-only): nothing can be set, recovered or updated from here.";
pub const READ_ONLY_KEYS: &str =
    "Press h to audit the history: diff (Tab, m), export (x), verify a bundle (v).";
pub fn dashboard_keys_hint(state: &str) -> &'static str {
    match state {
        "uninitialized" => "Press s to start the first-time setup.",
        "recovery required" | "stale" => "Press r to start the recovery wizard.",
        "ready" => "Press h to audit the history, u to update the manifest.",
        _ => "",
    }
}

// Setup
pub const CHOOSE_MANIFEST: &str = "Choose a manifest file or start from the template.";
pub const MANIFEST_INVALID: &str =
    "The manifest has problems (listed above); fix the file and choose it again.";
pub fn owner_not_listed(name: &str) -> String {
    format!(
        "Your seed share owner key '{name}' is not in SeedshareOwnerPubKeys: you would get no seed share. Add its public key (shown on the owner-keys step) or start from the template."
    )
}
pub const CHECKING: &str = "… checking the Coordinator";
pub fn not_uninitialized(state: &str) -> String {
    format!(
        "The Coordinator is {state}, not uninitialized: it already has a manifest, and setup only works on a fresh Coordinator. Nothing was sent. Use the dashboard (Esc) to audit, recover or update it, or point seedward at a new Coordinator."
    )
}
pub fn setup_not_possible(state: &str) -> String {
    format!("Setup is only for an uninitialized Coordinator; this one is {state}.")
}
pub const KEYS_STEP_INTRO: &str =
    "Choose the key that will decrypt your seed share, and the key that signs manifest updates.";
pub const OWNER_KEY_LABEL: &str = "Seed share owner key (X25519)";
pub const WORKLOAD_KEY_LABEL: &str = "Workload owner key (P-384)";
pub const NOT_CHOSEN: &str = "✗ not chosen";
pub const IMMUTABLE_CHOSEN: &str = "none: immutable deployment";
pub const IMMUTABLE_WARNING: &str = "⚠ Immutable deployment: with no workload owner key, this manifest can never be updated. Only choose this on purpose.";
pub fn choice_use(name: &str, fp: &str) -> String {
    format!("Use '{name}' ({fp})")
}
pub fn choice_generate(kind: &str) -> String {
    format!("Create a new {kind}")
}
pub fn choice_import(kind: &str) -> String {
    format!("Import the {kind} from a PEM file")
}
pub const CHOICE_IMMUTABLE_OFF: &str = "No workload owner key: immutable deployment";
pub const CHOICE_IMMUTABLE_ON: &str = "✓ Immutable deployment chosen (Enter to undo)";
pub const CHOICE_CONTINUE: &str = "Continue →";
pub const CHOICE_CONTINUE_BLOCKED: &str =
    "Continue (choose both keys first, or an immutable deployment)";
pub const KIND_OWNER: &str = "seed share owner key";
pub const KIND_WORKLOAD: &str = "workload owner key";
pub const IMPORT_PROMPT: &str =
    "Path of the PKCS#8 PEM file (e.g. from openssl genpkey), Enter to import:";
pub const CHOICE_TEMPLATE: &str =
    "Start from the template (writes manifest.json and policies/ here)";
pub const MANIFEST_NONE: &str = "No manifest chosen yet.";
pub const MANIFEST_VALID: &str = "✓ valid";
pub const LABEL_POLICIES: &str = "Policies";
pub const LABEL_SEEDSHARE_OWNERS: &str = "Seed share owners";
pub const LABEL_WORKLOAD_OWNERS: &str = "Workload owners";
pub const LABEL_REFERENCE_VALUES: &str = "Reference values";
pub const LABEL_HASH: &str = "Manifest hash";
pub const YOUR_KEY: &str = "← your key";
pub const NONE_IMMUTABLE: &str = "(none: immutable)";
// ---- setup: the recovery threshold (k of n) ----------------------------------------------

/// The question of the threshold step.
pub fn threshold_question(owners: usize) -> String {
    format!(
        "How many of the {owners} seed share owners must come together to recover the Coordinator after a restart?"
    )
}

/// One choice of the threshold step.
pub fn threshold_choice(k: usize, owners: usize) -> String {
    if k == 1 {
        "1 — any one owner (each holds the whole seed)".into()
    } else if k == owners {
        format!("{k} of {owners} — every owner")
    } else {
        format!("{k} of {owners}")
    }
}

/// What choosing k of n means, for the operator deciding.
pub fn threshold_meaning(k: usize, owners: usize) -> Vec<String> {
    if k <= 1 {
        return vec![
            "k = 1: each owner holds the whole seed. Any one owner's laptop key is the whole deployment: whoever has it can recover the Coordinator and derive every workload secret.".into(),
            "After a restart one owner recovers alone.".into(),
        ];
    }
    let mut out = vec![
        format!(
            "k = {k}: the seed is split; no single owner can recover or derive workload secrets alone."
        ),
        format!(
            "After every restart {k} owners must join a recovery session (recovery board, or `seedward recover`)."
        ),
    ];
    if k == owners {
        out.push("Losing any one owner's key loses the deployment.".into());
    } else {
        let spare = owners - k;
        out.push(format!(
            "Up to {spare} owner key(s) may be lost; losing {} loses the deployment.",
            spare + 1
        ));
    }
    out
}

/// What Enter does on the threshold step.
pub fn threshold_enter(k: usize) -> String {
    if k <= 1 {
        "Enter: keep the manifest as it is (no SeedshareOwnerThreshold means 1).".into()
    } else {
        format!(
            "Enter: write \"SeedshareOwnerThreshold\": {k} into the manifest that is set (new hash; saved as manifest.json at the set)."
        )
    }
}

/// The confirm pane's recovery line: k of n, and where k came from.
pub fn threshold_summary(k: usize, owners: usize, chosen_here: bool) -> String {
    let origin = if chosen_here {
        "chosen here"
    } else {
        "from the manifest"
    };
    if k <= 1 {
        format!("any 1 of {owners} owners alone ({origin})")
    } else {
        format!("{k} of {owners} owners together ({origin})")
    }
}

/// The confirm pane's `manifest.json` line when the set sends the manifest with k written in.
pub fn manifest_written_with_threshold(k: usize) -> String {
    format!(
        "manifest.json (with SeedshareOwnerThreshold {k}; a different manifest.json is kept as manifest.json.previous)"
    )
}

pub const MANIFEST_ENTER_AGAIN: &str = "Press Enter again on the chosen file to continue.";
pub const COORDINATOR_INTRO: &str =
    "This is the Coordinator the manifest will be sent to. Check its identity.";
pub const COORDINATOR_OK: &str =
    "✓ uninitialized: ready for its first manifest. Press Enter to continue.";
pub const RETRY_HINT: &str = "Press Enter to check again.";
pub const CONFIRM_INTRO: &str =
    "Nothing has been sent yet. Pressing Enter asks you to type a word to confirm.";
pub const CONFIRM_SET_TITLE: &str = "Send the first manifest?";
pub const CONFIRM_SET_WORD: &str = "set";
/// The word that both confirms and acknowledges sending to an UNATTESTED Coordinator.
pub const CONFIRM_UNATTESTED_WORD: &str = "unattested";
/// The word that confirms sending to a Coordinator: `unattested` when nothing attests it.
pub fn confirm_word(unattested: bool, word: &'static str) -> &'static str {
    if unattested {
        CONFIRM_UNATTESTED_WORD
    } else {
        word
    }
}
fn attestation_line(unattested: bool) -> String {
    if unattested {
        "It is UNATTESTED: nothing proves what runs there.".into()
    } else {
        "Its TEE evidence verified against the manifest's reference values.".into()
    }
}
pub fn confirm_set_body(hash: &str, address: &str, unattested: bool) -> Vec<String> {
    let word = confirm_word(unattested, CONFIRM_SET_WORD);
    vec![
        format!("Manifest {hash}"),
        format!("goes to the Coordinator at {address}."),
        attestation_line(unattested),
        "The seed shares come back and are saved in the workspace.".into(),
        format!("Type {word} and press Enter to send; Esc cancels."),
    ]
}
pub const WILL_WRITE: &str = "Files written after the set";
pub const SETTING: &str = "… sending the manifest";
pub const DRILLING: &str = "… share drill: decrypting your share and verifying the Coordinator";
pub const IMPORTING: &str = "… importing the key";
pub const GENERATING: &str = "… generating the key";
pub const LOADING: &str = "… reading the manifest";
pub const SET_DONE: &str = "✓ manifest set";
pub const FILES_WRITTEN: &str = "Files written";
pub const DRILL_OK: &str = "your share recovers this Coordinator ✓";
pub fn drill_details(fp: &str, generation: u64, latest: &str) -> Vec<String> {
    vec![
        format!("✓ seed share decrypted with owner key {fp}"),
        format!("✓ history verified: generation {generation}, latest {latest}"),
        "✓ the root CA key equals the one derived from your seed".into(),
        "✓ signing key saved for audits: history-signing-key.pem".into(),
    ]
}
/// The manifest view's line for `SeedshareOwnerThreshold`.
pub fn threshold_line(threshold: usize, owners: usize) -> String {
    if threshold <= 1 {
        "  each owner alone can recover (SeedshareOwnerThreshold 1)".into()
    } else {
        format!(
            "  any {threshold} of the {owners} owners recover together; fewer learn nothing (SeedshareOwnerThreshold)"
        )
    }
}

pub fn threshold_not_wizard(threshold: usize, owners: usize) -> String {
    format!(
        "this Coordinator's seed is split {threshold} of {owners}: your share alone does not recover it. Esc, then b on the dashboard opens the recovery board, where you send your share and follow the other owners (or run `seedward recover`)"
    )
}
pub const THRESHOLD_DRILL_OK: &str = "your share is intact ✓";
pub fn threshold_drill_details(
    fp: &str,
    index: u8,
    threshold: usize,
    owners: usize,
) -> Vec<String> {
    vec![
        format!("✓ share {index} of {owners} decrypted with owner key {fp}"),
        "✓ it matches its commitment in seed-shares.json".into(),
        "✓ the Coordinator serves the pinned root CA and this manifest".into(),
        format!("any {threshold} of the {owners} owners recover it together (b: recovery board)"),
    ]
}
pub const DRILL_FAILED: &str = "✗ share drill failed";
pub const DRILL_RETRY: &str =
    "The manifest is set; your files are saved. Press Enter to run the drill again.";
pub const SETUP_FINISHED: &str = "Setup finished. Keep seed-shares.json and your owner key safe: together they recover this Coordinator. Press Enter for the dashboard.";
pub const SET_FAILED: &str = "✗ the set failed; nothing was saved";

// Keys
pub const KEY_ERROR_TITLE: &str = "Key store";
pub const EXPORTED_TITLE: &str = "Exported";
pub fn exported(path: &str) -> String {
    format!("Public key written to {path}")
}
pub fn key_added(name: &str, fp: &str) -> String {
    format!("✓ key '{name}' stored ({fp})")
}
pub const KEYS_CHOOSE_KIND_GENERATE: &str = "Generate which key?";
pub const KEYS_CHOOSE_KIND_IMPORT: &str = "Import which key?";
pub const KEYS_COLUMNS: [&str; 4] = ["Name", "Kind", "Stored in", "Fingerprint"];
pub fn keystore_line(backend: &str) -> String {
    format!("Private keys are stored in: {backend}")
}
pub const WORKSPACE_ERROR_TITLE: &str = "Workspace";

// Recovery
pub fn recovery_not_needed(state: &str) -> String {
    format!(
        "Recovery is only for a Coordinator that restarted (recovery required or stale); this one is {state}."
    )
}
pub const RECOVERY_KEY_INTRO: &str =
    "Choose the seed share owner key that decrypts your share in seed-shares.json.";
pub const RECOVERY_NO_KEYS: &str = "No seed share owner key in the key store. Import yours with o (owner keys) from the dashboard.";
pub fn key_chosen(name: &str, fp: &str) -> String {
    format!("'{name}' ({fp})")
}
pub fn share_decrypted(fp: &str) -> String {
    format!("your share, encrypted for owner key {fp}")
}
pub fn preflight_ok(generation: u64, latest: &str) -> String {
    format!(
        "the history verifies with your seed (generation {generation}, latest {latest}); nothing sent"
    )
}
pub const IDENTITY_INTRO: &str =
    "Your seed goes to this Coordinator next. Check it, then press Enter and type recover.";
pub const IDENTITY_CONFIRMED: &str = "confirmed by typing";
pub const CONFIRM_RECOVER_TITLE: &str = "Send your seed to this Coordinator?";
pub const CONFIRM_RECOVER_WORD: &str = "recover";
pub fn confirm_recover_body(latest: &str, address: &str, unattested: bool) -> Vec<String> {
    let word = confirm_word(unattested, CONFIRM_RECOVER_WORD);
    vec![
        format!("The seed is sealed to the challenge of {address}"),
        format!("and bound to latest transition {latest}."),
        attestation_line(unattested),
        format!("Type {word} and press Enter to send; Esc cancels."),
    ]
}
pub const RECOVERY_ACCEPTED: &str =
    "the Coordinator accepted the seed; the seed is wiped from memory";
pub const REVERIFIED: &str = "ready, root CA key equals the pin, history unchanged";
pub fn reverify_problems(root_ok: bool, history_ok: bool) -> String {
    let mut out = Vec::new();
    if !root_ok {
        out.push("✗ the root CA key is not the pinned one: do not trust this Coordinator, check coordinator-root-ca.pem");
    }
    if !history_ok {
        out.push("✗ the history changed during recovery: audit it (h) before you rely on it");
    }
    out.join("; ")
}
pub const CHECKLIST_HEAD: &str = "Now, for you to do (not tracked here):";
/// What to do after a recovery: numbered steps for the operator, not checkboxes (the UI does
/// not track them, so nothing should look toggleable).
pub const CHECKLIST: [&str; 4] = [
    "1. The mesh CA changed: restart every workload so that it gets a certificate from the new mesh CA.",
    "2. Distribute the new mesh-ca.pem (saved in the workspace) to clients that verify workloads.",
    "3. Audit the history (h on the dashboard) if anything above was not ✓.",
    "4. Keep seed-shares.json and your owner key safe for the next restart.",
];
pub const RECOVERY_NEXT_FAILED: &str = "Nothing further was sent. Fix the cause above and press Enter to retry this step, or Esc to leave.";
pub const RECOVERY_DECRYPT_FAILED: &str = "Press Enter to choose another key, or Esc to leave.";
pub const RECOVERY_DONE: &str = "Recovery finished. Press Enter for the dashboard.";
pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running…";

// History
pub const AUDITING: &str = "… auditing the history";
pub const VIEW_STRUCTURED: &str = "Manifest";
pub const VIEW_RAW: &str = "Raw JSON";
pub const VIEW_DIFF: &str = "Semantic diff";
pub const VIEW_LINE_DIFF: &str = "Line diff";
pub const TIMELINE: &str = "Timeline (newest first)";
pub const HISTORY_COLUMNS: &str = " gen ✓ transition    manifest      pol own";
pub fn audit_summary(all: bool, source: &str, failure: Option<&str>) -> String {
    match (all, failure) {
        (true, _) => {
            format!("✓ every entry re-hashed and the latest signature verified with {source}")
        }
        (false, Some(f)) => format!("✗ {f}"),
        (false, None) => "✗ not verified".into(),
    }
}
pub const KEY_FROM_SEED: &str = "the key derived from your seed share";
pub const KEY_SAVED: &str = "the signing key saved at setup";
pub const KEY_FROM_DOCUMENT: &str = "the HistorySigningKey of seed-shares.json";
pub const KEY_NONE: &str = "no key";
pub fn diff_against(from: u64, to: u64) -> String {
    format!("generation {from} → {to}")
}
pub const DIFF_EMPTY: &str = "No semantic change (formatting only, or the same manifest).";
pub const DIFF_FIRST: &str =
    "Generation 1 has no predecessor; mark another generation with m to diff against it.";
pub const UNPARSEABLE: &str = "✗ this stored manifest does not parse; shown raw only";
/// The bottom line of a pane whose content does not fit: which lines are shown, and the keys.
pub fn scroll_position(first: usize, last: usize, total: usize, keys: &str) -> String {
    format!(" lines {first}–{last} of {total} · {keys} ")
}
pub const EXPORTING_BUNDLE: &str = "… exporting the history bundle";
pub const VERIFYING_BUNDLE: &str = "… verifying the bundle offline";
pub const BUNDLE_PROMPT: &str =
    "Path of the history bundle to verify offline (relative to the workspace), Enter to verify:";
pub const BUNDLE_TITLE: &str = "History bundle";
pub const BUNDLE_EXPORTED_TITLE: &str = "History bundle exported";
pub const BUNDLE_VERIFIED_TITLE: &str = "✓ Bundle verifies";
pub const BUNDLE_FAILED_TITLE: &str = "Bundle does not verify";
pub fn bundle_exported(e: &super::effects::BundleExport) -> String {
    format!(
        "Generations 1–{} written to\n{}\nSHA-256 of the file:\n{}\n{}\nPress v to verify it offline here (Enter closes), or elsewhere run:\nseedward history verify-bundle FILE --signing-key history-signing-key.pem",
        e.generation,
        e.path.display(),
        e.digest.to_hex(),
        if e.signing_key_included {
            "✓ verified before export; the signing public key is included."
        } else {
            "⚠ NOT verified (no signing key available); no signing key is included."
        }
    )
}
pub fn bundle_verified(c: &super::effects::BundleCheck) -> String {
    let mut lines = vec![
        c.path.display().to_string(),
        format!("generation {}, latest {}…", c.generation, c.latest.short()),
    ];
    if c.ok {
        lines.push(if c.anchored {
            format!("✓ every entry re-hashed, latest signature verified with {}", c.anchor)
        } else {
            "⚠ self-consistent only: it verifies with the key it carries itself, which proves nothing about its origin (no history-signing-key.pem in the workspace)".to_string()
        });
    } else {
        for f in &c.failing {
            lines.push(format!("✗ {f}"));
        }
        for p in &c.problems {
            lines.push(format!("✗ {p}"));
        }
        lines.push("Do not trust this bundle; export it again from the Coordinator.".into());
    }
    lines.join("\n")
}

// Update
pub const UPDATE_PICK: &str =
    "Choose the new manifest (a *.json file in the workspace; F5 reads the files again):";
pub const UPDATE_NO_FILES: &str = "No *.json files in the workspace. Put the new manifest there.";
pub const UPDATING: &str = "… signing and sending the update";
pub const UPDATE_NEEDS_AUDIT: &str =
    "The active history did not verify: audit it (h) and resolve that before updating.";
pub const IMMUTABLE: &str = "The active manifest has no workload owner keys: this deployment is immutable and cannot be updated.";
pub const NO_WORKLOAD_KEY: &str = "No workload owner key in your key store is listed in the active manifest's WorkloadOwnerPubKeys; import the right key (o).";
pub const SAME_MANIFEST: &str =
    "This is the active manifest already (same hash); choose the new one.";
pub const OWNERS_CHANGED: &str =
    "The new manifest changes the seed share owners, which can never change after the first set.";
pub fn update_not_possible(state: &str) -> String {
    format!("Updates need a ready Coordinator; this one is {state}.")
}
pub const CONFIRM_UPDATE_TITLE: &str = "Replace the active manifest?";
pub const CONFIRM_UPDATE_WORD: &str = "update";
pub fn confirm_update_body(hash: &str) -> Vec<String> {
    vec![
        format!("New manifest {hash}"),
        "is signed with your workload owner key and set atomically".into(),
        "against the audited latest transition. It is then written to".into(),
        "manifest.json (the file it replaces is kept as manifest.json.previous).".into(),
        format!("Type {CONFIRM_UPDATE_WORD} and press Enter to send; Esc cancels."),
    ]
}
/// `message` as a sentence of its own: first letter upper-case (errors are written to
/// follow "error: ", so they start lower-case).
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
pub const STALE_MARK: &str =
    "Someone else updated the manifest meanwhile; nothing of yours was set.";
pub const STALE_NEXT: &str = "The Active line above now shows the new latest transition. Review what changed, then press Enter to sign your manifest against it, or Esc to choose another.";
pub const CHANGED_MEANWHILE: &str =
    "What changed meanwhile (your audited version → the current one):";
pub fn update_done(generation: u64, transition: &str) -> String {
    format!(
        "✓ update set: generation {generation}, transition {transition}. Written to manifest.json (the file it replaced is kept as manifest.json.previous). Workloads pick up the new mesh CA on restart. Press Enter for the dashboard."
    )
}
pub const SIGN_WITH: &str = "Signs with";

// Popups
pub const QUIT_TITLE: &str = "Quit Seedward?";
pub const FLOW_SETUP: &str = "first-time setup";
pub const FLOW_RECOVERY: &str = "recovery";
pub const FLOW_UPDATE: &str = "manifest update";
pub fn leave_title(flow: &str) -> String {
    format!("Leave the {flow}?")
}
/// The body of the quit / leave question for an unfinished `flow`.
pub fn unfinished_body(flow: &str, quit: bool) -> String {
    let action = if quit { "Quit" } else { "Leave" };
    let share = if flow == FLOW_RECOVERY {
        ", and the decrypted seed share is forgotten"
    } else {
        ""
    };
    format!(
        "The {flow} is not finished. Nothing is half-sent: what was not sent stays unsent{share}. {action} anyway? y: {} · n or Esc: stay",
        action.to_lowercase()
    )
}
pub fn typed_mismatch(expected: &str) -> String {
    format!("type exactly: {expected}")
}
/// A submitted word that was not the expected one: nothing was sent.
pub fn typed_rejected(word: &str, expected: &str) -> String {
    let word: String = word.chars().filter(|c| !c.is_control()).take(24).collect();
    format!("✗ \"{word}\" is not \"{expected}\": nothing was sent; type {expected}")
}

// ---- recovery board (threshold deployments) ---------------------------------------------

pub const BOARD_TITLE: &str = "Recovery board";
pub const BOARD_LOADING: &str = "asking the Coordinator for its recovery session…";
pub const BOARD_NO_KEY: &str =
    "No seed share owner key in this workspace's key store: import yours first (o: owner keys).";
pub const BOARD_NOTHING_TO_CANCEL: &str =
    "No recovery session is open: there is nothing to cancel.";
pub const BOARD_HOW_TO_START: &str =
    "Press Enter to send your share: that opens a session the other owners join.";
pub const BOARD_NOTHING_TO_RECOVER: &str = "Nothing to recover: owners send their shares here only after a restart of a k-of-n Coordinator (recovery required).";
pub const BOARD_SEND_TITLE: &str = "Send your share";
pub const BOARD_CANCEL_TITLE: &str = "Cancel the recovery session";
pub const BOARD_CANCEL_WORD: &str = "cancel";
pub const BOARD_SENT: &str = "✓ the Coordinator accepted your share";
pub const BOARD_RECOVERED: &str = "✓ yours was the last share needed: the Coordinator combined the shares, verified its history and is ready. Restart every workload (new mesh CA).";
pub const BOARD_CANCELLED: &str = "✓ you cancelled the session; every share sent to it is dropped";

pub fn board_no_session(state: &str) -> String {
    format!("No recovery session is open (the Coordinator is {state}).")
}

pub fn board_headline(threshold: u32, owners: usize, submitted: u32, remaining: u32) -> String {
    format!("{threshold} of {owners} owners needed: {submitted} sent, {remaining} to go")
}

pub fn board_wrong_share(fingerprint: &str, index: u32) -> String {
    format!(
        "✗ owner key {fingerprint} sent a share that is not share {index} (another deployment's file?)"
    )
}

pub fn board_time_left(secs: u64) -> String {
    format!(
        "time left: {}m {:02}s, then the session ends and the shares are dropped",
        secs / 60,
        secs % 60
    )
}

pub fn board_next(remaining: u32) -> String {
    match remaining {
        0 => "next: the Coordinator combines the shares and verifies its history".into(),
        1 => "next: one more owner sends their share (seedward recover, or Enter here)".into(),
        n => format!("next: {n} more owners send their shares (seedward recover, or Enter here)"),
    }
}

pub fn board_last_ended(outcome: &str, detail: &str) -> String {
    match (outcome, detail.is_empty()) {
        ("cancelled", false) => format!("last session: cancelled by owner key {detail}"),
        (_, false) => format!("last session: {outcome}: {detail}"),
        (_, true) => format!("last session: {outcome}"),
    }
}

pub fn board_send_body(key: &str, unattested: bool) -> Vec<String> {
    let word = confirm_word(unattested, CONFIRM_RECOVER_WORD);
    vec![
        format!("Your share (owner key {key}) is checked against its commitment,"),
        "then sealed to the session key of this Coordinator and sent.".into(),
        attestation_line(unattested),
        format!("Type {word} to send it."),
    ]
}

pub fn board_cancel_body() -> Vec<String> {
    vec![
        "Every share sent to the open session is dropped;".into(),
        "the owners must start again. Proven with your owner key.".into(),
        format!("Type {BOARD_CANCEL_WORD} to end it."),
    ]
}

/// "12s ago", "3m ago", at `now`.
pub fn ago(now: std::time::SystemTime, at: std::time::SystemTime) -> String {
    let secs = now.duration_since(at).map_or(0, |d| d.as_secs());
    if secs < 60 {
        format!("{secs}s ago")
    } else {
        format!("{}m ago", secs / 60)
    }
}
