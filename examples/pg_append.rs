//! Appending to a PostgreSQL-stored transcript under the session lock, fenced: each
//! append commits only if this writer's token is still the session's current lock.
//!
//! ```text
//! cargo run --release --features postgres --example pg_append -- \
//!     "host=127.0.0.1 user=postgres dbname=postgres" sessions/s 'hello' 'world'
//! ```
//!
//! It takes the lock of the session key, appends each line in its own fenced
//! transaction, and releases. If the lock is taken over while it runs (its connection
//! terminated, the server restarted, the process paused past a takeover), the next
//! append is rejected with a typed error and nothing more is written.

use std::process::ExitCode;
use std::time::Duration;

use sessionlock::pg::{FenceError, PgFs, append_fenced};
use sessionlock::{Builder, Owner};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, key, lines @ ..] = args.as_slice() else {
        eprintln!("usage: pg_append <connection string> <session key> [line ...]");
        return ExitCode::from(2);
    };
    match run(url, key, lines).await {
        Ok(n) => {
            println!("appended {n} line(s) to {key}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pg_append: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, key: &str, lines: &[String]) -> Result<u64, Box<dyn std::error::Error>> {
    let fs = PgFs::connect(url).await?;
    let lock = fs.session_lock(Builder::new().timeout(Duration::from_secs(10)));
    let guard = lock.acquire(key, Owner::new()).await?;
    let token = guard.fencing_token().ok_or("the hold is gone")?;
    println!("holding {key} with token {}", token.ino);

    // The transcript store: any connection to the lock's database.
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let mut written = 0;
    for line in lines {
        match append_fenced(&mut client, guard.lock_path(), token, &[line]).await {
            Ok(n) => written += n,
            Err(e @ (FenceError::Superseded { .. } | FenceError::Lost { .. })) => {
                // Not committed. The lock is no longer ours: stop writing.
                let released = guard.release().await;
                return Err(format!("{e} (release: {released:?})").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    guard.release().await?;
    Ok(written)
}
