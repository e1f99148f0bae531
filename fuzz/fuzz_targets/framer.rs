//! The request framer on arbitrary bytes: no panic, and framing the same
//! bytes fed in two pieces finds the same requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redshard::protocol::{FrameLimits, RequestFramer};

fn frames(input: &[u8], cut: usize) -> (Vec<Vec<Vec<u8>>>, bool) {
    let limits = FrameLimits {
        max_request: 1 << 16,
        max_key: 1 << 10,
        max_args: 1 << 10,
    };
    let mut framer = RequestFramer::new(limits);
    let mut out = Vec::new();
    let mut start = 0;
    let mut available = cut.min(input.len());
    loop {
        match framer.next_frame(&input[start..available]) {
            Ok(Some(req)) => {
                out.push(req.args().map(<[u8]>::to_vec).collect());
                start += req.wire_len();
            }
            Ok(None) if available < input.len() => available = input.len(),
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (whole, ok) = frames(data, data.len());
    if ok && !data.is_empty() {
        let (split, ok2) = frames(data, data.len() / 2);
        assert!(ok2);
        assert_eq!(whole, split);
    }
});
