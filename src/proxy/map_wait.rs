//! A request whose slot no master serves, in a cluster pool, waits for the
//! slot map asked for at that moment (held, not routed), once; then it is
//! routed as any request, and fails if the slot is still unserved.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::client::Client;
use crate::pool::PoolRuntime;

/// The longest a request for an unserved slot waits for a new slot map:
/// room for the watcher to try a node that does not answer (1 s) and the
/// next.
const MAP_WAIT: Duration = Duration::from_secs(3);
/// A slot map asked for: over when the watcher's next attempt is.
pub(super) struct MapAsked {
    done: tokio::sync::watch::Receiver<u64>,
}

impl MapAsked {
    pub fn now(runtime: &PoolRuntime) -> MapAsked {
        MapAsked {
            done: runtime.cluster_maps.ask(),
        }
    }

    /// Waits (at most [`MAP_WAIT`]) until the watcher is done asking.
    pub async fn answered(mut self) {
        let _ = tokio::time::timeout(MAP_WAIT, self.done.changed()).await;
    }
}

/// A request whose slot no master serves, in a cluster pool, is held (not
/// routed) until the slot map asked for now comes, once; then routed again
/// (split as any request), and failed if still unserved.
#[derive(Debug, Default)]
pub struct MapWait {
    /// Set when the wait is over.
    over: Option<Rc<Cell<bool>>>,
}

impl MapWait {
    /// Whether to hold the request: yes when the wait starts and while it
    /// lasts; no once it is over (the request then fails).
    pub fn hold(&mut self, runtime: &PoolRuntime, client: &Rc<Client>) -> bool {
        match &self.over {
            None => {
                let over = Rc::new(Cell::new(false));
                self.over = Some(over.clone());
                let asked = MapAsked::now(runtime);
                let client = client.clone();
                tokio::task::spawn_local(async move {
                    asked.answered().await;
                    over.set(true);
                    client.ready.notify_one();
                });
                true
            }
            Some(over) if !over.get() => true,
            Some(_) => {
                self.over = None;
                false
            }
        }
    }

    /// The request was routed: the next one starts afresh.
    #[inline]
    pub fn done(&mut self) {
        if self.over.is_some() {
            self.over = None;
        }
    }
}
