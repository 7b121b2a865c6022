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
    let text = std::str::from_utf8(bytes).map_err(|e| Problem::Utf8 {
        offset: e.valid_up_to(),
    })?;
    check_text(text, members)?;
    Ok(text)
}

/// [`check_object`] for bytes already known to be UTF-8 (so they are not
/// validated twice).
pub(crate) fn check_text(text: &str, members: &mut Members) -> Result<(), Problem> {
    let bytes = text.as_bytes();
    if u32::try_from(bytes.len()).is_err() {
        return Err(Problem::Syntax {
            offset: 0,
            expected: "a text shorter than 4 GiB",
        });
    }
    members.clear();
    if flat_object(bytes, members).is_some() {
        return Ok(());
    }
    scan(bytes, members)
}

/// The general scanner: any JSON, every error named.
fn scan(bytes: &[u8], members: &mut Members) -> Result<(), Problem> {
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

    // Inlined, so the member is written in place: passed through memory, it
    // would be read back wider than it was written, and such a load waits.
    #[inline(always)]
    fn push(&mut self, member: Member) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = member,
            None => self.spill.push(member),
        }
        self.len += 1;
    }

    /// The i-th member.
    fn get(&self, index: usize) -> Option<&Member> {
        if index >= self.len {
            return None;
        }
        self.inline
            .get(index)
            .or_else(|| self.spill.get(index - INLINE_MEMBERS))
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

/// Where the number starting at `at` ends (RFC 8259: `-`, no leading zero,
/// an optional fraction and exponent), or where and what was expected.
fn number_end(bytes: &[u8], mut at: usize) -> Result<usize, (usize, &'static str)> {
    let digit = |at: usize| matches!(bytes.get(at), Some(b'0'..=b'9'));
    let digits = |mut at: usize| {
        while digit(at) {
            at += 1;
        }
        at
    };
    let required_digits = |at: usize| {
        if digit(at) {
            Ok(digits(at))
        } else {
            Err((at, "a digit"))
        }
    };
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') if digit(at + 1) => return Err((at + 1, "no leading zero in a number")),
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits(at),
        _ => return Err((at, "a digit")),
    }
    if bytes.get(at) == Some(&b'.') {
        at = required_digits(at + 1)?;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        at = required_digits(at)?;
    }
    Ok(at)
}

/// The first name met twice among `count` names without escapes, `name(i)`
/// giving the i-th as written.
fn first_plain_duplicate<'b>(count: usize, name: impl Fn(usize) -> &'b [u8]) -> Option<&'b [u8]> {
    if count <= 64 {
        // A 64-bit filter on (length, first byte, last byte): names are
        // compared only when their bit was already set.
        let mut seen = 0u64;
        for i in 0..count {
            let a = name(i);
            let first = a.first().copied().unwrap_or(0);
            let last = a.last().copied().unwrap_or(0);
            let bit = 1u64 << ((a.len() * 7 + usize::from(first) + usize::from(last) * 3) & 63);
            if seen & bit != 0 && (0..i).any(|j| name(j) == a) {
                return Some(a);
            }
            seen |= bit;
        }
        return None;
    }
    let mut names: Vec<&[u8]> = (0..count).map(&name).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

/// The common case in one pass, without the general scanner's stack of
/// containers: a top-level object whose member names hold no escapes and
/// whose values are strings without escapes, numbers, `true`, `false` or
/// `null` (Apple's payloads and headers). Fills `members` and returns
/// `Some` only for a text the general scanner accepts with the same
/// members; `None` (anything else, every error included) leaves the text to
/// the general scanner.
fn flat_object(bytes: &[u8], members: &mut Members) -> Option<()> {
    let space = |mut at: usize| {
        while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at += 1;
        }
        at
    };
    // The end of the string whose opening quote is at `at`, if it is plain.
    let plain_string = |at: usize| {
        let end = at + 1 + plain_run(bytes.get(at + 1..)?);
        (bytes.get(end) == Some(&b'"')).then_some(end + 1)
    };
    let word = |at: usize, word: &[u8]| {
        let end = at + word.len();
        (bytes.get(at..end) == Some(word)).then_some(end)
    };
    let mut at = space(0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = space(at + 1);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            if bytes.get(at) != Some(&b'"') {
                return None;
            }
            let name_end = plain_string(at)?;
            let colon = space(name_end);
            if bytes.get(colon) != Some(&b':') {
                return None;
            }
            let value_start = space(colon + 1);
            let value_end = match bytes.get(value_start)? {
                b'"' => plain_string(value_start)?,
                b'-' | b'0'..=b'9' => number_end(bytes, value_start).ok()?,
                b't' => word(value_start, b"true")?,
                b'f' => word(value_start, b"false")?,
                b'n' => word(value_start, b"null")?,
                _ => return None,
            };
            members.push(Member {
                name_start: u32::try_from(at + 1).ok()?,
                name_end: u32::try_from(name_end - 1).ok()?,
                name_escaped: false,
                value_start: u32::try_from(value_start).ok()?,
                value_end: u32::try_from(value_end).ok()?,
                value_escaped: false,
            });
            at = space(value_end);
            match bytes.get(at)? {
                b',' => at = space(at + 1),
                b'}' => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if space(at) != bytes.len() {
        return None;
    }
    let name = |i: usize| {
        members.get(i).map_or(&[][..], |m| {
            &bytes[m.name_start as usize..m.name_end as usize]
        })
    };
    match first_plain_duplicate(members.len, name) {
        Some(_) => None,
        None => Some(()),
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

/// How many bytes at the start of `bytes` are [`PLAIN`]: eight at a time,
/// since strings are most of a token's payload.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // Flags (bit 7 of a byte) the bytes of `x` that are zero; the lowest flag
    // is exact (a borrow only runs upward from a flagged byte).
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut run = 0;
    for chunk in &mut chunks {
        let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(eight);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let stop = zeros(x ^ (ONES * u64::from(b'"')))
            | zeros(x ^ (ONES * u64::from(b'\\')))
            | below_space;
        if stop != 0 {
            return run + (stop.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    let tail = chunks.remainder();
    run + tail
        .iter()
        .position(|&b| !PLAIN[usize::from(b)])
        .unwrap_or(tail.len())
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

    fn spans(members: &Members) -> Vec<(u32, u32, bool, u32, u32, bool)> {
        members
            .iter()
            .map(|m| {
                let Member {
                    name_start,
                    name_end,
                    name_escaped,
                    value_start,
                    value_end,
                    value_escaped,
                } = *m;
                (
                    name_start,
                    name_end,
                    name_escaped,
                    value_start,
                    value_end,
                    value_escaped,
                )
            })
            .collect()
    }

    /// The fast path accepts only what the general scanner accepts, with the
    /// same members.
    fn same_as_general(bytes: &[u8]) -> bool {
        let (mut fast, mut general) = (Members::default(), Members::default());
        let flat = flat_object(bytes, &mut fast).is_some();
        let scanned = scan(bytes, &mut general);
        if flat {
            assert_eq!(scanned, Ok(()), "{}", String::from_utf8_lossy(bytes));
            assert_eq!(
                spans(&fast),
                spans(&general),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        flat
    }

    #[test]
    fn flat_objects_read_like_the_general_scanner() {
        let apple = br#"{"iss":"https://appleid.apple.com","aud":"com.example.ios","exp":1700086400,"iat":1700000000,"sub":"001234.0f1e.1234","nonce_supported":true,"email_verified":"true","x":null,"f":-0.5e+3}"#;
        assert!(same_as_general(apple));
        assert!(same_as_general(b" { } "));
        assert!(same_as_general(b"{ \"a\" :\t1 ,\n\"b\":\"\"}\r\n"));
        // Left to the general scanner: nesting, escapes, duplicates, errors.
        for text in [
            &br#"{"a":[1]}"#[..],
            br#"{"a":{}}"#,
            br#"{"a\u0041":1}"#,
            br#"{"a":"\n"}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"a":01}"#,
            br#"{"a":1,}"#,
            br#"{"a":1} x"#,
            br#"{"a":tru}"#,
            b"{\"a\":\"\x01\"}",
            br#"[1]"#,
        ] {
            assert!(!same_as_general(text), "{}", String::from_utf8_lossy(text));
        }
        // Every byte at every place of a small flat object.
        let base = br#"{"ab":"cd","n":-12.5e3,"t":true,"z":null}"#;
        for at in 0..base.len() {
            for byte in 0..=255u8 {
                let mut text = base.to_vec();
                text[at] = byte;
                same_as_general(&text);
            }
        }
    }

    #[test]
    fn numeric_dates_with_a_fraction_or_an_exponent_take_the_fast_path() {
        // RFC 7519's NumericDate may be non-integer; such payloads are flat
        // objects, read by the fast path with the general scanner's spans.
        for text in [
            &br#"{"exp":1700000000.5,"iat":1.7e9,"nbf":17E8,"auth_time":1700000000.000000000000000000001}"#[..],
            br#"{"exp":-0.5,"iat":1e-400,"nbf":1E+400,"x":0.0}"#,
        ] {
            assert!(same_as_general(text), "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn flat_objects_agree_on_the_fuzz_corpus() {
        // The committed corpus of the `json` fuzz target: missing, it fails.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/json");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fuzz corpus {} is unreadable: {e}", dir.display()));
        let mut flat = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            flat += usize::from(same_as_general(&bytes));
        }
        assert!(flat > 0, "no flat object in {}", dir.display());
    }

    #[test]
    fn plain_run_stops_where_a_byte_at_a_time_scan_does() {
        // Every byte value at every position of a 24-byte run, with plain
        // filler around it (ASCII, UTF-8 and 0x7f, 0xff).
        for filler in [b'a', 0xc3, 0x7f, 0xff, b' '] {
            for at in 0..24 {
                for byte in 0..=255u8 {
                    let mut bytes = vec![filler; 24];
                    bytes[at] = byte;
                    let expected = bytes
                        .iter()
                        .position(|&b| !PLAIN[usize::from(b)])
                        .unwrap_or(bytes.len());
                    assert_eq!(plain_run(&bytes), expected, "{filler:#x} {at} {byte:#x}");
                }
            }
        }
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
