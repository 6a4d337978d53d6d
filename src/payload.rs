//! The lock file's content: JSON compatible with the original TypeScript lock.
//!
//! ```json
//! {"pid":4242,"createdAt":"2026-02-13T10:00:00.000Z","starttime":123456,
//!  "sessionlock":{"version":1,"flock":true,"nonce":"4242.123456.7",
//!   "host":"build-3","boot":"6f1c…","pidns":4026531836}}
//! ```
//!
//! `pid`, `createdAt`, `starttime` and `maxHoldMs` are the original's fields. Our own live
//! under `sessionlock`: `flock` says the holder keeps a kernel lock on the file for as long
//! as it holds, which is what makes a free kernel lock a proof of death; `nonce` names one
//! publication, so a holder can recognise its own file when inode numbers drift (H17);
//! `host`, `boot` and `pidns` say where the holder lives (host name, boot id, pid
//! namespace), so that its pid is judged only where it means something.
//!
//! [`Payload::parse`] never panics: anything that is not a JSON object gives `None`, an
//! invalid field is dropped, unknown fields are ignored, and input past
//! [`MAX_PAYLOAD_BYTES`] is refused unread.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::fs::Location;

/// The most bytes of a lock file the core ever reads.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The largest pid Linux can hand out (`PID_MAX_LIMIT`).
const PID_MAX: u64 = 1 << 22;

/// A parsed lock file. Every field is optional, because foreign files may lack any of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// The holder's pid.
    pub pid: Option<u32>,
    /// When the lock was taken, in milliseconds since the Unix epoch.
    pub created_at_ms: Option<u64>,
    /// The holder's start time in clock ticks.
    pub starttime: Option<u64>,
    /// The hold budget the holder declared.
    pub max_hold_ms: Option<u64>,
    /// Set by sessionlock: the holder keeps the file's kernel lock while it holds.
    pub kernel_locked: bool,
    /// Set by sessionlock: a token unique to one publication.
    pub nonce: Option<String>,
    /// Set by sessionlock: where the holder lives. All unknown in the original's files.
    pub location: Location,
}

impl Payload {
    /// Parses a lock file's bytes. `None` when they are empty, too long or not a JSON object.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return None;
        }
        let Value::Object(map) = serde_json::from_slice::<Value>(bytes).ok()? else {
            return None;
        };
        let ours = map.get("sessionlock").and_then(Value::as_object);
        Some(Self {
            pid: positive(&map, "pid")
                .filter(|&p| p <= PID_MAX)
                .and_then(|p| u32::try_from(p).ok()),
            created_at_ms: map.get("createdAt").and_then(Value::as_str).and_then(parse_iso_ms),
            starttime: map.get("starttime").and_then(Value::as_u64),
            max_hold_ms: positive(&map, "maxHoldMs"),
            kernel_locked: ours.and_then(|o| o.get("flock")).and_then(Value::as_bool) == Some(true),
            nonce: ours.and_then(|o| short_text(o, "nonce")),
            location: Location {
                host: ours.and_then(|o| short_text(o, "host")),
                boot: ours.and_then(|o| short_text(o, "boot")),
                pid_ns: ours.and_then(|o| o.get("pidns")).and_then(Value::as_u64),
            },
        })
    }

    /// Serialises the payload in the original's field names plus our `sessionlock` object.
    pub fn to_bytes(&self) -> Vec<u8> {
        let ours = (self.kernel_locked || self.nonce.is_some() || !self.location.is_unknown())
            .then_some(Ours {
                version: 1,
                flock: self.kernel_locked,
                nonce: self.nonce.as_deref(),
                host: self.location.host.as_deref(),
                boot: self.location.boot.as_deref(),
                pidns: self.location.pid_ns,
            });
        let wire = Wire {
            pid: self.pid,
            created_at: self.created_at_ms.map(format_iso_ms),
            starttime: self.starttime,
            max_hold_ms: self.max_hold_ms,
            sessionlock: ours,
        };
        serde_json::to_vec(&wire).expect("a payload always serialises")
    }
}

/// The payload as written: the original's fields, then ours.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    starttime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_hold_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessionlock: Option<Ours<'a>>,
}

/// Our own fields, under `sessionlock`.
#[derive(serde::Serialize)]
struct Ours<'a> {
    version: u32,
    flock: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pidns: Option<u64>,
}

/// A string field of 1 to 128 characters, else nothing.
fn short_text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map(str::to_owned)
}

fn positive(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(Value::as_u64).filter(|&v| v > 0)
}

/// Formats milliseconds since the epoch as `2026-02-13T10:00:00.000Z`.
pub fn format_iso_ms(ms: u64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Parses an ISO-8601 UTC timestamp into milliseconds since the epoch.
pub fn parse_iso_ms(text: &str) -> Option<u64> {
    let at = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()?;
    let ms = at.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis();
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Payload {
        Payload {
            pid: Some(4242),
            created_at_ms: Some(1_770_976_800_000),
            starttime: Some(98_765),
            max_hold_ms: Some(60_000),
            kernel_locked: true,
            nonce: Some("4242.98765.1".into()),
            location: Location {
                host: Some("build-3".into()),
                boot: Some("6f1c2d3e-0000-4000-8000-00000000abcd".into()),
                pid_ns: Some(4_026_531_836),
            },
        }
    }

    #[test]
    fn round_trips_our_payload() {
        assert_eq!(Payload::parse(&ours().to_bytes()), Some(ours()));
    }

    #[test]
    fn writes_the_original_field_names_and_format() {
        let text = String::from_utf8(ours().to_bytes()).unwrap();
        assert!(text.contains(r#""pid":4242"#), "{text}");
        assert!(text.contains(r#""createdAt":"2026-02-13T10:00:00.000Z""#), "{text}");
        assert!(text.contains(r#""starttime":98765"#), "{text}");
        assert!(text.contains(r#""maxHoldMs":60000"#), "{text}");
    }

    #[test]
    fn reads_an_original_payload_as_foreign() {
        let p = Payload::parse(br#"{"pid":7,"createdAt":"2026-02-13T10:00:00.000Z"}"#).unwrap();
        assert_eq!(p.pid, Some(7));
        assert_eq!(p.created_at_ms, Some(1_770_976_800_000));
        assert!(!p.kernel_locked);
        assert_eq!(p.nonce, None);
        assert!(p.location.is_unknown(), "the original records no location");
    }

    #[test]
    fn writes_where_the_holder_lives_under_our_own_object() {
        let text = String::from_utf8(ours().to_bytes()).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["sessionlock"]["host"], "build-3", "{text}");
        assert_eq!(json["sessionlock"]["pidns"], 4_026_531_836_u64, "{text}");
        assert_eq!(json["sessionlock"]["boot"], "6f1c2d3e-0000-4000-8000-00000000abcd");
        let top: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(top, ["createdAt", "maxHoldMs", "pid", "sessionlock", "starttime"]);
    }

    #[test]
    fn an_invalid_location_part_is_dropped_alone() {
        let p = Payload::parse(
            br#"{"pid":7,"sessionlock":{"host":"","boot":7,"pidns":-1,"nonce":"n"}}"#,
        )
        .unwrap();
        assert!(p.location.is_unknown());
        assert_eq!(p.nonce.as_deref(), Some("n"));
        let long = format!(r#"{{"sessionlock":{{"host":"{}","pidns":5}}}}"#, "h".repeat(129));
        let p = Payload::parse(long.as_bytes()).unwrap();
        assert_eq!(p.location, Location { pid_ns: Some(5), ..Location::UNKNOWN });
    }

    #[test]
    fn drops_invalid_fields_and_keeps_the_rest() {
        let p = Payload::parse(
            br#"{"pid":-3,"createdAt":"yesterday","starttime":"12","maxHoldMs":0,"x":1}"#,
        )
        .unwrap();
        assert_eq!(p, Payload::default());
        let huge = Payload::parse(br#"{"pid":99999999999}"#).unwrap();
        assert_eq!(huge.pid, None);
    }

    #[test]
    fn refuses_non_objects_and_oversized_input() {
        for bad in [&b""[..], b"\0\xff", b"{\"pid\":", b"[1,2]", b"42", b"null"] {
            assert_eq!(Payload::parse(bad), None, "{bad:?}");
        }
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(Payload::parse(&big), None);
    }

    proptest::proptest! {
        #[test]
        fn whatever_parses_round_trips(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            if let Some(p) = Payload::parse(&bytes) {
                proptest::prop_assert_eq!(Payload::parse(&p.to_bytes()), Some(p));
            }
        }

        #[test]
        fn round_trips_any_valid_payload(
            pid in 1u32..=(1 << 22),
            ms in 0u64..4_102_444_800_000,
            st in proptest::option::of(0u64..u64::MAX),
        ) {
            let p = Payload { pid: Some(pid), created_at_ms: Some(ms), starttime: st, ..ours() };
            proptest::prop_assert_eq!(Payload::parse(&p.to_bytes()), Some(p));
        }
    }
}
