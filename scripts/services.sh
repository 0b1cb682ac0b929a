#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust auth, database "test"), Redis (127.0.0.1:6379)
# and a Redis Cluster (127.0.0.1:7000-7005: 3 masters, 3 replicas) answer; start them,
# installing Debian's packages if absent.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_ready=0
apt_install() {
  if [ "$apt_ready" = 0 ]; then apt-get update -qq >/dev/null; apt_ready=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "services: nothing answers on port $1 after 30 s" >&2; return 1
}

if ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
fi

# The cluster pass of scripts/test.sh runs against this one (REDIS_URL=redis+cluster://...).
# Its fault tests start private clusters of their own, which they may kill.
cluster_ports="7000 7001 7002 7003 7004 7005"
cluster_ok() { [ "$(redis-cli -p 7000 cluster info 2>/dev/null | tr -d '\r' | grep -c '^cluster_state:ok')" = 1 ]; }
if ! cluster_ok; then
  command -v redis-server >/dev/null || apt_install redis-server
  dir=/var/lib/redis/clarion-cluster
  for port in $cluster_ports; do
    if ! port_open "$port"; then
      mkdir -p "$dir/$port" && rm -f "$dir/$port/nodes.conf"
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 5000 --save "" --appendonly no \
        --dir "$dir/$port" --logfile "$dir/$port/redis.log"
    fi
  done
  for port in $cluster_ports; do wait_port "$port"; done
  if [ "$(redis-cli -p 7000 cluster info | tr -d '\r' | grep '^cluster_known_nodes:')" != "cluster_known_nodes:6" ]; then
    redis-cli --cluster create $(for port in $cluster_ports; do printf '127.0.0.1:%s ' "$port"; done) \
      --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  for _ in $(seq 1 60); do cluster_ok && break; sleep 0.5; done
  cluster_ok || { echo "services: the Redis Cluster on 7000-7005 is not ok after 30 s" >&2; exit 1; }
fi

if ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  conf=/etc/postgresql/$version/main
  # trust auth on loopback, as the tests expect (a throwaway CI database server)
  if ! grep -q "clarion-ci" "$conf/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust # clarion-ci\nhost all all ::1/128 trust # clarion-ci\nlocal all all trust # clarion-ci' "$conf/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432
fi

if ! psql -h 127.0.0.1 -U postgres -d test -tAc "select 1" >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "create database test" >/dev/null
fi
echo "services: PostgreSQL, Redis and the Redis Cluster are up"
