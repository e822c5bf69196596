//! The scenarios, one module each.

pub(crate) mod burst;
pub(crate) mod drops;
pub(crate) mod handshake;
pub(crate) mod idle;
pub(crate) mod paced;
pub(crate) mod relay;
