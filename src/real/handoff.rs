//! Handing a held lock over to a program this process is about to `exec`.

use std::io;
use std::os::fd::OwnedFd;

use super::SessionGuard;
use crate::api::block_on;
use crate::core::release_hold;

impl SessionGuard {
    /// Hands the lock over to the program this process is about to `exec` (as `flock(1)`
    /// hands its lock to its command): returns a new descriptor of the lock file's open
    /// file description, without `FD_CLOEXEC`, so the exec'd program inherits it and,
    /// with it, the kernel lock. The lock file names this process, and `exec` keeps the
    /// pid, so the file then names the program.
    ///
    /// For that hand-off only. The guard is consumed without releasing: the lock file
    /// stays, and this process's registry keeps the path held until the process execs
    /// or exits, so nothing else in it can take that path again. Every process started
    /// from here on inherits the descriptor and keeps the kernel lock held while it
    /// lives; the lock file is proven stale only once the last of them is gone, and
    /// then the next contender (or `sessionlock clean`) removes it.
    ///
    /// # Errors
    /// When `dup` fails; the lock is then released as
    /// [`SessionGuard::release`] would.
    pub fn into_exec_fd(self) -> io::Result<OwnedFd> {
        let (locker, path, owner, generation) = self.into_inner().into_parts();
        let dup = locker.registry().with_held(&path, generation, |file| {
            rustix::io::dup(file.handle.fd()).map_err(io::Error::from)
        });
        let error = match dup {
            Some(Ok(fd)) => return Ok(fd),
            Some(Err(error)) => error,
            None => io::Error::other(format!("no lock of {path} is held by this guard")),
        };
        if let Err(release) = block_on(release_hold(&locker, &path, owner, generation)) {
            tracing::error!(%path, %release, "could not release after a failed hand-off");
        }
        Err(error)
    }
}
