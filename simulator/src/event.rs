//! One row of the event log, as a plain struct (no Arrow here).

use blastradius_schema::{Action, Kind, Scope, Surface};

/// An event. Fields that do not apply to its kind (see [`Kind::columns`]) hold zero or
/// the first enum value and are written as null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub ts: i64,
    pub event_id: u64,
    pub user_id: u64,
    pub photo_id: u64,
    pub app_id: u32,
    pub page: u32,
    pub page_size: u32,
    pub items_returned: u32,
    pub status: u16,
    pub kind: Kind,
    pub surface: Surface,
    pub scope: Scope,
    pub action: Action,
}

impl Event {
    /// An event of `kind` with every optional field empty.
    pub fn new(kind: Kind, ts: i64, event_id: u64, user_id: u64) -> Self {
        Event {
            ts,
            event_id,
            user_id,
            photo_id: 0,
            app_id: 0,
            page: 0,
            page_size: 0,
            items_returned: 0,
            status: 0,
            kind,
            surface: Surface::Timeline,
            scope: Scope::UserPhotos,
            action: Action::Read,
        }
    }

    /// The position of this event in the log: `(ts, event_id)`.
    #[inline]
    pub fn order_key(&self) -> (i64, u64) {
        (self.ts, self.event_id)
    }
}
