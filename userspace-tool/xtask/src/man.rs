//! The man pages: clusteradm(8), one page per object as git and ip have
//! (clusteradm-cluster(8), with every verb of the object in it), and the
//! hand-written ipcluster.toml(5).
//!
//! clap_mangen renders the title, name, synopsis and options; the help
//! texts are rendered here, because they mix prose (one line per
//! paragraph in `help.rs`) with tables and examples whose line breaks and
//! indentation matter.

use std::fs;
use std::io;
use std::path::Path;

use clap::Command;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

/// The daemon's configuration file's page, written by hand: its keys are
/// serde fields, not command-line arguments.
pub(crate) const CONFIG_PAGE: &str = include_str!("../../clusteradm/ipcluster.toml.5");

pub(crate) fn write_all(dir: &Path) -> io::Result<()> {
    let root = root();
    fs::create_dir_all(dir.join("man8"))?;
    fs::create_dir_all(dir.join("man5"))?;
    fs::write(dir.join("man8/clusteradm.8"), top_page(&root)?)?;
    for object in visible(&root) {
        let name = format!("clusteradm-{}.8", object.get_name());
        fs::write(dir.join("man8").join(name), object_page(object)?)?;
    }
    fs::write(dir.join("man5/ipcluster.toml.5"), CONFIG_PAGE)
}

/// The built command line: built, so that every subcommand knows its full
/// name (`clusteradm cluster add`) and carries the global `-j`.
pub(crate) fn root() -> Command {
    // The NAME line wants the short description, not the crate's.
    let mut root = clusteradm::command()
        .about("ipcluster's operator CLI")
        .disable_help_subcommand(true);
    root.build();
    root
}

/// The subcommands a page shows: clap's `help` is left out.
pub(crate) fn visible(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

fn man(cmd: &Command, title: &str) -> Man {
    let version = cmd.get_version().unwrap_or_default();
    Man::new(cmd.clone())
        .title(title.to_uppercase())
        .section("8")
        .source(format!("ipcluster {version}"))
        .manual("System Administration")
}

pub(crate) fn top_page(root: &Command) -> io::Result<Vec<u8>> {
    let man = man(root, "clusteradm");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    help_text(&mut roff, root);
    roff.to_writer(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    see_also(&mut out, root)?;
    Ok(out)
}

pub(crate) fn object_page(object: &Command) -> io::Result<Vec<u8>> {
    let man = man(object, &format!("clusteradm-{}", object.get_name()));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    help_text(&mut roff, object);
    roff.to_writer(&mut out)?;
    man.render_options_section(&mut out)?;
    for verb in visible(object) {
        verb_section(&mut out, verb)?;
    }
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "0 on success, 1 on failure (including kernel errors and a missing \
         ipcluster module), 2 on a usage error.",
    )]);
    roff.to_writer(&mut out)?;
    see_also(&mut out, object)?;
    Ok(out)
}

/// One verb of an object: a section of its own, whose parts are
/// subsections.
fn verb_section(out: &mut Vec<u8>, verb: &Command) -> io::Result<()> {
    let name = verb.get_bin_name().unwrap_or(verb.get_name());
    let mut roff = Roff::new();
    roff.control("SH", [name.to_uppercase().as_str()]);
    if let Some(about) = verb.get_about() {
        roff.text([roman(about.to_string())]);
    }
    roff.to_writer(out)?;
    let man = Man::new(verb.clone());
    let mut parts = Vec::new();
    man.render_synopsis_section(&mut parts)?;
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    help_text(&mut roff, verb);
    roff.to_writer(&mut parts)?;
    man.render_options_section(&mut parts)?;
    let parts = String::from_utf8_lossy(&parts).replace("\n.SH ", "\n.SS ");
    out.extend_from_slice(parts.as_bytes());
    Ok(())
}

fn see_also(out: &mut Vec<u8>, cmd: &Command) -> io::Result<()> {
    // The top page lists the object pages; an object page points back.
    let mut pages: Vec<String> = if cmd.get_name() == "clusteradm" {
        visible(cmd)
            .map(|c| format!("clusteradm-{}(8)", c.get_name()))
            .collect()
    } else {
        vec!["clusteradm(8)".to_owned()]
    };
    pages.push("ipcluster.toml(5)".to_owned());
    pages.push("ip(8)".to_owned());
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(pages.join(", "))]);
    roff.to_writer(out)
}

/// A command's long description and the text after its options, as
/// paragraphs.
fn help_text(roff: &mut Roff, cmd: &Command) {
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        paragraphs(roff, &about.to_string());
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        paragraphs(roff, &after.to_string());
    }
}

/// The help texts' paragraphs, apart at blank lines: a paragraph of one
/// line is prose, to be filled; one of several lines is a table, a
/// synopsis or examples, kept as written under its `Heading:` line.
fn paragraphs(roff: &mut Roff, text: &str) {
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para.lines().filter(|l| !l.trim().is_empty()).collect();
        match lines.as_slice() {
            [] => continue,
            [prose] => {
                roff.control("PP", []);
                roff.text([roman(*prose)]);
            }
            [heading, rest @ ..] if heading.ends_with(':') && !heading.starts_with(' ') => {
                roff.control("PP", []);
                roff.text([bold(*heading)]);
                preformatted(roff, rest);
            }
            all => {
                roff.control("PP", []);
                preformatted(roff, all);
            }
        }
    }
}

fn preformatted(roff: &mut Roff, lines: &[&str]) {
    roff.control("nf", []);
    for line in lines {
        roff.text([roman(*line)]);
    }
    roff.control("fi", []);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(page: &[u8]) -> String {
        String::from_utf8(page.to_vec()).unwrap()
    }

    #[test]
    fn each_object_has_a_page_with_its_verbs() {
        let root = root();
        let top = text(&top_page(&root).unwrap());
        let objects: Vec<_> = visible(&root).collect();
        assert!(objects.len() >= 8);
        for object in objects {
            assert!(top.contains(&format!("clusteradm\\-{}(8)", object.get_name())));
            let page = text(&object_page(object).unwrap());
            assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
            for verb in visible(object) {
                let heading = format!(".SH \"CLUSTERADM {}", object.get_name().to_uppercase());
                assert!(page.contains(&heading), "{heading}");
                assert!(page.contains(&verb.get_name().to_uppercase()));
            }
        }
        let cluster = text(&object_page(root.find_subcommand("cluster").unwrap()).unwrap());
        // The keyword table keeps its lines.
        assert!(cluster.contains(".nf\n  id ID"), "{cluster}");
    }

    /// Every key of the daemon's configuration, in config.rs and in the
    /// example, is documented in ipcluster.toml(5).
    #[test]
    fn the_config_page_documents_every_key() {
        let config = include_str!("../../daemon/src/config.rs");
        let example = include_str!("../../clusteradm/ipcluster.example.toml");
        let fields = config
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub(crate) "))
            .filter_map(|l| l.split_once(':').map(|(name, _)| name))
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        let keys = example
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(' '))
            .filter_map(|l| l.split_once(" =").map(|(key, _)| key.trim()));
        let sections = example
            .lines()
            .filter_map(|l| l.strip_prefix('['))
            .filter_map(|l| l.split_once(']').map(|(name, _)| name));
        let mut n = 0;
        for key in fields.chain(keys).chain(sections) {
            let entry = format!("\n.B {key}\n");
            let section = format!("\n.SS [{key}]\n");
            assert!(
                CONFIG_PAGE.contains(&entry) || CONFIG_PAGE.contains(&section),
                "ipcluster.toml.5 does not document {key}"
            );
            n += 1;
        }
        assert!(n > 30, "{n}");
    }
}
