//! The machinery behind the stats table in [`super::counters`], after
//! twemproxy's `nc_stats.h` X-macro: each stat is one line (name, kind, help),
//! and `stats_table!` turns the lines into the counter struct's fields and a
//! [`Stat`] list, which `-D`, the stats JSON and the Prometheus text all walk.
//! So a stat cannot be counted yet missing from an output, or the reverse.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What a stat measures (nutcracker's `stats_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A wall-clock time in µs since the epoch, 0 for never.
    Timestamp,
}

impl Kind {
    /// The Prometheus `# TYPE`: a timestamp is a gauge whose value is a time.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge | Kind::Timestamp => "gauge",
        }
    }
}

/// One line of the table: a stat of an owner `O` (a pool, a server).
pub struct Stat<O: 'static> {
    /// nutcracker's name, the key in the stats JSON.
    pub name: &'static str,
    pub kind: Kind,
    /// nutcracker's description, as `-D` prints it.
    pub help: &'static str,
    /// The current value: a stored stat summed over the workers' shards.
    pub read: fn(&O) -> i64,
}

impl<O> Stat<O> {
    /// `redshard_<name>`, with `_total` for counters as Prometheus expects.
    pub fn prometheus_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("redshard_{}_total", self.name),
            Kind::Gauge | Kind::Timestamp => format!("redshard_{}", self.name),
        }
    }

    /// The help text without nutcracker's `# ` ("number of") prefix, which
    /// would read as a comment in the Prometheus text.
    pub fn prometheus_help(&self) -> &'static str {
        self.help.trim_start_matches("# ")
    }
}

/// A counter cell: what a stat line stores, read as i64 (nutcracker prints
/// every value as a signed 64-bit number).
pub trait Cell {
    fn value(&self) -> i64;
}

impl Cell for AtomicU64 {
    fn value(&self) -> i64 {
        self.load(Ordering::Relaxed) as i64
    }
}

impl Cell for AtomicI64 {
    fn value(&self) -> i64 {
        self.load(Ordering::Relaxed)
    }
}

/// The storage of a kind: counters and timestamps never go below zero, gauges
/// do while workers' shards disagree (one opens a connection, another closes it).
macro_rules! stat_cell {
    (counter) => {
        ::std::sync::atomic::AtomicU64
    };
    (gauge) => {
        ::std::sync::atomic::AtomicI64
    };
    (timestamp) => {
        ::std::sync::atomic::AtomicU64
    };
}

macro_rules! stat_kind {
    (counter) => {
        $crate::pool::stats_table::Kind::Counter
    };
    (gauge) => {
        $crate::pool::stats_table::Kind::Gauge
    };
    (timestamp) => {
        $crate::pool::stats_table::Kind::Timestamp
    };
}

/// Generates a counter struct (one field per stored stat, plus `extra`
/// fields that no table line describes) and the [`Stat`] list of its owner.
///
/// A line is `name: kind "help",` and stores its value in a field `name`;
/// `name: kind(function) "help",` stores nothing and reads its value from
/// the owner with `function` (for what the owner already tracks). Lines keep
/// nutcracker's order, which is the order of the JSON keys.
macro_rules! stats_table {
    // Every line consumed: emit the struct.
    (@struct [$($attr:tt)*] $Counters:ident [$($fields:tt)*] [$($extra:tt)*]) => {
        $($attr)*
        #[derive(Debug, Default)]
        #[repr(align(128))] // a shard per worker: no false sharing
        pub struct $Counters {
            $($fields)*
            $($extra)*
        }
    };
    // A stored stat: one more field.
    (@struct $attrs:tt $Counters:ident [$($fields:tt)*] $extra:tt
        $name:ident: $kind:ident $help:literal, $($rest:tt)*) => {
        $crate::pool::stats_table::stats_table!(@struct $attrs $Counters [
            $($fields)*
            #[doc = concat!("`", stringify!($name), "`: ", $help)]
            pub $name: $crate::pool::stats_table::stat_cell!($kind),
        ] $extra $($rest)*);
    };
    // A stat read from the owner: no field.
    (@struct $attrs:tt $Counters:ident $fields:tt $extra:tt
        $name:ident: $kind:ident ($read:path) $help:literal, $($rest:tt)*) => {
        $crate::pool::stats_table::stats_table!(@struct $attrs $Counters $fields $extra $($rest)*);
    };
    (@read $Owner:ident . $shards:ident, $name:ident) => {
        |o: &$Owner| o.$shards.sum(|c| &c.$name)
    };
    (@read $Owner:ident . $shards:ident, $name:ident, $read:path) => {
        $read
    };
    (
        $(#[$attr:meta])*
        pub struct $Counters:ident: $TABLE:ident for $Owner:ident . $shards:ident {
            $($name:ident: $kind:ident $(($read:path))? $help:literal,)*
        }
        extra { $($extra:tt)* }
    ) => {
        $crate::pool::stats_table::stats_table!(@struct [$(#[$attr])*] $Counters [] [$($extra)*]
            $($name: $kind $(($read))? $help,)*);

        #[doc = concat!("The stats of each `", stringify!($Owner), "`, in nutcracker's order.")]
        pub const $TABLE: &[$crate::pool::stats_table::Stat<$Owner>] = &[$(
            $crate::pool::stats_table::Stat {
                name: stringify!($name),
                kind: $crate::pool::stats_table::stat_kind!($kind),
                help: $help,
                read: $crate::pool::stats_table::stats_table!(@read $Owner . $shards, $name $(, $read)?),
            },
        )*];
    };
}

// Path-addressable within the crate, so the expansion can name its helpers.
pub(crate) use {stat_cell, stat_kind, stats_table};
