//! See `framegate::fuzzing::frame`: the harness lives in the library, shared with the
//! regression tests over every crash this target found.
#![no_main]

static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic, even one framegate catches around a codec that indexes
    // past its buffer; with the default hook only panics that escape framegate are crashes.
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    let _ = framegate::fuzzing::frame(data);
});
