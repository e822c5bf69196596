//! [`MemoryModeration`]: the one-node backend.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use duet_core::{BanId, Clock, GuestId, ReportId, RoomId, SystemClock, Timestamp};

use crate::error::ModerationError;
use crate::model::{
    AddressTag, Ban, ModerationCounts, Report, ReportPage, ReportQuery, SentMessage,
};
use crate::store::{ModerationStore, later, targets};

/// How often expired records are swept out (each call looks at the clock; the sweep itself
/// walks everything, so it does not run on every call).
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Reports and bans in this process's memory: one node.
#[derive(Debug, Clone)]
pub struct MemoryModeration {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct State {
    /// Reports by (creation, id): newest last.
    reports: BTreeSet<(Timestamp, ReportId)>,
    report_of: HashMap<ReportId, (Report, Timestamp)>,
    /// For each reported guest, its reporters and until when each one counts.
    reporters: HashMap<GuestId, HashMap<GuestId, Timestamp>>,
    bans: HashMap<BanId, Ban>,
    ban_of_target: HashMap<String, BanId>,
    bans_version: u64,
    claims: HashMap<String, Timestamp>,
    sent: HashMap<(GuestId, RoomId), (VecDeque<SentMessage>, Timestamp)>,
    /// Each device's guests, and until when each counts.
    devices: HashMap<String, HashMap<GuestId, Timestamp>>,
    next_sweep: Timestamp,
}

impl Default for MemoryModeration {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryModeration {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store that reads time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::default(),
            clock,
        }
    }

    /// The state, swept of what expired when a sweep is due.
    fn state(&self) -> Result<MutexGuard<'_, State>, ModerationError> {
        let mut state = self.state.lock().map_err(|_| {
            ModerationError::Backend("the moderation state lock is poisoned".into())
        })?;
        let now = self.clock.now();
        if now >= state.next_sweep {
            state.sweep(now);
            state.next_sweep = now.saturating_add(SWEEP_EVERY);
        }
        Ok(state)
    }
}

impl State {
    fn sweep(&mut self, now: Timestamp) {
        let expired: Vec<ReportId> = self
            .report_of
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((report, _)) = self.report_of.remove(&id) {
                self.reports.remove(&(report.created_at, id));
            }
        }
        self.reporters.retain(|_, by| {
            by.retain(|_, until| *until > now);
            !by.is_empty()
        });
        let ended: Vec<BanId> = self
            .bans
            .values()
            .filter(|ban| !ban.holds_at(now))
            .map(|ban| ban.id)
            .collect();
        for id in ended {
            self.remove_ban(&id);
        }
        self.claims.retain(|_, until| *until > now);
        self.sent.retain(|_, (_, until)| *until > now);
        self.devices.retain(|_, guests| {
            guests.retain(|_, until| *until > now);
            !guests.is_empty()
        });
    }

    fn remove_ban(&mut self, id: &BanId) -> Option<Ban> {
        let ban = self.bans.remove(id)?;
        let key = ban.target.key();
        if self.ban_of_target.get(&key) == Some(id) {
            self.ban_of_target.remove(&key);
        }
        Some(ban)
    }

    fn live_report(&self, id: &ReportId, now: Timestamp) -> Option<&Report> {
        self.report_of
            .get(id)
            .filter(|(_, until)| *until > now)
            .map(|(report, _)| report)
    }
}

#[async_trait]
impl ModerationStore for MemoryModeration {
    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn record_report(
        &self,
        report: &Report,
        window: Duration,
        retention: Duration,
    ) -> Result<u32, ModerationError> {
        let mut state = self.state()?;
        let kept_until = report.created_at.saturating_add(retention);
        state.reports.insert((report.created_at, report.id));
        state
            .report_of
            .insert(report.id, (report.clone(), kept_until));
        let by = state.reporters.entry(report.reported).or_default();
        // Each reporter counts until its latest report leaves the window.
        by.insert(report.reporter, report.created_at.saturating_add(window));
        let counted = by
            .values()
            .filter(|until| **until > report.created_at)
            .count();
        Ok(u32::try_from(counted).unwrap_or(u32::MAX))
    }

    async fn reports(&self, query: &ReportQuery) -> Result<ReportPage, ModerationError> {
        let now = self.clock.now();
        let state = self.state()?;
        let matching = state
            .reports
            .iter()
            .rev()
            .filter_map(|(_, id)| state.live_report(id, now))
            .filter(|report| query.reported.is_none_or(|g| report.reported == g));
        let mut total = 0u64;
        let mut reports = Vec::new();
        for report in matching {
            if total >= query.offset && (reports.len() as u64) < query.limit {
                reports.push(report.clone());
            }
            total += 1;
        }
        Ok(ReportPage { reports, total })
    }

    async fn ban(&self, ban: &Ban) -> Result<(), ModerationError> {
        let mut state = self.state()?;
        if let Some(previous) = state.ban_of_target.get(&ban.target.key()).copied() {
            state.remove_ban(&previous);
        }
        state.ban_of_target.insert(ban.target.key(), ban.id);
        state.bans.insert(ban.id, ban.clone());
        state.bans_version += 1;
        Ok(())
    }

    async fn bans(&self) -> Result<Vec<Ban>, ModerationError> {
        let now = self.clock.now();
        let state = self.state()?;
        let mut bans: Vec<Ban> = state
            .bans
            .values()
            .filter(|ban| ban.holds_at(now))
            .cloned()
            .collect();
        bans.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(bans)
    }

    async fn lift(&self, id: &BanId) -> Result<bool, ModerationError> {
        let now = self.clock.now();
        let mut state = self.state()?;
        let lifted = state.remove_ban(id).is_some_and(|ban| ban.holds_at(now));
        state.bans_version += 1;
        Ok(lifted)
    }

    async fn ban_of(
        &self,
        guest: Option<&GuestId>,
        address: Option<&AddressTag>,
    ) -> Result<Option<Ban>, ModerationError> {
        let now = self.clock.now();
        let state = self.state()?;
        Ok(targets(guest, address)
            .iter()
            .filter_map(|target| state.ban_of_target.get(&target.key()))
            .filter_map(|id| state.bans.get(id))
            .filter(|ban| ban.holds_at(now))
            .cloned()
            .fold(None, |found, ban| later(found, Some(ban))))
    }

    async fn bans_version(&self) -> Result<u64, ModerationError> {
        Ok(self.state()?.bans_version)
    }

    async fn claim_once(&self, token: &str, until: Timestamp) -> Result<bool, ModerationError> {
        let now = self.clock.now();
        if until <= now {
            return Ok(false);
        }
        let mut state = self.state()?;
        if state.claims.get(token).is_some_and(|end| *end > now) {
            return Ok(false);
        }
        state.claims.insert(token.to_owned(), until);
        Ok(true)
    }

    async fn remember_sent(
        &self,
        guest: &GuestId,
        room: &RoomId,
        message: &SentMessage,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), ModerationError> {
        if keep == 0 {
            return Ok(());
        }
        let until = self.clock.now().saturating_add(ttl);
        let mut state = self.state()?;
        let (messages, kept_until) = state.sent.entry((*guest, *room)).or_default();
        messages.push_back(message.clone());
        while messages.len() > keep {
            messages.pop_front();
        }
        *kept_until = until;
        Ok(())
    }

    async fn sent_recently(
        &self,
        guest: &GuestId,
        room: &RoomId,
    ) -> Result<Vec<SentMessage>, ModerationError> {
        let now = self.clock.now();
        let state = self.state()?;
        Ok(state
            .sent
            .get(&(*guest, *room))
            .filter(|(_, until)| *until > now)
            .map(|(messages, _)| messages.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn note_device(
        &self,
        device: &str,
        guest: &GuestId,
        until: Timestamp,
    ) -> Result<Vec<GuestId>, ModerationError> {
        let now = self.clock.now();
        let mut state = self.state()?;
        let guests = state.devices.entry(device.to_owned()).or_default();
        guests.retain(|_, end| *end > now);
        let others = guests.keys().filter(|g| *g != guest).copied().collect();
        guests.insert(*guest, until);
        Ok(others)
    }

    async fn counts(&self) -> Result<ModerationCounts, ModerationError> {
        let now = self.clock.now();
        let state = self.state()?;
        Ok(ModerationCounts {
            reports: state
                .report_of
                .values()
                .filter(|(_, until)| *until > now)
                .count() as u64,
            active_bans: state.bans.values().filter(|ban| ban.holds_at(now)).count() as u64,
        })
    }
}
