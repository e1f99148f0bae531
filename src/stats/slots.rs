//! The connections a stats or metrics port serves at once. Both ports are
//! open to whoever can connect, so their connections are capped (idle peers
//! must not pin descriptors and memory without bound); and the cap must not
//! turn into a way to silence `/healthz`: an orchestrator that finds it
//! closed restarts a healthy proxy.
//!
//! So a full port does not refuse the newcomer, it closes the oldest
//! connection that has not yet sent its request, or failing that the oldest
//! of all, and admits the new one. Why this and not a reserve of slots: a
//! port cannot tell a health check from an idle peer before the request
//! arrives, so any reserve is taken by idle peers as well; but a health
//! check sends its request within a round trip of connecting, while an idle
//! peer holds its slot for the whole request time. Under any crowd of held
//! connections the newest connection is therefore served; only a peer that
//! opens a full cap of new connections within that round trip could push a
//! health check out, and such a flood would fill any queue.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::AbortHandle;

/// The connections of one port, admitted up to a cap.
pub struct Slots {
    cap: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    next: u64,
    /// By admission order: the first is the oldest.
    conns: BTreeMap<u64, Conn>,
}

struct Conn {
    peer: SocketAddr,
    /// `None` only while its task is being spawned.
    task: Option<AbortHandle>,
    /// Its request has been read: it is being answered.
    answering: bool,
}

/// A connection's place; dropping it (the task ends or is aborted) frees it.
pub struct Slot {
    id: u64,
    open: Arc<Mutex<Open>>,
}

fn lock(open: &Mutex<Open>) -> MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}

impl Slots {
    pub fn new(cap: usize) -> Slots {
        Slots {
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        lock(&self.open).conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `serve` for the connection from `peer` as a task of its own,
    /// after closing the oldest idle connection if every slot is taken.
    pub async fn admit<F, Fut>(&self, peer: SocketAddr, serve: F)
    where
        F: FnOnce(Slot) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (id, evicted) = {
            let mut open = lock(&self.open);
            let evicted = if open.conns.len() >= self.cap {
                open.oldest_idle()
                    .and_then(|id| open.conns.remove(&id))
                    .map(|c| (c.peer, c.task))
            } else {
                None
            };
            let id = open.next;
            open.next += 1;
            open.conns.insert(
                id,
                Conn {
                    peer,
                    task: None,
                    answering: false,
                },
            );
            (id, evicted)
        };
        if let Some((old, task)) = evicted {
            tracing::debug!(%old, new = %peer, "{} connections open: closing the oldest idle one", self.cap);
            if let Some(task) = task {
                task.abort();
                // The aborted task closes its socket when it next runs: let
                // it, before the caller accepts again, so that a burst of
                // newcomers cannot hold more than the cap open meanwhile.
                tokio::task::yield_now().await;
            }
        }
        let slot = Slot {
            id,
            open: self.open.clone(),
        };
        let task = tokio::spawn(serve(slot)).abort_handle();
        // The task may have ended already (its slot is then gone).
        if let Some(conn) = lock(&self.open).conns.get_mut(&id) {
            conn.task = Some(task);
        }
    }
}

impl Open {
    /// The oldest connection still waiting for its request; else the oldest
    /// being answered (a peer that does not read its reply). Only one whose
    /// task can be aborted.
    fn oldest_idle(&self) -> Option<u64> {
        let abortable = || self.conns.iter().filter(|(_, c)| c.task.is_some());
        abortable()
            .find(|(_, c)| !c.answering)
            .or_else(|| abortable().next())
            .map(|(&id, _)| id)
    }
}

impl Slot {
    /// Its request has been read: closed for a newcomer only after every
    /// connection still waiting for one.
    pub fn answering(&self) {
        if let Some(conn) = lock(&self.open).conns.get_mut(&self.id) {
            conn.answering = true;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.open).conns.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn a_full_port_closes_its_oldest_idle_connection_for_a_new_one() {
        let slots = Slots::new(3);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for port in 1..=5u16 {
            let tx = tx.clone();
            slots
                .admit(peer(port), move |slot| async move {
                    // The second one has read its request.
                    if port == 2 {
                        slot.answering();
                    }
                    let _ended = Ended(port, tx);
                    std::future::pending::<()>().await;
                    drop(slot);
                })
                .await;
            tokio::task::yield_now().await;
        }
        // Five admitted, three kept: the oldest idle ones (1, then 3) went,
        // the one being answered (2) stayed.
        let mut closed = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        closed.sort();
        assert_eq!(closed, [1, 3]);
        assert_eq!(slots.len(), 3);
        // Newcomers being answered push out the idle 4, then the idle 5...
        for port in 6..=7 {
            slots
                .admit(peer(port), |slot| async move {
                    slot.answering();
                    std::future::pending::<()>().await;
                })
                .await;
            tokio::task::yield_now().await;
        }
        assert_eq!(rx.recv().await.unwrap(), 4);
        assert_eq!(rx.recv().await.unwrap(), 5);
        // ...and with none idle, the oldest being answered goes.
        slots
            .admit(peer(8), |slot| async move {
                let _held = slot;
                std::future::pending::<()>().await;
            })
            .await;
        assert_eq!(rx.recv().await.unwrap(), 2);
        assert_eq!(slots.len(), 3);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), rx.recv())
                .await
                .is_err(),
            "nothing else closed"
        );
    }

    #[tokio::test]
    async fn an_ended_connection_frees_its_slot() {
        let slots = Slots::new(2);
        slots.admit(peer(1), |_slot| async {}).await;
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert!(slots.is_empty());
    }

    /// Reports its connection's port when its task is dropped (aborted).
    struct Ended(u16, tokio::sync::mpsc::UnboundedSender<u16>);

    impl Drop for Ended {
        fn drop(&mut self) {
            let _ = self.1.send(self.0);
        }
    }
}
