//! Primitives the historic code used and the core never does: a lock file created empty
//! and written afterwards (H9).

use std::io;

use sessionlock::core::protocol::HeldFile;
use sessionlock::fs::{FsError, FsOp, LockFs, LockPath};
use sessionlock::payload::Payload;

use crate::fs::{ModelCtx, ModelFs, ModelHandle};
use crate::world::Inode;

impl ModelFs {
    /// `open(path, O_CREAT|O_EXCL)`: an empty file with no kernel lock; `None` if the
    /// path exists.
    pub async fn create_empty(&self, path: &LockPath) -> Result<Option<ModelHandle>, FsError> {
        let id = self
            .step(FsOp::Publish, path, |st| {
                if st.paths.contains_key(path.as_path()) {
                    st.stats.contended += 1;
                    return Ok(None);
                }
                let ino = st.fresh_id();
                let id = self.open_handle(st, ino);
                let inode =
                    Inode { special: None, data: Vec::new(), mtime_ms: st.wall_ms(), lock: None };
                st.inodes.insert(ino, inode);
                st.paths.insert(path.as_path().to_owned(), ino);
                Ok(Some(id))
            })
            .await?;
        Ok(id.map(|id| self.handle_at(id, path)))
    }

    /// Writes `data` as the whole content of the handle's file.
    pub async fn write_all(
        &self,
        path: &LockPath,
        handle: &ModelHandle,
        data: &[u8],
    ) -> Result<(), FsError> {
        self.step(FsOp::Publish, path, |st| {
            let ino = st
                .handles
                .get(&handle.id())
                .map(|h| h.ino)
                .ok_or_else(|| io::Error::from_raw_os_error(9))?;
            let inode =
                st.inodes.get_mut(&ino).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            inode.data = data.to_vec();
            Ok(())
        })
        .await
    }
}

/// H9's publish: create the file, then lock it, then write it — three steps, between
/// which the file is visible empty and unlocked.
pub async fn publish_in_two_steps(
    ctx: &ModelCtx<'_>,
    path: &LockPath,
    payload: &Payload,
) -> Result<Option<HeldFile<ModelHandle>>, FsError> {
    let Some(handle) = ctx.fs.create_empty(path).await? else { return Ok(None) };
    ctx.fs.try_lock(&handle).await?;
    ctx.fs.write_all(path, &handle, &payload.to_bytes()).await?;
    let id = ctx.fs.meta(&handle).await?.id;
    let nonce = payload.nonce.clone().unwrap_or_default();
    Ok(Some(HeldFile { handle, id, nonce, ticket: None }))
}
