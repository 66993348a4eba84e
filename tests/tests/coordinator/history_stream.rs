//! Issue #20 item 1: `GetManifests` is one message, so a long history cost the daemon twice
//! its size per call and, past 1 GiB, could not be read at all. `StreamManifests` sends it
//! in pages, newest first, each transition with its previous hash (the client checks every
//! entry as it arrives), a repeated manifest once; `GetManifests` stays, bounded by
//! `--max-history-message-bytes` (HISTORY_TOO_LARGE beyond), and `seedward` reads the
//! stream by itself.

use std::collections::BTreeSet;
use std::time::Duration;

use seedward_proto::v1 as pb;
use seedward_shared::history::{ChainReader, Digest, Transition};
use seedward_tests::error_reason;
use tonic::Code;

use crate::support::*;

async fn raw_api(addr: &str) -> pb::user_api_client::UserApiClient<tonic::transport::Channel> {
    let connection = seedward::client::connect(addr, seedward::client::Trust::FirstUse)
        .await
        .unwrap();
    pb::user_api_client::UserApiClient::new(connection.channel.clone())
}

async fn pages(
    addr: &str,
    page_bytes: u32,
) -> Result<Vec<pb::ManifestsPage>, (Vec<pb::ManifestsPage>, tonic::Status)> {
    let mut api = raw_api(addr).await;
    let mut stream = match api
        .stream_manifests(pb::StreamManifestsRequest { page_bytes })
        .await
    {
        Ok(s) => s.into_inner(),
        Err(status) => return Err((Vec::new(), status)),
    };
    let mut got = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(page)) => got.push(page),
            Ok(None) => return Ok(got),
            Err(status) => return Err((got, status)),
        }
    }
}

fn policy_set(policies: &[Vec<u8>]) -> BTreeSet<Vec<u8>> {
    policies.iter().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_history_is_the_same_history_in_pages_with_repeats_sent_once() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut d = Deployment::new(&state).await;
    let client = connect(&d.process.addr).await;
    // Generations 1..=6 install manifests 0, 1, 0, 2, 1, 3: four distinct.
    let mut latest = d.latest();
    for n in [1, 0, 2, 1, 3] {
        let response = update(&client, &d.keys, n, latest).await.unwrap();
        latest = digest(&response.transition_hash);
    }
    let unary = client.manifests_unary().await.unwrap();
    assert_eq!(unary.manifests.len(), 6);
    assert!(unary.verified);

    // One entry per page: six pages, newest first, linked by their previous hashes.
    let small = pages(&d.process.addr, 1).await.unwrap();
    assert_eq!(small.len(), 6, "one entry per page");
    let header = &small[0];
    assert_eq!(header.latest_transition_hash, latest.as_bytes().to_vec());
    assert_eq!(header.latest_signature, unary.latest_signature);
    assert!(header.verified);
    assert_eq!(header.generation, 6);
    assert_eq!(header.root_ca_cert, unary.root_ca_cert);
    for later in &small[1..] {
        assert!(later.latest_transition_hash.is_empty() && later.generation == 0);
    }
    let entries: Vec<&pb::HistoryEntry> = small.iter().flat_map(|p| &p.entries).collect();
    let mut expected = latest;
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(
            entry.transition_hash,
            expected.as_bytes().to_vec(),
            "entry {i}"
        );
        let previous = digest(&entry.previous_transition_hash);
        let manifest_hash = digest(&entry.manifest_hash);
        assert_eq!(Transition::after(previous, manifest_hash).hash(), expected);
        // Oldest first in GetManifests: entry i is generation 6 - i.
        assert_eq!(manifest_hash, Digest::of(&unary.manifests[5 - i]));
        expected = previous;
    }
    assert!(
        expected.is_zero(),
        "the stream ends with the first transition"
    );
    let carried = entries.iter().filter(|e| !e.manifest.is_empty()).count();
    assert_eq!(carried, 4, "each distinct manifest once");
    let streamed_policies: Vec<Vec<u8>> = small.iter().flat_map(|p| p.policies.clone()).collect();
    assert_eq!(
        streamed_policies.len(),
        policy_set(&streamed_policies).len(),
        "each policy once"
    );
    assert_eq!(policy_set(&streamed_policies), policy_set(&unary.policies));

    // The default page holds all of it.
    assert_eq!(pages(&d.process.addr, 0).await.unwrap().len(), 1);

    // What the client library makes of the stream is what GetManifests says.
    let streamed = client.manifests().await.unwrap();
    assert_eq!(streamed.manifests, unary.manifests);
    assert_eq!(
        streamed.latest_transition_hash,
        unary.latest_transition_hash
    );
    assert_eq!(policy_set(&streamed.policies), policy_set(&unary.policies));
    let mut reader = ChainReader::new(latest);
    for e in &entries {
        reader
            .push(
                &e.transition_hash,
                &e.previous_transition_hash,
                &e.manifest_hash,
                e.manifest.clone(),
            )
            .unwrap();
    }
    assert_eq!(reader.finish().unwrap(), unary.manifests);

    // Restarted with a GetManifests limit below the history's size: the one-message RPC is
    // refused with a reason that names the stream; the stream serves the unverified history
    // of a recovery-required Coordinator, and the client falls back to nothing.
    d.process.kill();
    let total: usize = unary.manifests.iter().map(Vec::len).sum();
    let limit = (total / 2).to_string();
    let process = start_with(&state, &["--max-history-message-bytes", &limit]).await;
    let client = connect(&process.addr).await;
    let refused = client.manifests_unary().await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(error_reason(&refused), Some("HISTORY_TOO_LARGE"));
    assert!(
        refused.message().contains("StreamManifests"),
        "{}",
        refused.message()
    );
    let streamed = client.manifests().await.unwrap();
    assert!(!streamed.verified);
    assert_eq!(streamed.manifests, unary.manifests);

    // A tampered blob ends the stream with HISTORY_CORRUPT naming it, after the pages that
    // were good.
    let oldest = Digest::of(&unary.manifests[0]);
    let path = state.join("history/manifests").join(oldest.to_hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (good, status) = pages(&process.addr, 1).await.unwrap_err();
    assert!(!good.is_empty(), "pages before the damage arrived");
    assert_eq!(status.code(), Code::DataLoss);
    assert_eq!(error_reason(&status), Some("HISTORY_CORRUPT"));
    assert!(
        status.message().contains(&oldest.to_hex()),
        "{}",
        status.message()
    );
}

/// Issue #20 item 3: the first `GetStatus` after a restart walked the whole chain to count
/// it (0.84 s at 100,000 transitions). The count is noted in `<state-dir>/generation` for
/// the latest it belongs to, so a restart reports it without a walk; a hint for another
/// latest is ignored, and `Recover` still verifies the whole chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_coordinator_reports_its_generation_without_walking() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let mut d = Deployment::new(&state).await;
    let client = connect(&d.process.addr).await;
    let mut latest = d.latest();
    for n in 1..=3 {
        latest = digest(
            &update(&client, &d.keys, n, latest)
                .await
                .unwrap()
                .transition_hash,
        );
    }
    let hint = state.join("generation");
    assert_eq!(
        std::fs::read_to_string(&hint).unwrap(),
        format!("{latest} 4\n")
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&hint).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    d.process.kill();

    // Break the chain below the latest: a walk cannot count it any more, so a correct
    // count proves that none ran.
    let first = Transition::first(Digest::of(&d.keys.manifest(0).0)).hash();
    let blob = state.join("history/transitions").join(first.to_hex());
    std::fs::rename(&blob, tmp.path().join("moved")).unwrap();
    let process = start(&state).await;
    let client = connect(&process.addr).await;
    let status = client.status().await.unwrap();
    assert_eq!(status.state, RECOVERY_REQUIRED);
    assert_eq!(status.generation, 4, "from the hint:\n{}", process.log());
    assert!(
        !process.log().contains("does not walk"),
        "{}",
        process.log()
    );
    drop(client);
    drop(process);

    // A hint for another latest is ignored: the walk runs (and here fails).
    std::fs::write(&hint, format!("{} 4\n", Digest::of(b"another"))).unwrap();
    let process = start(&state).await;
    let client = connect(&process.addr).await;
    let status = client.status().await.unwrap();
    assert_eq!(status.generation, 0, "the walk fails on the missing blob");
    assert!(process.log().contains("does not walk"), "{}", process.log());

    // Repaired, the walk counts again and notes it.
    std::fs::rename(tmp.path().join("moved"), &blob).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            let client = client.clone();
            async move { client.status().await.is_ok_and(|s| s.generation == 4) }
        })
        .await
    );
    assert_eq!(
        std::fs::read_to_string(&hint).unwrap(),
        format!("{latest} 4\n")
    );
}
