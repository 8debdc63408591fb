//! [`Multipart`]: one ZeroMQ message, made of frames.

use std::ops::Deref;

use bytes::Bytes;

/// One ZeroMQ message: an ordered list of frames, each a cheaply clonable [`Bytes`].
///
/// A multipart is sent and received atomically: a peer sees all of its frames or none.
/// An empty multipart (no frames) written to a transport is a no-op; `[b""]` is one empty
/// frame.
///
/// # Conversions
///
/// Everything a `write` takes converts with `From`/`Into`:
///
/// - **one frame**: [`Bytes`], `Vec<u8>`, `&[u8]`, `&str`, `String`;
/// - **one frame per element**: `Vec<Bytes>`, `Vec<Vec<u8>>`, `Vec<&[u8]>`, `Vec<&str>`,
///   `Vec<String>`, arrays `[T; N]` of anything `Into<Bytes>`, and any iterator of those
///   (`collect()`).
///
/// `Bytes`, `Vec<u8>` and `String` frames are taken without copying; borrowed ones are
/// copied.
///
/// # Example
///
/// ```
/// use zmqio_core::Multipart;
/// use bytes::Bytes;
///
/// assert_eq!(Multipart::from(vec![1u8, 2, 3]).len(), 1); // one frame of three bytes
/// assert_eq!(Multipart::from("hello").len(), 1);
/// assert_eq!(Multipart::from(vec!["topic", "payload"]).len(), 2);
///
/// let msg = Multipart::from([&b"routing-id"[..], b"", b"payload"]);
/// assert_eq!(msg.len(), 3);
/// assert_eq!(&msg[2][..], b"payload");
///
/// let mut built = Multipart::new();
/// built.push("hello");
/// built.push(vec![1u8, 2, 3]);
/// assert_eq!(built.into_vec(), vec![Bytes::from("hello"), Bytes::from(vec![1u8, 2, 3])]);
/// ```
#[derive(Clone, Default)]
pub struct Multipart(Frames);

/// The frames; a message of one or two frames (the common cases: a payload, a topic or
/// routing id and a payload) needs no vector, which saves an allocation per message on the
/// hot paths (the sender's, and the receiver's when the message is dropped).
#[derive(Clone, Default)]
enum Frames {
    #[default]
    Empty,
    One(Bytes),
    Two([Bytes; 2]),
    Many(Vec<Bytes>),
}

impl Multipart {
    /// An empty message with no frames.
    ///
    /// ```
    /// assert!(zmqio_core::Multipart::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self(Frames::Empty)
    }

    /// An empty message with room for `n` frames.
    ///
    /// ```
    /// let m = zmqio_core::Multipart::with_capacity(4);
    /// assert!(m.is_empty());
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        if n <= 2 {
            Self(Frames::Empty)
        } else {
            Self(Frames::Many(Vec::with_capacity(n)))
        }
    }

    /// Appends a frame.
    ///
    /// ```
    /// let mut m = zmqio_core::Multipart::new();
    /// m.push(&b"frame"[..]);
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        let frame = frame.into();
        if let Frames::Many(v) = &mut self.0 {
            v.push(frame);
            return;
        }
        let next = match std::mem::take(&mut self.0) {
            Frames::Empty => Frames::One(frame),
            Frames::One(first) => Frames::Two([first, frame]),
            Frames::Two([first, second]) => {
                let mut v = Vec::with_capacity(4);
                v.extend([first, second, frame]);
                Frames::Many(v)
            }
            Frames::Many(mut v) => {
                v.push(frame);
                Frames::Many(v)
            }
        };
        // What `take` left is `Empty`, which owns nothing: no drop to run for it.
        std::mem::forget(std::mem::replace(&mut self.0, next));
    }

    /// A message of exactly these two frames.
    #[inline]
    pub(crate) fn from_pair(first: Bytes, second: Bytes) -> Self {
        Self(Frames::Two([first, second]))
    }

    /// The frames, as a vector.
    ///
    /// ```
    /// let m = zmqio_core::Multipart::from(["a", "b"]);
    /// assert_eq!(m.into_vec().len(), 2);
    /// ```
    pub fn into_vec(self) -> Vec<Bytes> {
        match self.0 {
            Frames::Empty => Vec::new(),
            Frames::One(f) => vec![f],
            Frames::Two(two) => Vec::from(two),
            Frames::Many(v) => v,
        }
    }

    /// The total payload size in bytes, over all frames (the watermarks count it plus a
    /// per-frame overhead: see `engine::message_weight`).
    ///
    /// ```
    /// let m = zmqio_core::Multipart::from(["ab", "cde"]);
    /// assert_eq!(m.byte_len(), 5);
    /// ```
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.frames_and_bytes().1
    }
}

impl Multipart {
    /// The number of frames and [`byte_len`](Self::byte_len) together, with one look at how
    /// the frames are kept.
    #[inline]
    pub(crate) fn frames_and_bytes(&self) -> (usize, usize) {
        match &self.0 {
            Frames::Empty => (0, 0),
            Frames::One(f) => (1, f.len()),
            Frames::Two([a, b]) => (2, a.len() + b.len()),
            Frames::Many(v) => (v.len(), v.iter().map(Bytes::len).sum()),
        }
    }
}

impl Deref for Multipart {
    type Target = [Bytes];
    #[inline]
    fn deref(&self) -> &[Bytes] {
        match &self.0 {
            Frames::Empty => &[],
            Frames::One(f) => std::slice::from_ref(f),
            Frames::Two(two) => two,
            Frames::Many(v) => v,
        }
    }
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Multipart").field(&&**self).finish()
    }
}

impl PartialEq for Multipart {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Multipart {}

impl std::hash::Hash for Multipart {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

/// The owning iterator over a [`Multipart`]'s frames.
///
/// ```
/// let m = zmqio_core::Multipart::from(["a", "b"]);
/// let frames: Vec<_> = m.into_iter().collect();
/// assert_eq!(frames.len(), 2);
/// ```
#[derive(Debug)]
pub struct MultipartIter(IterInner);

#[derive(Debug)]
enum IterInner {
    One(Option<Bytes>),
    Two(std::array::IntoIter<Bytes, 2>),
    Many(std::vec::IntoIter<Bytes>),
}

impl Iterator for MultipartIter {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        match &mut self.0 {
            IterInner::One(f) => f.take(),
            IterInner::Two(it) => it.next(),
            IterInner::Many(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterInner::One(f) => usize::from(f.is_some()),
            IterInner::Two(it) => it.len(),
            IterInner::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for MultipartIter {
    fn next_back(&mut self) -> Option<Bytes> {
        match &mut self.0 {
            IterInner::One(f) => f.take(),
            IterInner::Two(it) => it.next_back(),
            IterInner::Many(it) => it.next_back(),
        }
    }
}

impl ExactSizeIterator for MultipartIter {}

impl std::iter::FusedIterator for MultipartIter {}

impl IntoIterator for Multipart {
    type Item = Bytes;
    type IntoIter = MultipartIter;
    fn into_iter(self) -> MultipartIter {
        MultipartIter(match self.0 {
            Frames::Empty => IterInner::One(None),
            Frames::One(f) => IterInner::One(Some(f)),
            Frames::Two(two) => IterInner::Two(two.into_iter()),
            Frames::Many(v) => IterInner::Many(v.into_iter()),
        })
    }
}

impl<'a> IntoIterator for &'a Multipart {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Multipart {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let Some(first) = iter.next() else {
            return Self::new();
        };
        let Some(second) = iter.next() else {
            return Self(Frames::One(first.into()));
        };
        let Some(third) = iter.next() else {
            return Self(Frames::Two([first.into(), second.into()]));
        };
        let mut v = Vec::with_capacity(3 + iter.size_hint().0);
        v.extend([first.into(), second.into(), third.into()]);
        v.extend(iter.map(Into::into));
        Self(Frames::Many(v))
    }
}

// One frame. Concrete impls rather than a generic `From<Vec<T>>`, so that a `Vec<u8>` (or a
// `&[u8]`, a `&str`) is one frame and never "a list of u8 frames".

impl From<Bytes> for Multipart {
    /// One frame, without copying.
    fn from(frame: Bytes) -> Self {
        Self(Frames::One(frame))
    }
}

impl From<Vec<u8>> for Multipart {
    /// One frame, without copying: `Multipart::from(vec![1u8, 2, 3])` has one frame of three
    /// bytes.
    fn from(frame: Vec<u8>) -> Self {
        Self(Frames::One(Bytes::from(frame)))
    }
}

impl From<&[u8]> for Multipart {
    /// One frame (copied).
    fn from(frame: &[u8]) -> Self {
        Self(Frames::One(Bytes::copy_from_slice(frame)))
    }
}

impl From<&str> for Multipart {
    /// One frame (copied).
    fn from(frame: &str) -> Self {
        Self(Frames::One(Bytes::copy_from_slice(frame.as_bytes())))
    }
}

impl From<String> for Multipart {
    /// One frame, without copying.
    fn from(frame: String) -> Self {
        Self(Frames::One(Bytes::from(frame)))
    }
}

// Many frames: one per element.

impl From<Vec<Bytes>> for Multipart {
    /// One frame per element; a vector of one or two frames keeps them inline.
    fn from(frames: Vec<Bytes>) -> Self {
        match frames.len() {
            0..=2 => frames.into_iter().collect(),
            _ => Self(Frames::Many(frames)),
        }
    }
}

impl From<Vec<Vec<u8>>> for Multipart {
    /// One frame per element, without copying.
    fn from(frames: Vec<Vec<u8>>) -> Self {
        frames.into_iter().collect()
    }
}

impl From<Vec<&[u8]>> for Multipart {
    /// One frame per element (copied).
    fn from(frames: Vec<&[u8]>) -> Self {
        frames.into_iter().map(Bytes::copy_from_slice).collect()
    }
}

impl From<Vec<&str>> for Multipart {
    /// One frame per element (copied).
    fn from(frames: Vec<&str>) -> Self {
        frames
            .into_iter()
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect()
    }
}

impl From<Vec<String>> for Multipart {
    /// One frame per element, without copying.
    fn from(frames: Vec<String>) -> Self {
        frames.into_iter().collect()
    }
}

impl<T: Into<Bytes>, const N: usize> From<[T; N]> for Multipart {
    fn from(frames: [T; N]) -> Self {
        frames.into_iter().collect()
    }
}

impl From<Multipart> for Vec<Bytes> {
    fn from(m: Multipart) -> Self {
        m.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let a = Multipart::from(vec![b"x".to_vec(), b"yz".to_vec()]);
        let b: Multipart = ["x", "yz"].into();
        let c: Multipart = vec![Bytes::from("x"), Bytes::from("yz")]
            .into_iter()
            .collect();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.byte_len(), 3);
        assert_eq!(Multipart::from(Bytes::from("q")).len(), 1);
        let frames: Vec<Bytes> = a.clone().into_iter().collect();
        assert_eq!(frames, a.into_vec());
    }

    #[test]
    fn one_frame_conversions() {
        let one = |m: Multipart| {
            assert_eq!(m.len(), 1, "{m:?}");
            m[0].clone()
        };
        // A Vec<u8> is one frame of bytes, never a list of u8 frames.
        assert_eq!(
            one(Multipart::from(vec![1u8, 2, 3])),
            Bytes::from(vec![1u8, 2, 3])
        );
        assert_eq!(one(Multipart::from(&b"abc"[..])), Bytes::from("abc"));
        let owned = String::from("text");
        assert_eq!(one(Multipart::from(owned.as_str())), Bytes::from("text"));
        assert_eq!(one(Multipart::from(owned)), Bytes::from("text"));
        assert_eq!(one(Multipart::from(Bytes::from("b"))), Bytes::from("b"));
        // An empty frame is still a frame.
        assert_eq!(one(Multipart::from(Vec::<u8>::new())), Bytes::new());
        assert_eq!(one(Multipart::from("")), Bytes::new());
    }

    #[test]
    fn many_frame_conversions() {
        let expected = Multipart::from(["x", "yz"]);
        assert_eq!(
            Multipart::from(vec![Bytes::from("x"), Bytes::from("yz")]),
            expected
        );
        assert_eq!(
            Multipart::from(vec![b"x".to_vec(), b"yz".to_vec()]),
            expected
        );
        let slices: Vec<&[u8]> = vec![b"x", b"yz"];
        assert_eq!(Multipart::from(slices), expected);
        let (a, b) = (String::from("x"), String::from("yz"));
        assert_eq!(Multipart::from(vec![a.as_str(), b.as_str()]), expected);
        assert_eq!(Multipart::from(vec![a, b]), expected);
        // Zero and one element.
        assert!(Multipart::from(Vec::<Vec<u8>>::new()).is_empty());
        assert!(Multipart::from(Vec::<Bytes>::new()).is_empty());
        assert_eq!(
            Multipart::from(vec![Bytes::from("x")]),
            Multipart::from("x")
        );
        assert_eq!(Multipart::from(vec![String::new()]).len(), 1);
    }

    /// What a function taking `impl Into<Multipart>` (like `write`) accepts.
    #[test]
    fn into_multipart_arguments() {
        fn frames(m: impl Into<Multipart>) -> usize {
            m.into().len()
        }
        assert_eq!(frames(vec![0u8; 10]), 1);
        assert_eq!(frames(&b"raw"[..]), 1);
        assert_eq!(frames("text"), 1);
        assert_eq!(frames(format!("n={}", 1)), 1);
        assert_eq!(frames(vec!["a", "b", "c"]), 3);
        assert_eq!(frames(["a", "b"]), 2);
        assert_eq!(frames([vec![1u8], vec![2u8]]), 2);
        assert_eq!(frames((0..4u8).map(|i| vec![i]).collect::<Multipart>()), 4);
    }

    /// Two frames are kept inline like one; a third moves them into a vector. Every view
    /// of the frames is the same either way.
    #[test]
    fn two_frames_inline_behave_like_many() {
        let mut built = Multipart::with_capacity(2);
        built.push("a");
        built.push("b");
        assert!(matches!(built.0, Frames::Two(_)));
        assert!(matches!(Multipart::from(["a", "b"]).0, Frames::Two(_)));
        assert!(matches!(
            Multipart::from(vec![Bytes::from("a"), Bytes::from("b")]).0,
            Frames::Two(_)
        ));
        assert_eq!(built, Multipart::from(vec!["a", "b"]));
        assert_eq!(built.byte_len(), 2);
        assert_eq!(&built[1][..], b"b");
        let mut it = built.clone().into_iter();
        assert_eq!(it.len(), 2);
        assert_eq!(it.next_back(), Some(Bytes::from("b")));
        assert_eq!(it.next(), Some(Bytes::from("a")));
        assert_eq!(it.next(), None);
        assert_eq!(
            built.clone().into_vec(),
            vec![Bytes::from("a"), Bytes::from("b")]
        );
        assert_eq!(format!("{built:?}"), r#"Multipart([b"a", b"b"])"#);
        built.push("c");
        assert!(matches!(built.0, Frames::Many(_)));
        assert_eq!(built, Multipart::from(["a", "b", "c"]));
        let three: Multipart = ["a", "b", "c"].into_iter().collect();
        assert_eq!(three, built);
        assert_eq!(three.into_iter().rev().collect::<Vec<_>>().len(), 3);
    }

    #[test]
    fn one_frame_and_many_compare_by_frames() {
        let mut built = Multipart::new();
        built.push("x");
        assert_eq!(built, Multipart::from(vec!["x"]));
        assert_eq!(built, Multipart::from(Bytes::from("x")));
        built.push("y");
        assert_eq!(built, Multipart::from(["x", "y"]));
        assert_eq!(built.len(), 2);
        assert_eq!(Multipart::new(), Multipart::from(Vec::<Bytes>::new()));
        assert_eq!(Multipart::with_capacity(8), Multipart::new());
        let rev: Vec<Bytes> = built.clone().into_iter().rev().collect();
        assert_eq!(rev, vec![Bytes::from("y"), Bytes::from("x")]);
        assert_eq!(Multipart::from(["only"]).into_iter().len(), 1);
        assert_eq!(format!("{built:?}"), r#"Multipart([b"x", b"y"])"#);
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let h = RandomState::new();
        assert_eq!(
            h.hash_one(&built),
            h.hash_one(Multipart::from(vec!["x", "y"]))
        );
    }
}
