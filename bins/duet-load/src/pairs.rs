//! Pairs of guests set up the way a scenario needs them, and what each side of a pair counts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Connection, Error, Guest, Incoming, new_guest};
use crate::delivery::{Received, Sent, Tally};

/// One guest of a pair with its connection and what it sent and received.
pub(crate) struct Side {
    pub(crate) guest: Guest,
    pub(crate) address: String,
    /// `None` while its connection is down.
    pub(crate) connection: Option<Connection>,
    pub(crate) room_id: String,
    /// The `seq` of the last message received, for `auth.lastSeen`.
    pub(crate) last_seq: u64,
    pub(crate) sent: Sent,
    pub(crate) received: Received,
    /// `user:matched` with `resumed: true` seen.
    pub(crate) resumed: u64,
    /// The chat ended under it (it should not, in these scenarios).
    pub(crate) ended: bool,
    /// Microseconds from each received message's sending to its arrival (one process, one
    /// clock: the sender writes its time into `clientId`).
    pub(crate) latencies_us: Vec<u64>,
}

/// Microseconds since the load generator started: the clock messages carry.
pub(crate) fn micros_now() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Side {
    /// Sends the next numbered `chat:message`.
    pub(crate) async fn send_message(&mut self, text: &str) -> Result<(), Error> {
        let Some(connection) = self.connection.as_mut() else {
            return Ok(());
        };
        let number = self.sent.number();
        let payload = json!({"text": text, "clientId": format!("{number}:{}", micros_now())});
        let ack = connection.emit("chat:message", &payload).await?;
        self.sent.sent(ack, number);
        Ok(())
    }

    /// Takes in what the server sent.
    pub(crate) fn handle(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Ack(id, answer) => {
                self.sent.acked(id, &answer);
            }
            Incoming::Event(name, payload) => self.on_event(&name, &payload),
        }
    }

    fn on_event(&mut self, name: &str, payload: &Value) {
        match name {
            "chat:message" => {
                // `clientId` is "<number>:<microseconds when sent>".
                let client_id = payload["clientId"].as_str().unwrap_or_default();
                let (number, sent_us) = client_id.split_once(':').unwrap_or((client_id, ""));
                if let Ok(number) = number.parse() {
                    self.received.got(number);
                }
                if let Ok(sent_us) = sent_us.parse::<u64>() {
                    self.latencies_us.push(micros_now().saturating_sub(sent_us));
                }
                if let Some(seq) = payload["seq"].as_u64() {
                    self.last_seq = seq;
                }
            }
            "chat:cleared" => {
                if let Some(seq) = payload["seq"].as_u64() {
                    self.last_seq = seq;
                }
            }
            "user:matched" if payload["resumed"] == true => self.resumed += 1,
            "chat:ended" => self.ended = true,
            _ => {}
        }
    }

    /// The connection was cut or ended.
    pub(crate) fn lose_connection(&mut self) {
        self.sent.connection_lost();
        if let Some(connection) = self.connection.take() {
            connection.cut();
        }
    }

    /// Connects again, naming the last message seen when `with_last_seen`.
    pub(crate) async fn reconnect(&mut self, with_last_seen: bool) -> Result<(), Error> {
        let mut auth = json!({"token": self.guest.token});
        if with_last_seen {
            auth["lastSeen"] = json!({"roomId": self.room_id, "seq": self.last_seq});
        }
        self.connection = Some(Connection::open(&self.address, &auth).await?);
        Ok(())
    }
}

/// Two guests paired with each other: Ada on `ada_address`, Bob on `bob_address`. They match
/// on an interest of their own, so pairs set up concurrently never mix.
pub(crate) async fn pair_up(
    ada_address: &str,
    bob_address: &str,
    interest: &str,
) -> Result<(Side, Side), Error> {
    let mut sides = Vec::with_capacity(2);
    for address in [ada_address, bob_address] {
        let guest = new_guest(address).await?;
        let connection = Connection::open_as(address, &guest).await?;
        sides.push(Side {
            guest,
            address: address.to_owned(),
            connection: Some(connection),
            room_id: String::new(),
            last_seq: 0,
            sent: Sent::default(),
            received: Received::default(),
            resumed: 0,
            ended: false,
            latencies_us: Vec::new(),
        });
    }
    let (Some(mut bob), Some(mut ada)) = (sides.pop(), sides.pop()) else {
        return Err("two sides".to_owned());
    };
    let interests = json!({"interests": [interest]});
    for side in [&mut ada, &mut bob] {
        if let Some(connection) = side.connection.as_mut() {
            connection.emit("user:match", &interests).await?;
        }
    }
    for side in [&mut ada, &mut bob] {
        if let Some(connection) = side.connection.as_mut() {
            let matched = connection.wait_for("user:matched").await?;
            side.room_id = matched["roomId"].as_str().unwrap_or_default().to_owned();
        }
    }
    Ok((ada, bob))
}

/// Reads both sides until `done` holds or `wait` passes without anything arriving.
pub(crate) async fn read_until(
    ada: &mut Side,
    bob: &mut Side,
    wait: Duration,
    done: impl Fn(&Side, &Side) -> bool,
) {
    while !done(ada, bob) {
        let incoming = tokio::select! {
            incoming = next_of(ada.connection.as_mut()) => incoming.map(|i| (true, i)),
            incoming = next_of(bob.connection.as_mut()) => incoming.map(|i| (false, i)),
            () = tokio::time::sleep(wait) => return,
        };
        match incoming {
            Some((true, incoming)) => ada.handle(incoming),
            Some((false, incoming)) => bob.handle(incoming),
            None => return,
        }
    }
}

/// The next thing on `connection`, or never when there is none.
pub(crate) async fn next_of(connection: Option<&mut Connection>) -> Option<Incoming> {
    match connection {
        Some(connection) => connection.next().await,
        None => std::future::pending().await,
    }
}

/// Whether each side received everything its partner was told was delivered or held.
pub(crate) fn all_in(ada: &Side, bob: &Side) -> bool {
    ada.sent.waiting() == 0
        && bob.sent.waiting() == 0
        && ada.received.count() as u64 >= bob.sent.count()
        && bob.received.count() as u64 >= ada.sent.count()
}

/// Ends a pair's run: what each direction delivered, both sides' latencies (µs), and both
/// connections closed politely.
pub(crate) async fn finish_pair(mut ada: Side, mut bob: Side) -> (Tally, Vec<u64>) {
    let mut tally = Tally::default();
    tally.add(&ada.sent, &bob.received);
    tally.add(&bob.sent, &ada.received);
    let mut latencies = std::mem::take(&mut ada.latencies_us);
    latencies.append(&mut bob.latencies_us);
    for side in [ada, bob] {
        if let Some(connection) = side.connection {
            connection.close().await;
        }
    }
    (tally, latencies)
}

/// The pairs' tallies merged, and their latencies as report fields (ms, from an HDR histogram
/// of 1 µs to 10 min with three significant digits).
pub(crate) fn summarize(results: &[(Tally, Vec<u64>)]) -> Result<(Tally, Value), Error> {
    let mut tally = Tally::default();
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    for (pair, latencies) in results {
        tally.merge(pair);
        for us in latencies {
            latency.saturating_record(*us);
        }
    }
    let ms = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    let report = json!({
        "samples": latency.len(),
        "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99),
        "max": latency.max() as f64 / 1000.0,
    });
    Ok((tally, report))
}
