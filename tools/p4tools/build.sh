#!/usr/bin/env bash
# Build the P4 toolchain this project uses from source, into $P4TOOLS (default /opt/p4tools):
#   p4c (bmv2 and Tofino backends: p4c-bm2-ss, bf-p4c, bfas), bmv2 simple_switch_grpc with
#   P4Runtime (PI), for Debian 12 (amd64), as root. `make p4tools` runs it when no prebuilt
#   archive is available. Pinned commits below; the same ones the prebuilt archive was built from.
#
#   P4TOOLS_SRC=DIR  take every source from DIR/<name> (a checkout or an unpacked archive at
#                    the pinned version; names below). Missing ones are cloned from upstream
#                    into DIR. Without P4TOOLS_SRC: a work directory under /tmp, all cloned.
#   P4TOOLS_JOBS=N   parallel jobs (default 2; keep it low: p4c needs ~2-3 GB per job)
#   P4TOOLS_TOFINO=0 skip the Tofino backend (about an hour of the build)
#   P4TOOLS_PARTS="pi bmv2 p4c"  what to build (default all three; "p4c" alone for a compiler)
#
# Debian 12 specifics handled here: p4c builds its own protobuf 25.3 and abseil 20240722.1
# (Debian's protobuf 3.21 is too old for p4c; it stays for PI and bmv2, which need grpc),
# GCC 12 rejects p4c's non-const erase_if lambdas (ir/visitor.cpp), the Tofino backend wants
# Z3 in [4.8.14, 4.12) (PyPI's z3-solver 4.11.2.0 wheel ships libz3.so and its headers) and
# spdlog 1.8.3. Nothing here is committed to the project: it only builds.
set -euo pipefail

P4TOOLS=${P4TOOLS:-/opt/p4tools}
JOBS=${P4TOOLS_JOBS:-2}
TOFINO=${P4TOOLS_TOFINO:-1}
SRC=${P4TOOLS_SRC:-}
[ -n "$SRC" ] || SRC=$(mktemp -d /tmp/p4tools-src.XXXXXX)
mkdir -p "$SRC"
SRC=$(cd "$SRC" && pwd)

# name | repository | commit or tag
PINS=(
  "p4c|https://github.com/p4lang/p4c.git|34b86e9bac"
  "behavioral-model|https://github.com/p4lang/behavioral-model.git|9674187"
  "PI|https://github.com/p4lang/PI.git|f96af95"
  "p4runtime|https://github.com/p4lang/p4runtime.git|ec4eb5ef70dbcbcbf2f8357a4b2b8c2f218845a5"
  "abseil-cpp|https://github.com/abseil/abseil-cpp.git|20240722.1"
  "protobuf|https://github.com/protocolbuffers/protobuf.git|v25.3"
  "bdwgc|https://github.com/ivmai/bdwgc.git|7f1503dbfe254e77678666a0e09b735add064b57"
  "spdlog|https://github.com/gabime/spdlog.git|v1.8.3"
)

APT=(build-essential cmake git pkg-config python3 python3-venv python3-dev bison flex
     libboost-dev libboost-graph-dev libboost-iostreams-dev libboost-program-options-dev
     libboost-system-dev libboost-filesystem-dev libboost-thread-dev libgmp-dev libfl-dev
     libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libthrift-dev
     thrift-compiler libnanomsg-dev libpcap-dev libreadline-dev libtool autoconf automake
     libxxhash-dev libjsoncpp-dev rapidjson-dev libssl-dev zstd)

say() { printf '== %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "error: building into $P4TOOLS needs root (apt, install)" >&2; exit 1; fi
}

fetch_sources() {
  local pin name url rev dir
  for pin in "${PINS[@]}"; do
    IFS='|' read -r name url rev <<<"$pin"
    case " ${P4TOOLS_PARTS:-pi bmv2 p4c} :$name" in
      *" bmv2 "*:behavioral-model | *" pi "*:PI | *:p4c | *:p4runtime | *:abseil-cpp | \
        *:protobuf | *:bdwgc | *:spdlog) ;;
      *) continue ;;  # not needed for the parts asked for
    esac
    dir="$SRC/$name"
    if [ -e "$dir/CMakeLists.txt" ] || [ -e "$dir/configure.ac" ] || [ -e "$dir/proto" ]; then
      say "source $name: $dir"
      if [ -d "$dir/.git" ] && ! git -C "$dir" merge-base --is-ancestor "$rev" HEAD 2>/dev/null; then
        echo "warning: $dir is not at or after the pinned $rev" >&2
      fi
      continue
    fi
    say "clone $name at $rev"
    git clone -q "$url" "$dir"
    git -C "$dir" checkout -q "$rev"
    git -C "$dir" submodule update -q --init --recursive
  done
}

patch_p4c() {
  # GCC 12: erase_if passes the element as const.
  sed -i 's/\[this\](flow_join_points_t::value_type &el)/[this](const flow_join_points_t::value_type \&el)/' \
    "$SRC/p4c/ir/visitor.cpp"
  # p4lang/p4c#5752 (fixed upstream by #5753, after the pinned commit): bind_use drops every
  # non-scratch match register slice, so each parser select loses its match and every state
  # takes its first transition. Keep the slice, as #5753 does.
  local amr="$SRC/p4c/backends/tofino/bf-p4c/parde/allocate_parser_match_register.cpp"
  if [ -e "$amr" ] && grep -q 'if (!is_scratch_register(reg_slice.first)) continue;' "$amr"; then
    sed -i 's/if (!is_scratch_register(reg_slice.first)) continue;/if (!is_scratch_register(reg_slice.first)) {\n                    serializable_reg_slices.emplace_back(MatchRegister(reg_slice.first), reg_slice.second);\n                    continue;\n                }/' "$amr"
  fi
  # The Tofino backend looks for spdlog in its third_party folder first.
  if [ "$TOFINO" = 1 ] && [ ! -e "$SRC/p4c/backends/tofino/third_party/spdlog/CMakeLists.txt" ]; then
    mkdir -p "$SRC/p4c/backends/tofino/third_party"
    rm -rf "$SRC/p4c/backends/tofino/third_party/spdlog"
    cp -a "$SRC/spdlog" "$SRC/p4c/backends/tofino/third_party/spdlog"
  fi
}

z3_from_wheel() {
  # A virtualenv in the install tree: the Tofino driver scripts run in it, and its z3-solver
  # wheel provides libz3.so and the headers the backend links against.
  python3 -m venv "$P4TOOLS/venv"
  "$P4TOOLS/venv/bin/pip" install -q 'z3-solver==4.11.2.0' jsl jsonschema pyinstaller pyyaml
  Z3_ROOT=$("$P4TOOLS/venv/bin/python" -c 'import z3, os; print(os.path.dirname(z3.__file__))')
  mkdir -p "$P4TOOLS/lib"
  cp -a "$Z3_ROOT/lib/libz3.so"* "$P4TOOLS/lib/"
}

build_p4c() {
  local bld="$SRC/p4c/build-dysco" tof=()
  if [ "$TOFINO" = 1 ]; then
    z3_from_wheel
    export PATH="$P4TOOLS/venv/bin:$PATH"  # the backend packages its log tools with pyinstaller
    tof=(-DENABLE_TOFINO=ON -DUSE_PREINSTALLED_Z3=ON
         -DZ3_INCLUDE_DIR="$Z3_ROOT/include" -DZ3_LIBRARY="$P4TOOLS/lib/libz3.so"
         -DCMAKE_UNITY_BUILD=ON)
  fi
  cmake -S "$SRC/p4c" -B "$bld" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$P4TOOLS" \
    -DENABLE_BMV2=ON -DENABLE_EBPF=OFF -DENABLE_UBPF=OFF -DENABLE_DPDK=OFF -DENABLE_P4TC=OFF \
    -DENABLE_P4FMT=OFF -DENABLE_GTESTS=OFF -DENABLE_P4C_GRAPHS=OFF -DENABLE_DOCS=OFF \
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
    -DFETCHCONTENT_SOURCE_DIR_P4RUNTIME="$SRC/p4runtime" \
    -DFETCHCONTENT_SOURCE_DIR_ABSEIL="$SRC/abseil-cpp" \
    -DFETCHCONTENT_SOURCE_DIR_PROTOBUF="$SRC/protobuf" \
    -DFETCHCONTENT_SOURCE_DIR_BDWGC="$SRC/bdwgc" \
    -DFETCHCONTENT_SOURCE_DIR_SPDLOG="$SRC/spdlog" \
    "${tof[@]}"
  nice -n 19 cmake --build "$bld" -j "$JOBS"
  cmake --install "$bld"
  if [ "$TOFINO" = 1 ]; then install_bf_p4c; fi
}

install_bf_p4c() {
  # p4c installs one driver, bin/p4c, and no bf-p4c (only Barefoot-internal builds link
  # bf-p4c to p4c), while the backend's build step rewrites the driver's defaults to tofino.
  # As the prebuilt archive does: bin/bf-p4c is the driver run by the venv's python (z3, the
  # log tools) with Tofino defaults that a later --target/--arch overrides; p4c keeps bmv2's.
  local bin="$P4TOOLS/bin" src="$P4TOOLS/share/p4c/p4c_src"
  "$P4TOOLS/venv/bin/python" - "$bin/p4c" "$bin/bf-p4c" "$src" <<'PY'
import re, sys
from pathlib import Path
p4c, bf, src = map(Path, sys.argv[1:])
text = p4c.read_text()
text = re.sub(r"^#!.*", f"#!{Path(sys.prefix) / 'bin' / 'python3'}", text, count=1)
hook = "os.environ['P4C_BUILD_TYPE'] = build_type\n"
assert hook in text, "p4c driver layout changed: no P4C_BUILD_TYPE line"
text = text.replace(hook, (
    "# bf-p4c: Tofino by default (an explicit --target/--arch later on the command line wins).\n"
    "sys.argv[1:1] = ['--target', 'tofino', '--arch', 'default']\n"
    "_venv_bin = os.path.normpath(os.path.join(install_dir, '..', 'venv', 'bin'))\n"
    "if os.path.isdir(_venv_bin):\n"
    "    os.environ['PATH'] = _venv_bin + os.pathsep + os.environ.get('PATH', '')\n"
) + hook, 1)
bf.write_text(text)
bf.chmod(0o755)
main = src / "main.py"
m = main.read_text()
m = m.replace('p4c_default_target = "tofino"', 'p4c_default_target = "bmv2"')
m = m.replace('p4c_default_arch = "default"', 'p4c_default_arch = "v1model"')
main.write_text(m)
# barefoot.py: find_file() returns a Path the driver later joins as a str; and p4c-gen-conf,
# added after enable_commands() ran, must be enabled too or manifest.json's .conf is missing.
b = src / "barefoot.py"
t = b.read_text()
t = re.sub(r"= find_file\(([^\n]*)\)\n", r"= str(find_file(\1))\n", t)
anchor = re.search(r"^( *)self\._commandsEnabled\.append\('assembler'\)\n", t, flags=re.M)
if anchor and "_commandsEnabled.append('p4c-gen-conf')" not in t:
    line = f"{anchor.group(1)}self._commandsEnabled.append('p4c-gen-conf')\n"
    t = t[: anchor.end()] + line + t[anchor.end() :]
b.write_text(t)
PY
}

build_pi() {
  cd "$SRC/PI"
  [ -x configure ] || ./autogen.sh
  ./configure --prefix="$P4TOOLS" --with-proto --without-internal-rpc --without-cli \
    --without-bmv2 CXXFLAGS="-O2 -std=c++17"
  nice -n 19 make -j "$JOBS"
  make install
}

build_bmv2() {
  cd "$SRC/behavioral-model"
  [ -x configure ] || ./autogen.sh
  ./configure --prefix="$P4TOOLS" --with-pi --with-thrift --without-targets \
    --disable-logging-macros --disable-elogger CPPFLAGS="-I$P4TOOLS/include" \
    LDFLAGS="-L$P4TOOLS/lib -Wl,-rpath,$P4TOOLS/lib" CXXFLAGS="-O2"
  nice -n 19 make -j "$JOBS"
  make install
  cd targets/simple_switch
  nice -n 19 make -j "$JOBS" && make install
  cd ../simple_switch_grpc
  ./configure --prefix="$P4TOOLS" --with-thrift CPPFLAGS="-I$P4TOOLS/include" \
    LDFLAGS="-L$P4TOOLS/lib -Wl,-rpath,$P4TOOLS/lib"
  nice -n 19 make -j "$JOBS" && make install
}

main() {
  need_root
  say "apt packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT[@]}" >/dev/null
  fetch_sources
  patch_p4c
  mkdir -p "$P4TOOLS"
  local parts=" ${P4TOOLS_PARTS:-pi bmv2 p4c} "
  if [[ $parts == *" pi "* ]]; then say "PI (P4Runtime for bmv2)"; build_pi; fi
  if [[ $parts == *" bmv2 "* ]]; then say "bmv2"; build_bmv2; fi
  if [[ $parts == *" p4c "* ]]; then say "p4c"; build_p4c; fi
  if [[ $parts == *" p4c "* ]]; then "$P4TOOLS/bin/p4c-bm2-ss" --version | head -1; fi
  if [[ $parts == *" bmv2 "* ]]; then
    "$P4TOOLS/bin/simple_switch_grpc" --help >/dev/null 2>&1 && echo "simple_switch_grpc: ok"
  fi
  if [ "$TOFINO" = 1 ]; then "$P4TOOLS/bin/bf-p4c" --version | head -1; fi
  say "done: $P4TOOLS"
}

main "$@"
