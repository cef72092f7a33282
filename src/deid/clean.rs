//! Descriptors cleaned of what identifies the patient, for the Clean Descriptors option and the
//! values the Retain Patient Characteristics option cleans.
//!
//! The rule, applied to each value of a text element:
//! - every run of digits, with single `-`, `.`, `/` or `:` between groups, that holds four or
//!   more digits becomes `*`: dates in any numeric spelling, record numbers, phone numbers;
//! - every word (a run of letters and digits, compared without case, two characters or more)
//!   that occurs in one of the object's identifying values becomes `*`. Identifying values are
//!   person names anywhere, Patient ID, Other Patient IDs, Issuer of Patient ID, Accession
//!   Number, Institution Name and Address, and every short text (PN, LO, SH) that the Basic
//!   Profile removes, empties or replaces and that no option keeps or cleans (station names,
//!   departments, request IDs, private values);
//! - the patient's birthday written with its month's name ("2 Jan", "January 2nd") becomes `*`.
//!
//! Limits: this catches the identifying values the object itself holds, and numbers. Free text
//! can still name someone in ways no rule sees: a relative's name, a nickname, a misspelling,
//! a place, an event, "the mayor". That is why PS3.15 makes it an option and not the Basic
//! Profile's default. It errs the other way too: a word shared with an institution's name
//! ("General") or a long number that was a dose is starred as well.

use std::collections::HashSet;

use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::profile::{self, Action};

/// Other Patient IDs, retired in PS3.6 but still found in files.
const OTHER_PATIENT_IDS: Tag = Tag(0x0010, 0x1000);
/// The identifiers whose words are identifying whatever the table says of them.
const IDENTIFIERS: [Tag; 6] = [tags::PATIENT_ID, OTHER_PATIENT_IDS, tags::ISSUER_OF_PATIENT_ID, tags::ACCESSION_NUMBER, tags::INSTITUTION_NAME, tags::INSTITUTION_ADDRESS];
const MONTHS: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

/// What identifies the patient in one object, gathered before anything is changed.
#[derive(Debug, Default)]
pub struct Identifiers {
    /// Lower-case words of the identifying values.
    words: HashSet<String>,
    /// The birth date's month (1-12) and day.
    birthday: Option<(usize, u32)>,
}

impl Identifiers {
    /// The identifying words of `obj`, read through its sequences to `max_depth`.
    pub fn of(obj: &InMemDicomObject, max_depth: usize) -> Self {
        let mut found = Identifiers::default();
        found.gather(obj, max_depth);
        let birth = obj.get(tags::PATIENT_BIRTH_DATE).and_then(|e| e.to_str().ok()).map(|s| s.trim().to_owned()).unwrap_or_default();
        if birth.len() == 8 && birth.is_ascii() {
            let (month, day) = (birth[4..6].parse::<usize>().ok(), birth[6..8].parse::<u32>().ok());
            found.birthday = month.zip(day).filter(|(m, d)| (1..=12).contains(m) && (1..=31).contains(d));
        }
        found
    }

    fn gather(&mut self, obj: &InMemDicomObject, depth: usize) {
        for e in obj {
            let (tag, vr) = (e.tag(), e.vr());
            if let Value::Sequence(seq) = e.value() {
                if depth > 0 {
                    seq.items().iter().for_each(|item| self.gather(item, depth - 1));
                }
                continue;
            }
            // A private creator names a vendor's block, not a person.
            let creator = tag.group() % 2 == 1 && (0x0010..=0x00FF).contains(&tag.element());
            let removed = matches!(vr, VR::PN | VR::LO | VR::SH)
                && !creator
                && profile::row(tag)
                    .is_some_and(|row| matches!(row.action, Action::Remove | Action::Empty | Action::Dummy | Action::UidOrEmpty) && row.patient.is_none() && row.descriptors.is_none());
            if (vr == VR::PN || IDENTIFIERS.contains(&tag) || removed)
                && let Ok(text) = e.to_str()
            {
                self.words.extend(words(&text).map(str::to_lowercase));
            }
        }
    }

    /// `text` with identifying words, long numbers and the spelled birthday starred.
    pub fn clean(&self, text: &str) -> String {
        let text = star_numbers(text);
        let mut tokens = tokens(&text);
        for (is_word, token) in &mut tokens {
            if *is_word && token.chars().count() >= 2 && self.words.contains(&token.to_lowercase()) {
                *token = "*".into();
            }
        }
        if let Some((month, day)) = self.birthday {
            star_birthday(&mut tokens, month, day);
        }
        tokens.into_iter().map(|(_, t)| t).collect()
    }
}

/// Stars a month name that is the birth month together with the day beside it.
fn star_birthday(tokens: &mut [(bool, String)], month: usize, day: u32) {
    let is_month = |t: &str| {
        let t = t.to_lowercase();
        t.len() >= 3 && MONTHS[month - 1].starts_with(&t) || (month == 9 && t == "sept")
    };
    let is_day = |t: &str| {
        let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
        let suffix = &t[digits.len()..];
        digits.parse::<u32>().is_ok_and(|d| d == day) && ["", "st", "nd", "rd", "th"].contains(&suffix.to_lowercase().as_str())
    };
    // Words next to each other, with only spaces or punctuation between.
    let words: Vec<usize> = (0..tokens.len()).filter(|&i| tokens[i].0).collect();
    for pair in words.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let joined = tokens[a + 1..b].iter().all(|(_, t)| t.chars().all(|c| " ,.-/".contains(c)));
        if joined && (is_month(&tokens[a].1) && is_day(&tokens[b].1) || is_day(&tokens[a].1) && is_month(&tokens[b].1)) {
            tokens[a].1 = "*".into();
            tokens[b].1 = "*".into();
        }
    }
}

/// The words of `text`: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 2)
}

/// `text` as alternating runs: (true, word) of letters and digits, (false, anything else).
fn tokens(text: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for c in text.chars() {
        let is_word = c.is_alphanumeric();
        match out.last_mut() {
            Some((w, run)) if *w == is_word => run.push(c),
            _ => out.push((is_word, c.to_string())),
        }
    }
    out
}

/// `text` with each run of four or more digits (groups joined by one `-`, `.`, `/` or `:`) as `*`.
fn star_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, and separators each followed by a digit.
        let (start, mut digits) = (i, 0);
        while i < chars.len() {
            if chars[i].is_ascii_digit() {
                digits += 1;
                i += 1;
            } else if "-./:".contains(chars[i]) && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                i += 1;
            } else {
                break;
            }
        }
        if digits >= 4 {
            out.push('*');
        } else {
            out.extend(&chars[start..i]);
        }
    }
    out
}
