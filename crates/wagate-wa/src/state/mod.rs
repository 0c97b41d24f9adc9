//! whatsapp-rust's session state in wagate's database: the `Backend` mapping and its namespaces.

pub mod backend;
pub mod memory;
pub mod ns;

pub use backend::KvBackend;
pub use memory::MemStateStore;
