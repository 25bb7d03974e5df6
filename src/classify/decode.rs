//! What a classifier's output row means: the most likely of its labels
//! (gender, vehicle colour), or a value read from bins (age) with the band
//! it falls in.

/// How a row of model outputs becomes an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoding {
    /// One score per label; the attribute is the most likely label.
    Labels,
    /// One probability per bin, bin `i` standing for `values[i]` (ages 0 to
    /// 80, say): the attribute's value is the expected value, its label the
    /// band the value falls in, or the value itself without bands.
    Value { values: Vec<f32>, bands: Vec<Band> },
}

/// A named range of values (`20-29`, `70+`), ends included.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub low: f32,
    pub high: f32,
    pub label: String,
}

impl Band {
    /// Whether `value` belongs here: bands of whole numbers (`20-29`) meet
    /// halfway between their ends (29.5), so every value has one.
    fn holds(&self, value: f32) -> bool {
        value >= self.low - 0.5 && value < self.high + 0.5
    }
}

/// Bands from `0-2,3-9,10-19,70+`: ascending, not overlapping.
pub fn parse_bands(spec: &str) -> Result<Vec<Band>, String> {
    let mut bands: Vec<Band> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("band \"{part}\": \"{s}\" is not a number"))
        };
        let (low, high) = match (part.strip_suffix('+'), part.split_once('-')) {
            (Some(low), _) => (number(low)?, f32::INFINITY),
            (None, Some((low, high))) => (number(low)?, number(high)?),
            (None, None) => {
                let v = number(part)?;
                (v, v)
            }
        };
        if high < low {
            return Err(format!("band \"{part}\" ends before it starts"));
        }
        if let Some(last) = bands.last()
            && low <= last.high
        {
            return Err(format!(
                "band \"{part}\" overlaps or precedes \"{}\"",
                last.label
            ));
        }
        bands.push(Band {
            low,
            high,
            label: part.to_string(),
        });
    }
    Ok(bands)
}

/// A row of model outputs as probabilities: as it is when it already is a
/// distribution (non-negative, summing to 1), else its softmax (logits).
pub fn to_probabilities(row: &[f32], out: &mut Vec<f32>) {
    out.clear();
    let sum: f32 = row.iter().sum();
    if row.iter().all(|v| (0.0..=1.0).contains(v)) && (sum - 1.0).abs() < 1e-3 {
        out.extend_from_slice(row);
        return;
    }
    // A value that is not a number counts as no evidence for its class.
    let finite = |v: f32| if v.is_finite() { v } else { f32::NEG_INFINITY };
    let max = row
        .iter()
        .map(|&v| finite(v))
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        // Nothing to read: every class equally likely.
        out.resize(row.len(), 1.0 / row.len().max(1) as f32);
        return;
    }
    out.extend(row.iter().map(|&v| (finite(v) - max).exp()));
    let total: f32 = out.iter().sum();
    out.iter_mut().for_each(|v| *v /= total);
}

/// What one distribution says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The winning label or band (an index into [`Decoding::names`]);
    /// `None` for a value without bands.
    pub class: Option<usize>,
    /// The winner's probability, or the probability of the band.
    pub confidence: f32,
    pub value: Option<f32>,
}

impl Decoding {
    /// Outputs per row the model must have with `labels` labels.
    pub fn outputs(&self, labels: usize) -> usize {
        match self {
            Decoding::Labels => labels,
            Decoding::Value { values, .. } => values.len(),
        }
    }

    /// The labels an attribute may carry, by class: the model's labels, or
    /// the bands.
    pub fn names(&self, labels: &[String]) -> Vec<String> {
        match self {
            Decoding::Labels => labels.to_vec(),
            Decoding::Value { bands, .. } => bands.iter().map(|b| b.label.clone()).collect(),
        }
    }

    /// Reads probabilities `p` (one per output).
    pub fn read(&self, p: &[f32]) -> Reading {
        match self {
            Decoding::Labels => {
                let (class, confidence) =
                    p.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                            if v > best.1 { (i, v) } else { best }
                        });
                Reading {
                    class: Some(class),
                    confidence: confidence.clamp(0.0, 1.0),
                    value: None,
                }
            }
            Decoding::Value { values, bands } => {
                let total: f32 = p.iter().sum();
                let value = if total > 0.0 {
                    p.iter().zip(values).map(|(p, v)| p * v).sum::<f32>() / total
                } else {
                    f32::NAN
                };
                if !value.is_finite() {
                    return Reading {
                        class: None,
                        confidence: 0.0,
                        value: None,
                    };
                }
                let band = bands.iter().position(|b| b.holds(value));
                let confidence = match band {
                    Some(b) => {
                        let mass: f32 = p
                            .iter()
                            .zip(values)
                            .filter(|(_, v)| bands[b].holds(**v))
                            .map(|(p, _)| p)
                            .sum();
                        mass / total
                    }
                    None => 1.0,
                };
                Reading {
                    class: band,
                    confidence: confidence.clamp(0.0, 1.0),
                    value: Some(value),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_parse_and_refuse_what_does_not_read() {
        let bands = parse_bands("0-2, 3-9,10-19,70+").unwrap();
        assert_eq!(bands.len(), 4);
        assert_eq!((bands[1].low, bands[1].high), (3.0, 9.0));
        assert_eq!(bands[3].high, f32::INFINITY);
        assert_eq!(bands[3].label, "70+");
        assert!(parse_bands("").unwrap().is_empty());
        for bad in ["a-b", "9-3", "0-9,5-12", "10-19,0-9", "1-2-3"] {
            assert!(parse_bands(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn probabilities_pass_and_logits_are_softmaxed() {
        let mut out = Vec::new();
        to_probabilities(&[0.25, 0.75], &mut out);
        assert_eq!(out, vec![0.25, 0.75]);
        to_probabilities(&[2.0, 0.0], &mut out);
        assert!((out[0] - 0.880_797).abs() < 1e-5 && (out[0] + out[1] - 1.0).abs() < 1e-6);
        to_probabilities(&[f32::NAN, 1.0], &mut out);
        assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    }

    #[test]
    fn labels_read_as_the_most_likely() {
        let r = Decoding::Labels.read(&[0.1, 0.7, 0.2]);
        assert_eq!((r.class, r.value), (Some(1), None));
        assert!((r.confidence - 0.7).abs() < 1e-6);
    }

    #[test]
    fn values_read_as_the_expected_value_with_its_band() {
        let decoding = Decoding::Value {
            values: (0..=80).map(|v| v as f32).collect(),
            bands: parse_bands("0-19,20-29,30-39,40+").unwrap(),
        };
        let mut p = vec![0.0; 81];
        p[28] = 0.5;
        p[32] = 0.5;
        let r = decoding.read(&p);
        assert!((r.value.unwrap() - 30.0).abs() < 1e-4);
        assert_eq!(r.class, Some(2), "30 is in 30-39");
        assert!(
            (r.confidence - 0.5).abs() < 1e-6,
            "half the mass is in 30-39"
        );
        // Between two bands' ends: 29.6 rounds into 30-39, 29.4 into 20-29.
        let mut p = vec![0.0; 81];
        p[29] = 0.6;
        p[30] = 0.4;
        assert_eq!(decoding.read(&p).class, Some(1));
        // Without bands, the value alone.
        let plain = Decoding::Value {
            values: vec![10.0, 20.0],
            bands: Vec::new(),
        };
        let r = plain.read(&[0.5, 0.5]);
        assert_eq!((r.class, r.value), (None, Some(15.0)));
        // An empty distribution reads nothing.
        assert_eq!(plain.read(&[0.0, 0.0]).value, None);
    }
}
