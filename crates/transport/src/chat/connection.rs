//! A socket's life: the handshake, connecting (replacement, resume), disconnecting (the
//! grace), and the ends that come from elsewhere (session ended, node died).

use super::*;

impl<A: Adapter> Chat<A> {
    /// The handshake's check. On success the socket carries its [`GuestContext`] and the
    /// receiving end of its inbox, and the context is returned.
    pub(super) async fn authenticate(
        &self,
        socket: &SocketRef<A>,
        auth: Option<Value>,
    ) -> Result<Arc<GuestContext>, Refusal> {
        let header = socket
            .req_parts()
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| AuthError::Invalid));
        let outcome = async {
            let header = header.transpose()?;
            let token = extract_token(auth.as_ref(), header)?;
            self.services
                .tokens
                .authenticate(token, &*self.services.store)
                .await
        }
        .await;
        match outcome {
            Ok(Authenticated { session, .. }) => {
                metrics::counter!(names::HANDSHAKES, "result" => "ok").increment(1);
                let (inbox, events) = mpsc::channel(SOCKET_BACKLOG);
                let context = GuestContext {
                    guest: session.guest.id,
                    session: session.id,
                    username: session.guest.username.to_string(),
                    session_expires_at: session.expires_at(),
                    inbox,
                };
                let context = Arc::new(context);
                socket.extensions.insert(Arc::clone(&context));
                socket
                    .extensions
                    .insert(Arc::new(tokio::sync::Mutex::new(Some(events))));
                Ok(context)
            }
            Err(error) => {
                let code = error.code();
                metrics::counter!(names::HANDSHAKES, "result" => code).increment(1);
                if let AuthError::Backend(source) = &error {
                    tracing::error!(error = %source, "session check failed during a handshake");
                }
                Err(Refusal(code))
            }
        }
    }

    pub(super) async fn connected(self: Arc<Self>, socket: SocketRef<A>) {
        let Some(context) = socket.extensions.get::<Arc<GuestContext>>() else {
            // The middleware always sets it; without it the socket cannot be served.
            let _ = socket.disconnect();
            return;
        };
        let socket_id = socket.id.to_string();
        socket.join(user_room(&context.guest));
        socket.join(socket_room(&socket_id));
        self.local_sockets.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(names::SOCKETS_CONNECTED).increment(1.0);

        let connection = Connection {
            guest_id: context.guest,
            node_id: self.services.node_id.clone(),
            socket_id: socket_id.clone(),
            connected_at: self.now(),
            username: context.username.clone(),
            session_expires_at: context.session_expires_at,
        };
        let previous = match self.services.store.register_connection(&connection).await {
            Ok(previous) => previous,
            Err(error) => {
                tracing::error!(%error, guest_id = %context.guest, "cannot record a connection");
                let _ = socket.disconnect();
                return;
            }
        };
        let replaced_live = match previous {
            Some(old) if old.socket_id != socket_id => {
                self.replace(&old).await;
                true
            }
            _ => false,
        };
        tracing::debug!(guest_id = %context.guest, replaced_live, "socket connected");
        if let Err(error) = self.resume(&socket, &context, replaced_live).await {
            tracing::error!(%error, guest_id = %context.guest, "resume failed");
        }
        if !socket.connected() {
            // The client left while this ran, and the disconnect handler may have run before
            // the connection was recorded: forget it here, or it would stay online.
            let _ = self
                .services
                .store
                .unregister_connection(&context.guest, &socket_id)
                .await;
            return;
        }
        // Events that arrived since the handshake waited in the inbox; they run now, after the
        // socket has taken over its guest's connection and chat.
        self.spawn_inbox(&socket, &context).await;
    }

    /// The older socket of a guest that connected again: told, then disconnected, wherever it is.
    pub(super) async fn replace(&self, old: &Connection) {
        let Some(io) = self.io() else { return };
        let room = socket_room(&old.socket_id);
        if let Err(error) = io
            .to(room.clone())
            .emit("session:replaced", &json!({}))
            .await
        {
            tracing::debug!(%error, "session:replaced not delivered");
        }
        if let Err(error) = io.to(room).disconnect().await {
            tracing::debug!(%error, "replaced socket not disconnected");
        }
    }

    /// A guest in a chat gets `user:matched` again (`resumed`), then what was held for it.
    pub(super) async fn resume(
        &self,
        socket: &SocketRef<A>,
        context: &GuestContext,
        replaced_live: bool,
    ) -> Result<(), EventError> {
        let store = &self.services.store;
        let me = context.guest;
        let was_away = store.clear_away(&me).await?;
        let pair = store.pair_of(&me).await?;
        let held = if was_away || pair.is_none() {
            store.take_held(&me).await?
        } else {
            Vec::new()
        };
        if let Some(pair) = &pair {
            self.remember_if_local(pair).await;
            let matched = self.matched_payload(pair, &me, context.session_expires_at, true);
            socket.emit("user:matched", &matched).ok();
        }
        for blob in held {
            match Held::decode(&blob) {
                Some(Held::Message(message)) => {
                    socket.emit("chat:message", &message.into_outgoing()).ok();
                }
                Some(Held::Cleared { room_id, by }) => {
                    socket
                        .emit("chat:cleared", &json!({"roomId": room_id, "by": by}))
                        .ok();
                }
                Some(Held::Ended { room_id, reason }) => {
                    socket
                        .emit("chat:ended", &json!({"roomId": room_id, "reason": reason}))
                        .ok();
                }
                None => tracing::warn!("unreadable held message dropped"),
            }
        }
        if let (Some(pair), true) = (&pair, was_away && !replaced_live)
            && let Some(partner) = pair.partner_of(&me)
        {
            let back = json!({"roomId": pair.room_id});
            self.emit_to(&partner, "chat:partner:back", &back).await;
        }
        Ok(())
    }

    pub(super) fn matched_payload(
        &self,
        pair: &Pair,
        me: &GuestId,
        expires: Timestamp,
        resumed: bool,
    ) -> Value {
        let partner = pair.partner_of(me).unwrap_or(*me);
        let mut body = json!({
            "roomId": pair.room_id,
            "partner": {"id": partner, "username": pair.name_of(&partner).unwrap_or_default()},
            "initiator": pair.initiator == *me,
            "commonInterests": pair.common_interests,
            "iceServers": self.settings.ice.servers_for(&me.to_string(), expires.unix_seconds()),
        });
        if resumed && let Value::Object(fields) = &mut body {
            fields.insert("resumed".into(), Value::Bool(true));
        }
        body
    }

    pub(super) async fn disconnected(
        self: Arc<Self>,
        socket: &SocketRef<A>,
        context: &GuestContext,
        reason: DisconnectReason,
    ) {
        self.disconnecting.fetch_add(1, Ordering::AcqRel);
        self.local_sockets.fetch_sub(1, Ordering::Relaxed);
        self.handle_disconnect(socket, context, reason).await;
        self.disconnecting.fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) async fn handle_disconnect(
        &self,
        socket: &SocketRef<A>,
        context: &GuestContext,
        reason: DisconnectReason,
    ) {
        metrics::gauge!(names::SOCKETS_CONNECTED).decrement(1.0);
        let store = &self.services.store;
        let me = context.guest;
        // Whatever comes next, this guest may be elsewhere now: its pair is no longer
        // certainly local (a resume here makes it local again).
        if let Some(pair) = self.local_pair(&me) {
            self.forget_local(&pair);
        }
        let socket_id = socket.id.to_string();
        match store.unregister_connection(&me, &socket_id).await {
            // Replaced by a newer socket: that one carries on, nothing ends.
            Ok(false) => return,
            Ok(true) => {}
            Err(error) => {
                tracing::error!(%error, guest_id = %me, "cannot remove a connection");
            }
        }
        if let Err(error) = self.queue.cancel(&me).await {
            tracing::warn!(%error, guest_id = %me, "cannot cancel a ticket");
        }
        let Ok(Some(pair)) = store.pair_of(&me).await else {
            return;
        };
        let draining = self.draining.load(Ordering::Acquire);
        let on_purpose = matches!(reason, DisconnectReason::ClientNSDisconnect)
            || (matches!(reason, DisconnectReason::ServerNSDisconnect) && !draining);

        if on_purpose || self.settings.resume_grace.is_zero() {
            let why = if matches!(reason, DisconnectReason::ClientNSDisconnect) {
                "left"
            } else {
                "disconnected"
            };
            if let Err(error) = self.end_chat(&pair, &me, why).await {
                tracing::error!(code = error.code, guest_id = %me, "cannot end a chat");
            }
            return;
        }
        let until = self.now().saturating_add(self.settings.resume_grace);
        if let Err(error) = store.set_away(&me, until).await {
            tracing::error!(%error, guest_id = %me, "cannot hold a chat");
            return;
        }
        if let Some(partner) = pair.partner_of(&me) {
            self.emit_to(
                &partner,
                "chat:partner:away",
                &json!({"roomId": pair.room_id}),
            )
            .await;
        }
        // No timer here: every node sweeps overdue away marks (`upkeep`), so the chat still
        // ends on time if this node goes down meanwhile.
    }

    /// The grace of a dropped guest is over: unless it came back, its chat ends.
    pub(super) async fn grace_over(&self, guest: &GuestId) {
        let store = &self.services.store;
        if let Ok(Some(_)) = store.connection(guest).await {
            return;
        }
        let Ok(Some(pair)) = store.pair_of(guest).await else {
            return;
        };
        if let Err(error) = self.end_chat(&pair, guest, "disconnected").await {
            tracing::error!(code = error.code, guest_id = %guest, "cannot end a held chat");
        }
    }

    /// A node died: chats of its guests end (`disconnected`) for their partners.
    pub(super) async fn node_died(&self, node: duet_presence_store::DeadNode) {
        let guests = node.connections.len();
        tracing::warn!(node_id = %node.node_id, guests, "node died; ending its chats");
        for connection in node.connections {
            let guest = connection.guest_id;
            let _ = self.queue.cancel(&guest).await;
            if let Ok(Some(pair)) = self.services.store.pair_of(&guest).await
                && let Err(error) = self.end_chat(&pair, &guest, "disconnected").await
            {
                tracing::error!(code = error.code, guest_id = %guest, "cannot end a chat of a dead node");
            }
        }
    }

    /// A session ended (deleted or expired): its chat ends with `session_ended`, its tickets and
    /// sockets go.
    pub async fn session_ended(&self, guest: &GuestId) {
        let store = &self.services.store;
        if let Ok(Some(pair)) = store.pair_of(guest).await {
            let _ = store.clear_away(guest).await;
            if let Err(error) = self.end_chat(&pair, guest, "session_ended").await {
                tracing::error!(code = error.code, guest_id = %guest, "cannot end a chat");
            }
        }
        let _ = self.queue.cancel(guest).await;
        let _ = store.clear_held(guest).await;
        if let Some(io) = self.io()
            && let Err(error) = io.to(user_room(guest)).disconnect().await
        {
            tracing::debug!(%error, "sockets of an ended session not disconnected");
        }
    }
}
