//! Output templates: the fields a rule's `output` prints, so the engine knows what
//! to extract for a finding. Falco's forms are `%field`, `%field[arg]` and
//! `%(field)`; `%%` is a literal percent sign. A `%` not followed by a dotted name
//! is kept as text, as Falco's formatter does with stray percent signs.

use super::ast::FieldRef;

/// The fields `template` refers to, in order of first use, each once.
pub fn output_fields(template: &str) -> Vec<FieldRef> {
    let mut out: Vec<FieldRef> = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('%') {
            rest = r;
            continue;
        }
        let parenthesised = rest.starts_with('(');
        let body = if parenthesised { &rest[1..] } else { rest };
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(body.len());
        // A sentence may end right after a field: "... file %fd.name." names fd.name.
        let name = body[..len].trim_end_matches('.');
        let mut after = &body[name.len()..];
        let mut field = FieldRef::new(name);
        if let Some(a) = after.strip_prefix('[')
            && let Some(end) = a.find(']')
        {
            field.arg = Some(a[..end].to_owned());
            after = &a[end + 1..];
        }
        if parenthesised {
            match after.strip_prefix(')') {
                Some(a) => after = a,
                None => continue,
            }
        }
        rest = after;
        if name.contains('.') && !name.starts_with('.') && !out.contains(&field) {
            out.push(field);
        }
    }
    out
}
