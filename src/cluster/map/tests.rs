//! Replies captured from a real 3-master, 3-replica Redis 7.0 cluster
//! (tests/data/cluster): masters 7201, 7202, 7203 serve 0-5460, 5461-10922,
//! 10923-16383. And from TLS ones (`tls-cluster yes`), asked over TLS: with
//! plain ports 7211-7216 and TLS ports 7311-7316 (`tls-both-ports-*`); TLS
//! only on 7321-7326 (`tls-only-*`).

use super::*;

fn decode(bytes: &[u8]) -> Value {
    let (v, len) = Value::parse(bytes).unwrap();
    assert_eq!(len, bytes.len());
    v
}

fn check(map: &SlotMap) {
    check_ports(map, 7201);
}

/// The layout every capture has, its first master on port `first`, the
/// others and the replicas on the next ports.
fn check_ports(map: &SlotMap, first: u16) {
    let masters: Vec<&str> = map.nodes.iter().map(|n| n.addr.as_str()).collect();
    let mut sorted = masters.clone();
    sorted.sort();
    let addr = |n: u16| format!("127.0.0.1:{}", first + n);
    assert_eq!(sorted, [addr(0), addr(1), addr(2)]);
    let at = |slot| map.nodes[map.node_of(slot).unwrap()].addr.clone();
    assert_eq!(at(0), addr(0));
    assert_eq!(at(5460), addr(0));
    assert_eq!(at(5461), addr(1));
    assert_eq!(at(16383), addr(2));
    let replicas: Vec<&str> = map
        .nodes
        .iter()
        .flat_map(|n| &n.replicas)
        .map(String::as_str)
        .collect();
    let mut replicas = replicas.clone();
    replicas.sort();
    assert_eq!(replicas, [addr(3), addr(4), addr(5)]);
    assert_eq!(map.unassigned(), 0);
    assert_eq!(map.slots_per_node().iter().sum::<usize>(), 16384);
    assert!(map.nodes.iter().all(|n| n.replicas.len() == 1));
}

#[test]
fn from_cluster_shards_in_resp2_and_resp3() {
    check(
        &SlotMap::from_shards(
            &decode(include_bytes!(
                "../../../tests/data/cluster/shards-resp2.bin"
            )),
            false,
        )
        .unwrap(),
    );
    let both = include_bytes!("../../../tests/data/cluster/hello-shards-resp3.bin");
    let (_, hello) = Value::parse(both).unwrap();
    check(&SlotMap::from_shards(&decode(&both[hello..]), false).unwrap());
}

/// A TLS pool takes each node's tls-port, a plain pool its port; a node
/// without the port of the pool's kind is an error that says what to do.
#[test]
fn from_cluster_shards_the_port_of_the_pools_kind() {
    let both = decode(include_bytes!(
        "../../../tests/data/cluster/tls-both-ports-shards.bin"
    ));
    check_ports(&SlotMap::from_shards(&both, true).unwrap(), 7311);
    check_ports(&SlotMap::from_shards(&both, false).unwrap(), 7211);

    let tls_only = decode(include_bytes!(
        "../../../tests/data/cluster/tls-only-shards.bin"
    ));
    check_ports(&SlotMap::from_shards(&tls_only, true).unwrap(), 7321);
    let plain_pool = SlotMap::from_shards(&tls_only, false).unwrap_err();
    assert!(matches!(plain_pool, SlotMapError::OnlyTlsPort(_)));
    assert!(
        plain_pool
            .to_string()
            .ends_with("it serves TLS only, so the pool needs tls: true"),
        "{plain_pool}"
    );

    let plain_only = decode(include_bytes!(
        "../../../tests/data/cluster/shards-resp2.bin"
    ));
    let tls_pool = SlotMap::from_shards(&plain_only, true).unwrap_err();
    assert!(
        tls_pool.to_string().starts_with("node 127.0.0.1:720")
            && tls_pool.to_string().contains("announces no tls-port")
            && tls_pool.to_string().contains("tls-cluster yes"),
        "{tls_pool}"
    );
}

/// CLUSTER SLOTS asked over TLS gives the TLS ports: taken as they are.
#[test]
fn from_cluster_slots_asked_over_tls() {
    check_ports(
        &SlotMap::from_slots(&decode(include_bytes!(
            "../../../tests/data/cluster/tls-only-slots.bin"
        )))
        .unwrap(),
        7321,
    );
}

#[test]
fn from_cluster_slots() {
    check(
        &SlotMap::from_slots(&decode(include_bytes!(
            "../../../tests/data/cluster/slots-resp2.bin"
        )))
        .unwrap(),
    );
}

#[test]
fn errors_and_gaps() {
    let err = Value::Error("ERR This instance has cluster support disabled".into());
    assert!(matches!(
        SlotMap::from_slots(&err),
        Err(SlotMapError::Refused(_))
    ));
    // One range only: the other slots are unassigned.
    let one = decode(b"*1\r\n*3\r\n:0\r\n:99\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n");
    let map = SlotMap::from_slots(&one).unwrap();
    assert_eq!(map.node_of(99), Some(0));
    assert_eq!(map.node_of(100), None);
    assert_eq!(map.unassigned(), 16384 - 100);
    let backwards = decode(b"*1\r\n*3\r\n:9\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    assert!(SlotMap::from_slots(&backwards).is_err());
}
