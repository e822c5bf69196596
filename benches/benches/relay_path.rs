//! One `chat:message` through a node of this process: read off the sender's WebSocket, decoded,
//! validated, kept in the partner's log, encoded, written to the partner's WebSocket, acked.
//! One iteration waits for both the partner's copy and the sender's ack, so it is the latency of
//! the whole path on loopback (client work included), not a throughput.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn relay_path(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    else {
        eprintln!("relay_path: no Tokio runtime");
        return;
    };
    let pair = runtime.block_on(async {
        let node = duet_benches::Node::start().await?;
        let (ada, bob) = node.pair().await?;
        Ok::<_, duet_benches::Error>((node, ada, bob))
    });
    let (_node, mut ada, mut bob) = match pair {
        Ok(pair) => pair,
        Err(error) => {
            eprintln!("relay_path: could not set up a pair: {error}");
            return;
        }
    };
    let mut group = c.benchmark_group("relay_path");
    group.throughput(Throughput::Elements(1));
    for (name, text_chars) in [("text_64", 64), ("text_2000", 2000)] {
        let frame = format!(
            r#"421["chat:message",{{"text":"{}","clientId":"c"}}]"#,
            "x".repeat(text_chars)
        );
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let sent = ada.send(&frame).await;
                        let received = bob.wait_for(r#"42["chat:message""#).await;
                        let acked = ada.wait_for("431").await;
                        assert!(sent.is_ok() && received.is_ok() && acked.is_ok());
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, relay_path);
criterion_main!(benches);
