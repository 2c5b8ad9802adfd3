#!/bin/sh
# Compile tna/dysco.p4 for one Tofino chip with bf-p4c and keep the files a controller pushes
# and a resource reader needs, under stable names:
#   tofino_build.sh CHIP OUTDIR      CHIP: tofino (--arch tna) or tofino2 (--arch t2na)
# OUTDIR gets: dysco.p4info.txtpb bfrt.json manifest.json dysco.conf pipe/context.json
#   pipe/<chip>.bin pipe/logs/resources.json pipe/logs/table_summary.log COMPILER
# (-g makes bf-p4c write pipe/logs/; mau.resources.log comes from the SDE's p4c-build-logs
# script, which the open-source install does not have: resources.json has the same data.)
# Run from p4src/ (the outputs record source paths relative to it). BF_P4C overrides the
# compiler; extra flags in TOFINO_P4FLAGS.
set -eu
chip=$1
out=$2
# Tofino 2: its PCIe CPU port is 0 (the controller's default for tofino2, recorded in
# manifest.json).
chipflags=
case "$chip" in
  tofino) arch=tna ;;
  tofino2) arch=t2na; chipflags=-DCPU_PORT=0 ;;
  *) echo "tofino_build.sh: unknown chip '$chip' (tofino or tofino2)" >&2; exit 2 ;;
esac
bfp4c=${BF_P4C:-$(command -v bf-p4c 2>/dev/null || echo /opt/p4tools/bin/bf-p4c)}
if [ ! -x "$bfp4c" ]; then
  echo "skip: bf-p4c (p4c's Tofino backend) is not installed" >&2; exit 3
fi
case "$bfp4c" in
  /opt/p4tools/*) LD_LIBRARY_PATH=/opt/p4tools/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; export LD_LIBRARY_PATH ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# -g: the resource logs (pipe/logs/resources.json, table_summary.log).
rc=0
"$bfp4c" --target "$chip" --arch "$arch" --std p4-16 -g $chipflags ${TOFINO_P4FLAGS:-} \
  -o "$work/out" --p4runtime-files "$work/out/dysco.p4info.txtpb" tna/dysco.p4 || rc=$?
# A parser state with two or more transitions and no `match:` line in the assembly source
# takes its first transition for every packet. p4c's Tofino backend between p4lang/p4c#5063
# and #5753 (e.g. 34b86e9) emits every select that way (issue p4lang/p4c#5752): the parser
# is wrong on both chips, and on Tofino 2 the assembler then stops on CLOTs of the states
# dropped ("No length for clot N"). Refuse such output even where it assembles.
bfa="$work/out/pipe/dysco.bfa"
if [ -s "$bfa" ]; then
  dropped=$(awk '
    function fin() { if (n > 1 && !m) bad++; n = 0; m = 0 }
    /^parser / { fin(); p = 1; next }
    /^[^ ]/ { fin(); p = 0; next }
    p && /^    [^ ]/ { fin(); next }
    p && /^      match:/ { m = 1; next }
    p && /^      [^ #].*:$/ { n++ }
    END { fin(); print bad + 0 }' "$bfa")
  if [ "$dropped" -gt 0 ]; then
    echo "tofino_build.sh: bf-p4c dropped the select matches of $dropped parser states (p4lang/p4c#5752, fixed by #5753): use a bf-p4c built from a p4c with that fix" >&2
    exit 4
  fi
fi
[ "$rc" -eq 0 ] || exit "$rc"
mkdir -p "$out/pipe/logs"
for f in dysco.p4info.txtpb bfrt.json manifest.json dysco.conf pipe/context.json \
         "pipe/$chip.bin" pipe/logs/resources.json pipe/logs/table_summary.log; do
  cp "$work/out/$f" "$out/$f"
done
"$bfp4c" --version > "$out/COMPILER"
