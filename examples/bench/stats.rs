//! Clocks, quantiles and JSON lines for the benchmarks.

use serde_json::Value;

/// CLOCK_MONOTONIC in nanoseconds: the clock `Instant` reads, but as a number that the
/// processes of one machine can compare.
pub fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// The `p`-quantile (0..=1) of `values` by nearest rank, after sorting; 0 when empty.
pub fn quantile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Rounds to `digits` decimals, for printing.
pub fn round(x: f64, digits: i32) -> Value {
    let scale = 10f64.powi(digits);
    Value::from((x * scale).round() / scale)
}

/// `fields` as one line of JSON, keys in the order given.
pub fn json_line(fields: &[(&str, Value)]) -> String {
    let body: Vec<String> =
        fields.iter().map(|(k, v)| format!("{}:{v}", Value::from(*k))).collect();
    format!("{{{}}}", body.join(","))
}

/// Nanoseconds as milliseconds.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}
