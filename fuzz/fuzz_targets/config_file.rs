//! `strata::config::connection_from_file` on any bytes written to a file: no panic; a value
//! found is trimmed and non-empty, and an error names the file on one line.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata::config::connection_from_file;

/// One file per fuzzing process, rewritten for every input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("strata-fuzz-config-{}.conf", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("write the config file");
    match connection_from_file(path) {
        Ok(Some(url)) => assert!(!url.is_empty() && url.trim() == url, "{url:?}"),
        Ok(None) => {}
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(!message.contains('\n'), "{message:?}");
        }
    }
});
