//! `spawn_matcher` hands pairs that form when waits end to a channel, on Tokio's (paused) clock.

use std::sync::Arc;
use std::time::Duration;

use duet_core::{GuestId, ManualClock};
use duet_matchmaker::{Interests, MatchConfig, MatchQueue, MemoryQueue, Ticket, spawn_matcher};

#[tokio::test(start_paused = true)]
async fn pairs_formed_by_ended_waits_arrive_on_the_channel() {
    let clock = ManualClock::new();
    let config = MatchConfig::default().with_interest_wait(Duration::from_secs(10));
    let queue: Arc<dyn MatchQueue> =
        Arc::new(MemoryQueue::with_clock(config, Arc::new(clock.clone())));
    let (a, b) = (GuestId::random(), GuestId::random());
    let rust = Interests::parse(["rust"]).unwrap_or_default();
    let _ = queue.enqueue(Ticket::new(a, rust)).await;
    let _ = queue.enqueue(Ticket::new(b, Interests::none())).await;

    let (mut due, task) = spawn_matcher(Arc::clone(&queue), Duration::from_millis(100));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(
        due.try_recv().is_err(),
        "nothing is due before the wait ends"
    );

    clock.advance(Duration::from_secs(10));
    let work = tokio::time::timeout(Duration::from_secs(1), due.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(work.pairings.len(), 1);
    assert_eq!(work.pairings[0].initiator.guest, a);
    assert_eq!(work.pairings[0].responder.guest, b);

    drop(due);
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .is_ok(),
        "the task ends with its receiver"
    );
}
