//! The replication connection, in a task of its own: it streams whole transactions over a bounded
//! channel to the run's loop and passes the loop's acknowledgements back to the slot, reconnecting
//! with backoff after failures.

use freshet_project::spec::SourceSpec;
use freshet_sources::postgres::cdc::{ChangeStream, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

/// The replication connection: streams transactions into `sender` and passes acknowledgements on,
/// reconnecting after failures (from the newest commit received, acknowledging no more than was
/// acknowledged). Ends when the loop drops its end of the channel.
pub(super) async fn replicate(
    source: SourceSpec,
    start: u64,
    sender: mpsc::Sender<Transaction>,
    mut acks: watch::Receiver<u64>,
    wake: Arc<Notify>,
) {
    let mut received = start;
    let mut backoff = Backoff::new();
    loop {
        let acknowledged = *acks.borrow();
        let mut stream = match ChangeStream::connect(&source, received, acknowledged).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("{e}; retrying in {:?}", backoff.next());
                if sender.is_closed() {
                    return;
                }
                backoff.wait().await;
                continue;
            }
        };
        backoff.reset();
        let failure = loop {
            tokio::select! {
                next = stream.next() => match next {
                    Ok(Some(transaction)) => {
                        received = received.max(transaction.end_lsn);
                        if sender.send(transaction).await.is_err() {
                            break None;
                        }
                        // The loop logs it now rather than at its next tick.
                        wake.notify_one();
                    }
                    Ok(None) => break Some("the server ended the stream".to_owned()),
                    Err(e) => break Some(e.to_string()),
                },
                changed = acks.changed() => {
                    if changed.is_err() {
                        break None;
                    }
                    stream.acknowledge(*acks.borrow());
                }
            }
        };
        stream.acknowledge(*acks.borrow());
        stream.close().await;
        match failure {
            None => return,
            Some(e) => {
                tracing::warn!("source `{}`: {e}; reconnecting", source.name);
                backoff.wait().await;
            }
        }
    }
}

/// The wait between attempts to reach the server: 200 ms, doubling up to 10 s, from the start
/// again once an attempt succeeds.
pub(super) struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const LONGEST: Duration = Duration::from_secs(10);

    pub(super) fn new() -> Backoff {
        Backoff(Self::FIRST)
    }

    /// How long the next wait is.
    pub(super) fn next(&self) -> Duration {
        self.0
    }

    pub(super) async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Self::LONGEST);
    }

    pub(super) fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}
