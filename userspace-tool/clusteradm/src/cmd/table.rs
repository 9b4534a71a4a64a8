//! `clusteradm table set|show`: bucket tables — the owner specs an operator
//! writes, and the grid.

use std::collections::BTreeMap;
use std::io::Read;

use crate::kapi::abi::{cluster as a, Cmd, MAX_MEMBERS, UNOWNED};
use crate::kapi::attr::Attr;
use crate::kapi::mac::Mac;
use crate::kapi::table::{self, encode, encode_macs, set_attrs, Table};
use crate::kapi::words::{self as args, Words};
use crate::kapi::{Client, Error};
use serde::Serialize;

use crate::output::print_json;

/// Buckets per grid row.
const ROW: usize = 32;

/// `A-B=M`: buckets A to B (inclusive) go to member M.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    first: u32,
    last: u32,
    owner: u16,
}

/// How the operator describes a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Spec {
    /// Bucket b goes to the (b mod n)-th member.
    Spread(Vec<u16>),
    /// Ranges of buckets and their owners; the rest unowned.
    Owners(Vec<Range>),
    /// One owner per bucket, from a file (`-`: standard input).
    File(String),
}

/// `table set` as typed.
#[derive(Debug, PartialEq, Eq, Default)]
pub(crate) struct SetArgs {
    member: Option<u16>,
    spec: Option<Spec>,
    forwarder: Option<u16>,
    macs: Option<Vec<(u16, Mac)>>,
    gone: Option<Vec<u16>>,
}

/// `M=MAC,...`: forward mode's member MACs.
pub(crate) fn parse_macs(s: &str) -> Result<Vec<(u16, Mac)>, String> {
    let macs: Vec<(u16, Mac)> = s
        .split(',')
        .map(|part| {
            let (m, mac) = part
                .split_once('=')
                .ok_or_else(|| format!("\"{part}\": expected M=MAC"))?;
            let m = args::member_id(m.trim()).map_err(|e| format!("\"{part}\": {e}"))?;
            let mac = Mac::parse(mac.trim()).map_err(|e| format!("\"{part}\": {e}"))?;
            if mac.is_multicast() {
                return Err(format!("\"{part}\": a member's MAC is unicast"));
            }
            Ok((m, mac))
        })
        .collect::<Result<_, _>>()?;
    if macs.len() > MAX_MEMBERS {
        return Err(format!("at most {MAX_MEMBERS} members"));
    }
    let mut ids: Vec<u16> = macs.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("member {} given twice", w[0]));
    }
    Ok(macs)
}

/// An owner: a member id, or `-` / 65535 for none.
fn owner(s: &str) -> Result<u16, String> {
    if s == "-" || s == UNOWNED.to_string() {
        Ok(UNOWNED)
    } else {
        args::member_id(s)
    }
}

/// Parses `A-B=M,A=M,...`.
pub(crate) fn parse_owners(s: &str) -> Result<Vec<Range>, String> {
    s.split(',')
        .map(|part| {
            let (range, m) = part
                .split_once('=')
                .ok_or_else(|| format!("\"{part}\": expected A-B=M or A=M"))?;
            let bucket = |b: &str| -> Result<u32, String> {
                b.trim()
                    .parse()
                    .map_err(|_| format!("\"{part}\": \"{b}\" is not a bucket index"))
            };
            let (first, last) = match range.split_once('-') {
                Some((f, l)) => (bucket(f)?, bucket(l)?),
                None => (bucket(range)?, bucket(range)?),
            };
            if first > last {
                return Err(format!("\"{part}\": the range is backwards"));
            }
            let owner = owner(m.trim()).map_err(|e| format!("\"{part}\": {e}"))?;
            Ok(Range { first, last, owner })
        })
        .collect()
}

/// Parses `table set`'s keywords.
pub(crate) fn parse_set(words: &[String]) -> Result<SetArgs, Error> {
    let mut w = Words::new(words);
    let mut r = SetArgs::default();
    while let Some(kw) = w.keyword() {
        let next = match kw {
            "member" => {
                w.once(kw, &mut r.member, args::member_id)?;
                continue;
            }
            "forwarder" => {
                w.once(kw, &mut r.forwarder, args::member_id)?;
                continue;
            }
            "macs" => {
                w.once(kw, &mut r.macs, parse_macs)?;
                continue;
            }
            "gone" => {
                w.once(kw, &mut r.gone, args::member_list)?;
                continue;
            }
            "spread" => Spec::Spread(w.parse(kw, args::member_list)?),
            "owners" => Spec::Owners(w.parse(kw, parse_owners)?),
            "file" => Spec::File(w.value(kw)?.to_string()),
            _ => return Err(args::unknown(kw)),
        };
        if r.spec.is_some() {
            return Err(Error::usage("give only one of spread, owners or file"));
        }
        r.spec = Some(next);
    }
    if r.spec.is_none()
        && r.member.is_none()
        && r.forwarder.is_none()
        && r.macs.is_none()
        && r.gone.is_none()
    {
        return Err(Error::usage(
            "give one of spread, owners or file, or member, forwarder, macs or gone",
        ));
    }
    Ok(r)
}

/// Parses an owner file: whitespace-separated owners, one per bucket,
/// `#` to the end of a line is a comment.
pub(crate) fn parse_file(text: &str, buckets: usize) -> Result<Vec<u16>, String> {
    let owners: Vec<u16> = text
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or_default().split_whitespace())
        .enumerate()
        .map(|(i, w)| owner(w).map_err(|e| format!("owner {} (bucket {i}) \"{w}\": {e}", i + 1)))
        .collect::<Result<_, _>>()?;
    if owners.len() != buckets {
        return Err(format!(
            "{} owners given, the cluster has {buckets} buckets",
            owners.len()
        ));
    }
    Ok(owners)
}

/// The table `spec` describes for `buckets` buckets; `file` is the owner
/// file's text for [`Spec::File`].
pub(crate) fn build(spec: &Spec, buckets: usize, file: Option<&str>) -> Result<Vec<u16>, Error> {
    match spec {
        Spec::Spread(members) => Ok((0..buckets).map(|b| members[b % members.len()]).collect()),
        Spec::Owners(ranges) => {
            let mut t = vec![UNOWNED; buckets];
            let mut given = vec![false; buckets];
            for r in ranges {
                if r.last as usize >= buckets {
                    return Err(Error::failed(format!(
                        "bucket {} out of range: the cluster has {buckets} buckets (0-{})",
                        r.last,
                        buckets - 1
                    )));
                }
                for b in r.first as usize..=r.last as usize {
                    if std::mem::replace(&mut given[b], true) {
                        return Err(Error::failed(format!("bucket {b} given twice")));
                    }
                    t[b] = r.owner;
                }
            }
            Ok(t)
        }
        Spec::File(path) => parse_file(file.unwrap_or_default(), buckets)
            .map_err(|e| Error::failed(format!("{path}: {e}"))),
    }
}

/// A member's MAC in `table show -j`.
#[derive(Serialize, Debug, PartialEq, Eq)]
struct MemberMacJson {
    member: u16,
    mac: String,
}

/// `table show -j`.
#[derive(Serialize, Debug, PartialEq, Eq)]
struct TableJson {
    id: u32,
    bucket_bits: u32,
    member: Option<u32>,
    /// Owner per bucket, `null` for unowned.
    table: Vec<Option<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarder: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    macs: Vec<MemberMacJson>,
}

/// The grid: a header, 32 buckets per row labelled with the row's first
/// bucket, `.` for unowned, `*` after the local member's; then the
/// bucket count of each owner.
pub(crate) fn render(t: &Table) -> String {
    let n = t.owners.len();
    let mut s = format!("cluster {} buckets {n}", t.id);
    if let Some(m) = t.member {
        s.push_str(&format!(" member {m} (* marks its buckets)"));
    }
    s.push('\n');
    let text = |o: u16| {
        if o == UNOWNED {
            ".".to_string()
        } else {
            o.to_string()
        }
    };
    let w = t.owners.iter().map(|&o| text(o).len()).max().unwrap_or(1);
    let lw = n.saturating_sub(1).to_string().len();
    for (r, row) in t.owners.chunks(ROW).enumerate() {
        let cells: Vec<String> = row
            .iter()
            .map(|&o| {
                let mark = match (t.member, t.is_local(o)) {
                    (None, _) => "",
                    (Some(_), true) => "*",
                    (Some(_), false) => " ",
                };
                format!("{:>w$}{mark}", text(o))
            })
            .collect();
        let line = format!("{:>lw$}: {}", r * ROW, cells.join(" "));
        s.push_str(line.trim_end());
        s.push('\n');
    }
    let mut count: BTreeMap<u16, usize> = BTreeMap::new();
    for &o in &t.owners {
        *count.entry(o).or_default() += 1;
    }
    for (o, c) in count {
        if o == UNOWNED {
            s.push_str(&format!("unowned: {c} buckets\n"));
        } else {
            let local = if t.is_local(o) { " (local)" } else { "" };
            s.push_str(&format!("member {o}: {c} buckets{local}\n"));
        }
    }
    if let Some(f) = t.forwarder {
        s.push_str(&format!("forwarder: member {f}\n"));
    }
    for (m, mac) in &t.macs {
        s.push_str(&format!("member {m}: mac {mac}\n"));
    }
    s
}

fn to_json(t: &Table) -> TableJson {
    TableJson {
        id: t.id,
        bucket_bits: t.bucket_bits,
        member: t.member,
        table: t
            .owners
            .iter()
            .map(|&o| (o != UNOWNED).then_some(o))
            .collect(),
        forwarder: t.forwarder,
        macs: t
            .macs
            .iter()
            .map(|(m, mac)| MemberMacJson {
                member: *m,
                mac: mac.to_string(),
            })
            .collect(),
    }
}

fn read_file(path: &str) -> Result<String, Error> {
    let mut s = String::new();
    let res = if path == "-" {
        std::io::stdin().read_to_string(&mut s).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| s = t)
    };
    res.map_err(|e| Error::failed(format!("{path}: {e}")))?;
    Ok(s)
}

/// `table set ID KEYWORDS`.
pub(crate) fn set(id: u32, words: &[String]) -> Result<(), Error> {
    const OP: &str = "table set";
    let parsed = parse_set(words).map_err(|e| e.context(OP))?;
    let file = match &parsed.spec {
        Some(Spec::File(path)) => Some(read_file(path).map_err(|e| e.context(OP))?),
        _ => None,
    };
    let mut nl = Client::connect()?;
    let owners = match &parsed.spec {
        Some(spec) => {
            let current = table::get(&mut nl, id).map_err(|e| e.context(OP))?;
            Some(build(spec, current.owners.len(), file.as_deref()).map_err(|e| e.context(OP))?)
        }
        None => None,
    };
    let mut attrs = set_attrs(id, owners.as_deref(), parsed.member);
    if let Some(f) = parsed.forwarder {
        attrs.push(Attr::u32(a::FORWARDER, u32::from(f)));
    }
    if let Some(m) = &parsed.macs {
        attrs.push(Attr::bytes(a::MEMBERS, &encode_macs(m)));
    }
    if let Some(g) = &parsed.gone {
        attrs.push(Attr::bytes(a::GONE, &encode(g)));
    }
    nl.request(Cmd::TableSet, &attrs)
        .map_err(|e| e.context(OP))?;
    Ok(())
}

/// `table show ID`.
pub(crate) fn show(id: u32, json: bool) -> Result<(), Error> {
    let mut nl = Client::connect()?;
    let t = table::get(&mut nl, id).map_err(|e| e.context("table show"))?;
    if json {
        print_json(&to_json(&t))
    } else {
        print!("{}", render(&t));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kapi::attr::Attrs;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn set_keywords() {
        assert_eq!(
            parse_set(&words("member 2 spread 1,2,3")),
            Ok(SetArgs {
                member: Some(2),
                spec: Some(Spec::Spread(vec![1, 2, 3])),
                ..SetArgs::default()
            })
        );
        let r = parse_set(&words(
            "forwarder 1 macs 1=02:00:00:00:00:01,2=02:00:00:00:00:02",
        ))
        .unwrap();
        assert_eq!((r.spec, r.forwarder), (None, Some(1)));
        assert_eq!(
            r.macs.unwrap(),
            [(1, Mac([2, 0, 0, 0, 0, 1])), (2, Mac([2, 0, 0, 0, 0, 2]))]
        );
        assert_eq!(
            parse_set(&words("owners 0-9=1,10=-"))
                .unwrap()
                .spec
                .unwrap(),
            Spec::Owners(vec![
                Range {
                    first: 0,
                    last: 9,
                    owner: 1
                },
                Range {
                    first: 10,
                    last: 10,
                    owner: UNOWNED
                },
            ])
        );
        assert_eq!(
            parse_set(&words("file -")).unwrap().spec.unwrap(),
            Spec::File("-".into())
        );
        for (line, want) in [
            ("", "give one of"),
            ("macs 1=01:00:5e:00:00:01", "unicast"),
            (
                "macs 1=02:00:00:00:00:01,1=02:00:00:00:00:02",
                "member 1 given twice",
            ),
            ("macs 1", "expected M=MAC"),
            ("forwarder 1 forwarder 2", "given twice"),
            ("spread 1 owners 0=1", "only one of"),
            ("spread", "missing value"),
            ("spread 1,x", "invalid \"spread\" value"),
            ("spread 65535", "invalid \"spread\" value"),
            ("owners 5-1=2", "backwards"),
            ("owners 1-2", "expected A-B=M"),
            ("owners a-2=1", "not a bucket index"),
            ("owners 1=70000", "member id"),
            ("frob 1", "unknown keyword"),
        ] {
            let e = parse_set(&words(line)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{line}");
            assert!(e.to_string().contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn spread_round_robins() {
        let t = build(&Spec::Spread(vec![4, 7, 9]), 8, None).unwrap();
        assert_eq!(t, [4, 7, 9, 4, 7, 9, 4, 7]);
    }

    #[test]
    fn owners_leave_the_rest_unowned() {
        let spec = Spec::Owners(parse_owners("0-2=1,5=3").unwrap());
        let t = build(&spec, 8, None).unwrap();
        assert_eq!(t, [1, 1, 1, UNOWNED, UNOWNED, 3, UNOWNED, UNOWNED]);
        let spec = Spec::Owners(parse_owners("0-8=1").unwrap());
        let e = build(&spec, 8, None).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("out of range"), "{e}");
        let spec = Spec::Owners(parse_owners("0-3=1,3=2").unwrap());
        assert!(build(&spec, 8, None)
            .unwrap_err()
            .to_string()
            .contains("bucket 3 given twice"));
    }

    #[test]
    fn owner_files() {
        let text = "# owners\n1 2 - 65535\n0 0 # trailing\n  7 7\n";
        assert_eq!(
            parse_file(text, 8),
            Ok(vec![1, 2, UNOWNED, UNOWNED, 0, 0, 7, 7])
        );
        assert!(parse_file(text, 16)
            .unwrap_err()
            .contains("8 owners given, the cluster has 16 buckets"));
        assert!(parse_file("1 x", 2).unwrap_err().contains("bucket 1"));
        let e = build(&Spec::File("t.txt".into()), 2, Some("1")).unwrap_err();
        assert!(e.to_string().starts_with("t.txt: "), "{e}");
    }

    fn table(bits: u32, member: Option<u32>, owners: &[u16]) -> Table {
        let mut attrs = vec![Attr::u32(a::ID, 1), Attr::u32(a::BUCKET_BITS, bits)];
        if let Some(m) = member {
            attrs.push(Attr::u32(a::MEMBER_ID, m));
        }
        attrs.push(Attr::bytes(a::TABLE, &table::encode(owners)));
        Table::from_attrs(&Attrs(attrs)).unwrap()
    }

    #[test]
    fn forward_mode_fields_render() {
        let macs = vec![
            (1, Mac([2, 0, 0, 0, 0, 1])),
            (300, Mac([2, 0, 0, 0, 1, 44])),
        ];
        let t = Table::from_attrs(&Attrs(vec![
            Attr::u32(a::ID, 1),
            Attr::u32(a::BUCKET_BITS, 1),
            Attr::bytes(a::TABLE, &table::encode(&[1, 300])),
            Attr::u32(a::FORWARDER, 1),
            Attr::bytes(a::MEMBERS, &encode_macs(&macs)),
        ]))
        .unwrap();
        assert_eq!((t.forwarder, &t.macs), (Some(1), &macs));
        assert!(render(&t).ends_with(
            "forwarder: member 1\nmember 1: mac 02:00:00:00:00:01\nmember 300: mac 02:00:00:00:01:2c\n"
        ));
        assert!(serde_json::to_string(&to_json(&t))
            .unwrap()
            .ends_with(r#""forwarder":1,"macs":[{"member":1,"mac":"02:00:00:00:00:01"},{"member":300,"mac":"02:00:00:00:01:2c"}]}"#));
    }

    #[test]
    fn table_json() {
        let t = table(2, Some(3), &[3, 1, UNOWNED, 3]);
        assert_eq!(
            serde_json::to_string(&to_json(&t)).unwrap(),
            r#"{"id":1,"bucket_bits":2,"member":3,"table":[3,1,null,3]}"#
        );
    }

    #[test]
    fn grid_rows_of_32_with_marks() {
        let owners: Vec<u16> = (0..64u16)
            .map(|b| if b == 63 { UNOWNED } else { b % 4 })
            .collect();
        let t = table(6, Some(3), &owners);
        let g = render(&t);
        let lines: Vec<&str> = g.lines().collect();
        assert_eq!(
            lines[0],
            "cluster 1 buckets 64 member 3 (* marks its buckets)"
        );
        assert_eq!(
            lines[1],
            " 0: 0  1  2  3* 0  1  2  3* 0  1  2  3* 0  1  2  3* 0  1  2  3* 0  1  2  3* 0  1  2  3* 0  1  2  3*"
        );
        assert!(lines[2].starts_with("32: 0  1  2  3* "), "{}", lines[2]);
        assert!(lines[2].ends_with(" 1  2  ."), "{}", lines[2]);
        assert_eq!(
            &lines[3..],
            [
                "member 0: 16 buckets",
                "member 1: 16 buckets",
                "member 2: 16 buckets",
                "member 3: 15 buckets (local)",
                "unowned: 1 buckets"
            ]
        );
    }

    #[test]
    fn grid_without_a_local_member_has_no_marks() {
        let t = table(1, None, &[10, UNOWNED]);
        assert_eq!(
            render(&t),
            "cluster 1 buckets 2\n0: 10  .\nmember 10: 1 buckets\nunowned: 1 buckets\n"
        );
    }

    #[test]
    fn wide_owner_ids_keep_columns() {
        let t = table(2, Some(100), &[100, 7, 100, UNOWNED]);
        assert_eq!(render(&t).lines().nth(1), Some("0: 100*   7  100*   ."));
    }
}
