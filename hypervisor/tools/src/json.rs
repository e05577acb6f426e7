//! The plan as JSON, for machines (`scripts/plan --json`). Written by hand: the
//! crate stays `no_std` without a serializer. Addresses are hex strings, since
//! JSON numbers lose precision past 2^53.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{HiddenWhy, Plan};

/// Appends `s` as a JSON string literal.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn list<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, it);
    }
    out.push(']');
}

/// The plan as one JSON object. `arg_warnings` (boot arguments that were
/// ignored, as the caller printed them) come first in "warnings", then the plan's.
pub fn to_json(plan: &Plan, arg_warnings: &[String]) -> String {
    let mut o = String::from("{\"iommus\":");
    list(&mut o, &plan.iommus, |o, d| {
        o.push_str("{\"path\":");
        string(o, &d.path);
        o.push_str(",\"compatible\":");
        string(o, &d.compatible);
        o.push_str(&format!(
            ",\"action\":\"{}\",\"enabled\":{},\"removed\":{},\"reason\":",
            d.action, d.enabled, d.removed
        ));
        string(o, &super::report::reason_text(d));
        if let super::Reason::KnownUndriven { note } = d.reason {
            o.push_str(",\"note\":");
            string(o, note);
        }
        o.push_str(",\"masters\":");
        list(o, &d.masters, |o, m| string(o, m));
        o.push('}');
    });
    o.push_str(&format!(
        ",\"swiotlb\":{{\"enabled\":{},\"reason\":",
        plan.swiotlb.enabled
    ));
    string(&mut o, &format!("{}", plan.swiotlb.why));
    o.push_str("},\"passthrough\":");
    list(&mut o, &plan.passthrough, |o, p| {
        o.push_str("{\"path\":");
        string(o, &p.path);
        o.push_str(",\"mmio\":");
        list(o, &p.mmio, |o, r| {
            o.push_str(&format!(
                "{{\"base\":\"{:#x}\",\"size\":\"{:#x}\"}}",
                r.base, r.size
            ))
        });
        o.push_str(",\"spis\":");
        list(o, &p.spis, |o, s| o.push_str(&format!("{s}")));
        o.push('}');
    });
    o.push_str(",\"hidden\":");
    list(&mut o, &plan.hidden, |o, h| {
        o.push_str("{\"path\":");
        string(o, &h.path);
        let why = match h.why {
            HiddenWhy::Iommu(a) => format!("iommu {a}"),
            HiddenWhy::Kept => String::from("kept by snowvisor"),
        };
        o.push_str(",\"why\":");
        string(o, &why);
        o.push('}');
    });
    if let Some(g) = &plan.gic {
        o.push_str(",\"gic\":{\"path\":");
        string(&mut o, &g.path);
        o.push_str(",\"frames\":");
        list(&mut o, &g.frames, |o, r| {
            o.push_str(&format!(
                "{{\"base\":\"{:#x}\",\"size\":\"{:#x}\"}}",
                r.base, r.size
            ))
        });
        o.push('}');
    }
    o.push_str(",\"warnings\":");
    let all: Vec<String> = arg_warnings
        .iter()
        .cloned()
        .chain(plan.warnings.iter().map(|w| format!("{w}")))
        .collect();
    list(&mut o, &all, |o, w| string(o, w));
    o.push('}');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
