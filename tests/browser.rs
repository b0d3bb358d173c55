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

/// Headless Chromium, quiet and offline.
const COMMON: [&str; 11] = [
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

/// Renders `page` headless: returns the DOM after rendering and the browser's log, and
/// writes a screenshot to `png`.
fn render(page: &Path, png: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    let common = COMMON;
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

/// Measured by the browser itself at 1400 × 1000 (a copy of the page with a probe script
/// appended): how wide the document is, elements that reach past the window's right edge, and
/// pairs of text labels of one chart whose boxes overlap.
const PROBE: &str = r#"<script>(function () {
  var W = window.innerWidth, wide = [], overlaps = [];
  var all = document.body.getElementsByTagName('*');
  for (var i = 0; i < all.length; i++) {
    var r = all[i].getBoundingClientRect();
    if (r.width > 0 && r.right > W + 1) wide.push(all[i].tagName + ' to ' + Math.round(r.right) + 'px');
  }
  document.querySelectorAll('svg').forEach(function (svg, k) {
    var named = svg.getAttribute('aria-label') || 'chart ' + k;
    var t = Array.prototype.slice.call(svg.querySelectorAll('text'))
      .map(function (e) { return [e.textContent, e.getBoundingClientRect()]; })
      .filter(function (x) { return x[1].width > 0 && x[0].trim() !== ''; });
    for (var i = 0; i < t.length; i++) for (var j = i + 1; j < t.length; j++) {
      var a = t[i][1], b = t[j][1];
      var ox = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      var oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (ox > 1 && oy > 1) overlaps.push(named + ': "' + t[i][0] + '" on "' + t[j][0] + '"');
    }
  });
  var out = document.createElement('pre');
  out.id = 'geometry';
  out.textContent = JSON.stringify({
    width: document.documentElement.scrollWidth, window: W, wide: wide, overlaps: overlaps
  });
  document.body.appendChild(out);
})();</script>"#;

fn geometry(page: &Path, name: &str) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let at = html.rfind("</body>").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join(format!("{name}.html"));
    std::fs::write(&probe, format!("{}{PROBE}{}", &html[..at], &html[at..])).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(chromium())
        .args(COMMON)
        .args(["--window-size=1400,1000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dom = String::from_utf8_lossy(&o.stdout);
    let text = dom
        .split("<pre id=\"geometry\">")
        .nth(1)
        .and_then(|t| t.split("</pre>").next())
        .unwrap_or_else(|| panic!("{name}: the probe did not run"));
    let text = text
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

/// Issue 23: nothing makes the reader scroll sideways, and no chart label sits on another.
fn check_geometry(page: &Path, name: &str) {
    let g = geometry(page, name);
    assert!(
        g["width"].as_f64() <= g["window"].as_f64(),
        "{name}: the page is wider than the window: {g}"
    );
    assert_eq!(g["wide"], serde_json::json!([]), "{name}: {g}");
    assert_eq!(g["overlaps"], serde_json::json!([]), "{name}: {g}");
}

fn check(page: &Path, name: &str, min_charts: usize) {
    check_with(page, name, min_charts, 40_000);
}

/// Issue 23: every page reads in one order (headline, then the rest, the method last) and
/// its tables have real column headers, not "a / b / c" cells.
fn check_layout(page: &Path, name: &str) {
    let html = std::fs::read_to_string(page).unwrap();
    let headline = html.find("class=\"headline\"");
    let footer = html.find("<footer>");
    assert!(headline.is_some(), "{name}: no headline");
    assert!(footer.is_some(), "{name}: no method footer");
    assert!(headline < footer, "{name}: the headline comes first");
    if let Some(first_table) = html.find("<table>") {
        assert!(
            headline.unwrap() < first_table,
            "{name}: the answer before the tables"
        );
    }
    assert!(
        !html.contains("|---") && !html.contains("<pre>"),
        "{name}: raw Markdown on the page"
    );
    // Every chart says what its axes are, and names each series in its legend.
    let data = html.split("id=\"chart-data\">").nth(1).unwrap();
    let data = &data[..data.find("</script>").unwrap()];
    let charts: serde_json::Value = serde_json::from_str(data).unwrap();
    for c in charts.as_array().unwrap() {
        for axis in ["x_label", "y_label"] {
            assert!(
                c[axis].as_str().is_some_and(|l| !l.is_empty()),
                "{name}: a chart without its {axis}: {}",
                c["title"]
            );
        }
        for series in c["series"].as_array().unwrap() {
            let n = series["name"].as_str().unwrap();
            assert!(!n.is_empty(), "{name}: a series without a name");
            let legend = format!(
                ">{}</text>",
                n.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            );
            assert!(html.contains(&legend), "{name}: `{n}` is not in a legend");
        }
    }
    for th in html.split("<th").skip(1) {
        let text = &th[th.find('>').unwrap() + 1..th.find("</th>").unwrap()];
        assert!(
            !text.contains(" / "),
            "{name}: a column header holds several figures: {text}"
        );
    }
}

fn check_with(page: &Path, name: &str, min_charts: usize, min_png: u64) {
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
        size > min_png,
        "{name}: the screenshot is {size} bytes, nearly blank"
    );
    check_layout(page, name);
    check_geometry(page, name);
}

/// Replays `data` (with a 1 s stall after 100,000 events) to `detect --follow` (with
/// `detector`'s flags), the page under `live`; `base` picks the port.
fn live_page(data: &Path, live: &Path, base: u16, detector: &[&str]) {
    let port = base + (std::process::id() % 2000) as u16;
    let addr = format!("127.0.0.1:{port}");
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args([
            "replay",
            path_arg(data),
            "--listen",
            &addr,
            "--format",
            "arrow",
            "--rate",
            "400000",
            "--inject-stall",
            "100000:1s",
            "--out",
            path_arg(live),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut follow, mut last) = (None, String::new());
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut args = vec!["detect", "--follow", &addr];
        args.extend(detector);
        let o = blastradius(&args);
        if o.status.success() {
            follow = Some(o);
            break;
        }
        last = stderr(&o);
    }
    let mut replay = replay;
    if follow.is_none() {
        let _ = replay.kill();
        let _ = replay.wait();
        panic!("the follower never got through: {last}");
    }
    assert!(replay.wait_with_output().unwrap().status.success());
}

#[test]
#[ignore = "needs Debian's chromium; .ci/run runs it"]
fn browser_renders_the_view_as_report_and_stress_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "20000", "42", "view-as-2018");
    let report = tmp.path().join("r");
    analyze_report(&data, &report);
    check(&report.join("report.html"), "view-as-report", 4);
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(
        html.contains("Tokens taken per day, by hop"),
        "the spread chart"
    );
    assert!(html.contains("The View-As incident against the truth"));
    let stress = tmp.path().join("s");
    assert_ok(&blastradius(&[
        "stress",
        path_arg(&data),
        "--out",
        path_arg(&stress),
        "--drop",
        "0.01,0.05",
        "--duplicate",
        "none",
        "--reorder",
        "none",
        "--skew",
        "none",
        "--shard-memory-limits",
        "none",
    ]));
    check(&stress.join("stress.html"), "view-as-stress", 4);
    let page = std::fs::read_to_string(stress.join("stress.html")).unwrap();
    assert!(
        page.contains("View-As token F1 under drop"),
        "the View-As curves"
    );
    // The live page of the same world: its View-As levels timed and scored.
    let live = tmp.path().join("live");
    live_page(&data, &live, 45000, &[]);
    check(&live.join("live.html"), "view-as-live", 4);
    let html = std::fs::read_to_string(live.join("live.html")).unwrap();
    assert!(html.contains("View-As stolen tokens"), "the latency row");
    assert!(
        html.contains("View-As: stolen-token F1 1.0000"),
        "the end's scores"
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
        "--shard-memory-limits",
        "200000,4000000",
    ]));
    check(&stress.join("stress.html"), "stress", 12);

    // The live page: a replay followed by the incremental detector, with a stall in the
    // middle that the timeline must show.
    let live = tmp.path().join("live");
    live_page(&data, &live, 47000, &[]);
    check(&live.join("live.html"), "live", 4);
    let live_html = std::fs::read_to_string(live.join("live.html")).unwrap();
    assert!(
        !live_html.contains("<pre>"),
        "the report is a page, not raw text"
    );
    assert!(live_html.contains("Behind schedule over the replay"));

    // Issue 26: the live page of a discovery baseline, its alarms timed and scored.
    let discovery = tmp.path().join("live-discovery");
    let deploys = ["--detector", "policy-replay", "--deploys", path_arg(&data)];
    live_page(&data, &discovery, 49000, &deploys);
    check(&discovery.join("live.html"), "live-discovery", 2);
    let html = std::fs::read_to_string(discovery.join("live.html")).unwrap();
    assert!(
        html.contains("time to detect (wall)"),
        "the discovery table"
    );

    let board = tmp.path().join("board");
    assert_ok(&blastradius(&[
        "bench",
        "detectors",
        "--users",
        "3000",
        "--scenarios",
        "facebook-2018,messaging-partners",
        "--detectors",
        "exact,naive",
        "--out",
        path_arg(&board),
    ]));
    check(&board.join("leaderboard.html"), "leaderboard", 4);

    let scaling = tmp.path().join("scaling");
    assert_ok(&blastradius(&[
        "bench",
        "scaling",
        "--users",
        "1000,4000",
        "--out",
        path_arg(&scaling),
    ]));
    check(&scaling.join("scaling.html"), "scaling", 2);

    let plan = tmp.path().join("plan");
    assert_ok(&blastradius(&[
        "bench",
        "plan",
        "--users",
        "400000",
        "--sample",
        "1",
        "--machines",
        "1,4",
        "--out",
        path_arg(&plan),
    ]));
    check_with(&plan.join("plan.html"), "plan", 0, 20_000);
}
