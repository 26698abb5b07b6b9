//! Resolving the URIs of a playlist against the playlist's own URL
//! (RFC 8216 §4.1: relative URIs are relative to the playlist that holds
//! them; the algorithm is RFC 3986 §5.2).

/// Resolves `reference` (a segment, map, key or variant URI as written in a
/// playlist) against `base` (the absolute URL the playlist was loaded from),
/// per RFC 3986 §5.2 with dot-segment removal (§5.2.4):
///
/// - absolute (`https://other/x.ts`, any `scheme:`): returned as is;
/// - network-path (`//host/x.ts`): the base's scheme is prefixed;
/// - root-relative (`/live/x.ts`): the base's scheme and authority;
/// - query-only (`?token=1`), fragment-only (`#x`) and empty: the base's path;
/// - relative (`x.ts`, `../a/x.ts`): merged with the base's directory.
///
/// The base's query and fragment never carry over to a path reference.
/// Returns `None` when `base` is not absolute (`scheme://authority...`).
///
/// ```
/// use media::hls::resolve;
/// let base = "http://cdn.example/live/hi/index.m3u8?t=1";
/// assert_eq!(resolve(base, "seg1.ts").as_deref(), Some("http://cdn.example/live/hi/seg1.ts"));
/// assert_eq!(resolve(base, "../lo/index.m3u8").as_deref(), Some("http://cdn.example/live/lo/index.m3u8"));
/// assert_eq!(resolve(base, "/x/y.ts").as_deref(), Some("http://cdn.example/x/y.ts"));
/// assert_eq!(resolve(base, "https://b.example/z.ts").as_deref(), Some("https://b.example/z.ts"));
/// ```
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    let base = Parts::parse(base)?;
    if has_scheme(reference) {
        return Some(reference.to_owned());
    }
    if reference.starts_with("//") {
        return Some(format!("{}:{reference}", base.scheme));
    }
    let origin = format!("{}://{}", base.scheme, base.authority);
    let split = reference.find(['?', '#']).unwrap_or(reference.len());
    let (path, suffix) = reference.split_at(split);
    if path.is_empty() {
        // same document: keep the base's query unless the reference has one
        let query = if suffix.starts_with('?') { "" } else { base.query };
        let path = if base.path.is_empty() { "/" } else { base.path };
        return Some(format!("{origin}{path}{query}{suffix}"));
    }
    let merged = if path.starts_with('/') {
        path.to_owned()
    } else {
        let dir = base
            .path
            .rfind('/')
            .map_or("/", |i| base.path.get(..=i).unwrap_or("/"));
        format!("{dir}{path}")
    };
    Some(format!("{origin}{}{suffix}", remove_dot_segments(&merged)))
}

/// The components of an absolute URL (RFC 3986 §3); the fragment is dropped.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    /// Empty or starting with `/`.
    path: &'a str,
    /// Empty or starting with `?`.
    query: &'a str,
}

impl<'a> Parts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let url = url.split('#').next().unwrap_or(url);
        let (scheme, rest) = url.split_once("://")?;
        if !has_scheme(&format!("{scheme}:")) {
            return None;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        let q = rest.find('?').unwrap_or(rest.len());
        let (path, query) = rest.split_at(q);
        Some(Self {
            scheme,
            authority,
            path,
            query,
        })
    }
}

/// True when `s` starts with `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`
/// (RFC 3986 §3.1).
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// RFC 3986 §5.2.4 for a path starting with `/`.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::new();
    // segments[0] is the empty string before the leading slash
    for (i, seg) in segments.iter().enumerate().skip(1) {
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        if i == last && matches!(*seg, "." | "..") {
            // a trailing dot segment leaves a directory: keep its slash
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_examples() {
        // RFC 3986 §5.4.1 (normal examples), base http://a/b/c/d;p?q
        let base = "http://a/b/c/d;p?q";
        for (r, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q#s"),
            ("g#s", "http://a/b/c/g#s"),
            ("g?y#s", "http://a/b/c/g?y#s"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            // abnormal examples (§5.4.2)
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("https:g", "https:g"),
        ] {
            assert_eq!(resolve(base, r).as_deref(), Some(want), "{r}");
        }
    }

    #[test]
    fn playlist_cases() {
        assert_eq!(
            resolve("http://h:8080", "a.ts").as_deref(),
            Some("http://h:8080/a.ts")
        );
        assert_eq!(
            resolve("http://h/x.m3u8#frag", "a.ts").as_deref(),
            Some("http://h/a.ts")
        );
        assert_eq!(
            resolve("https://h/p/x.m3u8?tok=1", "a.ts?tok=2").as_deref(),
            Some("https://h/p/a.ts?tok=2")
        );
        assert_eq!(resolve("index.m3u8", "a.ts"), None);
        assert_eq!(resolve("1x://h/", "a.ts"), None);
    }
}
