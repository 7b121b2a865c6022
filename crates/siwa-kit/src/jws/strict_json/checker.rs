//! The checker: RFC 8259's grammar in one pass over the bytes, without
//! recursion and without building values (an explicit stack of at most
//! [`MAX_DEPTH`] open containers), naming every problem it meets. On the way
//! it records the spans of the top-level members ([`Members`]).

use std::borrow::Cow;

use super::grammar::{first_plain_duplicate, number_end, plain_run, unescape};
use super::members::{Member, Members};

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

/// The general scanner: any JSON, every error named.
pub(super) fn scan(bytes: &[u8], members: &mut Members) -> Result<(), Problem> {
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
    scanner.document()
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
                    let key = self.member_name()?;
                    if self.frames.len == 1 {
                        // The key as returned, not read back from `keys`: a
                        // load of what was just stored field by field stalls.
                        self.pending = Some((key, 0));
                    }
                    self.whitespace();
                    self.expect(b':', "':' after a member name")?;
                    State::Value
                }
                State::AfterValue => {
                    if self.frames.len == 1 {
                        if let Some((name, start)) = self.pending.take() {
                            // Only a string value's own escapes: the flag
                            // is stale after a number or a literal.
                            let value_escaped = self.last_string_escaped
                                && self.bytes.get(start as usize) == Some(&b'"');
                            self.members.push(Member::new(
                                (name.start, name.end, name.escaped),
                                (start, value_end as u32, value_escaped),
                            ));
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

    fn member_name(&mut self) -> Result<Key, Problem> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("a member name in double quotes"));
        }
        let start = self.at + 1;
        let escaped = self.string()?;
        let key = Key {
            start: start as u32,
            end: (self.at - 1) as u32,
            escaped,
        };
        self.keys.push(key);
        Ok(key)
    }

    /// The member names from `from` on are all different.
    fn no_duplicates(&self, from: usize) -> Result<(), Problem> {
        let count = self.keys.len - from;
        if count < 2 {
            return Ok(());
        }
        let all_plain = (from..self.keys.len).all(|i| !self.keys.get(i).escaped);
        if all_plain {
            let name = |i: usize| self.raw(self.keys.get(from + i));
            return match first_plain_duplicate(count, name) {
                Some(name) => Err(duplicate(name)),
                None => Ok(()),
            };
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
            self.at += plain_run(self.bytes.get(self.at..).unwrap_or_default());
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
        match number_end(self.bytes, self.at) {
            Ok(end) => {
                self.at = end;
                Ok(())
            }
            Err((offset, expected)) => Err(Problem::Syntax { offset, expected }),
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
