//! Medians, ratios and the Markdown tables the benchmark prints.

use std::fmt::Write as _;

/// The median of some numbers (the mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// The `p`th percentile (0–100) of some numbers, by nearest rank.
pub(crate) fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// A Markdown table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as Markdown.
    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            out.push('|');
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = w - cell.chars().count();
                // Text left, numbers right.
                if i == 0 {
                    let _ = write!(out, " {cell}{} |", " ".repeat(pad));
                } else {
                    let _ = write!(out, " {}{cell} |", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{}|", "-".repeat(w + 2));
            } else {
                let _ = write!(out, "{}:|", "-".repeat(w + 1));
            }
        }
        out.push('\n');
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }
}

/// A number with thousands separators.
pub(crate) fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `value` with `decimals`, or `–` when missing.
pub(crate) fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

/// A ratio `a / b` such as `1.23×`, or `–`.
pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

/// One target: what it compares, the value, the bound, met or not.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// What is compared.
    pub(crate) what: String,
    /// The measured value, if both sides were measured.
    pub(crate) value: Option<f64>,
    /// The bound.
    pub(crate) bound: f64,
    /// True when the value must be at most the bound (else at least).
    pub(crate) at_most: bool,
    /// The value's unit (`×`, `KiB`).
    pub(crate) unit: &'static str,
}

impl Target {
    /// A line for the report.
    pub(crate) fn line(&self) -> String {
        let cmp = if self.at_most { "≤" } else { "≥" };
        match self.value {
            None => format!(
                "- {}: not measured (target {cmp} {}{})",
                self.what, self.bound, self.unit
            ),
            Some(v) => {
                let met = if self.at_most {
                    v <= self.bound
                } else {
                    v >= self.bound
                };
                format!(
                    "- {}: {v:.2}{} (target {cmp} {}{}): {}",
                    self.what,
                    self.unit,
                    self.bound,
                    self.unit,
                    if met { "met" } else { "**missed**" }
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians_and_numbers() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(super::median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(super::median(&[]), None);
        assert_eq!(super::thousands(1234567.4), "1,234,567");
        assert_eq!(super::thousands(999.0), "999");
        assert_eq!(super::ratio(Some(3.0), Some(2.0)), "1.50×");
    }
}
