//! The web client in headless Chromium (Debian's `chromium`, driven by playwright-core).

use crate::harness::Dev;
use std::path::Path;
use std::process::Command;

#[test]
fn two_pages_chat_and_hostile_text_stays_text() {
    let dev = Dev::start(&[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs playwright-core and chromium: run tests/run, which installs both"
    );
    let screenshot = root.join("target/browser-chat.png");
    let _ = std::fs::remove_file(&screenshot);
    let status = Command::new("node")
        .current_dir(&browser_dir)
        .args(["chat.mjs", &format!("{}/", dev.base())])
        .arg(&screenshot)
        .status()
        .expect("node runs");
    assert!(status.success(), "the browser scenario failed: {status}");
    assert!(
        std::fs::metadata(&screenshot)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "screenshot saved"
    );
}
