//! [`AutobanPolicy`]: when reports turn into bans.

use std::time::Duration;

use crate::model::{Ban, BanSource, BanTarget, Report};

/// How many distinct reporters within which window ban a guest, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutobanPolicy {
    /// Distinct reporters that make a ban (`DUET_AUTOBAN_REPORTS`, default 3); 0 turns
    /// automatic bans off.
    pub reports: u32,
    /// The window they count in (`DUET_AUTOBAN_WINDOW_SECONDS`, default 1 hour).
    pub window: Duration,
    /// How long the guest is banned (`DUET_AUTOBAN_SECONDS`, default 24 hours).
    pub guest_ban: Duration,
    /// How long its address is banned (`DUET_AUTOBAN_IP_SECONDS`, default 1 hour: addresses are
    /// shared by households, schools, mobile carriers).
    pub address_ban: Duration,
    /// How long reports are kept for operators (default 30 days).
    pub retention: Duration,
}

impl Default for AutobanPolicy {
    fn default() -> Self {
        Self {
            reports: 3,
            window: Duration::from_secs(3600),
            guest_ban: Duration::from_secs(86_400),
            address_ban: Duration::from_secs(3600),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

impl AutobanPolicy {
    /// The bans that `report` makes when it brought the distinct reporters of its guest to
    /// `reporters`: none below the threshold; at it and above, the guest's and (when the
    /// report knows it) its address's. Above the threshold the bans are made again, which
    /// renews them from the latest report.
    pub fn bans_after(&self, report: &Report, reporters: u32) -> Vec<Ban> {
        if self.reports == 0 || reporters < self.reports {
            return Vec::new();
        }
        let reason = format!("reported by {reporters} guests");
        let guest = Ban::new(
            BanTarget::GuestId(report.reported),
            reason.clone(),
            BanSource::Automatic,
            report.created_at,
            self.guest_ban,
        );
        let address = report.reported_address.clone().map(|tag| {
            Ban::new(
                BanTarget::Address(tag),
                reason,
                BanSource::Automatic,
                report.created_at,
                self.address_ban,
            )
        });
        std::iter::once(guest)
            .chain(address.filter(|_| !self.address_ban.is_zero()))
            .collect()
    }
}
