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
    pub const APPS: &str = "apps";
    pub const PHOTOS: &str = "photos";
    pub const USERS: &str = "users";
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

    /// The file name of shard `index` inside a sharded table's folder.
    pub fn part(index: u32) -> String {
        format!("part-{index:05}.parquet")
    }
}

/// Timestamps are microseconds since the Unix epoch, in UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// String-valued enums are dictionary-encoded: small integer keys into a fixed list of names.
pub fn enum_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
}

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

/// The event log (`events/part-*.parquet`).
pub fn events_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::EVENT_ID, DataType::UInt64, false),
        Field::new(col::TS, timestamp_type(), false),
        Field::new(col::KIND, enum_type(), false),
        Field::new(col::USER_ID, DataType::UInt64, true),
        Field::new(col::APP_ID, DataType::UInt32, true),
        Field::new(col::PHOTO_ID, DataType::UInt64, true),
        Field::new(col::SURFACE, enum_type(), true),
        Field::new(col::SCOPE, enum_type(), true),
        Field::new(col::ACTION, enum_type(), true),
        Field::new(col::STATUS, DataType::UInt16, true),
        Field::new(col::PAGE, DataType::UInt32, true),
        Field::new(col::PAGE_SIZE, DataType::UInt32, true),
        Field::new(col::ITEMS_RETURNED, DataType::UInt32, true),
    ])
}

/// `providers.parquet`.
pub fn providers_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::PROVIDER_ID, DataType::UInt32, false),
        Field::new(col::NAME, DataType::Utf8, false),
    ])
}

/// `apps.parquet`; `scopes` lists the permissions the app asks for.
pub fn apps_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::APP_ID, DataType::UInt32, false),
        Field::new(col::PROVIDER_ID, DataType::UInt32, false),
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
        Field::new(col::USER_ID, DataType::UInt64, false),
        Field::new(col::REGISTERED_AT, timestamp_type(), false),
    ])
}

/// `truth/exposures/part-*.parquet`: one row per (app, user, photo) ever returned off-timeline.
pub fn exposures_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::APP_ID, DataType::UInt32, false),
        Field::new(col::USER_ID, DataType::UInt64, false),
        Field::new(col::PHOTO_ID, DataType::UInt64, false),
        Field::new(col::SURFACE, enum_type(), false),
        Field::new(col::FIRST_EXPOSED_TS, timestamp_type(), false),
    ])
}

/// `truth/affected_users/part-*.parquet`: distinct apps and photos per affected user.
pub fn affected_users_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::USER_ID, DataType::UInt64, false),
        Field::new(col::APPS, DataType::UInt32, false),
        Field::new(col::PHOTOS, DataType::UInt32, false),
    ])
}

/// `truth/affected_apps.parquet`: distinct users and (user, photo) exposures per app.
pub fn affected_apps_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::APP_ID, DataType::UInt32, false),
        Field::new(col::PROVIDER_ID, DataType::UInt32, false),
        Field::new(col::USERS, DataType::UInt64, false),
        Field::new(col::PHOTOS, DataType::UInt64, false),
    ])
}

/// `truth/message_violations/part-*.parquet`: successful message calls without the scope.
pub fn message_violations_schema() -> SchemaRef {
    schema(vec![
        Field::new(col::EVENT_ID, DataType::UInt64, false),
        Field::new(col::APP_ID, DataType::UInt32, false),
        Field::new(col::USER_ID, DataType::UInt64, false),
        Field::new(col::ACTION, enum_type(), false),
        Field::new(col::TS, timestamp_type(), false),
    ])
}
