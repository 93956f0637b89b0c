//! How an input that does not decode is described: in TSRPC's own words,
//! which TSRPC clients show and compare.
//!
//! - Text that is not JSON reads as JavaScript's `JSON.parse` (V8, as in
//!   Node and Chromium) words it, after TSRPC's `Input is not a valid JSON
//!   string: ` ([`not_json`]).
//! - JSON of the wrong shape reads as TSRPC's validator words it:
//!   ``Property `user.tags.1`: Expected type to be `string`, actually
//!   `number`.``, ``Missing required property `name`.`` ([`misfit`]).
//!   What the validator has no words for keeps serde's text, under the
//!   same `Property` prefix.
//!
//! Both run only once decoding has failed.

use std::fmt::Write as _;

/// TSRPC's prefix for a body or frame that is not JSON.
pub(super) const NOT_JSON: &str = "Input is not a valid JSON string: ";

/// One step of the path to the value that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// A struct field, map key or enum variant.
    Key(String),
    /// An array or tuple element.
    Index(usize),
}

/// The steps of a serde_path_to_error path.
pub(super) fn steps(path: &serde_path_to_error::Path) -> Vec<Step> {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|segment| match segment {
            Segment::Seq { index } => Step::Index(*index),
            Segment::Map { key } => Step::Key(key.clone()),
            Segment::Enum { variant } => Step::Key(variant.clone()),
            Segment::Unknown => Step::Key("?".to_owned()),
        })
        .collect()
}

/// `a.b[1]`: the path as tsrpc's `path` error property names it.
pub(super) fn path_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Index(i) => {
                let _ = write!(text, "[{i}]");
            }
        }
    }
    text
}

/// `a.b.1`: the path as TSRPC's validator words it.
fn tsrpc_path(steps: &[Step]) -> String {
    let mut text = String::new();
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        match step {
            Step::Key(key) => text.push_str(key),
            Step::Index(index) => {
                let _ = write!(text, "{index}");
            }
        }
    }
    text
}

/// The message for a value at `steps` that did not fit its type, from
/// serde's description of the failure (`invalid type: integer \`5\`,
/// expected a string`, without serde_json's position).
pub(super) fn misfit(steps: &[Step], serde: &str) -> String {
    let property = |steps: &[Step], text: String| {
        if steps.is_empty() {
            text
        } else {
            format!("Property `{}`: {text}", tsrpc_path(steps))
        }
    };
    if let Some(field) = between(serde, "missing field `", "`") {
        return property(steps, format!("Missing required property `{field}`."));
    }
    if let Some(rest) = serde.strip_prefix("invalid type: ") {
        // The expected type comes last, and the actual value (a peer's
        // string, maybe) before it: split at the last separator.
        let (actual, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
        // TSRPC reads `null` as an absent property.
        if actual == "null"
            && let Some((Step::Key(field), parent)) = steps.split_last()
        {
            return property(parent, format!("Missing required property `{field}`."));
        }
        if let Some(scalar) = scalar(expected)
            && let Some(number) = actual.strip_prefix("floating point ")
            && let Some(value) = between(number, "`", "`")
        {
            return property(steps, format!("`{value}` is not a valid `{scalar}`."));
        }
        if let (Some(actual), Some(expected)) = (js_type(actual), ts_type(expected)) {
            return property(
                steps,
                format!("Expected type to be `{expected}`, actually `{actual}`."),
            );
        }
    }
    // A negative for an unsigned type is TSRPC's invalid scalar; a value
    // out of a Rust type's range is not (TSRPC's integers have none), and
    // keeps serde's text.
    if let Some(rest) = serde.strip_prefix("invalid value: integer `")
        && let Some((value, expected)) = rest.rsplit_once("`, expected ")
        && let Some(scalar @ "uint") = scalar(expected)
        && value.starts_with('-')
    {
        return property(steps, format!("`{value}` is not a valid `{scalar}`."));
    }
    property(steps, serde.to_owned())
}

/// The text between `start` and the next `end`, when `text` begins so.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let rest = text.strip_prefix(start)?;
    Some(&rest[..rest.find(end)?])
}

/// TSRPC's name of the type of a JSON value, from serde_json's wording.
fn js_type(actual: &str) -> Option<&'static str> {
    Some(match actual.split(' ').next()? {
        "null" => "null",
        "boolean" => "boolean",
        "integer" | "floating" => "number",
        "string" => "string",
        "sequence" => "Array",
        "map" => "Object",
        _ => return None,
    })
}

/// TSRPC's name of an expected type, from the `expecting` text of the
/// Rust type's deserializer.
fn ts_type(expected: &str) -> Option<&'static str> {
    if scalar(expected).is_some() || expected == "f32" || expected == "f64" {
        return Some("number");
    }
    let starts = |prefix: &str| expected.starts_with(prefix);
    Some(
        if starts("a string") || starts("a borrowed string") || starts("a character") {
            "string"
        } else if starts("a boolean") {
            "boolean"
        } else if starts("a sequence")
            || starts("a tuple")
            || starts("tuple struct")
            || starts("an array")
        {
            "Array"
        } else if starts("struct ") || starts("a map") {
            "Object"
        } else if starts("an ISO-8601 date") {
            "Date"
        } else if starts("base64-encoded binary") {
            "Uint8Array"
        } else {
            return None;
        },
    )
}

/// TSRPC's scalar type for a Rust integer type.
fn scalar(expected: &str) -> Option<&'static str> {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => Some("uint"),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => Some("int"),
        _ => None,
    }
}

/// How `JSON.parse` (V8) describes `text`, or `None` when it parses.
///
/// A scan over the text that follows V8's JSON parser to the character
/// where it stops, and words the failure with V8's message templates.
/// JavaScript counts positions and excerpts in UTF-16 code units: the scan
/// walks the UTF-8 bytes (JSON's syntax is ASCII) and converts only the
/// position and the excerpt it reports, so a large body costs no copy.
pub(super) fn not_json(text: &str) -> Option<String> {
    let failure = Scanner {
        s: text.as_bytes(),
        i: 0,
    }
    .document()
    .err()?;
    Some(format!("{NOT_JSON}{}", failure.message(text)))
}

/// Where (a byte offset, on a character boundary) and why V8's JSON
/// parser stops.
struct Failure {
    at: usize,
    why: Why,
}

enum Why {
    /// A token that cannot come here; V8 words it by the token.
    Unexpected,
    /// One of V8's specific messages.
    Says(&'static str),
}

/// The length of `text` in UTF-16 code units, as JavaScript counts.
fn units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

impl Failure {
    fn message(&self, text: &str) -> String {
        let at = units(&text[..self.at]);
        if let Why::Says(says) = self.why {
            return format!("{says} at position {at}");
        }
        let Some(c) = text[self.at..].chars().next() else {
            return "Unexpected end of JSON input".to_owned();
        };
        if c.is_ascii() {
            match token(c as u8) {
                Token::Number => return format!("Unexpected number in JSON at position {at}"),
                Token::String => return format!("Unexpected string in JSON at position {at}"),
                _ => {}
            }
        }
        if ["[object Object]", "undefined", "Infinity", "NaN"].contains(&text) {
            return format!("\"{text}\" is not valid JSON");
        }
        // V8 quotes the whole text when short, else ten units either side.
        const CONTEXT: usize = 10;
        let len = units(text);
        if len < 2 * CONTEXT + 1 {
            return format!("Unexpected token '{c}', \"{text}\" is not valid JSON");
        }
        // Ten units either side lie within 40 bytes either side: convert
        // only that window.
        let from = floor_boundary(text, self.at.saturating_sub(4 * CONTEXT));
        let to = ceil_boundary(text, (self.at + 4 * CONTEXT).min(text.len()));
        let window: Vec<u16> = text[from..to].encode_utf16().collect();
        let here = units(&text[from..self.at]);
        let cut = |a: usize, b: usize| String::from_utf16_lossy(&window[a..b.min(window.len())]);
        if at < CONTEXT {
            format!(
                "Unexpected token '{c}', \"{}\"... is not valid JSON",
                cut(here - at, here + CONTEXT)
            )
        } else if at < len - CONTEXT {
            format!(
                "Unexpected token '{c}', ...\"{}\"... is not valid JSON",
                cut(here - CONTEXT, here + CONTEXT)
            )
        } else {
            format!(
                "Unexpected token '{c}', ...\"{}\" is not valid JSON",
                cut(here - CONTEXT, window.len())
            )
        }
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Number,
    String,
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    Colon,
    Comma,
    Literal(&'static str),
    Illegal,
}

/// V8's token for the (ASCII) character a token starts with.
fn token(c: u8) -> Token {
    match c {
        0x30..=0x39 | 0x2d => Token::Number,
        0x22 => Token::String,
        0x7b => Token::LBrace,
        0x7d => Token::RBrace,
        0x5b => Token::LBrack,
        0x5d => Token::RBrack,
        0x3a => Token::Colon,
        0x2c => Token::Comma,
        0x74 => Token::Literal("true"),
        0x66 => Token::Literal("false"),
        0x6e => Token::Literal("null"),
        _ => Token::Illegal,
    }
}

struct Scanner<'s> {
    /// The text's UTF-8 bytes.
    s: &'s [u8],
    i: usize,
}

/// A container the scanner is inside.
enum Open {
    Object,
    Array,
}

impl Scanner<'_> {
    fn fail<T>(&self, at: usize, why: Why) -> Result<T, Failure> {
        Err(Failure { at, why })
    }

    fn skip_space(&mut self) {
        while let Some(0x20 | 0x09 | 0x0a | 0x0d) = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips whitespace and consumes `expected`, or fails with `says`.
    fn expect(&mut self, expected: u8, says: &'static str) -> Result<(), Failure> {
        self.skip_space();
        if self.peek() == Some(expected) {
            self.i += 1;
            Ok(())
        } else {
            self.fail(self.i, Why::Says(says))
        }
    }

    fn document(mut self) -> Result<(), Failure> {
        self.value()?;
        self.skip_space();
        if self.i < self.s.len() {
            return self.fail(
                self.i,
                Why::Says("Unexpected non-whitespace character after JSON"),
            );
        }
        Ok(())
    }

    /// One value, containers included (without recursion).
    fn value(&mut self) -> Result<(), Failure> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            // A value starts here.
            self.skip_space();
            let Some(c) = self.peek() else {
                return self.fail(self.i, Why::Unexpected);
            };
            match token(c) {
                Token::String => self.string()?,
                Token::Number => self.number()?,
                Token::Literal(word) => self.literal(word)?,
                Token::LBrace => {
                    self.i += 1;
                    self.skip_space();
                    if self.peek() == Some(0x7d) {
                        self.i += 1;
                    } else {
                        self.key("Expected property name or '}' in JSON", true)?;
                        open.push(Open::Object);
                        continue;
                    }
                }
                Token::LBrack => {
                    self.i += 1;
                    self.skip_space();
                    if self.peek() == Some(0x5d) {
                        self.i += 1;
                    } else {
                        open.push(Open::Array);
                        continue;
                    }
                }
                _ => return self.fail(self.i, Why::Unexpected),
            }
            // A value ended: go on in the containers it closes.
            loop {
                let Some(container) = open.last() else {
                    return Ok(());
                };
                self.skip_space();
                let next = self.peek();
                match container {
                    Open::Object => {
                        if next == Some(0x2c) {
                            self.i += 1;
                            self.key("Expected double-quoted property name in JSON", false)?;
                            break;
                        }
                        self.expect(0x7d, "Expected ',' or '}' after property value in JSON")?;
                    }
                    Open::Array => {
                        if next == Some(0x2c) {
                            self.i += 1;
                            break;
                        }
                        self.expect(0x5d, "Expected ',' or ']' after array element in JSON")?;
                    }
                }
                open.pop();
            }
        }
    }

    /// A property name and its colon. V8 has words for a missing colon
    /// after the first name only (`first`); after others, it names the
    /// token it found.
    fn key(&mut self, missing: &'static str, first: bool) -> Result<(), Failure> {
        self.skip_space();
        if self.peek() != Some(0x22) {
            return self.fail(self.i, Why::Says(missing));
        }
        self.string()?;
        if first {
            return self.expect(0x3a, "Expected ':' after property name in JSON");
        }
        self.skip_space();
        if self.peek() != Some(0x3a) {
            return self.fail(self.i, Why::Unexpected);
        }
        self.i += 1;
        Ok(())
    }

    fn string(&mut self) -> Result<(), Failure> {
        self.i += 1;
        loop {
            let Some(c) = self.peek() else {
                return self.fail(self.i, Why::Says("Unterminated string in JSON"));
            };
            match c {
                0x22 => {
                    self.i += 1;
                    return Ok(());
                }
                0x5c => {
                    self.i += 1;
                    match self.peek() {
                        None => return self.fail(self.i, Why::Unexpected),
                        Some(0x22 | 0x5c | 0x2f | 0x62 | 0x66 | 0x6e | 0x72 | 0x74) => self.i += 1,
                        Some(0x75) => {
                            for _ in 0..4 {
                                self.i += 1;
                                if !self.peek().is_some_and(|h| h.is_ascii_hexdigit()) {
                                    return self
                                        .fail(self.i, Why::Says("Bad Unicode escape in JSON"));
                                }
                            }
                            self.i += 1;
                        }
                        // V8 names characters beyond Latin-1 as tokens: in
                        // UTF-8, those start with a byte above 0xC3.
                        Some(0xc4..) => return self.fail(self.i, Why::Unexpected),
                        Some(_) => {
                            return self.fail(self.i, Why::Says("Bad escaped character in JSON"));
                        }
                    }
                }
                0..0x20 => {
                    return self.fail(
                        self.i,
                        Why::Says("Bad control character in string literal in JSON"),
                    );
                }
                _ => self.i += 1,
            }
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| (0x30..=0x39).contains(&c)) {
            self.i += 1;
        }
    }

    fn number(&mut self) -> Result<(), Failure> {
        let is_digit = |c: Option<u8>| c.is_some_and(|c| (0x30..=0x39).contains(&c));
        if self.peek() == Some(0x2d) {
            self.i += 1;
            if !is_digit(self.peek()) {
                return self.fail(self.i, Why::Says("No number after minus sign in JSON"));
            }
        }
        if self.peek() == Some(0x30) {
            self.i += 1;
            if is_digit(self.peek()) {
                return self.fail(self.i, Why::Unexpected);
            }
        } else {
            self.digits();
        }
        if self.peek() == Some(0x2e) {
            self.i += 1;
            if !is_digit(self.peek()) {
                return self.fail(self.i, Why::Says("Unterminated fractional number in JSON"));
            }
            self.digits();
        }
        if let Some(0x65 | 0x45) = self.peek() {
            self.i += 1;
            if let Some(0x2b | 0x2d) = self.peek() {
                self.i += 1;
            }
            if !is_digit(self.peek()) {
                return self.fail(
                    self.i,
                    Why::Says("Exponent part is missing a number in JSON"),
                );
            }
            self.digits();
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Failure> {
        for expected in word.bytes().skip(1) {
            self.i += 1;
            match self.peek() {
                Some(c) if c == expected => {}
                _ => return self.fail(self.i, Why::Unexpected),
            }
        }
        self.i += 1;
        Ok(())
    }
}
