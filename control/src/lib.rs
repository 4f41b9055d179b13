//! Tollgate's control plane: `tollgate-control` (rules, health checks,
//! metrics, the operators' API) and the `tollgatectl` client.
//!
//! One service thread owns the shared-memory link ([`service::Service`]);
//! the API server and the metrics exporter run on their own threads and
//! reach it through a channel and a shared snapshot; rule files are
//! validated on a thread of their own ([`rules_worker`]).

pub mod api;
pub mod api_server;
pub mod config;
pub mod conn_limit;
pub mod health_state;
pub mod http_check;
pub mod metrics;
pub mod metrics_server;
pub mod responder;
pub mod rules_set;
pub mod rules_worker;
pub mod service;
pub mod signals;
#[cfg(test)]
mod test_frames;
