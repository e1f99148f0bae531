//! Finds the line of a pool, a key in it, or a text under that key, for errors
//! found after the YAML was read (duplicates, missing keys). Best effort: a
//! config written in an unusual YAML style may get no line, never a wrong one
//! outside the pool.

/// 1-based line of `needle` under `key` in pool `pool`; falls back to the key's
/// line, then to the pool's header line.
pub(super) fn line_in_pool(
    text: &str,
    pool: &str,
    key: Option<&str>,
    needle: Option<&str>,
) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().position(|l| is_key_line(l, pool, true))?;
    let end = lines[header + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t', '-', '#']))
        .map_or(lines.len(), |n| header + 1 + n);
    let body = header + 1..end;
    let Some(key) = key else {
        return Some(header + 1);
    };
    let Some(key_line) = body.clone().find(|&i| is_key_line(lines[i], key, false)) else {
        return Some(header + 1);
    };
    if let Some(needle) = needle {
        if let Some(i) = (key_line..end).find(|&i| lines[i].contains(needle)) {
            return Some(i + 1);
        }
    }
    Some(key_line + 1)
}

/// 1-based line of the `occurrence`-th (0-based) top-level key `name`.
pub(super) fn nth_top_level_line(text: &str, name: &str, occurrence: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| is_key_line(l, name, true))
        .nth(occurrence)
        .map(|(i, _)| i + 1)
}

/// 1-based line of `key` in `pool`, or of its `item`-th list entry.
pub(super) fn line_of_item(
    text: &str,
    pool: &str,
    key: &str,
    item: Option<usize>,
) -> Option<usize> {
    let key_line = line_in_pool(text, pool, Some(key), None)?;
    let Some(item) = item else {
        return Some(key_line);
    };
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let key_indent = indent(lines[key_line - 1]);
    // The key's own block: what is indented deeper, or list entries at its
    // depth (not the next key's list).
    let in_block = |l: &&str| {
        let t = l.trim_start();
        t.is_empty()
            || t.starts_with('#')
            || indent(l) > key_indent
            || (indent(l) == key_indent && t.starts_with('-'))
    };
    lines[key_line..]
        .iter()
        .enumerate()
        .take_while(|(_, l)| in_block(l))
        .filter(|(_, l)| l.trim_start().starts_with('-'))
        .nth(item)
        .map(|(i, _)| key_line + i + 1)
        .or(Some(key_line))
}

fn is_key_line(line: &str, key: &str, top_level: bool) -> bool {
    if top_level && line.starts_with([' ', '\t']) {
        return false;
    }
    let t = line.trim_start();
    let t = t
        .strip_prefix('"')
        .and_then(|r| r.strip_prefix(key)?.strip_prefix('"'))
        .or_else(|| t.strip_prefix(key));
    t.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "alpha:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:2:1\n   - 127.0.0.1:3:1\nbeta:\n  listen: 127.0.0.1:4\n  servers:\n   - 127.0.0.1:3:1\n";

    #[test]
    fn finds_lines() {
        assert_eq!(line_in_pool(TEXT, "beta", None, None), Some(6));
        assert_eq!(line_in_pool(TEXT, "beta", Some("listen"), None), Some(7));
        assert_eq!(
            line_in_pool(TEXT, "alpha", Some("servers"), Some("127.0.0.1:3:1")),
            Some(5)
        );
        assert_eq!(
            line_in_pool(TEXT, "beta", Some("servers"), Some("127.0.0.1:3:1")),
            Some(9)
        );
        assert_eq!(line_in_pool(TEXT, "gamma", None, None), None);
        assert_eq!(line_of_item(TEXT, "alpha", "servers", Some(1)), Some(5));
        assert_eq!(line_of_item(TEXT, "alpha", "servers", None), Some(3));
        assert_eq!(nth_top_level_line(TEXT, "beta", 0), Some(6));
        // A flow-style list has no entry lines: its key's line, never the
        // next key's list.
        let flow = "a:\n  users: [{name: x}]\n  servers:\n   - 127.0.0.1:2:1\n";
        assert_eq!(line_of_item(flow, "a", "users", Some(0)), Some(2));
    }
}
