//! Writes every target's seeds to `<dir>/<target>/<name>` (default `fuzz/corpus`).

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus").to_owned());
    let dir = std::path::Path::new(&dir);
    for (target, name, bytes) in rtmpws_fuzz_harness::seeds::all() {
        let folder = dir.join(target);
        std::fs::create_dir_all(&folder).expect("create corpus folder");
        std::fs::write(folder.join(format!("seed-{name}")), bytes).expect("write seed");
    }
}
