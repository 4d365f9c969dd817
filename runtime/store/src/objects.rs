//! Content-addressed objects: `objects/ab/abcdef...` named by SHA-256.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::StoreError;

/// SHA-256 of a file's bytes, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut f = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let mut hasher = Sha256::new();
    // Sized by the file: most objects are small, and zeroing a large
    // buffer for each would cost more than hashing them.
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = vec![0u8; (len as usize).clamp(4096, 1 << 20)];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| StoreError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// What the file system says about an object file: if none of it changed
/// since the object last hashed correctly, its bytes did not change either
/// (objects are read-only; a write or a chmod moves `ctime`, which no user
/// can set back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub size: i64,
    pub ino: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// The result of re-hashing one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    Ok,
    Corrupt { actual: String },
    Unreadable(String),
}

/// The object directory.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    dir: PathBuf,
    tmp: PathBuf,
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; a failure here is not worth failing a run.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl ObjectStore {
    /// An object store in `dir`, staging writes in `tmp` (same file system).
    pub fn new(dir: PathBuf, tmp: PathBuf) -> ObjectStore {
        ObjectStore { dir, tmp }
    }

    /// Where the object with this hash lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.dir.join(prefix).join(sha256)
    }

    /// Whether the object is present.
    pub fn contains(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Stores bytes; returns their hash.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let sha = hex::encode(Sha256::digest(bytes));
        if self.contains(&sha) {
            return Ok(sha);
        }
        let tmp = self.temp_path();
        let mut f = File::create(&tmp).map_err(|e| StoreError::io("create", &tmp, e))?;
        let written = f.write_all(bytes).and_then(|_| f.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::io("write", &tmp, e));
        }
        drop(f);
        self.install(&tmp, &sha)?;
        Ok(sha)
    }

    /// Stores a file's bytes (copied, streamed, hashed on the way); returns
    /// the hash and size.
    pub fn put_file(&self, src: &Path) -> Result<(String, u64), StoreError> {
        let tmp = self.temp_path();
        let result = (|| -> Result<(String, u64), StoreError> {
            let mut input = File::open(src).map_err(|e| StoreError::io("open", src, e))?;
            let mut out = File::create(&tmp).map_err(|e| StoreError::io("create", &tmp, e))?;
            let mut hasher = Sha256::new();
            let len = input.metadata().map(|m| m.len()).unwrap_or(0);
            let mut buf = vec![0u8; (len as usize).clamp(4096, 1 << 20)];
            let mut size = 0u64;
            loop {
                let n = input.read(&mut buf).map_err(|e| StoreError::io("read", src, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(|e| StoreError::io("write", &tmp, e))?;
                size += n as u64;
            }
            out.sync_all().map_err(|e| StoreError::io("sync", &tmp, e))?;
            Ok((hex::encode(hasher.finalize()), size))
        })();
        match result {
            Ok((sha, size)) => {
                if self.contains(&sha) {
                    let _ = std::fs::remove_file(&tmp);
                } else {
                    self.install(&tmp, &sha)?;
                }
                Ok((sha, size))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Stores a file that a run produced and nothing else uses, without a
    /// second copy: the object becomes a hard link to the same bytes (made
    /// read-only), and the file where it was produced is a link to the
    /// object. Falls back to a copy for a symbolic link, a file with other
    /// links (a tool may have linked an input or a file of its own), a file
    /// on another file system, or one that changed while it was hashed.
    pub fn put_file_owned(&self, src: &Path) -> Result<(String, u64), StoreError> {
        use std::os::unix::fs::MetadataExt;
        let before = std::fs::symlink_metadata(src).map_err(|e| StoreError::io("stat", src, e))?;
        if !before.is_file() || before.nlink() != 1 {
            return self.put_file(src);
        }
        let (sha, size) = hash_file(src)?;
        if self.contains(&sha) {
            return Ok((sha, size));
        }
        // The producer's bytes reach the disk before the object is named.
        File::open(src).and_then(|f| f.sync_all()).map_err(|e| StoreError::io("sync", src, e))?;
        let tmp = self.temp_path();
        if std::fs::hard_link(src, &tmp).is_err() {
            return self.put_file(src);
        }
        let after = std::fs::metadata(&tmp).map_err(|e| StoreError::io("stat", &tmp, e))?;
        let same = |m: &std::fs::Metadata| (m.ino(), m.size(), m.mtime(), m.mtime_nsec());
        if same(&before) != same(&after) || after.size() != size {
            let _ = std::fs::remove_file(&tmp);
            return self.put_file(src);
        }
        self.install(&tmp, &sha)?;
        Ok((sha, size))
    }

    fn temp_path(&self) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("obj-{}-{n}", std::process::id()))
    }

    /// Renames a complete, synced temporary file into place, read-only.
    fn install(&self, tmp: &Path, sha: &str) -> Result<(), StoreError> {
        let dest = self.path(sha);
        let dir = dest.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
        let mut perms = std::fs::metadata(tmp).map_err(|e| StoreError::io("stat", tmp, e))?.permissions();
        perms.set_readonly(true);
        let _ = std::fs::set_permissions(tmp, perms);
        std::fs::rename(tmp, &dest).map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            StoreError::io("rename into", &dest, e)
        })?;
        sync_dir(&dir);
        Ok(())
    }

    /// The fingerprint of an object's file, if it exists.
    pub fn fingerprint(&self, sha256: &str) -> Option<Fingerprint> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(self.path(sha256)).ok()?;
        Some(Fingerprint {
            size: m.size() as i64,
            ino: m.ino() as i64,
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        })
    }

    /// Re-hashes one object.
    pub fn verify(&self, sha256: &str) -> Verified {
        match hash_file(&self.path(sha256)) {
            Ok((actual, _)) if actual == sha256 => Verified::Ok,
            Ok((actual, _)) => Verified::Corrupt { actual },
            Err(e) => Verified::Unreadable(e.to_string()),
        }
    }

    /// The object hashes present on disk under one shard (`00` to `ff`,
    /// the first two hex digits), sorted: a walk over the store one shard
    /// at a time holds a 256th of its names.
    pub fn list_shard(&self, shard: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.dir.join(shard);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("list", &dir, e)),
        };
        let mut out: Vec<String> = rd
            .flatten()
            .filter_map(|obj| obj.file_name().to_str().map(str::to_string))
            .filter(|name| name.len() == 64 && name.starts_with(shard) && name.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every object hash present on disk.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io("list", &self.dir, e)),
        };
        for prefix in rd.flatten() {
            if !prefix.path().is_dir() {
                continue;
            }
            for obj in
                std::fs::read_dir(prefix.path()).map_err(|e| StoreError::io("list", &prefix.path(), e))?.flatten()
            {
                if let Some(name) = obj.file_name().to_str()
                    && name.len() == 64
                    && name.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    out.push(name.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes an object (for `gc`, and to drop a corrupt one).
    pub fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        let p = self.path(sha256);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove", &p, e)),
        }
    }

    /// Removes leftover temporary files of processes that are gone (a killed
    /// run leaves them; they were never visible as objects).
    pub fn clean_temp(&self) -> usize {
        let Ok(rd) = std::fs::read_dir(&self.tmp) else { return 0 };
        let mut removed = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').nth(1).and_then(|p| p.parse::<i32>().ok());
            // SAFETY: kill with signal 0 only asks whether the process exists.
            let alive = pid.is_some_and(|p| p == std::process::id() as i32 || unsafe { libc::kill(p, 0) } == 0);
            if !alive && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempdir::Dir, ObjectStore) {
        let d = tempdir::Dir::new();
        std::fs::create_dir_all(d.0.join("o")).unwrap();
        std::fs::create_dir_all(d.0.join("t")).unwrap();
        let s = ObjectStore::new(d.0.join("o"), d.0.join("t"));
        (d, s)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU64, Ordering};
                static N: AtomicU64 = AtomicU64::new(0);
                let p = std::env::temp_dir().join(format!(
                    "phx-store-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn objects_are_named_by_their_hash_and_read_only() {
        let (_d, s) = store();
        let sha = s.put_bytes(b"hello").unwrap();
        assert_eq!(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(std::fs::metadata(s.path(&sha)).unwrap().permissions().readonly());
        assert_eq!(s.verify(&sha), Verified::Ok);
        assert_eq!(s.put_bytes(b"hello").unwrap(), sha, "idempotent");
        assert_eq!(s.list().unwrap(), vec![sha]);
        assert_eq!(std::fs::read_dir(&s.tmp).unwrap().count(), 0, "no temporary file left");
    }

    #[test]
    fn a_flipped_byte_is_found() {
        let (_d, s) = store();
        let sha = s.put_bytes(b"some bytes").unwrap();
        let p = s.path(&sha);
        let mut perms = std::fs::metadata(&p).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&p, perms).unwrap();
        std::fs::write(&p, b"some bytez").unwrap();
        assert!(matches!(s.verify(&sha), Verified::Corrupt { .. }));
    }

    #[test]
    fn produced_files_become_the_object_without_a_copy() {
        use std::os::unix::fs::MetadataExt;
        let (d, s) = store();
        let src = d.0.join("produced.bin");
        std::fs::write(&src, vec![7u8; 100_000]).unwrap();
        let (sha, size) = s.put_file_owned(&src).unwrap();
        assert_eq!(size, 100_000);
        let (obj, work) = (std::fs::metadata(s.path(&sha)).unwrap(), std::fs::metadata(&src).unwrap());
        assert_eq!(obj.ino(), work.ino(), "one inode: the work file links to the object");
        assert!(obj.permissions().readonly());
        assert_eq!(s.verify(&sha), Verified::Ok);
        // A file with another link is copied: the other name could change it.
        let linked = d.0.join("linked.bin");
        std::fs::write(&linked, b"shared bytes").unwrap();
        std::fs::hard_link(&linked, d.0.join("elsewhere.bin")).unwrap();
        let (sha2, _) = s.put_file_owned(&linked).unwrap();
        assert_ne!(std::fs::metadata(s.path(&sha2)).unwrap().ino(), std::fs::metadata(&linked).unwrap().ino());
        // A symbolic link is copied from its target.
        let link = d.0.join("sym.bin");
        std::os::unix::fs::symlink(&linked, &link).unwrap();
        assert_eq!(s.put_file_owned(&link).unwrap().0, sha2);
    }

    #[test]
    fn files_stream_into_the_store() {
        let (d, s) = store();
        let src = d.0.join("input.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let (sha, size) = s.put_file(&src).unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&data)));
        assert_eq!(std::fs::read(s.path(&sha)).unwrap(), data);
    }
}
