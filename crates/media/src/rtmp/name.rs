//! Where a publisher wants to publish: application, stream name and key.
//!
//! `rtmp://HOST/live/cam1?key=K` reaches the server as `connect` with app
//! `live` (tcUrl `rtmp://HOST/live`) and `publish("cam1?key=K")` (ffmpeg);
//! OBS with server `rtmp://HOST/live` and stream key `cam1?key=K` sends the
//! same. With server `rtmp://HOST/live?key=K` the key is in the app and the
//! tcUrl instead. For `rtmp://HOST/a/b/cam1` ffmpeg sends app `a/b` and
//! name `cam1`; a client may also send app `a` and name `b/cam1`: both give
//! app `a/b`, stream `cam1`.

/// The parsed target of a `publish` (or `play`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamPath {
    /// The application: the connect app without its query, plus any leading
    /// path elements of the stream name, joined by `/`.
    pub app: String,
    /// The last path element of the stream name, without its query.
    pub stream_name: String,
    /// The `key` query parameter of the stream name, else of the app, else of
    /// the tcUrl (percent-decoded).
    pub key: Option<String>,
}

/// Splits `connect`'s app and tcUrl and `publish`'s name into a [`StreamPath`].
///
/// ```
/// use media::rtmp::parse_stream_path;
/// let p = parse_stream_path("live", Some("rtmp://h/live"), "cam1?key=secret");
/// assert_eq!((p.app.as_str(), p.stream_name.as_str(), p.key.as_deref()), ("live", "cam1", Some("secret")));
/// let p = parse_stream_path("live?key=k2", None, "a/cam2");
/// assert_eq!((p.app.as_str(), p.stream_name.as_str(), p.key.as_deref()), ("live/a", "cam2", Some("k2")));
/// ```
pub fn parse_stream_path(app: &str, tc_url: Option<&str>, name: &str) -> StreamPath {
    let (name_path, name_query) = split_query(name);
    let (app_path, app_query) = split_query(app);
    let tc_query = tc_url.and_then(|t| split_query(t).1);
    let key = [name_query, app_query, tc_query]
        .into_iter()
        .flatten()
        .find_map(|q| query_param(q, "key"));
    let mut parts: Vec<&str> = app_path.split('/').filter(|s| !s.is_empty()).collect();
    let mut names: Vec<&str> = name_path.split('/').filter(|s| !s.is_empty()).collect();
    let stream_name = if name_path.ends_with('/') {
        None
    } else {
        names.pop()
    };
    parts.extend(names);
    StreamPath {
        app: parts.join("/"),
        stream_name: stream_name.unwrap_or_default().to_owned(),
        key,
    }
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    }
}

/// The first value of `name` in a `a=b&c=d` query, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

/// `%XX` escapes decoded; malformed escapes and invalid UTF-8 kept/replaced.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|h| (*h as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(app: &str, tc: Option<&str>, name: &str) -> (String, String, Option<String>) {
        let p = parse_stream_path(app, tc, name);
        (p.app, p.stream_name, p.key)
    }

    #[test]
    fn forms() {
        let s = |x: &str| x.to_owned();
        assert_eq!(p("live", None, "cam1"), (s("live"), s("cam1"), None));
        assert_eq!(
            p("live", None, "cam1?key=K"),
            (s("live"), s("cam1"), Some(s("K")))
        );
        assert_eq!(
            p("live", None, "cam1?a=1&key=K&b=2"),
            (s("live"), s("cam1"), Some(s("K")))
        );
        assert_eq!(
            p("live?key=K", None, "cam1"),
            (s("live"), s("cam1"), Some(s("K")))
        );
        assert_eq!(
            p("live", Some("rtmp://h:1935/live?key=K"), "cam1"),
            (s("live"), s("cam1"), Some(s("K")))
        );
        // the stream name's key wins
        assert_eq!(
            p("live?key=A", None, "cam1?key=B"),
            (s("live"), s("cam1"), Some(s("B")))
        );
        assert_eq!(p("a/b", None, "cam1"), (s("a/b"), s("cam1"), None));
        assert_eq!(p("a", None, "b/cam1?key=K"), (s("a/b"), s("cam1"), Some(s("K"))));
        assert_eq!(
            p("live", None, "cam1?key=a%2Fb%3"),
            (s("live"), s("cam1"), Some(s("a/b%3")))
        );
        assert_eq!(p("", None, ""), (s(""), s(""), None));
        assert_eq!(p("live", None, "?key=K"), (s("live"), s(""), Some(s("K"))));
        assert_eq!(p("live", None, "x/"), (s("live/x"), s(""), None));
    }
}
