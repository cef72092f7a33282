//! See `framegate::fuzzing::query`: the harness lives in the library, shared with the
//! regression tests over every crash this target found.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = framegate::fuzzing::query(data);
});
