//! Which options can be read and which written is part of their type: reading a write-only
//! option, or writing a read-only one, does not compile.
//!
//! The `compile_fail,E0599` example in `zmqio_core::opt` documents this, but stable rustdoc
//! does not check a `compile_fail` example's error code (only nightly does), so any compile
//! error would pass it. This test checks the same thing on stable, by asking the type system
//! whether the traits are implemented: an inherent associated constant, which exists only when
//! the bound holds, shadows the trait's default. The checks are constant assertions, so a
//! wrong answer fails the build of this test, naming the option.

use std::marker::PhantomData;

use zmqio_core::opt::{
    Events, GetSocketOpt, LastEndpoint, Linger, ProbeRouter, RouterMandatory, SetSocketOpt,
    Subscribe, Type, Unsubscribe,
};

trait Fallback {
    const GET: bool = false;
    const SET: bool = false;
}
struct GetProbe<T>(PhantomData<T>);
impl<T> Fallback for GetProbe<T> {}
impl<T: GetSocketOpt> GetProbe<T> {
    const GET: bool = true;
}

struct SetProbe<T>(PhantomData<T>);
impl<T> Fallback for SetProbe<T> {}
impl<T: SetSocketOpt> SetProbe<T> {
    const SET: bool = true;
}

macro_rules! readable {
    ($t:ty) => {
        <GetProbe<$t>>::GET
    };
}

macro_rules! writable {
    ($t:ty) => {
        <SetProbe<$t>>::SET
    };
}

// Checked when this file compiles (a failing one is a compile error naming the option).

// The probe answers both ways.
const _: () = assert!(
    readable!(Linger) && writable!(Linger),
    "Linger is read-write"
);

const _: () = assert!(
    writable!(Subscribe) && !readable!(Subscribe),
    "Subscribe is write-only"
);
const _: () = assert!(
    writable!(Unsubscribe) && !readable!(Unsubscribe),
    "Unsubscribe is write-only"
);
const _: () = assert!(
    writable!(RouterMandatory) && !readable!(RouterMandatory),
    "RouterMandatory is write-only"
);
const _: () = assert!(
    writable!(ProbeRouter) && !readable!(ProbeRouter),
    "ProbeRouter is write-only"
);

const _: () = assert!(
    readable!(Events) && !writable!(Events),
    "Events is read-only"
);
const _: () = assert!(readable!(Type) && !writable!(Type), "Type is read-only");
const _: () = assert!(
    readable!(LastEndpoint) && !writable!(LastEndpoint),
    "LastEndpoint is read-only"
);
