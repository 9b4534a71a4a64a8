#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A scrape of ipcluster's metrics endpoint, read by Prometheus' own
Python client (Debian's python3-prometheus-client), whose OpenMetrics
parser refuses any text that breaks the format.

  openmetrics.py check FILE
      parses FILE; prints how many families and samples, or the error
      (exit 1).
  openmetrics.py get FILE SAMPLE [LABEL=VALUE...]
      the value of the sample named SAMPLE (e.g. ipcluster_members, or
      ipcluster_tables_installed_total) whose labels include those given;
      the sum if several match; nothing (exit 1) if none does.
  openmetrics.py each FILE SAMPLE LABEL
      a line "LABEL-VALUE VALUE" for each sample named SAMPLE (e.g. the
      member and count of each ipcluster_member_buckets).
"""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def families(path):
    with open(path) as f:
        return list(text_string_to_metric_families(f.read()))


def main(argv):
    cmd, path = argv[1], argv[2]
    try:
        fams = families(path)
    except Exception as e:  # the parser raises ValueError and others
        sys.exit(f"not OpenMetrics: {e!r}")
    if cmd == "check":
        n = sum(len(f.samples) for f in fams)
        print(f"{len(fams)} families, {n} samples")
        return
    if cmd == "each":
        name, label = argv[3], argv[4]
        for f in fams:
            for s in f.samples:
                if s.name == name and label in s.labels:
                    v = int(s.value) if s.value == int(s.value) else s.value
                    print(s.labels[label], v)
        return
    name, want = argv[3], dict(a.split("=", 1) for a in argv[4:])
    values = [
        s.value
        for f in fams
        for s in f.samples
        if s.name == name and want.items() <= s.labels.items()
    ]
    if not values:
        sys.exit(f"no sample {name} {want or ''}")
    total = sum(values)
    print(int(total) if total == int(total) else total)


if __name__ == "__main__":
    main(sys.argv)
