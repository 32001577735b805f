//! Server-generated, time-ordered 64-bit ids. On the wire they are decimal
//! strings (JavaScript numbers lose precision above 2^53); integers are
//! accepted on input too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some("^[0-9]{1,19}$"))
                    .description(Some(concat!(
                        stringify!($name),
                        ": a 64-bit id as a decimal string (integers are accepted on input)."
                    )))
                    .examples([serde_json::json!("263405710254080000")])
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Repr<'a> {
                    Int(i64),
                    Str(&'a str),
                    Owned(String),
                }
                let parsed = match Repr::deserialize(d)? {
                    Repr::Int(v) => return Ok($name(v)),
                    Repr::Str(s) => s.parse(),
                    Repr::Owned(s) => s.parse(),
                };
                parsed
                    .map($name)
                    .map_err(|_| serde::de::Error::custom(concat!("invalid ", stringify!($name))))
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A direct message. Ordering by id is ordering by creation time.
    MessageId
);
id_type!(
    /// A pending friend invite.
    InviteId
);
id_type!(
    /// A room (a group that can hold a call).
    RoomId
);
id_type!(
    /// An uploaded file (a message's picture or document).
    AttachmentId
);
