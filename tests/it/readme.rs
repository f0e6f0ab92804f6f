//! The README's examples, run: every `sh` block's `curl` to the local server
//! and every `lnurld` command, in the README's order, against a real server
//! on a test database. An example whose fields, paths or flags rot fails
//! here. Lines that only make sense elsewhere (cargo, lncli, shell
//! arithmetic) are named in [`elsewhere`]; any other line is an error, so a
//! new kind of example is looked at rather than skipped.

use reqwest::Method;

use crate::cli_output::cli;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;

crate::both_dbs!(the_readme_examples_run);

/// Where the README's examples send their requests.
const README_BASE: &str = "http://127.0.0.1:8080";

/// Commands of the README's `sh` blocks, continuation lines joined, with
/// their line numbers (the `sh` fences and 4-space indented `curl` blocks).
fn commands(readme: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut in_sh = false;
    let mut joining = false;
    for (i, line) in readme.lines().enumerate() {
        let n = i + 1;
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        let code = if in_sh {
            Some(line)
        } else if joining || line.starts_with("    curl ") || line.starts_with("    lnurld ") {
            line.strip_prefix("    ")
        } else {
            None
        };
        let Some(code) = code else { continue };
        let text = code.trim().trim_end_matches('\\').trim_end();
        match out.last_mut() {
            Some((_, last)) if joining => {
                last.push(' ');
                last.push_str(text);
            }
            _ if text.is_empty() => {}
            _ => out.push((n, text.to_owned())),
        }
        // A command goes on after a backslash, or inside an open quote (a
        // JSON body over several lines).
        joining =
            code.trim_end().ends_with('\\') || out.last().is_some_and(|(_, last)| open_quote(last));
    }
    out
}

/// Whether `cmd` ends inside a quote (a `#` comment's apostrophes do not
/// count).
fn open_quote(cmd: &str) -> bool {
    let (mut quote, mut prev) = (None, ' ');
    for c in cmd.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if prev.is_whitespace() => break,
            _ => {}
        }
        prev = c;
    }
    quote.is_some()
}

/// Examples meant for another machine or another tool.
fn elsewhere(cmd: &str) -> bool {
    let first = cmd.split_whitespace().next().unwrap_or("");
    // `NAME=value …`: a shell assignment, or an environment for cargo.
    let assigns = first.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    });
    assigns
        || matches!(
            first,
            "cargo" | "lncli" | "install" | "chown" | "env" | "export" | "t=${SIG#t=};" | "{"
        )
}

/// The first id `prefix_` + 24 hex digits in `text` (the newest, in a
/// list).
fn first_id(text: &str, prefix: &str) -> Option<String> {
    let tag = format!("{prefix}_");
    text.match_indices(&tag)
        .filter_map(|(i, _)| {
            let hex = text.get(i + tag.len()..i + tag.len() + 24)?;
            let after = text[i + tag.len() + 24..].chars().next();
            (hex.bytes().all(|b| b.is_ascii_hexdigit())
                && !after.is_some_and(|c| c.is_ascii_alphanumeric()))
            .then(|| format!("{tag}{hex}"))
        })
        .next()
}

/// Shell words: single and double quotes, `#` comments; enough for the
/// README, which uses no escapes inside quotes.
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in cmd.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            (None, '#') if cur.is_none() => break,
            (None, c) if c.is_whitespace() => out.extend(cur.take()),
            (None, c) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unclosed quote in {cmd}");
    out.extend(cur);
    out
}

/// The README's placeholders, filled in from what earlier examples printed.
struct Seen {
    token: String,
    last_link: Option<String>,
    last_batch: Option<String>,
    last_pay_link: Option<String>,
}

impl Seen {
    fn note(&mut self, output: &str) {
        self.last_link = first_id(output, "wl").or(self.last_link.take());
        self.last_batch = first_id(output, "wb").or(self.last_batch.take());
        self.last_pay_link = first_id(output, "pl").or(self.last_pay_link.take());
    }

    fn fill(&self, word: &str, line: usize) -> String {
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .unwrap_or_else(|| panic!("README line {line}: no {what} made before it"))
        };
        let mut w = word.replace("$TOKEN", &self.token);
        if w.contains("$BATCH") || w.contains("wb_…") {
            let b = need(&self.last_batch, "batch");
            w = w.replace("$BATCH", &b).replace("wb_…", &b);
        }
        if w.contains("pl_…") {
            w = w.replace("pl_…", &need(&self.last_pay_link, "pay link"));
        }
        if w.contains("wl_…") {
            w = w.replace("wl_…", &need(&self.last_link, "withdraw link"));
        }
        assert!(
            !w.contains('…') && !w.contains('$'),
            "README line {line}: unfilled {w}"
        );
        w
    }
}

async fn run_curl(app: &TestApp, seen: &mut Seen, line: usize, args: &[String]) {
    let (mut method, mut url, mut body, mut headers) = (None, None, None, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" => {}
            "-X" => method = it.next().cloned(),
            "-H" => headers.push(it.next().expect("header").clone()),
            "-d" => body = it.next().cloned(),
            // `> FILE`: where the reader keeps the answer; checked here.
            ">" => {
                it.next();
            }
            u if u.starts_with("http") => url = Some(u.to_owned()),
            other => panic!("README line {line}: curl option {other} not understood here"),
        }
    }
    let url = url.unwrap_or_else(|| panic!("README line {line}: curl without a URL"));
    let path = url
        .strip_prefix(README_BASE)
        .unwrap_or_else(|| panic!("README line {line}: {url} is not the local server"));
    let method = match (method.as_deref(), &body) {
        (Some(m), _) => Method::from_bytes(m.as_bytes()).expect("method"),
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let mut rb = app.http.request(method, app.url(path));
    for h in &headers {
        let (k, v) = h.split_once(':').expect("header shape");
        rb = rb.header(k.trim(), v.trim());
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let res = rb.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    assert!(
        status.is_success(),
        "README line {line}: {url} answered {status}: {text}"
    );
    seen.note(&text);
}

/// Every example of the README, in order, on one server and database.
async fn the_readme_examples_run(db: TestDb) {
    let readme = include_str!("../../README.md");
    let app = TestApp::start(&db, Node::Dev).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = Seen {
        token: app.token.clone(),
        last_link: None,
        last_batch: None,
        last_pay_link: None,
    };
    let (mut curls, mut clis) = (0, 0);
    for (line, cmd) in commands(readme) {
        if elsewhere(&cmd) {
            continue;
        }
        let args: Vec<String> = words(&cmd).iter().map(|w| seen.fill(w, line)).collect();
        match args.first().map(String::as_str) {
            Some("curl") => {
                run_curl(&app, &mut seen, line, &args[1..]).await;
                curls += 1;
            }
            Some("lnurld") => {
                let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
                let out = cli(&db, dir.path(), &rest).output().expect("run lnurld");
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(
                    out.status.success(),
                    "README line {line}: `{cmd}` exited {:?}: {}{stdout}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                );
                seen.note(&stdout);
                clis += 1;
            }
            _ => panic!("README line {line}: an example of an unknown kind: {cmd}"),
        }
    }
    // The README has examples of both kinds; a parser that found none
    // would pass the loop above vacuously.
    assert!(
        curls >= 5 && clis >= 17,
        "{curls} curl and {clis} lnurld examples found"
    );
    app.stop(true).await;
}
