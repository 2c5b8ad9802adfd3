#!/bin/sh
# Compile tna/dysco.p4 for one Tofino chip with bf-p4c and keep the files a controller pushes
# and a resource reader needs, under stable names:
#   tofino_build.sh CHIP OUTDIR      CHIP: tofino (--arch tna) or tofino2 (--arch t2na)
#   tofino_build.sh --which          print the bf-p4c it would use (exit 3 if there is none)
#   tofino_build.sh --check CHIP     compile a two-state parser with it: exit 0 if its parser
#                                    selects keep their match, 4 (one line) if not, 5 (one
#                                    line) if it does not compile the probe at all
# OUTDIR gets: dysco.p4info.txtpb bfrt.json manifest.json dysco.conf COMPILER and, per
#   Pipeline instance P (tofino2: pipe; tofino, folded: pipe_a and pipe_b), P/context.json
#   P/<chip>.bin P/logs/resources.json P/logs/table_summary.log
# (-g makes bf-p4c write P/logs/; mau.resources.log comes from the SDE's p4c-build-logs
# script, which the open-source install does not have: resources.json has the same data.)
# Run from p4src/ (the outputs record source paths relative to it). The compiler, first found:
# $BF_P4C, $DYSCO_BF_P4C, $P4TOOLS/bin/bf-p4c, bf-p4c on the PATH, /opt/p4tools/bin/bf-p4c;
# its ../lib goes on LD_LIBRARY_PATH. Extra flags in TOFINO_P4FLAGS.
set -eu

find_bf_p4c() {
  for c in "${BF_P4C:-}" "${DYSCO_BF_P4C:-}" "${P4TOOLS:+$P4TOOLS/bin/bf-p4c}" \
           "$(command -v bf-p4c 2>/dev/null || true)" /opt/p4tools/bin/bf-p4c; do
    if [ -n "$c" ]; then echo "$c"; return; fi
  done
}
bfp4c=$(find_bf_p4c)
missing() {
  if [ ! -x "$bfp4c" ]; then
    echo "skip: bf-p4c (p4c's Tofino backend) is not installed" >&2; exit 3
  fi
}

# A parser state with two or more transitions and no `match:` line in the assembly source
# takes its first transition for every packet. p4c's Tofino backend between p4lang/p4c#5063
# and #5753 (e.g. 34b86e9) emits every select that way (issue p4lang/p4c#5752): the parser
# is wrong on both chips, and on Tofino 2 the assembler then stops on CLOTs of the states
# dropped ("No length for clot N"). Such output is refused even where it assembles.
dropped_selects() {
  awk '
    function fin() { if (n > 1 && !m) bad++; n = 0; m = 0 }
    /^parser / { fin(); p = 1; next }
    /^[^ ]/ { fin(); p = 0; next }
    p && /^    [^ ]/ { fin(); next }
    p && /^      match:/ { m = 1; next }
    p && /^      [^ #].*:$/ { n++ }
    END { fin(); print bad + 0 }' "$1"
}
refuse() {
  echo "tofino_build.sh: bf-p4c dropped the select matches of $1 parser states (p4lang/p4c#5752, fixed by #5753): use a bf-p4c built from a p4c with that fix" >&2
  exit 4
}

chip_arch() {
  case "$1" in
    # Tofino 1: folded into two pipelines (tna/dysco.p4 FOLD): one ingress does not fit 12 stages.
    tofino) arch=tna; chipflags=-DFOLD ;;
    # Tofino 2: its PCIe CPU port is 0 (the controller's default for tofino2, recorded in
    # manifest.json).
    tofino2) arch=t2na; chipflags=-DCPU_PORT=0 ;;
    *) echo "tofino_build.sh: unknown chip '$1' (tofino or tofino2)" >&2; exit 2 ;;
  esac
}

# The compiler's libraries (z3, ...) beside it: <prefix>/bin/bf-p4c -> <prefix>/lib.
use_libs() {
  lib=$(cd "$(dirname "$bfp4c")/.." 2>/dev/null && pwd)/lib
  if [ -d "$lib" ]; then
    LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; export LD_LIBRARY_PATH
  fi
}

# Compile a two-way select for CHIP into DIR (a few seconds); print the dropped states.
probe() {
  cat > "$2/probe.p4" <<'P4'
#include <core.p4>
#if __TARGET_TOFINO__ == 2
#include <t2na.p4>
#else
#include <tna.p4>
#endif
header eth_h { bit<48> dst; bit<48> src; bit<16> type; }
header ip_h { bit<8> vihl; bit<8> tos; bit<16> len; }
struct hdr_t { eth_h eth; ip_h ip; }
struct meta_t { }
parser IgP(packet_in pkt, out hdr_t hdr, out meta_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) { 0x0800: parse_ip; default: accept; }
    }
    state parse_ip { pkt.extract(hdr.ip); transition accept; }
}
control Ig(inout hdr_t hdr, inout meta_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    apply { ig_tm_md.ucast_egress_port = ig_intr_md.ingress_port; if (hdr.ip.isValid()) { hdr.ip.tos = 1; } }
}
control IgD(packet_out pkt, inout hdr_t hdr, in meta_t md, in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply { pkt.emit(hdr); }
}
parser EgP(packet_in pkt, out hdr_t hdr, out meta_t md, out egress_intrinsic_metadata_t eg_intr_md) {
    state start { pkt.extract(eg_intr_md); transition accept; }
}
control Eg(inout hdr_t hdr, inout meta_t md, in egress_intrinsic_metadata_t eg_intr_md,
           in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
           inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply { }
}
control EgD(packet_out pkt, inout hdr_t hdr, in meta_t md, in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { pkt.emit(hdr); }
}
Pipeline(IgP(), Ig(), IgD(), EgP(), Eg(), EgD()) pipe;
Switch(pipe) main;
P4
  chip_arch "$1"
  "$bfp4c" --target "$1" --arch "$arch" --std p4-16 -o "$2/out" "$2/probe.p4" \
    >"$2/probe.log" 2>&1 || true
  # The select must compile to a `match:` in the ingress parser (egress has counter matches). With p4lang/p4c#5752 it has
  # none, and bf-p4c even drops the default transition as unreachable: the state then has
  # one unconditional transition, which dropped_selects cannot see.
  if [ ! -s "$2/out/pipe/probe.bfa" ]; then
    echo none  # not compiled at all: a broken install, not a pass
  elif ! awk '/^parser ingress:/{p=1;next} /^[^ ]/{p=0} p&&/^      match:/{f=1} END{exit !f}' "$2/out/pipe/probe.bfa"; then
    echo 1
  else
    echo 0
  fi
}

# The probe's verdict $1 (from probe, its work directory $2): return if the compiler is usable.
judge() {
  case "$1" in
    0) ;;
    none) echo "tofino_build.sh: $bfp4c could not compile the parser probe: $(tail -n 1 "$2/probe.log" 2>/dev/null)" >&2
          exit 5 ;;
    *) refuse "$1" ;;
  esac
}

case "${1:-}" in
  --which) missing; echo "$bfp4c"; exit 0 ;;
  --check)
    chip_arch "${2:-}"; missing; use_libs
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    judge "$(probe "$2" "$work")" "$work"
    exit 0 ;;
esac

chip=${1:?usage: tofino_build.sh CHIP OUTDIR}
out=${2:?usage: tofino_build.sh CHIP OUTDIR}
chip_arch "$chip"
missing
use_libs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/probe"
# Seconds, not the minutes of the real compile: refuse a compiler with p4lang/p4c#5752 first.
judge "$(probe "$chip" "$work/probe")" "$work/probe"
# -g: the resource logs (pipe/logs/resources.json, table_summary.log).
rc=0
"$bfp4c" --target "$chip" --arch "$arch" --std p4-16 -g $chipflags ${TOFINO_P4FLAGS:-} \
  -o "$work/out" --p4runtime-files "$work/out/dysco.p4info.txtpb" tna/dysco.p4 || rc=$?
# The pipelines: every directory of the output with a compiled program in it.
pipes=$(cd "$work/out" && for d in */; do [ -e "$d/dysco.bfa" ] && echo "${d%/}"; done || true)
for p in $pipes; do
  n=$(dropped_selects "$work/out/$p/dysco.bfa"); [ "$n" -eq 0 ] || refuse "$n"
done
[ "$rc" -eq 0 ] || exit "$rc"
[ -n "$pipes" ] || { echo "tofino_build.sh: bf-p4c wrote no pipeline" >&2; exit 1; }
mkdir -p "$out"
for f in dysco.p4info.txtpb bfrt.json manifest.json dysco.conf; do
  cp "$work/out/$f" "$out/$f"
done
for p in $pipes; do
  mkdir -p "$out/$p/logs"
  for f in context.json "$chip.bin" logs/resources.json logs/table_summary.log; do
    cp "$work/out/$p/$f" "$out/$p/$f"
  done
done
# The compiler: the backend's own version (context.json; the driver's --version may omit the
# commit) and the parser check every committed build passed.
first=$(echo "$pipes" | head -n 1)
version=$(sed -n 's/^ *"compiler_version" *: *"\([^"]*\)".*/\1/p' "$out/$first/context.json" | head -1)
{
  echo "bf-p4c ${version:-?}"
  echo "parser selects keep their match (p4lang/p4c#5752 fixed by #5753; tools/p4tools/build.sh patches p4c 34b86e9)"
} > "$out/COMPILER"
