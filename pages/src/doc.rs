//! The document model every report and page is built as, and its two renderings: Markdown
//! (the `.md` files) and one self-contained HTML page style (the `.html` files). Each page
//! builds a [`Doc`] from its own typed results; nothing is parsed back.
//!
//! Text may carry two inline marks, as in Markdown: `` `code` `` and `**bold**`. They are
//! the only markup; everything else is escaped in HTML.
//!
//! A page reads in one order: the title, a headline that gives the answer in a sentence,
//! then the blocks (charts, then tables, in the order the page puts them), then the method
//! (command, machine, data) in a footer.
//!
//! ```
//! use blastradius_pages::doc::{Block, Column, Doc, Table};
//! let doc = Doc {
//!     title: "Live rating".into(),
//!     headline: Some("`exact` keeps up with 1.2M events/s.".into()),
//!     blocks: vec![Block::Table(Table {
//!         caption: None,
//!         columns: vec![Column::text("detector"), Column::number("events/s")],
//!         rows: vec![vec!["exact".into(), "1,200,000".into()]],
//!     })],
//!     method: vec!["`blastradius bench live DATA`".into()],
//! };
//! assert!(doc.to_markdown().contains("| detector | events/s |\n|---|---:|"));
//! assert!(doc.to_html().contains("<th class=\"n\">events/s</th>"));
//! ```

use crate::chart::{Chart, escape, svg};

/// A column of a table: its name (with its unit) and whether it holds numbers (right-aligned).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub numeric: bool,
}

impl Column {
    /// A column of text, left-aligned.
    pub fn text(name: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            numeric: false,
        }
    }

    /// A column of numbers, right-aligned.
    pub fn number(name: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            numeric: true,
        }
    }
}

/// A table: a header of named columns, rows of cells (inline marks allowed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// A line above the table in HTML (Markdown has none: a page puts a heading or a
    /// paragraph before it instead).
    pub caption: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
}

/// One block of a document.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A section heading (`## ` in Markdown).
    Heading(String),
    /// A paragraph: one line of text.
    Paragraph(String),
    /// Lines that follow each other without a blank line in Markdown, a paragraph each in
    /// HTML.
    Lines(Vec<String>),
    /// A bulleted list.
    List(Vec<String>),
    Table(Table),
    /// Charts: drawn in HTML, where they appear at this place; Markdown leaves them out
    /// (its readers are sent to the HTML page).
    Charts(Vec<Chart>),
}

/// A document: a report or a page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    pub title: String,
    /// The answer in one sentence, first on the HTML page.
    pub headline: Option<String>,
    pub blocks: Vec<Block>,
    /// How the figures were made (command, machine, data), in the HTML page's footer.
    pub method: Vec<String>,
}

impl Doc {
    /// Every chart of the document, in order.
    pub fn charts(&self) -> Vec<&Chart> {
        self.blocks
            .iter()
            .flat_map(|b| match b {
                Block::Charts(c) => c.iter().collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The document as Markdown: the title, then each block that has text (charts and
    /// empty blocks are left out), a blank line between blocks.
    pub fn to_markdown(&self) -> String {
        let mut parts = vec![format!("# {}", self.title)];
        for block in &self.blocks {
            let text = match block {
                Block::Heading(h) => format!("## {h}"),
                Block::Paragraph(p) => p.clone(),
                Block::Lines(lines) if !lines.is_empty() => lines.join("\n"),
                Block::List(items) if !items.is_empty() => items
                    .iter()
                    .map(|i| format!("- {i}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Block::Table(t) => markdown_table(t),
                _ => continue,
            };
            parts.push(text);
        }
        parts.join("\n\n") + "\n"
    }

    /// The document as one self-contained HTML page (no script but the charts' data, no
    /// file beside it): title, headline, blocks, method; the charts' data embedded as JSON
    /// (`<script id="chart-data">`) so that a test can check what was drawn.
    pub fn to_html(&self) -> String {
        let mut body = String::new();
        body.push_str(&format!("<h1>{}</h1>\n", inline(&self.title)));
        if let Some(h) = &self.headline {
            body.push_str(&format!("<p class=\"headline\">{}</p>\n", inline(h)));
        }
        for block in &self.blocks {
            match block {
                Block::Heading(h) => body.push_str(&format!("<h2>{}</h2>\n", inline(h))),
                Block::Paragraph(p) => body.push_str(&format!("<p>{}</p>\n", inline(p))),
                Block::Lines(lines) => {
                    for l in lines {
                        body.push_str(&format!("<p>{}</p>\n", inline(l)));
                    }
                }
                Block::List(items) if !items.is_empty() => {
                    body.push_str("<ul>\n");
                    for i in items {
                        body.push_str(&format!("<li>{}</li>\n", inline(i)));
                    }
                    body.push_str("</ul>\n");
                }
                Block::List(_) => {}
                Block::Table(t) => body.push_str(&html_table(t)),
                Block::Charts(charts) => {
                    body.push_str("<div class=\"charts\">\n");
                    for c in charts {
                        body.push_str(&format!("<figure>{}</figure>\n", svg(c)));
                    }
                    body.push_str("</div>\n");
                }
            }
        }
        if !self.method.is_empty() {
            body.push_str("<footer><h2>Method</h2>\n");
            for m in &self.method {
                body.push_str(&format!("<p>{}</p>\n", inline(m)));
            }
            body.push_str("</footer>\n");
        }
        // No `<` inside the script element, so no text in it (`</script>`, `<!--`) can end
        // or change it.
        let data = serde_json::to_string(&self.charts())
            .expect("charts serialize")
            .replace('<', "\\u003c");
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{STYLE}</style></head>\n<body>\n{body}<script type=\"application/json\" id=\"chart-data\">{data}</script>\n</body></html>\n",
            escape(&plain(&self.title)),
        )
    }
}

/// The one page style: readable at 1400 px, tables that do not wrap numbers, charts in rows.
const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.3em;overflow-wrap:anywhere}h2{margin-top:1.6em}\
p.headline{font-size:1.2em;background:#f3f6fa;border-left:4px solid #0072B2;padding:.6em 1em;overflow-wrap:anywhere}\
.charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;white-space:nowrap}\
th{background:#f3f3f3;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
caption{text-align:left;font-weight:bold;padding:4px 0}\
code{background:#f3f3f3;padding:0 3px;overflow-wrap:anywhere}\
footer{margin-top:2em;border-top:1px solid #ccc;color:#444;font-size:.9em}footer h2{font-size:1.1em}";

fn markdown_table(t: &Table) -> String {
    let row = |cells: &[String]| format!("| {} |", cells.join(" | "));
    let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let rule: Vec<&str> = t
        .columns
        .iter()
        .map(|c| if c.numeric { "---:" } else { "---" })
        .collect();
    let mut lines = vec![row(&names), format!("|{}|", rule.join("|"))];
    lines.extend(t.rows.iter().map(|r| row(r)));
    lines.join("\n")
}

fn html_table(t: &Table) -> String {
    let class = |c: &Column| if c.numeric { " class=\"n\"" } else { "" };
    let mut s = String::from("<table>");
    if let Some(c) = &t.caption {
        s.push_str(&format!("<caption>{}</caption>", inline(c)));
    }
    s.push_str("<tr>");
    for c in &t.columns {
        s.push_str(&format!("<th{}>{}</th>", class(c), inline(&c.name)));
    }
    s.push_str("</tr>");
    for r in &t.rows {
        s.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            let numeric = t.columns.get(i).is_some_and(|c| c.numeric);
            let class = if numeric { " class=\"n\"" } else { "" };
            s.push_str(&format!("<td{class}>{}</td>", inline(cell)));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>\n");
    s
}

/// `text` with its inline marks as HTML, everything else escaped. A `\|` (a pipe escaped
/// for a Markdown table) is a plain `|`.
pub fn inline(text: &str) -> String {
    let mut out = String::new();
    let (mut code, mut bold) = (false, false);
    let escaped = escape(&text.replace("\\|", "|"));
    let mut rest = escaped.as_str();
    while !rest.is_empty() {
        if let Some((text, url, r)) = link(rest).filter(|_| !code) {
            out.push_str(&format!("<a href=\"{url}\">{text}</a>"));
            rest = r;
        } else if let Some(r) = rest.strip_prefix('`') {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("**").filter(|_| !code) {
            out.push_str(if bold { "</b>" } else { "<b>" });
            bold = !bold;
            rest = r;
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    // Close what the text left open, so that one bad mark cannot style the whole page.
    if code {
        out.push_str("</code>");
    }
    if bold {
        out.push_str("</b>");
    }
    out
}

/// A Markdown link at the start of `text` (already escaped): its text, its target, and
/// what follows it. Only a relative target or an http(s) one is taken.
fn link(text: &str) -> Option<(&str, &str, &str)> {
    let rest = text.strip_prefix('[')?;
    let (label, rest) = rest.split_once("](")?;
    let (url, rest) = rest.split_once(')')?;
    let safe = !url.contains(':') || url.starts_with("https://") || url.starts_with("http://");
    (safe && !label.contains('[') && !url.contains(char::is_whitespace))
        .then_some((label, url, rest))
}

/// `text` without its inline marks (for the page's `<title>`).
pub fn plain(text: &str) -> String {
    text.replace('`', "").replace("**", "").replace("\\|", "|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_puts_one_blank_line_between_blocks_and_leaves_charts_out() {
        let doc = Doc {
            title: "T".into(),
            headline: Some("answer".into()),
            blocks: vec![
                Block::Paragraph("p".into()),
                Block::List(vec![]),
                Block::Charts(vec![Chart::default()]),
                Block::Lines(vec!["a".into(), "b".into()]),
                Block::Heading("H".into()),
                Block::Table(Table {
                    caption: None,
                    columns: vec![Column::text("name"), Column::number("n")],
                    rows: vec![vec!["x".into(), "1".into()]],
                }),
            ],
            method: vec!["how".into()],
        };
        assert_eq!(
            doc.to_markdown(),
            "# T\n\np\n\na\nb\n\n## H\n\n| name | n |\n|---|---:|\n| x | 1 |\n"
        );
    }

    #[test]
    fn html_holds_headline_first_tables_with_headers_and_the_method_last() {
        let doc = Doc {
            title: "of `d`".into(),
            headline: Some("**exact**: F1 1.000".into()),
            blocks: vec![Block::Table(Table {
                caption: Some("cap".into()),
                columns: vec![Column::text("detector"), Column::number("user F1")],
                rows: vec![vec!["a\\|b <x>".into(), "1.000".into()]],
            })],
            method: vec!["`cmd`".into()],
        };
        let html = doc.to_html();
        assert!(html.contains("<title>of d</title>"));
        assert!(html.contains("<h1>of <code>d</code></h1>"));
        let headline = html
            .find("class=\"headline\"><b>exact</b>: F1 1.000")
            .unwrap();
        let table = html.find("<table><caption>cap</caption>").unwrap();
        let footer = html.find("<footer>").unwrap();
        assert!(headline < table && table < footer);
        assert!(html.contains("<th class=\"n\">user F1</th>"));
        assert!(html.contains("<td>a|b &lt;x&gt;</td><td class=\"n\">1.000</td>"));
        assert!(html.contains("<p><code>cmd</code></p>"));
    }

    #[test]
    fn links_are_links_and_only_safe_ones() {
        assert_eq!(
            inline("Charts: [page.html](page.html)."),
            "Charts: <a href=\"page.html\">page.html</a>."
        );
        assert_eq!(
            inline("[x](javascript:alert(1))"),
            "[x](javascript:alert(1))"
        );
        assert_eq!(inline("`[a](b)`"), "<code>[a](b)</code>");
    }

    #[test]
    fn chart_data_cannot_end_its_script_element() {
        let chart = Chart {
            series: vec![crate::chart::Series::new(
                "<!--<script></script>",
                vec![(0.0, 1.0)],
            )],
            ..Chart::default()
        };
        let doc = Doc {
            title: "t".into(),
            blocks: vec![Block::Charts(vec![chart])],
            ..Doc::default()
        };
        let html = doc.to_html();
        let data = html.split("id=\"chart-data\">").nth(1).unwrap();
        let data = &data[..data.find("</script>").unwrap()];
        assert!(!data.contains('<'), "{data}");
        let back: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(back[0]["series"][0]["name"], "<!--<script></script>");
    }

    #[test]
    fn a_mark_left_open_is_closed() {
        assert_eq!(inline("a `b"), "a <code>b</code>");
        assert_eq!(inline("**x"), "<b>x</b>");
        assert_eq!(inline("`**`"), "<code>**</code>");
    }
}
