//! Matching: waiting to be paired, cancelling, announcing a pair, and ending a chat.

use duet_core::GuestId;
use duet_matchmaker::{Enqueued, Interests, Pairing, Ticket};
use duet_presence_store::Pair;
use socketioxide::adapter::Adapter;

use crate::event::{Ack, ChatEnded, EndReason, Matched};
use crate::held::Held;
use crate::metrics as names;
use crate::node::Duet;
use crate::reply::{EventError, Failure};
use crate::session::SocketContext;

impl<A: Adapter> Duet<A> {
    /// `user:match`: the guest waits (again: harmless); returns the pairing when it formed at
    /// once, to be announced after the ack.
    pub(crate) async fn user_match(
        &self,
        context: &SocketContext<A>,
        interests: Interests,
    ) -> Result<Option<Pairing>, Failure> {
        let me = context.guest;
        if self.stores.chats.pair_of(&me).await?.is_some() {
            return Err(EventError::already_in_chat().into());
        }
        let last = self
            .stores
            .chats
            .last_chat(&me)
            .await?
            .map(|chat| chat.partner);
        let ticket = Ticket::new(me, interests).with_last_partner(last);
        Ok(match self.queue.enqueue(ticket.clone()).await? {
            Enqueued::Paired(pairing) => Some(pairing),
            Enqueued::Waiting | Enqueued::AlreadyWaiting => {
                self.known.waiting(ticket);
                None
            }
        })
    }

    /// `user:match:cancel`: `{"ok": true}` whether or not the guest was waiting.
    pub(crate) async fn cancel_match(&self, context: &SocketContext<A>) -> Result<Ack, Failure> {
        self.queue.cancel(&context.guest).await?;
        self.known.forget(&context.guest);
        Ok(Ack::Done)
    }

    /// `chat:leave`: ends the guest's chat (`left` for its partner).
    pub(crate) async fn leave(&self, context: &SocketContext<A>) -> Result<Ack, Failure> {
        let chat = self.current_chat(&context.guest).await?;
        self.end_chat(&chat.pair, &context.guest, EndReason::Left)
            .await?;
        Ok(Ack::Done)
    }

    /// Makes a pairing real: records the pair and tells both guests. A guest that vanished
    /// meanwhile is dropped, and its would-be partner waits again.
    pub(crate) async fn announce(&self, pairing: Pairing) {
        let (initiator, responder) = (pairing.initiator.guest, pairing.responder.guest);
        let connections = tokio::join!(
            self.stores.presence.connection(&initiator),
            self.stores.presence.connection(&responder)
        );
        let (Ok(Some(first)), Ok(Some(second))) = connections else {
            self.requeue_present(pairing).await;
            return;
        };
        let waited = pairing
            .initiator
            .waiting_since
            .max(pairing.responder.waiting_since);
        let common = pairing
            .common_interests
            .iter()
            .map(ToString::to_string)
            .collect();
        let pair = Pair::new(initiator, responder, self.now())
            .with_names(first.username.clone(), second.username.clone())
            .with_common_interests(common);
        match self.stores.chats.create_pair(&pair).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%initiator, %responder, "pairing dropped: a guest is already in a chat");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "pair not recorded");
                return;
            }
        }
        for (guest, connection) in [(initiator, &first), (responder, &second)] {
            if connection.node_id == self.node_id {
                self.known.paired(guest, &pair);
            }
        }
        let local = first.node_id == self.node_id && second.node_id == self.node_id;
        let wait = self.now().duration_since(waited);
        metrics::histogram!(names::MATCH_WAIT_SECONDS).record(wait.as_secs_f64());
        for (guest, connection) in [(initiator, &first), (responder, &second)] {
            let ice = self.ice_servers_until(&guest, connection.session_expires_at);
            self.emit_to(&guest, &Matched::new(&pair, &guest, ice, false), local)
                .await;
        }
        if local {
            self.remember_local(pair);
        }
    }

    /// The guests of a pairing that fell through which are still connected wait again.
    async fn requeue_present(&self, pairing: Pairing) {
        for waiter in [pairing.initiator, pairing.responder] {
            if let Ok(Some(_)) = self.stores.presence.connection(&waiter.guest).await {
                let ticket = Ticket::new(waiter.guest, waiter.interests);
                match self.queue.enqueue(ticket).await {
                    Ok(Enqueued::Paired(again)) => Box::pin(self.announce(again)).await,
                    Ok(Enqueued::Waiting | Enqueued::AlreadyWaiting) => {}
                    Err(error) => {
                        tracing::error!(%error, guest_id = %waiter.guest, "cannot requeue a guest");
                    }
                }
            }
        }
    }

    /// Ends `pair` on behalf of `by`; the other guest hears `chat:ended` with `reason` (or finds
    /// it on return if it is away). Only the first caller for a room does anything.
    pub(crate) async fn end_chat(
        &self,
        pair: &Pair,
        by: &GuestId,
        reason: EndReason,
    ) -> Result<(), Failure> {
        self.forget_local_of(by);
        let Some(pair) = self.stores.chats.end_pair(&pair.room_id).await? else {
            return Ok(());
        };
        for guest in pair.guests() {
            self.known.forget(&guest);
        }
        let Some(partner) = pair.partner_of(by) else {
            return Ok(());
        };
        let ended = ChatEnded {
            room_id: pair.room_id,
            reason,
        };
        if self.stores.presence.connection(&partner).await?.is_some() {
            self.emit_to(&partner, &ended, false).await;
        } else {
            // Found on return, whatever was kept before.
            self.stores
                .chats
                .keep_marker(&partner, Held::Ended(ended).encode())
                .await?;
        }
        Ok(())
    }
}
