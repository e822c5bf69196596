//! What the example programs share; the programs are under `[[example]]` in this package's
//! `Cargo.toml`.

/// Where an example listens: `--addr HOST:PORT` on the command line, else the `ADDR`
/// environment variable, else `127.0.0.1:0` (a free port, printed at start-up).
pub fn listen_address() -> String {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--addr=") {
            return value.to_owned();
        }
        if arg == "--addr"
            && let Some(value) = args.next()
        {
            return value;
        }
    }
    std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned())
}
