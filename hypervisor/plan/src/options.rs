//! The plan's boot options: `iommu=<action>:<selector>[,<action>:<selector>...]`
//! and `swiotlb=auto|on|off`. Same syntax in snowvisor's bootargs and in
//! `scripts/plan --args`.
//!
//! Compatibles contain commas, so the list is split on commas and a piece without
//! a `:` continues the previous selector: `hide:arm,smmu-v3,pass:samsung,exynos-sysmmu`
//! is two rules. A bad piece is reported by name and skipped; the rest still apply.
//! An empty piece (`,,` or a trailing comma) is skipped with a warning and ends
//! the entry before it: `pass:all,,hide:x` is `pass:all` and `hide:x`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::IommuAction;

/// Which IOMMU nodes a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `all` or `*`.
    All,
    /// A node path (starts with `/`).
    Path(String),
    /// A compatible string, matched against every string of a node's list.
    Compatible(String),
}

/// One `action:selector` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IommuRule {
    pub action: IommuAction,
    pub selector: Selector,
}

impl fmt::Display for IommuRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sel = match &self.selector {
            Selector::All => "all",
            Selector::Path(s) | Selector::Compatible(s) => s,
        };
        write!(f, "{}:{sel}", self.action)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SwiotlbMode {
    #[default]
    Auto,
    On,
    Off,
}

/// Parsed plan options; defaults when nothing was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanOptions {
    /// In the order given: later rules win.
    pub iommu: Vec<IommuRule>,
    pub swiotlb: SwiotlbMode,
}

/// A bad piece of an option; the piece is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    /// `iommu=` with nothing after it.
    Empty,
    /// A piece with no `action:` in front.
    NoAction {
        token: String,
    },
    UnknownAction {
        token: String,
        action: String,
    },
    /// `action:` with nothing after it.
    NoSelector {
        token: String,
    },
    /// An empty piece: two commas in a row, or a leading or trailing comma.
    EmptyEntry,
    BadSwiotlb {
        value: String,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Empty => write!(f, "iommu= is empty: expected <own|hide|pass>:<compatible or /path>"),
            OptionError::NoAction { token } => {
                write!(f, "iommu= entry '{token}' ignored: expected <own|hide|pass>:<compatible or /path>")
            }
            OptionError::UnknownAction { token, action } => write!(
                f,
                "iommu= entry '{token}' ignored: unknown action '{action}' (expected own, hide or pass)"
            ),
            OptionError::NoSelector { token } => write!(
                f,
                "iommu= entry '{token}' ignored: no selector after the action (a compatible, a /path or all)"
            ),
            OptionError::EmptyEntry => write!(
                f,
                "iommu= has an empty entry (two commas in a row, or a comma at either end): skipped"
            ),
            OptionError::BadSwiotlb { value } => {
                write!(f, "swiotlb={value} ignored: expected auto, on or off")
            }
        }
    }
}

impl IommuAction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "own" => IommuAction::Own,
            "hide" => IommuAction::Hide,
            "pass" => IommuAction::Pass,
            _ => return None,
        })
    }
}

impl PlanOptions {
    /// Parses the `iommu=` and `swiotlb=` values (without the key).
    pub fn parse(iommu: Option<&str>, swiotlb: Option<&str>) -> (PlanOptions, Vec<OptionError>) {
        let mut o = PlanOptions::default();
        let mut errors = Vec::new();
        if let Some(v) = iommu {
            parse_iommu(v, &mut o.iommu, &mut errors);
        }
        if let Some(v) = swiotlb {
            match v {
                "auto" => o.swiotlb = SwiotlbMode::Auto,
                "on" => o.swiotlb = SwiotlbMode::On,
                "off" => o.swiotlb = SwiotlbMode::Off,
                _ => errors.push(OptionError::BadSwiotlb {
                    value: v.to_string(),
                }),
            }
        }
        (o, errors)
    }
}

fn parse_iommu(v: &str, rules: &mut Vec<IommuRule>, errors: &mut Vec<OptionError>) {
    if v.trim().is_empty() {
        errors.push(OptionError::Empty);
        return;
    }
    // Group pieces: one starting with `x:` opens an entry, others continue it.
    let mut entries: Vec<String> = Vec::new();
    let mut open = false;
    for piece in v.split(',') {
        if piece.is_empty() {
            errors.push(OptionError::EmptyEntry);
            open = false;
        } else if piece.contains(':') {
            entries.push(piece.to_string());
            open = true;
        } else if open {
            if let Some(last) = entries.last_mut() {
                last.push(',');
                last.push_str(piece);
            }
        } else {
            errors.push(OptionError::NoAction {
                token: piece.to_string(),
            });
        }
    }
    for token in entries {
        let Some((action, sel)) = token.split_once(':') else {
            continue;
        };
        let Some(action) = IommuAction::parse(action) else {
            let action = action.to_string();
            errors.push(OptionError::UnknownAction { token, action });
            continue;
        };
        let selector = match sel {
            "" => {
                errors.push(OptionError::NoSelector { token });
                continue;
            }
            "all" | "*" => Selector::All,
            s if s.starts_with('/') => Selector::Path(s.to_string()),
            s => Selector::Compatible(s.to_string()),
        };
        rules.push(IommuRule { action, selector });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn compat(a: IommuAction, s: &str) -> IommuRule {
        IommuRule {
            action: a,
            selector: Selector::Compatible(s.to_string()),
        }
    }

    #[test]
    fn commas_inside_compatibles() {
        let (o, e) = PlanOptions::parse(
            Some("hide:arm,smmu-v3,pass:samsung,exynos-sysmmu,own:/smmuv3@9050000"),
            Some("off"),
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            o.iommu,
            [
                compat(IommuAction::Hide, "arm,smmu-v3"),
                compat(IommuAction::Pass, "samsung,exynos-sysmmu"),
                IommuRule {
                    action: IommuAction::Own,
                    selector: Selector::Path("/smmuv3@9050000".into())
                },
            ]
        );
        assert_eq!(o.swiotlb, SwiotlbMode::Off);
        assert_eq!(format!("{}", o.iommu[1]), "pass:samsung,exynos-sysmmu");
    }

    #[test]
    fn defaults_and_all() {
        let (o, e) = PlanOptions::parse(None, None);
        assert_eq!((o, e), (PlanOptions::default(), Vec::new()));
        let (o, _) = PlanOptions::parse(Some("pass:all,hide:*"), Some("auto"));
        assert_eq!(o.iommu[0].selector, Selector::All);
        assert_eq!(o.iommu[1].selector, Selector::All);
    }

    #[test]
    fn bad_tokens_are_named_and_skipped() {
        let (o, e) = PlanOptions::parse(Some("samsung,drop:x,y,pass:,hide:a,b"), Some("maybe"));
        assert_eq!(o.iommu, [compat(IommuAction::Hide, "a,b")]);
        let msgs: Vec<String> = e.iter().map(|e| format!("{e}")).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].contains("'samsung'"), "{}", msgs[0]);
        assert!(
            msgs[1].contains("'drop:x,y'") && msgs[1].contains("unknown action 'drop'"),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].contains("'pass:'") && msgs[2].contains("no selector"),
            "{}",
            msgs[2]
        );
        assert_eq!(msgs[3], "swiotlb=maybe ignored: expected auto, on or off");
        assert_eq!(PlanOptions::parse(Some(""), None).1, [OptionError::Empty]);
    }

    #[test]
    fn empty_entries_are_skipped_with_a_warning() {
        let (o, e) = PlanOptions::parse(Some("pass:all,,hide:x,"), None);
        assert_eq!(
            o.iommu,
            [
                IommuRule {
                    action: IommuAction::Pass,
                    selector: Selector::All
                },
                compat(IommuAction::Hide, "x"),
            ]
        );
        assert_eq!(e, [OptionError::EmptyEntry, OptionError::EmptyEntry]);
        let (o, e) = PlanOptions::parse(Some("hide:,"), None);
        assert!(o.iommu.is_empty());
        assert_eq!(
            e,
            [
                OptionError::EmptyEntry,
                OptionError::NoSelector {
                    token: "hide:".into()
                }
            ]
        );
        assert_eq!(
            format!(
                "{}",
                OptionError::NoAction {
                    token: "bogus".into()
                }
            ),
            "iommu= entry 'bogus' ignored: expected <own|hide|pass>:<compatible or /path>"
        );
    }
}
