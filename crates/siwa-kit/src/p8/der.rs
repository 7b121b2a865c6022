//! Just enough DER to tell what kind of key a file holds, so the error can
//! name it. aws-lc does the real parsing; this only classifies.

/// One DER element: its tag byte and its content.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Element<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
}

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0]` constructed, where SEC1 keeps the curve.
pub(crate) const TAG_CONTEXT_0: u8 = 0xa0;

/// Reads one element from the front of `input`; returns it and the rest.
pub(crate) fn read(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((Element { tag, content }, rest))
}

/// Reads every element of a constructed content, or `None` if any is malformed.
pub(crate) fn children(mut content: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (el, rest) = read(content)?;
        out.push(el);
        content = rest;
    }
    Some(out)
}

/// Reads `input` as exactly one element with nothing after it.
pub(crate) fn read_whole(input: &[u8]) -> Option<Element<'_>> {
    match read(input)? {
        (el, []) => Some(el),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let (el, rest) = read(&[0x04, 0x02, 0xaa, 0xbb, 0x05]).unwrap();
        assert_eq!(
            (el.tag, el.content, rest),
            (0x04, &[0xaa, 0xbb][..], &[0x05][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert_eq!(read_whole(&long).unwrap().content.len(), 0x80);
    }

    #[test]
    fn rejects_truncation() {
        assert!(read(&[0x30, 0x05, 0x01]).is_none());
        assert!(read(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_none());
        assert!(read(&[0x30]).is_none());
        assert!(read_whole(&[0x04, 0x00, 0x00]).is_none());
    }
}
