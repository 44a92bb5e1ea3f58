//! A small YAML value type for rule items. Items are read as generic values first,
//! not straight into structs, because Falco files carry keys from other versions:
//! an unknown key must be a warning naming the item, and a mistyped field an error
//! naming the item and field, neither of which serde's derive can phrase.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value; scalars keep their text so list items like `80` stay strings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Yaml {
    Null,
    Bool(bool),
    /// A number, as its decimal text.
    Number(String),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    /// What kind of value this is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "nothing",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::Str(_) => "a string",
            Self::Seq(_) => "a sequence",
            Self::Map(_) => "a map",
        }
    }

    /// The text of a scalar (string, number or boolean).
    pub(crate) fn scalar(&self) -> Option<String> {
        match self {
            Self::Str(s) | Self::Number(s) => Some(s.clone()),
            Self::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Yaml, E> {
        Ok(Yaml::Number(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Yaml, E> {
        Ok(Yaml::Number(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Yaml, E> {
        Ok(Yaml::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Number(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_none<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        Yaml::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Yaml::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<Yaml, Yaml>()? {
            let Some(k) = k.scalar() else {
                return Err(de::Error::custom("map keys must be strings"));
            };
            out.push((k, v));
        }
        Ok(Yaml::Map(out))
    }
}

/// One top-level item: its keys in order, each value with its position (the
/// condition's position is what syntax errors are placed from). `None` for an
/// empty item (`- ` alone), which Falco skips.
#[derive(Debug)]
pub(crate) struct ItemMap(pub(crate) Option<Vec<(String, Spanned<Yaml>)>>);

impl<'de> Deserialize<'de> for ItemMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = ItemMap;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with one of the keys rule, macro, list, required_engine_version, required_plugin_versions")
    }
    fn visit_unit<E>(self) -> Result<ItemMap, E> {
        Ok(ItemMap(None))
    }
    fn visit_none<E>(self) -> Result<ItemMap, E> {
        Ok(ItemMap(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemMap, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<Yaml>()? {
            let Some(k) = k.scalar() else {
                return Err(de::Error::custom("item keys must be strings"));
            };
            out.push((k, map.next_value::<Spanned<Yaml>>()?));
        }
        Ok(ItemMap(Some(out)))
    }
}
