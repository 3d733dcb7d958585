//! A policy document in JSON (the admin API's body): `from_json`, then
//! `validate_all`, which locates every error in the text.
#![no_main]

use floodgate_config::{PolicyDocument, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let name = "request body";
    match PolicyDocument::from_json(name, text) {
        Ok(doc) => {
            if let Err(errors) = doc.validate_all(&Source { name, text }) {
                assert!(!errors.is_empty(), "validate_all failed with no error");
                for e in errors {
                    let _ = e.to_string();
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
