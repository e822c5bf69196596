//! [`spawn_matcher`]: delivers the pairs that form when waits end, without polling in a busy
//! loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::DueWork;
use crate::queue::MatchQueue;

/// How much due work one tick handles at most before yielding to other tasks.
const DUE_BATCH: usize = 1024;

/// Calls [`MatchQueue::run_due`] every `tick` and sends what came due to the returned channel.
///
/// A tick costs what came due, not the number of guests waiting. The tick is the precision of
/// interest waits (100 ms is plenty against a 10 s wait). The task ends when the receiver is
/// dropped; a failing backend is logged and retried on the next tick.
pub fn spawn_matcher(
    queue: Arc<dyn MatchQueue>,
    tick: Duration,
) -> (mpsc::Receiver<DueWork>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(tick.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            loop {
                let work = match queue.run_due(DUE_BATCH).await {
                    Ok(work) => work,
                    Err(error) => {
                        tracing::warn!(%error, "match queue tick failed");
                        break;
                    }
                };
                let full_batch = work.pairings.len() + work.expired.len() >= DUE_BATCH;
                let empty = work.pairings.is_empty() && work.expired.is_empty();
                if !empty && sender.send(work).await.is_err() {
                    return;
                }
                if !full_batch {
                    break;
                }
            }
            if sender.is_closed() {
                return;
            }
        }
    });
    (receiver, task)
}
