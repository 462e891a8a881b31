//! One module per action: its request, its checks, and its answer.

pub mod create_function;
pub mod create_namespace;
pub mod delete_function;
pub mod delete_namespace;
pub mod get_account;
pub mod get_function;
pub mod get_function_address;
pub mod list_functions;
pub mod list_namespaces;
pub mod update_function_code;
pub mod update_function_configuration;
pub mod update_namespace;

mod code_source;
mod function_view;
mod paging;
