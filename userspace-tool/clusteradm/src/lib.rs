//! clusteradm: ipcluster's operator CLI, and the command that runs its
//! membership daemon (`clusteradm daemon`, the `ipcluster-daemon` crate).
//!
//! Speaks like `ip`: objects and verbs, `-j` for JSON, exit 0 on success,
//! 1 on failure, 2 on a usage error. This file defines the command line
//! and sends each command to its module under `cmd/`; the help texts are
//! in `help.rs`. It is a library so that the man pages and the shell
//! completions (`xtask`) are made from the very definition the binary
//! parses with.

mod cmd;
mod help;
mod output;

use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use cmd::{bucket, cert, cluster, hash, status, table, tcp, which};
use help::*;
use ipcluster_daemon::kapi;
use kapi::shared;
use kapi::words as args;
use kapi::Error;

/// ipcluster's operator CLI.
#[derive(Parser, Debug)]
#[command(name = "clusteradm", version, about, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// JSON output (one document on one line).
    #[arg(short = 'j', long = "json", global = true)]
    json: bool,
    #[command(subcommand)]
    object: Object,
}

#[derive(Subcommand, Debug)]
enum Object {
    /// The flow hash, computed here (no kernel needed).
    Hash(hash::HashArgs),
    /// Create, delete and list clusters.
    #[command(subcommand, long_about = CLUSTER_ABOUT, after_help = CLUSTER_HELP)]
    Cluster(ClusterVerb),
    /// Set and show a cluster's bucket table.
    #[command(subcommand, long_about = TABLE_ABOUT, after_help = TABLE_HELP)]
    Table(TableVerb),
    /// Show per-bucket counters.
    #[command(subcommand, long_about = BUCKET_SHOW_ABOUT)]
    Bucket(BucketVerb),
    /// Which bucket and member a flow belongs to, in a live cluster.
    #[command(
        long_about = WHICH_ABOUT,
        after_help = WHICH_HELP,
        mut_arg("words", |a| a.help(WHICH_KEYWORDS))
    )]
    Which(WhichCli),
    /// Make a cluster CA, issue, list and revoke member certificates.
    #[command(subcommand, long_about = CERT_ABOUT)]
    Cert(CertVerb),
    /// Run the membership daemon of one cluster (see `daemon --help`).
    #[command(long_about = DAEMON_ABOUT)]
    Daemon {
        /// The configuration file (TOML).
        config: std::path::PathBuf,
    },
    /// TCP survival: the connection state the kernel exports.
    #[command(subcommand)]
    Tcp(TcpVerb),
    /// What this host's daemon knows of a cluster.
    #[command(after_help = "JSON: the daemon's state document.")]
    Status {
        /// Cluster id.
        #[arg(value_parser = args::cluster_id)]
        id: u32,
    },
}

#[derive(Subcommand, Debug)]
enum CertVerb {
    /// Make a new cluster CA in DIR.
    Ca {
        /// The certificate directory (created if missing; must not hold a CA).
        dir: std::path::PathBuf,
        /// The CA's common name.
        name: Option<String>,
    },
    /// Issue a member certificate NAME from DIR's CA.
    #[command(
        after_help = "Keywords: addr ADDR (the member's address on the cluster link, put in the \
certificate as an IP subject alternative name: daemons take the certificate from that \
address only); id ID (the member id the cluster gives it, put in the certificate as a \
URI subject alternative name: messages under another id are refused); days DAYS (how \
long it is valid: 365 unless given).\n\
Examples:\n  clusteradm cert issue /etc/ipcluster/pki node1 addr 192.0.2.11 id 1",
        mut_arg("words", |a| a.help(CERT_ISSUE_KEYWORDS))
    )]
    Issue {
        /// The certificate directory.
        dir: std::path::PathBuf,
        /// The member's name (letters, digits, '-', '_', '.').
        name: String,
        #[command(flatten)]
        keywords: Keywords,
    },
    /// List DIR's member certificates.
    #[command(after_help = "JSON: an array of {name, fingerprint, revoked}.")]
    List {
        /// The certificate directory.
        dir: std::path::PathBuf,
    },
    /// Revoke a member certificate, by name or fingerprint.
    Revoke {
        /// The certificate directory.
        dir: std::path::PathBuf,
        /// The member's name or the certificate's fingerprint.
        which: String,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterVerb {
    /// Create a cluster.
    #[command(long_about = ADD_ABOUT, after_help = ADD_HELP, mut_arg("words", |a| a.help(ADD_KEYWORDS)))]
    Add {
        #[command(flatten)]
        keywords: Keywords,
    },
    /// Delete a cluster.
    #[command(
        visible_alias = "delete",
        long_about = "Delete a cluster (cluster-del): its address stops being \
            filtered here at once.",
        after_help = "Example:\n  clusteradm cluster del 1"
    )]
    Del {
        /// Cluster id.
        #[arg(value_parser = args::cluster_id)]
        id: u32,
    },
    /// Show one cluster, or all of this network namespace's.
    #[command(
        visible_alias = "list",
        long_about = "Show one cluster, or all of this network namespace's \
            (cluster-get), one per entry in `cluster add`'s keywords; a second \
            line carries forwarding devices, the seed (shown to privileged \
            callers only) and the count of malformed packets dropped.\n\n\
            JSON: an array of objects (also for one cluster): id, dev, ifindex, \
            addr, addr6, mac, mode, hash, bucket_bits, buckets, member, fwd_dev, \
            fwd_ifindex, seed, malformed; absent attributes are left out.",
        after_help = "Examples:\n  clusteradm cluster show\n  clusteradm -j cluster show 1"
    )]
    Show {
        /// Cluster id (default: all).
        #[arg(value_parser = args::cluster_id)]
        id: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
enum TableVerb {
    /// Replace a cluster's bucket table.
    #[command(long_about = TABLE_SET_ABOUT, after_help = TABLE_SET_HELP, mut_arg("words", |a| a.help(TABLE_SET_KEYWORDS)))]
    Set {
        /// Cluster id.
        #[arg(value_parser = args::cluster_id)]
        id: u32,
        #[command(flatten)]
        keywords: Keywords,
    },
    /// Show a cluster's bucket table as a grid.
    #[command(
        long_about = TABLE_SHOW_ABOUT,
        after_help = "Examples:\n  clusteradm table show 1\n  clusteradm -j table show 1"
    )]
    Show {
        /// Cluster id.
        #[arg(value_parser = args::cluster_id)]
        id: u32,
    },
}

#[derive(Subcommand, Debug)]
enum TcpVerb {
    /// Print the TCP failover state records of clusters made with
    /// `tcp-export`, as the kernel sends them.
    #[command(
        after_help = "Keywords: id ID (one cluster), count N (exit after N records).\n\
Examples:\n  clusteradm tcp monitor\n  clusteradm -j tcp monitor id 1 count 10",
        mut_arg("words", |a| a.help(TCP_MONITOR_KEYWORDS))
    )]
    Monitor {
        #[command(flatten)]
        keywords: Keywords,
    },
}

#[derive(Subcommand, Debug)]
enum BucketVerb {
    /// Show per-bucket counters.
    #[command(
        long_about = BUCKET_SHOW_ABOUT,
        after_help = "Examples:\n  clusteradm bucket show 1 nonzero\n  clusteradm -j bucket show 1",
        mut_arg("words", |a| a.help(BUCKET_SHOW_KEYWORDS))
    )]
    Show {
        /// Cluster id.
        #[arg(value_parser = args::cluster_id)]
        id: u32,
        #[command(flatten)]
        keywords: Keywords,
    },
}

/// The `ip`-style keywords after a command's positional arguments: `keyword
/// value` pairs and bare flags, in any order, parsed by the command (each
/// command names its own in its help, with `mut_arg`).
#[derive(Args, Debug)]
struct Keywords {
    #[arg(
        value_name = "KEYWORD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    words: Vec<String>,
}

/// `which`'s arguments.
#[derive(Args, Debug)]
struct WhichCli {
    /// Cluster id.
    #[arg(value_parser = args::cluster_id)]
    id: u32,
    /// Source address of the flow, or `-` to read flows from standard
    /// input, one per line as `SRC [KEYWORD]...`, answering one per line.
    #[arg(value_parser = which::parse_src)]
    src: which::Src,
    #[command(flatten)]
    keywords: Keywords,
}

impl Object {
    /// The command, for "see --help" hints.
    fn path(&self) -> &'static str {
        match self {
            Object::Hash(_) => "hash",
            Object::Cluster(ClusterVerb::Add { .. }) => "cluster add",
            Object::Cluster(ClusterVerb::Del { .. }) => "cluster del",
            Object::Cluster(ClusterVerb::Show { .. }) => "cluster show",
            Object::Table(TableVerb::Set { .. }) => "table set",
            Object::Table(TableVerb::Show { .. }) => "table show",
            Object::Bucket(BucketVerb::Show { .. }) => "bucket show",
            Object::Which(_) => "which",
            Object::Cert(CertVerb::Ca { .. }) => "cert ca",
            Object::Cert(CertVerb::Issue { .. }) => "cert issue",
            Object::Cert(CertVerb::List { .. }) => "cert list",
            Object::Cert(CertVerb::Revoke { .. }) => "cert revoke",
            Object::Daemon { .. } => "daemon",
            Object::Status { .. } => "status",
            Object::Tcp(TcpVerb::Monitor { .. }) => "tcp monitor",
        }
    }
}

fn run(object: &Object, json: bool) -> Result<(), Error> {
    match object {
        Object::Hash(a) => hash::hash(a, json).map_err(Error::from),
        Object::Cluster(ClusterVerb::Add { keywords }) => cluster::add(&keywords.words, json),
        Object::Cluster(ClusterVerb::Del { id }) => cluster::del(*id),
        Object::Cluster(ClusterVerb::Show { id }) => cluster::show(*id, json),
        Object::Table(TableVerb::Set { id, keywords }) => table::set(*id, &keywords.words),
        Object::Table(TableVerb::Show { id }) => table::show(*id, json),
        Object::Bucket(BucketVerb::Show { id, keywords }) => {
            bucket::show(*id, &keywords.words, json)
        }
        Object::Which(w) => which::which(w.id, w.src.clone(), &w.keywords.words, json),
        Object::Cert(CertVerb::Ca { dir, name }) => cert::new_ca(dir, name.as_deref()),
        Object::Cert(CertVerb::Issue {
            dir,
            name,
            keywords,
        }) => cert::issue(dir, name, &keywords.words),
        Object::Cert(CertVerb::List { dir }) => cert::list(dir, json),
        Object::Cert(CertVerb::Revoke { dir, which }) => cert::revoke(dir, which),
        Object::Daemon { config } => ipcluster_daemon::run(config),
        Object::Status { id } => status::show(*id, json),
        Object::Tcp(TcpVerb::Monitor { keywords }) => tcp::monitor(&keywords.words, json),
    }
}

/// The command line's definition, for the man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the command line, runs the command and tells its exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return ExitCode::from(if usage { 2 } else { 0 });
        }
    };
    match run(&cli.object, cli.json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clusteradm: {e}");
            if let Error::Usage(_) = e {
                eprintln!("Try 'clusteradm {} --help'.", cli.object.path());
            }
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keywords_reach_the_verbs() {
        let cli = Cli::try_parse_from([
            "clusteradm",
            "-j",
            "cluster",
            "add",
            "dev",
            "eth0",
            "addr",
            "10.0.0.1",
        ])
        .unwrap();
        assert!(cli.json);
        let Object::Cluster(ClusterVerb::Add { keywords }) = cli.object else {
            panic!()
        };
        assert_eq!(keywords.words, ["dev", "eth0", "addr", "10.0.0.1"]);
        let cli = Cli::try_parse_from(["clusteradm", "table", "set", "3", "file", "-"]).unwrap();
        let Object::Table(TableVerb::Set { id, keywords }) = cli.object else {
            panic!()
        };
        assert_eq!(
            (id, keywords.words.as_slice()),
            (3, ["file", "-"].map(String::from).as_slice())
        );
        let cli =
            Cli::try_parse_from(["clusteradm", "which", "1", "10.0.0.2", "sport", "1"]).unwrap();
        assert_eq!(cli.object.path(), "which");
        assert!(Cli::try_parse_from(["clusteradm", "cluster", "del", "0"]).is_err());
        assert!(Cli::try_parse_from(["clusteradm", "which", "1", "nowhere"]).is_err());
    }

    #[test]
    fn the_systemd_unit_runs_this_daemon() {
        let unit = include_str!("../systemd/ipcluster@.service");
        assert!(unit.contains("ExecStart=/usr/sbin/clusteradm daemon /etc/ipcluster/%i.toml"));
        assert!(unit.contains("Environment=IPCLUSTER_RUN_DIR=/run/ipcluster"));
        // `[protocol] realtime` (SCHED_RR) needs CAP_SYS_NICE.
        assert!(unit.contains("CAP_SYS_NICE"));
    }
}
