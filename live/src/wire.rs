//! What goes over the wire: events as JSON lines or as an Arrow IPC stream, and findings
//! coming back as JSON lines. Plain functions over byte buffers, tested without a socket.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::SchemaRef;
use arrow::datatypes::{Field, Schema};
use blastradius_analyzer::discover::Incident;
use blastradius_analyzer::discover::alarms::Alarm;
use blastradius_dataset::access::AccessRow;
use blastradius_schema::arrays::{int16, int32, int64};
use blastradius_schema::{
    AccessKind, Action, Client, FieldGroup, Kind, Scope, Surface, Tier, TokenPath, access_schema,
    events_schema,
};
use serde::Deserialize;

use crate::source::{Event, Item};

/// The encodings `--format` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, the schema's column names; columns that do not apply to
    /// the event's kind are left out; `ts` in microseconds since the epoch (UTC).
    Json,
    /// An Arrow IPC stream of record batches of the events schema (enum columns as
    /// dictionaries of every value), as `pyarrow.ipc.open_stream` reads it.
    Arrow,
}

impl Format {
    /// Parses `--format`.
    ///
    /// # Errors
    /// A message listing the formats.
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "json" => Ok(Format::Json),
            "arrow" => Ok(Format::Arrow),
            _ => Err(format!("--format {text}: use json or arrow")),
        }
    }
}

/// The schema of the Arrow stream: the events schema, and in a View-As world (`access`) the
/// access log's columns it lacks after it, with `kind` holding both logs' kinds.
pub fn stream_schema(access: bool) -> SchemaRef {
    let events = events_schema();
    if !access {
        return events;
    }
    let mut fields: Vec<Field> = events.fields().iter().map(|f| f.as_ref().clone()).collect();
    for f in access_schema().fields() {
        if events.index_of(f.name()).is_err() {
            fields.push(f.as_ref().clone().with_nullable(true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// Appends `item` as one JSON line.
pub fn json_line(out: &mut Vec<u8>, item: &Item) {
    match item {
        Item::Photo(e) => event_line(out, e),
        Item::Access(a) => access_line(out, a),
    }
}

/// An access-log row as a JSON line: the columns its kind has (data/README §13).
fn access_line(out: &mut Vec<u8>, a: &AccessRow) {
    let c = a.kind.columns();
    let _ = write!(
        out,
        "{{\"event_id\":{},\"ts\":{},\"kind\":\"{}\"",
        a.event_id,
        a.ts,
        a.kind.as_str()
    );
    if c.session {
        let _ = write!(
            out,
            ",\"user_id\":{},\"session_id\":{},\"network\":{}",
            a.user_id, a.session_id, a.network
        );
        if let Some(client) = a.client {
            let _ = write!(out, ",\"client\":\"{}\"", client.as_str());
        }
    }
    if c.target_id {
        let _ = write!(out, ",\"target_id\":{}", a.target_id);
    }
    if let Some(token) = a.token_id.filter(|_| c.token_id) {
        let _ = write!(out, ",\"token_id\":{token}");
    }
    if c.issued {
        let _ = write!(out, ",\"issued_token_id\":{}", a.issued_token_id);
        if let Some(path) = a.path {
            let _ = write!(out, ",\"path\":\"{}\"", path.as_str());
        }
    }
    if let Some(g) = a.field_group.filter(|_| c.field_group) {
        let _ = write!(out, ",\"field_group\":\"{}\"", g.as_str());
    }
    out.extend_from_slice(b"}\n");
}

fn event_line(out: &mut Vec<u8>, e: &Event) {
    let r = &e.row;
    let c = r.kind.columns();
    let _ = write!(
        out,
        "{{\"event_id\":{},\"ts\":{},\"kind\":\"{}\"",
        r.event_id,
        r.ts,
        r.kind.as_str()
    );
    if c.user_id {
        let _ = write!(out, ",\"user_id\":{}", r.user_id);
    }
    if c.app_id {
        let _ = write!(out, ",\"app_id\":{}", r.app_id);
    }
    if c.photo_id {
        let _ = write!(out, ",\"photo_id\":{}", r.photo_id);
    }
    if c.surface {
        let _ = write!(out, ",\"surface\":\"{}\"", r.surface.as_str());
    }
    if c.scope {
        let _ = write!(out, ",\"scope\":\"{}\"", r.scope.as_str());
    }
    if c.action {
        let _ = write!(out, ",\"action\":\"{}\"", r.action.as_str());
    }
    if c.status {
        let _ = write!(out, ",\"status\":{}", r.status);
    }
    if c.paging {
        let _ = write!(
            out,
            ",\"page\":{},\"page_size\":{},\"items_returned\":{}",
            r.page, r.page_size, e.items_returned
        );
    }
    out.extend_from_slice(b"}\n");
}

/// The bytes of one heartbeat (`replay --heartbeat`), which carries no event: an empty line
/// in JSON lines, a record batch of no rows in Arrow IPC (valid anywhere after the stream's
/// schema message; any dictionaries it needs come with it). A reader's idle timeout can then
/// tell a pause in the schedule from a replayer that is stuck or gone.
pub fn heartbeat(format: Format, access: bool) -> Vec<u8> {
    match format {
        Format::Json => b"\n".to_vec(),
        Format::Arrow => {
            let mut w =
                arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &stream_schema(access))
                    .expect("the stream schema encodes");
            w.get_mut().clear(); // the schema message, already sent at the stream's start
            w.write(&batch(&[], access))
                .expect("an empty batch encodes");
            std::mem::take(w.get_mut())
        }
    }
}

fn dictionary(names: Vec<&'static str>, keys: Vec<i8>, nulls: Option<NullBuffer>) -> ArrayRef {
    let keys = Int8Array::new(keys.into(), nulls);
    Arc::new(
        DictionaryArray::try_new(keys, Arc::new(StringArray::from(names)))
            .expect("keys index names"),
    )
}

/// One column being built: a value per row (0 where null) and whether it has one.
struct Col<T> {
    values: Vec<T>,
    valid: Vec<bool>,
}

impl<T: Copy + Default> Col<T> {
    fn new(n: usize) -> Self {
        Col {
            values: Vec::with_capacity(n),
            valid: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, value: Option<T>) {
        self.values.push(value.unwrap_or_default());
        self.valid.push(value.is_some());
    }

    /// The nulls (`None` when every row has a value).
    fn nulls(&self) -> Option<NullBuffer> {
        Some(NullBuffer::from(self.valid.as_slice())).filter(|n| n.null_count() > 0)
    }
}

/// The rows as one record batch of [`stream_schema`]`(access)` (with `access` false, only
/// photo-log events may be given). Built in one pass over the rows.
pub fn batch(items: &[Item], with_access: bool) -> RecordBatch {
    let n = items.len();
    let (mut ids, mut times, mut kinds) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut user, mut app, mut photo_id) = (Col::new(n), Col::new(n), Col::new(n));
    let (mut surface, mut scope, mut action) = (Col::new(n), Col::new(n), Col::new(n));
    let (mut status, mut page, mut page_size, mut returned) =
        (Col::new(n), Col::new(n), Col::new(n), Col::new(n));
    let (mut target, mut token, mut issued) = (Col::new(n), Col::new(n), Col::new(n));
    let (mut session, mut client, mut network) = (Col::new(n), Col::new(n), Col::new(n));
    let (mut path, mut group) = (Col::new(n), Col::new(n));
    for item in items {
        ids.push(item.event_id());
        times.push(item.ts());
        match item {
            Item::Photo(e) => {
                let (r, c) = (&e.row, e.row.kind.columns());
                kinds.push(r.kind as i8);
                user.push(c.user_id.then_some(r.user_id));
                app.push(c.app_id.then_some(u64::from(r.app_id)));
                photo_id.push(c.photo_id.then_some(r.photo_id));
                surface.push(c.surface.then_some(r.surface as i8));
                scope.push(c.scope.then_some(r.scope as i8));
                action.push(c.action.then_some(r.action as i8));
                status.push(c.status.then_some(r.status));
                page.push(c.paging.then_some(r.page));
                page_size.push(c.paging.then_some(r.page_size));
                returned.push(c.paging.then_some(e.items_returned));
                if with_access {
                    for col in [
                        &mut target,
                        &mut token,
                        &mut issued,
                        &mut session,
                        &mut network,
                    ] {
                        col.push(None);
                    }
                    for col in [&mut client, &mut path, &mut group] {
                        col.push(None);
                    }
                }
            }
            Item::Access(a) => {
                let c = a.kind.columns();
                kinds.push(Kind::ALL.len() as i8 + a.kind as i8);
                user.push(c.session.then_some(a.user_id));
                for col in [&mut app, &mut photo_id] {
                    col.push(None);
                }
                for col in [&mut surface, &mut scope, &mut action] {
                    col.push(None);
                }
                status.push(None);
                for col in [&mut page, &mut page_size, &mut returned] {
                    col.push(None);
                }
                target.push(c.target_id.then_some(a.target_id));
                token.push(a.token_id.filter(|_| c.token_id));
                issued.push(c.issued.then_some(a.issued_token_id));
                session.push(c.session.then_some(a.session_id));
                network.push(c.session.then_some(a.network));
                client.push(a.client.filter(|_| c.session).map(|v| v as i8));
                path.push(a.path.filter(|_| c.issued).map(|v| v as i8));
                group.push(a.field_group.filter(|_| c.field_group).map(|v| v as i8));
            }
        }
    }
    let mut kind_names: Vec<&'static str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    if with_access {
        kind_names.extend(AccessKind::ALL.iter().map(|k| k.as_str()));
    }
    let ids64 = |c: &Col<u64>| int64(c.values.iter().copied(), c.nulls());
    let ids32 = |c: &Col<u32>| int32(c.values.iter().copied(), c.nulls());
    let enums = |names: Vec<&'static str>, c: Col<i8>| {
        let nulls = c.nulls();
        dictionary(names, c.values, nulls)
    };
    let mut columns: Vec<ArrayRef> = vec![
        int64(ids, None),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        dictionary(kind_names, kinds, None),
        ids64(&user),
        ids64(&app),
        ids64(&photo_id),
        enums(Surface::ALL.iter().map(|v| v.as_str()).collect(), surface),
        enums(Scope::ALL.iter().map(|v| v.as_str()).collect(), scope),
        enums(Action::ALL.iter().map(|v| v.as_str()).collect(), action),
        int16(status.values.iter().copied(), status.nulls()),
        ids32(&page),
        ids32(&page_size),
        ids32(&returned),
    ];
    if with_access {
        columns.extend([
            ids64(&target),
            ids64(&token),
            ids64(&issued),
            ids64(&session),
            enums(Client::ALL.iter().map(|v| v.as_str()).collect(), client),
            ids64(&network),
            enums(TokenPath::ALL.iter().map(|v| v.as_str()).collect(), path),
            enums(FieldGroup::ALL.iter().map(|v| v.as_str()).collect(), group),
        ]);
    }
    RecordBatch::try_new(stream_schema(with_access), columns)
        .expect("columns match the stream schema")
}

/// A finding a detector reports back, one JSON object per line: an exposure
/// (`user_id`, `app_id`, `photo_id`), a message violation (`event_id`), a stolen token
/// (`token_id`), a user the View-As attack reached (`view_as_user_id`, with `tier` when
/// known), or an affected user (`user_id` alone). Other keys are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    Exposure {
        app_id: u32,
        user_id: u64,
        photo_id: u64,
    },
    User {
        user_id: u64,
    },
    Violation {
        event_id: u64,
    },
    Token {
        token_id: u64,
    },
    ViewAsUser {
        user_id: u64,
        tier: Option<Tier>,
    },
}

#[derive(Deserialize)]
struct Line {
    user_id: Option<u64>,
    app_id: Option<u32>,
    photo_id: Option<u64>,
    event_id: Option<u64>,
    token_id: Option<u64>,
    view_as_user_id: Option<u64>,
    tier: Option<String>,
}

/// Parses one line of findings.
///
/// # Errors
/// A short reason when the line is not one of the shapes, or names a tier the contract lacks.
pub fn finding(line: &str) -> Result<Finding, String> {
    let l: Line =
        serde_json::from_str(line.trim()).map_err(|e| format!("not a JSON finding ({e})"))?;
    if let (Some(user_id), Some(app_id), Some(photo_id)) = (l.user_id, l.app_id, l.photo_id) {
        return Ok(Finding::Exposure {
            app_id,
            user_id,
            photo_id,
        });
    }
    if let Some(event_id) = l.event_id {
        return Ok(Finding::Violation { event_id });
    }
    if let Some(token_id) = l.token_id {
        return Ok(Finding::Token { token_id });
    }
    if let Some(user_id) = l.view_as_user_id {
        let tier = match l.tier.as_deref() {
            None | Some("") => None,
            Some(t) => Some(Tier::parse(t).ok_or_else(|| {
                format!("the tier `{t}` is not one of pivot, contact_profile, contact, token_only")
            })?),
        };
        return Ok(Finding::ViewAsUser { user_id, tier });
    }
    match l.user_id {
        Some(user_id) => Ok(Finding::User { user_id }),
        None => Err("none of user_id, event_id, token_id, view_as_user_id".into()),
    }
}

/// A page a discovery detector sends on the findings connection (data/README §14): the
/// batch contract's alarm row, with its suspects inline. The replayer times it by when it
/// came, not by what it says: `fired_ts` is the detector's own claim, kept for its author.
#[derive(Clone, Debug, PartialEq)]
pub struct WireAlarm {
    pub incident: Incident,
    pub confidence: f64,
    pub deploy_id: Option<u64>,
    pub users: Vec<u64>,
    pub apps: Vec<u32>,
    pub fired_ts: Option<i64>,
}

/// One line on the findings connection: a finding, or an alarm.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Finding(Finding),
    Alarm(WireAlarm),
}

#[derive(Deserialize)]
struct AlarmLine {
    alarm: AlarmBody,
}

#[derive(Deserialize)]
struct AlarmBody {
    confidence: f64,
    incident: Option<String>,
    deploy_id: Option<u64>,
    #[serde(default)]
    users: Vec<u64>,
    #[serde(default)]
    apps: Vec<u32>,
    fired_ts: Option<i64>,
}

/// Parses one line of the findings connection: `{"alarm":{...}}` is an alarm, anything
/// else a finding ([`finding`]).
///
/// # Errors
/// A short reason: not a finding, an alarm without a confidence in [0, 1], an unknown incident.
pub fn message(line: &str) -> Result<Message, String> {
    // Findings are most lines: only a line that may be an alarm is parsed twice, and only one
    // whose top-level object has the key is one (a finding may hold the word as a value).
    let may_be = line.contains("\"alarm\"")
        && serde_json::from_str::<serde_json::Value>(line.trim())
            .map_or(true, |v| v.get("alarm").is_some());
    if !may_be {
        return finding(line).map(Message::Finding);
    }
    let l: AlarmLine = serde_json::from_str(line.trim())
        .map_err(|e| format!("not a JSON alarm ({e}); see data/README.md §14"))?;
    let a = l.alarm;
    if !(0.0..=1.0).contains(&a.confidence) {
        return Err(format!(
            "the alarm's confidence {} is not in [0, 1]",
            a.confidence
        ));
    }
    let incident = match a.incident.as_deref() {
        None => Incident::PhotoBug,
        Some(t) => Incident::parse(t).ok_or_else(|| {
            format!("the alarm's incident `{t}` is not one of photo-bug, view-as")
        })?,
    };
    Ok(Message::Alarm(WireAlarm {
        incident,
        confidence: a.confidence,
        deploy_id: a.deploy_id,
        users: a.users,
        apps: a.apps,
        fired_ts: a.fired_ts,
    }))
}

/// A built-in discovery detector's page as the line it sends.
pub fn alarm_line(a: &Alarm, incident: Incident) -> String {
    let list = |v: Vec<String>| v.join(",");
    let deploy = a
        .deploy_id
        .map_or(String::new(), |d| format!(",\"deploy_id\":{d}"));
    format!(
        "{{\"alarm\":{{\"incident\":\"{}\",\"fired_ts\":{},\"confidence\":{}{deploy},\"users\":[{}],\"apps\":[{}]}}}}\n",
        incident.as_str(),
        a.fired_ts,
        a.confidence,
        list(a.users.iter().map(u64::to_string).collect()),
        list(a.apps.iter().map(u32::to_string).collect()),
    )
}

/// A finding as the JSON line a detector sends.
pub fn finding_line(f: &Finding) -> String {
    match f {
        Finding::Exposure {
            app_id,
            user_id,
            photo_id,
        } => format!("{{\"user_id\":{user_id},\"app_id\":{app_id},\"photo_id\":{photo_id}}}\n"),
        Finding::User { user_id } => format!("{{\"user_id\":{user_id}}}\n"),
        Finding::Violation { event_id } => format!("{{\"event_id\":{event_id}}}\n"),
        Finding::Token { token_id } => format!("{{\"token_id\":{token_id}}}\n"),
        Finding::ViewAsUser { user_id, tier } => match tier {
            Some(t) => format!(
                "{{\"view_as_user_id\":{user_id},\"tier\":\"{}\"}}\n",
                t.as_str()
            ),
            None => format!("{{\"view_as_user_id\":{user_id}}}\n"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_line_round_trips_and_bad_ones_are_refused_with_a_reason() {
        let a = Alarm {
            fired_ts: 1_536_796_835_000_000,
            // Not a round number: the line must carry it to the last bit.
            confidence: 0.238_467_782_146_016_97,
            deploy_id: Some(204),
            users: vec![3, 9],
            apps: vec![12],
        };
        let line = alarm_line(&a, Incident::PhotoBug);
        assert_eq!(
            message(&line),
            Ok(Message::Alarm(WireAlarm {
                incident: Incident::PhotoBug,
                confidence: a.confidence,
                deploy_id: Some(204),
                users: vec![3, 9],
                apps: vec![12],
                fired_ts: Some(a.fired_ts),
            }))
        );
        // The least an alarm may say: a confidence (the incident defaults to the photo bug).
        let Ok(Message::Alarm(m)) = message(r#"{"alarm":{"confidence":1}}"#) else {
            panic!("a bare alarm parses")
        };
        assert_eq!(
            (m.incident, m.users.len(), m.deploy_id),
            (Incident::PhotoBug, 0, None)
        );
        assert_eq!(
            message(r#"{"user_id":4}"#),
            Ok(Message::Finding(Finding::User { user_id: 4 }))
        );
        // The word as a value of another key is no alarm.
        assert_eq!(
            message(r#"{"user_id":4,"note":"alarm"}"#),
            Ok(Message::Finding(Finding::User { user_id: 4 }))
        );
        for (bad, why) in [
            (r#"{"alarm":{"confidence":1.5}}"#, "not in [0, 1]"),
            (r#"{"alarm":{}}"#, "confidence"),
            (
                r#"{"alarm":{"confidence":0.5,"incident":"outage"}}"#,
                "outage",
            ),
            (
                r#"{"alarm":{"confidence":0.5,"users":[-1]}}"#,
                "not a JSON alarm",
            ),
        ] {
            let e = message(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
    use blastradius_analyzer::detect::Row;

    fn call() -> Event {
        Event {
            row: Row {
                event_id: 77,
                ts: 1_536_796_800_000_000,
                kind: Kind::PhotoApiCall,
                user_id: 5,
                app_id: 12,
                photo_id: 0,
                surface: Surface::Timeline,
                scope: Scope::UserPhotos,
                action: Action::Read,
                status: 200,
                page: 1,
                page_size: 25,
            },
            items_returned: 25,
        }
    }

    #[test]
    fn a_heartbeat_is_read_as_no_events_in_either_format() {
        // Arrow: schema, heartbeat, an event, heartbeat, end; a reader sees 0 + 1 + 0 rows.
        let mut w =
            arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &events_schema()).unwrap();
        let mut stream = std::mem::take(w.get_mut());
        stream.extend(heartbeat(Format::Arrow, false));
        w.write(&batch(&[Item::Photo(call())], false)).unwrap();
        stream.append(w.get_mut());
        stream.extend(heartbeat(Format::Arrow, false));
        w.finish().unwrap();
        stream.append(w.get_mut());
        let rows: Vec<usize> = arrow::ipc::reader::StreamReader::try_new(&stream[..], None)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .collect();
        assert_eq!(rows, [0, 1, 0]);
        // JSON lines: an empty line, which a line reader skips.
        assert_eq!(heartbeat(Format::Json, false), b"\n");
    }

    #[test]
    fn a_json_line_holds_the_columns_that_apply() {
        let mut out = Vec::new();
        json_line(&mut out, &Item::Photo(call()));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "photo_api_call");
        assert_eq!(v["page"], 1);
        assert!(v.get("photo_id").is_none() && v.get("surface").is_none());
        assert!(out.ends_with(b"}\n"));
    }

    #[test]
    fn findings_parse_and_print_back() {
        for f in [
            Finding::Exposure {
                app_id: 1,
                user_id: 2,
                photo_id: 3,
            },
            Finding::User { user_id: 9 },
            Finding::Violation { event_id: 4 },
            Finding::Token { token_id: 5 },
            Finding::ViewAsUser {
                user_id: 6,
                tier: Some(Tier::ContactProfile),
            },
            Finding::ViewAsUser {
                user_id: 6,
                tier: None,
            },
        ] {
            assert_eq!(finding(&finding_line(&f)).unwrap(), f);
        }
        let e = finding("{\"view_as_user_id\": 3, \"tier\": \"everything\"}").unwrap_err();
        assert!(
            e.contains("`everything`") && e.contains("contact_profile"),
            "{e}"
        );
        assert!(finding("hello").is_err());
        assert!(finding("{\"app_id\": 3}").is_err());
    }

    /// `call()` as a JSON line, with `edit` applied to its object.
    fn json_call(edit: impl Fn(&mut serde_json::Value)) -> String {
        let mut out = Vec::new();
        json_line(&mut out, &Item::Photo(call()));
        let mut v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        edit(&mut v);
        v.to_string()
    }

    #[test]
    fn an_event_read_back_is_the_event_sent_and_a_broken_one_is_named() {
        use crate::follow::json_row;
        use crate::source::events;
        // Both encodings read back what was written.
        assert_eq!(json_row(&json_call(|_| {})).unwrap(), call().row);
        assert_eq!(
            events(&batch(&[Item::Photo(call())], false)).unwrap(),
            vec![call()]
        );
        // A field the kind needs, missing: refused, naming the event and the field.
        let e = json_row(&json_call(|v| {
            v.as_object_mut().unwrap().remove("user_id");
        }))
        .unwrap_err();
        assert!(e.contains("event 77") && e.contains("`user_id`"), "{e}");
        let e = json_row(&json_call(|v| {
            v.as_object_mut().unwrap().remove("status");
        }))
        .unwrap_err();
        assert!(e.contains("`status`"), "{e}");
        // A value the contract does not know.
        let e = json_row(&json_call(|v| v["scope"] = "everything".into())).unwrap_err();
        assert!(e.contains("`everything`"), "{e}");
        let e = json_row(&json_call(|v| v["kind"] = "photo_api_cal".into())).unwrap_err();
        assert!(e.contains("event 77 has the unknown kind"), "{e}");
        // A field that does not apply may be left out (as the replayer does) or be there.
        let registered = |v: &mut serde_json::Value| {
            v["kind"] = "user_registered".into();
            for k in [
                "app_id",
                "scope",
                "status",
                "page",
                "page_size",
                "items_returned",
            ] {
                v.as_object_mut().unwrap().remove(k);
            }
        };
        assert_eq!(
            json_row(&json_call(registered)).unwrap().kind,
            Kind::UserRegistered
        );
        // The same in an Arrow batch: a null user (on the second event), a null kind, an
        // unknown scope.
        let mut second = call();
        second.row.event_id = 78;
        let b = batch(&[Item::Photo(call()), Item::Photo(second)], false);
        // A sender's schema may declare any column nullable.
        let loose: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let loose = Arc::new(arrow::datatypes::Schema::new(loose));
        let with = |name: &str, column: ArrayRef| {
            let mut columns = b.columns().to_vec();
            columns[b.schema().index_of(name).unwrap()] = column;
            RecordBatch::try_new(loose.clone(), columns).unwrap()
        };
        let nulls = || Some(NullBuffer::from(vec![true, false]));
        let users = int64([5u64, 0], nulls());
        let e = events(&with("user_id", users)).unwrap_err();
        assert!(e.contains("event 78") && e.contains("`user_id`"), "{e}");
        // Ids are signed on the wire: a negative one names its event.
        let negative = Arc::new(arrow::array::Int64Array::from(vec![0, -5]));
        let e = events(&with("photo_id", negative)).unwrap_err();
        assert!(
            e.contains("event 78") && e.contains("negative value -5"),
            "{e}"
        );
        // A version 1 (unsigned) column is read, but only with values this version can hold.
        let status: ArrayRef = Arc::new(arrow::array::UInt16Array::from(vec![200, 40000]));
        let i = b.schema().index_of("status").unwrap();
        let mut fields: Vec<_> = loose.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[i] = fields[i].clone().with_data_type(status.data_type().clone());
        let mut columns = b.columns().to_vec();
        columns[i] = status;
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let e = events(&RecordBatch::try_new(schema, columns).unwrap()).unwrap_err();
        assert!(e.contains("holds 40000 (event 78), above 32767"), "{e}");
        let kinds = dictionary(vec!["photo_api_call"], vec![0, 0], nulls());
        let e = events(&with("kind", kinds)).unwrap_err();
        assert!(e.contains("row 1") && e.contains("`kind`"), "{e}");
        let scopes = dictionary(vec!["user_photos", "everything"], vec![0, 1], None);
        let e = events(&with("scope", scopes)).unwrap_err();
        assert!(e.contains("event 78") && e.contains("`everything`"), "{e}");
    }

    #[test]
    fn a_stream_may_spell_utc_as_a_file_may() {
        use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        let b = batch(&[Item::Photo(call())], false);
        let i = b.schema().index_of("ts").unwrap();
        let zone = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[i] = fields[i].clone().with_data_type(zone.clone());
        let mut columns = b.columns().to_vec();
        columns[i] = arrow::compute::cast(&columns[i], &zone).unwrap();
        let spelt = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert_eq!(crate::source::events(&spelt).unwrap(), vec![call()]);
    }

    /// Rows of both logs: a theft (no field group), a read (no issued token), a login (no
    /// token carried), and the platform's fix (no session at all).
    fn mixed() -> Vec<Item> {
        let theft = AccessRow {
            event_id: (5 << 24) | (1 << 23),
            ts: 1_536_900_000_000_000,
            kind: AccessKind::TokenIssued,
            user_id: 4,
            target_id: 9,
            token_id: Some(41),
            issued_token_id: 91,
            session_id: 3,
            client: Some(Client::Android),
            network: 64_500,
            path: Some(TokenPath::VideoUploader),
            field_group: None,
        };
        let read = AccessRow {
            event_id: theft.event_id + 1,
            kind: AccessKind::ProfileRead,
            user_id: 9,
            token_id: Some(91),
            issued_token_id: 0,
            path: None,
            field_group: Some(FieldGroup::Profile),
            ..theft
        };
        let login = AccessRow {
            event_id: theft.event_id + 2,
            target_id: 4,
            token_id: None,
            path: Some(TokenPath::Login),
            ..theft
        };
        let fixed = AccessRow {
            event_id: 4,
            kind: AccessKind::FlawFixed,
            user_id: 0,
            target_id: 0,
            token_id: None,
            issued_token_id: 0,
            session_id: 0,
            client: None,
            network: 0,
            path: None,
            field_group: None,
            ..theft
        };
        vec![
            Item::Access(theft),
            Item::Photo(call()),
            Item::Access(read),
            Item::Access(login),
            Item::Access(fixed),
        ]
    }

    #[test]
    fn access_rows_go_out_and_come_back_in_both_encodings_in_their_place() {
        // JSON lines: the columns the kind has, read back to the same row.
        for item in mixed() {
            let mut out = Vec::new();
            json_line(&mut out, &item);
            let text = std::str::from_utf8(&out).unwrap();
            assert_eq!(
                crate::follow::json_item(text.trim()).unwrap(),
                item,
                "{text}"
            );
        }
        let mut out = Vec::new();
        json_line(&mut out, &mixed()[3]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(
            v.get("token_id").is_none() && v.get("field_group").is_none(),
            "{v}"
        );
        // Arrow: one schema for both logs, each row read back by its kind, in its place.
        let b = batch(&mixed(), true);
        assert_eq!(b.schema(), stream_schema(true));
        assert!(b.column_by_name("target_id").unwrap().is_null(1));
        assert_eq!(crate::source::items(&b).unwrap(), mixed());
        // A photo-only stream keeps the events schema exactly.
        assert_eq!(stream_schema(false), events_schema());
        // A row missing what its kind needs is named.
        let mut text = Vec::new();
        json_line(&mut text, &mixed()[0]);
        let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        v.as_object_mut().unwrap().remove("issued_token_id");
        let e = crate::follow::json_item(&v.to_string()).unwrap_err();
        assert!(e.contains("`issued_token_id`") && e.contains("§13"), "{e}");
    }

    #[test]
    fn a_batch_has_nulls_where_columns_do_not_apply() {
        let b = batch(&[Item::Photo(call())], false);
        assert_eq!(b.num_rows(), 1);
        assert!(b.column_by_name("photo_id").unwrap().is_null(0));
        assert!(!b.column_by_name("page").unwrap().is_null(0));
    }
}
