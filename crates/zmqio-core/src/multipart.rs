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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Multipart(Vec<Bytes>);

impl Multipart {
    /// An empty message with no frames.
    ///
    /// ```
    /// assert!(zmqio_core::Multipart::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty message with room for `n` frames.
    ///
    /// ```
    /// let m = zmqio_core::Multipart::with_capacity(4);
    /// assert!(m.is_empty());
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Appends a frame.
    ///
    /// ```
    /// let mut m = zmqio_core::Multipart::new();
    /// m.push(&b"frame"[..]);
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        self.0.push(frame.into());
    }

    /// The frames, as a vector.
    ///
    /// ```
    /// let m = zmqio_core::Multipart::from(["a", "b"]);
    /// assert_eq!(m.into_vec().len(), 2);
    /// ```
    pub fn into_vec(self) -> Vec<Bytes> {
        self.0
    }

    /// The total payload size in bytes, over all frames (what the watermarks count).
    ///
    /// ```
    /// let m = zmqio_core::Multipart::from(["ab", "cde"]);
    /// assert_eq!(m.byte_len(), 5);
    /// ```
    pub fn byte_len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

impl Deref for Multipart {
    type Target = [Bytes];
    fn deref(&self) -> &[Bytes] {
        &self.0
    }
}

impl IntoIterator for Multipart {
    type Item = Bytes;
    type IntoIter = std::vec::IntoIter<Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Multipart {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Multipart {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
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
        Self(vec![frame])
    }
}

impl From<Multipart> for Vec<Bytes> {
    fn from(m: Multipart) -> Self {
        m.0
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
}
