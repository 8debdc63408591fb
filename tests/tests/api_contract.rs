//! The API contract (`API.md`) through each adapter crate, with the checks the facade's test
//! uses (crates/zmqio/tests/contract/mod.rs): a rename or a signature change in any adapter
//! fails to compile here.

#[path = "../../crates/zmqio/tests/contract/mod.rs"]
mod contract;

mod tokio_adapter {
    super::contract::api_contract!(zmqio_tokio);
}

mod smol_adapter {
    super::contract::api_contract!(zmqio_smol);
}

mod async_std_adapter {
    super::contract::api_contract!(zmqio_async_std);
}
