//! Client events: admission (budget, per-socket order), decoding, and each event's effect.

use super::*;

/// Every client event of protocol.md §2 (anything else goes to the fallback).
const EVENTS: [&str; 12] = [
    "user:match",
    "user:match:cancel",
    "chat:leave",
    "chat:message",
    "chat:clear",
    "chat:typing:start",
    "chat:typing:stop",
    "webrtc:offer",
    "webrtc:answer",
    "webrtc:ice-candidate",
    "webrtc:hangup",
    "webrtc:ice-servers",
];

impl<A: Adapter> Chat<A> {
    pub(super) fn register_events(
        self: &Arc<Self>,
        socket: &SocketRef<A>,
        context: &Arc<GuestContext>,
    ) {
        for event in EVENTS {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on(
                event,
                move |socket: SocketRef<A>, TryData(data): TryData<Loose>, reply: Reply<A>| {
                    let chat = Arc::clone(&chat);
                    async move {
                        let respond = chat.responder(&socket, event, reply);
                        // No payload at all fails to decode: that is `None`, not an error yet.
                        let payload = data.ok();
                        chat.admit(
                            &context,
                            Inbound {
                                event,
                                payload,
                                respond,
                            },
                        );
                    }
                },
            );
        }
        {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on_fallback(move |socket: SocketRef<A>, reply: Reply<A>| {
                let chat = Arc::clone(&chat);
                async move {
                    // An unknown event still costs budget; its ack, if any, says INVALID_PAYLOAD.
                    metrics::counter!(names::EVENTS, "event" => "unknown", "result" => "INVALID_PAYLOAD").increment(1);
                    if let Err(wait) = chat.budget.check(&context.guest) {
                        chat.refuse(&socket, reply, "unknown", wait);
                        return;
                    }
                    if reply.wants_ack() {
                        reply.error(&socket, "unknown", &EventError::invalid("unknown event"));
                    }
                }
            });
        }
        {
            let chat = Arc::clone(self);
            let context = Arc::clone(context);
            socket.on_disconnect(move |socket: SocketRef<A>, reason: DisconnectReason| {
                let chat = Arc::clone(&chat);
                async move { chat.disconnected(&socket, &context, reason).await }
            });
        }
    }

    pub(super) fn refuse(
        &self,
        socket: &SocketRef<A>,
        reply: Reply<A>,
        event: &str,
        wait: Duration,
    ) {
        metrics::counter!(names::RATE_LIMITED).increment(1);
        let wait_ms = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
        reply.error(socket, event, &EventError::rate_limited(wait_ms));
    }

    /// A closure answering one event, counting its result.
    pub(super) fn responder(
        &self,
        socket: &SocketRef<A>,
        event: &'static str,
        reply: Reply<A>,
    ) -> Respond {
        let socket = socket.clone();
        Box::new(move |result| match result {
            Ok(fields) => {
                metrics::counter!(names::EVENTS, "event" => event, "result" => "ok").increment(1);
                reply.ok(fields);
            }
            Err(error) => {
                metrics::counter!(names::EVENTS, "event" => event, "result" => error.code)
                    .increment(1);
                reply.error(&socket, event, &error);
            }
        })
    }

    /// The rate limit comes first: a refused event costs nothing and goes no further.
    pub(super) fn admit(&self, context: &GuestContext, inbound: Inbound) {
        if let Err(wait) = self.budget.check(&context.guest) {
            metrics::counter!(names::RATE_LIMITED).increment(1);
            let wait_ms = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
            (inbound.respond)(Err(EventError::rate_limited(wait_ms)));
            return;
        }
        if let Err(
            mpsc::error::TrySendError::Full(inbound) | mpsc::error::TrySendError::Closed(inbound),
        ) = context.inbox.try_send(inbound)
        {
            (inbound.respond)(Err(EventError::rate_limited(1000)));
        }
    }

    pub(super) async fn spawn_inbox(
        self: &Arc<Self>,
        socket: &SocketRef<A>,
        context: &Arc<GuestContext>,
    ) {
        type Events = Arc<tokio::sync::Mutex<Option<mpsc::Receiver<Inbound>>>>;
        let Some(events) = socket.extensions.get::<Events>() else {
            return;
        };
        let Some(mut events) = events.lock().await.take() else {
            return;
        };
        let chat = Arc::clone(self);
        let context = Arc::clone(context);
        tokio::spawn(async move {
            while let Some(inbound) = events.recv().await {
                chat.handle(&context, inbound).await;
            }
        });
    }

    /// Checks the payload's shape for its event, then runs the event.
    pub(super) async fn handle(&self, context: &GuestContext, inbound: Inbound) {
        let Inbound {
            event,
            payload,
            respond,
        } = inbound;
        match event {
            "chat:message" => {
                let result = match payload.as_ref().and_then(IncomingMessage::from_loose) {
                    Some(message) => self.chat_message(context, message).await,
                    None => Err(EventError::invalid(
                        "chat:message needs {text?, file?, clientId?}",
                    )),
                };
                respond(result);
            }
            "user:match" => match MatchRequest::from_loose(payload.as_ref()) {
                Some(request) => self.user_match(context, request, respond).await,
                None => respond(Err(EventError::invalid(
                    "user:match takes {interests?: [string]}",
                ))),
            },
            "webrtc:offer" | "webrtc:answer" | "webrtc:ice-candidate" => {
                let result = match payload {
                    Some(payload) => self.simple_event(context, event, payload.into_json()).await,
                    None => Err(EventError::invalid(format!("{event} needs a payload"))),
                };
                respond(result);
            }
            // The other events take no payload and ignore whatever comes with them.
            _ => respond(self.simple_event(context, event, Value::Null).await),
        }
    }

    pub(super) async fn simple_event(
        &self,
        context: &GuestContext,
        event: &'static str,
        data: Value,
    ) -> Result<Value, EventError> {
        match event {
            "user:match:cancel" => {
                self.queue.cancel(&context.guest).await?;
                Ok(Value::Null)
            }
            "chat:leave" => {
                let (pair, _, _) = self.current_chat(&context.guest).await?;
                self.end_chat(&pair, &context.guest, "left").await?;
                Ok(Value::Null)
            }
            "chat:clear" => self.clear(context).await,
            "chat:typing:start" | "chat:typing:stop" => {
                let (_, partner, away) = self.current_chat(&context.guest).await?;
                if !away {
                    self.emit_to(&partner, event, &json!({"from": context.guest}))
                        .await;
                }
                Ok(Value::Null)
            }
            "webrtc:ice-servers" => {
                let expires = self.session_expiry(context).await;
                let servers = self
                    .settings
                    .ice
                    .servers_for(&context.guest.to_string(), expires.unix_seconds());
                Ok(json!({"iceServers": servers}))
            }
            "webrtc:offer" | "webrtc:answer" | "webrtc:ice-candidate" | "webrtc:hangup" => {
                let kind = match event {
                    "webrtc:offer" => SignalKind::Offer,
                    "webrtc:answer" => SignalKind::Answer,
                    "webrtc:ice-candidate" => SignalKind::IceCandidate,
                    _ => SignalKind::Hangup,
                };
                let signal = Signal::parse(kind, &data).map_err(|e| match e.code() {
                    "PAYLOAD_TOO_LARGE" => EventError::too_large(e.to_string()),
                    _ => EventError::invalid(e.to_string()),
                })?;
                let (pair, _, away) = self.current_chat(&context.guest).await?;
                let partner = duet_signaling::relay_target(context.guest, Some(pair.guests()))
                    .ok_or_else(EventError::not_in_chat)?;
                // Signals are not held for an away partner: a returning initiator offers anew.
                if !away {
                    let relayed = signal.relayed(&context.guest.to_string());
                    metrics::counter!(names::RELAYED_BYTES, "event" => event)
                        .increment(relayed.to_string().len() as u64);
                    self.emit_to(&partner, event, &relayed).await;
                }
                Ok(Value::Null)
            }
            _ => Err(EventError::invalid("unknown event")),
        }
    }

    pub(super) async fn session_expiry(&self, context: &GuestContext) -> Timestamp {
        match self.services.store.session(&context.session).await {
            Ok(Some(session)) => session.expires_at(),
            _ => context.session_expires_at,
        }
    }

    /// The guest's chat: the pair, the partner, and whether the partner is away.
    ///
    /// A pair whose two guests are on this node is answered from memory without asking the
    /// store (the relay's fast path, and what keeps such pairs chatting while Redis is down);
    /// any other pair costs one store call.
    pub(super) async fn current_chat(
        &self,
        guest: &GuestId,
    ) -> Result<(Pair, GuestId, bool), EventError> {
        if let Some(pair) = self.local_pair(guest)
            && let Some(partner) = pair.partner_of(guest)
        {
            return Ok((pair, partner, false));
        }
        let (pair, away) = self
            .services
            .store
            .chat_of(guest)
            .await?
            .ok_or_else(EventError::not_in_chat)?;
        let partner = pair.partner_of(guest).ok_or_else(EventError::not_in_chat)?;
        Ok((pair, partner, away))
    }

    pub(super) async fn chat_message(
        &self,
        context: &GuestContext,
        message: IncomingMessage,
    ) -> Result<Value, EventError> {
        let message = message.check(self.settings.max_file_bytes)?;
        let (pair, partner, away) = self.current_chat(&context.guest).await?;
        let sent_at = self.now();
        let outgoing = OutgoingMessage {
            id: uuid::Uuid::new_v4().to_string(),
            room_id: pair.room_id,
            from: context.guest,
            text: message.text,
            file: message.file.map(|(name, kind, data)| OutgoingFile {
                name,
                kind,
                size: data.len(),
                data,
            }),
            client_id: message.client_id,
            sent_at,
        };
        let store = &self.services.store;
        if away {
            let held = Held::Message(HeldMessage::from(&outgoing)).encode();
            if !store.hold_message(&partner, held, HELD_MESSAGES).await? {
                return Err(EventError::partner_away());
            }
        } else {
            let bytes = outgoing.text.as_ref().map_or(0, String::len)
                + outgoing.file.as_ref().map_or(0, |f| f.size);
            metrics::counter!(names::RELAYED_BYTES, "event" => "chat:message")
                .increment(bytes as u64);
            self.emit_to(&partner, "chat:message", &outgoing).await;
        }
        Ok(json!({"id": outgoing.id, "sentAt": sent_at}))
    }

    pub(super) async fn clear(&self, context: &GuestContext) -> Result<Value, EventError> {
        let (pair, partner, away) = self.current_chat(&context.guest).await?;
        let cleared = json!({"roomId": pair.room_id, "by": context.guest});
        let store = &self.services.store;
        self.emit_to(&context.guest, "chat:cleared", &cleared).await;
        if away {
            store.clear_held(&partner).await?;
            let marker = Held::Cleared {
                room_id: pair.room_id,
                by: context.guest,
            };
            store
                .hold_message(&partner, marker.encode(), HELD_MESSAGES + 1)
                .await?;
        } else {
            self.emit_to(&partner, "chat:cleared", &cleared).await;
        }
        Ok(Value::Null)
    }

    pub(super) async fn user_match(
        &self,
        context: &GuestContext,
        request: MatchRequest,
        respond: Respond,
    ) {
        let outcome = async {
            let interests = request.check()?;
            if self.services.store.pair_of(&context.guest).await?.is_some() {
                return Err(EventError::already_in_chat());
            }
            let last = self.services.store.last_partner(&context.guest).await?;
            Ok(Ticket::new(context.guest, interests).with_last_partner(last))
        }
        .await;
        let ticket = match outcome {
            Ok(ticket) => ticket,
            Err(error) => return respond(Err(error)),
        };
        match self.queue.enqueue(ticket).await {
            Ok(Enqueued::Paired(pairing)) => {
                // The ack comes first, so `user:matched` never overtakes it.
                respond(Ok(json!({"status": "waiting"})));
                self.announce(pairing).await;
            }
            Ok(Enqueued::Waiting | Enqueued::AlreadyWaiting) => {
                respond(Ok(json!({"status": "waiting"})))
            }
            Err(error) => respond(Err(error.into())),
        }
    }

    /// Makes a pairing real: records the pair and tells both guests. A guest that vanished
    /// meanwhile is dropped, and its would-be partner waits again.
    pub async fn announce(&self, pairing: Pairing) {
        let store = &self.services.store;
        let (initiator, responder) = (pairing.initiator.guest, pairing.responder.guest);
        let waited = pairing
            .initiator
            .waiting_since
            .max(pairing.responder.waiting_since);
        let connections = tokio::join!(store.connection(&initiator), store.connection(&responder));
        let (Ok(Some(first)), Ok(Some(second))) = connections else {
            for waiter in [pairing.initiator, pairing.responder] {
                if let Ok(Some(_)) = store.connection(&waiter.guest).await {
                    let ticket = Ticket::new(waiter.guest, waiter.interests);
                    if let Ok(Enqueued::Paired(again)) = self.queue.enqueue(ticket).await {
                        Box::pin(self.announce(again)).await;
                    }
                }
            }
            return;
        };
        let common: Vec<String> = pairing
            .common_interests
            .iter()
            .map(|i| i.to_string())
            .collect();
        let pair = Pair::new(initiator, responder, self.now())
            .with_names(first.username.clone(), second.username.clone())
            .with_common_interests(common);
        match store.create_pair(&pair).await {
            Ok(true) => {
                let here = &self.services.node_id;
                if first.node_id == *here && second.node_id == *here {
                    self.remember_local(&pair);
                }
            }
            Ok(false) => {
                tracing::warn!(%initiator, %responder, "pairing dropped: a guest is already in a chat");
                return;
            }
            Err(error) => {
                tracing::error!(%error, "pair not recorded");
                return;
            }
        }
        let wait = self.now().duration_since(waited);
        metrics::histogram!(names::MATCH_WAIT_SECONDS).record(wait.as_secs_f64());
        for (guest, connection) in [(initiator, &first), (responder, &second)] {
            let matched = self.matched_payload(&pair, &guest, connection.session_expires_at, false);
            self.emit_to(&guest, "user:matched", &matched).await;
        }
    }

    /// Ends `pair` on behalf of `by`; the other guest hears `chat:ended` with `reason` (or finds it
    /// on return if it is away). Only the first caller for a room does anything.
    pub(super) async fn end_chat(
        &self,
        pair: &Pair,
        by: &GuestId,
        reason: &str,
    ) -> Result<(), EventError> {
        let store = &self.services.store;
        self.forget_local(pair);
        let Some(pair) = store.end_pair(&pair.room_id).await? else {
            return Ok(());
        };
        let Some(partner) = pair.partner_of(by) else {
            return Ok(());
        };
        let ended = json!({"roomId": pair.room_id, "reason": reason});
        if store.connection(&partner).await?.is_some() {
            self.emit_to(&partner, "chat:ended", &ended).await;
        } else {
            let marker = Held::Ended {
                room_id: pair.room_id,
                reason: reason.to_owned(),
            };
            store
                .hold_message(&partner, marker.encode(), HELD_MESSAGES + 1)
                .await?;
        }
        Ok(())
    }
}
