//! Issue 11: a real browser looks at the pages. Headless Chromium (Debian's `chromium`,
//! installed by `.ci/run`) renders `report.html` and `stress.html`; the test keeps a
//! screenshot of each under `target/tmp/browser/`, checks the charts were drawn and that the
//! browser logged no console error.
//!
//! Ignored by a plain `cargo test` (it needs the browser); `.ci/run` runs it with
//! `cargo test --test cli browser -- --ignored`, where it fails if Chromium is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn chromium() -> PathBuf {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    panic!("no Chromium: install Debian's `chromium` package (apt-get install chromium)");
}

/// Renders `page` headless: returns the DOM after rendering and the browser's log, and
/// writes a screenshot to `png`.
fn render(page: &Path, png: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let user_dir = format!("--user-data-dir={}", profile.path().display());
    let shot = Command::new(chromium())
        .args(common)
        .arg(&user_dir)
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,2200")
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success(), "{}", stderr(&shot));
    let dom = Command::new(chromium())
        .args(common)
        .arg(&user_dir)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", stderr(&dom));
    let log = format!("{}{}", stderr(&shot), stderr(&dom));
    (String::from_utf8_lossy(&dom.stdout).into_owned(), log)
}

fn check(page: &Path, name: &str, min_charts: usize) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{name}.png"));
    let (dom, log) = render(page, &png);
    let charts = dom.matches("<svg").count();
    assert!(
        charts >= min_charts,
        "{name}: {charts} charts drawn, want {min_charts}"
    );
    let series = dom.matches("class=\"series\"").count();
    assert!(series >= min_charts, "{name}: {series} series drawn");
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(console_errors.is_empty(), "{name}: {console_errors:?}");
    // A blank page compresses to a few KB; a drawn one holds text and lines.
    let size = std::fs::metadata(&png).unwrap().len();
    assert!(
        size > 40_000,
        "{name}: the screenshot is {size} bytes, nearly blank"
    );
}

#[test]
#[ignore = "needs Debian's chromium; .ci/run runs it"]
fn browser_renders_the_report_and_stress_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    generate_into(&data, "20000", "41", "messaging-partners");
    let report = tmp.path().join("r");
    analyze_report(&data, &report);
    check(&report.join("report.html"), "report", 3);
    let stress = tmp.path().join("s");
    assert_ok(&blastradius(&[
        "stress",
        path_arg(&data),
        "--out",
        path_arg(&stress),
        "--drop",
        "0.01,0.05",
        "--duplicate",
        "0.05",
        "--reorder",
        "15m",
        "--skew",
        "15m",
        "--memory-limits",
        "200000,4000000",
    ]));
    check(&stress.join("stress.html"), "stress", 12);
}
