pub mod gbnf;
pub mod jsonschema;
