#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The netlink spec as the kernel's own tools read it: tools/net/ynl/cli.py
# of the test kernel's source, with Documentation/netlink/specs/
# ipcluster.yaml checked against the kernel's genetlink-legacy schema,
# against the module. A cluster clusteradm made reads back with its
# addresses as addresses, its MAC as a MAC, its mode and hash by name and
# its table as member ids; one made through the YNL CLI reads back through
# clusteradm; bad input gets the module's extack text.
source "$(dirname "$0")/lib.sh"

YNL=${IPC_YNL:-}
if [ ! -e "$YNL/cli.py" ]; then
	skip "the kernel's YNL CLI reads the module" "no tools/net/ynl (IPC_YNL=$YNL)"
	finish
fi
SPEC=$IPC_TOP/Documentation/netlink/specs/ipcluster.yaml
SCHEMA=$YNL/../../../Documentation/netlink/genetlink-legacy.yaml
load_module
setup_topology 1
ns=$(member_ns 1)
tmp=$(mktemp -d)
ynl() {
	ip netns exec "$ns" python3 "$YNL/cli.py" --spec "$SPEC" --schema "$SCHEMA" \
		--output-json "$@"
}
# is FILE PYTHON-EXPRESSION: the expression holds of the JSON in FILE (r).
is() { python3 -c "import json,sys; r = json.load(open(sys.argv[1])); sys.exit(not ($2))" "$1"; }

ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" \
	addr6 "$CLUSTER6" seed 5eed5eed5eed5eed5eed5eed5eed5eed member 2
ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1,2
check "cluster-get (dump) through the YNL CLI" bash -c "$(declare -f ynl); \
	ns=$ns YNL=$YNL SPEC=$SPEC SCHEMA=$SCHEMA; ynl --dump cluster-get >$tmp/dump"
sed 's/^/    # /' "$tmp/dump"
check "the IPv4 address reads as one" is "$tmp/dump" "r[0]['addr4'] == '$CLUSTER4'"
check "the IPv6 address reads as one" is "$tmp/dump" "r[0]['addr6'] == '$CLUSTER6'"
check "the MAC reads as one" is "$tmp/dump" \
	"r[0]['mac'] == ':'.join(['01', '00', '5e'] + [f'{b:02x}' for b in bytes([0, 2, 100])])"
check "mode and hash by name" is "$tmp/dump" "(r[0]['mode'], r[0]['hash']) == ('multicast', 'keyed')"
check "table-get: the owners as member ids" bash -c "$(declare -f ynl); \
	ns=$ns YNL=$YNL SPEC=$SPEC SCHEMA=$SCHEMA; ynl --do table-get --json '{\"id\": 1}' >$tmp/table"
check "... 1024 of them, members 1 and 2" is "$tmp/table" \
	"len(r['table']) == 1024 and set(r['table']) == {1, 2}"

# A cluster made through the CLI: the address as the integer its
# big-endian u32 is, the MAC in hex.
ifindex=$(ip -n "$ns" -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])')
a4=$(python3 -c "import ipaddress; print(int(ipaddress.ip_address('192.0.2.101')))")
check "cluster-new through the YNL CLI" ynl --do cluster-new --json \
	"{\"id\": 2, \"ifindex\": $ifindex, \"addr4\": $a4, \"mode\": \"unicast\", \"mac\": \"02ab00020065\", \"seed\": \"000102030405060708090a0b0c0d0e0f\", \"member-id\": 1}"
check "... reads back through clusteradm" bash -c \
	"ip netns exec $ns $CLUSTERADM cluster show 2 | tee /dev/stderr | grep 'addr 192.0.2.101 ' | grep 'mac 02:ab:00:02:00:65 ' | grep -q 'mode unicast'"
check "bad input: the module's extack text" bash -c "$(declare -f ynl); \
	ns=$ns YNL=$YNL SPEC=$SPEC SCHEMA=$SCHEMA; \
	out=\$(ynl --do cluster-new --json '{\"id\": 3, \"ifindex\": $ifindex, \"bucket-bits\": 13}'); \
	echo \"\$out\"; grep -q 'Numerical result out of range\|Invalid argument' <<<\"\$out\" && grep -q \"'bad-attr'\\|'msg'\" <<<\"\$out\""
ip netns exec "$ns" "$CLUSTERADM" cluster del 2
ip netns exec "$ns" "$CLUSTERADM" cluster del 1
rm -rf "$tmp"
finish
