#!/bin/sh
# same bf-p4c invocation as tofino_build.sh tofino, but output (and logs) kept in $1 even on failure
out=$1; shift
rm -rf "$out"; mkdir -p "$out"
cd "${P4SRC:-p4src}"  # a p4src/ with two_pass.patch applied
export LD_LIBRARY_PATH=/opt/p4tools/lib
start=$(date +%s)
nice -n 19 /opt/p4tools/bin/bf-p4c --target tofino --arch tna --std p4-16 -g $TOFINO_P4FLAGS "$@" \
  -o "$out" --p4runtime-files "$out/dysco.p4info.txtpb" tna/dysco.p4 >"$out.stdout" 2>"$out.stderr"
echo "rc=$? secs=$(( $(date +%s) - start ))" > "$out.rc"
