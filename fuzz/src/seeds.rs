//! Seeds a target makes itself (signed tokens, forms with the emulator's
//! placeholders), written into its corpus when `SIWA_FUZZ_SEED_DIR` names it.
//!
//! `fuzz/run.sh` sets the variable; libFuzzer calls the targets' `init`
//! before it reads the corpus, so the seeds are there for the same run. Each
//! file is named by the SHA-1 of its bytes, as libFuzzer names corpus files,
//! so a seed the fuzzer already kept is not written twice.

use std::path::Path;

/// Writes `make()`'s seeds when `SIWA_FUZZ_SEED_DIR` is set.
pub fn write_from_env(make: impl FnOnce() -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os("SIWA_FUZZ_SEED_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("seed directory");
    for seed in make() {
        let name = sha1_hex(&seed);
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, &seed).expect("write seed");
        }
    }
}

fn sha1_hex(bytes: &[u8]) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A seed of a structured target: the mode byte, then the parts joined by `sep`.
pub fn framed(mode: u8, parts: &[&[u8]], sep: u8) -> Vec<u8> {
    let mut out = vec![mode];
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.extend_from_slice(part);
    }
    out
}
