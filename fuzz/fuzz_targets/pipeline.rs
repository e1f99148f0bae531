//! Framer, router and encoder together on arbitrary bytes: every request
//! framed from the input is looked up, routed over a placement (picked by
//! the first byte) and encoded for each server, and what each server would
//! receive must re-frame to a valid request holding exactly its keys. The
//! driver is tests/common/pipeline.rs, which tests/pipeline_props.rs also
//! runs on every test run.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use redshard::pool::Placement;

#[path = "../../tests/common/pipeline.rs"]
mod pipeline;

static PLACEMENTS: LazyLock<Vec<Placement>> = LazyLock::new(pipeline::placements);

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let placement = &PLACEMENTS[pick as usize % PLACEMENTS.len()];
    pipeline::drive(input, placement);
});
