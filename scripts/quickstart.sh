#!/usr/bin/env bash
# Installs what is needed, builds EventfulDB (Release), configures ./.eventful with freshly
# generated secrets on first run (printed once), and runs the server in the foreground on
# 127.0.0.1:9595. Ctrl-C stops it gracefully.
#
# The generated DEK is kept in ~/.config/eventful/dek (mode 0600, outside the data directory) so
# that a second run can start the same data directory again. Override with EVENTFUL_DATA_DIR,
# EVENTFUL_DEK_FILE, EVENTFUL_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVENTFUL_TESTS=OFF > /dev/null
cmake --build build --target eventful eventfuld

DATA_DIR="${EVENTFUL_DATA_DIR:-./.eventful}"
DEK_FILE="${EVENTFUL_DEK_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/eventful/dek}"

if [ ! -f "$DATA_DIR/config.toml" ]; then
  out=$(build/bin/eventful config --data-dir "$DATA_DIR" --generate)
  echo "$out"
  mkdir -p "$(dirname "$DEK_FILE")"
  (umask 077 && echo "$out" | sed -n 's/^ *data encryption key (DEK): *//p' > "$DEK_FILE")
  echo "The DEK was saved to $DEK_FILE (mode 0600) for the next start; the master key was not."
fi
if [ ! -s "$DEK_FILE" ] && [ -z "${EVENTFUL_DEK:-}" ]; then
  echo "no DEK: put it in $DEK_FILE or EVENTFUL_DEK" >&2
  exit 1
fi

dek_args=()
[ -z "${EVENTFUL_DEK:-}" ] && dek_args=(--dek-file "$DEK_FILE")
exec build/bin/eventful start --foreground --data-dir "$DATA_DIR" "${dek_args[@]}"
