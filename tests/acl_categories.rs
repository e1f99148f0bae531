//! The command table's ACL categories are Redis's own: every command and
//! subcommand the table knows has, in a real redis-server's `ACL CAT`,
//! exactly the categories the table gives it. The documented exceptions:
//! the hosted commands (not Redis's), and SCRIPT FLUSH and SCRIPT KILL,
//! which are `@admin` and `@dangerous` here as they reach every server.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::servers::{RedisServer, Reply};
use redshard::command::category::{Categories, NAMES, SUBS};
use redshard::command::{self, subcommand};

/// Each command and subcommand of the server with its categories.
fn server_categories(server: &RedisServer) -> BTreeMap<String, BTreeSet<String>> {
    let mut c = server.conn();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (category, _) in NAMES {
        let Reply::Array(names) = c.cmd(&["ACL", "CAT", category]) else {
            panic!("ACL CAT {category}");
        };
        for n in names {
            let Reply::Bulk(n) = n else { panic!() };
            out.entry(String::from_utf8(n).unwrap())
                .or_default()
                .insert(category.to_string());
        }
    }
    out
}

fn ours(categories: Categories) -> BTreeSet<String> {
    categories.names().map(str::to_string).collect()
}

#[test]
fn the_tables_categories_are_redis_own() {
    let server = RedisServer::start();
    let redis = server_categories(&server);
    let mut compared = 0;
    let mut differ = Vec::new();
    let mut unknown = Vec::new();
    for spec in command::all() {
        match redis.get(spec.name) {
            Some(theirs) => {
                compared += 1;
                if *theirs != ours(spec.categories) {
                    differ.push(format!(
                        "{}: {:?} vs {theirs:?}",
                        spec.name, spec.categories
                    ));
                }
            }
            None => unknown.push(spec.name),
        }
    }
    for sub in subcommand::all() {
        let theirs = redis
            .get(sub.name)
            .unwrap_or_else(|| panic!("{} unknown", sub.name));
        let mut mine = ours(sub.categories);
        if matches!(sub.name, "script|flush" | "script|kill") {
            assert!(
                mine.remove("admin") && mine.remove("dangerous"),
                "{}",
                sub.name
            );
        }
        compared += 1;
        if *theirs != mine {
            differ.push(format!("{}: {mine:?} vs {theirs:?}", sub.name));
        }
    }
    assert!(
        differ.is_empty(),
        "categories differ from Redis's:\n{}",
        differ.join("\n")
    );
    // Not Redis 7.0's: the hosted commands, and WAITAOF (Redis 7.2).
    let hosted = |n: &str| {
        ["bf.", "lock.", "redpacket.", "seckill."]
            .iter()
            .any(|p| n.starts_with(p))
    };
    let others: Vec<_> = unknown.iter().filter(|n| !hosted(n)).collect();
    assert_eq!(others, [&"waitaof"]);
    assert!(compared > 350, "{compared}");
    // Every command Redis gives subcommands has its own in the table.
    for spec in command::all().iter().filter(|c| c.categories.has(SUBS)) {
        let prefix = format!("{}|", spec.name);
        let theirs = redis.keys().filter(|n| n.starts_with(&prefix)).count();
        let mine = subcommand::all()
            .iter()
            .filter(|s| s.name.starts_with(&prefix))
            .count();
        assert_eq!(mine, theirs, "{}", spec.name);
    }
}
