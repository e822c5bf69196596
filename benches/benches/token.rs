//! A guest token: issued (HS256), decoded, and verified as the handshake does it, against the
//! session store it names (`duet-auth` with `duet-presence-store`'s memory sessions).

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use duet_auth::{Session, TokenService, Username};
use duet_presence_store::Stores;

fn token(c: &mut Criterion) {
    let (Ok(tokens), Ok(runtime)) = (
        TokenService::new(&TokenService::random_secret()),
        tokio::runtime::Builder::new_current_thread().build(),
    ) else {
        eprintln!("token: no token service or runtime");
        return;
    };
    let stores = Stores::memory();
    let session = Session::start(
        Username::random(),
        tokens.clock().now(),
        Duration::from_secs(7200),
    );
    let (Ok(()), Ok(issued)) = (
        runtime.block_on(stores.sessions.create_session(&session)),
        tokens.issue(&session),
    ) else {
        eprintln!("token: could not set up a session");
        return;
    };
    let mut group = c.benchmark_group("token");
    group.bench_function("issue", |b| b.iter(|| tokens.issue(&session).is_ok()));
    group.bench_function("decode", |b| {
        b.iter(|| tokens.decode(&issued.token).is_ok());
    });
    group.bench_function("authenticate_memory_session", |b| {
        b.iter(|| {
            runtime
                .block_on(tokens.authenticate(&issued.token, &*stores.sessions))
                .is_ok()
        });
    });
    group.finish();
}

criterion_group!(benches, token);
criterion_main!(benches);
