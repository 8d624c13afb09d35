//! The frames between a forwarding process and a product's seller: a length (u32, big-endian)
//! and that many bytes. The forwarder's first frame is its hello (the seller's secret), then one
//! frame per purchase; the seller answers each with a frame carrying the purchase's number.
//! Plain fixed-width integers and length-prefixed strings: a purchase costs a few dozen bytes
//! and no allocation beyond its strings.

use chrono::DateTime;

use crate::model::Order;
use crate::money::Money;
use crate::store::sale::{BatchItem, BatchKey};
use crate::store::{Sale, StoreError};

/// Largest frame either side accepts; a purchase is far below it.
pub(super) const MAX_FRAME: usize = 16 * 1024;
/// Most frames either side's writer puts in one write.
pub(super) const MOST_PER_WRITE: usize = 512;

const HELLO: u8 = 0;
const PURCHASE: u8 = 1;
const BYE: u8 = 2;

const PURCHASED: u8 = 0;
const SOLD_OUT: u8 = 1;
const NOT_FOUND: u8 = 2;
const FAILED: u8 = 3;
const NOT_SOLD: u8 = 4;
const LEAVING: u8 = 5;

/// A frame that does not parse: the connection is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Malformed(pub &'static str);

/// What a forwarder sends.
#[derive(Debug, Clone)]
pub(super) enum Request {
    Hello {
        secret: String,
    },
    Purchase {
        seq: u64,
        product_id: i32,
        item: BatchItem,
    },
    /// After [`Reply::Leaving`]: nothing more will be sent.
    Bye,
}

/// What a seller sends.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    /// Purchase `seq`'s outcome.
    Answer {
        seq: u64,
        result: Result<Sale, StoreError>,
    },
    /// Purchase `seq` was not sold here (the seller is leaving): sell it elsewhere.
    NotSold { seq: u64 },
    /// The seller is closing: send nothing more, and say [`Request::Bye`].
    Leaving,
}

/// Appends frames to a buffer.
#[derive(Default)]
pub(super) struct Writer {
    pub buf: Vec<u8>,
    start: usize,
}

impl Writer {
    fn open(&mut self) {
        self.start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
    }

    fn close(&mut self) {
        let len = (self.buf.len() - self.start - 4) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn str(&mut self, s: &str) {
        // Every string here is bounded well below u16 by its validation; cut, never wrapped.
        let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
        self.buf
            .extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    pub fn hello(&mut self, secret: &str) {
        self.open();
        self.buf.push(HELLO);
        self.str(secret);
        self.close();
    }

    pub fn bye(&mut self) {
        self.open();
        self.buf.push(BYE);
        self.close();
    }

    pub fn purchase(&mut self, seq: u64, product_id: i32, item: &BatchItem) {
        self.open();
        self.buf.push(PURCHASE);
        self.buf.extend_from_slice(&seq.to_be_bytes());
        self.buf.extend_from_slice(&product_id.to_be_bytes());
        self.buf.extend_from_slice(&item.quantity.to_be_bytes());
        self.str(&item.user_id);
        match &item.key {
            None => self.buf.push(0),
            Some(k) => {
                self.buf.push(1);
                self.str(&k.key);
                self.str(&k.request_hash);
            }
        }
        self.close();
    }

    pub fn reply(&mut self, reply: &Reply) {
        match reply {
            Reply::Answer { seq, result } => self.answer(*seq, result),
            Reply::NotSold { seq } => {
                self.open();
                self.buf.extend_from_slice(&seq.to_be_bytes());
                self.buf.push(NOT_SOLD);
                self.close();
            }
            Reply::Leaving => {
                self.open();
                self.buf.extend_from_slice(&0u64.to_be_bytes());
                self.buf.push(LEAVING);
                self.close();
            }
        }
    }

    pub fn answer(&mut self, seq: u64, result: &Result<Sale, StoreError>) {
        self.open();
        self.buf.extend_from_slice(&seq.to_be_bytes());
        match result {
            Ok(Sale::Purchased(o)) => {
                self.buf.push(PURCHASED);
                self.buf.extend_from_slice(&o.id.to_be_bytes());
                self.buf.extend_from_slice(&o.product_id.to_be_bytes());
                self.buf.extend_from_slice(&o.quantity.to_be_bytes());
                self.buf
                    .extend_from_slice(&o.total_price.cents().to_be_bytes());
                self.buf.extend_from_slice(&o.remaining_stock.to_be_bytes());
                let micros = o.created_at.and_utc().timestamp_micros();
                self.buf.extend_from_slice(&micros.to_be_bytes());
                self.str(&o.product_name);
            }
            Ok(Sale::SoldOut { available }) => {
                self.buf.push(SOLD_OUT);
                self.buf.extend_from_slice(&available.to_be_bytes());
            }
            Ok(Sale::NotFound) => self.buf.push(NOT_FOUND),
            Err(e) => {
                self.buf.push(FAILED);
                let (class, ms, text) = error_parts(e);
                self.buf.push(class);
                self.buf.extend_from_slice(&ms.to_be_bytes());
                self.str(&text);
            }
        }
        self.close();
    }
}

/// A store error as (class, timeout in ms, message); connection failures travel as what they
/// mean to the buyer (busy or unreachable), with their words.
fn error_parts(e: &StoreError) -> (u8, u64, String) {
    match e {
        StoreError::Busy(m) => (0, 0, m.clone()),
        StoreError::Unavailable(m) => (1, 0, m.clone()),
        StoreError::Timeout(d) => (2, d.as_millis() as u64, String::new()),
        StoreError::Conflict(m) => (3, 0, m.clone()),
        StoreError::Duplicate => (4, 0, String::new()),
        StoreError::Invalid(m) => (5, 0, m.clone()),
        StoreError::NoSchema => (6, 0, String::new()),
        StoreError::Connect(c) if c.is_saturation() => (0, 0, c.to_string()),
        StoreError::Connect(c) => (1, 0, c.to_string()),
        StoreError::Other(m) => (7, 0, m.clone()),
    }
}

fn error_of(class: u8, ms: u64, text: String) -> Result<StoreError, Malformed> {
    Ok(match class {
        0 => StoreError::Busy(text),
        1 => StoreError::Unavailable(text),
        2 => StoreError::Timeout(std::time::Duration::from_millis(ms)),
        3 => StoreError::Conflict(text),
        4 => StoreError::Duplicate,
        5 => StoreError::Invalid(text),
        6 => StoreError::NoSchema,
        7 => StoreError::Other(text),
        _ => return Err(Malformed("unknown error class")),
    })
}

/// Takes the next whole frame off the front of `buf`, if one is there.
pub(super) fn next_frame(buf: &[u8], at: &mut usize) -> Result<Option<Vec<u8>>, Malformed> {
    let rest = &buf[*at..];
    if rest.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if len > MAX_FRAME {
        return Err(Malformed("frame too large"));
    }
    if rest.len() < 4 + len {
        return Ok(None);
    }
    let frame = rest[4..4 + len].to_vec();
    *at += 4 + len;
    Ok(Some(frame))
}

/// Drops the frames already taken from the front of `buf`.
pub(super) fn compact(buf: &mut Vec<u8>, at: &mut usize) {
    buf.drain(..*at);
    *at = 0;
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.bytes.len() < n {
            return Err(Malformed("frame cut short"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, Malformed> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<String, Malformed> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| Malformed("text not UTF-8"))
    }

    fn end(&self) -> Result<(), Malformed> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Malformed("bytes after the frame's end"))
        }
    }
}

pub(super) fn request(frame: &[u8]) -> Result<Request, Malformed> {
    let mut r = Reader { bytes: frame };
    let request = match r.u8()? {
        HELLO => Request::Hello { secret: r.str()? },
        PURCHASE => {
            let seq = r.u64()?;
            let product_id = r.i32()?;
            let quantity = r.i32()?;
            let user_id = r.str()?;
            let key = match r.u8()? {
                0 => None,
                1 => Some(BatchKey {
                    key: r.str()?,
                    request_hash: r.str()?,
                }),
                _ => return Err(Malformed("unknown key flag")),
            };
            Request::Purchase {
                seq,
                product_id,
                item: BatchItem {
                    user_id,
                    quantity,
                    key,
                },
            }
        }
        BYE => Request::Bye,
        _ => return Err(Malformed("unknown request")),
    };
    r.end()?;
    Ok(request)
}

pub(super) fn reply(frame: &[u8]) -> Result<Reply, Malformed> {
    let mut r = Reader { bytes: frame };
    let seq = r.u64()?;
    let result = match r.u8()? {
        NOT_SOLD => {
            r.end()?;
            return Ok(Reply::NotSold { seq });
        }
        LEAVING => {
            r.end()?;
            return Ok(Reply::Leaving);
        }
        PURCHASED => {
            let id = r.i64()?;
            let product_id = r.i32()?;
            let quantity = r.i32()?;
            let total = Money::from_cents(r.i64()?);
            let remaining_stock = r.i32()?;
            let created_at = DateTime::from_timestamp_micros(r.i64()?)
                .ok_or(Malformed("time out of range"))?
                .naive_utc();
            let product_name = r.str()?;
            Ok(Sale::Purchased(Order {
                id,
                product_id,
                product_name,
                quantity,
                total_price: total,
                remaining_stock,
                created_at,
            }))
        }
        SOLD_OUT => Ok(Sale::SoldOut {
            available: r.i32()?,
        }),
        NOT_FOUND => Ok(Sale::NotFound),
        FAILED => {
            let class = r.u8()?;
            let ms = r.u64()?;
            let text = r.str()?;
            Err(error_of(class, ms, text)?)
        }
        _ => return Err(Malformed("unknown answer")),
    };
    r.end()?;
    Ok(Reply::Answer { seq, result })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
        let mut at = 0;
        let mut out = Vec::new();
        while let Some(f) = next_frame(buf.as_slice(), &mut at).expect("frame") {
            out.push(f);
        }
        compact(buf, &mut at);
        out
    }

    #[test]
    fn requests_and_answers_come_back_as_they_were_sent() {
        let mut w = Writer::default();
        w.hello("s3cret");
        let item = BatchItem {
            user_id: "user-é".into(),
            quantity: 3,
            key: Some(BatchKey {
                key: "k1".into(),
                request_hash: "ab".into(),
            }),
        };
        w.purchase(7, 42, &item);
        let got = frames(&mut w.buf);
        assert!(matches!(request(&got[0]), Ok(Request::Hello { secret }) if secret == "s3cret"));
        match request(&got[1]) {
            Ok(Request::Purchase {
                seq: 7,
                product_id: 42,
                item: back,
            }) => {
                assert_eq!(back.user_id, "user-é");
                assert_eq!(back.quantity, 3);
                assert_eq!(
                    back.key.map(|k| (k.key, k.request_hash)),
                    Some(("k1".into(), "ab".into()))
                );
            }
            other => panic!("{other:?}"),
        }
        let created_at = DateTime::from_timestamp_micros(1_700_000_000_123_456)
            .expect("time")
            .naive_utc();
        let order = Order {
            id: 9,
            product_id: 42,
            product_name: "Mouse".into(),
            quantity: 3,
            total_price: Money::from_cents(2_997),
            remaining_stock: 11,
            created_at,
        };
        let results = [
            Ok(Sale::Purchased(order)),
            Ok(Sale::SoldOut { available: 2 }),
            Ok(Sale::NotFound),
            Err(StoreError::Timeout(std::time::Duration::from_millis(1500))),
            Err(StoreError::Conflict("deadlock detected".into())),
        ];
        let mut w = Writer::default();
        for (seq, r) in results.iter().enumerate() {
            w.answer(seq as u64, r);
        }
        w.reply(&Reply::NotSold { seq: 77 });
        w.reply(&Reply::Leaving);
        let got = frames(&mut w.buf);
        for (seq, (frame, sent)) in got.iter().zip(&results).enumerate() {
            match reply(frame).expect("answer") {
                Reply::Answer { seq: back, result } => {
                    assert_eq!(back, seq as u64);
                    assert_eq!(&result, sent);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(reply(&got[5]), Ok(Reply::NotSold { seq: 77 })));
        assert!(matches!(reply(&got[6]), Ok(Reply::Leaving)));
        let mut w = Writer::default();
        w.bye();
        assert!(matches!(request(&frames(&mut w.buf)[0]), Ok(Request::Bye)));
    }

    #[test]
    fn a_frame_is_taken_only_when_whole_and_a_huge_one_is_refused() {
        let mut w = Writer::default();
        w.answer(1, &Ok(Sale::NotFound));
        let whole = w.buf.clone();
        let part = whole[..whole.len() - 1].to_vec();
        let mut at = 0;
        assert_eq!(next_frame(&part, &mut at), Ok(None));
        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        assert!(next_frame(&huge, &mut 0).is_err());
        assert!(reply(&[0; 3]).is_err(), "cut short");
        assert!(request(&[9]).is_err(), "unknown kind");
    }
}
