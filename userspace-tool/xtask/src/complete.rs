//! Shell completions for bash, zsh and fish, under the names and in the
//! directories each shell's Debian package looks in (the `.deb` puts
//! them there).

use std::fs;
use std::io;
use std::path::Path;

use clap_complete::Shell;

/// Each shell's directory under DIR and the completion file's name.
const SHELLS: [(Shell, &str, &str); 3] = [
    (Shell::Bash, "bash", "clusteradm"),
    (Shell::Zsh, "zsh", "_clusteradm"),
    (Shell::Fish, "fish", "clusteradm.fish"),
];

pub(crate) fn write_all(dir: &Path) -> io::Result<()> {
    for (shell, sub, name) in SHELLS {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut clusteradm::command(), "clusteradm", &mut text);
        fs::create_dir_all(dir.join(sub))?;
        fs::write(dir.join(sub).join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_know_every_object_and_verb() {
        let mut text = Vec::new();
        clap_complete::generate(
            Shell::Bash,
            &mut clusteradm::command(),
            "clusteradm",
            &mut text,
        );
        let text = String::from_utf8(text).unwrap();
        for word in [
            "cluster", "table", "bucket", "which", "cert", "daemon", "tcp", "status",
        ] {
            assert!(text.contains(word), "{word}");
        }
        assert!(text.contains("--json"));
    }
}
