#!/bin/bash
# Usage: run.sh OUT.jsonl [-|bridge] [run.py options...]  (bridge: pass --delay MS too)   (root; creates and always removes hxs/hxr/hxd)
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=$1; mode=${2:--}; shift 2 || shift $#
[ "$mode" = "-" ] && mode=""
trap '"$here/netns.sh" down' EXIT INT TERM
"$here/netns.sh" up "$mode" || exit 1
python3 "$here/run.py" "$out" "$@"
