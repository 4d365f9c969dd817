//! Enough of JSON Schema for phx's own schemas: a validator and a random
//! instance generator over the keywords they use (type, properties,
//! required, additionalProperties, anyOf, const, enum, items, minItems,
//! maxItems, maxLength, pattern, $ref to #/$defs).

#![allow(dead_code)]

use serde_json::{Map, Value as Json, json};

use super::gbnf::Rng;

fn resolve<'a>(root: &'a Json, s: &'a Json) -> &'a Json {
    match s.get("$ref").and_then(Json::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/$defs/");
            resolve(root, &root["$defs"][name])
        }
        None => s,
    }
}

/// Why `v` is not an instance of `s` (the first reason found).
pub fn validate(root: &Json, s: &Json, v: &Json, path: &str) -> Result<(), String> {
    let s = resolve(root, s);
    if let Some(alts) = s.get("anyOf").and_then(Json::as_array) {
        let errs: Vec<String> = alts.iter().filter_map(|a| validate(root, a, v, path).err()).collect();
        return if errs.len() < alts.len() {
            Ok(())
        } else {
            Err(format!("{path}: no alternative fits: {}", errs.join("; ")))
        };
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{path}: expected {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Json::as_array)
        && !e.contains(v)
    {
        return Err(format!("{path}: {v} is not one of {e:?}"));
    }
    if let Some(t) = s.get("type").and_then(Json::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => false,
        };
        if !ok {
            return Err(format!("{path}: expected {t}, found {v}"));
        }
    }
    if let Some(m) = v.as_object() {
        let props = s.get("properties").and_then(Json::as_object);
        for r in s.get("required").and_then(Json::as_array).into_iter().flatten() {
            let r = r.as_str().unwrap_or_default();
            if !m.contains_key(r) {
                return Err(format!("{path}: `{r}` is required"));
            }
        }
        for (k, x) in m {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, x, &format!("{path}.{k}"))?,
                None => match s.get("additionalProperties") {
                    Some(Json::Bool(false)) => return Err(format!("{path}: `{k}` is not allowed")),
                    Some(Json::Bool(true)) | None => {}
                    Some(extra) => validate(root, extra, x, &format!("{path}.{k}"))?,
                },
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                validate(root, items, x, &format!("{path}[{i}]"))?;
            }
        }
        if s.get("minItems").and_then(Json::as_u64).is_some_and(|n| (a.len() as u64) < n)
            || s.get("maxItems").and_then(Json::as_u64).is_some_and(|n| (a.len() as u64) > n)
        {
            return Err(format!("{path}: wrong number of items"));
        }
    }
    if let Some(text) = v.as_str()
        && s.get("maxLength").and_then(Json::as_u64).is_some_and(|n| text.chars().count() as u64 > n)
    {
        return Err(format!("{path}: too long"));
    }
    Ok(())
}

/// What a string in a given place should be, so the generated program's
/// embedded phx text is valid (the schema cannot say that itself).
pub struct Texts {
    pub names: Vec<&'static str>,
    pub refs: Vec<&'static str>,
    pub exprs: Vec<&'static str>,
    pub fns: Vec<&'static str>,
    pub tools: Vec<&'static str>,
    pub reports: Vec<&'static str>,
    pub types: Vec<&'static str>,
    pub free: Vec<&'static str>,
}

impl Default for Texts {
    fn default() -> Texts {
        Texts {
            names: vec!["density", "slice", "n", "v", "a_1", "levels"],
            refs: vec!["density.density", "levels[0].energies", "slices[*].image", "a.b"],
            exprs: vec![
                "n",
                "1 + 2 * grid",
                "-half_width",
                "if k == 1 { v } else { w }",
                "linspace(1, 2, 3)",
                "[1, 2]",
                "\"s\"",
                "x.y[*]",
            ],
            fns: vec![
                "fn v(x: Float) -> Float { x * x / 2 }",
                "fn f(x: Float, y: Float) -> Float {\n  let r = x + y\n  r * 2\n}",
            ],
            tools: vec!["tool lab.t(a: Int = 1 where a > 0) -> (out: Series) {\n  run = \"echo {a} > {out}\"\n}"],
            reports: vec![
                "report r {\n  title = \"T\"\n  section \"S\" {\n    text \"t [@k]\"\n    figure slice\n  }\n}",
            ],
            types: vec!["Int", "Float", "Length", "List[Float]", "Quantity[m/s^2]"],
            free: vec!["", "xz", "a \"quoted\" {brace} \\ back", "λ → unicode", "line\nbreak", "{x}", "}}{{"],
        }
    }
}

/// A random instance of `s`; `key` is the property it is the value of.
pub fn generate(root: &Json, s: &Json, rng: &mut Rng, depth: usize, key: &str, parent: &str, texts: &Texts) -> Json {
    let s = resolve(root, s);
    if let Some(alts) = s.get("anyOf").and_then(Json::as_array) {
        let choices: Vec<&Json> = if depth > 6 {
            alts.iter().filter(|a| resolve(root, a).get("items").is_none() || depth < 9).collect()
        } else {
            alts.iter().collect()
        };
        let pick = choices[rng.below(choices.len())];
        return generate(root, pick, rng, depth + 1, key, parent, texts);
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(e) = s.get("enum").and_then(Json::as_array) {
        return e[rng.below(e.len())].clone();
    }
    let one = |v: &Vec<&'static str>, rng: &mut Rng| json!(v[rng.below(v.len())]);
    match s.get("type").and_then(Json::as_str).unwrap_or("object") {
        "string" => match (key, parent) {
            ("ref", _) => one(&texts.refs, rng),
            ("expr", _) => {
                if s.get("pattern").is_some() {
                    one(&texts.names, rng)
                } else {
                    one(&texts.exprs, rng)
                }
            }
            ("source", "fns") => one(&texts.fns, rng),
            ("source", "tools") => one(&texts.tools, rng),
            ("source", "reports") => one(&texts.reports, rng),
            ("type", _) => one(&texts.types, rng),
            ("unit", _) => one(&vec!["bohr", "eV", "m/s^2", "K", "kg*m^2/s^2"], rng),
            ("id" | "name" | "as" | "param", _) => one(&texts.names, rng),
            _ if s.get("pattern").is_some() => one(&texts.names, rng),
            _ => {
                let t = texts.free[rng.below(texts.free.len())];
                let max = s.get("maxLength").and_then(Json::as_u64).unwrap_or(1000) as usize;
                json!(t.chars().take(max).collect::<String>())
            }
        },
        "integer" => json!(rng.below(2000) as i64 - 1000),
        "number" => {
            let choices = [json!(0.5), json!(-3), json!(1e-10), json!(6.02e23), json!(42)];
            choices[rng.below(choices.len())].clone()
        }
        "boolean" => json!(rng.below(2) == 0),
        "array" => {
            let lo = s.get("minItems").and_then(Json::as_u64).unwrap_or(0) as usize;
            let hi = s.get("maxItems").and_then(Json::as_u64).unwrap_or(4).min(4) as usize;
            let n = if depth > 6 { lo } else { lo + rng.below(hi.saturating_sub(lo) + 1) };
            let items = s.get("items").cloned().unwrap_or(json!({}));
            // Items stand where the list stands: they keep its key.
            Json::Array((0..n).map(|_| generate(root, &items, rng, depth + 1, key, parent, texts)).collect())
        }
        _ => {
            let mut m = Map::new();
            let required: Vec<&str> = s
                .get("required")
                .and_then(Json::as_array)
                .map(|r| r.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = s.get("properties").and_then(Json::as_object) {
                for (k, ps) in props {
                    if required.contains(&k.as_str()) || (depth < 6 && rng.below(2) == 0) {
                        m.insert(k.clone(), generate(root, ps, rng, depth + 1, k, key, texts));
                    }
                }
            }
            if let Some(extra) = s.get("additionalProperties").filter(|x| x.is_object())
                && depth < 5
            {
                for _ in 0..rng.below(3) {
                    let k = texts.names[rng.below(texts.names.len())];
                    m.entry(k.to_string()).or_insert_with(|| generate(root, extra, rng, depth + 1, k, key, texts));
                }
            }
            Json::Object(m)
        }
    }
}
