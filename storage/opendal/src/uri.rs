//! Parsing `--storage` URIs into an OpenDAL scheme and its options.
//!
//! | URI | OpenDAL service |
//! |---|---|
//! | `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&access_key_id=K&secret_access_key=S&session_token=T&virtual_host_style=BOOL]` | `s3` |
//! | `fs:///ABS/DIR` | `fs` (a host directory through OpenDAL) |
//! | `opendal+SCHEME://?KEY=VALUE&...` | any compiled-in service, options passed as they are |
//!
//! Query values are percent-decoded (`%2B` for `+`, `%2F` for `/`); a `+`
//! stays a `+` (secret keys contain them).

use percent_encoding::percent_decode_str;

use crate::Error;

/// Query keys that hold secrets: never logged, never in an error message.
const SECRET_KEYS: &[&str] = &[
    "secret_access_key",
    "session_token",
    "access_key_id",
    "account_key",
    "sas_token",
    "password",
    "token",
    "credential",
];

/// Options `s3://` accepts.
const S3_KEYS: &[&str] = &[
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "virtual_host_style",
    "upload_parts",
];

/// Most parts of one upload in flight at once (`upload_parts`).
pub(crate) const MAX_UPLOAD_PARTS: usize = 16;

/// A parsed storage URI.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// OpenDAL scheme (`s3`, `fs`, `gcs`...).
    pub scheme: String,
    /// Options for `Operator::via_iter`.
    pub options: Vec<(String, String)>,
    /// For logs and errors: the URI without secrets.
    pub describe: String,
    /// The bucket (or container) name, for error messages.
    pub bucket: Option<String>,
    /// Parts of one upload sent at once (`upload_parts`, s3:// only;
    /// default 1).
    pub upload_parts: usize,
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("scheme", &self.scheme)
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

/// `uri` with the values of secret query keys replaced by `***`.
pub(crate) fn redact(uri: &str) -> String {
    let Some((base, query)) = uri.split_once('?') else {
        return uri.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret(k) => format!("{k}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

fn bad(uri: &str, reason: impl Into<String>) -> Error {
    Error::Uri {
        uri: redact(uri),
        reason: reason.into(),
    }
}

fn query_pairs(uri: &str, query: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad(uri, format!("option {k:?} is not UTF-8 once decoded")))
        };
        let (k, v) = (decode(k)?, decode(v)?);
        if k.is_empty() {
            return Err(bad(uri, "empty option name"));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(uri, format!("option {k:?} given twice")));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn parse_bool(uri: &str, key: &str, v: &str) -> Result<bool, Error> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(
            uri,
            format!("option {key:?} must be true or false, got {v:?}"),
        )),
    }
}

/// The `/`-separated components of a prefix, checked: no `.` or `..`.
fn prefix_components<'a>(uri: &str, prefix: &'a str) -> Result<Vec<&'a str>, Error> {
    let parts: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == "." || *c == "..") {
        return Err(bad(uri, "the prefix must not contain `.` or `..`"));
    }
    Ok(parts)
}

/// Parses a storage URI (see the module docs for the forms).
pub(crate) fn parse(uri: &str) -> Result<Parsed, Error> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(bad(
            uri,
            "expected s3://BUCKET[/PREFIX][?OPTIONS], fs:///DIR or opendal+SCHEME://?OPTIONS",
        ));
    };
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "s3" => parse_s3(uri, location, query),
        "fs" => {
            if !query.is_empty() {
                return Err(bad(uri, "fs:// takes no options"));
            }
            if !location.starts_with('/') {
                return Err(bad(
                    uri,
                    "fs:// needs an absolute directory (fs:///srv/ftp)",
                ));
            }
            let parts = prefix_components(uri, location)?;
            let dir = format!("/{}", parts.join("/"));
            Ok(Parsed {
                scheme: "fs".to_owned(),
                options: vec![("root".to_owned(), dir.clone())],
                describe: format!("fs://{dir}"),
                bucket: None,
                upload_parts: 1,
            })
        }
        s => {
            let Some(service) = s.strip_prefix("opendal+").filter(|s| !s.is_empty()) else {
                return Err(bad(
                    uri,
                    format!(
                        "unknown scheme {scheme:?} (expected s3, fs or opendal+SERVICE, e.g. opendal+gcs)"
                    ),
                ));
            };
            if !location.is_empty() {
                return Err(bad(
                    uri,
                    "opendal+SERVICE:// takes its settings as options only (opendal+gcs://?bucket=B&root=/P)",
                ));
            }
            let options = query_pairs(uri, query)?;
            let bucket = options
                .iter()
                .find(|(k, _)| k == "bucket" || k == "container")
                .map(|(_, v)| v.clone());
            Ok(Parsed {
                scheme: service.to_owned(),
                options,
                describe: redact(uri),
                bucket,
                upload_parts: 1,
            })
        }
    }
}

fn parse_s3(uri: &str, location: &str, query: &str) -> Result<Parsed, Error> {
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        return Err(bad(uri, "no bucket (s3://BUCKET[/PREFIX])"));
    }
    if bucket.contains(['@', ':']) {
        return Err(bad(
            uri,
            "credentials and ports go in options (?endpoint=URL&access_key_id=..), not in the bucket",
        ));
    }
    let parts = prefix_components(uri, prefix)?;
    let root = format!(
        "/{}",
        parts.iter().map(|c| format!("{c}/")).collect::<String>()
    );
    let mut options = vec![
        ("bucket".to_owned(), bucket.to_owned()),
        ("root".to_owned(), root.clone()),
        // Instance metadata (169.254.169.254) is only asked when an
        // operator turns it on through opendal+s3://.
        ("disable_ec2_metadata".to_owned(), "true".to_owned()),
    ];
    let mut region = None;
    let mut endpoint = None;
    let mut virtual_host = None;
    let mut upload_parts = 1;
    for (k, v) in query_pairs(uri, query)? {
        match k.as_str() {
            "region" => region = Some(v),
            "endpoint" => {
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(bad(uri, "endpoint must be an http:// or https:// URL"));
                }
                endpoint = Some(v);
            }
            "virtual_host_style" => virtual_host = Some(parse_bool(uri, &k, &v)?),
            "upload_parts" => {
                upload_parts = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_UPLOAD_PARTS).contains(n))
                    .ok_or_else(|| {
                        bad(
                            uri,
                            format!("upload_parts must be a number from 1 to {MAX_UPLOAD_PARTS}"),
                        )
                    })?;
            }
            "access_key_id" | "secret_access_key" | "session_token" => options.push((k, v)),
            _ => {
                return Err(bad(
                    uri,
                    format!(
                        "unknown option {k:?} (s3:// accepts {}; use opendal+s3:// for any other OpenDAL S3 option)",
                        S3_KEYS.join(", ")
                    ),
                ));
            }
        }
    }
    // Path-style (`endpoint/bucket/key`) by default with an endpoint of
    // one's own (MinIO, SeaweedFS, Ceph), virtual-host style on AWS.
    let virtual_host = virtual_host.unwrap_or(endpoint.is_none());
    options.push((
        "enable_virtual_host_style".to_owned(),
        virtual_host.to_string(),
    ));
    options.push((
        "region".to_owned(),
        region.unwrap_or_else(|| "us-east-1".to_owned()),
    ));
    let describe = match &endpoint {
        Some(e) => format!("s3://{bucket}{root} at {e}"),
        None => format!("s3://{bucket}{root}"),
    };
    if let Some(e) = endpoint {
        options.push(("endpoint".to_owned(), e));
    }
    Ok(Parsed {
        scheme: "s3".to_owned(),
        options,
        describe,
        bucket: Some(bucket.to_owned()),
        upload_parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt<'a>(p: &'a Parsed, k: &str) -> Option<&'a str> {
        p.options
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn upload_parts() {
        assert_eq!(parse("s3://bkt").unwrap().upload_parts, 1);
        let p = parse("s3://bkt?upload_parts=4").unwrap();
        assert_eq!(p.upload_parts, 4);
        // Ours, not OpenDAL's: not passed on to the operator.
        assert_eq!(opt(&p, "upload_parts"), None);
        assert_eq!(parse("fs:///srv").unwrap().upload_parts, 1);
    }

    #[test]
    fn s3_forms() {
        let p = parse("s3://bkt").unwrap();
        assert_eq!(p.scheme, "s3");
        assert_eq!(opt(&p, "bucket"), Some("bkt"));
        assert_eq!(opt(&p, "root"), Some("/"));
        assert_eq!(opt(&p, "region"), Some("us-east-1"));
        assert_eq!(opt(&p, "enable_virtual_host_style"), Some("true"));
        assert_eq!(opt(&p, "endpoint"), None);
        assert_eq!(p.describe, "s3://bkt/");

        let p = parse(
            "s3://bkt/a//b/?endpoint=http://127.0.0.1:9000&region=eu-west-1&access_key_id=AK&secret_access_key=a%2Bb+c%2F",
        )
        .unwrap();
        assert_eq!(opt(&p, "root"), Some("/a/b/"));
        assert_eq!(opt(&p, "region"), Some("eu-west-1"));
        assert_eq!(opt(&p, "endpoint"), Some("http://127.0.0.1:9000"));
        assert_eq!(opt(&p, "enable_virtual_host_style"), Some("false"));
        assert_eq!(opt(&p, "access_key_id"), Some("AK"));
        assert_eq!(opt(&p, "secret_access_key"), Some("a+b+c/"));
        assert_eq!(p.describe, "s3://bkt/a/b/ at http://127.0.0.1:9000");

        let p = parse("s3://bkt?endpoint=https://x&virtual_host_style=true").unwrap();
        assert_eq!(opt(&p, "enable_virtual_host_style"), Some("true"));
    }

    #[test]
    fn fs_and_generic() {
        let p = parse("fs:///srv//ftp/").unwrap();
        assert_eq!(p.scheme, "fs");
        assert_eq!(opt(&p, "root"), Some("/srv/ftp"));
        let p = parse("opendal+gcs://?bucket=b&root=/p&credential=SECRET").unwrap();
        assert_eq!(p.scheme, "gcs");
        assert_eq!(opt(&p, "credential"), Some("SECRET"));
        assert_eq!(p.bucket.as_deref(), Some("b"));
        assert!(!p.describe.contains("SECRET"), "{}", p.describe);
    }

    #[test]
    fn bad_uris_say_why_without_secrets() {
        for (uri, why) in [
            ("bucket", "expected s3://"),
            ("s3://", "no bucket"),
            ("s3://b/../x", "`..`"),
            ("s3://b?regoin=x", "unknown option \"regoin\""),
            ("s3://b?endpoint=ftp://x", "http://"),
            ("s3://b?virtual_host_style=maybe", "true or false"),
            ("s3://b?upload_parts=0", "from 1 to 16"),
            ("s3://b?upload_parts=17", "from 1 to 16"),
            ("s3://b?upload_parts=two", "from 1 to 16"),
            ("s3://b?region=a&region=b", "twice"),
            ("s3://key:secret@b", "options"),
            ("fs://relative", "absolute"),
            ("fs:///x?a=b", "no options"),
            ("ftp://x", "unknown scheme"),
            ("opendal+://?a=b", "unknown scheme"),
            ("opendal+gcs://b?x=y", "options only"),
        ] {
            let err = parse(uri).unwrap_err().to_string();
            assert!(err.contains(why), "{uri}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let err = parse("s3://b?secret_access_key=TOPSECRET&bogus=1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("TOPSECRET"), "{err}");
        assert!(err.contains("secret_access_key=***"), "{err}");
    }
}
