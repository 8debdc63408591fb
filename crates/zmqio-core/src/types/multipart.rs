//! [`Multipart`]: one ZeroMQ message, made of frames.

use std::ops::Deref;

use bytes::Bytes;

/// One ZeroMQ message: an ordered list of frames, each a cheaply clonable [`Bytes`].
///
/// A multipart is sent and received atomically: a peer sees all of its frames or none.
/// An empty multipart (no frames) written to a transport is a no-op; `[b""]` is one empty
/// frame.
///
/// # Example
///
/// ```
/// use zmqio_core::Multipart;
/// use bytes::Bytes;
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

/// The frames; a message of one frame (the common case) needs no vector, which saves an
/// allocation per message on the hot paths.
#[derive(Clone, Default)]
enum Frames {
    #[default]
    Empty,
    One(Bytes),
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
        if n <= 1 {
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
        self.0 = match std::mem::take(&mut self.0) {
            Frames::Empty => Frames::One(frame),
            Frames::One(first) => Frames::Many(vec![first, frame]),
            Frames::Many(mut v) => {
                v.push(frame);
                Frames::Many(v)
            }
        };
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
    pub fn byte_len(&self) -> usize {
        self.iter().map(Bytes::len).sum()
    }
}

impl Deref for Multipart {
    type Target = [Bytes];
    fn deref(&self) -> &[Bytes] {
        match &self.0 {
            Frames::Empty => &[],
            Frames::One(f) => std::slice::from_ref(f),
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
    Many(std::vec::IntoIter<Bytes>),
}

impl Iterator for MultipartIter {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        match &mut self.0 {
            IterInner::One(f) => f.take(),
            IterInner::Many(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterInner::One(f) => usize::from(f.is_some()),
            IterInner::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for MultipartIter {
    fn next_back(&mut self) -> Option<Bytes> {
        match &mut self.0 {
            IterInner::One(f) => f.take(),
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
        let mut v = Vec::with_capacity(2 + iter.size_hint().0);
        v.push(first.into());
        v.push(second.into());
        v.extend(iter.map(Into::into));
        Self(Frames::Many(v))
    }
}

impl<T: Into<Bytes>> From<Vec<T>> for Multipart {
    fn from(frames: Vec<T>) -> Self {
        frames.into_iter().collect()
    }
}

impl<T: Into<Bytes>, const N: usize> From<[T; N]> for Multipart {
    fn from(frames: [T; N]) -> Self {
        frames.into_iter().collect()
    }
}

impl From<Bytes> for Multipart {
    fn from(frame: Bytes) -> Self {
        Self(Frames::One(frame))
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
        use std::hash::{BuildHasher, RandomState};
        let h = RandomState::new();
        assert_eq!(
            h.hash_one(&built),
            h.hash_one(Multipart::from(vec!["x", "y"]))
        );
    }
}
