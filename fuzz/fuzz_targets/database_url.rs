//! `strata::url::DatabaseUrl::parse` on any UTF-8 text: no panic; a parsed URL displays and
//! debug-prints without panicking, and a server URL's display hides its password as `***`;
//! every error has a one-line message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::url::{redact, DatabaseUrl, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let _ = redact(raw);
    match DatabaseUrl::parse(raw) {
        Ok(url) => {
            let shown = url.to_string();
            let _ = format!("{url:?}");
            if let Target::Server(server) = &url.target {
                if server.user.is_some() && server.password.is_some() {
                    assert!(shown.contains(":***@"), "{shown}");
                }
            }
            // What is displayed is a URL again (it may name another target: it is not escaped).
            let _ = DatabaseUrl::parse(&shown);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.is_empty());
            let _ = format!("{error:?}");
        }
    }
});
