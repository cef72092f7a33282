//! Dates moved back by whole days, for the Retain Longitudinal Temporal Information with
//! Modified Dates option: the date part of DA and DT values moves, times stay.
//!
//! A whole-day shift leaves the time of day as it was, so TM values are kept (if well formed)
//! and a DT keeps its time, fraction and UTC offset text. A value that is not a date of its VR
//! is never passed on as it was: it could be anything, a name typed into the wrong field
//! included, so its caller empties it.

use dicom_core::VR;

/// The values of a DA, DT or TM element with their dates moved `days` back, or `None` if any
/// value is malformed (or the VR holds no dates).
pub fn shift(vr: VR, values: &[String], days: i64) -> Option<Vec<String>> {
    values
        .iter()
        .map(|v| v.trim_matches(|c: char| c == ' ' || c == '\0'))
        .map(|v| match vr {
            // A zero-length value in a multi-valued element is allowed and says nothing.
            _ if v.is_empty() => Some(String::new()),
            VR::DA => shift_da(v, days),
            VR::DT => shift_dt(v, days),
            VR::TM => time(v).then(|| v.to_owned()),
            _ => None,
        })
        .collect()
}

/// A DA value (YYYYMMDD) moved `days` back.
fn shift_da(value: &str, days: i64) -> Option<String> {
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (number(&value[..4])?, number(&value[4..6])?, number(&value[6..8])?);
    moved(y, m, d, days).map(|(y, m, d)| format!("{y:04}{m:02}{d:02}"))
}

/// A DT value (YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]) with its date part moved `days` back and
/// the rest kept as written. A date given only to the year or month is moved as if it were the
/// first day of it and written back to the same precision.
fn shift_dt(value: &str, days: i64) -> Option<String> {
    if !value.is_ascii() {
        return None;
    }
    // The UTC offset, if any, is the sign after the year and what follows it.
    let (main, offset) = match value[4.min(value.len())..].find(['+', '-']) {
        Some(i) => value.split_at(4 + i),
        None => (value, ""),
    };
    let offset_ok = offset.is_empty() || offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = main.split_once('.').map_or((main, None), |(w, f)| (w, Some(f)));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let fraction_ok = fraction.is_none_or(|f| whole.len() == 14 && (1..=6).contains(&f.len()) && digits(f));
    if !offset_ok || !fraction_ok || !digits(whole) || ![4, 6, 8, 10, 12, 14].contains(&whole.len()) {
        return None;
    }
    let date_len = whole.len().min(8);
    let (date, clock) = main.split_at(date_len);
    if !clock.is_empty() && !time(clock) {
        return None;
    }
    let field = |r: std::ops::Range<usize>| date.get(r).map_or(Some(1), number);
    let (y, m, d) = moved(number(&date[..4])?, field(4..6)?, field(6..8)?, days)?;
    let shifted = format!("{y:04}{m:02}{d:02}");
    Some(format!("{}{clock}{offset}", &shifted[..date_len]))
}

/// Whether `value` is a TM: HH[MM[SS[.F{1,6}]]], each field in range.
fn time(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').map_or((value, None), |(w, f)| (w, Some(f)));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || ![2, 4, 6].contains(&whole.len()) || fraction.is_some_and(|f| whole.len() != 6 || !(1..=6).contains(&f.len()) || !digits(f)) {
        return false;
    }
    // Seconds may be 60, for a leap second.
    [(0..2, 23), (2..4, 59), (4..6, 60)].into_iter().all(|(r, max)| whole.get(r).is_none_or(|f| number(f).is_some_and(|n| n <= max)))
}

fn number(digits: &str) -> Option<i64> {
    digits.parse().ok()
}

/// The civil date `days` before y-m-d, if y-m-d is a real date and the result has four digits.
fn moved(y: i64, m: i64, d: i64, days: i64) -> Option<(i64, i64, i64)> {
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let (y, m, d) = civil(epoch_days(y, m, d) - days);
    (0..=9999).contains(&y).then_some((y, m, d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 and back, proleptic Gregorian (Howard Hinnant's algorithms, which count
// in 400-year eras so that leap years need no table).
fn epoch_days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
