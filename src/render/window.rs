//! The VOI LUT functions of DICOM PS3.3 C.11.2.1.2, mapping modality values to 0..=255.

/// Which VOI LUT function a window uses (DICOMweb names in URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VoiFunction {
    /// `LINEAR`, the default: C.11.2.1.2.1.
    #[default]
    Linear,
    /// `LINEAR_EXACT`: C.11.2.1.3.2.
    LinearExact,
    /// `SIGMOID`: C.11.2.1.3.1.
    Sigmoid,
}

impl VoiFunction {
    /// The DICOMweb name, as in a `window=` query.
    pub fn name(self) -> &'static str {
        match self {
            VoiFunction::Linear => "linear",
            VoiFunction::LinearExact => "linear-exact",
            VoiFunction::Sigmoid => "sigmoid",
        }
    }
}

/// A window: centre and width in modality units, and the function between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Window Center.
    pub center: f64,
    /// Window Width.
    pub width: f64,
    /// VOI LUT Function.
    pub function: VoiFunction,
}

const Y_MAX: f64 = 255.0;

impl Window {
    /// A window, if its values are finite and its width is valid for the function
    /// (at least 1 for `LINEAR`, above 0 otherwise).
    pub fn new(center: f64, width: f64, function: VoiFunction) -> Option<Self> {
        let min_ok = match function {
            VoiFunction::Linear => width >= 1.0,
            VoiFunction::LinearExact | VoiFunction::Sigmoid => width > 0.0,
        };
        (center.is_finite() && width.is_finite() && min_ok).then_some(Window { center, width, function })
    }

    /// The window that spans `min..=max` exactly, for images that declare none.
    pub fn spanning(min: f64, max: f64) -> Self {
        let width = (max - min).max(1.0);
        Window { center: min + (max - min) / 2.0, width, function: VoiFunction::LinearExact }
    }

    /// Output level in 0.0..=255.0 for the modality value `x`.
    pub fn apply(&self, x: f64) -> f64 {
        let (c, w) = (self.center, self.width);
        match self.function {
            VoiFunction::Linear => {
                let low = c - 0.5 - (w - 1.0) / 2.0;
                let high = c - 0.5 + (w - 1.0) / 2.0;
                if x <= low {
                    0.0
                } else if x > high {
                    Y_MAX
                } else {
                    ((x - (c - 0.5)) / (w - 1.0) + 0.5) * Y_MAX
                }
            }
            VoiFunction::LinearExact => {
                if x <= c - w / 2.0 {
                    0.0
                } else if x > c + w / 2.0 {
                    Y_MAX
                } else {
                    ((x - c) / w + 0.5) * Y_MAX
                }
            }
            VoiFunction::Sigmoid => Y_MAX / (1.0 + (-4.0 * (x - c) / w).exp()),
        }
    }

    /// Output level rounded to a byte.
    pub fn level(&self, x: f64) -> u8 {
        // apply() stays within 0..=255, so the cast only rounds.
        self.apply(x).round() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_hand_computed_values() {
        // c=40, w=400: low = 40-0.5-199.5 = -160, high = 40-0.5+199.5 = 239.
        let w = Window::new(40.0, 400.0, VoiFunction::Linear).unwrap();
        assert_eq!(w.apply(-160.0), 0.0);
        assert_eq!(w.apply(-1000.0), 0.0);
        assert_eq!(w.apply(239.5), 255.0);
        // x = 39.5 (the centre of the ramp) -> ((0)/399 + 0.5) * 255 = 127.5
        assert!((w.apply(39.5) - 127.5).abs() < 1e-9);
        // x = 100 -> ((100 - 39.5)/399 + 0.5) * 255 = 166.165...
        assert!((w.apply(100.0) - 166.165_413_533_834_6).abs() < 1e-9);
        assert_eq!(w.level(100.0), 166);
    }

    #[test]
    fn linear_width_one_is_a_threshold() {
        let w = Window::new(10.0, 1.0, VoiFunction::Linear).unwrap();
        assert_eq!(w.apply(9.5), 0.0);
        assert_eq!(w.apply(9.6), 255.0);
        assert!(Window::new(10.0, 0.5, VoiFunction::Linear).is_none());
    }

    #[test]
    fn linear_exact_matches_hand_computed_values() {
        let w = Window::new(0.0, 100.0, VoiFunction::LinearExact).unwrap();
        assert_eq!(w.apply(-50.0), 0.0);
        assert_eq!(w.apply(50.0), 255.0);
        assert_eq!(w.apply(50.01), 255.0);
        assert_eq!(w.apply(0.0), 127.5);
        assert_eq!(w.apply(25.0), 191.25);
        assert!(Window::new(0.0, 0.0, VoiFunction::LinearExact).is_none());
        assert!(Window::new(0.0, 0.5, VoiFunction::LinearExact).is_some());
    }

    #[test]
    fn sigmoid_matches_hand_computed_values() {
        let w = Window::new(100.0, 200.0, VoiFunction::Sigmoid).unwrap();
        assert_eq!(w.apply(100.0), 127.5);
        // x = 150: 255 / (1 + e^-1) = 186.39...
        assert!((w.apply(150.0) - 186.419_937_550_651).abs() < 1e-6);
        assert!((w.apply(50.0) - (255.0 - 186.419_937_550_651)).abs() < 1e-6);
    }

    #[test]
    fn spanning_maps_ends_to_black_and_white() {
        let w = Window::spanning(-1024.0, 3071.0);
        assert_eq!(w.level(-1024.0), 0);
        assert_eq!(w.level(3071.0), 255);
        assert_eq!(Window::spanning(5.0, 5.0).level(5.0), 128);
    }
}
