//! Builds Arrow arrays from the model's structs.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{Int8Type, SchemaRef};
pub use blastradius_schema::arrays::{int16, int32, int64};
use blastradius_schema::{
    AccessColumns, AccessKind, Action, Client, Columns, FieldGroup, Kind, Scope, Surface, TokenPath,
};

use crate::event::Event;
use crate::viewas::AccessEvent;

/// A validity mask, or none when every row is valid.
fn nulls(mask: Option<BooleanBuffer>) -> Option<NullBuffer> {
    mask.map(NullBuffer::new).filter(|n| n.null_count() > 0)
}

/// A timestamp column in microseconds, UTC.
pub fn timestamps(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// A dictionary-encoded string column whose dictionary is every name of an enum, so the
/// same value has the same key in every file.
pub fn enum_column(names: &[&str], keys: Vec<i8>, nulls: Option<NullBuffer>) -> ArrayRef {
    let keys = Int8Array::new(keys.into(), nulls);
    let values = Arc::new(StringArray::from(names.to_vec()));
    Arc::new(DictionaryArray::<Int8Type>::try_new(keys, values).expect("keys index the names"))
}

/// The names of every value of an enum, in key order.
pub fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&v| name(v)).collect()
}

/// One record batch of the event log; columns that do not apply to a kind are null.
pub fn events_batch(events: &[Event], schema: &SchemaRef) -> RecordBatch {
    let columns: Vec<Columns> = Kind::ALL.iter().map(|k| k.columns()).collect();
    let mask = |f: fn(&Columns) -> bool| {
        nulls(Some(BooleanBuffer::collect_bool(events.len(), |i| {
            f(&columns[events[i].kind as usize])
        })))
    };
    let values = |f: fn(&Event) -> u64| events.iter().map(f).collect::<Vec<_>>();
    let values32 = |f: fn(&Event) -> u32| events.iter().map(f).collect::<Vec<_>>();
    let keys = |f: fn(&Event) -> i8| events.iter().map(f).collect::<Vec<_>>();
    let paging = mask(|c| c.paging);
    let arrays: Vec<ArrayRef> = vec![
        int64(values(|e| e.event_id), None),
        timestamps(events.iter().map(|e| e.ts).collect()),
        enum_column(
            &names(Kind::ALL, Kind::as_str),
            keys(|e| e.kind as i8),
            None,
        ),
        int64(values(|e| e.user_id), mask(|c| c.user_id)),
        int64(values32(|e| e.app_id), mask(|c| c.app_id)),
        int64(values(|e| e.photo_id), mask(|c| c.photo_id)),
        enum_column(
            &names(Surface::ALL, Surface::as_str),
            keys(|e| e.surface as i8),
            mask(|c| c.surface),
        ),
        enum_column(
            &names(Scope::ALL, Scope::as_str),
            keys(|e| e.scope as i8),
            mask(|c| c.scope),
        ),
        enum_column(
            &names(Action::ALL, Action::as_str),
            keys(|e| e.action as i8),
            mask(|c| c.action),
        ),
        int16(events.iter().map(|e| e.status), mask(|c| c.status)),
        int32(values32(|e| e.page), paging.clone()),
        int32(values32(|e| e.page_size), paging.clone()),
        int32(values32(|e| e.items_returned), paging),
    ];
    RecordBatch::try_new(schema.clone(), arrays).expect("columns match the events schema")
}

/// One record batch of the access log; columns that do not apply to a kind are null, and so
/// is `token_id` on a login (which carries no token).
pub fn access_batch(events: &[AccessEvent], schema: &SchemaRef) -> RecordBatch {
    let columns: Vec<AccessColumns> = AccessKind::ALL.iter().map(|k| k.columns()).collect();
    let mask = |f: fn(&AccessColumns) -> bool| {
        nulls(Some(BooleanBuffer::collect_bool(events.len(), |i| {
            f(&columns[events[i].kind as usize])
        })))
    };
    let token = nulls(Some(BooleanBuffer::collect_bool(events.len(), |i| {
        let c = &columns[events[i].kind as usize];
        c.token_id && events[i].token_id != 0
    })));
    let values = |f: fn(&AccessEvent) -> u64| events.iter().map(f).collect::<Vec<_>>();
    let keys = |f: fn(&AccessEvent) -> i8| events.iter().map(f).collect::<Vec<_>>();
    let session = mask(|c| c.session);
    let arrays: Vec<ArrayRef> = vec![
        int64(values(|e| e.event_id), None),
        timestamps(events.iter().map(|e| e.ts).collect()),
        enum_column(
            &names(AccessKind::ALL, AccessKind::as_str),
            keys(|e| e.kind as i8),
            None,
        ),
        int64(values(|e| e.user_id), session.clone()),
        int64(values(|e| e.target_id), mask(|c| c.target_id)),
        int64(values(|e| e.token_id), token),
        int64(values(|e| e.issued_token_id), mask(|c| c.issued)),
        int64(values(|e| e.session_id), session.clone()),
        enum_column(
            &names(Client::ALL, Client::as_str),
            keys(|e| e.client as i8),
            session.clone(),
        ),
        int64(values(|e| e.network), session),
        enum_column(
            &names(TokenPath::ALL, TokenPath::as_str),
            keys(|e| e.path as i8),
            mask(|c| c.issued),
        ),
        enum_column(
            &names(FieldGroup::ALL, FieldGroup::as_str),
            keys(|e| e.group as i8),
            mask(|c| c.field_group),
        ),
    ];
    RecordBatch::try_new(schema.clone(), arrays).expect("columns match the access schema")
}
