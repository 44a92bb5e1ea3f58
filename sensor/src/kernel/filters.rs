//! The filters the agent writes into the kernel: which opens to report (path
//! prefixes and access), which processes (cgroup subtrees), which network events
//! (ports). Set at start and replaceable while running.

use std::{collections::BTreeMap, os::unix::fs::MetadataExt as _, path::PathBuf};

use aya::maps::{
    Array, HashMap, MapData,
    lpm_trie::{Key, LpmTrie},
};
use sensor_common::filters::{
    NAME_MAX, NAMES_MAX, NET_ADDRS_MAX, NET_PORTS_MAX, PREFIX_KEY_LEN, PREFIX_MAX, PREFIXES_MAX,
    SCOPE_CGROUPS_MAX, access, settings,
};

/// Path prefixes under which opens are reported, and file names with which
/// they are reported wherever they are; all other opens are dropped in the
/// kernel. A prefix matches byte-wise: `/etc/` watches the directory, `/etc`
/// also matches `/etcetera`. A name matches what follows a path's last '/'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenFilter {
    /// Prefixes watched for opens that read.
    pub read: Vec<String>,
    /// Prefixes watched for opens that write.
    pub write: Vec<String>,
    /// File names watched for opens that read.
    pub read_names: Vec<String>,
    /// File names watched for opens that write.
    pub write_names: Vec<String>,
}

/// A prefix the kernel cannot watch.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// Not an absolute path.
    #[error("watched prefix {0:?} is not an absolute path")]
    NotAbsolute(String),
    /// Too long for the kernel's trie.
    #[error("watched prefix {prefix:?} is {len} bytes; at most {PREFIX_MAX} are compared")]
    TooLong {
        /// The prefix.
        prefix: String,
        /// Its length.
        len: usize,
    },
    /// Contains a NUL byte.
    #[error("watched prefix {0:?} contains a NUL byte")]
    Nul(String),
    /// Too many prefixes.
    #[error("{0} watched prefixes; at most {PREFIXES_MAX} fit")]
    TooMany(usize),
    /// Not a file name the kernel can watch.
    #[error(
        "watched file name {0:?} is empty, has a '/' or a NUL, or is {NAME_MAX} bytes or longer"
    )]
    BadName(String),
    /// Too many names.
    #[error("{0} watched file names; at most {NAMES_MAX} fit")]
    TooManyNames(usize),
}

impl OpenFilter {
    /// Each prefix with the access bits the kernel must store for it: its own, and
    /// those of every shorter watched prefix it extends, because the trie returns
    /// only the longest match.
    pub fn entries(&self) -> Result<BTreeMap<&str, u32>, FilterError> {
        let mut own: BTreeMap<&str, u32> = BTreeMap::new();
        for (list, bit) in [(&self.read, access::READ), (&self.write, access::WRITE)] {
            for prefix in list {
                if !prefix.starts_with('/') {
                    return Err(FilterError::NotAbsolute(prefix.clone()));
                }
                if prefix.len() > PREFIX_MAX {
                    return Err(FilterError::TooLong {
                        prefix: prefix.clone(),
                        len: prefix.len(),
                    });
                }
                if prefix.contains('\0') {
                    return Err(FilterError::Nul(prefix.clone()));
                }
                *own.entry(prefix.as_str()).or_default() |= bit;
            }
        }
        if own.len() > PREFIXES_MAX as usize {
            return Err(FilterError::TooMany(own.len()));
        }
        Ok(own
            .keys()
            .map(|&prefix| {
                let bits = own
                    .iter()
                    .filter(|(shorter, _)| prefix.starts_with(**shorter))
                    .fold(0, |acc, (_, bits)| acc | bits);
                (prefix, bits)
            })
            .collect())
    }

    /// Each watched file name with its access bits.
    pub fn name_entries(&self) -> Result<BTreeMap<&str, u32>, FilterError> {
        let mut names: BTreeMap<&str, u32> = BTreeMap::new();
        for (list, bit) in [
            (&self.read_names, access::READ),
            (&self.write_names, access::WRITE),
        ] {
            for name in list {
                if name.is_empty() || name.len() >= NAME_MAX || name.contains(['/', '\0']) {
                    return Err(FilterError::BadName(name.clone()));
                }
                *names.entry(name.as_str()).or_default() |= bit;
            }
        }
        if names.len() > NAMES_MAX as usize {
            return Err(FilterError::TooManyNames(names.len()));
        }
        Ok(names)
    }
}

/// The kernel maps of the open filter.
pub(super) struct OpenMaps {
    /// `OPEN_PREFIXES`: prefix to access bits.
    pub prefixes: LpmTrie<MapData, [u8; PREFIX_KEY_LEN], u32>,
    /// `OPEN_NAMES`: file name (NUL-padded) to access bits.
    pub names: HashMap<MapData, [u8; NAME_MAX], u32>,
    /// `OPEN_VERDICT_GENERATION`: when remembered verdicts went stale.
    pub generation: Array<MapData, u64>,
}

/// The error for a failed write to filter map `map`.
fn map_error(map: &'static str, source: aya::maps::MapError) -> super::LoadError {
    super::LoadError::MapWrite {
        map,
        source: Box::new(source),
    }
}

/// Turns one filter setting on or off.
fn switch(
    settings_map: &mut Array<MapData, u32>,
    setting: u32,
    on: bool,
) -> Result<(), super::LoadError> {
    settings_map
        .set(setting, u32::from(on), 0)
        .map_err(|e| map_error("SETTINGS", e))
}

fn key(prefix: &str) -> Key<[u8; PREFIX_KEY_LEN]> {
    let mut data = [0u8; PREFIX_KEY_LEN];
    data[..prefix.len()].copy_from_slice(prefix.as_bytes());
    Key::new((prefix.len() * 8) as u32, data)
}

/// The kernel's key for file name `name`: its bytes, NUL-padded.
fn name_key(name: &str) -> [u8; NAME_MAX] {
    let mut data = [0u8; NAME_MAX];
    data[..name.len()].copy_from_slice(name.as_bytes());
    data
}

/// Writes `filter` into the kernel maps: `None` reports every open.
pub(super) fn apply(
    settings_map: &mut Array<MapData, u32>,
    maps: &mut OpenMaps,
    filter: Option<&OpenFilter>,
) -> Result<(), super::LoadError> {
    let Some(filter) = filter else {
        return switch(settings_map, settings::OPEN_FILTER, false);
    };
    let config = |e: FilterError| super::LoadError::Config(e.to_string());
    let entries = filter.entries().map_err(config)?;
    let names = filter.name_entries().map_err(config)?;
    // Add the new prefixes and names before removing stale ones and before
    // turning the filter on, so no watched open is dropped while the maps change.
    for (prefix, bits) in &entries {
        maps.prefixes
            .insert(&key(prefix), bits, 0)
            .map_err(|e| map_error("OPEN_PREFIXES", e))?;
    }
    for (name, bits) in &names {
        maps.names
            .insert(name_key(name), bits, 0)
            .map_err(|e| map_error("OPEN_NAMES", e))?;
    }
    if !names.is_empty() {
        switch(settings_map, settings::OPEN_NAMES, true)?;
    }
    let stale: Vec<_> = maps
        .prefixes
        .keys()
        .filter_map(Result::ok)
        .filter(|k| {
            let data = k.data();
            let len = (k.prefix_len() / 8) as usize;
            std::str::from_utf8(&data[..len.min(PREFIX_KEY_LEN)])
                .map_or(true, |p| !entries.contains_key(p))
        })
        .collect();
    for k in stale {
        maps.prefixes
            .remove(&k)
            .map_err(|e| map_error("OPEN_PREFIXES", e))?;
    }
    let stale: Vec<_> = maps
        .names
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !names.keys().any(|name| name_key(name) == *k))
        .collect();
    for k in stale {
        maps.names
            .remove(&k)
            .map_err(|e| map_error("OPEN_NAMES", e))?;
    }
    if names.is_empty() {
        switch(settings_map, settings::OPEN_NAMES, false)?;
    }
    // The kernel remembers verdicts judged by the old prefixes; once the maps
    // hold the new ones, they are stale.
    invalidate_verdicts(&mut maps.generation)?;
    switch(settings_map, settings::OPEN_FILTER, true)
}

/// Moves the kernel's open-verdict generation on. Like the kernel (on renames and
/// mount changes) it writes the monotonic clock's time, a value never written
/// before, so the write changes the generation whatever else writes it.
fn invalidate_verdicts(generation: &mut Array<MapData, u64>) -> Result<(), super::LoadError> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; CLOCK_MONOTONIC is bpf_ktime_get_ns's clock.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let ns = (now.tv_sec as u64) * 1_000_000_000 + now.tv_nsec as u64;
    generation
        .set(0, ns, 0)
        .map_err(|e| map_error("OPEN_VERDICT_GENERATION", e))
}

/// The cgroup ids of `subtrees`: directories of the cgroup v2 hierarchy, given as
/// paths inside it (`/kubepods`) or as full paths under its mount point.
pub fn cgroup_ids(subtrees: &[PathBuf]) -> Result<Vec<u64>, super::LoadError> {
    let mount = super::cgroup::v2_mount().ok_or(super::LoadError::NoCgroup2)?;
    if subtrees.len() > SCOPE_CGROUPS_MAX as usize {
        return Err(super::LoadError::Config(format!(
            "{} cgroup subtrees in scope; at most {SCOPE_CGROUPS_MAX} fit",
            subtrees.len()
        )));
    }
    subtrees
        .iter()
        .map(|subtree| {
            let dir = if subtree.starts_with(&mount) {
                subtree.clone()
            } else {
                mount.join(subtree.strip_prefix("/").unwrap_or(subtree))
            };
            std::fs::metadata(&dir)
                .ok()
                .filter(|m| m.is_dir())
                .map(|m| m.ino())
                .ok_or_else(|| {
                    super::LoadError::Config(format!(
                        "cgroup {} does not exist under the cgroup v2 hierarchy at {}",
                        subtree.display(),
                        mount.display()
                    ))
                })
        })
        .collect()
}

/// Writes a u64-keyed or u16-keyed set: adds `wanted`, removes the rest, then
/// turns `setting` on; `None` turns it off and leaves the set.
fn apply_set<K: aya::Pod + Eq + Copy>(
    settings_map: &mut Array<MapData, u32>,
    setting: u32,
    set: &mut HashMap<MapData, K, u8>,
    name: &'static str,
    wanted: Option<&[K]>,
) -> Result<(), super::LoadError> {
    let Some(wanted) = wanted else {
        return switch(settings_map, setting, false);
    };
    for key in wanted {
        set.insert(key, 1, 0).map_err(|e| map_error(name, e))?;
    }
    let stale: Vec<K> = set
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !wanted.contains(k))
        .collect();
    for key in stale {
        set.remove(&key).map_err(|e| map_error(name, e))?;
    }
    switch(settings_map, setting, true)
}

/// Restricts reporting to processes in the cgroup subtrees with these ids; `None`
/// reports every process.
pub(super) fn apply_scope(
    settings_map: &mut Array<MapData, u32>,
    scope: &mut HashMap<MapData, u64, u8>,
    ids: Option<&[u64]>,
) -> Result<(), super::LoadError> {
    apply_set(
        settings_map,
        settings::CGROUP_SCOPE,
        scope,
        "SCOPE_CGROUPS",
        ids,
    )
}

/// Restricts network events to these ports; `None` reports every port.
pub(super) fn apply_ports(
    settings_map: &mut Array<MapData, u32>,
    ports: &mut HashMap<MapData, u16, u8>,
    wanted: Option<&[u16]>,
) -> Result<(), super::LoadError> {
    if wanted.is_some_and(|w| w.len() > NET_PORTS_MAX as usize) {
        return Err(super::LoadError::Config(format!(
            "more than {NET_PORTS_MAX} ports of interest"
        )));
    }
    apply_set(
        settings_map,
        settings::NET_PORT_FILTER,
        ports,
        "NET_PORTS",
        wanted,
    )
}

/// An address range of interest: `10.0.0.0/8`, `fd00::/8`, or a bare address
/// (a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRange {
    /// The network address.
    pub addr: std::net::IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

impl std::str::FromStr for AddrRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|e| format!("{text:?} is not an address range: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl AddrRange {
    /// The kernel trie's key: IPv6, an IPv4 range mapped into `::ffff:0:0/96`.
    fn key(self) -> Key<[u8; 16]> {
        match self.addr {
            std::net::IpAddr::V4(v4) => {
                Key::new(96 + u32::from(self.prefix), v4.to_ipv6_mapped().octets())
            }
            std::net::IpAddr::V6(v6) => Key::new(u32::from(self.prefix), v6.octets()),
        }
    }
}

/// Restricts network events to these address ranges; `None` reports all.
pub(super) fn apply_addrs(
    settings_map: &mut Array<MapData, u32>,
    trie: &mut LpmTrie<MapData, [u8; 16], u8>,
    ranges: Option<&[AddrRange]>,
) -> Result<(), super::LoadError> {
    let Some(ranges) = ranges else {
        return switch(settings_map, settings::NET_ADDR_FILTER, false);
    };
    if ranges.len() > NET_ADDRS_MAX as usize {
        return Err(super::LoadError::Config(format!(
            "more than {NET_ADDRS_MAX} address ranges of interest"
        )));
    }
    let keys: Vec<Key<[u8; 16]>> = ranges.iter().map(|r| r.key()).collect();
    for key in &keys {
        trie.insert(key, 1, 0)
            .map_err(|e| map_error("NET_ADDRS", e))?;
    }
    let same = |a: &Key<[u8; 16]>, b: &Key<[u8; 16]>| {
        a.prefix_len() == b.prefix_len() && a.data() == b.data()
    };
    let stale: Vec<_> = trie
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !keys.iter().any(|w| same(w, k)))
        .collect();
    for key in stale {
        trie.remove(&key).map_err(|e| map_error("NET_ADDRS", e))?;
    }
    switch(settings_map, settings::NET_ADDR_FILTER, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(read: &[&str], write: &[&str]) -> OpenFilter {
        OpenFilter {
            read: read.iter().map(|s| s.to_string()).collect(),
            write: write.iter().map(|s| s.to_string()).collect(),
            ..OpenFilter::default()
        }
    }

    #[test]
    fn longer_prefixes_inherit_shorter_ones_access() {
        let f = filter(&["/etc/"], &["/", "/etc/ssh/"]);
        let entries = f.entries().expect("valid");
        assert_eq!(entries["/"], access::WRITE);
        assert_eq!(entries["/etc/"], access::READ | access::WRITE);
        assert_eq!(entries["/etc/ssh/"], access::READ | access::WRITE);
        let f = filter(&["/etc/shadow", "/etc/"], &[]);
        assert_eq!(f.entries().expect("valid")["/etc/shadow"], access::READ);
    }

    #[test]
    fn address_ranges_parse_and_map_ipv4() {
        let r: AddrRange = "10.0.0.0/8".parse().expect("valid");
        assert_eq!(r.prefix, 8);
        let key = r.key();
        assert_eq!(key.prefix_len(), 104);
        assert_eq!(&key.data()[10..13], &[0xff, 0xff, 10]);
        let one: AddrRange = "::1".parse().expect("valid");
        assert_eq!((one.prefix, one.key().prefix_len()), (128, 128));
        for bad in ["10.0.0.0/33", "::1/129", "nope", "1.2.3.4/x", ""] {
            assert!(bad.parse::<AddrRange>().is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert_eq!(
            filter(&["etc/"], &[]).entries(),
            Err(FilterError::NotAbsolute("etc/".into()))
        );
        let long = format!("/{}", "x".repeat(PREFIX_MAX));
        assert!(matches!(
            filter(&[&long], &[]).entries(),
            Err(FilterError::TooLong { .. })
        ));
        assert!(matches!(
            filter(&["/a\0b"], &[]).entries(),
            Err(FilterError::Nul(_))
        ));
        let many: Vec<String> = (0..=PREFIXES_MAX).map(|i| format!("/{i}")).collect();
        let f = OpenFilter {
            read: many,
            ..OpenFilter::default()
        };
        assert!(matches!(f.entries(), Err(FilterError::TooMany(_))));
    }
}
