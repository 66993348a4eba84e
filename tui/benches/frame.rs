//! Criterion benches of the TUI's drawing: the first frame (App construction + the first draw)
//! and a frame of the history audit with a 100,000-entry timeline (the list is virtualized:
//! only the rows on screen are formatted), and a key press in its filter (the timeline searched
//! again: all entries for the first character, only the previous result for each further one).
//!
//! `cargo bench -p seedward --bench frame -- --warm-up-time 1 --measurement-time 3`

#![allow(
    clippy::expect_used,
    reason = "bench setup: a panic is the failure report"
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use seedward::ops::{self, SigningKeySource};
use seedward::ui::app::{App, HistoryView, Input, Location, Screen};
use seedward::ui::render;
use seedward_proto::v1 as pb;
use seedward_shared::history::{LatestTransition, chain_from_manifests};
use seedward_shared::manifest::Manifest;

const ENTRIES: usize = 100_000;

fn app() -> App {
    App::new(
        Location::Remote {
            address: "127.0.0.1:1313".into(),
        },
        PathBuf::from("/nonexistent/workspace"),
        false,
    )
}

/// An App on the history screen with `n` verified entries.
fn history_app(n: usize) -> App {
    let owner = "ab".repeat(32);
    let template = Manifest::template(&[owner], &[]);
    let text = String::from_utf8(template.manifest).expect("utf-8");
    let manifests: Vec<Vec<u8>> = (0..n)
        .map(|g| {
            text.replacen(
                "\"ReferenceValues\": {}",
                &format!("\"ReferenceValues\": {{\"generation\": {g}}}"),
                1,
            )
            .into_bytes()
        })
        .collect();
    let tip = chain_from_manifests(&manifests)
        .last()
        .map(|(h, _)| *h)
        .expect("non-empty");
    let key = p384::ecdsa::SigningKey::from_slice(&[7; 48]).expect("scalar");
    let latest = LatestTransition::sign(tip, &key).expect("sign");
    let response = pb::GetManifestsResponse {
        manifests,
        latest_transition_hash: tip.as_bytes().to_vec(),
        latest_signature: latest.signature().to_vec(),
        verified: true,
        ..Default::default()
    };
    let audit = ops::audit_response(
        response,
        Some((*key.verifying_key(), SigningKeySource::SeedShare)),
    )
    .expect("audit");
    assert!(audit.all_verified());
    let mut app = app();
    let mut view = HistoryView::new();
    view.set_audit(Some(Box::new(audit)));
    view.loading = false;
    app.screen = Screen::History(Box::new(view));
    app
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("tui");
    group.bench_function("first frame (App::new + first draw, 120x40)", |b| {
        b.iter(|| {
            let app = app();
            let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
            terminal
                .draw(|f| render::render(black_box(&app), f))
                .expect("draw");
        })
    });

    let mut app = history_app(ENTRIES);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    group.bench_function("history frame, 100k entries, cursor on newest", |b| {
        b.iter(|| {
            terminal
                .draw(|f| render::render(black_box(&app), f))
                .expect("draw");
        })
    });
    if let Screen::History(h) = &mut app.screen {
        h.list.cursor = ENTRIES / 2;
    }
    group.bench_function("history frame, 100k entries, cursor in the middle", |b| {
        b.iter(|| {
            terminal
                .draw(|f| render::render(black_box(&app), f))
                .expect("draw");
        })
    });
    if let Screen::History(h) = &mut app.screen {
        h.list.cursor = 0;
        h.list.filter = Some(Input {
            value: "9".into(),
            masked: false,
        });
    }
    group.sample_size(20);
    group.bench_function("history frame, 100k entries, filter typed", |b| {
        b.iter(|| {
            terminal
                .draw(|f| render::render(black_box(&app), f))
                .expect("draw");
        })
    });
    // A key press in the filter: the timeline is searched again. The first character
    // searches all entries; each further character only the previous result. Only the
    // search after the key press is timed (iter_custom), on the same view.
    let Screen::History(view) = &mut app.screen else {
        unreachable!("history_app opens the history screen")
    };
    let set = |v: &mut HistoryView, text: &str| {
        v.list.filter = Some(Input {
            value: text.into(),
            masked: false,
        });
    };
    group.bench_function("filter key press, 100k entries, first character", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                set(view, "");
                black_box(view.visible().len());
                set(view, "9");
                let start = std::time::Instant::now();
                black_box(view.visible().len());
                total += start.elapsed();
            }
            total
        })
    });
    // Typing a transition hash prefix: the sixth key press searches only what the first
    // five let through.
    let prefix = view
        .audit
        .as_ref()
        .and_then(|a| a.entries.get(ENTRIES / 2))
        .map(|e| e.chain.transition_hash.to_hex()[..6].to_string())
        .expect("the middle entry");
    group.bench_function(
        "filter key press, 100k entries, sixth character of a hash",
        |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    set(view, "");
                    black_box(view.visible().len());
                    for len in 1..6 {
                        set(view, &prefix[..len]);
                        black_box(view.visible().len());
                    }
                    set(view, &prefix);
                    let start = std::time::Instant::now();
                    black_box(view.visible().len());
                    total += start.elapsed();
                }
                total
            })
        },
    );
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
