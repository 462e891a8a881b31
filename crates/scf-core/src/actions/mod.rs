//! One module per action: its request, its checks, and its answer.

pub mod create_function;
pub mod create_namespace;
pub mod delete_function;
pub mod delete_namespace;
pub mod delete_reserved_concurrency_config;
pub mod get_account;
pub mod get_async_event_status;
pub mod get_function;
pub mod get_function_address;
pub mod get_function_event_invoke_config;
pub mod get_function_logs;
pub mod get_request_status;
pub mod get_reserved_concurrency_config;
pub mod invoke;
pub mod invoke_function;
pub mod list_async_events;
pub mod list_functions;
pub mod list_namespaces;
pub mod list_version_by_function;
pub mod publish_version;
pub mod put_reserved_concurrency_config;
pub mod terminate_async_event;
pub mod update_function_code;
pub mod update_function_configuration;
pub mod update_function_event_invoke_config;
pub mod update_namespace;

mod code_source;
mod function_view;
mod paging;
