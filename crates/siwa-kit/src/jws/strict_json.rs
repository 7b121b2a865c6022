//! A strict JSON (RFC 8259) checker for JWS headers and payloads.
//!
//! serde_json alone is too lenient for tokens: it keeps the last of two members
//! with the same name (so two parsers can read two different claim sets out of
//! one signed payload) and allows 128 levels of nesting. This pass runs first,
//! without recursion and without building values, and rejects:
//! - bytes that are not UTF-8 (std's check: no overlongs, no surrogates), and
//!   `\u` escapes that are lone surrogates;
//! - anything outside the RFC 8259 grammar (trailing commas, comments, `NaN`,
//!   leading zeros, raw control characters in strings, trailing data);
//! - nesting deeper than [`MAX_DEPTH`];
//! - an object that names a member twice (compared after unescaping);
//! - a text whose top level is not an object.

use std::borrow::Cow;

/// Deepest nesting of objects and arrays accepted (the top-level object is 1).
pub const MAX_DEPTH: usize = 32;

/// What is wrong with a JSON text.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Problem {
    /// Not UTF-8 at this byte offset (or an escape that is a lone surrogate).
    Utf8 { offset: usize },
    /// Outside the grammar at this offset.
    Syntax {
        offset: usize,
        expected: &'static str,
    },
    /// More than [`MAX_DEPTH`] levels.
    TooDeep,
    /// A member name seen twice in one object (already unescaped, possibly truncated).
    Duplicate { name: String },
    /// The top level is not an object.
    NotObject,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Utf8 { offset } => write!(f, "not valid UTF-8 at byte {offset}"),
            Self::Syntax { offset, expected } => write!(f, "expected {expected} at byte {offset}"),
            Self::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            Self::Duplicate { name } => write!(f, "names the member {name:?} twice"),
            Self::NotObject => f.write_str("not a JSON object"),
        }
    }
}

/// Checks `bytes` and returns them as text.
pub(crate) fn check(bytes: &[u8]) -> Result<&str, Problem> {
    check_object(bytes, &mut Members::default())
}

/// Checks `bytes` and returns them as text, filling `members` with the spans
/// of the top-level object's members, so that reading them needs no second
/// parser.
pub(crate) fn check_object<'b>(bytes: &'b [u8], members: &mut Members) -> Result<&'b str, Problem> {
    if u32::try_from(bytes.len()).is_err() {
        return Err(Problem::Syntax {
            offset: 0,
            expected: "a text shorter than 4 GiB",
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Problem::Utf8 {
        offset: e.valid_up_to(),
    })?;
    let mut scanner = Scanner {
        bytes,
        at: 0,
        keys: Keys::default(),
        frames: Frames::default(),
        members,
        pending: None,
        last_string_escaped: false,
    };
    scanner.members.clear();
    scanner.document()?;
    Ok(text)
}

/// One member of the top-level object: byte ranges of its name (between the
/// quotes) and of its value (as written).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Member {
    pub(crate) name_start: u32,
    pub(crate) name_end: u32,
    /// Whether the name holds escape sequences.
    pub(crate) name_escaped: bool,
    pub(crate) value_start: u32,
    pub(crate) value_end: u32,
    /// Whether the value, when a string, holds escape sequences.
    pub(crate) value_escaped: bool,
}

impl Member {
    /// The name, unescaped.
    pub(crate) fn name<'t>(&self, text: &'t str) -> Cow<'t, [u8]> {
        let raw = &text.as_bytes()[self.name_start as usize..self.name_end as usize];
        if self.name_escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// The value as written.
    pub(crate) fn value<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.value_start as usize..self.value_end as usize)
            .unwrap_or_default()
    }
}

/// The members of the top-level object, in order; the first
/// [`INLINE_MEMBERS`] without allocating.
#[derive(Debug, Default)]
pub(crate) struct Members {
    inline: [Member; INLINE_MEMBERS],
    spill: Vec<Member>,
    len: usize,
}

const INLINE_MEMBERS: usize = 24;

impl Members {
    fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    fn push(&mut self, member: Member) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = member,
            None => self.spill.push(member),
        }
        self.len += 1;
    }

    /// Every member, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.inline[..self.len.min(INLINE_MEMBERS)]
            .iter()
            .chain(&self.spill)
    }
}

/// An open object or array.
#[derive(Clone, Copy, Default)]
struct Frame {
    object: bool,
    /// Index into `Scanner::keys` of this object's first member name.
    keys_from: u32,
}

/// A member name as it appears in the text (between the quotes).
#[derive(Clone, Copy, Default)]
struct Key {
    start: u32,
    end: u32,
    escaped: bool,
}

struct Scanner<'a, 'm> {
    bytes: &'a [u8],
    at: usize,
    keys: Keys,
    frames: Frames,
    members: &'m mut Members,
    /// A top-level member whose value is being read: its name, and where
    /// the value starts.
    pending: Option<(Key, u32)>,
    /// Whether the last string read held escapes.
    last_string_escaped: bool,
}

/// The open containers: at most [`MAX_DEPTH`], so no allocation.
struct Frames {
    items: [Frame; MAX_DEPTH],
    len: usize,
}

impl Default for Frames {
    fn default() -> Self {
        Self {
            items: [Frame::default(); MAX_DEPTH],
            len: 0,
        }
    }
}

impl Frames {
    fn push(&mut self, frame: Frame) -> Result<(), Problem> {
        let slot = self.items.get_mut(self.len).ok_or(Problem::TooDeep)?;
        *slot = frame;
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<Frame> {
        self.len = self.len.checked_sub(1)?;
        Some(self.items[self.len])
    }

    fn last(&self) -> Option<&Frame> {
        self.items[..self.len].last()
    }
}

/// Member names of the open objects: the first [`INLINE_KEYS`] without
/// allocating (Apple's payloads have about 15), the rest on the heap.
#[derive(Default)]
struct Keys {
    inline: [Key; INLINE_KEYS],
    spill: Vec<Key>,
    len: usize,
}

const INLINE_KEYS: usize = 32;

impl Keys {
    fn push(&mut self, key: Key) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = key,
            None => self.spill.push(key),
        }
        self.len += 1;
    }

    fn get(&self, index: usize) -> Key {
        match self.inline.get(index) {
            Some(key) => *key,
            None => self.spill[index - INLINE_KEYS],
        }
    }

    fn truncate(&mut self, len: usize) {
        self.len = len;
        self.spill.truncate(len.saturating_sub(INLINE_KEYS));
    }
}

enum State {
    /// A value must come next.
    Value,
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// After `{`: a member name or `}`.
    KeyOrClose,
    /// After `,` in an object: a member name.
    Key,
    /// After a value: `,`, the closer of the open container, or the end.
    AfterValue,
}

impl<'a> Scanner<'a, '_> {
    fn document(&mut self) -> Result<(), Problem> {
        self.whitespace();
        if self.peek() != Some(b'{') {
            return Err(Problem::NotObject);
        }
        let mut state = State::Value;
        loop {
            let value_end = self.at;
            self.whitespace();
            state = match state {
                State::Value => {
                    if self.frames.len == 1 {
                        if let Some((_, start)) = self.pending.as_mut() {
                            *start = self.at as u32;
                        }
                    }
                    self.value()?
                }
                State::ValueOrClose => {
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        self.frames.pop();
                        State::AfterValue
                    } else {
                        State::Value
                    }
                }
                State::KeyOrClose => {
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        self.close_object()?;
                        State::AfterValue
                    } else {
                        State::Key
                    }
                }
                State::Key => {
                    self.member_name()?;
                    if self.frames.len == 1 {
                        self.pending = Some((self.keys.get(self.keys.len - 1), 0));
                    }
                    self.whitespace();
                    self.expect(b':', "':' after a member name")?;
                    State::Value
                }
                State::AfterValue => {
                    if self.frames.len == 1 {
                        if let Some((name, start)) = self.pending.take() {
                            self.members.push(Member {
                                name_start: name.start,
                                name_end: name.end,
                                name_escaped: name.escaped,
                                value_start: start,
                                value_end: value_end as u32,
                                value_escaped: self.last_string_escaped,
                            });
                        }
                    }
                    let Some(frame) = self.frames.last() else {
                        break;
                    };
                    let object = frame.object;
                    match (self.peek(), object) {
                        (Some(b','), true) => {
                            self.at += 1;
                            State::Key
                        }
                        (Some(b','), false) => {
                            self.at += 1;
                            State::Value
                        }
                        (Some(b'}'), true) => {
                            self.at += 1;
                            self.close_object()?;
                            State::AfterValue
                        }
                        (Some(b']'), false) => {
                            self.at += 1;
                            self.frames.pop();
                            State::AfterValue
                        }
                        (_, true) => return Err(self.syntax("',' or '}'")),
                        (_, false) => return Err(self.syntax("',' or ']'")),
                    }
                }
            };
        }
        if self.at != self.bytes.len() {
            return Err(self.syntax("the end of the text"));
        }
        Ok(())
    }

    /// One value; containers are opened, scalars read whole.
    fn value(&mut self) -> Result<State, Problem> {
        match self.peek() {
            Some(b'{') => {
                self.open(true)?;
                Ok(State::KeyOrClose)
            }
            Some(b'[') => {
                self.open(false)?;
                Ok(State::ValueOrClose)
            }
            Some(b'"') => {
                self.last_string_escaped = self.string()?;
                Ok(State::AfterValue)
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Ok(State::AfterValue)
            }
            _ => Err(self.syntax("a value")),
        }
    }

    fn open(&mut self, object: bool) -> Result<(), Problem> {
        self.frames.push(Frame {
            object,
            keys_from: self.keys.len as u32,
        })?;
        self.at += 1;
        Ok(())
    }

    fn close_object(&mut self) -> Result<(), Problem> {
        let from = self.frames.pop().map_or(0, |f| f.keys_from as usize);
        let result = self.no_duplicates(from);
        self.keys.truncate(from);
        result
    }

    fn member_name(&mut self) -> Result<(), Problem> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("a member name in double quotes"));
        }
        let start = self.at + 1;
        let escaped = self.string()?;
        self.keys.push(Key {
            start: start as u32,
            end: (self.at - 1) as u32,
            escaped,
        });
        Ok(())
    }

    /// The member names from `from` on are all different.
    fn no_duplicates(&self, from: usize) -> Result<(), Problem> {
        let count = self.keys.len - from;
        if count < 2 {
            return Ok(());
        }
        let all_plain = (from..self.keys.len).all(|i| !self.keys.get(i).escaped);
        if count <= 64 && all_plain {
            // A 64-bit filter on (length, first byte, last byte): names are
            // compared only when their bit was already set.
            let mut seen = 0u64;
            for i in from..self.keys.len {
                let a = self.raw(self.keys.get(i));
                let first = a.first().copied().unwrap_or(0);
                let last = a.last().copied().unwrap_or(0);
                let bit = 1u64 << ((a.len() * 7 + usize::from(first) + usize::from(last) * 3) & 63);
                if seen & bit != 0 && (from..i).any(|j| self.raw(self.keys.get(j)) == a) {
                    return Err(duplicate(a));
                }
                seen |= bit;
            }
            return Ok(());
        }
        let mut names: Vec<Cow<'_, [u8]>> = (from..self.keys.len)
            .map(|i| self.name(self.keys.get(i)))
            .collect();
        names.sort_unstable();
        match names.windows(2).find(|pair| pair[0] == pair[1]) {
            Some(pair) => Err(duplicate(&pair[0])),
            None => Ok(()),
        }
    }

    /// A member name as written.
    fn raw(&self, key: Key) -> &'a [u8] {
        &self.bytes[key.start as usize..key.end as usize]
    }

    /// A member name, unescaped.
    fn name(&self, key: Key) -> Cow<'a, [u8]> {
        let raw = self.raw(key);
        if key.escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// A string starting at the opening quote; returns whether it had escapes.
    #[inline]
    fn string(&mut self) -> Result<bool, Problem> {
        self.at += 1;
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            self.at += rest
                .iter()
                .position(|&b| !PLAIN[usize::from(b)])
                .unwrap_or(rest.len());
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.syntax("a closing '\"'"));
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0x00..=0x1f => return Err(self.syntax("no raw control character in a string")),
                _ => self.at += 1,
            }
        }
    }

    /// One escape sequence, `self.at` on the backslash.
    fn escape(&mut self) -> Result<(), Problem> {
        self.at += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.at += 1;
                Ok(())
            }
            Some(b'u') => {
                let start = self.at - 1;
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                            return Err(Problem::Utf8 { offset: start });
                        }
                        self.at += 1;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Problem::Utf8 { offset: start });
                        }
                        Ok(())
                    }
                    0xDC00..=0xDFFF => Err(Problem::Utf8 { offset: start }),
                    _ => Ok(()),
                }
            }
            _ => Err(self.syntax("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")),
        }
    }

    /// `uXXXX`, `self.at` on the `u`.
    fn hex4(&mut self) -> Result<u16, Problem> {
        self.at += 1;
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.syntax("four hex digits after \\u"))?;
        let mut unit = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.syntax("four hex digits after \\u")),
            };
            unit = unit << 4 | u16::from(v);
        }
        self.at += 4;
        Ok(unit)
    }

    fn number(&mut self) -> Result<(), Problem> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.syntax("no leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.required_digits()?;
        }
        Ok(())
    }

    fn required_digits(&mut self) -> Result<(), Problem> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.syntax("a digit"));
        }
        self.digits();
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<State, Problem> {
        if self.bytes.get(self.at..self.at + word.len()) != Some(word) {
            return Err(self.syntax("true, false or null"));
        }
        self.at += word.len();
        Ok(State::AfterValue)
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Problem> {
        if self.peek() != Some(byte) {
            return Err(self.syntax(what));
        }
        self.at += 1;
        Ok(())
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn syntax(&self, expected: &'static str) -> Problem {
        Problem::Syntax {
            offset: self.at,
            expected,
        }
    }
}

/// Bytes that stand for themselves inside a string: all but `"`, `\\` and
/// the control characters.
static PLAIN: [bool; 256] = {
    let mut table = [true; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = false;
        i += 1;
    }
    table[b'"' as usize] = false;
    table[b'\\' as usize] = false;
    table
};

/// Longest member name quoted back in an error.
const MAX_NAME_IN_ERROR: usize = 64;

fn duplicate(name: &[u8]) -> Problem {
    let text = String::from_utf8_lossy(name);
    let name = match text.char_indices().nth(MAX_NAME_IN_ERROR) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    };
    Problem::Duplicate { name }
}

/// Unescapes the inside of a string the scanner has already accepted.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let code = raw.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match code {
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other),
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        let high = hex_at(raw, i);
        i += 4;
        let scalar = if (0xD800..=0xDBFF).contains(&high) {
            let low = hex_at(raw, i + 2);
            i += 6;
            0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
        } else {
            u32::from(high)
        };
        let ch = char::from_u32(scalar).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    out
}

fn hex_at(raw: &[u8], at: usize) -> u16 {
    raw.get(at..at + 4)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| u16::from_str_radix(d, 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) {
        assert_eq!(check(text.as_bytes()), Ok(text), "{text}");
    }

    fn bad(text: &[u8]) -> Problem {
        check(text).expect_err(&String::from_utf8_lossy(text))
    }

    #[test]
    fn accepts_rfc8259_objects() {
        ok(r#"{}"#);
        ok(r#" { "a" : 1 , "b" : [ ] , "c" : { } } "#);
        ok(r#"{"n":[0,-0,1.5,-2e10,3E+2,4e-1,12345678901234567890],"t":true,"f":false,"z":null}"#);
        ok(r#"{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 é 😀"}"#);
        ok(r#"{"a":{"a":{"a":1}},"b":{"a":2}}"#);
    }

    #[test]
    fn rejects_what_the_grammar_does_not_allow() {
        for text in [
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
            r#"{a:1}"#,
            r#"{'a':1}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}{}"#,
            r#"{"a" 1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1 /* c */}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":[1 2]}"#,
        ] {
            assert!(
                matches!(bad(text.as_bytes()), Problem::Syntax { .. }),
                "{text}"
            );
        }
    }

    #[test]
    fn top_level_must_be_an_object() {
        for text in ["[]", "1", "\"a\"", "null", "", "  "] {
            assert_eq!(bad(text.as_bytes()), Problem::NotObject, "{text}");
        }
    }

    #[test]
    fn rejects_invalid_utf8_and_lone_surrogates() {
        assert_eq!(bad(b"{\"a\":\"\xff\"}"), Problem::Utf8 { offset: 6 });
        assert!(matches!(bad(b"{\"a\":\"\xc0\xaf\"}"), Problem::Utf8 { .. }));
        assert!(matches!(
            bad(b"{\"a\":\"\xed\xa0\x80\"}"),
            Problem::Utf8 { .. }
        ));
        assert!(matches!(bad(br#"{"a":"\ud800"}"#), Problem::Utf8 { .. }));
        assert!(matches!(bad(br#"{"a":"\udc00"}"#), Problem::Utf8 { .. }));
        assert!(matches!(
            bad(br#"{"a":"\ud800\u0041"}"#),
            Problem::Utf8 { .. }
        ));
        assert!(matches!(bad(b"\xef\xbb\xbf{}"), Problem::NotObject));
    }

    #[test]
    fn rejects_duplicate_members_after_unescaping() {
        assert_eq!(
            bad(br#"{"sub":"a","sub":"b"}"#),
            Problem::Duplicate { name: "sub".into() }
        );
        assert_eq!(
            bad(br#"{"sub":"a","s\u0075b":"b"}"#),
            Problem::Duplicate { name: "sub".into() }
        );
        assert_eq!(
            bad(br#"{"x":{"k":1,"k":2}}"#),
            Problem::Duplicate { name: "k".into() }
        );
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        ok(&format!("{{{}}}", many.join(",")));
        let dup = format!("{{{},\"k42\":0}}", many.join(","));
        assert_eq!(
            bad(dup.as_bytes()),
            Problem::Duplicate { name: "k42".into() }
        );
        // The same name in two different objects is fine.
        ok(r#"{"a":{"k":1},"b":{"k":2},"k":3}"#);
    }

    #[test]
    fn bounds_nesting() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n - 1), "]".repeat(n - 1));
        ok(&format!("{{\"a\":{}}}", deep(MAX_DEPTH)));
        assert_eq!(
            bad(format!("{{\"a\":{}}}", deep(MAX_DEPTH + 1)).as_bytes()),
            Problem::TooDeep
        );
        let very = format!("{{\"a\":{}", "[".repeat(100_000));
        assert_eq!(bad(very.as_bytes()), Problem::TooDeep);
    }

    #[test]
    fn records_top_level_members() {
        let text = r#" {"a" : 1 , "b":[2,{"c":3}], "d\u0065":"x\"y" ,"e":{} } "#;
        let mut members = Members::default();
        check_object(text.as_bytes(), &mut members).unwrap();
        let found: Vec<(Vec<u8>, &str)> = members
            .iter()
            .map(|m| (m.name(text).into_owned(), m.value(text)))
            .collect();
        assert_eq!(
            found,
            [
                (b"a".to_vec(), "1"),
                (b"b".to_vec(), r#"[2,{"c":3}]"#),
                (b"de".to_vec(), r#""x\"y""#),
                (b"e".to_vec(), "{}"),
            ]
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{}}}", many.join(","));
        check_object(text.as_bytes(), &mut members).unwrap();
        assert_eq!(members.iter().count(), 40);
        assert_eq!(members.iter().last().unwrap().value(&text), "39");
    }

    #[test]
    fn unescapes_names() {
        assert_eq!(
            unescape(br#"a\u00e9\n\ud83d\ude00\/"#),
            "aé\n😀/".as_bytes()
        );
    }
}
