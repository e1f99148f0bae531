//! Replies captured from a real 3-master, 3-replica Redis 7.0 cluster
//! (tests/data/cluster): masters 7201, 7202, 7203 serve 0-5460, 5461-10922,
//! 10923-16383.

use super::*;

fn decode(bytes: &[u8]) -> Value {
    let (v, len) = Value::parse(bytes).unwrap();
    assert_eq!(len, bytes.len());
    v
}

fn check(map: &SlotMap) {
    let masters: Vec<&str> = map.nodes.iter().map(|n| n.addr.as_str()).collect();
    let mut sorted = masters.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["127.0.0.1:7201", "127.0.0.1:7202", "127.0.0.1:7203"]
    );
    let at = |slot| map.nodes[map.node_of(slot).unwrap()].addr.as_str();
    assert_eq!(at(0), "127.0.0.1:7201");
    assert_eq!(at(5460), "127.0.0.1:7201");
    assert_eq!(at(5461), "127.0.0.1:7202");
    assert_eq!(at(16383), "127.0.0.1:7203");
    assert_eq!(map.unassigned(), 0);
    assert_eq!(map.slots_per_node().iter().sum::<usize>(), 16384);
    assert!(map.nodes.iter().all(|n| n.replicas.len() == 1));
}

#[test]
fn from_cluster_shards_in_resp2_and_resp3() {
    check(
        &SlotMap::from_shards(&decode(include_bytes!(
            "../../../tests/data/cluster/shards-resp2.bin"
        )))
        .unwrap(),
    );
    let both = include_bytes!("../../../tests/data/cluster/hello-shards-resp3.bin");
    let (_, hello) = Value::parse(both).unwrap();
    check(&SlotMap::from_shards(&decode(&both[hello..])).unwrap());
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
