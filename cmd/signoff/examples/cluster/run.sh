#!/bin/sh
# run.sh nats N | run.sh signoff a|b|c — one process of Procfile.cluster
# (a 3-node nats-server cluster and 3 signoff instances with
# cluster.enabled), run from the repository root. Each process builds its
# binary into its own directory under bin/cluster/ (so that concurrent
# builds never write the same file) and then execs it, so that the
# Procfile runner's SIGTERM reaches the real process.
#
# State lives under SIGNOFF_CLUSTER_DIR (default ./data/cluster): nats-N/
# (JetStream stores), a/ b/ c/ (each instance's data_dir), and what the
# instances share, written once by clusterinit: keys/ and secret.key.
#
# Ports, all on 127.0.0.1: NATS_PORT_1..3 (4222-4224, clients),
# NATS_ROUTE_PORT_1..3 (6222-6224, cluster routes), SIGNOFF_LISTEN_A..C
# (127.0.0.1:8081-8083, HTTP).
set -eu
dir=${SIGNOFF_CLUSTER_DIR:-./data/cluster}
p1=${NATS_PORT_1:-4222} p2=${NATS_PORT_2:-4223} p3=${NATS_PORT_3:-4224}
r1=${NATS_ROUTE_PORT_1:-6222} r2=${NATS_ROUTE_PORT_2:-6223} r3=${NATS_ROUTE_PORT_3:-6224}
usage() {
	echo "usage: $0 nats 1|2|3 | signoff a|b|c" >&2
	exit 2
}
[ $# -eq 2 ] || usage
case "$1:$2" in
nats:1) port=$p1 route=$r1 ;;
nats:2) port=$p2 route=$r2 ;;
nats:3) port=$p3 route=$r3 ;;
signoff:a) listen=${SIGNOFF_LISTEN_A:-127.0.0.1:8081} after= ;;
signoff:b) listen=${SIGNOFF_LISTEN_B:-127.0.0.1:8082} after=${SIGNOFF_LISTEN_A:-127.0.0.1:8081} ;;
signoff:c) listen=${SIGNOFF_LISTEN_C:-127.0.0.1:8083} after=${SIGNOFF_LISTEN_B:-127.0.0.1:8082} ;;
*) usage ;;
esac
mkdir -p "$dir"
if [ "$1" = nats ]; then
	bin="bin/cluster/nats-$2/nats-server"
	go build -o "$bin" github.com/nats-io/nats-server/v2
	exec "$bin" -js -a 127.0.0.1 -p "$port" -sd "$dir/nats-$2" -n "n$2" \
		--cluster_name signoff-example --cluster "nats://127.0.0.1:$route" \
		--routes "nats://127.0.0.1:$r1,nats://127.0.0.1:$r2,nats://127.0.0.1:$r3"
fi
bin="$(pwd)/bin/cluster/signoff-$2/signoff"
go build -o "$bin" ./cmd/signoff
go run ./cmd/signoff/examples/clusterinit "$dir"
cp "cmd/signoff/examples/cluster/$2.yaml" "$dir/$2.yaml"
# b starts once a is ready, c once b is: the first instance creates the
# stream and the consumers on the new cluster, alone.
if [ -n "$after" ]; then
	echo "waiting for http://$after/readyz"
	until "$bin" healthcheck --url "http://$after/readyz" >/dev/null 2>&1; do sleep 1; done
fi
cd "$dir"
exec env SIGNOFF_NATS_URL="nats://127.0.0.1:$p1,nats://127.0.0.1:$p2,nats://127.0.0.1:$p3" SIGNOFF_LISTEN="$listen" \
	"$bin" serve --config "$2.yaml"
