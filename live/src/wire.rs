//! What goes over the wire: events as JSON lines or as an Arrow IPC stream, and findings
//! coming back as JSON lines. Plain functions over byte buffers, tested without a socket.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::SchemaRef;
use blastradius_schema::arrays::{int16, int32, int64};
use blastradius_schema::{Action, Kind, Scope, Surface, events_schema};
use serde::Deserialize;

use crate::source::Event;

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

/// Appends `e` as one JSON line.
pub fn json_line(out: &mut Vec<u8>, e: &Event) {
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
pub fn heartbeat(format: Format) -> Vec<u8> {
    match format {
        Format::Json => b"\n".to_vec(),
        Format::Arrow => {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &events_schema())
                .expect("the events schema encodes");
            w.get_mut().clear(); // the schema message, already sent at the stream's start
            w.write(&batch(&[])).expect("an empty batch encodes");
            std::mem::take(w.get_mut())
        }
    }
}

fn mask(events: &[Event], applies: fn(&blastradius_schema::Columns) -> bool) -> Option<NullBuffer> {
    let b = BooleanBuffer::collect_bool(events.len(), |i| applies(&events[i].row.kind.columns()));
    Some(NullBuffer::new(b)).filter(|n| n.null_count() > 0)
}

fn dictionary(names: Vec<&'static str>, keys: Vec<i8>, nulls: Option<NullBuffer>) -> ArrayRef {
    let keys = Int8Array::new(keys.into(), nulls);
    Arc::new(
        DictionaryArray::try_new(keys, Arc::new(StringArray::from(names)))
            .expect("keys index names"),
    )
}

/// The events as one record batch of the events schema.
pub fn batch(events: &[Event]) -> RecordBatch {
    let schema: SchemaRef = events_schema();
    let v64 = |f: fn(&Event) -> u64| events.iter().map(f).collect::<Vec<u64>>();
    let v32 = |f: fn(&Event) -> u32| events.iter().map(f).collect::<Vec<u32>>();
    let keys = |f: fn(&Event) -> i8| events.iter().map(f).collect::<Vec<i8>>();
    let paging = mask(events, |c| c.paging);
    let columns: Vec<ArrayRef> = vec![
        int64(v64(|e| e.row.event_id), None),
        Arc::new(
            TimestampMicrosecondArray::from(events.iter().map(|e| e.row.ts).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        dictionary(
            Kind::ALL.iter().map(|k| k.as_str()).collect(),
            keys(|e| e.row.kind as i8),
            None,
        ),
        int64(v64(|e| e.row.user_id), mask(events, |c| c.user_id)),
        int64(v32(|e| e.row.app_id), mask(events, |c| c.app_id)),
        int64(v64(|e| e.row.photo_id), mask(events, |c| c.photo_id)),
        dictionary(
            Surface::ALL.iter().map(|k| k.as_str()).collect(),
            keys(|e| e.row.surface as i8),
            mask(events, |c| c.surface),
        ),
        dictionary(
            Scope::ALL.iter().map(|k| k.as_str()).collect(),
            keys(|e| e.row.scope as i8),
            mask(events, |c| c.scope),
        ),
        dictionary(
            Action::ALL.iter().map(|k| k.as_str()).collect(),
            keys(|e| e.row.action as i8),
            mask(events, |c| c.action),
        ),
        int16(
            events.iter().map(|e| e.row.status),
            mask(events, |c| c.status),
        ),
        int32(v32(|e| e.row.page), paging.clone()),
        int32(v32(|e| e.row.page_size), paging.clone()),
        int32(v32(|e| e.items_returned), paging),
    ];
    RecordBatch::try_new(schema, columns).expect("columns match the events schema")
}

/// A finding a detector reports back, one JSON object per line: an exposure
/// (`user_id`, `app_id`, `photo_id`), an affected user (`user_id` alone), or a message
/// violation (`event_id`). Other keys are ignored.
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
}

#[derive(Deserialize)]
struct Line {
    user_id: Option<u64>,
    app_id: Option<u32>,
    photo_id: Option<u64>,
    event_id: Option<u64>,
}

/// Parses one line of findings.
///
/// # Errors
/// A short reason when the line is not one of the three shapes.
pub fn finding(line: &str) -> Result<Finding, String> {
    let l: Line =
        serde_json::from_str(line.trim()).map_err(|e| format!("not a JSON finding ({e})"))?;
    match (l.user_id, l.app_id, l.photo_id, l.event_id) {
        (Some(user_id), Some(app_id), Some(photo_id), _) => Ok(Finding::Exposure {
            app_id,
            user_id,
            photo_id,
        }),
        (_, _, _, Some(event_id)) => Ok(Finding::Violation { event_id }),
        (Some(user_id), _, _, _) => Ok(Finding::User { user_id }),
        _ => Err("neither user_id nor event_id".into()),
    }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        stream.extend(heartbeat(Format::Arrow));
        w.write(&batch(&[call()])).unwrap();
        stream.append(w.get_mut());
        stream.extend(heartbeat(Format::Arrow));
        w.finish().unwrap();
        stream.append(w.get_mut());
        let rows: Vec<usize> = arrow::ipc::reader::StreamReader::try_new(&stream[..], None)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .collect();
        assert_eq!(rows, [0, 1, 0]);
        // JSON lines: an empty line, which a line reader skips.
        assert_eq!(heartbeat(Format::Json), b"\n");
    }

    #[test]
    fn a_json_line_holds_the_columns_that_apply() {
        let mut out = Vec::new();
        json_line(&mut out, &call());
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
        ] {
            assert_eq!(finding(&finding_line(&f)).unwrap(), f);
        }
        assert!(finding("hello").is_err());
        assert!(finding("{\"app_id\": 3}").is_err());
    }

    /// `call()` as a JSON line, with `edit` applied to its object.
    fn json_call(edit: impl Fn(&mut serde_json::Value)) -> String {
        let mut out = Vec::new();
        json_line(&mut out, &call());
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
        assert_eq!(events(&batch(&[call()])).unwrap(), vec![call()]);
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
        let b = batch(&[call(), second]);
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
        let b = batch(&[call()]);
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

    #[test]
    fn a_batch_has_nulls_where_columns_do_not_apply() {
        let b = batch(&[call()]);
        assert_eq!(b.num_rows(), 1);
        assert!(b.column_by_name("photo_id").unwrap().is_null(0));
        assert!(!b.column_by_name("page").unwrap().is_null(0));
    }
}
