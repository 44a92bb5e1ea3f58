//! `field(body, name [, key])`: a catalogue field of a stored finding, read
//! from its encoding ([`wire::field_values`]) as the SQL value filters compare:
//! text, an integer (booleans as 1 and 0), a real, JSON text for a list or a
//! map (or, with `key`, the map's value under it), NULL when the finding lacks
//! it. Registered on every connection; deterministic, so the schema indexes
//! `field(body, 'fd.name')`.
//!
//! The store keeps no second copy of the fields (it kept them as JSON once):
//! building that copy was a fifth of the work per finding stored.

use rusqlite::{
    Connection,
    functions::{Context, FunctionFlags},
    types::{Value as Sql, ValueRef},
};
use sensor_proto::{
    v1::{Value, value::Kind},
    wire,
};

/// Adds `field` to `conn`.
pub(in crate::store) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("field", 2, flags, field)?;
    conn.create_scalar_function("field", 3, flags, field)
}

fn field(ctx: &mut Context<'_>) -> rusqlite::Result<Sql> {
    let ValueRef::Blob(body) = ctx.get_raw(0) else {
        return Ok(Sql::Null);
    };
    let name = ctx.get_raw(1).as_str()?;
    let key = match ctx.len() {
        3 => Some(ctx.get_raw(2).as_str()?),
        _ => None,
    };
    // Bodies were checked when they arrived; one that still does not read has
    // no readable fields, which a filter treats as absent.
    let [value] = wire::field_values(body, [name]).unwrap_or([None]);
    Ok(value.map_or(Sql::Null, |v| to_sql(v, key)))
}

/// A field's value as SQL.
fn to_sql(value: Value, key: Option<&str>) -> Sql {
    let Some(kind) = value.kind else {
        return Sql::Null;
    };
    match (kind, key) {
        (Kind::MapValue(map), Some(key)) => {
            map.values.get(key).cloned().map_or(Sql::Null, Sql::Text)
        }
        (Kind::JsonValue(text), key) => json_to_sql(&text, key),
        // Only maps have keys.
        (_, Some(_)) => Sql::Null,
        (Kind::StringValue(s), None) => Sql::Text(s),
        (Kind::IntValue(i), None) => Sql::Integer(i),
        // Beyond i64, as SQLite's own JSON functions read such numbers.
        (Kind::UintValue(u), None) => i64::try_from(u).map_or(Sql::Real(u as f64), Sql::Integer),
        (Kind::BoolValue(b), None) => Sql::Integer(i64::from(b)),
        (Kind::DoubleValue(d), None) if d.is_finite() => Sql::Real(d),
        (Kind::DoubleValue(_), None) => Sql::Null,
        (Kind::ListValue(list), None) => {
            Sql::Text(serde_json::Value::from(list.values).to_string())
        }
        (Kind::MapValue(map), None) => Sql::Text(
            serde_json::Value::Object(
                map.values
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
            )
            .to_string(),
        ),
    }
}

/// A value the sensor could only send as JSON text.
fn json_to_sql(text: &str, key: Option<&str>) -> Sql {
    use serde_json::Value as Json;
    let Ok(json) = serde_json::from_str::<Json>(text) else {
        return match key {
            None => Sql::Text(text.to_owned()),
            Some(_) => Sql::Null,
        };
    };
    let json = match key {
        Some(key) => match json.get(key) {
            Some(v) => v.clone(),
            None => return Sql::Null,
        },
        None => json,
    };
    match json {
        Json::Null => Sql::Null,
        Json::Bool(b) => Sql::Integer(i64::from(b)),
        Json::Number(n) => n
            .as_i64()
            .map_or_else(|| Sql::Real(n.as_f64().unwrap_or(f64::NAN)), Sql::Integer),
        Json::String(s) => Sql::Text(s),
        other => Sql::Text(other.to_string()),
    }
}
