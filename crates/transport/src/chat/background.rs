//! The node's recurring duties: pairs from ended waits, and the sweeps every node runs.

use super::*;

impl<A: Adapter> Chat<A> {
    /// Runs the node's duties until aborted: pairs from ended waits, expired sessions, ticket
    /// refreshes and budget pruning.
    pub fn spawn_background(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let (mut due, matcher) =
            duet_matchmaker::spawn_matcher(Arc::clone(&self.queue), self.settings.matcher_tick);
        let chat = Arc::clone(self);
        let deliver = tokio::spawn(async move {
            while let Some(work) = due.recv().await {
                for pairing in work.pairings {
                    chat.announce(pairing).await;
                }
            }
        });
        let chat = Arc::clone(self);
        let upkeep = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut tick: u64 = 0;
            loop {
                ticker.tick().await;
                tick = tick.wrapping_add(1);
                chat.upkeep(tick).await;
            }
        });
        vec![matcher, deliver, upkeep]
    }

    pub(super) async fn upkeep(&self, tick: u64) {
        let store = &self.services.store;
        match store.take_expired_sessions(256).await {
            Ok(expired) => {
                for session in expired {
                    self.session_ended(&session.guest_id).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read expired sessions"),
        }
        match store.take_overdue_away(256).await {
            Ok(overdue) => {
                for guest in overdue {
                    self.grace_over(&guest).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read overdue away marks"),
        }
        match store.claim_dead_nodes().await {
            Ok(dead) => {
                for node in dead {
                    self.node_died(node).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot look for dead nodes"),
        }
        if tick.is_multiple_of(3) {
            let guests: Vec<GuestId> = self
                .io()
                .map(|io| {
                    io.local()
                        .sockets()
                        .iter()
                        .filter_map(|s| s.extensions.get::<Arc<GuestContext>>().map(|c| c.guest))
                        .collect()
                })
                .unwrap_or_default();
            if let Err(error) = self.queue.refresh(&guests).await {
                tracing::warn!(%error, "cannot refresh tickets");
            }
        }
        if tick.is_multiple_of(60) {
            self.budget.prune();
        }
        self.services.set_connected_sockets(self.local_sockets());
    }
}
