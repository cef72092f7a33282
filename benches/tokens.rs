//! A million random mutations of valid token paths (the test runs 20,000): how many are
//! accepted (inside their scope: harmless spellings of the same key) and how many outside it,
//! which must be none. `cargo bench --bench tokens`

use framegate_testkit::mutate;

fn main() {
    let started = std::time::Instant::now();
    let (tried, accepted, outside) = mutate::run(1_000_000, 2026);
    let secs = started.elapsed().as_secs_f64();
    println!("| mutations | accepted inside their scope | accepted outside | time |");
    println!("|---|---|---|---|");
    println!("| {tried} | {accepted} | {outside} | {secs:.1} s ({:.0} verifications/s on one core) |", tried as f64 / secs);
    assert_eq!(outside, 0, "a mutated token opened something outside its scope");
}
