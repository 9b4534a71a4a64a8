//! The help texts: the long descriptions and examples `--help` prints for
//! each command, kept apart from the command line's definition in
//! `main.rs`.

pub(crate) const LONG_ABOUT: &str = "\
ipcluster's operator CLI.

ipcluster runs one IP address on several hosts at once: every member \
receives every packet for the cluster IP, the kernel hashes each flow into \
one of the cluster's buckets (1024 by default) and keeps only the packets \
of the buckets the local member owns. clusteradm configures the ipcluster \
kernel module over generic netlink (family \"ipcluster\"), and computes the \
flow hash offline.

Arguments after OBJECT and VERB are ip(8)-style keywords: `keyword value` \
pairs and bare flags, in any order; see each command's --help.";

pub(crate) const AFTER_HELP: &str = "\
Exit status: 0 on success, 1 on failure (including kernel errors, printed \
as `clusteradm: OPERATION: ERROR: KERNEL MESSAGE`, and a missing ipcluster \
module), 2 on a usage error.

Examples:
  clusteradm cluster add id 1 dev eth0 addr 192.168.0.10 member 1
  clusteradm table set 1 spread 1,2,3
  clusteradm -j cluster show
  clusteradm which 1 10.0.0.2 sport 40000 dport 80";

pub(crate) const DAEMON_ABOUT: &str = concat!(
    "\
Run the membership protocol of one cluster on this host: create the \
kernel cluster, find or become the master over the cluster link (a UDP \
multicast group, every message signed with this host's certificate), \
install the bucket tables the master decides, take over the buckets of \
members that die and, for a cluster added with tcp-export, replicate its \
TCP connections and restore those of the dead. Logs go to standard error \
(IPCLUSTER_LOG=debug for more); the state for `clusteradm status` goes to \
$IPCLUSTER_RUN_DIR/ID.json (default /run/ipcluster). SIGTERM stops it.

Configuration (TOML):

",
    include_str!("../ipcluster.example.toml")
);

pub(crate) const CERT_ABOUT: &str = "\
A cluster's certificates live in one directory: the CA (ca.pem, ca.key), \
each member's certificate and key (NAME.pem, NAME.key) and the revocation \
list (revoked, one fingerprint per line). A host may join a cluster only \
with a certificate of the cluster's CA that is not revoked; every \
key agreement and join is signed with the sender's key, and every \
other message sealed with a key the two members agreed. Certificates are \
Ed25519 and named by the SHA-256 fingerprint of their DER. The CA is valid \
for ten years, a member's certificate for a year unless `days DAYS` says \
otherwise; an expired certificate is refused like a revoked one.

Examples:
  clusteradm cert ca /etc/ipcluster/pki
  clusteradm cert issue /etc/ipcluster/pki node1 addr 192.0.2.11 id 1
  clusteradm cert list /etc/ipcluster/pki
  clusteradm cert revoke /etc/ipcluster/pki node1";

pub(crate) const CLUSTER_ABOUT: &str = "\
Create, delete and list the clusters of this network namespace. A cluster \
is a shared IP address (IPv4, IPv6 or both) on one interface, the MAC every \
member accepts for it, how packets reach every member (mode), the flow \
hash and its seed, the bucket count and this host's member id.";

pub(crate) const CLUSTER_HELP: &str = "\
Synopsis:
  clusteradm [-j] cluster add [id ID] dev IFNAME [addr IPV4] [addr6 IPV6] [mac MAC]
                  [mode multicast|unicast|forward] [hash keyed|seed] [seed HEX32]
                  [affinity none|source|network [PREFIX4 [PREFIX6]]]
                  [buckets N] [member ID] [fwd-dev IFNAME]... [drain TIME]
                  [tcp-export [commit QUEUE]]
  clusteradm [-j] cluster del ID
  clusteradm [-j] cluster show [ID]

Examples:
  clusteradm cluster add id 1 dev eth0 addr 192.168.0.10 member 1
  clusteradm cluster show
  clusteradm -j cluster show 1
  clusteradm cluster del 1";

pub(crate) const TABLE_ABOUT: &str = "\
Set and show a cluster's bucket table: the owner (member id) of each \
bucket. This host keeps the packets of the buckets its member owns and \
drops the others; a bucket nobody owns is dropped everywhere.";

pub(crate) const TABLE_HELP: &str = "\
Synopsis:
  clusteradm [-j] table set ID [member M] [spread M1,M2,... | owners SPEC | file PATH|-]
                           [forwarder M] [macs M=MAC,...]
  clusteradm [-j] table show ID

Examples:
  clusteradm table set 1 spread 1,2,3
  clusteradm table set 1 member 2 owners 0-511=1,512-1023=2
  clusteradm table show 1";

pub(crate) const ADD_ABOUT: &str = "\
Create a cluster (cluster-new). Prints `cluster ID`, followed by \
`seed HEX` when the seed was generated here: every member of a cluster \
must be created with the same id, address, MAC, mode, hash, seed, \
affinity and bucket count, and its own member id.";

pub(crate) const ADD_HELP: &str = "\
Keywords:
  id ID            cluster id, 1 to 4294967295 (default: the kernel picks one)
  dev IFNAME       the interface the cluster IP lives on (required)
  addr IPV4        the cluster's IPv4 address
  addr6 IPV6       the cluster's IPv6 address
  mac MAC          the cluster MAC (default: see below)
  mode MODE        multicast (default), unicast or forward
  hash HASH        keyed (SipHash-2-4 under the seed, default) or seed (XOR)
  seed HEX32       keyed-hash seed, 32 hex digits (default: 16 random bytes)
  affinity A       which flows of one client share a member: none (default,
                   each connection hashed by itself), source (every flow of
                   one client address), network [PREFIX4 [PREFIX6]] (every
                   flow of one client network, default /24 and /64)
  buckets N        bucket count, a power of two up to 4096 (default 1024)
  member ID        this host's member id, 0 to 65534
  fwd-dev IFNAME   filter forwarded traffic on this interface too (repeatable)
  drain TIME       how long a bucket that changes owner keeps sending the
                   segments of connections held elsewhere to their member
                   (e.g. 60s, 500ms; default 60s; 0: never)
  tcp-export       export the state of TCP connections to the cluster address
                   (TCP survival: `clusteradm daemon` replicates it)
  commit QUEUE     output commit (with tcp-export): segments wait in netfilter
                   queue QUEUE until another member holds what they reveal

Default MAC (the same on every member, derived from the keywords alone):
  multicast  01:00:5e + the low 23 bits of addr (the IPv4 multicast mapping);
             without addr, 33:33 + the low 32 bits of addr6; without either,
             03:00:5e + the low 24 bits of id (locally administered)
  unicast    02:bf + id as 4 bytes (locally administered); without id,
             02:bf + addr, or 02:bf + the low 32 bits of addr6
  forward    none: the master's own MAC receives
  With nothing to derive it from, no MAC is sent and the kernel decides.

Examples:
  clusteradm cluster add id 1 dev eth0 addr 192.168.0.10 member 1 \\
      seed 000102030405060708090a0b0c0d0e0f
  clusteradm cluster add id 2 dev eth0 addr6 2001:db8::10 mode unicast buckets 4096
  clusteradm cluster add id 3 dev eth0 addr 10.1.0.1 mode forward hash seed fwd-dev eth1
  clusteradm cluster add id 4 dev eth0 addr 192.168.0.20 affinity source";

pub(crate) const TABLE_SET_ABOUT: &str = "\
Replace a cluster's bucket table (table-set), and optionally the local \
member id and, in forward mode, the forwarder and the members' MACs; or \
end the drains of buckets that came from members that are gone. What is \
not given stays. The bucket count is read from the kernel first.";

pub(crate) const TABLE_SET_HELP: &str = "\
Keywords (at most one of spread, owners, file):
  member M            set this host's member id as well
  forwarder M         forward mode: member M receives all traffic (it
                      answers ARP/ND for the cluster IP) and passes on what
                      it does not own
  macs M=MAC,...      forward mode: where the forwarder finds each member
  gone M1,M2,...      these members are gone and their connections
                      restored elsewhere: the drains of buckets that came
                      from them end (the daemon does this after a failover)
  spread M1,M2,...    bucket b goes to the (b mod n)-th listed member
  owners SPEC         comma list of A-B=M (buckets A to B) and A=M; the rest
                      unowned; M may be - for unowned
  file PATH|-         whitespace-separated owners, one per bucket in order,
                      - or 65535 for unowned, # starts a comment; - reads
                      standard input

Examples:
  clusteradm table set 1 member 2 spread 1,2,3
  clusteradm table set 1 owners 0-511=1,512-1023=2
  clusteradm table set 1 gone 3
  clusteradm table set 3 forwarder 1 macs 1=02:00:00:00:00:01,2=02:00:00:00:00:02
  clusteradm table show 1 -j | jq -r '.table[] // \"-\"' | clusteradm table set 1 file -";

pub(crate) const TABLE_SHOW_ABOUT: &str = "\
Show a cluster's bucket table (table-get) as a grid: 32 buckets per row, \
each row labelled with its first bucket index, the owning member id in \
each cell, `.` for unowned, and `*` after the cells of the local member; \
then how many buckets each member owns.

JSON: {\"id\", \"bucket_bits\", \"member\", \"table\": [owner per bucket, null \
for unowned]}.";

pub(crate) const BUCKET_SHOW_ABOUT: &str = "\
Show a cluster's per-bucket counters (bucket-get dump), summed over CPUs: \
index, owner (- for unowned), packets and bytes hashed to the bucket, new \
flows (TCP SYNs), and packets dropped here because another member owns it.

Keywords:
  nonzero    only buckets with a nonzero counter

JSON: an array of {\"index\", \"owner\", \"packets\", \"bytes\", \"flows\", \"drops\"}.";

pub(crate) const WHICH_ABOUT: &str = "\
Compute which bucket a flow falls into in a live cluster, with the very \
hash code the kernel runs (ipcluster_core), from the cluster's hash mode, \
seed (readable by privileged callers) and bucket count; then look the \
bucket's owner up in the cluster's table.

Prints `bucket B owner M`, `(local)` when M is this host's member, or \
`bucket B unowned`. JSON: {\"bucket\", \"owner\" (null if unowned), \"local\"}.";

pub(crate) const WHICH_HELP: &str = "\
Keywords:
  sport P                  source port (default 0)
  dst ADDR                 destination (default: the cluster's own address)
  dport P                  destination port (default 0)
  proto tcp|udp|icmp|N     IP protocol (default tcp)
  forwarded                forwarded traffic (the symmetric hash)
  l2tp TUNNEL:SESSION      L2TP tunnel and session ids
  seed HEX32               the keyed-hash seed, if the kernel does not show it

Example:
  clusteradm which 1 10.0.0.2 sport 40000 dport 80";

pub(crate) const ADD_KEYWORDS: &str =
    "Keywords: id, dev, addr, addr6, mac, mode, hash, seed, affinity, buckets, member, fwd-dev, drain, tcp-export, commit";

pub(crate) const TABLE_SET_KEYWORDS: &str =
    "Keywords: member, forwarder, macs, gone, and one of spread, owners, file";

pub(crate) const TCP_MONITOR_KEYWORDS: &str = "Keywords: id, count";

pub(crate) const CERT_ISSUE_KEYWORDS: &str = "Keywords: addr, id, days";

pub(crate) const BUCKET_SHOW_KEYWORDS: &str = "Keywords: nonzero";

pub(crate) const WHICH_KEYWORDS: &str = "Keywords: sport, dst, dport, proto, forwarded, l2tp, seed";
