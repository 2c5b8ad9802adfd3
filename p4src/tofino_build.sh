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
# manifest.json). (The open-source assembler, bfas of p4c 34b86e9, stops on this program's
# CLOTs with "No length for clot N" and a SIGSEGV after bf-p4c placed it; -Xp4c=--no-clot
# avoids that but then table placement fails: docs/pipeline.md section 10.)
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
"$bfp4c" --target "$chip" --arch "$arch" --std p4-16 -g $chipflags ${TOFINO_P4FLAGS:-} \
  -o "$work/out" --p4runtime-files "$work/out/dysco.p4info.txtpb" tna/dysco.p4
mkdir -p "$out/pipe/logs"
for f in dysco.p4info.txtpb bfrt.json manifest.json dysco.conf pipe/context.json \
         "pipe/$chip.bin" pipe/logs/resources.json pipe/logs/table_summary.log; do
  cp "$work/out/$f" "$out/$f"
done
"$bfp4c" --version > "$out/COMPILER"
