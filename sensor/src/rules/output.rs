//! Output templates: the fields a rule's `output` prints, so the engine knows what
//! to extract for a finding, and the rendering of a template. Falco's forms are
//! `%field`, `%field[arg]` and `%(field)`; `%%` is a literal percent sign. A `%`
//! not followed by a dotted name is kept as text, as Falco's formatter does with
//! stray percent signs.

use super::ast::FieldRef;

/// A piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text printed as it is.
    Text(&'a str),
    /// A field whose value is printed.
    Field(FieldRef),
}

/// The template cut into text and fields, in order.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push(Piece::Text(&rest[..i]));
        let after_percent = &rest[i + 1..];
        if let Some(r) = after_percent.strip_prefix('%') {
            out.push(Piece::Text("%"));
            rest = r;
            continue;
        }
        match field_at(after_percent) {
            Some((field, r)) => {
                out.push(Piece::Field(field));
                rest = r;
            }
            None => {
                out.push(Piece::Text("%"));
                rest = after_percent;
            }
        }
    }
    out.push(Piece::Text(rest));
    out.retain(|p| *p != Piece::Text(""));
    out
}

/// The field reference at the start of `s` (just after a `%`), and what follows.
fn field_at(s: &str) -> Option<(FieldRef, &str)> {
    let parenthesised = s.starts_with('(');
    let body = if parenthesised { &s[1..] } else { s };
    let len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(body.len());
    // A sentence may end right after a field: "... file %fd.name." names fd.name.
    let name = body[..len].trim_end_matches('.');
    if !name.contains('.') || name.starts_with('.') {
        return None;
    }
    let mut after = &body[name.len()..];
    let mut field = FieldRef::new(name);
    if let Some(a) = after.strip_prefix('[')
        && let Some(end) = a.find(']')
    {
        field.arg = Some(a[..end].to_owned());
        after = &a[end + 1..];
    }
    if parenthesised {
        after = after.strip_prefix(')')?;
    }
    Some((field, after))
}

/// The fields `template` refers to, in order of first use, each once.
pub fn output_fields(template: &str) -> Vec<FieldRef> {
    let mut out: Vec<FieldRef> = Vec::new();
    for piece in pieces(template) {
        if let Piece::Field(field) = piece
            && !out.contains(&field)
        {
            out.push(field);
        }
    }
    out
}

/// Renders `template`, each field's text written by `value`.
pub fn render(template: &str, mut value: impl FnMut(&FieldRef, &mut String)) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => value(&f, &mut out),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_with_their_fields() {
        let t = "100%% sure: %proc.name read %(fd.name) in %k8s.pod.label[app]. 5% %x";
        let text = render(t, |f, out| {
            out.push('<');
            out.push_str(&f.name);
            if let Some(arg) = &f.arg {
                out.push_str(&format!("[{arg}]"));
            }
            out.push('>');
        });
        assert_eq!(
            text,
            "100% sure: <proc.name> read <fd.name> in <k8s.pod.label[app]>. 5% %x"
        );
        assert_eq!(
            output_fields(t),
            [
                FieldRef::new("proc.name"),
                FieldRef::new("fd.name"),
                FieldRef {
                    name: "k8s.pod.label".into(),
                    arg: Some("app".into())
                }
            ]
        );
        assert_eq!(render("%(proc.name", |_, o| o.push('X')), "%(proc.name");
        assert_eq!(render("", |_, o| o.push('X')), "");
    }
}
