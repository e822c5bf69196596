//! [`PresenceStore`] on Redis.

use std::time::Duration;

use async_trait::async_trait;
use duet_core::{GuestId, NodeId, Timestamp};
use fred::prelude::{HashesInterface, SortedSetsInterface, Value};

use super::scripts::{
    ConnectionOf, Heartbeat, Instance, PresenceCounts as CountsCall, RegisterConnection,
    RemoveNode, UnregisterConnection,
};
use super::{RedisStore, SCRIPT_RETRIES, backend, contended, parse};
use crate::error::StoreError;
use crate::model::{Connection, DeadNode, PresenceCounts};
use crate::presence::PresenceStore;

/// How long a node's records outlive its heartbeat: long enough for a survivor to claim them.
fn node_record_ttl(heartbeat_ttl: Duration) -> Duration {
    heartbeat_ttl * 3 + Duration::from_secs(30)
}

impl RedisStore {
    /// The guest's connection record as stored, with the record parsed.
    async fn stored_connection(
        &self,
        guest: &GuestId,
    ) -> Result<Option<(String, Connection)>, StoreError> {
        let json = self.get(self.keys.connection(guest)).await?;
        match json {
            Some(json) => {
                let connection = serde_json::from_str(&json)?;
                Ok(Some((json, connection)))
            }
            None => Ok(None),
        }
    }

    /// Removes `node` with its connections when `dead_before` allows; `None` when it was not
    /// there (or someone else removed it first).
    async fn remove_node_if(
        &self,
        node: &NodeId,
        dead_before: Option<Timestamp>,
    ) -> Result<Option<Vec<Connection>>, StoreError> {
        for _ in 0..SCRIPT_RETRIES {
            let entries: Vec<(String, String)> = self
                .client
                .hgetall(self.keys.node_connections(node))
                .await
                .map_err(backend)?;
            let mut connections = Vec::with_capacity(entries.len());
            for (guest, socket) in entries {
                let guest: GuestId = guest.parse().map_err(|_| {
                    StoreError::Corrupt(format!("guest id {guest:?} of node {node}"))
                })?;
                connections.push((guest, socket));
            }
            let call = RemoveNode {
                node: node.clone(),
                dead_before,
                connections,
            };
            let reply: Vec<String> = self.call(call).await?;
            match reply.split_first() {
                Some((status, removed)) if status == "removed" => {
                    return removed
                        .iter()
                        .map(|json| serde_json::from_str(json).map_err(StoreError::from))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some);
                }
                Some((status, _)) if status == "retry" => continue,
                _ => return Ok(None),
            }
        }
        Err(contended("removing a node"))
    }
}

#[async_trait]
impl PresenceStore for RedisStore {
    async fn register_connection(
        &self,
        connection: &Connection,
    ) -> Result<Option<Connection>, StoreError> {
        let json = serde_json::to_string(connection)?;
        let now = self.now();
        // Most connections replace nothing: expect no previous record, and learn it from the
        // script's answer when there is one (one round trip in the common case).
        let mut previous: Option<(String, NodeId)> = None;
        for _ in 0..SCRIPT_RETRIES {
            let call = RegisterConnection {
                guest: connection.guest_id,
                node: connection.node_id.clone(),
                socket_id: connection.socket_id.clone(),
                json: json.clone(),
                previous: previous.clone(),
                now,
                implicit_deadline: now.saturating_add(self.config.implicit_node_ttl),
                connection_ttl: self.config.connection_ttl,
                node_record_ttl: node_record_ttl(self.config.implicit_node_ttl),
                index_ttl: self.config.index_ttl,
            };
            let reply: Vec<String> = self.call(call).await?;
            match &reply[..] {
                [status, replaced] if status == "ok" => {
                    return parse((!replaced.is_empty()).then(|| replaced.clone()));
                }
                [status, current] if status == "retry" => {
                    previous = match parse::<Connection>(Some(current.clone())).ok().flatten() {
                        Some(old) => Some((current.clone(), old.node_id)),
                        // Gone meanwhile: expect nothing again.
                        None if current.is_empty() => None,
                        None => return Err(StoreError::Corrupt(format!("connection {current:?}"))),
                    };
                }
                _ => return Err(StoreError::Corrupt(format!("register answered {reply:?}"))),
            }
        }
        Err(contended("registering a connection"))
    }

    async fn unregister_connection(
        &self,
        guest: &GuestId,
        socket_id: &str,
    ) -> Result<bool, StoreError> {
        for _ in 0..SCRIPT_RETRIES {
            let Some((json, current)) = self.stored_connection(guest).await? else {
                return Ok(false);
            };
            if current.socket_id != socket_id {
                return Ok(false);
            }
            let call = UnregisterConnection {
                guest: *guest,
                node: current.node_id,
                socket_id: socket_id.to_owned(),
                json,
            };
            match self.call::<_, i64>(call).await? {
                1 => return Ok(true),
                0 => return Ok(false),
                _ => continue,
            }
        }
        Err(contended("unregistering a connection"))
    }

    async fn connection(&self, guest: &GuestId) -> Result<Option<Connection>, StoreError> {
        let call = ConnectionOf {
            guest: *guest,
            now: self.now(),
        };
        let json: Option<String> = self.call(call).await?;
        parse(json)
    }

    async fn heartbeat(
        &self,
        node: &NodeId,
        connected_sockets: u64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let call = Heartbeat {
            node: node.clone(),
            deadline: self.now().saturating_add(ttl),
            sockets: connected_sockets,
            record_ttl: node_record_ttl(ttl),
            index_ttl: self.config.index_ttl,
        };
        self.call::<_, Value>(call).await.map(drop)
    }

    async fn live_nodes(&self) -> Result<Vec<NodeId>, StoreError> {
        let after_now = format!("({}", self.now().unix_millis());
        let names: Vec<String> = self
            .client
            .zrangebyscore(self.keys.nodes(), after_now, "+inf", false, None)
            .await
            .map_err(backend)?;
        let mut nodes: Vec<NodeId> = names.iter().filter_map(|n| NodeId::new(n)).collect();
        nodes.sort();
        Ok(nodes)
    }

    async fn claim_dead_nodes(&self) -> Result<Vec<DeadNode>, StoreError> {
        let now = self.now();
        let names: Vec<String> = self
            .client
            .zrangebyscore(self.keys.nodes(), "-inf", now.unix_millis(), false, None)
            .await
            .map_err(backend)?;
        let mut dead = Vec::new();
        for name in names {
            let Some(node_id) = NodeId::new(&name) else {
                tracing::warn!(node = %name, "unreadable node id among the dead");
                continue;
            };
            // Another node may claim it first: then it is not ours to end.
            if let Some(connections) = self.remove_node_if(&node_id, Some(now)).await? {
                dead.push(DeadNode {
                    node_id,
                    connections,
                });
            }
        }
        Ok(dead)
    }

    async fn remove_node(&self, node: &NodeId) -> Result<Vec<Connection>, StoreError> {
        Ok(self.remove_node_if(node, None).await?.unwrap_or_default())
    }

    async fn counts(&self) -> Result<PresenceCounts, StoreError> {
        let live_nodes = self.live_nodes().await?;
        if live_nodes.is_empty() {
            return Ok(PresenceCounts::default());
        }
        let nodes = live_nodes.len() as u64;
        let counts: Vec<u64> = self.call(CountsCall { live_nodes }).await?;
        let [online_guests, connected_sockets] = counts[..] else {
            return Err(StoreError::Corrupt(format!("presence counts {counts:?}")));
        };
        Ok(PresenceCounts {
            online_guests,
            connected_sockets,
            live_nodes: nodes,
        })
    }

    async fn lost_state(&self, node: &NodeId) -> Result<bool, StoreError> {
        let call = Instance {
            node: node.clone(),
            ttl: self.config.index_ttl,
        };
        let missing = self.call::<_, i64>(call).await? == 1;
        // A poisoned set only means a panic elsewhere mid-insert; its contents still hold.
        let seen_before = !self
            .markers_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(node.clone());
        Ok(missing && seen_before)
    }
}
