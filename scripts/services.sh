#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust auth, database "test") and Redis
# (127.0.0.1:6379) answer; start them, installing Debian's packages if absent.
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
echo "services: PostgreSQL and Redis are up"
