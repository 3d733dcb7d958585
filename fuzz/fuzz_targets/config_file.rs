//! The config file: `ConfigFile::parse` on any UTF-8 text (YAML, with the
//! server sections and the policy; errors are located in the text).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match floodgate_config::ConfigFile::parse("fuzz.yaml", text) {
        Ok(cf) => {
            // What the server builds from a valid file.
            let _ = floodgate_server::config::Config::from_file(cf);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
