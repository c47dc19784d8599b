//! The data directory is private: `0700`, and every file in it `0600`, backups too.
//!
//! It holds the key that signs reply tokens and links, the control token of the running server
//! and everyone's dones, so nobody but its owner may read it, whatever the umask. Owns creating
//! such directories and tightening existing ones; it does not decide where they are.
//!
//! Invariant: a directory this module returns from is `0700` and nothing below it is readable
//! by group or others (files `0600`, directories `0700`). Unix only; elsewhere it does nothing.

use std::path::Path;

use crate::error::{StorageError, StorageResult};

/// Creates `dir` (and its parents) if missing, and makes it and everything in it private.
/// Returns a warning when an existing directory was looser than `0700` (it is tightened).
pub fn make_private(dir: &Path) -> StorageResult<Option<String>> {
    let io = |source| StorageError::Io {
        path: dir.display().to_string(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt as _};
        let warning = match std::fs::symlink_metadata(dir) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                (meta.is_dir() && mode & 0o077 != 0).then(|| {
                    format!(
                        "{} was readable by others (mode {mode:o}); made it 0700 and its files 0600",
                        dir.display()
                    )
                })
            }
            Err(_) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io)?;
                None
            }
        };
        tighten(dir).map_err(io)?;
        Ok(warning)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(io)?;
        Ok(None)
    }
}

/// `dir` and every directory below it `0700`, every file `0600` (symbolic links are left alone:
/// their own mode means nothing, and their targets are not ours).
///
/// Something below `dir` may go while it is walked (sled writes a new snapshot file and deletes
/// the old one from a thread of its own, the spool deletes processed segments): what is gone
/// needs no tightening, so only `dir` itself must exist.
#[cfg(unix)]
pub fn tighten(dir: &Path) -> std::io::Result<()> {
    set_mode(dir, 0o700)?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d != dir => continue,
            entries => entries?,
        };
        for entry in entries {
            match tighten_entry(&entry?, &mut stack) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                done => done?,
            }
        }
    }
    Ok(())
}

/// One entry of a directory being tightened: a directory is made `0700` and walked later, a file
/// made `0600` unless it already is.
#[cfg(unix)]
fn tighten_entry(
    entry: &std::fs::DirEntry,
    stack: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let kind = entry.file_type()?;
    if kind.is_dir() {
        set_mode(&entry.path(), 0o700)?;
        stack.push(entry.path());
    } else if kind.is_file() {
        let mode = entry.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            set_mode(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn tighten(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::Store;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// Every file and directory below `dir` with its mode.
    fn modes(dir: &Path) -> Vec<(String, u32, bool)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let is_dir = e.file_type().unwrap().is_dir();
                out.push((e.path().display().to_string(), mode(&e.path()), is_dir));
                if is_dir {
                    stack.push(e.path());
                }
            }
        }
        out
    }

    fn assert_private(dir: &Path) {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
        let all = modes(dir);
        assert!(!all.is_empty());
        for (path, mode, is_dir) in all {
            assert_eq!(mode, if is_dir { 0o700 } else { 0o600 }, "{path}");
        }
    }

    #[test]
    fn a_new_data_directory_and_its_files_are_private_whatever_the_umask() {
        let parent = tempfile::tempdir().unwrap();
        let data = parent.path().join("data");
        let store = Store::open(&data).unwrap();
        assert_private(&data);
        assert_eq!(store.permission_warning(), None);

        // Backups too.
        let backup = parent.path().join("backup");
        crate::backup_to(&store, &backup, chrono::Utc::now()).unwrap();
        assert_private(&backup);
    }

    #[test]
    fn an_existing_loose_directory_is_tightened_with_a_warning() {
        let parent = tempfile::tempdir().unwrap();
        let data = parent.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("notes.txt"), "x").unwrap();
        set_mode(&data, 0o755).unwrap();
        set_mode(&data.join("notes.txt"), 0o644).unwrap();
        let store = Store::open(&data).unwrap();
        let warning = store.permission_warning().expect("a warning");
        assert!(warning.contains("mode 755"), "{warning}");
        assert_private(&data);
    }
}
