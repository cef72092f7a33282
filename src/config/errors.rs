//! Every bad flag found in one pass: an operator fixes them all at once rather than one per start.

use std::fmt;

/// The errors found while reading the configuration; empty when it is good.
#[derive(Debug, Default)]
pub struct ConfigErrors(Vec<String>);

impl ConfigErrors {
    /// The value of `result`, or `None` with its error kept, so that the caller goes on to check
    /// the rest.
    pub fn take<T, E: fmt::Display>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e.to_string());
                None
            }
        }
    }

    /// The value of `result`, or `None` with all its errors kept.
    pub fn take_all<T>(&mut self, result: Result<T, ConfigErrors>) -> Option<T> {
        result.map_err(|e| self.0.extend(e.0)).ok()
    }

    /// Keeps an error found without a `Result`.
    pub fn push(&mut self, error: impl Into<String>) {
        self.0.push(error.into());
    }

    /// The errors, in the order they were found.
    pub fn messages(&self) -> &[String] {
        &self.0
    }

    /// `Ok` with what `build` makes when nothing was wrong. `build` runs only then, so it may
    /// unwrap what [`take`](Self::take) returned.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ConfigErrors> {
        if !self.0.is_empty() {
            return Err(self);
        }
        // A `None` with no error kept is a caller's slip; it still must not pass as success.
        build().ok_or_else(|| ConfigErrors(vec!["configuration is incomplete".to_owned()]))
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "{} configuration errors: {}", many.len(), many.join("; ")),
        }
    }
}

impl std::error::Error for ConfigErrors {}

impl From<String> for ConfigErrors {
    fn from(error: String) -> Self {
        ConfigErrors(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigErrors;

    #[test]
    fn one_error_reads_alone_and_several_are_counted_and_listed() {
        let mut errors = ConfigErrors::default();
        assert_eq!(errors.take(Ok::<_, String>(3)), Some(3));
        assert_eq!(errors.take(Err::<u8, _>("first is bad")), None);
        assert_eq!(errors.to_string(), "first is bad");
        errors.push("second is bad");
        assert_eq!(errors.to_string(), "2 configuration errors: first is bad; second is bad");
        let mut outer = ConfigErrors::default();
        assert_eq!(outer.take_all(Err::<(), _>(errors)), None);
        outer.push("third is bad");
        assert_eq!(outer.messages(), ["first is bad", "second is bad", "third is bad"]);
        assert!(outer.finish(|| Some(())).is_err());
    }

    #[test]
    fn nothing_wrong_builds_the_value() {
        let errors = ConfigErrors::default();
        assert_eq!(errors.finish(|| Some(7)).unwrap(), 7);
        assert_eq!(ConfigErrors::default().finish(|| None::<u8>).unwrap_err().to_string(), "configuration is incomplete");
    }
}
