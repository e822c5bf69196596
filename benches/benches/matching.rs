//! Matching across crates, as `user:match` does it for two guests: each one's chat and last
//! chat checked in the chat store (`duet-presence-store`), each one enqueued in the match queue
//! (`duet-matchmaker`), the pair the second enqueue forms created in the chat store, then ended
//! (so the store holds as many chats at every iteration). Memory queue and store, one core: the
//! work a node does per pair beyond the network.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duet_core::GuestId;
use duet_matchmaker::{Enqueued, Interests, MatchConfig, MatchQueue, MemoryQueue, Ticket};
use duet_presence_store::{Pair, Stores};

/// One guest's `user:match`: refused when in a chat, else enqueued naming its last partner.
async fn user_match(stores: &Stores, queue: &MemoryQueue, guest: GuestId) -> Option<Enqueued> {
    if !matches!(stores.chats.pair_of(&guest).await, Ok(None)) {
        return None;
    }
    let last = stores.chats.last_chat(&guest).await.ok()?;
    let ticket = Ticket::new(guest, Interests::none()).with_last_partner(last.map(|c| c.partner));
    queue.enqueue(ticket).await.ok()
}

/// Two guests matched with each other and their chat created and ended; whether it worked.
async fn match_two(stores: &Stores, queue: &MemoryQueue) -> bool {
    let (first, second) = (GuestId::random(), GuestId::random());
    if !matches!(
        user_match(stores, queue, first).await,
        Some(Enqueued::Waiting)
    ) {
        return false;
    }
    let Some(Enqueued::Paired(pairing)) = user_match(stores, queue, second).await else {
        return false;
    };
    let now = queue.clock().now();
    let pair = Pair::new(pairing.initiator.guest, pairing.responder.guest, now);
    matches!(stores.chats.create_pair(&pair).await, Ok(true))
        && matches!(stores.chats.end_pair(&pair.room_id).await, Ok(Some(_)))
}

fn matching(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        eprintln!("matching: no runtime");
        return;
    };
    let stores = Stores::memory();
    let queue = MemoryQueue::new(MatchConfig::default());
    if !runtime.block_on(match_two(&stores, &queue)) {
        eprintln!("matching: two guests did not pair");
        return;
    }
    let mut group = c.benchmark_group("matching");
    group.throughput(Throughput::Elements(1));
    group.bench_function("two_guests_to_a_chat/memory", |b| {
        b.iter(|| runtime.block_on(match_two(&stores, &queue)));
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
