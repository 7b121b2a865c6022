use super::grammar::{digit_run, plain_run, unescape, unescape_str, PLAIN};
use super::wire::uint;
use super::*;

fn ok(text: &str) {
    assert_eq!(check(text.as_bytes()), Ok(text), "{text}");
}

fn bad(text: &[u8]) -> Problem {
    check(text).expect_err(&String::from_utf8_lossy(text))
}

/// The fast path accepts only what the general scanner accepts, with the
/// same members.
fn same_as_general(bytes: &[u8]) -> bool {
    fast_path_agrees(bytes).unwrap_or_else(|disagreement| panic!("{disagreement}"))
}

#[test]
fn flat_objects_read_like_the_general_scanner() {
    let apple = br#"{"iss":"https://appleid.apple.com","aud":"com.example.ios","exp":1700086400,"iat":1700000000,"sub":"001234.0f1e.1234","nonce_supported":true,"email_verified":"true","x":null,"f":-0.5e+3}"#;
    assert!(same_as_general(apple));
    assert!(same_as_general(b" { } "));
    assert!(same_as_general(b"{ \"a\" :\t1 ,\n\"b\":\"\"}\r\n"));
    // Left to the general scanner: nesting, escaped names, duplicates, errors.
    for text in [
        &br#"{"a":[1]}"#[..],
        br#"{"a":{}}"#,
        br#"{"a\u0041":1}"#,
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
    // Every byte at every place of a small flat object, with and without
    // escaped values.
    for base in [
        &br#"{"ab":"cd","n":-12.5e3,"t":true,"z":null}"#[..],
        br#"{"e":"{\"t\":\"x\\/\u00e9\ud83d\ude00\b\f\n\r\t\"}","n":1}"#,
    ] {
        for at in 0..base.len() {
            for byte in 0..=255u8 {
                let mut text = base.to_vec();
                text[at] = byte;
                same_as_general(&text);
            }
        }
    }
}

#[test]
fn escaped_values_take_the_fast_path_only_when_the_checker_accepts_them() {
    // A notification's payload: `events` is a string of escaped JSON.
    for text in [
        &br#"{"a":"\n"}"#[..],
        br#"{"events":"{\"type\":\"email-disabled\",\"sub\":\"001.a.1\"}","x":1}"#,
        br#"{"a":"\"\\\/\b\f\n\r\t"}"#,
        br#"{"a":"\u0000\uFFFF\uabcd\uD7FF\uE000"}"#,
        br#"{"a":"\ud800\udc00\uDBFF\uDFFF","b":"plain"}"#,
    ] {
        assert!(same_as_general(text), "{}", String::from_utf8_lossy(text));
    }
    // Refused by the checker, so left to it for the error.
    for text in [
        &br#"{"a":"\x"}"#[..],
        br#"{"a":"\u12"}"#,
        br#"{"a":"\u12g4"}"#,
        br#"{"a":"\ud800"}"#,
        br#"{"a":"\ud800x"}"#,
        br#"{"a":"\ud800\u0041"}"#,
        br#"{"a":"\udc00\ud800"}"#,
        br#"{"a":"\ud800\n"}"#,
        br#"{"a":"\"}"#,
        br#"{"a":"\\"#,
    ] {
        assert!(!same_as_general(text), "{}", String::from_utf8_lossy(text));
        assert!(check(text).is_err(), "{}", String::from_utf8_lossy(text));
    }
}

#[test]
fn escaped_flag_only_on_escaped_string_values() {
    // After an escaped string, a number's value is not "escaped" (the
    // checker's flag used to stay set): both readers say so.
    let text = br#"{"a":"\n","b":1,"c":[1],"d":"x"}"#;
    let mut members = Members::default();
    assert_eq!(check_object(text, &mut members).map(|_| ()), Ok(()));
    let escaped: Vec<bool> = members.iter().map(|m| m.value_escaped()).collect();
    assert_eq!(escaped, [true, false, false, false]);
}

#[test]
fn unescape_str_reads_strings_as_serde_json_does() {
    for inner in [
        "",
        "plain",
        r#"\"\\\/\b\f\n\r\t"#,
        r#"\u0041\u00e9\u20AC\uD83D\uDE00 é €"#,
        r#"{\"type\":\"email-disabled\",\"sub\":\"001.a.1\"}"#,
        r#"a\u0000b"#,
    ] {
        let quoted = format!("\"{inner}\"");
        let expected: String = serde_json::from_str(&quoted).expect(inner);
        assert_eq!(unescape_str(inner), expected, "{inner}");
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
fn digit_run_stops_where_a_byte_at_a_time_scan_does() {
    // Every byte value at every position of a 20-byte run of digits (a
    // byte's carry must not hide a non-digit above it), and after it.
    for filler in [b'0', b'9', b'5'] {
        for len in [0, 1, 7, 8, 9, 16, 20] {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = vec![filler; len];
                    bytes[at] = byte;
                    let expected = bytes
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .unwrap_or(len);
                    assert_eq!(digit_run(&bytes), expected, "{filler} {len} {at} {byte:#x}");
                }
            }
        }
    }
}

#[test]
fn flat_objects_find_duplicates_whatever_their_names_filter_says() {
    // Names of one length with the same first and last bytes share a filter
    // bit: distinct ones are accepted, a repeated one left to the checker.
    assert!(same_as_general(br#"{"axb":1,"ayb":2,"azb":3}"#));
    assert!(!same_as_general(br#"{"axb":1,"ayb":2,"axb":3}"#));
    assert!(!same_as_general(br#"{"":1,"":2}"#));
    assert!(same_as_general(br#"{"":1,"a":2}"#));
    // Past 64 names every text shares a bit; the exact search decides.
    let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
    assert!(same_as_general(
        format!("{{{}}}", many.join(",")).as_bytes()
    ));
    let dup = format!("{{{},\"k7\":0}}", many.join(","));
    assert!(!same_as_general(dup.as_bytes()));
    assert_eq!(
        bad(dup.as_bytes()),
        Problem::Duplicate { name: "k7".into() }
    );
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
fn unescape_finds_escapes_at_every_place_as_serde_json_does() {
    // Runs of every length around the eight-byte steps of the search, in
    // both the text and the byte versions.
    for before in 0..20 {
        for after in 0..20 {
            let inner = format!(
                "{}\\\"{}\\u00e9{}",
                "a".repeat(before),
                "é".repeat(after),
                "b".repeat(after)
            );
            let expected: String = serde_json::from_str(&format!("\"{inner}\"")).unwrap();
            assert_eq!(unescape_str(&inner), expected, "{inner}");
            assert_eq!(unescape(inner.as_bytes()), expected.as_bytes(), "{inner}");
        }
    }
}

#[test]
fn uint_reads_digits_as_str_parse_does() {
    let mut cases: Vec<String> = [
        "0",
        "7",
        "1700000000",
        "18446744073709551615",
        "18446744073709551616",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cases.extend([
        "9".repeat(19),
        "9".repeat(20),
        "1".repeat(21),
        "12a".into(),
        "1.5".into(),
        "".into(),
    ]);
    // Every length around the eight-digit steps, with a non-digit (or a
    // byte a carry could hide) at each place.
    for len in 0..=21 {
        let all: String = "9876543210".chars().cycle().take(len).collect();
        cases.push(all.clone());
        for at in 0..len {
            for byte in [b'/', b':', b'a', b' ', 0x7f] {
                let mut bytes = all.clone().into_bytes();
                bytes[at] = byte;
                if let Ok(text) = String::from_utf8(bytes) {
                    cases.push(text);
                }
            }
        }
    }
    for digits in &cases {
        let expected = if digits.is_empty() {
            Some(0)
        } else {
            digits.parse::<u64>().ok()
        };
        assert_eq!(uint(digits.as_bytes()), expected, "{digits}");
    }
}

#[test]
fn uint_refuses_every_non_digit_byte_at_every_place() {
    // Bytes, not text: the top-bit bytes too, which a carry could hide.
    let naive = |digits: &[u8]| {
        digits.iter().try_fold(0u64, |n, &d| {
            d.is_ascii_digit()
                .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
                .flatten()
        })
    };
    for len in [8, 10, 16, 19] {
        let all: Vec<u8> = b"1234567890".iter().copied().cycle().take(len).collect();
        assert_eq!(uint(&all), naive(&all));
        for at in 0..len {
            for byte in 0..=255u8 {
                let mut digits = all.clone();
                digits[at] = byte;
                assert_eq!(uint(&digits), naive(&digits), "{len} {at} {byte:#x}");
            }
        }
    }
}

#[test]
fn unescapes_names() {
    assert_eq!(
        unescape(br#"a\u00e9\n\ud83d\ude00\/"#),
        "aé\n😀/".as_bytes()
    );
}
