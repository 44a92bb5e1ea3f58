//! `sensor fields`: the field catalogue for people and for scripts.

use std::io::Write as _;

use crate::fields::CATALOGUE;

pub(super) fn run(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, CATALOGUE)?;
        writeln!(out)?;
        return Ok(());
    }
    let width = CATALOGUE.iter().map(|f| f.name.len()).max().unwrap_or(0);
    writeln!(
        out,
        "{:width$}  {:6}  {:5}  DESCRIPTION",
        "FIELD", "TYPE", "FALCO"
    )?;
    for field in CATALOGUE {
        let ty = serde_json::to_value(field.ty)?;
        writeln!(
            out,
            "{:width$}  {:6}  {:5}  {}",
            field.name,
            ty.as_str().unwrap_or_default(),
            if field.falco { "yes" } else { "no" },
            field.description
        )?;
    }
    Ok(())
}
