//! The subset of STIX 2.1 patterning (STIX 2.1 part 9) that names indicators Yagura can
//! match: observation expressions joined by `OR`, each a comparison or an `OR` of
//! comparisons of an object path with `=` or `IN (…)` against string constants, with
//! parentheses. Everything else (`AND`, `FOLLOWEDBY`, `NOT`, other operators, qualifiers
//! such as `WITHIN` or `REPEATS`) is refused with the reason, never read as something it
//! is not: `[a AND b]` matched on `a` alone would raise alerts the indicator does not claim.
//!
//! A hand-written tokenizer and recursive descent, bounded in input length, nesting and
//! comparisons, so that any input ends in a result or an error.

/// Longest pattern read (bytes).
pub const MAX_PATTERN: usize = 64 * 1024;
/// Deepest nesting of brackets and parentheses.
const MAX_DEPTH: usize = 32;
/// Comparisons read per pattern.
const MAX_COMPARISONS: usize = 10_000;

/// One comparison `type:path = 'value'` (an `IN` set gives one per member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The object type (`ipv4-addr`, `domain-name`, `file`, …).
    pub object: String,
    /// The property path, its steps joined by `.` and unquoted (`value`, `hashes.SHA-256`).
    pub path: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    LParen,
    RParen,
    Comma,
    /// `=`, `!=`, `<`, `>=`, …
    Op(String),
    /// A word: a keyword (`OR`, `AND`, `IN`, …) or an object path.
    Word(String),
    Str(String),
    /// Any other constant (number, boolean, `t'…'`, `h'…'`, `b'…'`).
    Other(String),
}

/// The comparisons of `pattern`, or why it is not in the subset Yagura matches.
pub fn parse(pattern: &str) -> Result<Vec<Comparison>, String> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!("pattern longer than {MAX_PATTERN} bytes"));
    }
    let tokens = tokenize(pattern)?;
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
        out: Vec::new(),
    };
    p.observations(0)?;
    match p.peek() {
        None => Ok(p.out),
        Some(t) => Err(p.unexpected(t)),
    }
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'[' => {
                out.push(Token::Open);
                i += 1;
            }
            b']' => {
                out.push(Token::Close);
                i += 1;
            }
            b'(' => {
                out.push(Token::LParen);
                i += 1;
            }
            b')' => {
                out.push(Token::RParen);
                i += 1;
            }
            b',' => {
                out.push(Token::Comma);
                i += 1;
            }
            b'\'' => {
                let (v, end) = string(b, i)?;
                out.push(Token::Str(v));
                i = end;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let n = if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                out.push(Token::Op(s[i..i + n].to_owned()));
                i += n;
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                // A word, or an object path with quoted steps (`file:hashes.'SHA-256'`), or
                // a typed constant (`t'2020-…'`, `h'ff'`, `b'…'`).
                let start = i;
                loop {
                    match b.get(i) {
                        Some(&x) if x.is_ascii_alphanumeric() || b"_-:.*".contains(&x) => i += 1,
                        Some(b'\'') if i > start && matches!(b[i - 1], b'.' | b':') => {
                            let (_, end) = string(b, i)?;
                            i = end;
                        }
                        _ => break,
                    }
                }
                let word = &s[start..i];
                if matches!(word, "t" | "h" | "b") && b.get(i) == Some(&b'\'') {
                    let (_, end) = string(b, i)?;
                    out.push(Token::Other(s[start..end].to_owned()));
                    i = end;
                } else if word
                    .bytes()
                    .all(|x| x.is_ascii_digit() || x == b'.' || x == b'-')
                {
                    out.push(Token::Other(word.to_owned()));
                } else {
                    out.push(Token::Word(word.to_owned()));
                }
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character {ch:?} in the pattern"));
            }
        }
    }
    Ok(out)
}

/// The string constant whose opening quote is at `at`: its value (`\'` and `\\` escapes
/// undone) and the offset past its closing quote.
fn string(b: &[u8], at: usize) -> Result<(String, usize), String> {
    let mut v = Vec::new();
    let mut i = at + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => match b.get(i + 1) {
                Some(&e @ (b'\'' | b'\\')) => {
                    v.push(e);
                    i += 2;
                }
                _ => return Err("bad escape in a string constant".to_owned()),
            },
            b'\'' => return Ok((String::from_utf8_lossy(&v).into_owned(), i + 1)),
            _ => {
                v.push(c);
                i += 1;
            }
        }
    }
    Err("unterminated string constant".to_owned())
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    out: Vec<Comparison>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.at);
        self.at += 1;
        t
    }

    fn unexpected(&self, t: &Token) -> String {
        match t {
            Token::Word(w) => match w.to_ascii_uppercase().as_str() {
                "AND" => "AND: only patterns joined by OR are supported".to_owned(),
                "FOLLOWEDBY" => "FOLLOWEDBY: only patterns joined by OR are supported".to_owned(),
                "NOT" => "NOT: negated comparisons are not supported".to_owned(),
                "WITHIN" | "REPEATS" | "START" | "STOP" => {
                    format!("{w}: qualifiers are not supported")
                }
                "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET" | "EXISTS" => {
                    format!("{w}: only = and IN comparisons are supported")
                }
                _ => format!("unexpected {w:?}"),
            },
            Token::Op(o) => format!("{o}: only = and IN comparisons are supported"),
            Token::Other(o) => format!("{o}: only string constants are supported"),
            Token::Str(s) => format!("unexpected string {s:?}"),
            Token::Open => "unexpected [".to_owned(),
            Token::Close => "unexpected ]".to_owned(),
            Token::LParen => "unexpected (".to_owned(),
            Token::RParen => "unexpected )".to_owned(),
            Token::Comma => "unexpected ,".to_owned(),
        }
    }

    fn is_or(&self) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("OR"))
    }

    fn expect(&mut self, want: &Token, what: &str) -> Result<(), String> {
        match self.next().cloned() {
            Some(t) if &t == want => Ok(()),
            Some(t) => Err(self.unexpected(&t)),
            None => Err(format!("the pattern ends where {what} was expected")),
        }
    }

    /// observation (OR observation)*
    fn observations(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("pattern nested too deeply".to_owned());
        }
        self.observation(depth)?;
        while self.is_or() {
            self.at += 1;
            self.observation(depth)?;
        }
        Ok(())
    }

    /// `[ comparisons ]` or `( observations )`.
    fn observation(&mut self, depth: usize) -> Result<(), String> {
        match self.next().cloned() {
            Some(Token::Open) => {
                self.comparisons(depth + 1)?;
                self.expect(&Token::Close, "]")
            }
            Some(Token::LParen) => {
                self.observations(depth + 1)?;
                self.expect(&Token::RParen, ")")
            }
            Some(t) => Err(self.unexpected(&t)),
            None => Err("empty pattern".to_owned()),
        }
    }

    /// comparison (OR comparison)*
    fn comparisons(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("pattern nested too deeply".to_owned());
        }
        self.comparison(depth)?;
        while self.is_or() {
            self.at += 1;
            self.comparison(depth)?;
        }
        Ok(())
    }

    /// `path = 'v'`, `path IN ('v', …)` or `( comparisons )`.
    fn comparison(&mut self, depth: usize) -> Result<(), String> {
        let path = match self.next().cloned() {
            Some(Token::LParen) => {
                self.comparisons(depth + 1)?;
                return self.expect(&Token::RParen, ")");
            }
            Some(Token::Word(w)) => w,
            Some(t) => return Err(self.unexpected(&t)),
            None => return Err("the pattern ends where a comparison was expected".to_owned()),
        };
        let (object, path) = split_path(&path)?;
        let mut values = Vec::new();
        match self.next().cloned() {
            Some(Token::Op(o)) if o == "=" => match self.next().cloned() {
                Some(Token::Str(v)) => values.push(v),
                Some(t) => return Err(self.unexpected(&t)),
                None => return Err("the pattern ends where a value was expected".to_owned()),
            },
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IN") => {
                self.expect(&Token::LParen, "(")?;
                loop {
                    match self.next().cloned() {
                        Some(Token::Str(v)) => values.push(v),
                        Some(t) => return Err(self.unexpected(&t)),
                        None => return Err("unterminated IN set".to_owned()),
                    }
                    match self.next().cloned() {
                        Some(Token::Comma) => {}
                        Some(Token::RParen) => break,
                        Some(t) => return Err(self.unexpected(&t)),
                        None => return Err("unterminated IN set".to_owned()),
                    }
                }
            }
            Some(t) => return Err(self.unexpected(&t)),
            None => return Err("the pattern ends where an operator was expected".to_owned()),
        }
        for value in values {
            if self.out.len() >= MAX_COMPARISONS {
                return Err(format!("more than {MAX_COMPARISONS} comparisons"));
            }
            self.out.push(Comparison {
                object: object.clone(),
                path: path.clone(),
                value,
            });
        }
        Ok(())
    }
}

/// `type:step.step.'quoted step'` into the type and the unquoted steps joined by `.`.
fn split_path(p: &str) -> Result<(String, String), String> {
    let Some((object, rest)) = p.split_once(':') else {
        return Err(format!("{p:?} is not an object path"));
    };
    let mut steps = Vec::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\'' {
            let (v, end) = string(b, i)?;
            steps.push(v);
            i = end;
        } else {
            let end = rest[i..].find('.').map_or(rest.len(), |n| i + n);
            steps.push(rest[i..end].to_owned());
            i = end;
        }
        match b.get(i) {
            Some(b'.') => i += 1,
            None => {}
            Some(_) => return Err(format!("{p:?} is not an object path")),
        }
    }
    if object.is_empty() || steps.is_empty() || steps.iter().any(|s| s.is_empty() || s == "*") {
        return Err(format!("{p:?} is not an object path this importer reads"));
    }
    Ok((object.to_ascii_lowercase(), steps.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(o: &str, p: &str, v: &str) -> Comparison {
        Comparison {
            object: o.into(),
            path: p.into(),
            value: v.into(),
        }
    }

    #[test]
    fn parses_the_usual_indicator_patterns() {
        assert_eq!(
            parse("[ipv4-addr:value = '198.51.100.7']").unwrap(),
            [cmp("ipv4-addr", "value", "198.51.100.7")]
        );
        assert_eq!(
            parse("[file:hashes.'SHA-256' = 'AB12'] OR [file:hashes.MD5 = 'cd']").unwrap(),
            [
                cmp("file", "hashes.SHA-256", "AB12"),
                cmp("file", "hashes.MD5", "cd")
            ]
        );
        assert_eq!(
            parse("([domain-name:value = 'a.example' OR (url:value = 'http://x/\\'q')])").unwrap(),
            [
                cmp("domain-name", "value", "a.example"),
                cmp("url", "value", "http://x/'q")
            ]
        );
        assert_eq!(
            parse("[ipv6-addr:value IN ('2001:db8::1', '2001:db8::/32')]").unwrap(),
            [
                cmp("ipv6-addr", "value", "2001:db8::1"),
                cmp("ipv6-addr", "value", "2001:db8::/32")
            ]
        );
    }

    #[test]
    fn refuses_what_it_would_misread() {
        for (p, why) in [
            (
                "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']",
                "AND",
            ),
            (
                "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'x']",
                "FOLLOWEDBY",
            ),
            ("[ipv4-addr:value != '1.2.3.4']", "!="),
            ("[ipv4-addr:value ISSUBSET '10.0.0.0/8']", "ISSUBSET"),
            ("[domain-name:value = 'x'] WITHIN 300 SECONDS", "WITHIN"),
            ("[domain-name:value NOT = 'x']", "NOT"),
            ("[x509-certificate:serial_number = 5]", "5"),
            ("[domain-name:value = 'x'", "]"),
            ("[domain-name:value = 'x]", "unterminated"),
            ("", "empty"),
            ("[]", "]"),
        ] {
            let e = parse(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
        let deep = format!("{}[a:b = 'c']{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().contains("deeply"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_pattern_like_text(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("["), proptest::strategy::Just("]"),
                    proptest::strategy::Just("("), proptest::strategy::Just(")"),
                    proptest::strategy::Just(" OR "), proptest::strategy::Just(" AND "),
                    proptest::strategy::Just(" IN "), proptest::strategy::Just("="),
                    proptest::strategy::Just("'a\\'b'"), proptest::strategy::Just(","),
                    proptest::strategy::Just("file:hashes.'SHA-1'"),
                    proptest::strategy::Just("ipv4-addr:value"), proptest::strategy::Just("'"),
                ],
                0..40,
            )
        ) {
            let p = s.concat();
            if let Ok(c) = parse(&p) {
                proptest::prop_assert!(!c.is_empty());
            }
        }
    }
}
