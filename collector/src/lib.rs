//! The collector: it stores the findings sensors send and answers analysts'
//! queries. [`store`] is the storage behind one trait (SQLite by default);
//! [`filter`] reads the filters analysts write, in the rule condition language.

pub mod filter;
pub mod store;
