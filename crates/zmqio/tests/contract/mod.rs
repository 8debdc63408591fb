//! The public API contract (`API.md`), written out as code: every name with its signature,
//! as function pointers of explicit types where a function can be named, as trait bounds for
//! traits and derives, and as typed `.await`s (in closures that are compiled, never run) for
//! the async methods. A rename or a signature change fails to compile here.
//!
//! `api_contract!(path)` checks the API as seen through `path`: the facade's root and its
//! runtime modules (crates/zmqio/tests/api_contract.rs), and each adapter crate
//! (tests/tests/api_contract.rs includes this file too).

/// Instantiates the contract for the crate or module `$($z)+` as a set of tests in the
/// current module.
macro_rules! api_contract {
    ($($z:tt)+) => {
        #[allow(unused_imports)]
        use $($z)+ as z;

        use std::collections::{BTreeSet, HashSet};
        use std::future::{Future, IntoFuture};
        use std::sync::{Arc, Mutex};
        use std::time::Duration;

        use bytes::Bytes;
        use z::{
            auth, opt, ConnectionBuilder, Error, GetSocketOpt, IntoEndpoints, MonitorEvent,
            MonitorEvents, Multipart, ReleaseLevel, SetSocketOpt, SocketEvent, SocketType,
            StreamBuilder, VersionInfo, ZmqProtocol, ZmqStream, ZmqTransport,
        };

        fn is_send<T: Send>() {}
        fn is_sync<T: Sync>() {}
        fn is_clone<T: Clone>() {}
        fn is_debug<T: std::fmt::Debug>() {}
        fn is_eq<T: PartialEq + Eq>() {}
        fn is_static<T: 'static>() {}
        fn into_future<B: IntoFuture<Output = O>, O>() {}
        fn send_future<F: Future + Send>(f: F) -> F {
            f
        }
        fn into_endpoints<E: IntoEndpoints>() {}
        fn multipart_from<T>()
        where
            Multipart: From<T>,
        {
        }
        fn multipart_collects<T: Into<Bytes>>()
        where
            Multipart: FromIterator<T>,
        {
        }
        fn gettable<O: GetSocketOpt<Value = V>, V>() {}
        fn settable<O: SetSocketOpt<Value = V>, V>() {}

        /// `<T as AmbiguousIfImpl<_>>::some_item` is ambiguous, so fails to compile, exactly
        /// when `T` has the trait the second impl asks for (the `static_assertions` trick).
        trait AmbiguousIfGet<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfGet<()> for T {}
        #[allow(dead_code)]
        struct InvalidGet;
        impl<T: ?Sized + GetSocketOpt> AmbiguousIfGet<InvalidGet> for T {}
        trait AmbiguousIfSet<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfSet<()> for T {}
        #[allow(dead_code)]
        struct InvalidSet;
        impl<T: ?Sized + SetSocketOpt> AmbiguousIfSet<InvalidSet> for T {}

        /// A protocol with every callback left to its default.
        struct Defaults;
        impl ZmqProtocol for Defaults {}

        /// A protocol overriding every callback, with the contract's signatures.
        struct Overrides;
        impl ZmqProtocol for Overrides {
            fn connection_made(&mut self, _transport: &ZmqTransport) {}
            fn connection_lost(&mut self, _exc: Option<Error>) {}
            fn pause_writing(&mut self) {}
            fn resume_writing(&mut self) {}
            fn msg_received(&mut self, _msg: Multipart) {}
            fn event_received(&mut self, _event: SocketEvent) {}
        }

        /// `ZmqProtocol: Send + 'static`.
        fn protocol_bounds<P: ZmqProtocol>() {
            is_send::<P>();
            is_static::<P>();
        }

        #[test]
        fn entry_points() {
            let _: fn(fn() -> Defaults, SocketType) -> ConnectionBuilder<Defaults> =
                z::create_zmq_connection::<Defaults, fn() -> Defaults>;
            let _: fn(SocketType) -> StreamBuilder = z::create_zmq_stream;
            let _ = |endpoint: String| async move {
                let _: z::Result<String> = send_future(z::resolve_endpoint(&endpoint)).await;
            };
            let _ = |ctx: z::zmq::Context| async move {
                let _: z::Result<auth::Authenticator> =
                    send_future(z::start_authenticator(&ctx)).await;
            };
            protocol_bounds::<Defaults>();
            protocol_bounds::<Overrides>();
        }

        #[test]
        fn connection_builder() {
            type B = ConnectionBuilder<Defaults>;
            let _: fn(B, &'static str) -> B = B::bind;
            let _: fn(B, Vec<String>) -> B = B::connect;
            let _: fn(B, z::zmq::Socket) -> B = B::zmq_sock;
            let _: fn(B, z::zmq::Context) -> B = B::context;
            let _: fn(B, opt::Linger, i32) -> B = B::setsockopt::<opt::Linger>;
            let _: fn(B, opt::CurveServer, bool) -> B = B::setsockopt::<opt::CurveServer>;
            let _: fn(B) -> B = B::allow_missing_zap_handler;
            into_future::<B, z::Result<(ZmqTransport, Arc<Mutex<Defaults>>)>>();
            is_send::<<B as IntoFuture>::IntoFuture>();
            into_endpoints::<&str>();
            into_endpoints::<String>();
            into_endpoints::<[&str; 2]>();
            into_endpoints::<Vec<&str>>();
            into_endpoints::<Vec<String>>();
        }

        #[test]
        fn stream_builder() {
            type B = StreamBuilder;
            let _: fn(B, &'static str) -> B = B::bind;
            let _: fn(B, [&'static str; 2]) -> B = B::connect;
            let _: fn(B, z::zmq::Socket) -> B = B::zmq_sock;
            let _: fn(B, z::zmq::Context) -> B = B::context;
            let _: fn(B, Option<usize>, Option<usize>) -> B = B::read_buffer_limits;
            let _: fn(B, Option<usize>, Option<usize>) -> B = B::write_buffer_limits;
            let _: fn(B, Option<usize>) -> B = B::events_backlog;
            let _: fn(B, opt::RoutingId, Vec<u8>) -> B = B::setsockopt::<opt::RoutingId>;
            let _: fn(B) -> B = B::allow_missing_zap_handler;
            into_future::<B, z::Result<ZmqStream>>();
            is_send::<<B as IntoFuture>::IntoFuture>();
        }

        #[test]
        fn reexports_and_result() {
            // `zmq` itself, and its socket types.
            let types: [SocketType; 12] = [
                SocketType::PAIR,
                SocketType::PUB,
                SocketType::SUB,
                SocketType::REQ,
                SocketType::REP,
                SocketType::DEALER,
                SocketType::ROUTER,
                SocketType::PULL,
                SocketType::PUSH,
                SocketType::XPUB,
                SocketType::XSUB,
                SocketType::STREAM,
            ];
            let _: z::zmq::SocketType = types[0];
            let _: fn() -> z::zmq::Context = z::zmq::Context::new;
            let ok: std::result::Result<u8, Error> = Ok(1);
            let _: z::Result<u8> = ok;
        }

        #[test]
        fn error() {
            let errors: [Error; 5] = [
                Error::Zmq(z::zmq::Error::EINVAL),
                Error::InvalidArgument(String::new()),
                Error::NotSupported(String::new()),
                Error::InvalidState(String::new()),
                Error::Closed,
            ];
            // Added since: a bound that passed (`shutdown`).
            let _ = Error::TimedOut(String::new());
            #[allow(unreachable_patterns)] // the enum is non_exhaustive
            match &errors[0] {
                Error::Zmq(_)
                | Error::InvalidArgument(_)
                | Error::NotSupported(_)
                | Error::InvalidState(_)
                | Error::Closed
                | Error::TimedOut(_) => {}
                _ => {}
            }
            let _: fn(&Error) -> Option<i32> = Error::errno;
            let _: fn(Error) -> std::io::Error = std::io::Error::from;
            is_debug::<Error>();
            is_clone::<Error>();
            fn bounds<E: std::fmt::Display + std::error::Error + Send + Sync + 'static>() {}
            bounds::<Error>();
            assert_eq!(
                std::io::Error::from(errors[0].clone()).raw_os_error(),
                Some(z::zmq::Error::EINVAL.to_raw())
            );
        }

        #[test]
        fn multipart() {
            is_clone::<Multipart>();
            is_debug::<Multipart>();
            is_eq::<Multipart>();
            let _: Multipart = Multipart::default();
            let _: fn() -> Multipart = Multipart::new;
            let _: fn(&mut Multipart, &'static str) = Multipart::push;
            let _: fn(Multipart) -> Vec<Bytes> = Multipart::into_vec;
            fn derefs<T: std::ops::Deref<Target = [Bytes]>>() {}
            derefs::<Multipart>();
            fn iterates<T: IntoIterator<Item = Bytes>>() {}
            iterates::<Multipart>();
            multipart_collects::<Bytes>();
            multipart_collects::<Vec<u8>>();
            multipart_collects::<&'static str>();
            multipart_collects::<String>();
            multipart_from::<[Bytes; 2]>();
            multipart_from::<[&'static str; 3]>();
            multipart_from::<[Vec<u8>; 1]>();
            // One frame.
            multipart_from::<Bytes>();
            multipart_from::<Vec<u8>>();
            multipart_from::<&'static [u8]>();
            multipart_from::<&'static str>();
            multipart_from::<String>();
            // Many frames.
            multipart_from::<Vec<Bytes>>();
            multipart_from::<Vec<Vec<u8>>>();
            multipart_from::<Vec<&'static [u8]>>();
            multipart_from::<Vec<&'static str>>();
            multipart_from::<Vec<String>>();
            assert_eq!(Multipart::from(vec![1u8, 2, 3]).len(), 1, "a Vec<u8> is one frame");
            assert_eq!(Multipart::from(vec!["a", "b"]).len(), 2);
        }

        #[test]
        fn transport() {
            is_clone::<ZmqTransport>();
            is_send::<ZmqTransport>();
            is_sync::<ZmqTransport>();
            is_debug::<ZmqTransport>();
            type T = ZmqTransport;
            let _: fn(&T) -> SocketType = T::socket_type;
            let _: fn(&T, fn(&z::zmq::Socket) -> i32) -> z::Result<i32> =
                T::with_zmq_socket::<i32>;
            let _: fn(&T, opt::Linger) -> z::Result<i32> = T::getsockopt::<opt::Linger>;
            let _: fn(&T, opt::Linger, i32) -> z::Result<()> = T::setsockopt::<opt::Linger>;
            let _: fn(&T, Multipart) -> z::Result<()> = T::write;
            let _: fn(&T, [&'static str; 2]) -> z::Result<()> = T::write;
            let _: fn(&T) = T::close;
            let _: fn(&T) = T::abort;
            let _: fn(&T) -> bool = T::is_closing;
            let _: fn(&T) -> (usize, usize) = T::get_write_buffer_limits;
            let _: fn(&T, Option<usize>, Option<usize>) -> z::Result<()> =
                T::set_write_buffer_limits;
            let _: fn(&T) -> usize = T::get_write_buffer_size;
            let _: fn(&T) -> z::Result<()> = T::pause_reading;
            let _: fn(&T) -> z::Result<()> = T::resume_reading;
            let _: fn(&T) -> BTreeSet<String> = T::bindings;
            let _: fn(&T) -> BTreeSet<String> = T::connections;
            let _: fn(&T, &'static [u8]) -> z::Result<()> = T::subscribe;
            let _: fn(&T, &'static str) -> z::Result<()> = T::unsubscribe;
            let _: fn(&T) -> z::Result<BTreeSet<Bytes>> = T::subscriptions;
            // Added since.
            let _: fn(&T, &mut Vec<Multipart>) -> z::Result<()> = T::write_many;
            let _: fn(&T) -> Option<String> = T::bound_endpoint;
            let _: fn(&T) -> u64 = T::dropped_on_close;
            let _: fn(&T) -> u64 = T::dropped_unroutable;
            let _: fn(&T) -> usize = T::get_write_buffer_weight;
            let _ = |t: ZmqTransport| async move {
                let _: z::Result<String> = send_future(t.bind("inproc://x")).await;
                let _: z::Result<()> = send_future(t.unbind("inproc://x")).await;
                let _: z::Result<String> = send_future(t.connect("inproc://x")).await;
                let _: z::Result<()> = send_future(t.disconnect("inproc://x")).await;
                let _: z::Result<()> = send_future(t.enable_monitor(None)).await;
                let events: Option<MonitorEvents> = Some(MonitorEvents::ALL);
                let _: z::Result<()> = send_future(t.enable_monitor(events)).await;
                let _: z::Result<()> = send_future(t.disable_monitor()).await;
                let _: z::Result<()> = send_future(t.drain()).await;
                let _: Option<Error> = send_future(t.wait_closed()).await;
            };
        }

        #[test]
        fn socket_options() {
            gettable::<opt::Type, SocketType>();
            gettable::<opt::Linger, i32>();
            settable::<opt::Linger, i32>();
            gettable::<opt::SndHwm, i32>();
            settable::<opt::SndHwm, i32>();
            gettable::<opt::RcvHwm, i32>();
            settable::<opt::RcvHwm, i32>();
            gettable::<opt::RoutingId, Vec<u8>>();
            settable::<opt::RoutingId, Vec<u8>>();
            settable::<opt::Subscribe, Vec<u8>>();
            settable::<opt::Unsubscribe, Vec<u8>>();
            gettable::<opt::LastEndpoint, String>();
            gettable::<opt::Events, z::zmq::PollEvents>();
            gettable::<opt::ReconnectIvl, i32>();
            settable::<opt::ReconnectIvl, i32>();
            gettable::<opt::Immediate, bool>();
            settable::<opt::Immediate, bool>();
            settable::<opt::RouterMandatory, bool>();
            gettable::<opt::MaxMsgSize, i64>();
            settable::<opt::MaxMsgSize, i64>();
            // Write-only options cannot be read, read-only ones cannot be written.
            let _ = <opt::Subscribe as AmbiguousIfGet<_>>::some_item;
            let _ = <opt::Unsubscribe as AmbiguousIfGet<_>>::some_item;
            let _ = <opt::Type as AmbiguousIfSet<_>>::some_item;
            let _ = <opt::LastEndpoint as AmbiguousIfSet<_>>::some_item;
            let _ = <opt::Events as AmbiguousIfSet<_>>::some_item;
            // Both traits are also at the root (`z::GetSocketOpt`, imported above), and the
            // root's are the module's.
            fn same_get<O: opt::GetSocketOpt>() {}
            fn root_get<O: GetSocketOpt>() {
                same_get::<O>()
            }
            fn same_set<O: opt::SetSocketOpt>() {}
            fn root_set<O: SetSocketOpt>() {
                same_set::<O>()
            }
            root_get::<opt::Linger>();
            root_set::<opt::Linger>();
        }

        #[test]
        fn monitor_events() {
            let event = SocketEvent {
                event: MonitorEvent::Connected,
                value: 0u32,
                endpoint: String::new(),
            };
            is_clone::<SocketEvent>();
            is_debug::<SocketEvent>();
            is_eq::<SocketEvent>();
            let _: MonitorEvent = event.event;
            #[allow(unreachable_patterns)] // the enum is non_exhaustive
            let all = |e: MonitorEvent| match e {
                MonitorEvent::Connected
                | MonitorEvent::ConnectDelayed
                | MonitorEvent::ConnectRetried
                | MonitorEvent::Listening
                | MonitorEvent::BindFailed
                | MonitorEvent::Accepted
                | MonitorEvent::AcceptFailed
                | MonitorEvent::Closed
                | MonitorEvent::CloseFailed
                | MonitorEvent::Disconnected
                | MonitorEvent::MonitorStopped
                | MonitorEvent::HandshakeFailedNoDetail
                | MonitorEvent::HandshakeSucceeded
                | MonitorEvent::HandshakeFailedProtocol
                | MonitorEvent::HandshakeFailedAuth
                | MonitorEvent::Unknown(_) => true,
                _ => false,
            };
            assert!(all(MonitorEvent::Unknown(0)));
            fn event_bounds<E: Clone + Copy + std::fmt::Debug + Eq + std::hash::Hash>() {}
            event_bounds::<MonitorEvent>();
            let _: HashSet<MonitorEvent> = HashSet::new();
            let _: fn(MonitorEvent) -> u16 = MonitorEvent::code;
            let _: fn(u16) -> MonitorEvent = MonitorEvent::from_code;

            fn mask_bounds<M: Clone + Copy + std::fmt::Debug + Eq + Default>() {}
            mask_bounds::<MonitorEvents>();
            let _: MonitorEvents = MonitorEvents::ALL;
            let _: fn() -> MonitorEvents = MonitorEvents::empty;
            let _: fn(MonitorEvents, MonitorEvent) -> bool = MonitorEvents::contains;
            let _: fn(MonitorEvents) -> u16 = MonitorEvents::bits;
            let _: fn(MonitorEvent) -> MonitorEvents = MonitorEvents::from;
            // BitOr in every combination gives a mask.
            let a: MonitorEvents = MonitorEvent::Connected | MonitorEvent::Disconnected;
            let b: MonitorEvents = MonitorEvent::Accepted | a;
            let c: MonitorEvents = a | MonitorEvent::Closed;
            let d: MonitorEvents = b | c;
            assert!(d.contains(MonitorEvent::Closed) && d.contains(MonitorEvent::Accepted));

            let _: fn(&[Vec<u8>]) -> z::Result<SocketEvent> = z::decode_monitor_event::<Vec<u8>>;
            let _: fn(&[Bytes]) -> z::Result<SocketEvent> = z::decode_monitor_event::<Bytes>;
            let _: fn(&[&'static [u8]]) -> z::Result<SocketEvent> =
                z::decode_monitor_event::<&'static [u8]>;
        }

        #[test]
        fn stream() {
            is_send::<ZmqStream>();
            fn stream_bounds<
                S: futures::Stream<Item = z::Result<Multipart>>
                    + futures::Sink<Multipart, Error = Error>,
            >() {
            }
            stream_bounds::<ZmqStream>();
            type S = ZmqStream;
            let _: fn(&S) -> &ZmqTransport = S::transport;
            let _: fn(&S, Multipart) -> z::Result<()> = S::write;
            let _: fn(&S, &'static str) -> z::Result<()> = S::write;
            let _: fn(&S) = S::close;
            let _: fn(&S) -> bool = S::at_closing;
            let _: fn(&S) -> Option<Error> = S::exception;
            let _: fn(&S) -> (usize, usize) = S::get_read_buffer_limits;
            let _: fn(&S, Option<usize>, Option<usize>) -> z::Result<()> =
                S::set_read_buffer_limits;
            // Added since.
            let _: fn(&S) -> Option<String> = S::bound_endpoint;
            let _ = |mut s: ZmqStream| async move {
                let _: z::Result<Multipart> = send_future(s.read()).await;
                let _: z::Result<SocketEvent> = send_future(s.read_event()).await;
                let _: z::Result<()> = send_future(s.drain()).await;
                let mut buf: Vec<Multipart> = Vec::new();
                let _: z::Result<usize> = send_future(s.read_many(&mut buf, 64)).await;
                let _: z::Result<()> = s.write_many(&mut buf);
            };
        }

        #[test]
        fn versions() {
            let _: &'static str = z::VERSION;
            let _: fn() -> String = z::version;
            let _: fn() -> VersionInfo = z::version_info;
            let _: fn(&str) -> z::Result<VersionInfo> = z::parse_version;
            let v = VersionInfo {
                major: 0u32,
                minor: 1u32,
                micro: 2u32,
                releaselevel: ReleaseLevel::Final,
                serial: 0u32,
            };
            is_clone::<VersionInfo>();
            is_debug::<VersionInfo>();
            is_eq::<VersionInfo>();
            fn level_bounds<L: Clone + Copy + std::fmt::Debug + Eq>() {}
            level_bounds::<ReleaseLevel>();
            let _ = [
                ReleaseLevel::Alpha,
                ReleaseLevel::Beta,
                ReleaseLevel::Candidate,
                ReleaseLevel::Final,
            ];
            assert_eq!(z::parse_version("0.1.2").unwrap(), v);
            assert!(z::version().starts_with(z::VERSION));
        }

        #[test]
        fn authentication() {
            type A = auth::Authenticator;
            is_clone::<A>();
            is_send::<A>();
            is_sync::<A>();
            is_debug::<A>();
            let _: fn(&A, Vec<&'static str>) = A::allow::<&'static str>;
            let _: fn(&A, [String; 2]) = A::deny::<String>;
            let _: fn(&A, &str, Vec<(&'static str, String)>) =
                A::configure_plain::<&'static str, String>;
            let _: fn(&A, &str, auth::CurveAllow) = A::configure_curve;
            let _ = |a: auth::Authenticator| async move {
                let _: () = send_future(a.stop()).await;
            };
            let keys: BTreeSet<[u8; 32]> = BTreeSet::new();
            let allow = [auth::CurveAllow::Any, auth::CurveAllow::Keys(keys)];
            is_clone::<auth::CurveAllow>();
            is_debug::<auth::CurveAllow>();
            is_eq::<auth::CurveAllow>();
            assert_ne!(allow[0], allow[1]);
            // Added since.
            let _: fn(&A) -> u64 = A::accepted;
            let _: fn(&A) -> u64 = A::refused;
            let _: fn(&A) -> bool = A::is_running;
            let _: &str = auth::ZAP_ENDPOINT;
            let _: fn() -> z::Result<auth::Certificate> = auth::Certificate::generate;
            let _: fn(&str, &str) -> z::Result<auth::Certificate> = auth::Certificate::parse;
            let _: fn(&[u8; 32]) -> String = auth::z85_encode_key;
            let _: fn(&str) -> z::Result<[u8; 32]> = auth::z85_decode_key;
            let _: fn(&'static str) -> z::Result<auth::CurveAllow> =
                auth::CurveAllow::from_directory;
        }

        /// Not in API.md, but public and documented: renaming them would break programs too.
        #[test]
        fn additions() {
            let _ = || async {
                let _: z::Result<()> = send_future(z::shutdown(Duration::from_secs(1))).await;
                let ctx = z::zmq::Context::new();
                let _: z::Result<()> =
                    send_future(z::shutdown_context(ctx, Duration::from_secs(1))).await;
            };
            let _: fn(i32) -> z::Result<()> = z::set_default_io_threads;
            let _: fn() -> z::zmq::Context = z::default_context;
            let _: fn(ZmqStream, ZmqStream) -> z::proxy::Proxy = z::proxy::Proxy::new;
            let _: fn(z::proxy::Proxy, ZmqStream) -> z::proxy::Proxy = z::proxy::Proxy::capture;
            let _: fn(&z::proxy::Proxy) -> z::proxy::ProxyHandle = z::proxy::Proxy::handle;
            let _ = |p: z::proxy::Proxy| async move {
                let _: z::Result<()> = send_future(p.run()).await;
            };
            type H = z::proxy::ProxyHandle;
            is_clone::<H>();
            is_send::<H>();
            is_sync::<H>();
            let _: fn(&H) = H::pause;
            let _: fn(&H) = H::resume;
            let _: fn(&H) = H::terminate;
            let _: fn(&H) -> bool = H::is_terminated;
            let _: fn(&H) -> (u64, u64) = H::forwarded;
        }
    };
}

pub(crate) use api_contract;
