//! The string-valued enums of the event log and the column-applicability rule.

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order of its dictionary key.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written in the dataset.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a value as written in the dataset.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The dictionary key of this value (its index in [`Self::ALL`]).
            pub fn index(self) -> u8 {
                self as u8
            }

            /// The value with the given dictionary key.
            pub fn from_index(index: usize) -> Option<Self> {
                Self::ALL.get(index).copied()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What an event records.
    Kind {
        UserRegistered => "user_registered",
        PermissionGranted => "permission_granted",
        PermissionRevoked => "permission_revoked",
        PhotoUploaded => "photo_uploaded",
        PhotoPublished => "photo_published",
        PhotoDeleted => "photo_deleted",
        PhotoApiCall => "photo_api_call",
        MessageApiCall => "message_api_call",
        BugIntroduced => "bug_introduced",
        BugFixed => "bug_fixed",
        Deploy => "deploy",
    }
);

string_enum!(
    /// Where a photo lives. Only `timeline` is visible to photo apps when the API is correct.
    Surface {
        Timeline => "timeline",
        Marketplace => "marketplace",
        Story => "story",
        Draft => "draft",
        Messenger => "messenger",
    }
);

string_enum!(
    /// A permission an app asks the user for.
    Scope {
        UserPhotos => "user_photos",
        ReadMailbox => "read_mailbox",
        WriteMailbox => "write_mailbox",
        DeleteMailbox => "delete_mailbox",
    }
);

string_enum!(
    /// What a messaging-API call does.
    Action {
        Read => "read",
        Write => "write",
        Delete => "delete",
    }
);

impl Action {
    /// The scope a call with this action needs.
    pub fn scope(self) -> Scope {
        match self {
            Action::Read => Scope::ReadMailbox,
            Action::Write => Scope::WriteMailbox,
            Action::Delete => Scope::DeleteMailbox,
        }
    }
}

string_enum!(
    /// What an event of the View-As world's access log (`access/`) records.
    AccessKind {
        TokenIssued => "token_issued",
        ViewAs => "view_as",
        ProfileRead => "profile_read",
        FlawIntroduced => "flaw_introduced",
        FlawFixed => "flaw_fixed",
        TokensReset => "tokens_reset",
    }
);

string_enum!(
    /// The client software a session runs in.
    Client {
        Web => "web",
        Android => "android",
        Ios => "ios",
    }
);

string_enum!(
    /// How a token was issued: at a login, or by the video uploader (which the "View As"
    /// page showed by mistake while the flaw lived).
    TokenPath {
        Login => "login",
        VideoUploader => "video_uploader",
    }
);

string_enum!(
    /// A group of profile fields one Graph API read returns.
    FieldGroup {
        Contact => "contact",
        Profile => "profile",
        Timeline => "timeline",
        Friends => "friends",
        Groups => "groups",
        Conversations => "conversations",
    }
);

string_enum!(
    /// How far the View-As attack reached into one user's account.
    Tier {
        TokenOnly => "token_only",
        Contact => "contact",
        ContactProfile => "contact_profile",
        Pivot => "pivot",
    }
);

/// Which optional columns of the access log carry a value for a kind; the others are null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessColumns {
    /// `user_id`, `session_id`, `client`, `network`: every event of a session.
    pub session: bool,
    pub target_id: bool,
    /// The token the request carried: null on a `token_issued` of path `login` (a login
    /// carries credentials, not a token).
    pub token_id: bool,
    /// `issued_token_id` and `path`.
    pub issued: bool,
    pub field_group: bool,
}

impl AccessKind {
    /// `true` for the platform's own events (deploys, the token reset), which no session has.
    pub fn is_system(self) -> bool {
        matches!(
            self,
            AccessKind::FlawIntroduced | AccessKind::FlawFixed | AccessKind::TokensReset
        )
    }

    /// The columns that apply to this kind (`event_id`, `ts` and `kind` always do).
    pub fn columns(self) -> AccessColumns {
        let none = AccessColumns {
            session: false,
            target_id: false,
            token_id: false,
            issued: false,
            field_group: false,
        };
        let session = AccessColumns {
            session: true,
            target_id: true,
            ..none
        };
        match self {
            AccessKind::FlawIntroduced | AccessKind::FlawFixed | AccessKind::TokensReset => none,
            AccessKind::TokenIssued => AccessColumns {
                token_id: true,
                issued: true,
                ..session
            },
            AccessKind::ViewAs => AccessColumns {
                token_id: true,
                ..session
            },
            AccessKind::ProfileRead => AccessColumns {
                token_id: true,
                field_group: true,
                ..session
            },
        }
    }
}

/// Which optional columns carry a value for an event kind; every other one is null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    pub user_id: bool,
    pub app_id: bool,
    pub photo_id: bool,
    pub surface: bool,
    pub scope: bool,
    pub action: bool,
    pub status: bool,
    pub paging: bool,
}

impl Columns {
    /// Whether the column called `name` applies (`event_id`, `ts` and `kind` always do);
    /// `None` for a column the rule does not cover.
    pub fn applies(&self, name: &str) -> Option<bool> {
        use crate::col;
        Some(match name {
            col::EVENT_ID | col::TS | col::KIND => true,
            col::USER_ID => self.user_id,
            col::APP_ID => self.app_id,
            col::PHOTO_ID => self.photo_id,
            col::SURFACE => self.surface,
            col::SCOPE => self.scope,
            col::ACTION => self.action,
            col::STATUS => self.status,
            col::PAGE | col::PAGE_SIZE | col::ITEMS_RETURNED => self.paging,
            _ => return None,
        })
    }
}

impl Kind {
    /// `true` for the platform's deploys, which belong to no user: `deploy`, and the two
    /// that open and close the bug window when the log says so.
    pub fn is_system(self) -> bool {
        matches!(self, Kind::BugIntroduced | Kind::BugFixed | Kind::Deploy)
    }

    /// `true` for the deploys that open and close the bug window (`bug_introduced`,
    /// `bug_fixed`). A discovery dataset has none: every deploy there is a `deploy`.
    pub fn is_bug_deploy(self) -> bool {
        matches!(self, Kind::BugIntroduced | Kind::BugFixed)
    }

    /// The columns that apply to this kind (`event_id`, `ts` and `kind` always do).
    /// `page`, `page_size` and `items_returned` apply together (`paging`).
    pub fn columns(self) -> Columns {
        let none = Columns {
            user_id: false,
            app_id: false,
            photo_id: false,
            surface: false,
            scope: false,
            action: false,
            status: false,
            paging: false,
        };
        let user = Columns {
            user_id: true,
            ..none
        };
        match self {
            Kind::BugIntroduced | Kind::BugFixed | Kind::Deploy => none,
            Kind::UserRegistered => user,
            Kind::PermissionGranted | Kind::PermissionRevoked => Columns {
                app_id: true,
                scope: true,
                ..user
            },
            Kind::PhotoUploaded | Kind::PhotoPublished => Columns {
                photo_id: true,
                surface: true,
                ..user
            },
            Kind::PhotoDeleted => Columns {
                photo_id: true,
                ..user
            },
            Kind::PhotoApiCall => Columns {
                app_id: true,
                status: true,
                paging: true,
                ..user
            },
            Kind::MessageApiCall => Columns {
                app_id: true,
                action: true,
                status: true,
                ..user
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text_and_index() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(*k));
            assert_eq!(Kind::from_index(k.index() as usize), Some(*k));
        }
        for s in Surface::ALL {
            assert_eq!(Surface::parse(s.as_str()), Some(*s));
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(*s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        assert_eq!(Kind::parse("photo_api_cal"), None);
    }

    #[test]
    fn system_events_carry_no_user_columns() {
        for k in Kind::ALL {
            assert_eq!(k.is_system(), !k.columns().user_id, "{k}");
        }
    }
}
