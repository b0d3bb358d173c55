//! One function per table of the dataset.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::SchemaRef;
use blastradius_schema::{
    Action, FieldGroup, Surface, Tier, access_schema, affected_apps_schema, affected_users_schema,
    apps_schema, bug_deploys_schema, col, deploys_schema, events_schema, exposures_schema,
    friendships_schema, message_violations_schema, path, providers_schema, stolen_tokens_schema,
    users_schema, view_as_users_schema,
};

use super::arrays::{access_batch, enum_column, events_batch, int32, int64, names, timestamps};
use blastradius_dataset::FileInfo;

use super::{EVENTS_ROW_GROUP, Layout, Provenance, write_parquet};
use crate::catalog::Catalog;
use crate::deploys::{BugChange, Deploy};
use crate::error::Result;
use crate::event::Event;
use crate::server::{Exposure, Violation};
use crate::shard::AffectedUser;
use crate::viewas::{AccessEvent, Theft, Victim};

const SMALL: Layout = Layout {
    dictionary: &[],
    delta: &[],
    sorted_by: &[],
    row_group: EVENTS_ROW_GROUP,
};

fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
}

fn part(dir: &str, index: u32) -> String {
    format!("{dir}/{}", path::part(index))
}

/// Rows per record batch handed to the writer (the row group is larger).
const BATCH: usize = 1 << 16;

/// `events/part-NNNNN.parquet`: `events` must already be in log order.
pub fn write_events(
    root: &Path,
    index: u32,
    events: &[Event],
    provenance: &Provenance,
) -> Result<FileInfo> {
    write_events_as(root, index, events, provenance, true, EVENTS_ROW_GROUP)
}

/// Writes an events shard whose order is `sorted` (log order, recorded in the row-group
/// metadata) or not (a damaged log's delivery order), with row groups of `row_group` rows.
pub fn write_events_as(
    root: &Path,
    index: u32,
    events: &[Event],
    provenance: &Provenance,
    sorted: bool,
    row_group: usize,
) -> Result<FileInfo> {
    let schema = events_schema();
    let layout = Layout {
        dictionary: &[
            col::KIND,
            col::SURFACE,
            col::SCOPE,
            col::ACTION,
            col::APP_ID,
            col::STATUS,
            col::PAGE,
            col::PAGE_SIZE,
            col::ITEMS_RETURNED,
        ],
        delta: &[col::TS, col::EVENT_ID, col::USER_ID, col::PHOTO_ID],
        sorted_by: if sorted { &[1, 0] } else { &[] },
        row_group,
    };
    let batches = events
        .chunks(BATCH)
        .map(|chunk| events_batch(chunk, &schema));
    write_parquet(
        root,
        &part(path::EVENTS_DIR, index),
        schema.clone(),
        batches,
        provenance,
        &layout,
    )
}

/// `users/part-NNNNN.parquet`.
pub fn write_users(
    root: &Path,
    index: u32,
    users: &[(u64, i64)],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = users_schema();
    let columns = vec![
        int64(users.iter().map(|u| u.0), None),
        timestamps(users.iter().map(|u| u.1).collect()),
    ];
    let layout = Layout {
        sorted_by: &[0],
        ..SMALL
    };
    write_parquet(
        root,
        &part(path::USERS_DIR, index),
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}

/// `truth/exposures/part-NNNNN.parquet`.
pub fn write_exposures(
    root: &Path,
    index: u32,
    rows: &[Exposure],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = exposures_schema();
    let columns = vec![
        int64(rows.iter().map(|e| e.app_id), None),
        int64(rows.iter().map(|e| e.user_id), None),
        int64(rows.iter().map(|e| e.photo_id), None),
        enum_column(
            &names(Surface::ALL, Surface::as_str),
            rows.iter().map(|e| e.surface as i8).collect(),
            None,
        ),
        timestamps(rows.iter().map(|e| e.first_exposed_ts).collect()),
        int64(rows.iter().map(|e| e.first_exposed_event_id), None),
    ];
    let layout = Layout {
        dictionary: &[col::SURFACE],
        ..SMALL
    };
    write_parquet(
        root,
        &part(path::EXPOSURES_DIR, index),
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}

/// `truth/affected_users/part-NNNNN.parquet`.
pub fn write_affected_users(
    root: &Path,
    index: u32,
    rows: &[AffectedUser],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = affected_users_schema();
    let columns = vec![
        int64(rows.iter().map(|r| r.user_id), None),
        int32(rows.iter().map(|r| r.apps), None),
        int32(rows.iter().map(|r| r.photos), None),
    ];
    let layout = Layout {
        sorted_by: &[0],
        ..SMALL
    };
    write_parquet(
        root,
        &part(path::AFFECTED_USERS_DIR, index),
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}

/// `truth/message_violations/part-NNNNN.parquet`.
pub fn write_violations(
    root: &Path,
    index: u32,
    rows: &[Violation],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = message_violations_schema();
    let columns = vec![
        int64(rows.iter().map(|v| v.event_id), None),
        int64(rows.iter().map(|v| v.app_id), None),
        int64(rows.iter().map(|v| v.user_id), None),
        enum_column(
            &names(Action::ALL, Action::as_str),
            rows.iter().map(|v| v.action as i8).collect(),
            None,
        ),
        timestamps(rows.iter().map(|v| v.ts).collect()),
    ];
    let layout = Layout {
        dictionary: &[col::ACTION],
        ..SMALL
    };
    write_parquet(
        root,
        &part(path::MESSAGE_VIOLATIONS_DIR, index),
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}

/// `providers.parquet`.
pub fn write_providers(
    root: &Path,
    catalog: &Catalog,
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = providers_schema();
    let p = &catalog.providers;
    let columns: Vec<ArrayRef> = vec![
        int64(p.iter().map(|p| p.provider_id), None),
        Arc::new(StringArray::from_iter_values(
            p.iter().map(|p| p.name.as_str()),
        )),
    ];
    write_parquet(
        root,
        path::PROVIDERS,
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &SMALL,
    )
}

/// `deploys.parquet`: every deploy of the platform, the bug's unmarked.
pub fn write_deploys(root: &Path, deploys: &[Deploy], provenance: &Provenance) -> Result<FileInfo> {
    let schema = deploys_schema();
    let columns: Vec<ArrayRef> = vec![
        int64(deploys.iter().map(|d| d.id), None),
        timestamps(deploys.iter().map(|d| d.ts).collect()),
        Arc::new(StringArray::from_iter_values(
            deploys.iter().map(|d| d.service),
        )),
    ];
    write_parquet(
        root,
        path::DEPLOYS,
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &SMALL,
    )
}

/// `truth/bug_deploys.parquet`: the bug's two deploys among `deploys`.
pub fn write_bug_deploys(
    root: &Path,
    deploys: &[Deploy],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = bug_deploys_schema();
    let bugs: Vec<(&Deploy, BugChange)> =
        deploys.iter().filter_map(|d| Some((d, d.bug?))).collect();
    let columns: Vec<ArrayRef> = vec![
        int64(bugs.iter().map(|(d, _)| d.id), None),
        timestamps(bugs.iter().map(|(d, _)| d.ts).collect()),
        Arc::new(StringArray::from_iter_values(
            bugs.iter().map(|(_, c)| c.as_str()),
        )),
    ];
    write_parquet(
        root,
        path::BUG_DEPLOYS,
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &SMALL,
    )
}

/// `apps.parquet`.
pub fn write_apps(root: &Path, catalog: &Catalog, provenance: &Provenance) -> Result<FileInfo> {
    let schema = apps_schema();
    let a = &catalog.apps;
    let mut scopes =
        ListBuilder::new(StringBuilder::new()).with_field(match schema.field(4).data_type() {
            arrow::datatypes::DataType::List(f) => f.clone(),
            _ => unreachable!("apps.scopes is a list"),
        });
    for app in a {
        for s in &app.scopes {
            scopes.values().append_value(s.as_str());
        }
        scopes.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        int64(a.iter().map(|a| a.app_id), None),
        int64(a.iter().map(|a| a.provider_id), None),
        Arc::new(StringArray::from_iter_values(
            a.iter().map(|a| a.name.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            a.iter().map(|a| a.category.as_str()),
        )),
        Arc::new(scopes.finish()),
    ];
    write_parquet(
        root,
        path::APPS,
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &SMALL,
    )
}

/// One row of `truth/affected_apps.parquet`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AffectedApp {
    pub app_id: u32,
    pub provider_id: u32,
    pub users: u64,
    pub photos: u64,
}

/// `truth/affected_apps.parquet`.
pub fn write_affected_apps(
    root: &Path,
    rows: &[AffectedApp],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = affected_apps_schema();
    let columns = vec![
        int64(rows.iter().map(|r| r.app_id), None),
        int64(rows.iter().map(|r| r.provider_id), None),
        int64(rows.iter().map(|r| r.users), None),
        int64(rows.iter().map(|r| r.photos), None),
    ];
    let layout = Layout {
        sorted_by: &[0],
        ..SMALL
    };
    write_parquet(
        root,
        path::AFFECTED_APPS,
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}

/// `friendships/part-NNNNN.parquet`: `(user_id, friend_id)` by user, then friend.
pub fn write_friendships(
    root: &Path,
    index: u32,
    rows: &[(u64, u64)],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = friendships_schema();
    let layout = Layout {
        dictionary: &[],
        delta: &[col::USER_ID, col::FRIEND_ID],
        sorted_by: &[0, 1],
        row_group: EVENTS_ROW_GROUP,
    };
    let batches = rows.chunks(BATCH).map(|chunk| {
        batch(
            &schema,
            vec![
                int64(chunk.iter().map(|r| r.0), None),
                int64(chunk.iter().map(|r| r.1), None),
            ],
        )
    });
    write_parquet(
        root,
        &part(path::FRIENDSHIPS_DIR, index),
        schema.clone(),
        batches,
        provenance,
        &layout,
    )
}

/// `access/part-NNNNN.parquet`: `events` must already be in log order.
pub fn write_access(
    root: &Path,
    index: u32,
    events: &[AccessEvent],
    provenance: &Provenance,
) -> Result<FileInfo> {
    write_access_as(root, index, events, provenance, true)
}

/// Writes an access-log shard whose order is `sorted` (log order, recorded in the row-group
/// metadata) or not (a damaged log's delivery order).
pub fn write_access_as(
    root: &Path,
    index: u32,
    events: &[AccessEvent],
    provenance: &Provenance,
    sorted: bool,
) -> Result<FileInfo> {
    let schema = access_schema();
    let layout = Layout {
        dictionary: &[col::KIND, col::CLIENT, col::PATH, col::FIELD_GROUP],
        delta: &[
            col::TS,
            col::EVENT_ID,
            col::USER_ID,
            col::TARGET_ID,
            col::TOKEN_ID,
            col::ISSUED_TOKEN_ID,
            col::SESSION_ID,
        ],
        sorted_by: if sorted { &[1, 0] } else { &[] },
        row_group: EVENTS_ROW_GROUP,
    };
    let batches = events
        .chunks(BATCH)
        .map(|chunk| access_batch(chunk, &schema));
    write_parquet(
        root,
        &part(path::ACCESS_DIR, index),
        schema.clone(),
        batches,
        provenance,
        &layout,
    )
}

/// `truth/stolen_tokens/part-NNNNN.parquet`.
pub fn write_stolen_tokens(
    root: &Path,
    index: u32,
    rows: &[Theft],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = stolen_tokens_schema();
    let columns = vec![
        int64(rows.iter().map(|r| r.token_id), None),
        int64(rows.iter().map(|r| r.user_id), None),
        timestamps(rows.iter().map(|r| r.ts).collect()),
        int64(rows.iter().map(|r| r.event_id), None),
        int32(rows.iter().map(|r| r.hop), None),
        int64(rows.iter().map(|r| r.pivot_id), None),
    ];
    let layout = Layout {
        sorted_by: &[1],
        ..SMALL
    };
    write_parquet(
        root,
        &part(path::STOLEN_TOKENS_DIR, index),
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}

/// `truth/view_as_users/part-NNNNN.parquet`.
pub fn write_view_as_users(
    root: &Path,
    index: u32,
    rows: &[Victim],
    provenance: &Provenance,
) -> Result<FileInfo> {
    let schema = view_as_users_schema();
    let mut groups =
        ListBuilder::new(StringBuilder::new()).with_field(match schema.field(2).data_type() {
            arrow::datatypes::DataType::List(f) => f.clone(),
            _ => unreachable!("view_as_users.field_groups is a list"),
        });
    for v in rows {
        for g in FieldGroup::ALL {
            if v.groups & (1 << g.index()) != 0 {
                groups.values().append_value(g.as_str());
            }
        }
        groups.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        int64(rows.iter().map(|r| r.user_id), None),
        enum_column(
            &names(Tier::ALL, Tier::as_str),
            rows.iter().map(|r| r.tier as i8).collect(),
            None,
        ),
        Arc::new(groups.finish()),
    ];
    let layout = Layout {
        dictionary: &[col::TIER],
        sorted_by: &[0],
        ..SMALL
    };
    write_parquet(
        root,
        &part(path::VIEW_AS_USERS_DIR, index),
        schema.clone(),
        [batch(&schema, columns)],
        provenance,
        &layout,
    )
}
