//! Putting packets back into sequence order (RFC 3550 §A.1 sequence number logic).

use std::collections::{BTreeMap, VecDeque};

/// Largest reorder window, in packets.
pub const MAX_REORDER_WINDOW: usize = 1024;
/// A jump forward larger than this starts probation: the sender may have
/// restarted (RFC 3550 §A.1 `MAX_DROPOUT`).
const MAX_DROPOUT: i64 = 3000;
/// A packet this far behind, or less, is late or a duplicate; further back
/// starts probation (RFC 3550 §A.1 `MAX_MISORDER`).
const MAX_MISORDER: i64 = 100;

/// One output of the [`Reorderer`], in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reordered<T> {
    /// The next packet in order.
    Packet(T),
    /// `count` packets from sequence number `first` on never came (or came
    /// too late) and are given up on.
    Lost {
        /// Sequence number of the first missing packet.
        first: u16,
        /// Number of missing packets.
        count: u64,
    },
    /// A packet was dropped: it came after its place had been passed (`late`)
    /// or it was a duplicate (`!late`).
    Dropped {
        /// Its sequence number.
        seq: u16,
        /// True when late, false for a duplicate.
        late: bool,
    },
    /// A packet far away from the current sequence was dropped, unless the
    /// next one follows it (then the sequence restarts there, see
    /// [`Reordered::Restart`]).
    Jump {
        /// Its sequence number.
        seq: u16,
    },
    /// Two consecutive packets far away from the current sequence: the
    /// sender restarted. Packets held back before it were released first.
    Restart {
        /// Sequence number the stream restarts at.
        seq: u16,
    },
}

/// Reorders items (packets) keyed by 16-bit RTP sequence numbers.
///
/// Sequence numbers are extended to 64 bits by taking the value nearest to
/// the highest one received, so wrap-around from 65535 to 0 is seamless.
/// Items are released in order as soon as they are next. A gap is waited
/// for until the newest item is `window` sequence numbers ahead of it (so at
/// most `window` items are held), or until [`Reorderer::skip_gap`] gives up
/// on it (the caller's timer); then it is reported as [`Reordered::Lost`].
/// A window of 0 releases everything at once and reports gaps immediately.
/// The first item pushed starts the sequence: items before it that arrive
/// later are late, as in RFC 3550 §A.1.
///
/// ```
/// use media::rtp::{Reordered, Reorderer};
/// let mut r = Reorderer::new(8);
/// r.push(65535, 'a');
/// r.push(1, 'c');
/// r.push(0, 'b');
/// let out: Vec<_> = std::iter::from_fn(|| r.poll()).collect();
/// assert_eq!(out, [Reordered::Packet('a'), Reordered::Packet('b'), Reordered::Packet('c')]);
/// ```
#[derive(Debug, Clone)]
pub struct Reorderer<T> {
    window: i64,
    /// Extended sequence number of the next item to release.
    next: i64,
    /// Highest extended sequence number held or released.
    highest: i64,
    started: bool,
    held: BTreeMap<i64, T>,
    /// A far-away item on probation (its extended number, item).
    probation: Option<(i64, T)>,
    out: VecDeque<Reordered<T>>,
}

// === impl Reorderer ===

impl<T> Reorderer<T> {
    /// A reorderer holding at most `window` items (clamped to [`MAX_REORDER_WINDOW`]).
    pub fn new(window: usize) -> Self {
        Self {
            window: window.min(MAX_REORDER_WINDOW) as i64,
            next: 0,
            highest: 0,
            started: false,
            held: BTreeMap::new(),
            probation: None,
            out: VecDeque::new(),
        }
    }

    /// Number of items held back waiting for a gap to fill.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Adds an item; drain the results with [`Reorderer::poll`].
    pub fn push(&mut self, seq: u16, item: T) {
        if !self.started {
            self.restart_at(i64::from(seq), item);
            return;
        }
        let ext = self.extend(seq);
        let behind = self.next - ext;
        if ext - self.next > MAX_DROPOUT.max(self.window) || behind > MAX_MISORDER {
            match self.probation.take() {
                Some((p, first)) if p.wrapping_add(1) & 0xffff == ext & 0xffff => {
                    self.flush();
                    self.out.push_back(Reordered::Restart { seq: p as u16 });
                    self.restart_at(p, first);
                    self.push(seq, item);
                }
                _ => {
                    self.out.push_back(Reordered::Jump { seq });
                    self.probation = Some((ext, item));
                }
            }
            return;
        }
        self.probation = None;
        if behind > 0 {
            self.out.push_back(Reordered::Dropped { seq, late: true });
            return;
        }
        if self.held.contains_key(&ext) {
            self.out.push_back(Reordered::Dropped { seq, late: false });
            return;
        }
        self.held.insert(ext, item);
        self.highest = self.highest.max(ext);
        while self.highest - self.next >= self.window && !self.held.is_empty() {
            self.skip_gap();
        }
        self.release();
    }

    /// The next output, in order.
    pub fn poll(&mut self) -> Option<Reordered<T>> {
        self.out.pop_front()
    }

    /// Gives up waiting for the oldest gap: reports it lost and releases the
    /// items after it that are in order. Does nothing when nothing is held.
    pub fn skip_gap(&mut self) {
        let Some(&first) = self.held.keys().next() else {
            return;
        };
        if first > self.next {
            self.out.push_back(Reordered::Lost {
                first: self.next as u16,
                count: (first - self.next) as u64,
            });
            self.next = first;
        }
        self.release();
    }

    /// Releases everything held (end of stream), reporting the gaps.
    pub fn flush(&mut self) {
        while !self.held.is_empty() {
            self.skip_gap();
        }
    }

    /// The extended sequence number nearest to the highest one seen.
    fn extend(&self, seq: u16) -> i64 {
        let delta = seq.wrapping_sub(self.highest as u16) as i16;
        self.highest + i64::from(delta)
    }

    fn restart_at(&mut self, ext: i64, item: T) {
        self.started = true;
        self.probation = None;
        self.next = ext;
        self.highest = ext;
        self.held.insert(ext, item);
        self.release();
    }

    fn release(&mut self) {
        while let Some(item) = self.held.remove(&self.next) {
            self.out.push_back(Reordered::Packet(item));
            self.next += 1;
        }
    }
}
