//! The burst parameter editor: one text field per parameter, validated on every keystroke, the
//! error shown beside the field; Enter applies only when every field is valid.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::BurstParams;
use flashsale_burst::Quantity;
use flashsale_core::strategy::Strategy;

/// A parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Buyers,
    Concurrency,
    Quantity,
    Strategy,
    Ips,
    RestockTo,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Buyers,
        Field::Concurrency,
        Field::Quantity,
        Field::Strategy,
        Field::Ips,
        Field::RestockTo,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Buyers => "buyers",
            Field::Concurrency => "concurrency",
            Field::Quantity => "quantity",
            Field::Strategy => "strategy",
            Field::Ips => "ip spread",
            Field::RestockTo => "restock to",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Field::Buyers => "1 to 1000000",
            Field::Concurrency => "1 to 10000",
            Field::Quantity => "N or A..B",
            Field::Strategy => "left/right: atomic, row-lock, naive",
            Field::Ips => "per-buyer or 1 to 16000000",
            Field::RestockTo => "0 to 1000000",
        }
    }
}

/// The editor's fields and cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Editor {
    pub fields: Vec<(Field, String)>,
    pub cursor: usize,
    max_quantity: u32,
    /// The parameters being edited: what a field left out keeps.
    base: BurstParams,
}

/// What a key did.
#[derive(Debug, Clone, PartialEq)]
pub enum EditOutcome {
    Editing,
    Cancelled,
    /// Every field valid: the new parameters.
    Applied(BurstParams),
    /// Enter with an invalid field: the cursor moved to it.
    Refused(String),
}

impl Editor {
    pub fn new(p: &BurstParams, max_quantity: u32) -> Editor {
        let fields = Field::ALL
            .iter()
            .map(|f| {
                let text = match f {
                    Field::Buyers => p.buyers.to_string(),
                    Field::Concurrency => p.concurrency.to_string(),
                    Field::Quantity => p.quantity.to_string(),
                    Field::Strategy => p.strategy.to_string(),
                    Field::Ips => p.ips.map_or("per-buyer".into(), |n| n.to_string()),
                    Field::RestockTo => p.restock_to.to_string(),
                };
                (*f, text)
            })
            .collect();
        Editor {
            fields,
            cursor: 0,
            max_quantity,
            base: p.clone(),
        }
    }

    /// The editor without `field` (its value stays as it was).
    pub fn without(mut self, field: Field) -> Editor {
        self.fields.retain(|(f, _)| *f != field);
        self.cursor = self.cursor.min(self.fields.len().saturating_sub(1));
        self
    }

    /// The error of field `i`, if its text is not valid.
    pub fn error(&self, i: usize) -> Option<String> {
        let (field, text) = self.fields.get(i)?;
        let mut p = BurstParams::default();
        apply(&mut p, *field, text, self.max_quantity).err()
    }

    pub fn key(&mut self, key: &KeyEvent) -> EditOutcome {
        let n = self.fields.len();
        match key.code {
            KeyCode::Esc => return EditOutcome::Cancelled,
            KeyCode::Up | KeyCode::BackTab => self.cursor = (self.cursor + n - 1) % n,
            KeyCode::Down | KeyCode::Tab => self.cursor = (self.cursor + 1) % n,
            KeyCode::Enter => return self.commit(),
            KeyCode::Left | KeyCode::Right if self.current() == Some(Field::Strategy) => {
                let now = self.fields[self.cursor].1.parse().unwrap_or_default();
                let next = if key.code == KeyCode::Right {
                    Strategy::next(now)
                } else {
                    Strategy::ALL
                        .into_iter()
                        .find(|s| s.next() == now)
                        .unwrap_or_default()
                };
                self.fields[self.cursor].1 = next.to_string();
            }
            KeyCode::Backspace => {
                if let Some((_, t)) = self.fields.get_mut(self.cursor) {
                    t.pop();
                }
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some((_, t)) = self.fields.get_mut(self.cursor) {
                    t.clear();
                }
            }
            KeyCode::Char(c)
                if !c.is_control() && !key.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                if let Some((_, t)) = self.fields.get_mut(self.cursor)
                    && t.chars().count() < 32
                {
                    t.push(c);
                }
            }
            _ => {}
        }
        EditOutcome::Editing
    }

    fn current(&self) -> Option<Field> {
        self.fields.get(self.cursor).map(|(f, _)| *f)
    }

    fn commit(&mut self) -> EditOutcome {
        let mut p = self.base.clone();
        for (i, (field, text)) in self.fields.iter().enumerate() {
            if let Err(e) = apply(&mut p, *field, text, self.max_quantity) {
                self.cursor = i;
                return EditOutcome::Refused(format!("{}: {e}", field.label()));
            }
        }
        EditOutcome::Applied(p)
    }
}

/// Parses one field into `p`, saying what is wrong (also how saved preferences are checked).
pub(crate) fn apply(
    p: &mut BurstParams,
    field: Field,
    text: &str,
    max_quantity: u32,
) -> Result<(), String> {
    let t = text.trim();
    let num = |min: u32, max: u32| flashsale_core::config::parse_u32_in(t, min, max);
    match field {
        Field::Buyers => p.buyers = num(1, 1_000_000)?,
        Field::Concurrency => p.concurrency = num(1, 10_000)?,
        Field::Quantity => {
            let q: Quantity = t.parse()?;
            let top = match q {
                Quantity::Fixed(n) | Quantity::Range(_, n) => n,
            };
            if top > max_quantity {
                return Err(format!("at most {max_quantity} (max_quantity)"));
            }
            p.quantity = q;
        }
        Field::Strategy => {
            p.strategy = t
                .parse()
                .map_err(|e: flashsale_core::strategy::UnknownStrategy| e.to_string())?
        }
        Field::Ips => {
            p.ips = if t.eq_ignore_ascii_case("per-buyer") || t.is_empty() {
                None
            } else {
                Some(num(1, 16_000_000)?)
            }
        }
        Field::RestockTo => p.restock_to = num(0, 1_000_000)? as i32,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(e: &mut Editor, code: KeyCode) -> EditOutcome {
        e.key(&KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_text(e: &mut Editor, s: &str) {
        for c in s.chars() {
            press(e, KeyCode::Char(c));
        }
    }

    #[test]
    fn editing_a_field_and_applying() {
        let mut e = Editor::new(&BurstParams::default(), 10);
        press(&mut e, KeyCode::Backspace);
        press(&mut e, KeyCode::Backspace);
        press(&mut e, KeyCode::Backspace);
        type_text(&mut e, "40");
        press(&mut e, KeyCode::Down);
        press(&mut e, KeyCode::Down);
        press(&mut e, KeyCode::Down);
        press(&mut e, KeyCode::Right);
        match press(&mut e, KeyCode::Enter) {
            EditOutcome::Applied(p) => {
                assert_eq!(p.buyers, 40);
                assert_eq!(p.strategy, BurstParams::default().strategy.next());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_text_is_flagged_in_place_and_refused() {
        let mut e = Editor::new(&BurstParams::default(), 10);
        e.cursor = 2;
        type_text(&mut e, "5");
        assert_eq!(e.fields[2].1, "15");
        assert_eq!(e.error(2).as_deref(), Some("at most 10 (max_quantity)"));
        e.cursor = 0;
        type_text(&mut e, "x");
        assert!(e.error(0).expect("error").contains("whole number"));
        match press(&mut e, KeyCode::Enter) {
            EditOutcome::Refused(msg) => assert!(msg.starts_with("buyers:"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.cursor, 0, "the cursor goes to the first bad field");
    }

    #[test]
    fn a_field_left_out_keeps_its_value() {
        let params = BurstParams {
            strategy: Strategy::RowLock,
            ..BurstParams::default()
        };
        let mut e = Editor::new(&params, 10).without(Field::Strategy);
        assert!(e.fields.iter().all(|(f, _)| *f != Field::Strategy));
        assert_eq!(e.fields.len(), Field::ALL.len() - 1);
        type_text(&mut e, "0");
        match press(&mut e, KeyCode::Enter) {
            EditOutcome::Applied(p) => {
                assert_eq!(p.buyers, 2000);
                assert_eq!(p.strategy, Strategy::RowLock);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escape_cancels() {
        let mut e = Editor::new(&BurstParams::default(), 10);
        assert_eq!(press(&mut e, KeyCode::Esc), EditOutcome::Cancelled);
    }
}
