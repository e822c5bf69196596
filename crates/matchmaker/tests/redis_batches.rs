//! The Redis queue sends enqueues in batches. These tests check what batching must not change:
//! a script failure reaches every enqueue it concerns and no other, none of them hangs, the
//! queue works again once the cause is gone, and the batching task ends with the last handle.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::time::Duration;

use duet_core::{GuestId, ManualClock};
use duet_matchmaker::{
    Enqueued, Interests, MatchConfig, MatchQueue, QueueError, RedisQueue, RedisQueueConfig, Ticket,
};
use fred::prelude::{Client, KeysInterface};

/// Far longer than any batch takes: an enqueue that has not answered by then is lost.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

struct Fixture {
    queue: RedisQueue,
    client: Client,
    prefix: String,
    /// Removes the queue's keys when the test ends.
    _keys: duet_test_support::RedisKeysCleanup,
}

async fn fixture(test: &str) -> Option<Fixture> {
    let (keys, client) = duet_test_support::redis_for_test(test).await?;
    let prefix = keys.prefix().to_owned();
    let queue = RedisQueue::with_clock(
        client.clone(),
        MatchConfig::default(),
        RedisQueueConfig::default().with_key_prefix(prefix.clone()),
        Arc::new(ManualClock::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Some(Fixture {
        queue,
        client,
        prefix,
        _keys: keys,
    })
}

fn ticket(guest: GuestId, interest: &str) -> Ticket {
    Ticket::new(
        guest,
        Interests::parse([interest]).unwrap_or_else(|e| panic!("{e}")),
    )
}

async fn enqueue_in_time(queue: &RedisQueue, ticket: Ticket) -> Result<Enqueued, QueueError> {
    tokio::time::timeout(ANSWER_WITHIN, queue.enqueue(ticket))
        .await
        .unwrap_or_else(|_| panic!("an enqueue got no answer within {ANSWER_WITHIN:?}"))
}

#[tokio::test]
async fn a_failing_enqueue_fails_alone_and_the_queue_recovers() {
    let Some(f) = fixture("redis_batches::a_failing_enqueue_fails_alone").await else {
        return;
    };
    let waiting = GuestId::random();
    assert_eq!(
        enqueue_in_time(&f.queue, ticket(waiting, "chess"))
            .await
            .ok(),
        Some(Enqueued::Waiting)
    );

    // A guest who has to wait needs the next sequence number; text where the counter should be
    // makes that fail inside the script, while pairing with a waiting guest needs no number.
    let counter = format!("{}seq", f.prefix);
    let () = f
        .client
        .set(&counter, "not a number", None, None, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let partner = GuestId::random();
    let mut tasks = Vec::new();
    for n in 0..40 {
        let queue = f.queue.clone();
        tasks.push(tokio::spawn(async move {
            let guest = GuestId::random();
            let answer = enqueue_in_time(&queue, ticket(guest, &format!("alone-{n}"))).await;
            (guest, answer)
        }));
    }
    let paired = {
        let queue = f.queue.clone();
        tokio::spawn(async move { enqueue_in_time(&queue, ticket(partner, "chess")).await })
    };

    for task in tasks {
        let (guest, answer) = task.await.unwrap_or_else(|e| panic!("{e}"));
        match answer {
            Err(QueueError::Backend(error)) => {
                assert!(
                    error.to_string().contains("not an integer"),
                    "unexpected error: {error}"
                );
            }
            other => panic!("{guest} should have failed to wait, got {other:?}"),
        }
        let waits = f
            .queue
            .is_waiting(&guest)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!waits, "a failed enqueue left {guest} waiting");
    }
    match paired.await.unwrap_or_else(|e| panic!("{e}")) {
        Ok(Enqueued::Paired(pair)) => {
            assert_eq!(pair.initiator.guest, waiting);
            assert_eq!(pair.responder.guest, partner);
        }
        other => panic!("the chess player should have been paired, got {other:?}"),
    }

    // Once the counter is sound again, guests wait and pair as before.
    let _: i64 = f
        .client
        .del(&counter)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (first, second) = (GuestId::random(), GuestId::random());
    assert_eq!(
        enqueue_in_time(&f.queue, ticket(first, "go")).await.ok(),
        Some(Enqueued::Waiting)
    );
    match enqueue_in_time(&f.queue, ticket(second, "go")).await {
        Ok(Enqueued::Paired(pair)) => assert_eq!(pair.initiator.guest, first),
        other => panic!("expected a pair after recovery, got {other:?}"),
    }
}

#[tokio::test]
async fn the_batching_task_ends_with_the_last_queue_handle() {
    let Some(f) = fixture("redis_batches::the_batching_task_ends").await else {
        return;
    };
    let metrics = tokio::runtime::Handle::current().metrics();
    let handles = [f.queue.clone(), f.queue.clone()];
    let answer = enqueue_in_time(&handles[0], ticket(GuestId::random(), "solo")).await;
    assert_eq!(answer.ok(), Some(Enqueued::Waiting));
    let with_task = metrics.num_alive_tasks();

    drop(f.queue);
    drop(handles);
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    while metrics.num_alive_tasks() >= with_task {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batching task outlived every handle of its queue"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The client the test still holds keeps working: only the queue's own task ended.
    let _: i64 = f
        .client
        .exists(format!("{}seq", f.prefix))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
