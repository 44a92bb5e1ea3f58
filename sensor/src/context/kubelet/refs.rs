//! The references the kubelet reports as text, parsed: image names (`spec.image`),
//! image ids (`status.imageID`, for the digest) and container ids
//! (`status.containerID`, `<runtime>://<64 hex>`). Everything here takes hostile
//! strings: it slices only at ASCII separators and answers `None` rather than guess.

/// An image reference split into repository, tag and digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and path as written (`nginx`, `registry:5000/team/app`): no
    /// `docker.io/library/` is added, so it matches what the pod's author wrote.
    pub repository: String,
    /// The tag; `latest` when neither a tag nor a digest is written.
    pub tag: Option<String>,
    /// The digest written after `@` (`sha256:...`), when it is a valid one.
    pub digest: Option<String>,
}

/// Splits an image reference `[registry[:port]/]path[:tag][@digest]`.
///
/// A colon is a tag separator only after the last `/`: in `registry:5000/app` it
/// introduces a port. The tag defaults to `latest` only when neither a tag nor a
/// digest is given, as the runtime does when pulling.
pub fn parse_image(image: &str) -> ImageRef {
    let image = image.trim();
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, valid_digest(digest)),
        None => (image, None),
    };
    let path_start = name.rfind('/').map_or(0, |slash| slash + 1);
    let (repository, tag) = match name[path_start..].rfind(':') {
        Some(colon) => {
            let colon = path_start + colon;
            (
                &name[..colon],
                Some(&name[colon + 1..]).filter(|t| !t.is_empty()),
            )
        }
        None => (name, None),
    };
    let tag = match (tag, &digest) {
        (Some(tag), _) => Some(tag.to_owned()),
        (None, None) => Some("latest".to_owned()),
        (None, Some(_)) => None,
    };
    ImageRef {
        repository: repository.to_owned(),
        tag,
        digest,
    }
}

/// The digest in a runtime's image id: `docker.io/library/nginx@sha256:...`
/// (containerd, CRI-O), `docker-pullable://nginx@sha256:...` or `sha256:...`.
pub fn digest_from_image_id(image_id: &str) -> Option<String> {
    let image_id = image_id.trim();
    let digest = match image_id.rsplit_once('@') {
        Some((_, digest)) => digest,
        None => image_id
            .split_once("://")
            .map_or(image_id, |(_, rest)| rest),
    };
    valid_digest(digest)
}

/// `algorithm:hex` with a known algorithm and the right number of lowercase hex digits.
fn valid_digest(digest: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    is_lower_hex(hex, len).then(|| digest.to_owned())
}

/// A container id as the kubelet reports it, split into runtime and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerId<'a> {
    /// The scheme before `://`, such as `containerd`, `cri-o` or `docker`; `None`
    /// for a bare id.
    pub runtime: Option<&'a str>,
    /// The 64 lowercase hex digits, as they appear in the container's cgroup path.
    pub id: &'a str,
}

/// Parses `<runtime>://<64 lowercase hex>` (or a bare id); anything else is `None`.
pub fn parse_container_id(text: &str) -> Option<ContainerId<'_>> {
    let (runtime, id) = match text.split_once("://") {
        Some((runtime, _)) if !valid_runtime(runtime) => return None,
        Some((runtime, id)) => (Some(runtime), id),
        None => (None, text),
    };
    is_lower_hex(id, 64).then_some(ContainerId { runtime, id })
}

/// A runtime scheme: short, lowercase letters, digits, `-`, `.` and `+`.
fn valid_runtime(runtime: &str) -> bool {
    (1..=32).contains(&runtime.len())
        && runtime
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.+".contains(&b))
}

/// Exactly `len` lowercase hex digits.
fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn image(repository: &str, tag: Option<&str>, digest: Option<&str>) -> ImageRef {
        ImageRef {
            repository: repository.into(),
            tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    #[test]
    fn images_split_into_repository_tag_and_digest() {
        let digest = format!("sha256:{HEX}");
        let cases = [
            ("nginx", image("nginx", Some("latest"), None)),
            ("nginx:1.25", image("nginx", Some("1.25"), None)),
            (
                "docker.io/library/nginx:1.25",
                image("docker.io/library/nginx", Some("1.25"), None),
            ),
            (
                "registry:5000/team/app:v1",
                image("registry:5000/team/app", Some("v1"), None),
            ),
            (
                "registry:5000/team/app",
                image("registry:5000/team/app", Some("latest"), None),
            ),
            (
                &format!("repo@{digest}"),
                image("repo", None, Some(&digest)),
            ),
            (
                &format!("repo:tag@{digest}"),
                image("repo", Some("tag"), Some(&digest)),
            ),
            (
                &format!("localhost:5000/repo@{digest}"),
                image("localhost:5000/repo", None, Some(&digest)),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_image(text), want, "{text}");
        }
    }

    #[test]
    fn hostile_images_do_not_panic() {
        for text in [
            "",
            ":",
            "@",
            "/",
            "a:",
            "a@",
            "@sha256:",
            ":::///@@@",
            "é:é@é",
            "repo@sha256:XYZ",
            "repo@md5:abcd",
        ] {
            let parsed = parse_image(text);
            assert!(parsed.digest.is_none(), "{text}: {parsed:?}");
        }
        // An invalid digest is dropped, and so the tag defaults as if none were written.
        assert_eq!(parse_image("a@junk"), image("a", Some("latest"), None));
        let huge = "x".repeat(1 << 20) + ":" + &"y".repeat(1 << 20);
        assert_eq!(parse_image(&huge).tag.map(|t| t.len()), Some(1 << 20));
    }

    #[test]
    fn digests_come_from_every_runtimes_image_id() {
        let digest = format!("sha256:{HEX}");
        for id in [
            format!("docker.io/library/nginx@{digest}"),
            format!("docker-pullable://nginx@{digest}"),
            format!("docker://{digest}"),
            digest.clone(),
        ] {
            assert_eq!(digest_from_image_id(&id).as_deref(), Some(&*digest), "{id}");
        }
        for id in [
            "",
            "sha256:",
            "nginx:1.25",
            "sha256:ABC",
            &format!("{digest}0"),
        ] {
            assert_eq!(digest_from_image_id(id), None, "{id}");
        }
    }

    #[test]
    fn container_ids_need_64_lowercase_hex() {
        for runtime in ["containerd", "cri-o", "docker"] {
            let text = format!("{runtime}://{HEX}");
            assert_eq!(
                parse_container_id(&text),
                Some(ContainerId {
                    runtime: Some(runtime),
                    id: HEX
                })
            );
        }
        assert_eq!(
            parse_container_id(HEX),
            Some(ContainerId {
                runtime: None,
                id: HEX
            })
        );
        let upper = HEX.to_uppercase();
        let short = &HEX[..63];
        let long = format!("{HEX}0");
        let spaced = format!(" {}", &HEX[1..]);
        let bad = [
            "",
            "containerd://",
            "://",
            &format!("containerd://{upper}"),
            &format!("containerd://{short}"),
            &format!("containerd://{long}"),
            &format!("containerd://{spaced}"),
            &format!("CONTAINERD://{HEX}"),
            &format!("a b://{HEX}"),
            &format!("{}://{HEX}", "x".repeat(33)),
            &format!("containerd://containerd://{HEX}"),
            &format!("containerd://{}é", &HEX[..62]),
        ];
        for text in bad {
            assert_eq!(parse_container_id(text), None, "{text:?}");
        }
    }
}
