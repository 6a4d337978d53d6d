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

use std::time::SystemTime;

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

    /// Serialises the payload in the original's field names plus our `sessionlock` object:
    /// compact JSON, fields in the order of the example above, absent ones left out.
    /// Written by hand, byte for byte as `serde_json` writes the same fields (the tests
    /// compare the two), because it runs on every publish.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut top = Members::open(&mut out);
        if let Some(pid) = self.pid {
            top.key("pid");
            write_u64(top.out, pid.into());
        }
        if let Some(ms) = self.created_at_ms {
            top.key("createdAt");
            top.out.push(b'"');
            write_iso_ms(top.out, ms);
            top.out.push(b'"');
        }
        if let Some(starttime) = self.starttime {
            top.key("starttime");
            write_u64(top.out, starttime);
        }
        if let Some(max_hold_ms) = self.max_hold_ms {
            top.key("maxHoldMs");
            write_u64(top.out, max_hold_ms);
        }
        if self.kernel_locked || self.nonce.is_some() || !self.location.is_unknown() {
            top.key("sessionlock");
            let mut ours = Members::open(top.out);
            ours.key("version");
            write_u64(ours.out, 1);
            ours.key("flock");
            ours.out.extend_from_slice(if self.kernel_locked { b"true" } else { b"false" });
            let texts = [
                ("nonce", self.nonce.as_deref()),
                ("host", self.location.host.as_deref()),
                ("boot", self.location.boot.as_deref()),
            ];
            for (key, text) in texts {
                if let Some(text) = text {
                    ours.key(key);
                    write_str(ours.out, text);
                }
            }
            if let Some(pid_ns) = self.location.pid_ns {
                ours.key("pidns");
                write_u64(ours.out, pid_ns);
            }
            ours.close();
        }
        top.close();
        out
    }
}

/// The members of one JSON object being written: `{`, then `"key":value` pairs separated
/// by commas, then `}`.
struct Members<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Members<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Starts a member: the comma before it if any, its key and the colon.
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Writes `v` in decimal.
fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes `text` as a JSON string, escaped as `serde_json` escapes: `"` and `\` with a
/// backslash, the control characters below 0x20 as `\b`, `\t`, `\n`, `\f`, `\r` or
/// `\u00xx`; everything else, non-ASCII included, as it is.
fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        out.extend_from_slice(escaped);
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
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

/// The first millisecond the format cannot write: 10000-01-01T00:00:00.000Z.
const YEAR_10000_MS: u64 = 253_402_300_800_000;

/// Formats milliseconds since the epoch as `2026-02-13T10:00:00.000Z`. A time past the
/// year 9999, which four year digits cannot write, is written as that year's last
/// millisecond.
pub fn format_iso_ms(ms: u64) -> String {
    let mut out = Vec::with_capacity(24);
    write_iso_ms(&mut out, ms);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `ms` as [`format_iso_ms`] formats it (24 ASCII bytes), with the proleptic
/// Gregorian calendar in UTC.
fn write_iso_ms(out: &mut Vec<u8>, ms: u64) {
    let ms = ms.min(YEAR_10000_MS - 1);
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    // Days since 0000-03-01, in 400-year eras of 146,097 days: the leap day ends a year.
    let days = days + 719_468;
    let (era, day_of_era) = (days / 146_097, days % 146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    let fields = [
        (year, 4, b'-'),
        (month, 2, b'-'),
        (day, 2, b'T'),
        (ms_of_day / 3_600_000, 2, b':'),
        (ms_of_day / 60_000 % 60, 2, b':'),
        (ms_of_day / 1_000 % 60, 2, b'.'),
        (ms_of_day % 1_000, 3, b'Z'),
    ];
    for (value, width, then) in fields {
        let mut digits = [b'0'; 4];
        let mut v = value;
        for d in digits[..width].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&digits[..width]);
        out.push(then);
    }
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

    /// The payload as `serde_json` writes it from derived structs: the reference the
    /// hand-written [`Payload::to_bytes`] must match byte for byte.
    fn by_serde(p: &Payload) -> Vec<u8> {
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
        let ours = (p.kernel_locked || p.nonce.is_some() || !p.location.is_unknown()).then_some(
            Ours {
                version: 1,
                flock: p.kernel_locked,
                nonce: p.nonce.as_deref(),
                host: p.location.host.as_deref(),
                boot: p.location.boot.as_deref(),
                pidns: p.location.pid_ns,
            },
        );
        let wire = Wire {
            pid: p.pid,
            created_at: p.created_at_ms.map(by_humantime),
            starttime: p.starttime,
            max_hold_ms: p.max_hold_ms,
            sessionlock: ours,
        };
        serde_json::to_vec(&wire).unwrap()
    }

    fn by_humantime(ms: u64) -> String {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        humantime::format_rfc3339_millis(at).to_string()
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let escapes = "q\"b\\s/\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}é😀";
        let cases = [
            ours(),
            Payload::default(),
            Payload { pid: Some(7), ..Payload::default() },
            Payload { kernel_locked: true, ..Payload::default() },
            Payload { nonce: Some(escapes.into()), ..ours() },
            Payload { location: Location { host: Some(escapes.into()), ..Location::UNKNOWN }, ..Payload::default() },
            Payload { pid: Some(u32::MAX), starttime: Some(u64::MAX), max_hold_ms: Some(0), ..ours() },
            Payload { created_at_ms: Some(0), ..ours() },
        ];
        for p in cases {
            let (ours, reference) = (p.to_bytes(), by_serde(&p));
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&reference));
        }
    }

    /// A time past what the format can write is written as the last one it can, and
    /// read back as that.
    #[test]
    fn writes_a_time_past_the_year_9999_as_its_last_millisecond() {
        for ms in [YEAR_10000_MS, u64::MAX] {
            assert_eq!(format_iso_ms(ms), "9999-12-31T23:59:59.999Z");
        }
        let p = Payload { created_at_ms: Some(u64::MAX), ..ours() };
        let read = Payload::parse(&p.to_bytes()).unwrap();
        assert_eq!(read.created_at_ms, Some(YEAR_10000_MS - 1));
    }

    proptest::proptest! {
        #[test]
        fn formats_time_as_humantime_does(ms in 0u64..YEAR_10000_MS) {
            proptest::prop_assert_eq!(format_iso_ms(ms), by_humantime(ms));
        }

        #[test]
        fn writes_any_payload_as_serde_json_does(
            pid in proptest::option::of(proptest::num::u32::ANY),
            ms in proptest::option::of(0u64..YEAR_10000_MS),
            starttime in proptest::option::of(proptest::num::u64::ANY),
            max_hold_ms in proptest::option::of(proptest::num::u64::ANY),
            kernel_locked in proptest::bool::ANY,
            nonce in proptest::option::of(".{0,12}"),
            host in proptest::option::of("[\\x00-\\x7f]{0,12}"),
            boot in proptest::option::of("\\PC{0,12}"),
            pid_ns in proptest::option::of(proptest::num::u64::ANY),
        ) {
            let p = Payload {
                pid,
                created_at_ms: ms,
                starttime,
                max_hold_ms,
                kernel_locked,
                nonce,
                location: Location { host, boot, pid_ns },
            };
            proptest::prop_assert_eq!(p.to_bytes(), by_serde(&p));
        }

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
