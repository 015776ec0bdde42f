//! Deserializers that bound memory while a request body is parsed (SPEC §13).
//!
//! A body of 16 MiB can hold seven million tiny list items; collecting them before
//! counting costs hundreds of MB. These helpers count while parsing and fail at the
//! first item past the limit, so the parser stops reading there:
//!
//! - [`vec`] / [`opt_vec`] for `#[serde(deserialize_with = …)]` on a `Vec<T>` field;
//! - [`BoundedValue`], a `serde_json::Value` with a budget of nodes, for the few
//!   places that keep a loosely typed value.
//!
//! The error texts are written to follow the field's name (the server prefixes the
//! path, e.g. `records has more than 5000 items…`).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The message of a list that ran past `max` items.
pub fn too_many_items(max: usize) -> String {
    format!("has more than {max} items; send at most {max} in one request")
}

struct BoundedVecVisitor<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVecVisitor<T, MAX> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {MAX} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        // The size hint comes from the sender: never trust it past the limit.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX).min(1024));
        while let Some(item) = seq.next_element()? {
            if items.len() == MAX {
                return Err(de::Error::custom(too_many_items(MAX)));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// A list of at most `MAX` items; the `MAX + 1`-th item ends parsing with an error.
pub fn vec<'de, D, T, const MAX: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(BoundedVecVisitor::<T, MAX>(PhantomData))
}

/// [`vec`] for an optional field (`null` or absent is `None`).
pub fn opt_vec<'de, D, T, const MAX: usize>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(bound = "T: Deserialize<'de>")]
    struct Wrap<T, const MAX: usize>(#[serde(deserialize_with = "vec::<_, _, MAX>")] Vec<T>);
    Ok(Option::<Wrap<T, MAX>>::deserialize(d)?.map(|w| w.0))
}

/// A JSON value of at most `NODES` values (each scalar, list and object counts one),
/// for loosely typed parts of a body. Past the budget, parsing stops with an error.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedValue<const NODES: usize>(pub Value);

impl<'de, const NODES: usize> Deserialize<'de> for BoundedValue<NODES> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let budget = Cell::new(NODES);
        ValueSeed { budget: &budget }
            .deserialize(d)
            .map(BoundedValue)
    }
}

/// Parses a value, spending one unit of `budget` per node.
pub struct ValueSeed<'b> {
    pub budget: &'b Cell<usize>,
}

impl ValueSeed<'_> {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(
                "holds more values than this endpoint accepts in one request",
            )),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            budget: self.budget,
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed {
                budget: self.budget,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parses `bytes` as one JSON value of at most `nodes` values.
pub fn value_from_slice(bytes: &[u8], nodes: usize) -> Result<Value, serde_json::Error> {
    let budget = Cell::new(nodes);
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let v = ValueSeed { budget: &budget }.deserialize(&mut d)?;
    d.end()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Body {
        #[serde(deserialize_with = "vec::<_, _, 3>")]
        items: Vec<u8>,
        #[serde(default, deserialize_with = "opt_vec::<_, _, 2>")]
        more: Option<Vec<u8>>,
    }

    #[test]
    fn a_list_at_the_limit_is_read_and_one_more_item_is_refused() {
        let ok: Body = serde_json::from_str(r#"{"items":[1,2,3],"more":[1,2]}"#).unwrap();
        assert_eq!(ok.items, vec![1, 2, 3]);
        assert_eq!(ok.more, Some(vec![1, 2]));
        let err = serde_json::from_str::<Body>(r#"{"items":[1,2,3,4]}"#).unwrap_err();
        assert!(err.to_string().contains("more than 3 items"), "{err}");
        let err = serde_json::from_str::<Body>(r#"{"items":[],"more":[1,2,3]}"#).unwrap_err();
        assert!(err.to_string().contains("more than 2 items"), "{err}");
        let none: Body = serde_json::from_str(r#"{"items":[],"more":null}"#).unwrap();
        assert_eq!(none.more, None);
    }

    #[test]
    fn parsing_stops_at_the_first_item_past_the_limit() {
        // The rest is not even valid JSON: the parser never reaches it.
        let err = serde_json::from_str::<Body>(r#"{"items":[1,2,3,4,!!!"#).unwrap_err();
        assert!(err.to_string().contains("more than 3 items"), "{err}");
    }

    #[test]
    fn a_bounded_value_counts_every_node() {
        let v: BoundedValue<4> = serde_json::from_str(r#"{"a":[1,2]}"#).unwrap();
        assert_eq!(v.0, serde_json::json!({"a": [1, 2]}));
        assert!(serde_json::from_str::<BoundedValue<3>>(r#"{"a":[1,2]}"#).is_err());
        assert!(value_from_slice(b"[[[[0]]]]", 5).is_ok());
        assert!(value_from_slice(b"[[[[0]]]]", 4).is_err());
        assert!(value_from_slice(b"[0] x", 5).is_err());
    }
}
