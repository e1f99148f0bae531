//! Key patterns as Redis ACL's `~pattern` reads them (Redis's
//! `stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`. Matched without
//! recursion, going back only to the last `*`, so a pattern with many stars
//! costs at most (key length x pattern length) steps, whatever the key.

/// Whether `key` matches `pattern`.
pub fn matches(pattern: &[u8], key: &[u8]) -> bool {
    let (mut p, mut k) = (0usize, 0usize);
    // Where to resume after a mismatch: the pattern just past the last `*`,
    // and the key position that star has swallowed up to.
    let mut resume: Option<(usize, usize)> = None;
    while k < key.len() {
        if let Some(next) = step(pattern, p, key[k]) {
            match next {
                Step::Star => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    resume = Some((p, k));
                    continue;
                }
                Step::Matched(after) => {
                    p = after;
                    k += 1;
                    continue;
                }
                Step::Mismatch => {}
            }
        }
        match resume {
            Some((after_star, swallowed)) => {
                p = after_star;
                k = swallowed + 1;
                resume = Some((after_star, swallowed + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

enum Step {
    Star,
    /// The pattern token at p matched one key byte; the next token is here.
    Matched(usize),
    Mismatch,
}

/// The pattern token at `p` against the key byte `c`; `None` past the end.
fn step(pattern: &[u8], p: usize, c: u8) -> Option<Step> {
    let token = *pattern.get(p)?;
    Some(match token {
        b'*' => Step::Star,
        b'?' => Step::Matched(p + 1),
        b'[' => {
            let (hit, after) = class(pattern, p + 1, c);
            if hit {
                Step::Matched(after)
            } else {
                Step::Mismatch
            }
        }
        b'\\' if p + 1 < pattern.len() => literal(pattern[p + 1] == c, p + 2),
        _ => literal(token == c, p + 1),
    })
}

fn literal(hit: bool, after: usize) -> Step {
    if hit {
        Step::Matched(after)
    } else {
        Step::Mismatch
    }
}

/// A `[...]` class starting at `p` (just past the `[`) against `c`:
/// whether it matches, and where the pattern goes on. Unterminated, it
/// runs to the end of the pattern, as in Redis.
fn class(pattern: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut hit = false;
    while p < pattern.len() {
        match pattern[p] {
            b']' => {
                p += 1;
                return (hit != negate, p);
            }
            b'\\' if p + 1 < pattern.len() => {
                hit |= pattern[p + 1] == c;
                p += 2;
            }
            start if p + 2 < pattern.len() && pattern[p + 1] == b'-' => {
                // Redis compares as C `char`, signed on x86-64.
                let (a, b) = (start as i8, pattern[p + 2] as i8);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                hit |= (lo..=hi).contains(&(c as i8));
                p += 3;
            }
            other => {
                hit |= other == c;
                p += 1;
            }
        }
    }
    (hit != negate, p)
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, k: &str) -> bool {
        matches(p.as_bytes(), k.as_bytes())
    }

    #[test]
    fn redis_glob() {
        assert!(m("*", "") && m("*", "anything"));
        assert!(m("app:*", "app:") && m("app:*", "app:x:y"));
        assert!(!m("app:*", "ap") && !m("app:*", "other"));
        assert!(m("h?llo", "hello") && !m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo") && m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("a\\*b", "a*b") && !m("a\\*b", "axb"));
        assert!(m("[\\]]", "]"));
        assert!(m("a*b*c", "axxbyyc") && !m("a*b*c", "axxbyy"));
        assert!(m("*a*a*a*b", "aaaaab") && !m("*a*a*a*b", "aaaaaa"));
        assert!(m("a**", "a") && m("", "") && !m("", "a"));
        // Unterminated class: to the end of the pattern.
        assert!(m("x[ab", "xa") && !m("x[ab", "xc"));
        // A trailing backslash is a literal one.
        assert!(m("a\\", "a\\"));
    }

    #[test]
    fn many_stars_stay_linear() {
        let key = vec![b'a'; 100_000];
        let pattern = b"*a*a*a*a*a*a*a*a*a*b";
        let t = std::time::Instant::now();
        assert!(!matches(pattern, &key));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}
