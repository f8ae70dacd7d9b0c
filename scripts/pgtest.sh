#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite (loopback only, trust auth, its own data directory)
# and print its SQLAlchemy URL. Idempotent: a server already answering on the port is reused.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
DIR=${PGTEST_DIR:-/tmp/patrol-pgtest}
PORT=${PGTEST_PORT:-55432}
if ! "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  RUN=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; RUN=(runuser -u postgres --); fi
  "${RUN[@]}" "$PGBIN/initdb" -D "$DIR/data" -U patrol --auth=trust -E UTF8 >/dev/null
  "${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
fi
echo "postgresql+psycopg://patrol@127.0.0.1:$PORT/postgres"
