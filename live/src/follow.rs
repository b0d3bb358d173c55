//! Our own detector on the live stream (`blastradius detect --follow ADDR`): connects to a
//! replayer, reads its events (JSON lines or Arrow IPC, told apart by their first byte), feeds
//! them to the incremental `exact` or `streaming` (each the batch detector's own state and
//! rule, one event at a time) and sends each finding back the moment it is known.
//!
//! A client needs no async runtime: one blocking socket, read and written in turn.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use blastradius_analyzer::detect::Row;
use blastradius_analyzer::view_as::Learned;
use blastradius_analyzer::{exact, streaming, view_as};
use blastradius_dataset::access::AccessRow;
use blastradius_schema::{AccessKind, Action, Client, FieldGroup, Kind, Scope, Surface, TokenPath};
use serde::Deserialize;

use crate::Error;
use crate::lateness::Lateness;
use crate::source::{Event, Item, items};
use crate::wire::{Finding, alarm_line, finding_line};
use blastradius_analyzer::discover::alarms::Alarm;
use blastradius_analyzer::discover::live::Watcher;
use blastradius_analyzer::discover::{Deploys, Incident};

/// What a follow run saw.
#[derive(Clone, Debug, Default)]
pub struct Followed {
    pub events: u64,
    /// Rows of a View-As world's access log among them.
    pub access_events: u64,
    pub findings: u64,
    /// Pages of a discovery baseline.
    pub alarms: u64,
    pub users_tracked: usize,
    /// Events passed over because their user came after the state's budget was spent.
    pub events_untracked: u64,
    /// The bug's deploy events (`bug_introduced`, `bug_fixed`) among them: the bug window's
    /// only source (an ordinary `deploy` is not counted).
    pub deploys: u64,
    /// Events that came after an event later in log order `(ts, event_id)`.
    pub out_of_order: u64,
    /// With an allowed lateness: events later than it (applied as they came), and the most
    /// events held at once.
    pub too_late: u64,
    pub most_held: usize,
}

/// How the follower orders what it feeds the detector.
enum Order {
    /// As the events arrive; those out of log order are only counted.
    Arrival(crate::lateness::Disorder),
    /// Held for an allowed lateness, then in log order.
    Lateness(Lateness<Item>, Vec<Item>),
}

impl Order {
    /// Takes in the next event; feeds the detector what may be fed now.
    fn push(
        &mut self,
        row: Item,
        detector: &mut Live,
        out: &mut impl Write,
        seen: &mut Followed,
    ) -> std::io::Result<()> {
        match self {
            Order::Arrival(d) => {
                d.observe(row.ts(), row.event_id());
                feed(detector, &row, out, seen)
            }
            Order::Lateness(l, ready) => {
                l.push(row, &mut |r| ready.push(*r));
                for r in ready.drain(..) {
                    feed(detector, &r, out, seen)?;
                }
                Ok(())
            }
        }
    }

    /// The end of the stream: feeds what is still held, and notes the counts.
    fn finish(
        &mut self,
        detector: &mut Live,
        out: &mut impl Write,
        seen: &mut Followed,
    ) -> std::io::Result<()> {
        match self {
            Order::Arrival(d) => seen.out_of_order = d.late_events,
            Order::Lateness(l, ready) => {
                l.finish(&mut |r| ready.push(*r));
                for r in ready.drain(..) {
                    feed(detector, &r, out, seen)?;
                }
                (seen.out_of_order, seen.too_late, seen.most_held) =
                    (l.out_of_order(), l.too_late, l.most_held);
            }
        }
        Ok(())
    }
}

/// A built-in detector that takes one event at a time. `exact` has a View-As form too
/// (rules 1 to 4 of data/README §13, one row at a time); `streaming` has none, and passes
/// over the access log.
pub enum Live {
    Exact(exact::Incremental, view_as::Incremental),
    Streaming(streaming::Incremental),
    /// A discovery baseline: sends alarms (data/README §14), not findings.
    Discover(Watcher),
}

impl Live {
    /// The detector named `name`; `streaming` plans `memory_limit` bytes for `users_hint` users.
    ///
    /// # Errors
    /// A name that is not a live detector.
    pub fn new(name: &str, memory_limit: u64, users_hint: u64) -> Result<Self, String> {
        use blastradius_analyzer::registry::{Mode, find};
        match find(name, Mode::Live)
            .map_err(|why| {
                format!(
                    "{name}: {why}; the live discovery baselines are {}",
                    blastradius_analyzer::discover::live::LIVE.join(", ")
                )
            })?
            .name
        {
            "exact" => Ok(Live::Exact(
                exact::Incremental::new(),
                view_as::Incremental::new(),
            )),
            "streaming" => Ok(Live::Streaming(streaming::Incremental::new(
                memory_limit,
                users_hint,
            ))),
            other => Err(format!("`{other}` has no incremental form here yet")),
        }
    }

    /// The live form of the discovery baseline `name`; `deploys` names the watched
    /// service's deploys (or is empty: then a page blames the latest deploy of any service).
    ///
    /// # Errors
    /// A name that is not a discovery detector with a live form.
    pub fn discover(name: &str, deploys: Deploys) -> Result<Self, String> {
        Watcher::new(name, deploys).map(Live::Discover)
    }

    /// Whether it sends alarms rather than findings (and so needs no bug window).
    pub fn is_discovery(&self) -> bool {
        matches!(self, Live::Discover(_))
    }

    /// Applies `item`; appends what it makes known to `found`, and a discovery baseline's
    /// pages to `pages`.
    fn push(
        &mut self,
        item: &Item,
        found: &mut Vec<Finding>,
        pages: &mut Vec<(Alarm, Incident)>,
        learned: &mut Vec<Learned>,
    ) {
        if let Live::Discover(w) = self {
            let page = match item {
                Item::Photo(e) => w.photo(&e.row, e.items_returned),
                Item::Access(a) => w.access(a),
            };
            pages.extend(page.map(|p| (p, w.incident())));
            return;
        }
        let (exposures, violations) = match (self, item) {
            (Live::Exact(d, _), Item::Photo(e)) => d.push(&e.row),
            (Live::Streaming(d), Item::Photo(e)) => d.push(&e.row),
            (Live::Exact(_, v), Item::Access(a)) => {
                v.push(a, learned);
                found.extend(learned.drain(..).map(|l| match l {
                    Learned::Token(token_id) => Finding::Token { token_id },
                    Learned::User(user_id, tier) => Finding::ViewAsUser {
                        user_id,
                        tier: Some(tier),
                    },
                }));
                return;
            }
            (Live::Streaming(_), Item::Access(_)) => return,
            (Live::Discover(_), _) => unreachable!("answered above"),
        };
        found.extend(exposures.iter().map(|e| Finding::Exposure {
            app_id: e.app_id,
            user_id: e.user_id,
            photo_id: e.photo_id,
        }));
        found.extend(violations.iter().map(|v| Finding::Violation {
            event_id: v.event_id,
        }));
    }

    fn prefetch(&self, user: u64, photos_too: bool) {
        match self {
            Live::Exact(d, _) => d.prefetch(user, photos_too),
            Live::Streaming(d) if !photos_too => d.prefetch(user),
            Live::Streaming(_) | Live::Discover(_) => {}
        }
    }

    fn users(&self) -> (usize, u64) {
        match self {
            Live::Exact(d, _) => (d.users(), 0),
            Live::Streaming(d) => d.users(),
            Live::Discover(w) => (w.users(), 0),
        }
    }
}

/// One JSON event line.
#[derive(Deserialize)]
struct Line {
    event_id: u64,
    ts: i64,
    kind: String,
    user_id: Option<u64>,
    app_id: Option<u32>,
    photo_id: Option<u64>,
    surface: Option<String>,
    scope: Option<String>,
    action: Option<String>,
    status: Option<u16>,
    page: Option<u32>,
    page_size: Option<u32>,
    items_returned: Option<u32>,
    // The access log's (a View-As world, data/README §13).
    target_id: Option<u64>,
    token_id: Option<u64>,
    issued_token_id: Option<u64>,
    session_id: Option<u64>,
    client: Option<String>,
    network: Option<u64>,
    path: Option<String>,
    field_group: Option<String>,
}

/// Parses one JSON event line of a photo-log event into a row.
///
/// # Errors
/// As [`json_item`], and for a row of the access log.
pub fn json_row(line: &str) -> Result<Row, String> {
    match json_item(line)? {
        Item::Photo(e) => Ok(e.row),
        Item::Access(a) => Err(format!(
            "event {} is of the access log, not an event of events/",
            a.event_id
        )),
    }
}

fn value<T>(
    text: Option<&str>,
    parse: fn(&str) -> Option<T>,
    name: &str,
    id: u64,
) -> Result<Option<T>, String> {
    text.map(|t| {
        parse(t).ok_or_else(|| {
            format!(
                "event {id} has the unknown {name} `{t}` (the values are listed in data/README.md)"
            )
        })
    })
    .transpose()
}

/// An access-log row from its JSON line, `kind` already parsed.
fn access_row(l: &Line, kind: AccessKind) -> Result<AccessRow, String> {
    let id = l.event_id;
    let c = kind.columns();
    let need = |applies: bool, present: bool, name: &str| match applies && !present {
        true => Err(format!(
            "event {id} (`{kind}`) has no `{name}`, which its kind needs (see data/README.md §13)"
        )),
        false => Ok(()),
    };
    let client = value(l.client.as_deref(), Client::parse, "client", id)?;
    let path = value(l.path.as_deref(), TokenPath::parse, "path", id)?;
    let group = value(
        l.field_group.as_deref(),
        FieldGroup::parse,
        "field_group",
        id,
    )?;
    need(c.session, l.user_id.is_some(), "user_id")?;
    need(c.session, l.session_id.is_some(), "session_id")?;
    need(c.session, l.network.is_some(), "network")?;
    need(c.session, client.is_some(), "client")?;
    need(c.target_id, l.target_id.is_some(), "target_id")?;
    need(c.issued, l.issued_token_id.is_some(), "issued_token_id")?;
    need(c.issued, path.is_some(), "path")?;
    need(c.field_group, group.is_some(), "field_group")?;
    let login = kind == AccessKind::TokenIssued && path == Some(TokenPath::Login);
    need(c.token_id && !login, l.token_id.is_some(), "token_id")?;
    Ok(AccessRow {
        event_id: id,
        ts: l.ts,
        kind,
        user_id: l.user_id.filter(|_| c.session).unwrap_or(0),
        target_id: l.target_id.filter(|_| c.target_id).unwrap_or(0),
        token_id: l.token_id.filter(|_| c.token_id),
        issued_token_id: l.issued_token_id.filter(|_| c.issued).unwrap_or(0),
        session_id: l.session_id.filter(|_| c.session).unwrap_or(0),
        client: client.filter(|_| c.session),
        network: l.network.filter(|_| c.session).unwrap_or(0),
        path: path.filter(|_| c.issued),
        field_group: group.filter(|_| c.field_group),
    })
}

/// Parses one JSON line of the stream: an event of `events/`, or (a View-As world) a row of
/// `access/`, told apart by the kind.
///
/// # Errors
/// A message when the line is not an event of the contract: not JSON, an unknown kind or
/// enum value, or a field missing that the event's kind needs (it would read as 0, and a
/// missing `user_id` would hand the event to user 0).
pub fn json_item(line: &str) -> Result<Item, String> {
    let l: Line = serde_json::from_str(line).map_err(|e| format!("not a JSON event ({e})"))?;
    let id = l.event_id;
    let Some(kind) = Kind::parse(&l.kind) else {
        return match AccessKind::parse(&l.kind) {
            Some(kind) => access_row(&l, kind).map(Item::Access),
            None => Err(format!("event {id} has the unknown kind `{}`", l.kind)),
        };
    };
    let c = kind.columns();
    let need = |applies: bool, present: bool, name: &str| match applies && !present {
        true => Err(format!(
            "event {id} (`{kind}`) has no `{name}`, which its kind needs (see data/README.md)"
        )),
        false => Ok(()),
    };
    need(c.user_id, l.user_id.is_some(), "user_id")?;
    need(c.app_id, l.app_id.is_some(), "app_id")?;
    need(c.photo_id, l.photo_id.is_some(), "photo_id")?;
    need(c.surface, l.surface.is_some(), "surface")?;
    need(c.scope, l.scope.is_some(), "scope")?;
    need(c.action, l.action.is_some(), "action")?;
    need(c.status, l.status.is_some(), "status")?;
    need(c.paging, l.page.is_some(), "page")?;
    need(c.paging, l.page_size.is_some(), "page_size")?;
    need(c.paging, l.items_returned.is_some(), "items_returned")?;
    let row = Row {
        event_id: id,
        ts: l.ts,
        kind,
        user_id: l.user_id.unwrap_or(0),
        app_id: l.app_id.unwrap_or(0),
        photo_id: l.photo_id.unwrap_or(0),
        surface: value(l.surface.as_deref(), Surface::parse, "surface", id)?
            .unwrap_or(Surface::Timeline),
        scope: value(l.scope.as_deref(), Scope::parse, "scope", id)?.unwrap_or(Scope::UserPhotos),
        action: value(l.action.as_deref(), Action::parse, "action", id)?.unwrap_or(Action::Read),
        status: l.status.unwrap_or(0),
        page: l.page.unwrap_or(0),
        page_size: l.page_size.unwrap_or(0),
    };
    Ok(Item::Photo(Event {
        row,
        items_returned: l.items_returned.unwrap_or(0),
    }))
}

/// Feeds `item` to the detector and writes what it finds.
fn feed(
    detector: &mut Live,
    item: &Item,
    out: &mut impl Write,
    seen: &mut Followed,
) -> std::io::Result<()> {
    seen.events += 1;
    if item.photo().is_some_and(|e| e.row.kind.is_bug_deploy()) {
        seen.deploys += 1;
    }
    if matches!(item, Item::Access(_)) {
        seen.access_events += 1;
    }
    let (mut found, mut pages) = (Vec::new(), Vec::new());
    detector.push(item, &mut found, &mut pages, &mut Vec::new());
    send(&found, &pages, out, seen)
}

/// Sends findings and pages.
fn send(
    found: &[Finding],
    pages: &[(Alarm, Incident)],
    out: &mut impl Write,
    seen: &mut Followed,
) -> std::io::Result<()> {
    for f in found {
        out.write_all(finding_line(f).as_bytes())?;
    }
    for (a, incident) in pages {
        out.write_all(alarm_line(a, *incident).as_bytes())?;
    }
    if !found.is_empty() || !pages.is_empty() {
        seen.findings += found.len() as u64;
        seen.alarms += pages.len() as u64;
        // A finding goes out at once: its latency is what is measured.
        out.flush()?;
    }
    Ok(())
}

/// Connects to the replayer at `addr`, or says how to start one there. With `idle`, a read
/// or a write that waits longer fails (see [`broke`]).
fn connect(addr: &str, idle: Option<Duration>) -> Result<TcpStream, Error> {
    let stream = TcpStream::connect(addr).map_err(|e| {
        Error::Wire(format!(
            "cannot connect to the replayer at {addr} ({e}); start `blastradius replay DATASET --listen {addr}` first"
        ))
    })?;
    let timeouts = stream
        .set_read_timeout(idle)
        .and_then(|()| stream.set_write_timeout(idle));
    timeouts.map_err(|e| Error::Wire(format!("{addr}: cannot set the idle timeout ({e})")))?;
    Ok(stream)
}

/// The error for a stream from `addr` that failed with `e`: a wait past `idle` is named as
/// such, with what to do.
fn broke(addr: &str, idle: Option<Duration>, e: &std::io::Error) -> Error {
    match (e.kind(), idle) {
        (std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut, Some(idle)) => {
            Error::Wire(format!(
                "the replayer at {addr} sent nothing, or read none of our findings, for {} s: it \
             is stuck or gone, or its schedule pauses longer than that (start it with \
             --heartbeat, shorter than --idle-timeout, so a pause is told from a stall)",
                idle.as_secs()
            ))
        }
        _ => Error::Wire(format!("the stream from {addr} broke ({e})")),
    }
}

/// Reads the replayer at `addr` to the end and throws every byte away: a client that costs
/// nothing, to measure the replayer alone.
///
/// # Errors
/// An address that cannot be reached, or nothing read for `idle`.
pub fn discard(addr: &str, idle: Option<Duration>) -> Result<Followed, Error> {
    let mut stream = connect(addr, idle)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = Followed::default();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(seen),
            Ok(n) => seen.events += n as u64, // bytes, here
            Err(e) => return Err(broke(addr, idle, &e)),
        }
    }
}

/// Follows the replayer at `addr` with `detector` until it closes the stream. With
/// `lateness_us`, events are held that long in log time and fed in log order (see
/// [`Lateness`]); without, they are fed as they arrive.
///
/// # Errors
/// An address that cannot be reached, a stream that is neither JSON lines nor Arrow IPC, an
/// event that breaks the contract (named), or a stream silent for `idle`.
pub fn follow(
    addr: &str,
    mut exact: Live,
    idle: Option<Duration>,
    lateness_us: Option<i64>,
) -> Result<Followed, Error> {
    let mut order = match lateness_us {
        Some(us) => Order::Lateness(Lateness::new(us), Vec::new()),
        None => Order::Arrival(Default::default()),
    };
    let stream = connect(addr, idle)?;
    let _ = stream.set_nodelay(true);
    let writer = stream.try_clone().map_err(|e| Error::Wire(e.to_string()))?;
    let mut out = BufWriter::new(writer);
    let mut input = BufReader::with_capacity(1 << 20, stream);
    let mut seen = Followed::default();
    let io = |e: std::io::Error| broke(addr, idle, &e);
    let first = input.fill_buf().map_err(io)?.first().copied();
    // An Arrow IPC stream opens with its continuation marker (0xFFFFFFFF); anything else is
    // JSON lines, which may open with a byte-order mark, blank lines or spaces.
    match first {
        None => {}
        Some(b) if b != 0xFF => {
            let mut line = String::new();
            for n in 1.. {
                line.clear();
                if input.read_line(&mut line).map_err(io)? == 0 {
                    break;
                }
                let text = line.trim_start_matches('\u{feff}').trim();
                if text.is_empty() {
                    continue;
                }
                let row = json_item(text)
                    .map_err(|m| Error::Wire(format!("{addr}, line {n} of the stream: {m}")))?;
                order
                    .push(row, &mut exact, &mut out, &mut seen)
                    .map_err(io)?;
            }
        }
        Some(_) => {
            let reader =
                arrow::ipc::reader::StreamReader::try_new(&mut input as &mut dyn Read, None)
                    .map_err(|e| match e {
                        arrow::error::ArrowError::IoError(_, e) => broke(addr, idle, &e),
                        e => Error::Wire(format!(
                            "{addr}: neither JSON lines nor an Arrow IPC stream ({e})"
                        )),
                    })?;
            for batch in reader {
                let batch = batch.map_err(|e| match e {
                    arrow::error::ArrowError::IoError(_, e) => broke(addr, idle, &e),
                    e => Error::Wire(format!("{addr}: a broken Arrow batch ({e})")),
                })?;
                let rows = items(&batch).map_err(|m| Error::Wire(format!("{addr}: {m}")))?;
                for (i, e) in rows.iter().enumerate() {
                    // Ask for the states of the users a few events ahead: with a million
                    // users, waiting on memory is most of the time otherwise.
                    if let Some(Item::Photo(ahead)) = rows.get(i + 16) {
                        exact.prefetch(ahead.row.user_id, false);
                    }
                    if let Some(Item::Photo(ahead)) = rows.get(i + 8) {
                        exact.prefetch(ahead.row.user_id, true);
                    }
                    order
                        .push(*e, &mut exact, &mut out, &mut seen)
                        .map_err(io)?;
                }
            }
        }
    }
    order.finish(&mut exact, &mut out, &mut seen).map_err(io)?;
    if let Live::Discover(w) = &mut exact {
        let last: Vec<_> = w.finish().map(|p| (p, w.incident())).into_iter().collect();
        send(&[], &last, &mut out, &mut seen).map_err(io)?;
    }
    out.flush().map_err(io)?;
    (seen.users_tracked, seen.events_untracked) = exact.users();
    Ok(seen)
}
