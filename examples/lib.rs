//! Nothing to see here: the programs are under `[[example]]` in this package's `Cargo.toml`.
