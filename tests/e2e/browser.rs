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
    let shot = std::fs::read(&screenshot).expect("the screenshot was saved");
    let blank = std::fs::read(screenshot.with_extension("png.blank.png")).unwrap();
    assert_eq!(
        png_size(&shot),
        Some((390, 700)),
        "a PNG of the phone-sized viewport"
    );
    assert_eq!(png_size(&blank), png_size(&shot));
    // A rendered chat compresses far worse than an empty page of the same size.
    assert!(
        shot.len() > 4 * blank.len(),
        "the screenshot shows the chat: {} bytes against {} for an empty page",
        shot.len(),
        blank.len()
    );
}

/// `wschat dev --host 0.0.0.0`, its page loaded from another of the machine's
/// addresses (127.0.0.2 stands in for a phone on the network): the page
/// connects back where it came from, and the two pages chat.
#[test]
fn a_page_loaded_from_another_address_connects_back_to_it() {
    let dev = Dev::start(&["--host", "0.0.0.0"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = root.join("target/browser-other-address.png");
    let status = Command::new("node")
        .current_dir(root.join("tests/browser"))
        .args(["chat.mjs", &format!("http://127.0.0.2:{}/", dev.port)])
        .arg(&screenshot)
        .status()
        .expect("node runs");
    assert!(status.success(), "the browser scenario failed: {status}");
}

/// History on load, a dropped connection that reconnects by itself and
/// catches up with `since` (each message once, in order), typing notices.
#[test]
fn the_page_shows_history_and_catches_up_after_a_dropped_connection() {
    let dev = Dev::start(&[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("node")
        .current_dir(root.join("tests/browser"))
        .args(["resume.mjs", &format!("{}/", dev.base())])
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the browser resume scenario failed: {status}"
    );
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    let header = png.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
    let ihdr = header
        .get(4..8)
        .filter(|t| *t == b"IHDR")
        .and(header.get(8..16))?;
    let number = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((number(&ihdr[..4]), number(&ihdr[4..])))
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mode_in_the_browser_and_an_ops_broadcast_stands_out() {
    use std::io::{BufRead, BufReader};
    let dev = Dev::start(&["--auth", "token"]);
    let mut mint = crate::harness::wschat();
    mint.args(["token", "--user", "ada", "--local", &dev.base()]);
    let token = crate::harness::run(mint).await.stdout.trim().to_owned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut node = Command::new("node")
        .current_dir(root.join("tests/browser"))
        .args(["token.mjs", &format!("{}/", dev.base()), &token])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let online = tokio::task::block_in_place(|| lines.next());
    assert_eq!(online.and_then(Result::ok).as_deref(), Some("online"));
    let mut broadcast = crate::harness::wschat();
    broadcast.args(["broadcast", "maintenance at noon", "--local", &dev.base()]);
    assert_eq!(crate::harness::run(broadcast).await.code, 0);
    let status = tokio::task::block_in_place(|| node.wait()).unwrap();
    assert!(
        status.success(),
        "the token-mode browser scenario failed: {status}"
    );
}
