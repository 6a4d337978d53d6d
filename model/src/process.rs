//! The one name the world, its fault plan and the drivers share for a simulated process.

/// A process id in the model.
pub type Pid = u32;
