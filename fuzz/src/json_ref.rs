//! A second, independent strict JSON checker: the oracle of the `json` target.
//!
//! Written from RFC 8259 and the rules in `siwa_kit::jws` (UTF-8, no lone
//! surrogate escapes, a top-level object, at most [`MAX_DEPTH`] levels, no
//! member named twice after unescaping), as plain recursive descent (the depth
//! bound keeps the recursion shallow). It reports the first problem in the
//! order siwa-kit documents: UTF-8 over the whole text first, then a
//! top-level that is not an object, then the first problem met reading left
//! to right (a duplicate when its object closes).

/// Deepest nesting accepted; the top-level object is level 1.
pub const MAX_DEPTH: usize = 32;

/// The verdict on a text.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Verdict {
    /// Strict JSON with an object at the top.
    Ok,
    /// Not UTF-8, or a lone surrogate escape.
    Utf8,
    /// Outside the grammar.
    Syntax,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An object names members twice: every name it repeats (unescaped).
    Duplicate(Vec<Vec<u8>>),
    /// The top level is not an object.
    NotObject,
}

/// Checks `bytes`.
pub fn check(bytes: &[u8]) -> Verdict {
    if std::str::from_utf8(bytes).is_err() {
        return Verdict::Utf8;
    }
    let mut p = Parser { b: bytes, i: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        return Verdict::NotObject;
    }
    if let Err(v) = p.value(1) {
        return v;
    }
    p.ws();
    if p.i != bytes.len() {
        return Verdict::Syntax;
    }
    Verdict::Ok
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), Verdict> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Verdict::Syntax),
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), Verdict> {
        if depth > MAX_DEPTH {
            return Err(Verdict::TooDeep);
        }
        self.i += 1;
        self.ws();
        let mut names: Vec<Vec<u8>> = Vec::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(Verdict::Syntax);
            }
            names.push(self.string()?);
            self.ws();
            if self.bump() != Some(b':') {
                return Err(Verdict::Syntax);
            }
            self.ws();
            self.value(depth + 1)?;
            self.ws();
            match self.bump() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(Verdict::Syntax),
            }
        }
        let mut sorted = names.clone();
        sorted.sort();
        let mut repeated: Vec<Vec<u8>> = sorted
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0].clone())
            .collect();
        repeated.dedup();
        if repeated.is_empty() {
            Ok(())
        } else {
            Err(Verdict::Duplicate(repeated))
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Verdict> {
        if depth > MAX_DEPTH {
            return Err(Verdict::TooDeep);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.value(depth + 1)?;
            self.ws();
            match self.bump() {
                Some(b',') => {}
                Some(b']') => return Ok(()),
                _ => return Err(Verdict::Syntax),
            }
        }
    }

    /// A string, the cursor on its opening quote; returns it unescaped.
    fn string(&mut self) -> Result<Vec<u8>, Verdict> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.bump().ok_or(Verdict::Syntax)?;
            match c {
                b'"' => return Ok(out),
                b'\\' => self.escape(&mut out)?,
                0x00..=0x1f => return Err(Verdict::Syntax),
                _ => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Verdict> {
        let simple = match self.bump().ok_or(Verdict::Syntax)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4()?;
                let scalar = match unit {
                    0xD800..=0xDBFF => {
                        if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                            return Err(Verdict::Utf8);
                        }
                        self.i += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Verdict::Utf8);
                        }
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Verdict::Utf8),
                    _ => u32::from(unit),
                };
                let ch = char::from_u32(scalar).ok_or(Verdict::Utf8)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(Verdict::Syntax),
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, Verdict> {
        let digits = self.b.get(self.i..self.i + 4).ok_or(Verdict::Syntax)?;
        let mut unit = 0u16;
        for &d in digits {
            let v = (d as char).to_digit(16).ok_or(Verdict::Syntax)?;
            unit = unit << 4 | v as u16;
        }
        self.i += 4;
        Ok(unit)
    }

    fn number(&mut self) -> Result<(), Verdict> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.bump() {
            Some(b'0') => {
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(Verdict::Syntax);
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Verdict::Syntax),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn some_digits(&mut self) -> Result<(), Verdict> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(Verdict::Syntax);
        }
        self.digits();
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Verdict> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return Err(Verdict::Syntax);
        }
        self.i += word.len();
        Ok(())
    }
}

/// A member name as siwa-kit quotes it in a duplicate-member error: lossy
/// UTF-8, cut at 64 characters with `...`.
pub fn quoted_name(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}
