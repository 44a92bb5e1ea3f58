//! Checks of the embedded eBPF object itself, before any kernel sees it.

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, RelocationTarget, SectionKind};

use super::EBPF_OBJECT;

/// The memory builtins that aya-ebpf implements as loops of one byte at a
/// time. A program that calls one pays a few instructions per byte: an
/// unwatched open once spent half of its program's time zeroing 229 bytes this
/// way. LLVM expands small ones into word-wide loads and stores unless
/// bpf-linker asks for in-order expansion (`sensor-ebpf/build.rs` turns that
/// off); one that is too large for expansion shows up here as a call.
const BYTE_LOOP_BUILTINS: [&str; 5] = ["memset", "memcpy", "memmove", "memcmp", "bcmp"];

#[test]
fn no_program_calls_a_byte_at_a_time_memory_builtin() {
    let file = object::File::parse(EBPF_OBJECT).expect("the embedded object is ELF");
    let mut calls = Vec::new();
    // Program code only: debug info and BTF may name the builtins' own
    // definitions without anything calling them.
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        let name = section.name().unwrap_or("?");
        for (offset, relocation) in section.relocations() {
            let RelocationTarget::Symbol(index) = relocation.target() else {
                continue;
            };
            let Ok(symbol) = file.symbol_by_index(index) else {
                continue;
            };
            let target = symbol.name().unwrap_or("");
            if BYTE_LOOP_BUILTINS.contains(&target) {
                calls.push(format!("{name}+{offset:#x} calls {target}"));
            }
        }
    }
    assert!(
        calls.is_empty(),
        "{} calls of byte-loop builtins: {calls:?}",
        calls.len()
    );
}
