//! Executors: what runs the work the dispatcher hands out. The local worker pool and Slurm are
//! two implementations of one [`Executor`] interface; both report back as [`Event`]s on the
//! dispatcher's one channel.

mod events;
mod local;
pub mod slurm;

pub use events::{channel, Event, Executor, Inbox, Outbox, Work};
pub use local::LocalPool;
pub use slurm::{SlurmExecutor, SlurmSettings};
