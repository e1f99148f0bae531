//! The pool's clients as `CLIENT LIST` shows them, across all workers: one
//! line per client, written when it connects and when it describes itself
//! (CLIENT SETNAME / SETINFO, HELLO, RESET), dropped when it leaves. Job
//! queues find their workers by name in this list (BullMQ's `getWorkers`).
//! Touched on those events only, never per request.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct ClientList {
    lines: Mutex<BTreeMap<u64, String>>,
}

impl ClientList {
    /// Client `id`'s line, as CLIENT INFO gives it (without the newline).
    pub fn set(&self, id: u64, line: String) {
        self.lock().insert(id, line);
    }

    pub fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Every client's line, in the order they connected, each ending in a
    /// newline, as Redis answers CLIENT LIST.
    pub fn render(&self) -> String {
        let lines = self.lock();
        let mut out = String::with_capacity(lines.values().map(|l| l.len() + 1).sum());
        for line in lines.values() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// A session that panicked while holding the lock left whole lines
    /// behind: the list is still good to read and write.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, String>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_connection_order_until_they_leave() {
        let list = ClientList::default();
        list.set(2, "id=2 name=b".into());
        list.set(1, "id=1 name=".into());
        list.set(1, "id=1 name=a".into());
        assert_eq!(list.render(), "id=1 name=a\nid=2 name=b\n");
        list.remove(1);
        assert_eq!(list.render(), "id=2 name=b\n");
        list.remove(2);
        assert_eq!(list.render(), "");
    }
}
