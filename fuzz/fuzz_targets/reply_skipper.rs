//! The reply skipper on arbitrary bytes: no panic, and the same reply
//! boundaries whether the bytes come whole or in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redshard::protocol::ReplySkipper;

fn boundaries(input: &[u8], cut: usize) -> (Vec<usize>, bool) {
    let mut skipper = ReplySkipper::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut available = cut.min(input.len());
    loop {
        match skipper.next_reply(&input[start..available]) {
            Ok(Some(n)) => {
                out.push(n);
                start += n;
            }
            Ok(None) if available < input.len() => available = input.len(),
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (whole, ok) = boundaries(data, data.len());
    if ok && !data.is_empty() {
        let (split, ok2) = boundaries(data, data.len() / 2);
        assert!(ok2);
        assert_eq!(whole, split);
    }
});
