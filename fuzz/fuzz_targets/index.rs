//! See `framegate::fuzzing::index`: the harness lives in the library, shared with the
//! regression tests over every crash this target found.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = framegate::fuzzing::index(data);
});
