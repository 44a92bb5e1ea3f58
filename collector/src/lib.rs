//! The collector: it stores the findings sensors send and answers analysts'
//! queries. [`server`] is the gRPC server (mutual TLS, ingest with
//! acknowledgements, query, tail, stats, health); [`store`] is the storage
//! behind one trait (SQLite by default); [`filter`] reads the filters analysts
//! write, in the rule condition language; [`certs`] makes development
//! certificates.

pub mod certs;
pub mod filter;
pub mod server;
pub mod store;
