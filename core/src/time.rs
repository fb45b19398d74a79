//! UTC calendar times for replies and listings: the RFC 3659 §2.3
//! `time-val` (`YYYYMMDDHHMMSS`, used by MDTM and the MLSx `modify` fact) and
//! the month/day/year fields of `ls -l` style LIST lines.
//!
//! The trade-off: no date crate and no time zones. FTP only ever needs UTC
//! and the proleptic Gregorian calendar, which is a few lines of integer
//! arithmetic (Howard Hinnant's `civil_from_days`), so this stays pure and
//! dependency-free. Times are clamped to years 0000–9999, the range a
//! four-digit `time-val` can express, so no timestamp can make it panic.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the second, within years 0000–9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    /// Year, 0–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
}

/// Seconds since the Unix epoch of 0000-01-01T00:00:00Z.
const MIN_UNIX: i64 = -62_167_219_200;
/// Seconds since the Unix epoch of 9999-12-31T23:59:59Z.
const MAX_UNIX: i64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl UtcTime {
    /// The time `secs` seconds after the Unix epoch (negative: before it),
    /// clamped to years 0000–9999.
    pub fn from_unix(secs: i64) -> Self {
        let secs = secs.clamp(MIN_UNIX, MAX_UNIX);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // The clamp keeps every field in range, so the narrowing is lossless.
        Self {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// The time of `t`, clamped like [`UtcTime::from_unix`].
    pub fn from_system_time(t: SystemTime) -> Self {
        Self::from_unix(unix_seconds(t))
    }

    /// RFC 3659 §2.3 `time-val`: `YYYYMMDDHHMMSS`, always 14 digits.
    pub fn time_val(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The English three-letter month abbreviation (`"Nov"`), as `ls -l`
    /// prints it in the C locale.
    pub fn month_abbrev(&self) -> &'static str {
        MONTHS
            .get(usize::from(self.month).saturating_sub(1))
            .copied()
            .unwrap_or("Jan")
    }
}

/// Seconds since the Unix epoch of `t` (negative before it), saturating.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The current time in seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// Year, month (1–12) and day (1–31) of the day `z` days after 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_val_table() {
        let rows = [
            (0, "19700101000000"),
            (951_782_400, "20000229000000"),
            (1_732_181_400, "20241121093000"),
            (1_709_251_199, "20240229235959"),
            (-1, "19691231235959"),
            (MAX_UNIX, "99991231235959"),
            (i64::MAX, "99991231235959"),
            (MIN_UNIX, "00000101000000"),
            (i64::MIN, "00000101000000"),
        ];
        for (secs, want) in rows {
            assert_eq!(UtcTime::from_unix(secs).time_val(), want, "{secs}");
        }
    }

    #[test]
    fn month_names() {
        assert_eq!(UtcTime::from_unix(1_732_181_400).month_abbrev(), "Nov");
        assert_eq!(UtcTime::from_unix(0).month_abbrev(), "Jan");
    }

    #[test]
    fn system_time_roundtrip() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 61);
        assert_eq!(UtcTime::from_system_time(t).time_val(), "19700102000101");
        assert_eq!(
            unix_seconds(UNIX_EPOCH - std::time::Duration::from_secs(5)),
            -5
        );
    }
}
