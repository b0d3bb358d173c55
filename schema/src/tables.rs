//! Column names and Arrow schemas of every table in a dataset.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Column names, as in the dataset contract.
pub mod col {
    pub const EVENT_ID: &str = "event_id";
    pub const TS: &str = "ts";
    pub const KIND: &str = "kind";
    pub const USER_ID: &str = "user_id";
    pub const APP_ID: &str = "app_id";
    pub const PHOTO_ID: &str = "photo_id";
    pub const SURFACE: &str = "surface";
    pub const SCOPE: &str = "scope";
    pub const ACTION: &str = "action";
    pub const STATUS: &str = "status";
    pub const PAGE: &str = "page";
    pub const PAGE_SIZE: &str = "page_size";
    pub const ITEMS_RETURNED: &str = "items_returned";
    pub const PROVIDER_ID: &str = "provider_id";
    pub const NAME: &str = "name";
    pub const CATEGORY: &str = "category";
    pub const SCOPES: &str = "scopes";
    pub const REGISTERED_AT: &str = "registered_at";
    pub const FIRST_EXPOSED_TS: &str = "first_exposed_ts";
    pub const FIRST_EXPOSED_EVENT_ID: &str = "first_exposed_event_id";
    pub const APPS: &str = "apps";
    pub const PHOTOS: &str = "photos";
    pub const USERS: &str = "users";
    // The View-As incident's tables (`access/`, `friendships/`, and their truth).
    pub const FRIEND_ID: &str = "friend_id";
    pub const TARGET_ID: &str = "target_id";
    pub const TOKEN_ID: &str = "token_id";
    pub const ISSUED_TOKEN_ID: &str = "issued_token_id";
    pub const SESSION_ID: &str = "session_id";
    pub const CLIENT: &str = "client";
    pub const NETWORK: &str = "network";
    pub const PATH: &str = "path";
    pub const FIELD_GROUP: &str = "field_group";
    pub const HOP: &str = "hop";
    pub const PIVOT_ID: &str = "pivot_id";
    pub const TIER: &str = "tier";
    pub const STOLEN_TS: &str = "stolen_ts";
    pub const STOLEN_EVENT_ID: &str = "stolen_event_id";
    pub const FIELD_GROUPS: &str = "field_groups";
    pub const DEPLOY_ID: &str = "deploy_id";
    pub const SERVICE: &str = "service";
    pub const CHANGE: &str = "change";
}

/// Paths of the tables inside a dataset folder. Folders hold one `part-NNNNN.parquet` per shard.
pub mod path {
    pub const MANIFEST: &str = "manifest.json";
    pub const PROVIDERS: &str = "providers.parquet";
    pub const APPS: &str = "apps.parquet";
    pub const USERS_DIR: &str = "users";
    pub const EVENTS_DIR: &str = "events";
    pub const TRUTH_DIR: &str = "truth";
    pub const EXPOSURES_DIR: &str = "truth/exposures";
    pub const AFFECTED_USERS_DIR: &str = "truth/affected_users";
    pub const MESSAGE_VIOLATIONS_DIR: &str = "truth/message_violations";
    pub const AFFECTED_APPS: &str = "truth/affected_apps.parquet";
    pub const DEPLOYS: &str = "deploys.parquet";
    pub const BUG_DEPLOYS: &str = "truth/bug_deploys.parquet";
    /// The View-As incident's tables, present only in datasets of a scenario with a
    /// `[view_as]` section.
    pub const FRIENDSHIPS_DIR: &str = "friendships";
    pub const ACCESS_DIR: &str = "access";
    pub const STOLEN_TOKENS_DIR: &str = "truth/stolen_tokens";
    pub const VIEW_AS_USERS_DIR: &str = "truth/view_as_users";

    /// The answer key's own manifest, in a key folder written apart from its dataset.
    pub const KEY: &str = "key.json";

    /// The file name of shard `index` inside a sharded table's folder.
    pub fn part(index: u32) -> String {
        format!("part-{index:05}.parquet")
    }
}

/// Timestamps are microseconds since the Unix epoch, in UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// String-valued enums in memory: small integer keys into a list of names. Writers build
/// them this way and readers decode them this way (see [`reading`]); files declare them as
/// plain strings (see [`stored`]).
pub fn enum_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
}

/// The columns that hold string-valued enums, in every table that has them.
pub const ENUM_COLUMNS: &[&str] = &[
    col::KIND,
    col::SURFACE,
    col::SCOPE,
    col::ACTION,
    col::CLIENT,
    col::PATH,
    col::FIELD_GROUP,
    col::TIER,
];

/// The schema a file declares for in-memory `schema`: enum columns as plain strings.
///
/// On disk an enum column is a Parquet string column with dictionary encoding, and each
/// row group's dictionary holds the values that occur there, in the order they occur. A
/// file that declared an Arrow dictionary type would make readers such as pyarrow build one
/// dictionary per row group and fail to combine them ("Unifying differing dictionaries");
/// declared as strings, every reader sees one type across all files.
pub fn stored(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => f.as_ref().clone().with_data_type(*value.clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// The schema to read a file of schema `file` with, so that its enum columns decode straight
/// into dictionaries (integer keys, no strings materialized): `file` with every enum column
/// of string type turned into [`enum_type`]. Other columns are left as the file has them,
/// for the reader's own checks to judge.
pub fn reading(file: &Schema) -> Schema {
    let fields: Vec<Field> = file
        .fields()
        .iter()
        .map(|f| {
            let text = matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) || matches!(f.data_type(), DataType::Dictionary(_, v) if v.as_ref() == &DataType::Utf8);
            if text && ENUM_COLUMNS.contains(&f.name().as_str()) {
                f.as_ref().clone().with_data_type(enum_type())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Schema::new_with_metadata(fields, file.metadata().clone())
}

/// The type schema version 1 stored a column of today's integer type `now` as: the unsigned
/// integer of the same width, except the ids `app_id` and `provider_id`, which were 32-bit
/// (version 2 made every id a signed 64-bit integer, as warehouses type ids). `None` for a
/// column whose type did not change.
pub fn version_1_type(name: &str, now: &DataType) -> Option<DataType> {
    match (name, now) {
        (col::APP_ID | col::PROVIDER_ID, DataType::Int64) => Some(DataType::UInt32),
        (_, DataType::Int64) => Some(DataType::UInt64),
        (_, DataType::Int32) => Some(DataType::UInt32),
        (_, DataType::Int16) => Some(DataType::UInt16),
        _ => None,
    }
}

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

/// The event log (`events/part-*.parquet`).
pub fn events_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::EVENT_ID, DataType::Int64, false),
        Field::new(col::TS, timestamp_type(), false),
        Field::new(col::KIND, enum_type(), false),
        Field::new(col::USER_ID, DataType::Int64, true),
        Field::new(col::APP_ID, DataType::Int64, true),
        Field::new(col::PHOTO_ID, DataType::Int64, true),
        Field::new(col::SURFACE, enum_type(), true),
        Field::new(col::SCOPE, enum_type(), true),
        Field::new(col::ACTION, enum_type(), true),
        Field::new(col::STATUS, DataType::Int16, true),
        Field::new(col::PAGE, DataType::Int32, true),
        Field::new(col::PAGE_SIZE, DataType::Int32, true),
        Field::new(col::ITEMS_RETURNED, DataType::Int32, true),
    ])
}

/// `providers.parquet`.
pub fn providers_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::PROVIDER_ID, DataType::Int64, false),
        Field::new(col::NAME, DataType::Utf8, false),
    ])
}

/// `apps.parquet`; `scopes` lists the permissions the app asks for.
pub fn apps_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::APP_ID, DataType::Int64, false),
        Field::new(col::PROVIDER_ID, DataType::Int64, false),
        Field::new(col::NAME, DataType::Utf8, false),
        Field::new(col::CATEGORY, DataType::Utf8, false),
        Field::new(
            col::SCOPES,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
            false,
        ),
    ])
}

/// `users/part-*.parquet`.
pub fn users_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::REGISTERED_AT, timestamp_type(), false),
    ])
}

/// `truth/exposures/part-*.parquet`: one row per (app, user, photo) ever returned off-timeline.
pub fn exposures_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::APP_ID, DataType::Int64, false),
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::PHOTO_ID, DataType::Int64, false),
        Field::new(col::SURFACE, enum_type(), false),
        Field::new(col::FIRST_EXPOSED_TS, timestamp_type(), false),
        Field::new(col::FIRST_EXPOSED_EVENT_ID, DataType::Int64, false),
    ])
}

/// `truth/affected_users/part-*.parquet`: distinct apps and photos per affected user.
pub fn affected_users_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::APPS, DataType::Int32, false),
        Field::new(col::PHOTOS, DataType::Int32, false),
    ])
}

/// `truth/affected_apps.parquet`: distinct users and (user, photo) exposures per app.
pub fn affected_apps_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::APP_ID, DataType::Int64, false),
        Field::new(col::PROVIDER_ID, DataType::Int64, false),
        Field::new(col::USERS, DataType::Int64, false),
        Field::new(col::PHOTOS, DataType::Int64, false),
    ])
}

/// `truth/message_violations/part-*.parquet`: successful message calls without the scope.
pub fn message_violations_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::EVENT_ID, DataType::Int64, false),
        Field::new(col::APP_ID, DataType::Int64, false),
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::ACTION, enum_type(), false),
        Field::new(col::TS, timestamp_type(), false),
    ])
}

/// `friendships/part-*.parquet`: the friend graph, one row per direction of each friendship
/// (`user_id` in the shard, `friend_id` anywhere), sorted by `user_id`, then `friend_id`.
pub fn friendships_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::FRIEND_ID, DataType::Int64, false),
    ])
}

/// `access/part-*.parquet`: the token service's and the Graph API's log of the View-As
/// world, in log order. Which columns apply to which kind: [`crate::AccessKind::columns`].
pub fn access_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::EVENT_ID, DataType::Int64, false),
        Field::new(col::TS, timestamp_type(), false),
        Field::new(col::KIND, enum_type(), false),
        Field::new(col::USER_ID, DataType::Int64, true),
        Field::new(col::TARGET_ID, DataType::Int64, true),
        Field::new(col::TOKEN_ID, DataType::Int64, true),
        Field::new(col::ISSUED_TOKEN_ID, DataType::Int64, true),
        Field::new(col::SESSION_ID, DataType::Int64, true),
        Field::new(col::CLIENT, enum_type(), true),
        Field::new(col::NETWORK, DataType::Int64, true),
        Field::new(col::PATH, enum_type(), true),
        Field::new(col::FIELD_GROUP, enum_type(), true),
    ])
}

/// `truth/stolen_tokens/part-*.parquet`: one row per token the attack took, in the shard of
/// its owner (`user_id`), by owner, then time.
pub fn stolen_tokens_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::TOKEN_ID, DataType::Int64, false),
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::STOLEN_TS, timestamp_type(), false),
        Field::new(col::STOLEN_EVENT_ID, DataType::Int64, false),
        Field::new(col::HOP, DataType::Int32, false),
        Field::new(col::PIVOT_ID, DataType::Int64, false),
    ])
}

/// `truth/view_as_users/part-*.parquet`: one row per user whose token was taken, with the
/// tier and the field groups read with it (a list of `field_group` names, in enum order).
pub fn view_as_users_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::USER_ID, DataType::Int64, false),
        Field::new(col::TIER, enum_type(), false),
        Field::new(
            col::FIELD_GROUPS,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
            false,
        ),
    ])
}

/// `deploys.parquet`: the platform's deploys, one row each, in log order. `deploy_id` is the
/// `event_id` of the deploy's row in `events/`.
pub fn deploys_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::DEPLOY_ID, DataType::Int64, false),
        Field::new(col::TS, timestamp_type(), false),
        Field::new(col::SERVICE, DataType::Utf8, false),
    ])
}

/// `truth/bug_deploys.parquet`: which of the deploys introduced the bug and which fixed it
/// (`change` is `introduced` or `fixed`); empty in a control world.
pub fn bug_deploys_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::DEPLOY_ID, DataType::Int64, false),
        Field::new(col::TS, timestamp_type(), false),
        Field::new(col::CHANGE, DataType::Utf8, false),
    ])
}
